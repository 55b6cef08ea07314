//! Where rseed keeps what it knows of a template: in the template database itself, on the
//! server. A template is the database `rseed_<identity>`, marked as a template and closed
//! to connections; its comment (pg_shdescription, readable from any database of the
//! cluster) is a JSON record of where it came from, when it was built and last used.
//! Nothing is kept on the client, so every machine and CI job that reaches the server
//! sees the same templates, and dropping a template drops its record with it.
//!
//! While it is built, a template is `rseed_build_<identity>`: never cloned, and removed by
//! the next run that needs the same template (or by `--prune`) when its builder is gone.

use serde::{Deserialize, Serialize};

use crate::identity::Identity;

pub const TEMPLATE_PREFIX: &str = "rseed_";
pub const BUILD_PREFIX: &str = "rseed_build_";

/// The name of the ready template of `id`.
pub fn template_name(id: &Identity) -> String {
    format!("{TEMPLATE_PREFIX}{}", id.hex())
}

/// The name a template of `id` has while it is built.
pub fn build_name(id: &Identity) -> String {
    format!("{BUILD_PREFIX}{}", id.hex())
}

/// The identity a template's or a build's database name carries, if it is one of ours.
pub fn identity_in_name(name: &str) -> Option<(Identity, bool)> {
    if let Some(hex) = name.strip_prefix(BUILD_PREFIX) {
        return Identity::parse_hex(hex).map(|id| (id, true));
    }
    let hex = name.strip_prefix(TEMPLATE_PREFIX)?;
    Identity::parse_hex(hex).map(|id| (id, false))
}

/// The comment of a template database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateRecord {
    pub rseed: u32,
    pub identity: String,
    /// What the template is a copy of, for people: "archive /path (database app, dumped
    /// 2026-…)", "database app", "setup migrations-v3".
    pub source: String,
    /// RFC 3339.
    pub built_at: String,
    pub build_seconds: f64,
    /// RFC 3339; updated by each clone (best effort: a busy template keeps an older time).
    pub last_used: String,
}

impl TemplateRecord {
    pub fn new(id: &Identity, source: String, build_seconds: f64) -> TemplateRecord {
        let now = now();
        TemplateRecord {
            rseed: 1,
            identity: id.hex(),
            source,
            built_at: now.clone(),
            build_seconds,
            last_used: now,
        }
    }

    /// A record from a comment; `None` when the comment is not one of ours.
    pub fn parse(comment: &str) -> Option<TemplateRecord> {
        serde_json::from_str(comment).ok()
    }

    pub fn to_comment(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_identity() {
        let id = Identity::of_setup("k");
        assert_eq!(identity_in_name(&template_name(&id)), Some((id, false)));
        assert_eq!(identity_in_name(&build_name(&id)), Some((id, true)));
        assert_eq!(identity_in_name("rseed_notanidentity"), None);
        assert_eq!(identity_in_name("postgres"), None);
        // PostgreSQL truncates names to 63 bytes: ours must fit whole.
        assert!(build_name(&id).len() <= 63);
    }

    #[test]
    fn records_round_trip_through_a_comment() {
        let r = TemplateRecord::new(&Identity::of_setup("k"), "setup k".into(), 1.5);
        assert_eq!(TemplateRecord::parse(&r.to_comment()), Some(r));
        assert_eq!(TemplateRecord::parse("a comment somebody wrote"), None);
    }
}
