//! Reading a password from the controlling terminal with echo off, like libpq's
//! `simple_prompt`. Without a terminal there is no prompt: the caller reports the original
//! "no password supplied" error instead of hanging on a pipe.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

/// Prompts on /dev/tty. `Ok(None)`: there is no terminal to ask.
pub(crate) fn read_password(prompt: &str) -> io::Result<Option<String>> {
    let tty = match OpenOptions::new().read(true).write(true).open("/dev/tty") {
        Ok(tty) => tty,
        Err(_) => return Ok(None),
    };
    let mut out = tty.try_clone()?;
    out.write_all(prompt.as_bytes())?;
    out.flush()?;
    let line = {
        let _echo_off = EchoOff::new(&tty)?;
        let mut line = String::new();
        BufReader::new(&tty).read_line(&mut line)?;
        line
    };
    // The user's Enter was not echoed.
    out.write_all(b"\n")?;
    Ok(Some(line.trim_end_matches(['\n', '\r']).to_string()))
}

/// Turns terminal echo off for its lifetime.
struct EchoOff<'a> {
    tty: &'a File,
    saved: libc::termios,
}

impl<'a> EchoOff<'a> {
    fn new(tty: &'a File) -> io::Result<EchoOff<'a>> {
        use std::os::unix::io::AsRawFd;
        let fd = tty.as_raw_fd();
        // SAFETY: an all-zero termios is a valid buffer for tcgetattr to fill.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is an open terminal and saved is a valid, writable termios.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: fd is an open terminal and quiet is a valid termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EchoOff { tty, saved })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        use std::os::unix::io::AsRawFd;
        // SAFETY: restores the settings read in `new` on the same open terminal.
        unsafe {
            libc::tcsetattr(self.tty.as_raw_fd(), libc::TCSAFLUSH, &self.saved);
        }
    }
}
