//! Ctrl-C: every restore connection's running statement is cancelled before the program
//! exits. A client that just exits leaves an index build or a long statement running on
//! the server until it ends; a cancelled one rolls back at once.

use std::sync::{Arc, Mutex};

use pgconn::Canceller;

/// The cancellers of every connection the restore opened.
#[derive(Clone, Debug, Default)]
pub struct Cancellers(Arc<Mutex<Vec<Canceller>>>);

impl Cancellers {
    pub fn add(&self, c: Canceller) {
        if let Ok(mut list) = self.0.lock() {
            list.push(c);
        }
    }

    /// Sends a cancel request for every connection; returns how many were delivered.
    pub async fn cancel_all(&self) -> usize {
        let list = match self.0.lock() {
            Ok(list) => list.clone(),
            Err(_) => return 0,
        };
        let mut sent = 0;
        for c in list {
            match c.cancel().await {
                Ok(()) => sent += 1,
                Err(e) => tracing::warn!("{e}"),
            }
        }
        sent
    }
}
