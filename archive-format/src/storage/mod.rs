//! Where archives and repositories are kept: a `Storage` holds objects under keys.
//!
//! The contract is the one object stores offer, so a bucket can stand in for a local
//! directory later:
//! - an object is written whole by `put`, or in pieces through a [`Storage::writer`]
//!   that publishes it whole when finished (no appends, no renames): readers see all of
//!   it or none of it;
//! - reads take the whole object or a byte range of it, in memory or as a stream;
//! - there is no directory to fsync: a set of objects becomes a finished archive or
//!   backup when the object describing it (toc, manifest, record) is written with
//!   [`Storage::publish`], after the objects it lists.
//!
//! Methods return boxed futures so async code (a dump feeding many connections) can
//! await them; blocking code calls [`wait`]. The local directory's futures do their
//! work when first polled and never wait on a runtime, so `wait` is cheap for them.

mod local;

use std::fmt;
use std::future::Future;
use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

pub use bytes::Bytes;

use crate::error::{Error, Result};

pub use local::LocalDir;

/// A future a storage returns; `Send`, so it can be awaited on any runtime's thread.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An object's name: a relative, `/`-separated path with no empty, `.` or `..`
/// segments, so it means the same thing to a directory and to a bucket, and can never
/// reach outside the storage's root.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    pub fn new(key: impl Into<String>) -> Result<Key> {
        let key = key.into();
        let valid = !key.is_empty()
            && !key.contains('\0')
            && key
                .split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
        if valid {
            Ok(Key(key))
        } else {
            Err(Error::Corrupt {
                path: PathBuf::from(&key),
                detail: format!("{key:?} is not a plain relative object name"),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This key followed by `/` and `rest`.
    pub fn join(&self, rest: &str) -> Result<Key> {
        Key::new(format!("{}/{rest}", self.0))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One object found by [`Storage::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: Key,
    pub size: u64,
}

/// An object being written in pieces, for objects too big to hold in memory (a
/// backup's chunk or bundle, an archive's data file); made by [`Storage::writer`].
///
/// Nothing is visible under the key until [`finish`](ObjectWriter::finish) returns, and
/// a writer dropped unfinished (or after a failed write) leaves no object behind. Writes
/// only go forward: no seeks, nothing added after `finish`. The calls block, because the
/// writers are fed by the blocking worker threads that read and compress the data; an
/// object store implements this as a multipart upload, buffering until it has a part
/// of at least 5 MiB to send, so callers may write pieces of any size. Write errors
/// carry an [`Error`] naming the object (recover it with [`Error::from_io`]).
pub trait ObjectWriter: io::Write + Send {
    /// Writes what is buffered, makes the object durable and publishes it whole under
    /// its key, replacing any object of that key.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// A stream of an object's bytes; made by [`Storage::open_range`]. Read errors carry an
/// [`Error`] naming the object.
pub type ObjectReader = Box<dyn io::Read + Send>;

/// Objects under keys; see the module documentation for the contract.
pub trait Storage: Send + Sync + fmt::Debug {
    /// How `key` is named in messages: a file path, or a URL for an object store.
    fn locate(&self, key: &Key) -> PathBuf;

    /// The whole object; [`Error::Missing`] when there is none.
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Bytes>>;

    /// Bytes `range` of the object; an object too short for it is [`Error::Corrupt`].
    fn get_range<'a>(&'a self, key: &'a Key, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>>;

    /// Bytes `range` of the object as a stream, for ranges too big to hold in memory:
    /// one read request, consumed as it arrives. [`Error::Missing`] when there is no
    /// object; a stream of an object shorter than the range ends early (callers count
    /// what they read).
    fn open_range<'a>(
        &'a self,
        key: &'a Key,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<ObjectReader>>;

    /// The object's size, or `None` when there is none.
    fn head<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<u64>>>;

    /// Writes the whole object, replacing any object of that key: once this returns,
    /// the object is durable; readers never see part of it.
    fn put<'a>(&'a self, key: &'a Key, data: Bytes) -> BoxFuture<'a, Result<()>>;

    /// Starts writing the object under `key` in pieces; see [`ObjectWriter`].
    fn writer<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Box<dyn ObjectWriter>>>;

    /// Like `put`, for the object that makes a set of objects complete (a toc, a
    /// manifest, a record): it becomes visible only after every object put before it
    /// through this storage is durable.
    fn publish<'a>(&'a self, key: &'a Key, data: Bytes) -> BoxFuture<'a, Result<()>>;

    /// Every object whose key starts with `prefix/` (everything for `None`), in key
    /// order.
    fn list<'a>(&'a self, prefix: Option<&'a Key>) -> BoxFuture<'a, Result<Vec<ObjectMeta>>>;

    /// The names one level below `prefix/` (below the root for `None`), sorted, each
    /// once: the next `/`-separated segment of every key there, as an object store's
    /// listing with a delimiter gives them. Cheaper than [`list`](Storage::list) when
    /// only the first level is wanted (the backups of a repository, not their files).
    fn children<'a>(&'a self, prefix: Option<&'a Key>) -> BoxFuture<'a, Result<Vec<String>>>;

    /// Removes the object; one that is already gone is not an error.
    fn delete<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<()>>;
}

/// A view of a storage below a key prefix: a backup's directory in a repository, say.
#[derive(Debug, Clone)]
pub struct Prefixed<S> {
    inner: S,
    prefix: Key,
}

impl<S: Storage> Prefixed<S> {
    pub fn new(inner: S, prefix: Key) -> Prefixed<S> {
        Prefixed { inner, prefix }
    }

    fn full(&self, key: &Key) -> Key {
        // Both parts are valid keys, so their join is one.
        Key(format!("{}/{}", self.prefix.0, key.0))
    }

    fn strip(&self, meta: ObjectMeta) -> Option<ObjectMeta> {
        let rest = meta.key.0.strip_prefix(&self.prefix.0)?.strip_prefix('/')?;
        Some(ObjectMeta {
            key: Key(rest.to_owned()),
            size: meta.size,
        })
    }
}

impl<S: Storage> Storage for Prefixed<S> {
    fn locate(&self, key: &Key) -> PathBuf {
        self.inner.locate(&self.full(key))
    }

    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { self.inner.get(&self.full(key)).await })
    }

    fn get_range<'a>(&'a self, key: &'a Key, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { self.inner.get_range(&self.full(key), range).await })
    }

    fn open_range<'a>(
        &'a self,
        key: &'a Key,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<ObjectReader>> {
        Box::pin(async move { self.inner.open_range(&self.full(key), range).await })
    }

    fn head<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move { self.inner.head(&self.full(key)).await })
    }

    fn writer<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Box<dyn ObjectWriter>>> {
        Box::pin(async move { self.inner.writer(&self.full(key)).await })
    }

    fn put<'a>(&'a self, key: &'a Key, data: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.inner.put(&self.full(key), data).await })
    }

    fn publish<'a>(&'a self, key: &'a Key, data: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.inner.publish(&self.full(key), data).await })
    }

    fn list<'a>(&'a self, prefix: Option<&'a Key>) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let full = match prefix {
                Some(p) => self.full(p),
                None => self.prefix.clone(),
            };
            let found = self.inner.list(Some(&full)).await?;
            Ok(found.into_iter().filter_map(|m| self.strip(m)).collect())
        })
    }

    fn children<'a>(&'a self, prefix: Option<&'a Key>) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let full = match prefix {
                Some(p) => self.full(p),
                None => self.prefix.clone(),
            };
            self.inner.children(Some(&full)).await
        })
    }

    fn delete<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.inner.delete(&self.full(key)).await })
    }
}

macro_rules! forward {
    ($($ty:ty),*) => {$(
        impl<S: Storage + ?Sized> Storage for $ty {
            fn locate(&self, key: &Key) -> PathBuf {
                (**self).locate(key)
            }
            fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Bytes>> {
                (**self).get(key)
            }
            fn get_range<'a>(&'a self, key: &'a Key, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
                (**self).get_range(key, range)
            }
            fn open_range<'a>(&'a self, key: &'a Key, range: Range<u64>) -> BoxFuture<'a, Result<ObjectReader>> {
                (**self).open_range(key, range)
            }
            fn head<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<u64>>> {
                (**self).head(key)
            }
            fn writer<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Box<dyn ObjectWriter>>> {
                (**self).writer(key)
            }
            fn put<'a>(&'a self, key: &'a Key, data: Bytes) -> BoxFuture<'a, Result<()>> {
                (**self).put(key, data)
            }
            fn publish<'a>(&'a self, key: &'a Key, data: Bytes) -> BoxFuture<'a, Result<()>> {
                (**self).publish(key, data)
            }
            fn list<'a>(&'a self, prefix: Option<&'a Key>) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
                (**self).list(prefix)
            }
            fn children<'a>(&'a self, prefix: Option<&'a Key>) -> BoxFuture<'a, Result<Vec<String>>> {
                (**self).children(prefix)
            }
            fn delete<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<()>> {
                (**self).delete(key)
            }
        }
    )*};
}

// Shared and borrowed storages are storages too.
forward!(Arc<S>, &S, Box<S>);

/// Wakes the thread blocked in [`wait`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a storage future to completion on this thread, for blocking callers. Not for
/// use on an async runtime's worker thread with a storage whose futures need that
/// runtime (an object store client): there, `.await` instead.
pub fn wait<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_root() {
        for good in ["toc.json", "data/1.copy.zst", "backups/L/wal/0001"] {
            assert_eq!(Key::new(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "/etc/passwd",
            "a//b",
            "a/../b",
            "..",
            "./x",
            "a/",
            "a\0b",
        ] {
            assert!(Key::new(bad).is_err(), "{bad:?} accepted");
        }
        let k = Key::new("backups").unwrap().join("L").unwrap();
        assert_eq!(k.as_str(), "backups/L");
        assert!(k.join("../x").is_err());
    }
}
