//! Cancel requests (for Ctrl-C): a separate connection to the same server, with the same TLS
//! settings, carrying the backend's key.

use std::fmt;

use tokio_postgres::{CancelToken, Client};

use crate::error::Error;
use crate::failure::error_chain;
use crate::options::ConnectOptions;
use crate::tls::PgTls;

/// Everything needed to cancel the running query of one connection, detached from the
/// `Client` so a signal handler can hold it while workers own their clients.
#[derive(Clone)]
pub struct Canceller {
    token: CancelToken,
    tls: PgTls,
}

impl fmt::Debug for Canceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Canceller { .. }")
    }
}

impl Canceller {
    /// Asks the server to cancel whatever the connection is running. Success means the request
    /// was delivered, not that a query was cancelled.
    pub async fn cancel(&self) -> Result<(), Error> {
        self.token
            .cancel_query(self.tls.fresh())
            .await
            .map_err(|e| Error::Cancel(error_chain(&e)))
    }
}

impl ConnectOptions {
    /// A [`Canceller`] for `client`, which must have been opened with these options.
    pub fn canceller(&self, client: &Client) -> Result<Canceller, Error> {
        Ok(Canceller {
            token: client.cancel_token(),
            tls: PgTls::new(self.tls_config()?),
        })
    }

    /// Sends a cancel request for `client`'s running query.
    pub async fn cancel(&self, client: &Client) -> Result<(), Error> {
        self.canceller(client)?.cancel().await
    }
}

/// The cancellers of every connection a program opened, shared with its Ctrl-C handler.
#[derive(Clone, Debug, Default)]
pub struct CancelList(std::sync::Arc<std::sync::Mutex<Vec<Canceller>>>);

impl CancelList {
    pub fn add(&self, c: Canceller) {
        if let Ok(mut list) = self.0.lock() {
            list.push(c);
        }
    }

    /// Sends a cancel request for every connection; returns the failures, one line each.
    pub async fn cancel_all(&self) -> Vec<String> {
        let list = match self.0.lock() {
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
