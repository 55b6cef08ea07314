//! Opening a plain connection: socket, optional SSLRequest (sslmode=prefer), startup
//! message and authentication.

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::backend::Message as M;
use postgres_protocol::message::frontend;

use super::{PlainAddress, PlainCancel, PlainConn, PlainEndpoint, ServerError, Stream, WireError};

/// The startup parameters: what every rdump connection sends.
fn startup_params(ep: &PlainEndpoint) -> Vec<(&str, &str)> {
    let mut params: Vec<(&str, &str)> = vec![
        ("user", &ep.user),
        ("database", &ep.dbname),
        // What every other rdump connection uses (pgconn: tokio-postgres needs UTF8).
        ("client_encoding", "UTF8"),
    ];
    if let Some(name) = &ep.application_name {
        params.push(("application_name", name));
    }
    if let Some(options) = &ep.options {
        params.push(("options", options));
    }
    params
}

fn open_socket(ep: &PlainEndpoint) -> Result<Stream, WireError> {
    match &ep.address {
        PlainAddress::Socket(path) => Ok(Stream::Unix(UnixStream::connect(path)?)),
        PlainAddress::Tcp(addr) => {
            let s = match ep.connect_timeout {
                Some(limit) => TcpStream::connect_timeout(addr, limit)?,
                None => TcpStream::connect(addr)?,
            };
            s.set_nodelay(true)?;
            if ep.keepalives {
                set_keepalive(&s)?;
            }
            Ok(Stream::Tcp(s))
        }
    }
}

fn set_keepalive(s: &TcpStream) -> Result<(), WireError> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own, with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

fn set_timeouts(stream: &Stream, limit: Option<std::time::Duration>) -> Result<(), WireError> {
    match stream {
        Stream::Unix(s) => {
            s.set_read_timeout(limit)?;
            s.set_write_timeout(limit)?;
        }
        Stream::Tcp(s) => {
            s.set_read_timeout(limit)?;
            s.set_write_timeout(limit)?;
        }
    }
    Ok(())
}

impl PlainConn {
    /// Connects and authenticates; the connection is idle when this returns.
    /// `connect_timeout` bounds the whole startup, as in libpq.
    pub fn connect(ep: &PlainEndpoint) -> Result<PlainConn, WireError> {
        let mut stream = open_socket(ep)?;
        set_timeouts(&stream, ep.connect_timeout)?;
        if ep.ssl_request {
            let mut req = BytesMut::new();
            frontend::ssl_request(&mut req);
            std::io::Write::write_all(&mut stream, &req)?;
            let mut answer = [0u8; 1];
            stream.read_exact(&mut answer)?;
            if answer[0] != b'N' {
                // 'S': the server speaks TLS, which sslmode=prefer must then use.
                return Err(WireError::Unsupported(
                    "the server accepts TLS, which this client does not speak".into(),
                ));
            }
        }
        let mut conn = PlainConn::new(stream);
        conn.send_built(|buf| frontend::startup_message(startup_params(ep), buf))?;
        conn.authenticate(ep)?;
        conn.wait_ready()?;
        conn.cancel = conn.backend_key.map(|(pid, key)| PlainCancel {
            address: ep.address.clone(),
            pid,
            key,
        });
        set_timeouts(&conn.stream, None)?;
        Ok(conn)
    }

    fn authenticate(&mut self, ep: &PlainEndpoint) -> Result<(), WireError> {
        let mut scram: Option<ScramSha256> = None;
        let mut scram_verified = false;
        let password = || {
            ep.password.as_deref().ok_or_else(|| {
                WireError::Unsupported("the server asks for a password and none is known".into())
            })
        };
        loop {
            let message = self.next_message()?;
            let Some(message) = self.unless_common(message)? else {
                continue;
            };
            match message {
                M::ErrorResponse(body) => {
                    return Err(WireError::Server(ServerError::from_fields(body.fields())))
                }
                // A SCRAM exchange must end with the server's proof before this.
                M::AuthenticationOk if scram.is_some() && !scram_verified => {
                    return Err(WireError::Protocol(
                        "the server ended SCRAM authentication without proving its identity".into(),
                    ))
                }
                M::AuthenticationOk => return Ok(()),
                M::AuthenticationCleartextPassword => {
                    let password = password()?;
                    self.send_built(|buf| frontend::password_message(password.as_bytes(), buf))?;
                }
                M::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(ep.user.as_bytes(), password()?.as_bytes(), body.salt());
                    self.send_built(|buf| frontend::password_message(hash.as_bytes(), buf))?;
                }
                M::AuthenticationSasl(body) => {
                    let mut mechanisms = body.mechanisms();
                    let mut offered = false;
                    while let Some(m) = mechanisms
                        .next()
                        .map_err(|e| WireError::Protocol(e.to_string()))?
                    {
                        offered |= m == SCRAM_SHA_256;
                    }
                    if !offered {
                        return Err(WireError::Unsupported(
                            "the server offers no SASL mechanism usable without TLS".into(),
                        ));
                    }
                    let s = ScramSha256::new(password()?.as_bytes(), ChannelBinding::unsupported());
                    let first = s.message().to_vec();
                    self.send_built(|buf| {
                        frontend::sasl_initial_response(SCRAM_SHA_256, &first, buf)
                    })?;
                    scram = Some(s);
                }
                M::AuthenticationSaslContinue(body) => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| WireError::Protocol("SASL continue before start".into()))?;
                    s.update(body.data())
                        .map_err(|e| WireError::Protocol(e.to_string()))?;
                    let reply = s.message().to_vec();
                    self.send_built(|buf| frontend::sasl_response(&reply, buf))?;
                }
                // The server proves it knew the password too.
                M::AuthenticationSaslFinal(body) => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| WireError::Protocol("SASL final before start".into()))?;
                    s.finish(body.data())
                        .map_err(|e| WireError::Protocol(e.to_string()))?;
                    scram_verified = true;
                }
                M::AuthenticationGss
                | M::AuthenticationGssContinue(_)
                | M::AuthenticationSspi
                | M::AuthenticationKerberosV5
                | M::AuthenticationScmCredential => {
                    return Err(WireError::Unsupported(
                        "the server asks for an authentication method the plain client does not support".into(),
                    ))
                }
                _ => {
                    return Err(WireError::Protocol(
                        "expected an authentication request".into(),
                    ))
                }
            }
        }
    }

    /// After authentication: BackendKeyData, ParameterStatus..., ReadyForQuery.
    fn wait_ready(&mut self) -> Result<(), WireError> {
        loop {
            let message = self.next_message()?;
            match self.unless_common(message)? {
                Some(M::ReadyForQuery(_)) => return Ok(()),
                Some(M::ErrorResponse(body)) => {
                    return Err(WireError::Server(ServerError::from_fields(body.fields())))
                }
                Some(M::BackendKeyData(body)) => {
                    // The protocol's Int32s, kept as the bytes they are.
                    self.backend_key = Some((body.process_id() as u32, body.secret_key() as u32))
                }
                _ => {}
            }
        }
    }
}
