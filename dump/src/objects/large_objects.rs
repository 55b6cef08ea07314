//! Large objects. Their catalog side is grouped like pg_dump 17 does: one "BLOB METADATA"
//! entry per group of objects with the same owner (`lo_create` for each, then their
//! owner); comments and privileges name each object (`LARGE OBJECT <oid>`) through the
//! generic designators. Their bytes go into one "BLOBS" data entry per group, a single
//! file of frames (`archive_format::blob_frames`), read on the leader connection inside
//! the dump's snapshot while the workers copy tables.

use std::sync::Arc;

use archive_format::blob_frames::{frame_header, MAX_FRAME_BYTES};
use archive_format::storage::{Key, Storage};
use archive_format::toc::{DataFile, EntryKind, Section, TableData};
use archive_format::{ChecksumAlgo, Codec, DataFileWriter};
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::TryFutureExt;
use tokio_postgres::Client;

use super::{class, Ctx, Family, ObjId};
use crate::error::{Error, Result};
use crate::rows::query;
use crate::toc_builder::{entry, Designator, TocBuilder};

/// Objects per entry (and per data file), as pg_dump 17 groups them.
const GROUP_SIZE: usize = 1000;
/// Objects whose first piece is read in one query.
const READ_BATCH: usize = 64;
/// Bytes of each object the batched query reads; longer objects continue piece by piece.
const FIRST_PIECE: i32 = 256 * 1024;
/// Buffers in flight to the writer thread.
const CHANNEL_DEPTH: usize = 8;

/// The `copy` text of a BLOBS entry: not SQL, it names the file format for readers of
/// `toc.json` (and fails loudly if something runs it as a COPY).
pub const BLOBS_FORMAT: &str = "large objects: rdump frames v1 (oid u32be, length u32be, bytes)";

#[derive(Debug)]
struct LargeObject {
    oid: u32,
    owner: String,
}

#[derive(Debug, Default)]
pub struct LargeObjects {
    objects: Vec<LargeObject>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<LargeObjects> {
    let rows = query(
        client,
        "SELECT m.oid, pg_catalog.pg_get_userbyid(m.lomowner)::text AS owner
               FROM pg_catalog.pg_largeobject_metadata m
              ORDER BY 2, 1",
        &[],
        "reading large objects",
    )
    .await?;
    Ok(LargeObjects {
        objects: rows.map(|r| {
            Ok(LargeObject {
                oid: r.get("oid")?,
                owner: r.get("owner")?,
            })
        })?,
    })
}

impl LargeObjects {
    /// Runs of at most GROUP_SIZE objects with one owner (the list is sorted by owner).
    fn groups(&self) -> Vec<&[LargeObject]> {
        let mut groups = Vec::new();
        let mut rest = self.objects.as_slice();
        while let Some(first) = rest.first() {
            let same_owner = rest.iter().take_while(|o| o.owner == first.owner).count();
            let (group, tail) = rest.split_at(same_owner.min(GROUP_SIZE));
            groups.push(group);
            rest = tail;
        }
        groups
    }

    /// Writes every group's bytes to `data/<id>.blobs<ext>` and adds its BLOBS entry.
    /// Runs on the leader connection, inside the snapshot.
    pub async fn dump_data(
        &self,
        client: &Client,
        toc: &mut TocBuilder,
        storage: &Arc<dyn Storage>,
        codec: Codec,
        checksum: ChecksumAlgo,
    ) -> Result<()> {
        for group in self.groups() {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let Some(meta) = toc.id_of(ObjId::new(class::PG_LARGEOBJECT, first.oid)) else {
                continue;
            };
            let mut e = entry(
                EntryKind::Blobs,
                Section::Data,
                None,
                &format!("{}-{}", first.oid, last.oid),
                Some(&first.owner),
                String::new(),
                String::new(),
            );
            e.deps = vec![meta];
            let id = toc.push(e, None);
            let rel_path =
                archive_format::layout::archive::blobs_data(id, codec.method.extension());
            let oids: Vec<u32> = group.iter().map(|o| o.oid).collect();
            let file = write_group(client, &oids, storage, &rel_path, codec, checksum).await?;
            if let Some(e) = toc.entry_mut(id) {
                e.size = file.file.raw_size;
                e.data = Some(TableData {
                    copy: BLOBS_FORMAT.to_owned(),
                    files: vec![file],
                    via_root: false,
                });
            }
        }
        Ok(())
    }
}

impl Family for LargeObjects {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    /// One BLOB METADATA entry per group.
    fn add_entries(&self, toc: &mut TocBuilder) {
        for group in self.groups() {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let owner = &first.owner;
            let oids: Vec<String> = group.iter().map(|o| o.oid.to_string()).collect();
            let create = format!(
                "SELECT pg_catalog.lo_create(o) FROM pg_catalog.unnest('{{{}}}'::pg_catalog.oid[]) AS o;",
                oids.join(",")
            );
            // Only the objects that exist: a clean restore into a database without them
            // must not fail.
            let drop = format!(
                "SELECT pg_catalog.lo_unlink(m.oid) FROM pg_catalog.pg_largeobject_metadata m \
                 WHERE m.oid = ANY ('{{{}}}'::pg_catalog.oid[]);",
                oids.join(",")
            );
            let mut e = entry(
                EntryKind::BlobMetadata,
                Section::PreData,
                None,
                &format!("{}-{}", first.oid, last.oid),
                Some(owner),
                create,
                drop,
            );
            let owner_stmts: Vec<String> = oids
                .iter()
                .filter_map(|o| toc.owner_stmt("LARGE OBJECT", o, owner))
                .collect();
            e.set_owner = (!owner_stmts.is_empty()).then(|| owner_stmts.join("\n"));
            let id = toc.push(e, None);
            for o in group {
                let obj = ObjId::new(class::PG_LARGEOBJECT, o.oid);
                toc.alias(obj, id);
                toc.designators.insert(
                    obj,
                    Designator {
                        entry: id,
                        keyword: "LARGE OBJECT",
                        name: o.oid.to_string(),
                        owner: Some(o.owner.clone()),
                    },
                );
            }
        }
    }
}

/// Streams the objects `oids` into one data file through a writer thread.
async fn write_group(
    client: &Client,
    oids: &[u32],
    storage: &Arc<dyn Storage>,
    rel_path: &str,
    codec: Codec,
    checksum: ChecksumAlgo,
) -> Result<DataFile> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Bytes>>(CHANNEL_DEPTH);
    let (storage, key, count) = (storage.clone(), Key::new(rel_path)?, oids.len() as u64);
    let writer = tokio::task::spawn_blocking(move || -> Result<DataFile> {
        let mut w = DataFileWriter::create_in(&*storage, &key, codec, checksum)?;
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Some(buf) => w.write_all(&buf)?,
                // The reader finished cleanly: only now may the file be completed.
                None => {
                    return Ok(DataFile {
                        file: w.finish()?,
                        rows: count,
                    })
                }
            }
        }
        // Dropping the unfinished writer removes the partial file.
        Err(Error::Other(format!(
            "{}: dump of large objects was interrupted",
            storage.locate(&key).display()
        )))
    })
    .map_err(|e| Error::Other(format!("writer thread failed: {e}")));
    let reader = async move {
        for batch in oids.chunks(READ_BATCH) {
            let what = format!("dumping large objects {}..", batch[0]);
            let rows = query(
                client,
                "SELECT u.o AS oid, pg_catalog.lo_get(u.o, 0, $2) AS data
                   FROM pg_catalog.unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS u(o, k)
                  ORDER BY u.k",
                &[&batch, &FIRST_PIECE],
                &what,
            )
            .await?;
            for r in rows.iter() {
                let oid: u32 = r.get("oid")?;
                let first: Vec<u8> = r.get("data")?;
                let mut buf = BytesMut::with_capacity(first.len() + 8);
                buf.extend_from_slice(&frame_header(oid, first.len() as u32));
                buf.extend_from_slice(&first);
                if tx.send(Some(buf.freeze())).await.is_err() {
                    return Ok(()); // the writer failed; its error is the one to report
                }
                if first.len() < FIRST_PIECE as usize {
                    continue;
                }
                // A long object: the rest in pieces of the largest frame size.
                let mut offset = first.len() as i64;
                loop {
                    let piece: Vec<u8> = query(
                        client,
                        "SELECT pg_catalog.lo_get($1, $2, $3) AS data",
                        &[&oid, &offset, &(MAX_FRAME_BYTES as i32)],
                        &format!("dumping large object {oid}"),
                    )
                    .await?
                    .one()?
                    .get("data")?;
                    if piece.is_empty() {
                        break;
                    }
                    let mut buf = BytesMut::with_capacity(piece.len() + 8);
                    buf.extend_from_slice(&frame_header(oid, piece.len() as u32));
                    buf.extend_from_slice(&piece);
                    if tx.send(Some(buf.freeze())).await.is_err() {
                        return Ok(());
                    }
                    if piece.len() < MAX_FRAME_BYTES {
                        break;
                    }
                    offset += piece.len() as i64;
                }
            }
        }
        let _ = tx.send(None).await;
        Result::<()>::Ok(())
    };
    let (read_result, write_result) = futures::join!(reader, writer);
    read_result?;
    write_result?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_split_by_owner_and_size() {
        let mut objects: Vec<LargeObject> = (0..2500)
            .map(|i| LargeObject {
                oid: i,
                owner: "a".into(),
            })
            .collect();
        objects.push(LargeObject {
            oid: 9,
            owner: "b".into(),
        });
        let los = LargeObjects { objects };
        let sizes: Vec<usize> = los.groups().iter().map(|g| g.len()).collect();
        assert_eq!(sizes, vec![1000, 1000, 500, 1]);
        assert_eq!(los.groups()[3][0].owner, "b");
    }
}
