//! OP_COMPRESSED for the fake deployment and the compression tests, written against the codec
//! crates directly (`snap`, `flate2`, `zstd`), never through mongo-x509's own code, so that
//! what the tests check does not depend on the implementation under test. Each codec is there
//! when its cargo feature is on; the noop compressor (id 0) always is.

use std::io;

/// The OP_COMPRESSED opcode.
pub const OP_COMPRESSED: i32 = 2012;
/// Compressor ids (Compression specification).
pub const NOOP: u8 = 0;
/// snappy.
pub const SNAPPY: u8 = 1;
/// zlib.
pub const ZLIB: u8 = 2;
/// zstd.
pub const ZSTD: u8 = 3;

/// The codecs compiled into this build, as (handshake name, compressor id).
pub fn compiled() -> Vec<(&'static str, u8)> {
    let mut v = Vec::new();
    if cfg!(feature = "snappy-compression") {
        v.push(("snappy", SNAPPY));
    }
    if cfg!(feature = "zlib-compression") {
        v.push(("zlib", ZLIB));
    }
    if cfg!(feature = "zstd-compression") {
        v.push(("zstd", ZSTD));
    }
    v
}

/// The id of a compiled codec by its handshake name (`noop` included).
pub fn id_of(name: &str) -> Option<u8> {
    if name == "noop" {
        return Some(NOOP);
    }
    compiled()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, id)| id)
}

/// Compresses `data` with codec `id` (zlib at its default level). Panics if not compiled in.
pub fn compress(id: u8, data: &[u8]) -> Vec<u8> {
    match id {
        NOOP => data.to_vec(),
        #[cfg(feature = "snappy-compression")]
        SNAPPY => snap::raw::Encoder::new()
            .compress_vec(data)
            .expect("snappy compress"),
        #[cfg(feature = "zlib-compression")]
        ZLIB => {
            use std::io::Write;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("zlib compress");
            e.finish().expect("zlib compress")
        }
        #[cfg(feature = "zstd-compression")]
        ZSTD => zstd::bulk::compress(data, 0).expect("zstd compress"),
        other => panic!("compressor {other} is not compiled into this test build"),
    }
}

/// Decompresses `data` (codec `id`), which must give exactly `size` bytes.
pub fn decompress(id: u8, data: &[u8], size: usize) -> io::Result<Vec<u8>> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let out = match id {
        NOOP => data.to_vec(),
        #[cfg(feature = "snappy-compression")]
        SNAPPY => snap::raw::Decoder::new()
            .decompress_vec(data)
            .map_err(|e| bad(format!("snappy: {e}")))?,
        #[cfg(feature = "zlib-compression")]
        ZLIB => {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(data)
                .take(size as u64 + 1)
                .read_to_end(&mut out)?;
            out
        }
        #[cfg(feature = "zstd-compression")]
        ZSTD => zstd::bulk::decompress(data, size + 1)?,
        other => return Err(bad(format!("compressor {other} not compiled in"))),
    };
    if out.len() != size {
        return Err(bad(format!(
            "decompressed to {} bytes, uncompressedSize says {size}",
            out.len()
        )));
    }
    Ok(out)
}

/// A complete OP_COMPRESSED message by hand: header (`request_id`, `response_to`), then
/// `original_opcode`, `uncompressed_size`, `id` and `payload` as given (hostile ones too).
pub fn raw(
    request_id: i32,
    response_to: i32,
    original_opcode: i32,
    uncompressed_size: i32,
    id: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(25 + payload.len());
    m.extend_from_slice(&((25 + payload.len()) as i32).to_le_bytes());
    m.extend_from_slice(&request_id.to_le_bytes());
    m.extend_from_slice(&response_to.to_le_bytes());
    m.extend_from_slice(&OP_COMPRESSED.to_le_bytes());
    m.extend_from_slice(&original_opcode.to_le_bytes());
    m.extend_from_slice(&uncompressed_size.to_le_bytes());
    m.push(id);
    m.extend_from_slice(payload);
    m
}

/// Wraps a complete message (header included) in OP_COMPRESSED with codec `id`.
pub fn wrap(msg: &[u8], id: u8) -> Vec<u8> {
    let i32_at = |at: usize| i32::from_le_bytes(msg[at..at + 4].try_into().unwrap());
    raw(
        i32_at(4),
        i32_at(8),
        i32_at(12),
        (msg.len() - 16) as i32,
        id,
        &compress(id, &msg[16..]),
    )
}

/// Unwraps a complete OP_COMPRESSED message: the message it holds (header rebuilt) and the
/// compressor id.
pub fn unwrap(msg: &[u8]) -> io::Result<(Vec<u8>, u8)> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    if msg.len() < 25 {
        return Err(bad("OP_COMPRESSED shorter than its prefix"));
    }
    let i32_at = |at: usize| i32::from_le_bytes(msg[at..at + 4].try_into().unwrap());
    let size = usize::try_from(i32_at(20))
        .ok()
        .filter(|s| *s <= 48_000_000)
        .ok_or_else(|| bad("bad uncompressedSize"))?;
    let id = msg[24];
    let body = decompress(id, &msg[25..], size)?;
    let mut out = Vec::with_capacity(16 + size);
    out.extend_from_slice(&((16 + size) as i32).to_le_bytes());
    out.extend_from_slice(&msg[4..12]);
    out.extend_from_slice(&msg[16..20]);
    out.extend_from_slice(&body);
    Ok((out, id))
}
