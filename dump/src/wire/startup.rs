//! Opening a plain connection: socket, optional SSLRequest (sslmode=prefer), startup
//! message and authentication.

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use pgconn::{PlainAddress, PlainEndpoint};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};

use super::{PlainCancel, PlainConn, ServerError, Stream, WireError};

const PROTOCOL_3_0: u32 = 196_608;
const SSL_REQUEST_CODE: u32 = 80_877_103;

fn startup_message(ep: &PlainEndpoint) -> Result<Vec<u8>, WireError> {
    let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
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
    for (key, value) in params {
        if value.as_bytes().contains(&0) {
            return Err(WireError::Unsupported(format!(
                "startup parameter {key} contains a zero byte"
            )));
        }
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    Ok(msg)
}

fn password_message(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum::<usize>() + 4;
    let mut msg = vec![tag];
    msg.extend_from_slice(&(len as u32).to_be_bytes());
    for p in parts {
        msg.extend_from_slice(p);
    }
    msg
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
            let mut req = 8u32.to_be_bytes().to_vec();
            req.extend_from_slice(&SSL_REQUEST_CODE.to_be_bytes());
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
        conn.send(&startup_message(ep)?)?;
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
        loop {
            let h = self.whole_message()?;
            if self.common_message(h)? {
                continue;
            }
            let body = self.body(h).to_vec();
            match h.tag {
                b'E' => return Err(WireError::Server(ServerError::parse(&body))),
                b'R' => {}
                other => {
                    return Err(WireError::Protocol(format!(
                        "expected an authentication request, got message type {:?}",
                        other as char
                    )))
                }
            }
            let (code, data) = match body.split_first_chunk::<4>() {
                Some((code, data)) => (u32::from_be_bytes(*code), data),
                None => return Err(WireError::Protocol("short authentication message".into())),
            };
            let password = || {
                ep.password.as_deref().ok_or_else(|| {
                    WireError::Unsupported(
                        "the server asks for a password and none is known".into(),
                    )
                })
            };
            match code {
                // A SCRAM exchange must end with the server's proof before this.
                0 if scram.is_some() && !scram_verified => {
                    return Err(WireError::Protocol(
                        "the server ended SCRAM authentication without proving its identity".into(),
                    ))
                }
                0 => return Ok(()),
                // Cleartext password.
                3 => {
                    let msg = password_message(b'p', &[password()?.as_bytes(), b"\0"]);
                    self.send(&msg)?;
                }
                // MD5 with a 4-byte salt.
                5 => {
                    let salt: [u8; 4] = data
                        .get(..4)
                        .and_then(|s| s.try_into().ok())
                        .ok_or_else(|| WireError::Protocol("short MD5 salt".into()))?;
                    let hash = md5_hash(ep.user.as_bytes(), password()?.as_bytes(), salt);
                    self.send(&password_message(b'p', &[hash.as_bytes(), b"\0"]))?;
                }
                // SASL: the mechanisms the server offers.
                10 => {
                    let offered = data
                        .split(|&b| b == 0)
                        .any(|m| m == SCRAM_SHA_256.as_bytes());
                    if !offered {
                        return Err(WireError::Unsupported(
                            "the server offers no SASL mechanism usable without TLS".into(),
                        ));
                    }
                    let s = ScramSha256::new(password()?.as_bytes(), ChannelBinding::unsupported());
                    let first = s.message().to_vec();
                    let mut msg = SCRAM_SHA_256.as_bytes().to_vec();
                    msg.push(0);
                    msg.extend_from_slice(&(first.len() as u32).to_be_bytes());
                    msg.extend_from_slice(&first);
                    self.send(&password_message(b'p', &[&msg]))?;
                    scram = Some(s);
                }
                // SASLContinue.
                11 => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| WireError::Protocol("SASL continue before start".into()))?;
                    s.update(data)
                        .map_err(|e| WireError::Protocol(e.to_string()))?;
                    let reply = s.message().to_vec();
                    self.send(&password_message(b'p', &[&reply]))?;
                }
                // SASLFinal: the server proves it knew the password too.
                12 => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| WireError::Protocol("SASL final before start".into()))?;
                    s.finish(data)
                        .map_err(|e| WireError::Protocol(e.to_string()))?;
                    scram_verified = true;
                }
                other => {
                    return Err(WireError::Unsupported(format!(
                        "authentication method {other} is not supported by the plain client"
                    )))
                }
            }
        }
    }

    /// After authentication: BackendKeyData, ParameterStatus..., ReadyForQuery.
    fn wait_ready(&mut self) -> Result<(), WireError> {
        loop {
            let h = self.whole_message()?;
            if self.common_message(h)? {
                continue;
            }
            let body = self.body(h);
            match h.tag {
                b'Z' => return Ok(()),
                b'E' => return Err(WireError::Server(ServerError::parse(body))),
                b'K' => self.backend_key = super::cancel::parse_key(body),
                _ => {}
            }
        }
    }
}
