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
