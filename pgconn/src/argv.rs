//! Hiding passwords given on the command line from other users.
//!
//! `rdump -d 'host=db password=s3cret'` puts the password in `/proc/<pid>/cmdline`, which
//! every local user can read (`ps -ef`). libpq-based tools leave it there; we overwrite the
//! password's bytes in the process's own argument memory once the arguments are parsed,
//! the way `mysql -p` does. The value stays visible for the moment between `exec` and
//! that overwrite, so the documented safe ways remain `PGPASSWORD` (environment readable
//! only by the same user) and `~/.pgpass`.
//!
//! After the overwrite, `std::env::args()` returns the masked text too: parse first.

use std::ops::Range;

use crate::uri;

/// The byte ranges of password values in one command-line argument: a `password=` pair of
/// a keyword=value string (also behind `--dbname=` or `-d`), and the password of a
/// `postgresql://user:password@...` URI or its `?password=` parameter.
pub fn password_spans(arg: &str) -> Vec<Range<usize>> {
    let mut spans = keyword_value_spans(arg);
    // The value of `--dbname=VALUE` or `-dVALUE`.
    let option_value = if arg.starts_with("--") {
        arg.find('=').map(|eq| eq + 1)
    } else if arg.starts_with("-d") {
        Some(2)
    } else {
        None
    };
    if let Some(from) = option_value {
        spans.extend(
            keyword_value_spans(&arg[from..])
                .into_iter()
                .map(|r| r.start + from..r.end + from),
        );
    }
    for prefix in ["postgresql://", "postgres://"] {
        let mut from = 0;
        while let Some(at) = arg[from..].find(prefix) {
            let start = from + at;
            spans.extend(
                uri_spans(&arg[start..])
                    .into_iter()
                    .map(|r| r.start + start..r.end + start),
            );
            from = start + prefix.len();
        }
    }
    spans
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Walks `keyword = value` pairs the way the conninfo parser does, recording the raw text
/// of each `password` value (quotes and escapes included); stops at the first thing that
/// is not a pair.
fn keyword_value_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut pos = 0;
    let skip = |pos: &mut usize| {
        while *pos < bytes.len() && is_space(bytes[*pos]) {
            *pos += 1;
        }
    };
    loop {
        skip(&mut pos);
        let key_start = pos;
        while pos < bytes.len() && !is_space(bytes[pos]) && bytes[pos] != b'=' {
            pos += 1;
        }
        let keyword = &text[key_start..pos];
        skip(&mut pos);
        if pos >= bytes.len() || bytes[pos] != b'=' {
            return spans;
        }
        pos += 1;
        skip(&mut pos);
        let value_start = pos;
        if bytes.get(pos) == Some(&b'\'') {
            pos += 1;
            while pos < bytes.len() && bytes[pos] != b'\'' {
                pos += if bytes[pos] == b'\\' { 2 } else { 1 };
            }
            pos = (pos + 1).min(bytes.len());
        } else {
            while pos < bytes.len() && !is_space(bytes[pos]) {
                pos += if bytes[pos] == b'\\' { 2 } else { 1 };
            }
            pos = pos.min(bytes.len());
        }
        // An escape may have stepped into a multi-byte character.
        while !text.is_char_boundary(pos) {
            pos += 1;
        }
        if keyword == "password" && pos > value_start {
            spans.push(value_start..pos);
        }
    }
}

/// The password parts of a URI starting at the beginning of `text` (it ends at the first
/// whitespace, as a shell word would).
fn uri_spans(text: &str) -> Vec<Range<usize>> {
    let end = text
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[..end];
    let mut spans = Vec::new();
    let Some(prefix_len) = ["postgresql://", "postgres://"]
        .iter()
        .find(|p| uri::has_uri_prefix(text) && text.starts_with(*p))
        .map(|p| p.len())
    else {
        return spans;
    };
    let rest = &text[prefix_len..];
    if let Some(at) = rest.find(['@', '/']) {
        if rest.as_bytes()[at] == b'@' {
            if let Some(colon) = rest[..at].find(':') {
                if colon + 1 < at {
                    spans.push(prefix_len + colon + 1..prefix_len + at);
                }
            }
        }
    }
    if let Some(q) = text.find('?') {
        let mut from = q + 1;
        for pair in text[q + 1..].split('&') {
            if let Some((key, value)) = pair.split_once('=') {
                if key == "password" && !value.is_empty() {
                    let start = from + key.len() + 1;
                    spans.push(start..start + value.len());
                }
            }
            from += pair.len() + 1;
        }
    }
    spans
}

/// Overwrites, in this process's argument memory, every password [`password_spans`] finds
/// with `x`s (same length: the memory cannot grow). A no-op where the argument memory is
/// not known (other than Linux with glibc).
pub fn hide_passwords_in_process_title() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    saved::mask(password_spans);
}

/// The process's original `argc`/`argv`, captured the way Rust's standard library does
/// it on glibc: glibc passes them to every `.init_array` function.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod saved {
    use std::ffi::{c_char, c_int, CStr};
    use std::ops::Range;
    use std::sync::atomic::{AtomicIsize, AtomicPtr, Ordering};

    static ARGC: AtomicIsize = AtomicIsize::new(0);
    static ARGV: AtomicPtr<*mut c_char> = AtomicPtr::new(std::ptr::null_mut());

    #[used]
    #[link_section = ".init_array.00099"]
    static CAPTURE: extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) = capture;

    extern "C" fn capture(argc: c_int, argv: *mut *mut c_char, _envp: *mut *mut c_char) {
        ARGC.store(argc as isize, Ordering::Relaxed);
        ARGV.store(argv, Ordering::Relaxed);
    }

    pub(super) fn mask(spans: fn(&str) -> Vec<Range<usize>>) {
        let argc = ARGC.load(Ordering::Relaxed);
        let argv = ARGV.load(Ordering::Relaxed);
        if argv.is_null() {
            return;
        }
        for i in 1..argc {
            // SAFETY: argv holds argc valid pointers to NUL-terminated strings in the
            // process's argument area, which stays mapped and writable for the life of the
            // process; nothing else holds a reference into it (std copies on each read).
            unsafe {
                let arg = *argv.offset(i);
                if arg.is_null() {
                    break;
                }
                let len = CStr::from_ptr(arg).to_bytes().len();
                let bytes = std::slice::from_raw_parts_mut(arg.cast::<u8>(), len);
                let Ok(text) = std::str::from_utf8(bytes) else {
                    continue;
                };
                for span in spans(text) {
                    bytes[span].fill(b'x');
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(arg: &str) -> String {
        let mut bytes = arg.as_bytes().to_vec();
        for span in password_spans(arg) {
            bytes[span].fill(b'x');
        }
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn keyword_value_passwords_are_found_quoted_or_not() {
        assert_eq!(
            masked("host=h password=s3cret dbname=d"),
            "host=h password=xxxxxx dbname=d"
        );
        assert_eq!(
            masked("password = 'it\\'s a secret' user=u"),
            "password = xxxxxxxxxxxxxxxx user=u"
        );
        assert_eq!(masked("password=a\\ b"), "password=xxxx");
        assert_eq!(
            masked("--dbname=password=pw host=h"),
            "--dbname=password=xx host=h"
        );
        assert_eq!(masked("-dpassword=pw"), "-dpassword=xx");
        assert_eq!(
            masked("--dbname=host=h password=pw"),
            "--dbname=host=h password=xx"
        );
    }

    #[test]
    fn uri_passwords_are_found_in_credentials_and_parameters() {
        assert_eq!(
            masked("postgresql://u:p%40ss@h:5/db?password=two&sslmode=require"),
            "postgresql://u:xxxxxx@h:5/db?password=xxx&sslmode=require"
        );
        assert_eq!(
            masked("--dbname=postgres://u:pw@h/db"),
            "--dbname=postgres://u:xx@h/db"
        );
        assert_eq!(masked("postgresql://u@h/db"), "postgresql://u@h/db");
        assert_eq!(masked("postgresql://h/db:x@y"), "postgresql://h/db:x@y");
    }

    #[test]
    fn other_arguments_are_left_alone() {
        for arg in [
            "-f",
            "/tmp/out=dir",
            "mydb",
            "passwords",
            "user=password",
            "-j",
            "4",
        ] {
            assert_eq!(masked(arg), arg);
        }
    }

    #[test]
    fn masking_never_panics_on_odd_text() {
        for arg in [
            "password='unterminated",
            "password=\\",
            "password='\\",
            "postgresql://:@",
            "postgresql://u:@h?password&password=",
            "ä=ö password=ü",
            "=",
            "password=",
        ] {
            let _ = masked(arg);
        }
        assert_eq!(masked("ä=ö password=ü"), "ä=ö password=xx");
    }
}
