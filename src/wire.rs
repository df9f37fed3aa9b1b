//! The wire protocol: OP_MSG (MongoDB 3.6+), the only opcode this crate speaks.
//!
//! Encoding builds one buffer per message. Decoding never trusts a length from the network:
//! the header's length is checked against [`MIN_REPLY_LEN`] and the connection's maximum message
//! size *before* a buffer of that size is allocated, and every section length is checked against
//! what is left of the message. No input can make it panic.
//!
//! Checksums: a reply with `checksumPresent` set has its CRC-32C verified (and a mismatch is an
//! [`ErrorKind::InvalidResponse`](crate::error::ErrorKind::InvalidResponse)). The OP_MSG
//! specification reserves the flag for future use and servers do not set it today, so this costs
//! nothing in practice; verifying rather than skipping the 4 bytes means a corrupted message
//! over plain TCP is reported instead of silently decoded, for 20 lines of code and no extra
//! dependency. Requests are sent without a checksum.

use std::ops::Range;
use std::sync::atomic::{AtomicI32, Ordering};

use bson::raw::RawBsonRef;
use bson::Document;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};

pub(crate) mod compression;
pub(crate) mod scan;

#[cfg(test)]
mod tests;

/// The OP_MSG opcode.
pub(crate) const OP_MSG: i32 = 2013;
/// The size of the standard message header.
pub(crate) const HEADER_LEN: usize = 16;
/// The shortest OP_MSG accepted: header, flag bits and one section kind byte.
pub(crate) const MIN_REPLY_LEN: usize = HEADER_LEN + 5;
/// The maximum message size until the server's `hello` says otherwise (`maxMessageSizeBytes`
/// of every server today).
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 48_000_000;
/// The largest message this client sends or accepts (64 MiB), whatever a server's
/// `maxMessageSizeBytes` says, so that no reply header makes it reserve gigabytes.
pub(crate) const MAX_MESSAGE_SIZE_CEILING: usize = 64 * 1024 * 1024;

/// Flag bit 0: a CRC-32C checksum follows the sections.
pub(crate) const CHECKSUM_PRESENT: u32 = 1;
/// Flag bit 1: the sender will send another message without waiting.
pub(crate) const MORE_TO_COME: u32 = 1 << 1;
/// Flag bit 16: the client accepts several replies to this request (the streaming `hello`).
pub(crate) const EXHAUST_ALLOWED: u32 = 1 << 16;
/// The low 16 bits are "required": an unknown one set is an error (OP_MSG spec).
const REQUIRED_BITS: u32 = 0xFFFF;
const KNOWN_REQUIRED_BITS: u32 = CHECKSUM_PRESENT | MORE_TO_COME;

static NEXT_REQUEST_ID: AtomicI32 = AtomicI32::new(1);

/// A fresh request id, unique within the process (wraps around after 2^32 messages).
pub(crate) fn next_request_id() -> i32 {
    NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed)
}

/// A kind-1 section: a named sequence of documents (e.g. `documents` of an `insert`), kept
/// serialized: each document is encoded once, when the operation takes it, and copied into the
/// message as is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DocumentSequence {
    /// The command argument the documents stand for.
    pub(crate) identifier: String,
    /// The documents, serialized back to back.
    pub(crate) bytes: Vec<u8>,
    /// Where each document ends in `bytes` (so a batch can be cut to fit a message).
    pub(crate) ends: Vec<usize>,
}

impl DocumentSequence {
    /// An empty sequence.
    pub(crate) fn new(identifier: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            bytes: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// A sequence of documents serialized now.
    #[cfg(test)]
    pub(crate) fn from_documents(identifier: &str, docs: &[Document]) -> Result<Self> {
        let mut seq = Self::new(identifier);
        for d in docs {
            d.to_writer(&mut seq.bytes)?;
            seq.ends.push(seq.bytes.len());
        }
        Ok(seq)
    }

    /// Appends one serialized document.
    pub(crate) fn push(&mut self, doc: &[u8]) {
        self.bytes.extend_from_slice(doc);
        self.ends.push(self.bytes.len());
    }

    /// The number of documents.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there is no document.
    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The size of this sequence's section in a message: kind byte, length, identifier, NUL,
    /// documents.
    pub(crate) fn section_len(&self) -> usize {
        1 + 4 + self.identifier.len() + 1 + self.bytes.len()
    }

    /// The documents, decoded (tests).
    #[cfg(test)]
    pub(crate) fn documents(&self) -> Vec<Document> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let d = Document::from_reader(&self.bytes[start..end]).expect("valid document");
                start = end;
                d
            })
            .collect()
    }
}

/// A decoded OP_MSG, as offsets into the bytes it was decoded from: nothing is copied or
/// built. Every document has been checked for structure and nesting depth.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RawMessage {
    /// The header's request id.
    pub(crate) request_id: i32,
    /// The header's `responseTo`.
    pub(crate) response_to: i32,
    /// The flag bits.
    pub(crate) flags: u32,
    /// Where the kind-0 section's document is.
    pub(crate) body: Range<usize>,
    /// The kind-1 sections, in order: identifier and where each document is.
    pub(crate) sequences: Vec<(String, Vec<Range<usize>>)>,
}

/// A decoded OP_MSG with owned documents (tests and the scripted test servers).
#[cfg(test)]
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Message {
    pub(crate) request_id: i32,
    pub(crate) response_to: i32,
    pub(crate) flags: u32,
    pub(crate) body: Document,
    pub(crate) sequences: Vec<DocumentSequence>,
}

/// The part of a request before any document sequence: header (length filled in by
/// [`finish_request`]), flag bits and the body. Encodes into `buf`, which is cleared first, so a
/// connection reuses one buffer for every request.
fn start_request(buf: &mut Vec<u8>, request_id: i32, body: &Body<'_>) -> Result<()> {
    buf.clear();
    buf.extend_from_slice(&[0u8; 4]);
    buf.extend_from_slice(&request_id.to_le_bytes());
    buf.extend_from_slice(&0i32.to_le_bytes());
    buf.extend_from_slice(&OP_MSG.to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes()); // flag bits: none
    buf.push(0);
    let start = buf.len();
    body.command.to_writer(&mut *buf)?;
    // `$clusterTime` and `$db` go after the command's fields as bytes: the cluster time is sent
    // back exactly as the server signed it, and neither is copied into a Document first. (The
    // bson crate cannot append raw elements to an encoded document, so this is by hand: drop
    // the terminating NUL, append the elements, terminate, fix the length.)
    buf.pop();
    if let Some(t) = body.cluster_time {
        buf.push(0x03); // embedded document
        buf.extend_from_slice(b"$clusterTime\0");
        buf.extend_from_slice(t.as_bytes());
    }
    if let Some(db) = body.db {
        buf.push(0x02); // string
        buf.extend_from_slice(b"$db\0");
        buf.extend_from_slice(&len_i32(db.len() + 1)?.to_le_bytes());
        buf.extend_from_slice(db.as_bytes());
        buf.push(0);
    }
    buf.push(0);
    let len = len_i32(buf.len() - start)?;
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// A request's body: the command, then `$clusterTime` and `$db` when given (the command must
/// not hold them too).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Body<'a> {
    pub(crate) command: &'a Document,
    pub(crate) cluster_time: Option<&'a bson::RawDocument>,
    pub(crate) db: Option<&'a str>,
}

#[cfg(test)]
impl<'a> Body<'a> {
    /// The command alone (as tests and scripted servers send it).
    pub(crate) fn plain(command: &'a Document) -> Self {
        Self {
            command,
            cluster_time: None,
            db: None,
        }
    }
}

/// Appends the first `count` documents of a sequence to a request started by
/// [`start_request`].
fn push_sequence(buf: &mut Vec<u8>, seq: &DocumentSequence, count: usize) -> Result<()> {
    if seq.identifier.as_bytes().contains(&0) {
        return Err(Error::internal(format!(
            "document sequence identifier {:?} contains a NUL byte",
            seq.identifier
        )));
    }
    buf.push(1);
    let size_at = buf.len();
    buf.extend_from_slice(&[0u8; 4]);
    buf.extend_from_slice(seq.identifier.as_bytes());
    buf.push(0);
    let end = if count == 0 { 0 } else { seq.ends[count - 1] };
    buf.extend_from_slice(&seq.bytes[..end]);
    let size = len_i32(buf.len() - size_at)?;
    buf[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
    Ok(())
}

/// Checks the size of a request and writes its length into the header.
fn finish_request(buf: &mut [u8], max_message_size: usize) -> Result<()> {
    if buf.len() > max_message_size {
        return Err(Error::invalid_argument(format!(
            "the command is {} bytes, more than the server's maxMessageSizeBytes ({max_message_size}); \
             send fewer or smaller documents",
            buf.len()
        )));
    }
    let total = len_i32(buf.len())?;
    buf[0..4].copy_from_slice(&total.to_le_bytes());
    Ok(())
}

/// Encodes an OP_MSG request into `buf` (cleared first). Fails if the message would be larger
/// than `max_message_size` (the server would close the connection) or a document cannot be
/// serialized.
///
/// The last document sequence is cut to what fits: the returned count is how many of its
/// documents are in the message (all of them when they fit), so a batch is as large as the
/// limit allows once everything else in the command (session, cluster time, deadline) is known.
pub(crate) fn encode_request_into(
    buf: &mut Vec<u8>,
    request_id: i32,
    body: &Body<'_>,
    sequences: &[DocumentSequence],
    max_message_size: usize,
) -> Result<usize> {
    start_request(buf, request_id, body)?;
    let mut sent = 0;
    for (i, seq) in sequences.iter().enumerate() {
        if i + 1 < sequences.len() {
            push_sequence(buf, seq, seq.len())?;
            continue;
        }
        let room = max_message_size.saturating_sub(buf.len() + seq.section_len() - seq.bytes.len());
        sent = seq.ends.partition_point(|end| *end <= room);
        if sent == 0 && !seq.is_empty() {
            return Err(Error::invalid_argument(format!(
                "the command and its first document are {} bytes, more than the server's \
                 maxMessageSizeBytes ({max_message_size}); send smaller documents",
                buf.len() + seq.section_len() - seq.bytes.len() + seq.ends[0]
            )));
        }
        push_sequence(buf, seq, sent)?;
    }
    finish_request(buf, max_message_size)?;
    Ok(sent)
}

/// Encodes an OP_MSG request into a new buffer.
#[cfg(test)]
pub(crate) fn encode_request(
    request_id: i32,
    body: &Document,
    sequences: &[DocumentSequence],
    max_message_size: usize,
) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(256);
    let body = Body::plain(body);
    let sent = encode_request_into(&mut buf, request_id, &body, sequences, max_message_size)?;
    if sequences.last().is_some_and(|s| s.len() != sent) {
        return Err(Error::invalid_argument(format!(
            "the command is more than the maxMessageSizeBytes ({max_message_size})"
        )));
    }
    Ok(buf)
}

fn len_i32(n: usize) -> Result<i32> {
    i32::try_from(n)
        .map_err(|_| Error::invalid_argument(format!("message of {n} bytes is too large")))
}

/// Writes an encoded message and flushes.
pub(crate) async fn write_message<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    bytes: &[u8],
) -> Result<()> {
    w.write_all(bytes).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one message into `buf` (cleared first; its capacity is reused). The length prefix is
/// validated before the rest is read, so a hostile length never causes a large allocation.
/// Returns the message decoded as offsets into `buf`.
pub(crate) async fn read_message_into<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max_message_size: usize,
) -> Result<RawMessage> {
    let mut header = [0u8; HEADER_LEN];
    r.read_exact(&mut header).await?;
    let len = check_length(&header, max_message_size)?;
    buf.clear();
    // Room for the whole message up to 16 MiB (a full cursor batch arrives without the buffer
    // growing and copying); beyond that it grows with the bytes that arrive, so a header alone
    // never reserves more.
    buf.reserve(len.min(16 << 20));
    buf.extend_from_slice(&header);
    let body_len = (len - HEADER_LEN) as u64;
    let read = (&mut *r).take(body_len).read_to_end(buf).await?;
    if (read as u64) < body_len {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
    }
    // Compression hook: an OP_COMPRESSED reply becomes the OP_MSG it wraps.
    compression::decompress_reply(buf, max_message_size)?;
    decode_message_raw(buf, max_message_size)
}

/// Reads one message with owned documents (tests and scripted servers).
#[cfg(test)]
pub(crate) async fn read_message<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    max_message_size: usize,
) -> Result<Message> {
    let mut buf = Vec::new();
    let raw = read_message_into(r, &mut buf, max_message_size).await?;
    to_owned_message(&buf, raw)
}

/// Validates the header's length field; returns the total message length.
pub(crate) fn check_length(header: &[u8], max_message_size: usize) -> Result<usize> {
    let raw = read_i32(header, 0).ok_or_else(|| {
        Error::invalid_response(format!(
            "message header is {} bytes, expected {HEADER_LEN}",
            header.len()
        ))
    })?;
    let len = usize::try_from(raw).unwrap_or(0);
    // Whatever limit the caller passes, never more than the ceiling.
    let max_message_size = max_message_size.min(MAX_MESSAGE_SIZE_CEILING);
    if len < MIN_REPLY_LEN {
        return Err(Error::invalid_response(format!(
            "message length {raw} is shorter than the smallest OP_MSG ({MIN_REPLY_LEN} bytes)"
        )));
    }
    if len > max_message_size {
        return Err(Error::invalid_response(format!(
            "message length {len} exceeds the maximum message size ({max_message_size} bytes)"
        )));
    }
    Ok(len)
}

/// Decodes one complete OP_MSG (header included) into offsets, checking every document's
/// structure and nesting depth without building anything.
pub(crate) fn decode_message_raw(bytes: &[u8], max_message_size: usize) -> Result<RawMessage> {
    if bytes.len() < HEADER_LEN {
        return Err(Error::invalid_response(format!(
            "message is {} bytes, shorter than a header",
            bytes.len()
        )));
    }
    let len = check_length(bytes, max_message_size)?;
    if len != bytes.len() {
        return Err(Error::invalid_response(format!(
            "message length field says {len} bytes but {} were given",
            bytes.len()
        )));
    }
    let request_id = read_i32(bytes, 4).unwrap_or_default();
    let response_to = read_i32(bytes, 8).unwrap_or_default();
    let op_code = read_i32(bytes, 12).unwrap_or_default();
    if op_code != OP_MSG {
        return Err(Error::invalid_response(format!(
            "unexpected opcode {op_code} (expected OP_MSG {OP_MSG})"
        )));
    }
    let flags = read_u32(bytes, HEADER_LEN).unwrap_or_default();
    if flags & REQUIRED_BITS & !KNOWN_REQUIRED_BITS != 0 {
        return Err(Error::invalid_response(format!(
            "unknown required OP_MSG flag bits set: {flags:#x}"
        )));
    }
    let mut end = bytes.len();
    if flags & CHECKSUM_PRESENT != 0 {
        if end < MIN_REPLY_LEN + 4 {
            return Err(Error::invalid_response(
                "checksum flag set but the message has no room for it",
            ));
        }
        end -= 4;
        let expected = read_u32(bytes, end).unwrap_or_default();
        let actual = crc32c(&bytes[..end]);
        if expected != actual {
            return Err(Error::invalid_response(format!(
                "CRC-32C checksum mismatch (message says {expected:#010x}, computed {actual:#010x})"
            )));
        }
    }

    let mut body = None;
    let mut sequences = Vec::new();
    let mut pos = HEADER_LEN + 4;
    if pos >= end {
        return Err(Error::invalid_response("OP_MSG has no sections"));
    }
    while pos < end {
        let kind = bytes[pos];
        pos += 1;
        match kind {
            0 => {
                let next = read_document(bytes, pos, end)?;
                if body.replace(pos..next).is_some() {
                    return Err(Error::invalid_response(
                        "OP_MSG has more than one body (kind 0) section",
                    ));
                }
                pos = next;
            }
            1 => {
                let size = read_i32(&bytes[..end], pos).ok_or_else(|| {
                    Error::invalid_response("document sequence size is truncated")
                })?;
                let seq_end = fitting_end(pos, size, end).ok_or_else(|| {
                    Error::invalid_response(format!(
                        "document sequence size {size} does not fit the message"
                    ))
                })?;
                let id_start = pos + 4;
                let nul = bytes[id_start..seq_end]
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or_else(|| {
                        Error::invalid_response("document sequence identifier is not terminated")
                    })?;
                let identifier = std::str::from_utf8(&bytes[id_start..id_start + nul])
                    .map_err(|_| {
                        Error::invalid_response("document sequence identifier is not UTF-8")
                    })?
                    .to_owned();
                let mut p = id_start + nul + 1;
                let mut documents = Vec::new();
                while p < seq_end {
                    let next = read_document(bytes, p, seq_end)?;
                    documents.push(p..next);
                    p = next;
                }
                if sequences
                    .iter()
                    .any(|(id, _): &(String, _)| *id == identifier)
                {
                    return Err(Error::invalid_response(format!(
                        "duplicate document sequence identifier {identifier:?}"
                    )));
                }
                sequences.push((identifier, documents));
                pos = seq_end;
            }
            other => {
                return Err(Error::invalid_response(format!(
                    "unknown OP_MSG section kind {other}"
                )));
            }
        }
    }
    let body =
        body.ok_or_else(|| Error::invalid_response("OP_MSG has no body (kind 0) section"))?;
    Ok(RawMessage {
        request_id,
        response_to,
        flags,
        body,
        sequences,
    })
}

/// The end of a part that starts at `pos` with the declared length `len` (its own 4-byte
/// length and at least one byte more), if it ends by `end`.
fn fitting_end(pos: usize, len: i32, end: usize) -> Option<usize> {
    usize::try_from(len)
        .ok()
        .filter(|l| *l >= 5)
        .and_then(|l| pos.checked_add(l))
        .filter(|e| *e <= end)
}

/// Checks one BSON document starting at `pos`, not going past `end`. Returns the offset just
/// after it.
fn read_document(bytes: &[u8], pos: usize, end: usize) -> Result<usize> {
    let len = read_i32(&bytes[..end], pos)
        .ok_or_else(|| Error::invalid_response("BSON document is truncated"))?;
    let doc_end = fitting_end(pos, len, end).ok_or_else(|| {
        Error::invalid_response(format!(
            "BSON document length {len} does not fit the message"
        ))
    })?;
    scan::check_document(&bytes[pos..doc_end], MAX_BSON_DEPTH)
        .map_err(|e| Error::invalid_response(format!("invalid BSON document: {e}")))?;
    Ok(doc_end)
}

/// Decodes one complete OP_MSG with owned documents (tests and scripted servers).
#[cfg(test)]
pub(crate) fn decode_message(bytes: &[u8], max_message_size: usize) -> Result<Message> {
    let raw = decode_message_raw(bytes, max_message_size)?;
    to_owned_message(bytes, raw)
}

#[cfg(test)]
fn to_owned_message(bytes: &[u8], raw: RawMessage) -> Result<Message> {
    let doc = |r: Range<usize>| {
        Document::from_reader(&bytes[r])
            .map_err(|e| Error::invalid_response(format!("invalid BSON document: {e}")))
    };
    let mut sequences = Vec::new();
    for (identifier, docs) in raw.sequences {
        let mut seq = DocumentSequence::new(identifier);
        for r in docs {
            seq.push(&bytes[r]);
        }
        sequences.push(seq);
    }
    Ok(Message {
        request_id: raw.request_id,
        response_to: raw.response_to,
        flags: raw.flags,
        body: doc(raw.body)?,
        sequences,
    })
}

/// How deeply documents in a reply may nest. The server's own limit is about 200; the bson
/// crate parses recursively, so without this a reply of nested documents could overflow the
/// stack (an abort, not even a panic).
pub(crate) const MAX_BSON_DEPTH: usize = 200;

/// Walks the document without recursion and rejects nesting deeper than [`MAX_BSON_DEPTH`], with
/// the bson crate's iterator (which also validates every value): the reference the faster
/// [`scan`] is tested against.
#[cfg(test)]
pub(crate) fn check_depth(bytes: &[u8]) -> Result<()> {
    use bson::raw::{RawBsonRef, RawDocument};
    let invalid =
        |e: bson::raw::Error| Error::invalid_response(format!("invalid BSON document: {e}"));
    let mut stack = vec![(RawDocument::from_bytes(bytes).map_err(invalid)?, 1usize)];
    while let Some((doc, depth)) = stack.pop() {
        for element in doc {
            let (_, value) = element.map_err(invalid)?;
            let child = match value {
                RawBsonRef::Document(d) => d,
                RawBsonRef::Array(a) => RawDocument::from_bytes(a.as_bytes()).map_err(invalid)?,
                RawBsonRef::JavaScriptCodeWithScope(c) => c.scope,
                _ => continue,
            };
            if depth >= MAX_BSON_DEPTH {
                return Err(Error::invalid_response(format!(
                    "BSON document nested deeper than {MAX_BSON_DEPTH} levels"
                )));
            }
            stack.push((child, depth + 1));
        }
    }
    Ok(())
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(i32::from_le_bytes(b.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    read_i32(bytes, at).map(|v| v as u32)
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as OP_MSG checksums use.
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0x82F6_3B78 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// MongoDB's notion of a true `ok` (and of other flags in replies): `true`, or a non-zero
/// number (NaN is not true). The one place this rule is written.
pub(crate) fn truthy(value: RawBsonRef<'_>) -> bool {
    match value {
        RawBsonRef::Boolean(b) => b,
        RawBsonRef::Int32(i) => i != 0,
        RawBsonRef::Int64(i) => i != 0,
        RawBsonRef::Double(d) => d != 0.0 && !d.is_nan(),
        _ => false,
    }
}
