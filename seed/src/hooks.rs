//! Test hooks: with the `test-hooks` feature, `RSEED_TEST_PAUSE=<stage>` stops a builder
//! at that stage (`vacuum`: after the first table is made ready; `rename`: with the
//! template ready under its build name), so a test can kill it exactly there. Without
//! the feature (release binaries) this is nothing.

#[cfg(feature = "test-hooks")]
pub async fn pause_at(stage: &str) {
    if std::env::var("RSEED_TEST_PAUSE").is_ok_and(|s| s == stage) {
        eprintln!("rseed: test hook: paused at {stage}");
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    }
}

#[cfg(not(feature = "test-hooks"))]
pub async fn pause_at(_stage: &str) {}
