//! GridFS bucket operations: uploads from and downloads to bytes in memory, deletes, renames,
//! finds and drop, on the crate's `GridFsBucket`.

use bson::{Bson, Document};
use futures_util::TryStreamExt;
use mongo_x509::gridfs::GridFsBucket;
use mongo_x509::options::{GridFsBucketOptions, GridFsDownloadByNameOptions, GridFsUploadOptions};

use super::{Args, OpResult, Outcome};
use crate::unified::matching::decode_hex;

pub async fn run(name: &str, mut a: Args, bucket: &GridFsBucket) -> OpResult {
    let r = match name {
        "upload" => {
            let filename = a.req_str("filename")?;
            let source = hex_bytes(a.req("source")?)?;
            let mut options = GridFsUploadOptions::default();
            options.chunk_size_bytes = a.u32("chunkSizeBytes")?;
            options.metadata = a.doc("metadata")?;
            // The crate computes no MD5 (the field is deprecated): disableMD5 is what it does
            // anyway, so `true` asks nothing more; `false` would ask for the digest.
            if a.bool("disableMD5")? == Some(false) {
                return Err("upload: disableMD5 false asks for an MD5 digest, which the crate does not write".into());
            }
            let timeout = a.millis("timeoutMS")?;
            a.finish()?;
            match timeout {
                // The operation's own timeoutMS: the stream's action takes it.
                Some(t) => {
                    use futures_util::io::AsyncWriteExt;
                    match bucket
                        .open_upload_stream(filename)
                        .with_options(options)
                        .timeout(t)
                        .await
                    {
                        Ok(mut up) => {
                            let id = up.id().clone();
                            let written = match up.write_all(&source).await {
                                Ok(()) => up.close().await,
                                Err(e) => Err(e),
                            };
                            written
                                .map(|()| Outcome::Value(id))
                                .map_err(mongo_x509::error::Error::from)
                        }
                        Err(e) => Err(e),
                    }
                }
                None => bucket
                    .upload_from_futures_0_3_reader(filename, &source[..], options)
                    .await
                    .map(|id| Outcome::Value(Bson::ObjectId(id))),
            }
        }
        "download" => {
            let id = a.req("id")?;
            let timeout = a.millis("timeoutMS")?;
            a.finish()?;
            let mut out = Vec::new();
            match timeout {
                // The operation's own timeoutMS: the stream's action takes it.
                Some(t) => match bucket.open_download_stream(id).timeout(t).await {
                    Ok(mut stream) => {
                        use futures_util::io::AsyncReadExt;
                        stream
                            .read_to_end(&mut out)
                            .await
                            .map(|_| bytes(out))
                            .map_err(mongo_x509::error::Error::from)
                    }
                    Err(e) => Err(e),
                },
                None => bucket
                    .download_to_futures_0_3_writer(id, &mut out)
                    .await
                    .map(|()| bytes(out)),
            }
        }
        "downloadByName" => {
            let filename = a.req_str("filename")?;
            let mut options = GridFsDownloadByNameOptions::default();
            options.revision = a
                .i64("revision")?
                .map(i32::try_from)
                .transpose()
                .map_err(|_| "downloadByName: revision out of range")?;
            a.finish()?;
            let mut out = Vec::new();
            bucket
                .download_to_futures_0_3_writer_by_name(filename, &mut out, options)
                .await
                .map(|()| bytes(out))
        }
        "delete" => {
            let id = a.req("id")?;
            let timeout = a.millis("timeoutMS")?;
            a.finish()?;
            let act = bucket.delete(id);
            match timeout {
                Some(t) => act.timeout(t).await,
                None => act.await,
            }
            .map(|()| Outcome::None)
        }
        "deleteByName" => {
            let filename = a.req_str("filename")?;
            a.finish()?;
            bucket
                .delete_by_name(filename)
                .await
                .map(|()| Outcome::None)
        }
        "rename" => {
            let id = a.req("id")?;
            let to = a.req_str("newFilename")?;
            let timeout = a.millis("timeoutMS")?;
            a.finish()?;
            let act = bucket.rename(id, to);
            match timeout {
                Some(t) => act.timeout(t).await,
                None => act.await,
            }
            .map(|()| Outcome::None)
        }
        "renameByName" => {
            let from = a.req_str("filename")?;
            let to = a.req_str("newFilename")?;
            a.finish()?;
            bucket
                .rename_by_name(from, to)
                .await
                .map(|()| Outcome::None)
        }
        "drop" => {
            let timeout = a.millis("timeoutMS")?;
            a.finish()?;
            let act = bucket.drop();
            match timeout {
                Some(t) => act.timeout(t).await,
                None => act.await,
            }
            .map(|()| Outcome::None)
        }
        "find" => {
            let filter = a.req_doc("filter")?;
            let mut options = mongo_x509::options::GridFsFindOptions::default();
            options.sort = a.doc("sort")?;
            options.skip = a.u64("skip")?;
            options.limit = a.i64("limit")?;
            options.batch_size = a.u32("batchSize")?;
            options.max_time = a.millis("maxTimeMS")?;
            options.no_cursor_timeout = a.bool("noCursorTimeout")?;
            options.allow_disk_use = a.bool("allowDiskUse")?;
            let timeout = a.millis("timeoutMS")?;
            a.finish()?;
            let act = bucket.find(filter).with_options(options);
            let found = match timeout {
                Some(t) => act.timeout(t).await,
                None => act.await,
            };
            match found {
                Err(e) => Err(e),
                Ok(cursor) => cursor.try_collect::<Vec<_>>().await.and_then(|files| {
                    files
                        .into_iter()
                        .map(|f| {
                            bson::to_document(&f)
                                .map(Bson::Document)
                                .map_err(|e| mongo_x509::error::Error::internal(e.to_string()))
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(Outcome::Docs)
                }),
            }
        }
        other => {
            return Err(format!(
                "bucket operation {other}: not in the crate's API (or this runner) yet"
            ))
        }
    };
    Ok(r)
}

/// `bucketOptions` of a bucket entity.
pub fn bucket_options(d: Document) -> Result<GridFsBucketOptions, String> {
    let mut a = Args::from_doc("bucketOptions", d);
    let mut o = GridFsBucketOptions::default();
    o.bucket_name = a.str("bucketName")?;
    o.chunk_size_bytes = a.u32("chunkSizeBytes")?;
    o.write_concern = a.write_concern()?;
    o.read_concern = a.read_concern()?;
    o.read_preference = a.read_preference()?;
    a.finish()?;
    Ok(o)
}

/// A download's content, matched with `$$matchesHexBytes`.
fn bytes(b: Vec<u8>) -> Outcome {
    Outcome::Value(Bson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: b,
    }))
}

/// `{$$hexBytes: "..."}`: the bytes of an upload.
fn hex_bytes(v: Bson) -> Result<Vec<u8>, String> {
    match v {
        Bson::Document(d) if d.len() == 1 => match d.get("$$hexBytes") {
            Some(Bson::String(h)) => decode_hex(h),
            _ => Err(format!(
                "upload: source must be {{$$hexBytes: <hex>}}, not {d}"
            )),
        },
        other => Err(format!(
            "upload: source must be {{$$hexBytes: <hex>}}, not {other}"
        )),
    }
}
