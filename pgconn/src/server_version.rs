//! Which PostgreSQL servers the toolkit talks to. The catalog queries, and what the restore
//! side may send, are written and tested for these major versions only; anything else is
//! refused before any work starts, rather than failing halfway with a catalog error.

use tokio_postgres::Client;

use crate::Error;

/// The oldest major version supported (PostgreSQL 13).
pub const OLDEST_SUPPORTED_MAJOR: u32 = 13;
/// The newest major version supported (PostgreSQL 18).
pub const NEWEST_SUPPORTED_MAJOR: u32 = 18;

/// `Ok(major)` when `server_version_num` (e.g. 150004) is a supported version; otherwise
/// the one-line message to show. `server_version` is the server's own text ("15.4"), for
/// the message. `program` names who refuses (rdump, rrestore).
pub fn supported_version(
    server_version_num: u32,
    server_version: &str,
    program: &str,
) -> Result<u32, String> {
    let major = server_version_num / 10_000;
    if (OLDEST_SUPPORTED_MAJOR..=NEWEST_SUPPORTED_MAJOR).contains(&major) {
        return Ok(major);
    }
    Err(format!(
        "the server runs PostgreSQL {server_version}, which {program} does not support: it works \
         with PostgreSQL {OLDEST_SUPPORTED_MAJOR} to {NEWEST_SUPPORTED_MAJOR}"
    ))
}

/// Asks the server its version and refuses ([`Error::UnsupportedServer`]) one outside
/// [`OLDEST_SUPPORTED_MAJOR`]..=[`NEWEST_SUPPORTED_MAJOR`]. Returns `server_version_num`.
pub async fn check_server_version(client: &Client, program: &str) -> Result<u32, Error> {
    let row = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version'),
                    pg_catalog.current_setting('server_version_num')",
            &[],
        )
        .await
        .map_err(|e| {
            Error::UnsupportedServer(format!(
                "reading the server's version: {}",
                crate::server_message(&e)
            ))
        })?;
    let text: String = row.get(0);
    let num: String = row.get(1);
    let num: u32 = num.trim().parse().map_err(|_| {
        Error::UnsupportedServer(format!(
            "the server reports a version number rdump cannot read: {num:?}"
        ))
    })?;
    supported_version(num, &text, program).map_err(Error::UnsupportedServer)?;
    Ok(num)
}

#[cfg(test)]
mod tests {
    use super::supported_version;

    #[test]
    fn thirteen_to_eighteen_are_supported() {
        assert_eq!(supported_version(130_000, "13.0", "rdump"), Ok(13));
        assert_eq!(supported_version(150_018, "15.18", "rdump"), Ok(15));
        assert_eq!(supported_version(180_006, "18.6", "rrestore"), Ok(18));
    }

    #[test]
    fn others_are_refused_with_the_supported_range() {
        let old = supported_version(120_022, "12.22", "rdump").unwrap_err();
        assert!(old.contains("PostgreSQL 12.22"), "{old}");
        assert!(old.contains("13 to 18"), "{old}");
        let new = supported_version(190_000, "19devel", "rrestore").unwrap_err();
        assert!(new.contains("19devel") && new.contains("rrestore"), "{new}");
    }
}
