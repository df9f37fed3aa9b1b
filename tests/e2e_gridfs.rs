//! GridFS against SecantusDB (tests/common/server.rs): a 50 MB file through the copy helpers,
//! streamed both ways (never held in memory) and checked with SHA-256; the upload and download
//! streams with odd write sizes; the files document and chunks as the specification says;
//! revisions by name; rename, delete and drop; the indexes made on the first write (and an
//! existing one recognised whatever its numeric type); abort; a damaged file (a chunk
//! deleted, shortened, or one too many) is an error naming the chunk.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use common::server::server;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use futures_util::TryStreamExt;
use mongo_x509::bson::{doc, spec::BinarySubtype, Binary, Bson, Document};
use mongo_x509::error::{Error, ErrorKind, GridFsErrorKind};
use mongo_x509::gridfs::GridFsBucket;
use mongo_x509::options::{GridFsBucketOptions, GridFsUploadOptions, IndexModel, IndexOptions};
use mongo_x509::{Client, Database};
use sha2::{Digest, Sha256};

const KEY: &str = "client-pkcs8.pem";

async fn database(app: &str) -> Database {
    let uri = server().uri(KEY, &format!("appName={app}"));
    let client = Client::with_uri_str(uri).await.expect("client");
    client.database("e2e_gridfs")
}

/// A bucket named `name` with chunks of `chunk_size` bytes (the default when `None`), dropped
/// first.
async fn bucket(db: &Database, name: &str, chunk_size: Option<u32>) -> GridFsBucket {
    let mut options = GridFsBucketOptions::builder().bucket_name(name).build();
    options.chunk_size_bytes = chunk_size;
    let bucket = db.gridfs_bucket(options);
    bucket.drop().await.expect("drop the bucket");
    bucket
}

/// `len` pseudo-random bytes, made as they are read (an xorshift generator), hashed as they go.
struct Generated {
    left: u64,
    state: u64,
    hasher: Sha256,
}

impl Generated {
    fn new(len: u64, seed: u64) -> Self {
        Self {
            left: len,
            state: seed | 1,
            hasher: Sha256::new(),
        }
    }
}

impl futures_io::AsyncRead for Generated {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = buf
            .len()
            .min(usize::try_from(this.left).unwrap_or(usize::MAX));
        for piece in buf[..n].chunks_mut(8) {
            this.state ^= this.state << 13;
            this.state ^= this.state >> 7;
            this.state ^= this.state << 17;
            piece.copy_from_slice(&this.state.to_le_bytes()[..piece.len()]);
        }
        this.hasher.update(&buf[..n]);
        this.left -= n as u64;
        Poll::Ready(Ok(n))
    }
}

/// A destination that only counts and hashes what it is given.
#[derive(Default)]
struct Hashing {
    len: u64,
    hasher: Sha256,
}

impl futures_io::AsyncWrite for Hashing {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.hasher.update(buf);
        this.len += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn gridfs_kind(e: &Error) -> &GridFsErrorKind {
    match &*e.kind {
        ErrorKind::GridFs(k) => k,
        other => panic!("not a GridFS error: {other}"),
    }
}

/// The crate's error inside an `io::Error` from a stream.
fn inner(e: io::Error) -> Error {
    Error::from(e)
}

async fn read_all(bucket: &GridFsBucket, id: Bson) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let mut stream = bucket.open_download_stream(id).await?;
    stream.read_to_end(&mut out).await.map_err(inner)?;
    Ok(out)
}

async fn upload(bucket: &GridFsBucket, name: &str, bytes: &[u8]) -> Bson {
    let id = bucket
        .upload_from_futures_0_3_reader(name, bytes, None)
        .await
        .expect("upload");
    Bson::ObjectId(id)
}

#[tokio::test]
async fn fifty_megabytes_round_trip_streamed_with_the_same_sha256() {
    const LEN: u64 = 50 * 1024 * 1024;
    let db = database("gridfs_50mb").await;
    let bucket = bucket(&db, "big", None).await;
    let started = Instant::now();
    let mut source = Generated::new(LEN, 0x5eed);
    let id = bucket
        .upload_from_futures_0_3_reader("big.bin", &mut source, None)
        .await
        .expect("upload");
    let uploaded = started.elapsed();
    assert_eq!(source.left, 0, "the source was read to its end");
    let sent = source.hasher.finalize();

    let mut sink = Hashing::default();
    bucket
        .download_to_futures_0_3_writer(id.into(), &mut sink)
        .await
        .expect("download");
    let total = started.elapsed();
    eprintln!(
        "50 MB GridFS round trip: upload {uploaded:?}, download {:?}, total {total:?}",
        total - uploaded
    );
    assert_eq!(sink.len, LEN);
    assert_eq!(
        sink.hasher.finalize(),
        sent,
        "the bytes came back unchanged"
    );

    // The files document and chunks are as the specification says.
    let file = bucket
        .find_one(doc! { "_id": id })
        .await
        .unwrap()
        .expect("the files document");
    assert_eq!(file.length, LEN);
    assert_eq!(file.chunk_size_bytes, 255 * 1024);
    assert_eq!(file.filename.as_deref(), Some("big.bin"));
    let raw = db
        .collection::<Document>("big.files")
        .find_one(doc! { "_id": id })
        .await
        .unwrap()
        .unwrap();
    assert!(raw.get_i64("length").is_ok(), "length is an Int64: {raw}");
    assert!(raw.get_i32("chunkSize").is_ok(), "chunkSize is an Int32");
    assert!(!raw.contains_key("md5"), "no MD5");
    let chunks = db.collection::<Document>("big.chunks");
    let count = chunks
        .count_documents(doc! { "files_id": id })
        .await
        .unwrap();
    assert_eq!(count, LEN.div_ceil(255 * 1024));
    bucket.drop().await.unwrap();
}

#[tokio::test]
async fn upload_and_download_streams_take_any_write_and_read_sizes() {
    let db = database("gridfs_streams").await;
    let bucket = bucket(&db, "streams", Some(1000)).await;
    let data: Vec<u8> = (0..25_500u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut up = bucket
        .open_upload_stream("pieces.bin")
        .metadata(doc! { "owner": "ann" })
        .await
        .unwrap();
    for piece in data.chunks(777) {
        up.write_all(piece).await.unwrap();
    }
    up.flush().await.unwrap();
    up.close().await.unwrap();
    let id = up.id().clone();
    // Closed: no more writes.
    let err = up.write_all(b"more").await.unwrap_err();
    assert!(matches!(
        gridfs_kind(&inner(err)),
        GridFsErrorKind::UploadStreamClosed
    ));

    // 25.5 chunks: 26 of them, the last 500 bytes.
    let chunks = db.collection::<Document>("streams.chunks");
    assert_eq!(
        chunks
            .count_documents(doc! { "files_id": &id })
            .await
            .unwrap(),
        26
    );
    let last = chunks
        .find_one(doc! { "files_id": &id, "n": 25 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.get_binary_generic("data").unwrap().len(), 500);

    // Read back in odd sizes.
    let mut down = bucket.open_download_stream(id.clone()).await.unwrap();
    assert_eq!(down.files_collection_document().length, 25_500);
    assert_eq!(
        down.files_collection_document().metadata,
        Some(doc! { "owner": "ann" })
    );
    let mut back = Vec::new();
    let mut buf = [0u8; 333];
    loop {
        let n = down.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    assert_eq!(back, data);

    // An empty file: a files document, no chunk.
    let empty = upload(&bucket, "empty", b"").await;
    assert_eq!(read_all(&bucket, empty.clone()).await.unwrap(), b"");
    assert_eq!(
        chunks
            .count_documents(doc! { "files_id": &empty })
            .await
            .unwrap(),
        0
    );
    let f = bucket
        .find_one(doc! { "_id": &empty })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.length, 0);

    // A chunk size for one file; an id of the application's choosing.
    let options = GridFsUploadOptions::builder()
        .chunk_size_bytes(4_u32)
        .build();
    bucket
        .upload_from_futures_0_3_reader_with_id(
            Bson::from("my-id"),
            "tiny",
            &b"123456789"[..],
            options,
        )
        .await
        .unwrap();
    assert_eq!(
        chunks
            .count_documents(doc! { "files_id": "my-id" })
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        read_all(&bucket, Bson::from("my-id")).await.unwrap(),
        b"123456789"
    );

    let mut dest = Vec::new();
    bucket
        .download_to_futures_0_3_writer_by_name("tiny", &mut dest, None)
        .await
        .unwrap();
    assert_eq!(dest, b"123456789");
    bucket.drop().await.unwrap();
}

#[tokio::test]
async fn revisions_by_name_count_from_the_oldest_and_the_newest() {
    let db = database("gridfs_revisions").await;
    let bucket = bucket(&db, "revisions", None).await;
    for v in 0..3 {
        upload(&bucket, "notes.txt", format!("v{v}").as_bytes()).await;
        // uploadDate has millisecond resolution: keep the revisions apart.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let by_name = |revision: Option<i32>| {
        let bucket = bucket.clone();
        async move {
            let mut s = bucket
                .open_download_stream_by_name("notes.txt")
                .optional(revision, |a, r| a.revision(r))
                .await?;
            let mut text = String::new();
            s.read_to_string(&mut text).await.map_err(inner)?;
            Ok::<_, Error>(text)
        }
    };
    use mongo_x509::action::Action;
    assert_eq!(by_name(None).await.unwrap(), "v2", "the newest by default");
    for (revision, text) in [
        (0, "v0"),
        (1, "v1"),
        (2, "v2"),
        (-1, "v2"),
        (-2, "v1"),
        (-3, "v0"),
    ] {
        assert_eq!(
            by_name(Some(revision)).await.unwrap(),
            text,
            "revision {revision}"
        );
    }
    for revision in [3, -4] {
        let err = by_name(Some(revision)).await.unwrap_err();
        assert!(
            matches!(gridfs_kind(&err), GridFsErrorKind::RevisionNotFound { revision: r } if *r == revision),
            "{err}"
        );
    }
    let err = bucket
        .open_download_stream_by_name("nothing.txt")
        .await
        .unwrap_err();
    assert!(matches!(
        gridfs_kind(&err),
        GridFsErrorKind::FileNotFound { .. }
    ));
    assert!(err.to_string().contains("nothing.txt"), "{err}");
    bucket.drop().await.unwrap();
}

#[tokio::test]
async fn rename_delete_and_drop() {
    let db = database("gridfs_manage").await;
    let bucket = bucket(&db, "manage", Some(4)).await;
    let a = upload(&bucket, "a", b"aaaaaaaaa").await;
    let b1 = upload(&bucket, "b", b"b1").await;
    let b2 = upload(&bucket, "b", b"b2").await;
    let chunks = db.collection::<Document>("manage.chunks");

    bucket.rename(a.clone(), "a2").await.unwrap();
    let found: Vec<_> = bucket
        .find(doc! { "filename": "a2" })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, a);
    let err = bucket.rename(Bson::from(404), "x").await.unwrap_err();
    assert!(matches!(
        gridfs_kind(&err),
        GridFsErrorKind::FileNotFound { .. }
    ));

    bucket.rename_by_name("b", "c").await.unwrap();
    let c: Vec<_> = bucket
        .find(doc! { "filename": "c" })
        .sort(doc! { "uploadDate": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        c.iter().map(|f| f.id.clone()).collect::<Vec<_>>(),
        [b1.clone(), b2.clone()]
    );
    let err = bucket.rename_by_name("b", "d").await.unwrap_err();
    assert!(matches!(
        gridfs_kind(&err),
        GridFsErrorKind::FileNotFound { .. }
    ));

    bucket.delete(a.clone()).await.unwrap();
    assert!(bucket.find_one(doc! { "_id": &a }).await.unwrap().is_none());
    assert_eq!(
        chunks
            .count_documents(doc! { "files_id": &a })
            .await
            .unwrap(),
        0
    );
    let err = read_all(&bucket, a.clone()).await.unwrap_err();
    assert!(matches!(
        gridfs_kind(&err),
        GridFsErrorKind::FileNotFound { .. }
    ));
    let err = bucket.delete(a.clone()).await.unwrap_err();
    assert!(matches!(
        gridfs_kind(&err),
        GridFsErrorKind::FileNotFound { .. }
    ));

    bucket.delete_by_name("c").await.unwrap();
    for id in [&b1, &b2] {
        assert_eq!(
            chunks
                .count_documents(doc! { "files_id": id })
                .await
                .unwrap(),
            0
        );
    }
    assert!(bucket.find_one(doc! {}).await.unwrap().is_none());
    let err = bucket.delete_by_name("c").await.unwrap_err();
    assert!(matches!(
        gridfs_kind(&err),
        GridFsErrorKind::FileNotFound { .. }
    ));

    upload(&bucket, "again", b"x").await;
    bucket.drop().await.unwrap();
    let names = db.list_collection_names().await.unwrap();
    assert!(
        !names.iter().any(|n| n.starts_with("manage.")),
        "both collections dropped: {names:?}"
    );
}

#[tokio::test]
async fn the_first_write_makes_the_indexes_unless_they_exist() {
    let db = database("gridfs_indexes").await;
    let bucket = bucket(&db, "idx", None).await;
    upload(&bucket, "first", b"1").await;
    let files = db.collection::<Document>("idx.files");
    let chunks = db.collection::<Document>("idx.chunks");
    let keys = |models: Vec<IndexModel>| {
        models
            .into_iter()
            .map(|m| (m.keys, m.options))
            .collect::<Vec<_>>()
    };
    let file_indexes = keys(
        files
            .list_indexes()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap(),
    );
    assert!(
        file_indexes
            .iter()
            .any(|(k, _)| *k == doc! { "filename": 1, "uploadDate": 1 }),
        "{file_indexes:?}"
    );
    let chunk_indexes = keys(
        chunks
            .list_indexes()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap(),
    );
    let unique = chunk_indexes
        .iter()
        .find(|(k, _)| *k == doc! { "files_id": 1, "n": 1 })
        .and_then(|(_, o)| o.as_ref().and_then(|o| o.unique));
    assert_eq!(unique, Some(true), "{chunk_indexes:?}");

    // Indexes already there with double keys (as the shell makes them) are not made again.
    let other = bucket_with_existing_indexes(&db).await;
    upload(&other, "first", b"1").await;
    let names = db
        .collection::<Document>("shell.files")
        .list_index_names()
        .await
        .unwrap();
    assert_eq!(names.len(), 2, "_id and the shell's index only: {names:?}");
    assert!(names.contains(&"by_shell".to_owned()));
    other.drop().await.unwrap();
    bucket.drop().await.unwrap();
}

/// A bucket `shell` whose files and chunks indexes were made with double keys.
async fn bucket_with_existing_indexes(db: &Database) -> GridFsBucket {
    let b = bucket(db, "shell", None).await;
    let named = |name: &str, unique: bool| {
        let mut o = IndexOptions::builder().name(name.to_owned()).build();
        o.unique = unique.then_some(true);
        o
    };
    db.collection::<Document>("shell.files")
        .create_index(
            IndexModel::builder()
                .keys(doc! { "filename": 1.0, "uploadDate": 1.0 })
                .options(named("by_shell", false))
                .build(),
        )
        .await
        .unwrap();
    db.collection::<Document>("shell.chunks")
        .create_index(
            IndexModel::builder()
                .keys(doc! { "files_id": 1.0, "n": 1.0 })
                .options(named("chunks_by_shell", true))
                .build(),
        )
        .await
        .unwrap();
    b
}

#[tokio::test]
async fn an_aborted_upload_leaves_no_chunk() {
    let db = database("gridfs_abort").await;
    let bucket = bucket(&db, "abort", Some(64 * 1024)).await;
    let mut up = bucket.open_upload_stream("gone").await.unwrap();
    // More than a buffer's worth: some chunks are written before the abort.
    up.write_all(&vec![1u8; 4 * 1024 * 1024 + 50])
        .await
        .unwrap();
    up.flush().await.unwrap();
    let id = up.id().clone();
    let chunks = db.collection::<Document>("abort.chunks");
    assert!(
        chunks
            .count_documents(doc! { "files_id": &id })
            .await
            .unwrap()
            > 0
    );
    up.abort().await.unwrap();
    assert_eq!(
        chunks
            .count_documents(doc! { "files_id": &id })
            .await
            .unwrap(),
        0
    );
    assert!(bucket
        .find_one(doc! { "_id": &id })
        .await
        .unwrap()
        .is_none());
    let err = up.write_all(b"x").await.unwrap_err();
    assert!(matches!(
        gridfs_kind(&inner(err)),
        GridFsErrorKind::UploadStreamClosed
    ));
    assert!(matches!(
        gridfs_kind(&up.abort().await.unwrap_err()),
        GridFsErrorKind::UploadStreamClosed
    ));
    bucket.drop().await.unwrap();
}

#[tokio::test]
async fn a_damaged_file_is_an_error_naming_the_chunk() {
    let db = database("gridfs_damage").await;
    let bucket = bucket(&db, "damage", Some(1000)).await;
    let chunks = db.collection::<Document>("damage.chunks");
    let data = vec![9u8; 5000];

    // A chunk in the middle deleted.
    let id = upload(&bucket, "middle", &data).await;
    chunks
        .delete_one(doc! { "files_id": &id, "n": 2 })
        .await
        .unwrap();
    let err = read_all(&bucket, id.clone()).await.unwrap_err();
    assert!(
        matches!(gridfs_kind(&err), GridFsErrorKind::MissingChunk { n: 2 }),
        "{err}"
    );
    assert!(
        err.to_string().contains("n=2"),
        "the message names the chunk: {err}"
    );
    // The same through the copy helper.
    let err = bucket
        .download_to_futures_0_3_writer(id, Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(gridfs_kind(&err), GridFsErrorKind::MissingChunk { n: 2 }),
        "{err}"
    );

    // The last chunk deleted: the chunks end early.
    let id = upload(&bucket, "last", &data).await;
    chunks
        .delete_one(doc! { "files_id": &id, "n": 4 })
        .await
        .unwrap();
    let err = read_all(&bucket, id).await.unwrap_err();
    assert!(
        matches!(gridfs_kind(&err), GridFsErrorKind::MissingChunk { n: 4 }),
        "{err}"
    );

    // A chunk cut short.
    let id = upload(&bucket, "short", &data).await;
    let short = Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![9u8; 10],
    };
    chunks
        .update_one(
            doc! { "files_id": &id, "n": 1 },
            doc! { "$set": { "data": short } },
        )
        .await
        .unwrap();
    let err = read_all(&bucket, id).await.unwrap_err();
    assert!(
        matches!(
            gridfs_kind(&err),
            GridFsErrorKind::WrongSizeChunk {
                n: 1,
                actual_size: 10,
                expected_size: 1000,
                ..
            }
        ),
        "{err}"
    );

    // One chunk too many.
    let id = upload(&bucket, "extra", &data).await;
    let extra = Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![9u8; 1000],
    };
    chunks
        .insert_one(doc! { "files_id": &id, "n": 5, "data": extra })
        .await
        .unwrap();
    let err = read_all(&bucket, id).await.unwrap_err();
    assert!(
        matches!(
            gridfs_kind(&err),
            GridFsErrorKind::WrongNumberOfChunks {
                expected_number: 5,
                ..
            }
        ),
        "{err}"
    );
    bucket.drop().await.unwrap();
}
