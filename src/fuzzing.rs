//! Entry points for the fuzz targets in `fuzz/`: the crate-private decoders, reachable only with
//! the `fuzzing` feature. Not an API.

use crate::error::Result;
use crate::options::ClientOptions;

/// Decodes one complete OP_MSG (header included), as a reply from the network is decoded: an
/// OP_COMPRESSED goes through decompression first (with the codecs compiled in).
pub fn decode_op_msg(bytes: &[u8]) -> Result<()> {
    let max = crate::wire::MAX_MESSAGE_SIZE_CEILING;
    let mut buf = bytes.to_vec();
    crate::wire::compression::decompress_reply(&mut buf, max)?;
    crate::wire::decode_message(&buf, max).map(|_| ())
}

/// Parses a connection string without any DNS lookup (`mongodb+srv://` stops before it).
pub fn parse_connection_string(uri: &str) -> Result<ClientOptions> {
    crate::options::parse_uri_offline(uri)
}
