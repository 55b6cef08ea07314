//! Ctrl-C: every statement the dump has running on the server is cancelled (a client
//! that just exits leaves a long query running until it next sends to the socket),
//! the data workers stop at their next buffer, and the dump fails, removing its output.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::wire::PlainCancel;

/// Cancels one connection's running statement.
#[derive(Clone, Debug)]
pub enum Canceller {
    Tokio(pgconn::Canceller),
    Plain(PlainCancel),
}

/// Shared by the dump and whoever catches the signal.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    triggered: AtomicBool,
    /// Also the data workers' stop flag: set when one of them fails, too.
    stop: Arc<AtomicBool>,
    cancellers: Mutex<Vec<Canceller>>,
    notify: Notify,
}

impl Interrupt {
    /// The data workers' stop flag.
    pub(crate) fn stop_flag(&self) -> Arc<AtomicBool> {
        self.inner.stop.clone()
    }

    /// Remembers a connection to cancel on interrupt.
    pub(crate) fn register(&self, c: Canceller) {
        if let Ok(mut list) = self.inner.cancellers.lock() {
            list.push(c);
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Stops the workers and sends a cancel request for every connection.
    pub async fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
        let list = match self.inner.cancellers.lock() {
            Ok(list) => list.clone(),
            Err(_) => return,
        };
        for c in list {
            let sent = match c {
                Canceller::Tokio(c) => c.cancel().await.map_err(|e| e.to_string()),
                Canceller::Plain(c) => tokio::task::spawn_blocking(move || c.send())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string())),
            };
            if let Err(e) = sent {
                tracing::warn!("could not send a cancel request: {e}");
            }
        }
    }

    /// Resolves once [`Interrupt::trigger`] was called.
    pub async fn triggered(&self) {
        loop {
            // Created before the check, so a trigger in between is not missed.
            let notified = self.inner.notify.notified();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }
}
