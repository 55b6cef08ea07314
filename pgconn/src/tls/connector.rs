//! A `MakeTlsConnect` over tokio-postgres-rustls that (1) accepts connections without a host
//! name (Unix sockets, where TLS is never started) instead of failing up front, and (2) records
//! whether a handshake was started, which decides libpq's sslmode=prefer retry.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

type BoxError = Box<dyn StdError + Send + Sync>;

#[derive(Clone)]
pub(crate) struct PgTls {
    inner: Option<MakeRustlsConnect>,
    started: Arc<AtomicBool>,
}

impl PgTls {
    /// `None`: TLS is never available (sslmode=disable).
    pub(crate) fn new(config: Option<Arc<ClientConfig>>) -> PgTls {
        PgTls {
            inner: config.map(|c| MakeRustlsConnect::new((*c).clone())),
            started: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A copy with its own "handshake started" flag, for one connection attempt.
    pub(crate) fn fresh(&self) -> PgTls {
        PgTls {
            inner: self.inner.clone(),
            started: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True once the server accepted TLS and a handshake began.
    pub(crate) fn handshake_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }
}

impl<S> MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = PgTlsConnect<<MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect>;
    type Error = BoxError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, Self::Error> {
        let inner = match &mut self.inner {
            Some(make) if !domain.is_empty() => Some(
                MakeTlsConnect::<S>::make_tls_connect(make, domain)
                    .map_err(|e| Box::new(e) as BoxError)?,
            ),
            _ => None,
        };
        Ok(PgTlsConnect {
            inner,
            started: self.started.clone(),
        })
    }
}

pub(crate) struct PgTlsConnect<C> {
    inner: Option<C>,
    started: Arc<AtomicBool>,
}

impl<S, C> TlsConnect<S> for PgTlsConnect<C>
where
    C: TlsConnect<S>,
    C::Future: Send + 'static,
{
    type Stream = C::Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Stream, BoxError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        self.started.store(true, Ordering::SeqCst);
        match self.inner {
            Some(connector) => {
                let handshake = connector.connect(stream);
                Box::pin(async move { handshake.await.map_err(Into::into) })
            }
            None => Box::pin(async { Err("TLS is not available for this connection".into()) }),
        }
    }
}
