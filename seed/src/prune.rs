//! `--prune [--keep N]`: drops all but the N most recently used templates, and the
//! databases of builds whose builder is gone.

use crate::error::Result;
use crate::server::Admin;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PruneSummary {
    /// Templates dropped.
    pub removed: Vec<String>,
    /// Templates kept.
    pub kept: Vec<String>,
    /// Unfinished builds dropped.
    pub builds_removed: Vec<String>,
}

pub async fn prune(admin: &Admin, keep: usize) -> Result<PruneSummary> {
    let mut summary = PruneSummary::default();
    // Most recently used first: the first `keep` stay.
    for (i, t) in admin.templates().await?.into_iter().enumerate() {
        if i < keep {
            summary.kept.push(t.name);
            continue;
        }
        // A clone in progress holds the template: DROP DATABASE waits for it.
        admin.drop_database(&t.name).await?;
        tracing::info!("dropped template \"{}\"", t.name);
        summary.removed.push(t.name);
    }
    for (name, id) in admin.builds().await? {
        // Held: its builder is at work. Free: it was killed, and holding the lock while
        // dropping keeps a new builder from starting on the same name meanwhile.
        if !admin.try_lock_build(&id).await? {
            continue;
        }
        let dropped = admin.drop_database(&name).await;
        admin.unlock_build(&id).await?;
        dropped?;
        tracing::info!("dropped \"{name}\", left by a build that did not finish");
        summary.builds_removed.push(name);
    }
    Ok(summary)
}
