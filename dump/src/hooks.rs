//! Test hooks. Only builds with the `test-hooks` feature (the tests crate and the
//! benchmarks build with it) read these variables; release binaries never do.

/// `RDUMP_DATA_CLIENT=tokio-postgres`: every data worker uses tokio-postgres instead of
/// the plain protocol client (tests of the fallback, and `bench/copy-client.sh`).
#[cfg(feature = "test-hooks")]
pub(crate) fn tokio_postgres_data_client() -> bool {
    std::env::var("RDUMP_DATA_CLIENT").is_ok_and(|v| v == "tokio-postgres")
}

#[cfg(not(feature = "test-hooks"))]
pub(crate) fn tokio_postgres_data_client() -> bool {
    false
}

/// `RDUMP_WIRE_NAP_US=<microseconds>`: the plain client's pause after a small read during
/// COPY (`bench/copy-client.sh` measures what it buys).
#[cfg(feature = "test-hooks")]
pub(crate) fn copy_nap() -> Option<std::time::Duration> {
    let micros = std::env::var("RDUMP_WIRE_NAP_US").ok()?.parse().ok()?;
    Some(std::time::Duration::from_micros(micros))
}

#[cfg(not(feature = "test-hooks"))]
pub(crate) fn copy_nap() -> Option<std::time::Duration> {
    None
}
