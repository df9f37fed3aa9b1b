use bson::doc;

use super::*;
use crate::error::ErrorKind;
use crate::wire::{decode_message, encode_request, DEFAULT_MAX_MESSAGE_SIZE};

const MAX: usize = DEFAULT_MAX_MESSAGE_SIZE;

/// The compressors compiled into this build.
fn compiled() -> Vec<Compressor> {
    [
        Compressor::Snappy,
        Compressor::Zlib { level: None },
        Compressor::Zstd,
    ]
    .into_iter()
    .filter(is_compiled)
    .collect()
}

fn op_msg(body: bson::Document) -> Vec<u8> {
    encode_request(42, &body, &[], MAX).unwrap()
}

/// A hand-made OP_COMPRESSED: `original` opcode, `size` claimed, compressor `id`, `data`.
fn wrapped(original: i32, size: i32, id: u8, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((PREFIX_LEN + data.len()) as i32).to_le_bytes());
    m.extend_from_slice(&7i32.to_le_bytes());
    m.extend_from_slice(&42i32.to_le_bytes());
    m.extend_from_slice(&OP_COMPRESSED.to_le_bytes());
    m.extend_from_slice(&original.to_le_bytes());
    m.extend_from_slice(&size.to_le_bytes());
    m.push(id);
    m.extend_from_slice(data);
    m
}

fn invalid_response(r: Result<Vec<u8>>) -> String {
    let err = r.unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::InvalidResponse { .. }),
        "{err}"
    );
    err.to_string()
}

#[test]
fn names_and_negotiation_follow_the_client_order() {
    let zlib = Compressor::Zlib { level: Some(4) };
    let client = [Compressor::Zstd, zlib.clone(), Compressor::Snappy];
    let server = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // The first of the client's list that the server also has, whatever the server's order.
    assert_eq!(
        negotiate(&client, &server(&["snappy", "zlib"])),
        Some(zlib.clone())
    );
    assert_eq!(
        negotiate(&client, &server(&["snappy", "zlib", "zstd"])),
        Some(Compressor::Zstd)
    );
    assert_eq!(
        negotiate(&client, &server(&["snappy"])),
        Some(Compressor::Snappy)
    );
    assert_eq!(negotiate(&client, &server(&[])), None);
    assert_eq!(negotiate(&client, &server(&["lz4"])), None);
    assert_eq!(negotiate(&[], &server(&["zstd"])), None);
    assert_eq!(
        client.iter().map(name).collect::<Vec<_>>(),
        ["zstd", "zlib", "snappy"]
    );
}

#[test]
fn handshake_and_auth_commands_are_never_compressed() {
    for name in NEVER_COMPRESSED {
        assert!(!may_compress(name), "{name}");
    }
    for name in [
        "find",
        "insert",
        "aggregate",
        "getMore",
        "ping",
        "endSessions",
    ] {
        assert!(may_compress(name), "{name}");
    }
    let hello = op_msg(doc! {"hello": 1, "$db": "admin"});
    assert_eq!(command_name(&hello), Some("hello"));
    let auth = op_msg(doc! {"authenticate": 1, "mechanism": "MONGODB-X509", "$db": "$external"});
    for c in compiled() {
        assert!(matches!(
            compress_request(&hello, Some(&c)).unwrap(),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            compress_request(&auth, Some(&c)).unwrap(),
            Cow::Borrowed(_)
        ));
        let find = op_msg(doc! {"find": "c", "$db": "d"});
        assert!(matches!(
            compress_request(&find, Some(&c)).unwrap(),
            Cow::Owned(_)
        ));
    }
    let find = op_msg(doc! {"find": "c", "$db": "d"});
    assert!(matches!(
        compress_request(&find, None).unwrap(),
        Cow::Borrowed(_)
    ));
    // Not an OP_MSG body first: sent as it is.
    assert_eq!(command_name(&[0; 10]), None);
}

#[test]
fn each_codec_round_trips_with_the_spec_header() {
    let body = doc! {"insert": "c", "documents": [{"s": "abc".repeat(2000)}], "$db": "d"};
    let msg = op_msg(body.clone());
    for c in compiled() {
        let out = compress(&msg, &c).unwrap();
        assert!(out.len() < msg.len() / 10, "{c:?}: {} bytes", out.len());
        assert_eq!(read_i32(&out, 0), Some(out.len() as i32));
        assert_eq!(read_i32(&out, 4), Some(42), "same requestID");
        assert_eq!(read_i32(&out, 8), Some(0), "same responseTo");
        assert_eq!(read_i32(&out, 12), Some(OP_COMPRESSED));
        assert_eq!(read_i32(&out, 16), Some(OP_MSG), "originalOpcode");
        assert_eq!(read_i32(&out, 20), Some(msg.len() as i32 - 16));
        let id = match c {
            Compressor::Snappy => SNAPPY_ID,
            Compressor::Zlib { .. } => ZLIB_ID,
            Compressor::Zstd => ZSTD_ID,
        };
        assert_eq!(out[24], id);
        let back = decompress(&out, MAX).unwrap();
        assert_eq!(back, msg, "{c:?}");
        assert_eq!(decode_message(&back, MAX).unwrap().body, body);
        assert_reply_decompresses_to(&out, &msg);
    }
}

/// `decompress_reply`, which works in place on a reply read from the wire, makes `msg` of
/// `reply`.
fn assert_reply_decompresses_to(reply: &[u8], msg: &[u8]) {
    let mut buf = reply.to_vec();
    decompress_reply(&mut buf, MAX).unwrap();
    assert_eq!(buf, msg);
}

#[test]
fn noop_replies_are_accepted_and_op_msg_left_alone() {
    let msg = op_msg(doc! {"ok": 1});
    let out = wrapped(OP_MSG, msg.len() as i32 - 16, NOOP_ID, &msg[16..]);
    let back = decompress(&out, MAX).unwrap();
    assert_eq!(&back[16..], &msg[16..]);
    assert_eq!(read_i32(&back, 4), Some(7));
    assert_eq!(read_i32(&back, 8), Some(42));
    assert_eq!(read_i32(&back, 12), Some(OP_MSG));
    assert_reply_decompresses_to(&msg, &msg);
}

#[test]
fn hostile_headers_are_invalid_responses() {
    let msg = op_msg(doc! {"ok": 1});
    let body = &msg[16..];
    let n = body.len() as i32;
    let e = invalid_response(decompress(&wrapped(OP_MSG, n, 0, body)[..24], MAX));
    assert!(e.contains("prefix"), "{e}");
    let e = invalid_response(decompress(&wrapped(2004, n, 0, body), MAX));
    assert!(e.contains("opcode 2004"), "{e}");
    // Sizes beyond the maximum message size, negative, or smaller than any OP_MSG.
    for size in [MAX as i32, i32::MAX, -1, 0, 4] {
        let e = invalid_response(decompress(&wrapped(OP_MSG, size, 0, body), MAX));
        assert!(e.contains("uncompressedSize"), "{e}");
    }
    // A size within the maximum but a lie about the data.
    for size in [n - 1, n + 1, 1000] {
        let e = invalid_response(decompress(&wrapped(OP_MSG, size, 0, body), MAX));
        assert!(e.contains("uncompressedSize"), "{size}: {e}");
    }
    for id in [4u8, 9, 255] {
        let e = invalid_response(decompress(&wrapped(OP_MSG, n, id, body), MAX));
        assert!(e.contains(&format!("unknown compressorId {id}")), "{e}");
    }
    // The connection's own limit, not only the ceiling.
    invalid_response(decompress(&wrapped(OP_MSG, 2000, 0, body), 1000));
}

#[test]
fn a_codec_not_compiled_names_its_feature() {
    for (c, id, feature) in [
        (Compressor::Snappy, SNAPPY_ID, "snappy-compression"),
        (
            Compressor::Zlib { level: None },
            ZLIB_ID,
            "zlib-compression",
        ),
        (Compressor::Zstd, ZSTD_ID, "zstd-compression"),
    ] {
        if is_compiled(&c) {
            check_compressors(&[c]).unwrap();
            continue;
        }
        let e = invalid_response(decompress(&wrapped(OP_MSG, 100, id, &[1; 20]), MAX));
        assert!(e.contains(feature), "{e}");
        let err = check_compressors(&[c]).unwrap_err();
        assert!(
            matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(feature), "{err}");
    }
    if cfg!(feature = "zlib-compression") {
        let err = check_compressors(&[Compressor::Zlib { level: Some(10) }]).unwrap_err();
        assert!(err.to_string().contains("zlibCompressionLevel"), "{err}");
    }
}

/// 8 MiB of zeros compressed; the reply claims 1000 bytes: decoding stops at 1001 (zstd
/// refuses the frame's window first, which is bounded by the claimed size).
#[test]
fn bombs_fail_fast() {
    let zeros = vec![0u8; 8 << 20];
    for c in compiled() {
        let (id, data) = codec::compress(&c, &zeros).unwrap();
        let start = std::time::Instant::now();
        let e = invalid_response(decompress(&wrapped(OP_MSG, 1000, id, &data), MAX));
        assert!(e.contains("1000") || e.contains("memory"), "{c:?}: {e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(1), "{c:?}");
        // Claiming more than the maximum message size fails before decoding at all.
        invalid_response(decompress(&wrapped(OP_MSG, 8 << 20, id, &data), 1 << 20));
    }
}

#[cfg(feature = "zlib-compression")]
#[test]
fn zlib_level_is_honoured() {
    let msg = op_msg(doc! {"insert": "c", "documents": [{"s": "xyz".repeat(30_000)}], "$db": "d"});
    let size = |level| {
        compress(&msg, &Compressor::Zlib { level: Some(level) })
            .unwrap()
            .len()
    };
    assert!(size(0) > msg.len(), "level 0 stores");
    assert!(size(9) < msg.len() / 50);
    assert_eq!(
        compress(&msg, &Compressor::Zlib { level: Some(-1) }).unwrap(),
        compress(&msg, &Compressor::Zlib { level: None }).unwrap()
    );
}

/// Every truncation and many single-byte changes of valid compressed messages: errors, no
/// panic, and never more than the claimed size.
#[test]
fn mutated_messages_never_panic() {
    let msg = op_msg(doc! {"find": "c", "filter": {"a": "b".repeat(300)}, "$db": "d"});
    let mut samples = vec![wrapped(OP_MSG, msg.len() as i32 - 16, 0, &msg[16..])];
    for c in compiled() {
        samples.push(compress(&msg, &c).unwrap());
    }
    let mut seed = 0x9E37_79B9u32;
    for sample in samples {
        for cut in 0..sample.len() {
            let _ = decompress(&sample[..cut], MAX);
        }
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let mut m = sample.clone();
            let at = 16 + seed as usize % (m.len() - 16);
            m[at] ^= (seed >> 24) as u8 | 1;
            if let Ok(out) = decompress(&m, MAX) {
                assert_eq!(out.len() as i32 - 16, read_i32(&m, 20).unwrap());
            }
        }
    }
}

/// The read-path hook: what `read_message` returns for an OP_COMPRESSED on the stream.
#[tokio::test]
async fn read_message_unwraps_op_compressed() {
    let body = doc! {"ok": 1, "n": 3};
    let msg = op_msg(body.clone());
    let mut stream = vec![wrapped(OP_MSG, msg.len() as i32 - 16, NOOP_ID, &msg[16..])];
    for c in compiled() {
        stream.push(compress(&msg, &c).unwrap());
    }
    for bytes in stream {
        let m = crate::wire::read_message(&mut &bytes[..], MAX)
            .await
            .unwrap();
        assert_eq!(m.body, body);
        assert_eq!(m.response_to, read_i32(&bytes, 8).unwrap());
    }
    let bad = wrapped(OP_MSG, 5000, NOOP_ID, &msg[16..]);
    let err = crate::wire::read_message(&mut &bad[..], MAX)
        .await
        .unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::InvalidResponse { .. }),
        "{err}"
    );
}
