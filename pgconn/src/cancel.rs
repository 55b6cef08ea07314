//! Cancelling (for Ctrl-C): every connection a program opens is registered in one
//! [`CancelList`]; on interrupt it sends each a cancel request (a separate connection to
//! the same server, with the same TLS settings, carrying the backend's key) and raises a
//! stop flag that long-running work checks between steps.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_postgres::{CancelToken, Client};

use crate::error::Error;
use crate::failure::error_chain;
use crate::options::ConnectOptions;
use crate::tls::PgTls;
use crate::wire::PlainCancel;

/// Everything needed to cancel the running query of one connection, detached from the
/// connection so a signal handler can hold it while workers own their connections.
#[derive(Clone)]
pub struct Canceller(Kind);

#[derive(Clone)]
enum Kind {
    /// A tokio-postgres connection.
    Tokio { token: CancelToken, tls: PgTls },
    /// A connection of the plain COPY client ([`crate::wire::PlainConn`]).
    Plain(PlainCancel),
}

impl fmt::Debug for Canceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Canceller { .. }")
    }
}

impl Canceller {
    /// Cancels a plain connection's statements.
    pub fn plain(cancel: PlainCancel) -> Canceller {
        Canceller(Kind::Plain(cancel))
    }

    /// Asks the server to cancel whatever the connection is running. Success means the request
    /// was delivered, not that a query was cancelled.
    pub async fn cancel(&self) -> Result<(), Error> {
        match &self.0 {
            Kind::Tokio { token, tls } => token
                .cancel_query(tls.fresh())
                .await
                .map_err(|e| Error::Cancel(error_chain(&e))),
            Kind::Plain(cancel) => {
                let cancel = cancel.clone();
                tokio::task::spawn_blocking(move || cancel.send())
                    .await
                    .map_err(|e| Error::Cancel(e.to_string()))?
                    .map_err(|e| Error::Cancel(e.to_string()))
            }
        }
    }
}

impl ConnectOptions {
    /// A [`Canceller`] for `client`, which must have been opened with these options.
    pub fn canceller(&self, client: &Client) -> Result<Canceller, Error> {
        Ok(Canceller(Kind::Tokio {
            token: client.cancel_token(),
            tls: PgTls::new(self.tls_config()?),
        }))
    }

    /// Sends a cancel request for `client`'s running query.
    pub async fn cancel(&self, client: &Client) -> Result<(), Error> {
        self.canceller(client)?.cancel().await
    }
}

/// The one interrupt model of every program: the cancellers of every connection it
/// opened, a stop flag its workers check, and whether Ctrl-C came. Clones share all
/// three; the programs' Ctrl-C handler (`cli_support::on_ctrl_c`) calls
/// [`CancelList::trigger`].
#[derive(Clone, Debug, Default)]
pub struct CancelList(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    cancellers: Mutex<Vec<Canceller>>,
    triggered: AtomicBool,
    /// Raised on interrupt, and by whoever else wants the workers to stop (a worker that
    /// failed): they stop at their next step.
    stop: Arc<AtomicBool>,
    notify: Notify,
}

impl CancelList {
    /// Remembers a connection to cancel on interrupt.
    pub fn add(&self, c: Canceller) {
        if let Ok(mut list) = self.0.cancellers.lock() {
            list.push(c);
        }
    }

    /// The stop flag: raised by [`CancelList::trigger`]; work may raise it too.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.0.stop.clone()
    }

    /// Whether [`CancelList::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        self.0.triggered.load(Ordering::SeqCst)
    }

    /// The interrupt: raises the stop flag, wakes [`CancelList::triggered`], and sends a
    /// cancel request for every connection. Returns the failures, one line each.
    pub async fn trigger(&self) -> Vec<String> {
        self.0.triggered.store(true, Ordering::SeqCst);
        self.0.stop.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
        self.cancel_all().await
    }

    /// Resolves once [`CancelList::trigger`] was called.
    pub async fn triggered(&self) {
        loop {
            // Created before the check, so a trigger in between is not missed.
            let notified = self.0.notify.notified();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }

    /// Sends a cancel request for every connection; returns the failures, one line each.
    pub async fn cancel_all(&self) -> Vec<String> {
        let list = match self.0.cancellers.lock() {
            Ok(list) => list.clone(),
            Err(_) => return vec!["the list of connections is unusable".into()],
        };
        let mut failures = Vec::new();
        for c in list {
            if let Err(e) = c.cancel().await {
                failures.push(e.to_string());
            }
        }
        failures
    }
}
