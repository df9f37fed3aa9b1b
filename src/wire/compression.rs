//! Wire compression (the MongoDB "Compression" specification): OP_COMPRESSED around OP_MSG.
//!
//! Pure functions, no I/O. The connection calls two of them: [`compress_request`] on every
//! request it writes (a no-op unless a compressor was negotiated and the command may be
//! compressed) and [`decompress_reply`] on every message it reads (a no-op unless it is an
//! OP_COMPRESSED). Negotiation is [`negotiate`], on the handshake's `hello` reply.
//!
//! Never trusting the network: a reply's `uncompressedSize` is checked against the connection's
//! maximum message size before anything is allocated, decoding stops one byte past it (a
//! "zip bomb" fails after at most that many bytes), the output must be exactly that long, and
//! no input can make it panic.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::options::Compressor;
use crate::wire::{HEADER_LEN, MAX_MESSAGE_SIZE_CEILING, MIN_REPLY_LEN, OP_MSG};

/// The OP_COMPRESSED opcode.
pub(crate) const OP_COMPRESSED: i32 = 2012;
/// Compressor id 0: the message is not compressed (testing only, but accepted in replies).
pub(crate) const NOOP_ID: u8 = 0;
/// Compressor id of snappy.
pub(crate) const SNAPPY_ID: u8 = 1;
/// Compressor id of zlib.
pub(crate) const ZLIB_ID: u8 = 2;
/// Compressor id of zstd.
pub(crate) const ZSTD_ID: u8 = 3;
/// Header, originalOpcode, uncompressedSize and compressorId.
const PREFIX_LEN: usize = HEADER_LEN + 9;

/// Commands that MUST NOT be compressed (spec: "Messages not allowed to be compressed"), so
/// that credentials never go through a compressor (CRIME-like attacks).
const NEVER_COMPRESSED: &[&str] = &[
    "hello",
    "isMaster",
    "ismaster",
    "saslStart",
    "saslContinue",
    "getnonce",
    "authenticate",
    "createUser",
    "updateUser",
    "copydbSaslStart",
    "copydbgetnonce",
    "copydb",
];

/// The handshake name of a compressor (`compression: [..]` in `hello`).
pub(crate) fn name(c: &Compressor) -> &'static str {
    match c {
        Compressor::Snappy => "snappy",
        Compressor::Zlib { .. } => "zlib",
        Compressor::Zstd => "zstd",
    }
}

/// The cargo feature a compressor needs.
fn feature(c: &Compressor) -> &'static str {
    match c {
        Compressor::Snappy => "snappy-compression",
        Compressor::Zlib { .. } => "zlib-compression",
        Compressor::Zstd => "zstd-compression",
    }
}

fn is_compiled(c: &Compressor) -> bool {
    match c {
        Compressor::Snappy => cfg!(feature = "snappy-compression"),
        Compressor::Zlib { .. } => cfg!(feature = "zlib-compression"),
        Compressor::Zstd => cfg!(feature = "zstd-compression"),
    }
}

/// Checks the `compressors` option when a client is created: every compressor named must be
/// compiled in (its cargo feature), and a zlib level must be -1 to 9.
pub(crate) fn check_compressors(list: &[Compressor]) -> Result<()> {
    for c in list {
        if !is_compiled(c) {
            return Err(Error::invalid_argument(format!(
                "compressors={n}: this build of mongo-x509 has no {n} codec; enable the cargo \
                 feature \"{f}\" (features = [\"{f}\"] in Cargo.toml) or remove {n} from \
                 compressors",
                n = name(c),
                f = feature(c),
            )));
        }
        if let Compressor::Zlib { level: Some(l) } = c {
            if !(-1..=9).contains(l) {
                return Err(Error::invalid_argument(format!(
                    "zlibCompressionLevel={l}: expected an integer from -1 (zlib's default) to 9"
                )));
            }
        }
    }
    Ok(())
}

/// The compressor to use on a connection (spec): the first in the client's configured list
/// that the server's `hello` reply also lists. `None`: no compression, not an error.
pub(crate) fn negotiate(configured: &[Compressor], server: &[String]) -> Option<Compressor> {
    configured
        .iter()
        .find(|c| server.iter().any(|s| s.eq_ignore_ascii_case(name(c))))
        .cloned()
}

/// Whether a command may be compressed: not if it is one of the handshake and authentication
/// commands the spec lists (by command name, the body's first key).
pub(crate) fn may_compress(command_name: &str) -> bool {
    !NEVER_COMPRESSED.contains(&command_name)
}

/// The command name of an encoded OP_MSG: the first key of its body (kind-0 section first, as
/// this crate encodes requests). `None` if the bytes do not have that shape.
fn command_name(msg: &[u8]) -> Option<&str> {
    // header, flag bits, section kind 0, document length, element type, then the key.
    let start = HEADER_LEN + 4;
    if *msg.get(start)? != 0 {
        return None;
    }
    let key = msg.get(start + 6..)?;
    let nul = key.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&key[..nul]).ok()
}

/// The write-path hook: `msg` (an encoded OP_MSG request) as OP_COMPRESSED when `compressor`
/// is set and the command may be compressed, else unchanged. An OP_MSG whose command cannot be
/// read is sent as it is (never compressed by mistake).
pub(crate) fn compress_request<'a>(
    msg: &'a [u8],
    compressor: Option<&Compressor>,
) -> Result<Cow<'a, [u8]>> {
    match compressor {
        Some(c) if command_name(msg).is_some_and(may_compress) => Ok(Cow::Owned(compress(msg, c)?)),
        _ => Ok(Cow::Borrowed(msg)),
    }
}

/// Wraps a complete message (header included) in OP_COMPRESSED: same requestID and
/// responseTo, originalOpcode from its header, uncompressedSize its length without the header.
pub(crate) fn compress(msg: &[u8], compressor: &Compressor) -> Result<Vec<u8>> {
    if msg.len() < HEADER_LEN {
        return Err(Error::internal(
            "message to compress is shorter than a header",
        ));
    }
    let (header, body) = msg.split_at(HEADER_LEN);
    let (id, compressed) = codec::compress(compressor, body)?;
    let uncompressed = i32::try_from(body.len())
        .map_err(|_| Error::invalid_argument("message too large to compress"))?;
    let total = i32::try_from(PREFIX_LEN + compressed.len())
        .map_err(|_| Error::invalid_argument("compressed message too large"))?;
    let mut out = Vec::with_capacity(PREFIX_LEN + compressed.len());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&header[4..12]); // requestID, responseTo
    out.extend_from_slice(&OP_COMPRESSED.to_le_bytes());
    out.extend_from_slice(&header[12..16]); // originalOpcode
    out.extend_from_slice(&uncompressed.to_le_bytes());
    out.push(id);
    out.extend_from_slice(&compressed);
    Ok(out)
}

/// The read-path hook: a complete message (header included) that is an OP_COMPRESSED is
/// replaced by the OP_MSG it wraps (header rebuilt); any other opcode is left for the OP_MSG
/// decoder to judge. Replies are accepted compressed whether or not compression was negotiated
/// (the spec lets the server compress any reply).
pub(crate) fn decompress_reply(buf: &mut Vec<u8>, max_message_size: usize) -> Result<()> {
    if read_i32(buf, 12) == Some(OP_COMPRESSED) {
        *buf = decompress(buf, max_message_size)?;
    }
    Ok(())
}

/// Unwraps a complete OP_COMPRESSED message (header included) into the OP_MSG it holds.
pub(crate) fn decompress(msg: &[u8], max_message_size: usize) -> Result<Vec<u8>> {
    let bad = |m: String| Error::invalid_response(format!("OP_COMPRESSED reply: {m}"));
    if msg.len() < PREFIX_LEN {
        return Err(bad(format!(
            "{} bytes, shorter than its {PREFIX_LEN}-byte prefix",
            msg.len()
        )));
    }
    let original = read_i32(msg, 16).unwrap_or_default();
    if original != OP_MSG {
        return Err(bad(format!(
            "wraps opcode {original}, expected OP_MSG ({OP_MSG})"
        )));
    }
    let size = read_i32(msg, 20).unwrap_or_default();
    let max = max_message_size.min(MAX_MESSAGE_SIZE_CEILING);
    // Checked before anything is allocated for it.
    let size = usize::try_from(size)
        .ok()
        .filter(|s| (MIN_REPLY_LEN - HEADER_LEN..=max.saturating_sub(HEADER_LEN)).contains(s))
        .ok_or_else(|| {
            bad(format!(
                "uncompressedSize {size} is not between {} and the maximum message size \
                 ({max} bytes) less the header",
                MIN_REPLY_LEN - HEADER_LEN
            ))
        })?;
    let id = msg[24];
    let input = &msg[PREFIX_LEN..];
    let mut out = Vec::with_capacity(HEADER_LEN + size.min(1 << 20));
    let total = i32::try_from(HEADER_LEN + size).unwrap_or(i32::MAX);
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&msg[4..12]);
    out.extend_from_slice(&OP_MSG.to_le_bytes());
    codec::decompress(id, input, size, &mut out).map_err(bad)?;
    if out.len() != HEADER_LEN + size {
        return Err(bad(format!(
            "decompressed to {} bytes but uncompressedSize says {size}",
            out.len() - HEADER_LEN
        )));
    }
    Ok(out)
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(i32::from_le_bytes(b.try_into().ok()?))
}

/// The codecs, each behind its cargo feature. Decoders append at most `size + 1` bytes to
/// `out` (one more than allowed shows the lie) and report errors as text for the caller to wrap.
mod codec {
    #[cfg(any(feature = "zlib-compression", feature = "zstd-compression"))]
    use std::io::Read;

    use super::{NOOP_ID, SNAPPY_ID, ZLIB_ID, ZSTD_ID};
    use crate::error::{Error, Result};
    use crate::options::Compressor;

    /// Compresses `body`; returns the compressor id and the bytes.
    pub(super) fn compress(c: &Compressor, body: &[u8]) -> Result<(u8, Vec<u8>)> {
        // Used or not depending on the features compiled in.
        let _ = body;
        #[cfg(any(
            feature = "snappy-compression",
            feature = "zlib-compression",
            feature = "zstd-compression"
        ))]
        let failed = |e: std::io::Error| Error::internal(format!("compressing a request: {e}"));
        match c {
            #[cfg(feature = "snappy-compression")]
            Compressor::Snappy => snap::raw::Encoder::new()
                .compress_vec(body)
                .map(|v| (super::SNAPPY_ID, v))
                .map_err(|e| failed(e.into())),
            #[cfg(feature = "zlib-compression")]
            Compressor::Zlib { level } => {
                use std::io::Write;
                let level = match level {
                    Some(l @ 0..=9) => flate2::Compression::new(*l as u32),
                    _ => flate2::Compression::default(),
                };
                let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), level);
                enc.write_all(body).map_err(failed)?;
                enc.finish().map(|v| (super::ZLIB_ID, v)).map_err(failed)
            }
            #[cfg(feature = "zstd-compression")]
            Compressor::Zstd => zstd::bulk::compress(body, zstd::DEFAULT_COMPRESSION_LEVEL)
                .map(|v| (super::ZSTD_ID, v))
                .map_err(failed),
            #[allow(unreachable_patterns)] // reachable when a codec's feature is off
            other => Err(Error::internal(format!(
                "compressor {} is not compiled in (checked when the client was created)",
                super::name(other)
            ))),
        }
    }

    /// Decompresses `input` (compressor `id`), appending to `out` at most `size + 1` bytes.
    pub(super) fn decompress(
        id: u8,
        input: &[u8],
        size: usize,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), String> {
        let _ = size;
        match id {
            NOOP_ID => {
                let n = input.len().min(size + 1);
                out.extend_from_slice(&input[..n]);
                Ok(())
            }
            #[cfg(feature = "snappy-compression")]
            SNAPPY_ID => {
                // The raw format starts with the decompressed length: compare before allocating.
                let claimed =
                    snap::raw::decompress_len(input).map_err(|e| format!("snappy: {e}"))?;
                if claimed != size {
                    return Err(format!(
                        "snappy data holds {claimed} bytes but uncompressedSize says {size}"
                    ));
                }
                let at = out.len();
                out.resize(at + size, 0);
                let n = snap::raw::Decoder::new()
                    .decompress(input, &mut out[at..])
                    .map_err(|e| format!("snappy: {e}"))?;
                out.truncate(at + n);
                Ok(())
            }
            #[cfg(feature = "zlib-compression")]
            ZLIB_ID => {
                let dec = flate2::bufread::ZlibDecoder::new(input);
                read_bounded(dec, size, out).map_err(|e| format!("zlib: {e}"))
            }
            #[cfg(feature = "zstd-compression")]
            ZSTD_ID => {
                let mut dec = zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(|e| format!("zstd: {e}"))?;
                // The window zstd allocates, bounded by what the message may hold (2^20 at
                // least, 2^27 at most: zstd's own default limit).
                let log = (usize::BITS - size.leading_zeros() + 1).clamp(20, 27);
                dec.window_log_max(log).map_err(|e| format!("zstd: {e}"))?;
                read_bounded(dec, size, out).map_err(|e| format!("zstd: {e}"))
            }
            #[allow(unreachable_patterns)] // reachable when a codec's feature is off
            SNAPPY_ID | ZLIB_ID | ZSTD_ID => {
                let (n, f) = match id {
                    SNAPPY_ID => ("snappy", "snappy-compression"),
                    ZLIB_ID => ("zlib", "zlib-compression"),
                    _ => ("zstd", "zstd-compression"),
                };
                Err(format!(
                    "compressed with {n} (compressorId {id}), which this build cannot \
                     decompress; enable the cargo feature \"{f}\" (and list {n} in \
                     compressors)"
                ))
            }
            other => Err(format!(
                "unknown compressorId {other} (known: 0 noop, 1 snappy, 2 zlib, 3 zstd)"
            )),
        }
    }

    /// Reads at most `size + 1` bytes of `dec` into `out`.
    #[cfg(any(feature = "zlib-compression", feature = "zstd-compression"))]
    fn read_bounded(dec: impl Read, size: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        dec.take(size as u64 + 1).read_to_end(out).map(|_| ())
    }
}

#[cfg(test)]
#[path = "compression_tests.rs"]
mod tests;
