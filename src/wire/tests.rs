use bson::{doc, Document};

use super::*;
use crate::error::ErrorKind;

const MAX: usize = DEFAULT_MAX_MESSAGE_SIZE;

/// Builds a reply the way a server would: header, flags, then the given section bytes.
fn raw_message(
    request_id: i32,
    response_to: i32,
    op_code: i32,
    flags: u32,
    sections: &[u8],
) -> Vec<u8> {
    let len = (HEADER_LEN + 4 + sections.len()) as i32;
    let mut b = Vec::new();
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&request_id.to_le_bytes());
    b.extend_from_slice(&response_to.to_le_bytes());
    b.extend_from_slice(&op_code.to_le_bytes());
    b.extend_from_slice(&flags.to_le_bytes());
    b.extend_from_slice(sections);
    b
}

fn body_section(d: &Document) -> Vec<u8> {
    let mut b = vec![0u8];
    d.to_writer(&mut b).unwrap();
    b
}

fn seq_section(id: &str, docs: &[Document]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(id.as_bytes());
    payload.push(0);
    for d in docs {
        d.to_writer(&mut payload).unwrap();
    }
    let mut b = vec![1u8];
    b.extend_from_slice(&((payload.len() + 4) as i32).to_le_bytes());
    b.extend_from_slice(&payload);
    b
}

fn assert_invalid<T: std::fmt::Debug>(r: Result<T>, needle: &str) {
    match r {
        Err(e) => match &*e.kind {
            ErrorKind::InvalidResponse { message } => {
                assert!(
                    message.contains(needle),
                    "message {message:?} should mention {needle:?}"
                )
            }
            other => panic!("expected InvalidResponse, got {other:?}"),
        },
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[test]
fn request_ids_are_unique_and_increasing() {
    let a = next_request_id();
    let b = next_request_id();
    assert_ne!(a, b);
    assert!(b > a || a == i32::MAX);
}

#[test]
fn encode_decode_round_trip_body_only() {
    let body = doc! { "ping": 1, "$db": "admin" };
    let bytes = encode_request(42, &body, &[], MAX).unwrap();
    assert_eq!(
        i32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize,
        bytes.len()
    );
    assert_eq!(i32::from_le_bytes(bytes[4..8].try_into().unwrap()), 42);
    assert_eq!(i32::from_le_bytes(bytes[8..12].try_into().unwrap()), 0);
    assert_eq!(
        i32::from_le_bytes(bytes[12..16].try_into().unwrap()),
        OP_MSG
    );
    assert_eq!(
        u32::from_le_bytes(bytes[16..20].try_into().unwrap()),
        0,
        "no flags on requests"
    );
    let m = decode_message(&bytes, MAX).unwrap();
    assert_eq!(m.request_id, 42);
    assert_eq!(m.body, body);
    assert!(m.sequences.is_empty());
}

#[test]
fn encode_decode_round_trip_with_sequences() {
    let body = doc! { "insert": "c", "$db": "test" };
    let seqs = vec![
        DocumentSequence::from_documents(
            "documents",
            &[doc! {"_id": 1}, doc! {"_id": 2, "x": "y"}],
        )
        .unwrap(),
        DocumentSequence::from_documents("empty", &[]).unwrap(),
    ];
    let bytes = encode_request(7, &body, &seqs, MAX).unwrap();
    let m = decode_message(&bytes, MAX).unwrap();
    assert_eq!(m.body, body);
    assert_eq!(m.sequences, seqs);
}

#[test]
fn decode_accepts_sequence_before_body() {
    let mut sections = seq_section("documents", &[doc! {"a": 1}]);
    sections.extend(body_section(&doc! {"ok": 1}));
    let m = decode_message(&raw_message(1, 2, OP_MSG, 0, &sections), MAX).unwrap();
    assert_eq!(m.response_to, 2);
    assert_eq!(m.body, doc! {"ok": 1});
    assert_eq!(m.sequences[0].documents(), vec![doc! {"a": 1}]);
}

#[test]
fn encode_refuses_message_over_max_size() {
    let body = doc! { "x": "a".repeat(1000) };
    let err = encode_request(1, &body, &[], 500).unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
        "{err}"
    );
}

#[test]
fn crc32c_known_vector() {
    // The standard check value of CRC-32C.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
}

#[test]
fn checksum_verified_when_present() {
    let mut msg = raw_message(
        1,
        0,
        OP_MSG,
        CHECKSUM_PRESENT,
        &body_section(&doc! {"ok": 1}),
    );
    let new_len = (msg.len() + 4) as i32;
    msg[0..4].copy_from_slice(&new_len.to_le_bytes());
    let sum = crc32c(&msg);
    let mut good = msg.clone();
    good.extend_from_slice(&sum.to_le_bytes());
    assert_eq!(decode_message(&good, MAX).unwrap().body, doc! {"ok": 1});

    let mut bad = msg;
    bad.extend_from_slice(&(sum ^ 1).to_le_bytes());
    assert_invalid(decode_message(&bad, MAX), "checksum");
}

#[test]
fn short_header_is_invalid() {
    assert_invalid(decode_message(&[1, 2, 3], MAX), "shorter than a header");
    assert_invalid(check_length(&[0u8; 3], MAX), "header");
}

#[test]
fn length_below_minimum_is_invalid() {
    for len in [-1i32, 0, 16, 20] {
        let mut header = [0u8; HEADER_LEN];
        header[0..4].copy_from_slice(&len.to_le_bytes());
        assert_invalid(
            check_length(&header, MAX),
            "shorter than the smallest OP_MSG",
        );
    }
}

#[test]
fn length_above_max_is_invalid() {
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&i32::MAX.to_le_bytes());
    assert_invalid(
        check_length(&header, MAX),
        "exceeds the maximum message size",
    );
    header[0..4].copy_from_slice(&1001i32.to_le_bytes());
    assert_invalid(check_length(&header, 1000), "exceeds");
    assert_eq!(check_length(&header, 1001).unwrap(), 1001);
}

#[test]
fn length_mismatch_is_invalid() {
    let mut msg = raw_message(1, 0, OP_MSG, 0, &body_section(&doc! {"ok": 1}));
    msg.push(0);
    assert_invalid(decode_message(&msg, MAX), "length field");
}

#[test]
fn wrong_opcode_is_invalid() {
    let msg = raw_message(1, 0, 1, 0, &body_section(&doc! {"ok": 1}));
    assert_invalid(decode_message(&msg, MAX), "opcode");
    let msg = raw_message(1, 0, 2012, 0, &body_section(&doc! {"ok": 1}));
    assert_invalid(decode_message(&msg, MAX), "opcode");
}

#[test]
fn unknown_required_flag_is_invalid_but_optional_bits_ignored() {
    let msg = raw_message(1, 0, OP_MSG, 1 << 5, &body_section(&doc! {"ok": 1}));
    assert_invalid(decode_message(&msg, MAX), "flag");
    let msg = raw_message(1, 0, OP_MSG, 1 << 20, &body_section(&doc! {"ok": 1}));
    assert!(decode_message(&msg, MAX).is_ok());
}

#[test]
fn bad_section_kind_is_invalid() {
    let mut sections = body_section(&doc! {"ok": 1});
    sections.push(2);
    sections.extend_from_slice(&[0u8; 8]);
    assert_invalid(
        decode_message(&raw_message(1, 0, OP_MSG, 0, &sections), MAX),
        "section kind 2",
    );
}

#[test]
fn missing_or_duplicate_body_is_invalid() {
    let seq_only = seq_section("documents", &[doc! {"a": 1}]);
    assert_invalid(
        decode_message(&raw_message(1, 0, OP_MSG, 0, &seq_only), MAX),
        "no body",
    );
    let mut two = body_section(&doc! {"ok": 1});
    two.extend(body_section(&doc! {"ok": 1}));
    assert_invalid(
        decode_message(&raw_message(1, 0, OP_MSG, 0, &two), MAX),
        "more than one body",
    );
}

#[test]
fn truncated_body_is_invalid() {
    let mut sections = body_section(&doc! {"ok": 1, "x": "hello"});
    sections.truncate(sections.len() - 3);
    assert_invalid(
        decode_message(&raw_message(1, 0, OP_MSG, 0, &sections), MAX),
        "does not fit",
    );
    // Only the kind byte and part of a length.
    assert_invalid(
        decode_message(&raw_message(1, 0, OP_MSG, 0, &[0, 5, 0]), MAX),
        "truncated",
    );
}

#[test]
fn bad_bson_is_invalid() {
    // Right length, but an unknown element type 0x7F.
    let mut doc = vec![0u8];
    doc.extend_from_slice(&12i32.to_le_bytes());
    doc.extend_from_slice(&[0x7F, b'a', 0, 1, 2, 3, 4, 0]);
    assert_invalid(
        decode_message(&raw_message(1, 0, OP_MSG, 0, &doc), MAX),
        "invalid BSON",
    );
    // Declared document length smaller than the minimum.
    let mut doc = vec![0u8];
    doc.extend_from_slice(&2i32.to_le_bytes());
    assert_invalid(
        decode_message(&raw_message(1, 0, OP_MSG, 0, &doc), MAX),
        "does not fit",
    );
}

#[test]
fn bad_document_sequences_are_invalid() {
    // A kind-1 section's header: the size it declares, then its identifier.
    let header = |size: i32, identifier: &[u8]| {
        let mut s = vec![1];
        s.extend_from_slice(&size.to_le_bytes());
        s.extend_from_slice(identifier);
        s
    };
    // A document running past the sequence's end.
    let mut past_end = seq_section("docs", &[doc! {"a": 1}]);
    let short = (i32::from_le_bytes(past_end[1..5].try_into().unwrap()) - 2).to_le_bytes();
    past_end[1..5].copy_from_slice(&short);
    past_end.truncate(past_end.len() - 2);
    let twice = [seq_section("docs", &[]), seq_section("docs", &[])].concat();
    for (what, sections, error) in [
        (
            "size larger than what is left",
            header(1000, b"docs\0"),
            "does not fit",
        ),
        ("negative size", header(-8, b"docs\0"), "does not fit"),
        (
            "identifier without its NUL",
            header(8, b"docs"),
            "not terminated",
        ),
        ("a document past the end", past_end, "does not fit"),
        ("the same identifier twice", twice, "duplicate"),
    ] {
        let mut s = body_section(&doc! {"ok": 1});
        s.extend(sections);
        let decoded = decode_message(&raw_message(1, 0, OP_MSG, 0, &s), MAX);
        assert!(decoded.is_err(), "{what}");
        assert_invalid(decoded, error);
    }
}

#[test]
fn deep_nesting_is_rejected_without_overflowing_the_stack() {
    // 10 000 nested documents: the bson crate would recurse 10 000 times.
    let depth = 10_000;
    let mut inner: Vec<u8> = vec![5, 0, 0, 0, 0];
    for _ in 0..depth {
        let mut d = Vec::with_capacity(inner.len() + 8);
        let len = (4 + 1 + 2 + inner.len() + 1) as i32;
        d.extend_from_slice(&len.to_le_bytes());
        d.extend_from_slice(&[0x03, b'a', 0]);
        d.extend_from_slice(&inner);
        d.push(0);
        inner = d;
    }
    let mut sections = vec![0u8];
    sections.extend(inner);
    assert_invalid(
        decode_message(&raw_message(1, 0, OP_MSG, 0, &sections), MAX),
        "nested deeper",
    );

    // Moderate nesting (what real replies have) is fine.
    let mut d = doc! {"ok": 1};
    for _ in 0..50 {
        d = doc! {"a": d};
    }
    let bytes = raw_message(1, 0, OP_MSG, 0, &body_section(&d));
    assert_eq!(decode_message(&bytes, MAX).unwrap().body, d);
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A deterministic xorshift over many lengths and mutations of a valid message.
    let valid = encode_request(1, &doc! {"ok": 1, "a": [1, "x", {"b": 2.5}]}, &[], MAX).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut m = valid.clone();
        let flips = (next() % 4 + 1) as usize;
        for _ in 0..flips {
            let i = (next() as usize) % m.len();
            m[i] = next() as u8;
        }
        if next() % 4 == 0 {
            let cut = (next() as usize) % m.len();
            m.truncate(cut);
        }
        let _ = decode_message(&m, MAX);
    }
    for len in 0..64 {
        let m: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = decode_message(&m, MAX);
    }
}

#[tokio::test]
async fn read_message_checks_length_before_reading_the_rest() {
    // A 2 GiB length prefix and nothing else: must fail at once, not wait for or allocate 2 GiB.
    let mut header = Vec::new();
    header.extend_from_slice(&(i32::MAX).to_le_bytes());
    header.extend_from_slice(&[0u8; 12]);
    let (mut client, mut server) = tokio::io::duplex(64);
    server.write_all(&header).await.unwrap();
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        read_message(&mut client, MAX),
    )
    .await
    .expect("read_message must not wait for the body of an oversized message");
    assert_invalid(r, "exceeds");
}

#[tokio::test]
async fn read_message_round_trip_and_eof() {
    let bytes = encode_request(9, &doc! {"ok": 1}, &[], MAX).unwrap();
    let (mut client, mut server) = tokio::io::duplex(1024);
    server.write_all(&bytes).await.unwrap();
    server.write_all(&bytes[..10]).await.unwrap();
    drop(server);
    let m = read_message(&mut client, MAX).await.unwrap();
    assert_eq!(m.request_id, 9);
    let err = read_message(&mut client, MAX).await.unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::Io(_)), "{err}");
}

#[tokio::test]
async fn the_ceiling_holds_whatever_limit_the_caller_passes() {
    let mut header = Vec::new();
    header.extend_from_slice(&((MAX_MESSAGE_SIZE_CEILING + 1) as i32).to_le_bytes());
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&OP_MSG.to_le_bytes());
    assert_invalid(check_length(&header, usize::MAX).map(|_| ()), "exceeds");
    // A body shorter than its header says ends in an I/O error, not a hang or a panic.
    let mut short = header.clone();
    short[0..4].copy_from_slice(&1000_i32.to_le_bytes());
    short.extend_from_slice(&[0; 10]);
    let err = read_message(&mut &short[..], usize::MAX).await.unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::Io(_)), "{err}");
}

#[test]
fn the_last_sequence_is_cut_to_exactly_what_fits() {
    let cmd = doc! { "insert": "c", "lsid": { "id": 1 } };
    let time =
        doc! { "clusterTime": bson::Timestamp { time: 5, increment: 1 }, "signature": { "k": 2 } };
    let raw_time = bson::RawDocumentBuf::from_document(&time).unwrap();
    // $clusterTime and $db are appended to the command's bytes.
    let body = Body {
        command: &cmd,
        cluster_time: Some(&raw_time),
        db: Some("test"),
    };
    let mut expected = cmd.clone();
    expected.insert("$clusterTime", time.clone());
    expected.insert("$db", "test");
    let docs: Vec<Document> = (0..10)
        .map(|i| doc! { "_id": i, "pad": "x".repeat(10 * i as usize) })
        .collect();
    let seq = DocumentSequence::from_documents("documents", &docs).unwrap();
    let mut whole = Vec::new();
    assert_eq!(
        encode_request_into(&mut whole, 1, &body, std::slice::from_ref(&seq), MAX).unwrap(),
        10
    );
    // For every limit between the first document and the whole message: the most documents
    // that fit, and the message never over the limit.
    let first_len = whole.len() - seq.bytes.len() + seq.ends[0];
    let mut buf = Vec::new();
    for max in first_len..=whole.len() {
        let sent =
            encode_request_into(&mut buf, 1, &body, std::slice::from_ref(&seq), max).unwrap();
        assert!(buf.len() <= max, "{} > {max}", buf.len());
        if sent < 10 {
            let next = seq.ends[sent] - if sent == 0 { 0 } else { seq.ends[sent - 1] };
            assert!(
                buf.len() + next > max,
                "document {sent} would have fit under {max}"
            );
        }
        let m = decode_message(&buf, MAX).unwrap();
        assert_eq!(m.sequences[0].documents(), docs[..sent].to_vec());
        assert_eq!(m.body, expected);
    }
    // Not even the first document fits: an error, nothing to send.
    let err = encode_request_into(&mut buf, 1, &body, &[seq], first_len - 1).unwrap_err();
    assert!(
        matches!(&*err.kind, ErrorKind::InvalidArgument { .. }),
        "{err}"
    );
}

#[test]
fn one_buffer_serves_every_request() {
    let mut buf = Vec::new();
    let big = doc! { "x": "a".repeat(1000) };
    encode_request_into(&mut buf, 1, &Body::plain(&big), &[], MAX).unwrap();
    let capacity = buf.capacity();
    let ptr = buf.as_ptr();
    let ping = doc! { "ping": 1 };
    let body = Body {
        db: Some("admin"),
        ..Body::plain(&ping)
    };
    encode_request_into(&mut buf, 2, &body, &[], MAX).unwrap();
    assert_eq!((buf.as_ptr(), buf.capacity()), (ptr, capacity));
    assert_eq!(
        decode_message(&buf, MAX).unwrap().body,
        doc! { "ping": 1, "$db": "admin" }
    );
}
