//! Entry points for the fuzz targets in `fuzz/`: the crate-private decoders, reachable only with
//! the `fuzzing` feature. Not an API.

use crate::error::Result;
use crate::options::ClientOptions;

/// Decodes one complete OP_MSG (header included), as a reply from the network is decoded.
pub fn decode_op_msg(bytes: &[u8]) -> Result<()> {
    crate::wire::decode_message(bytes, crate::wire::MAX_MESSAGE_SIZE_CEILING).map(|_| ())
}

/// Parses a connection string without any DNS lookup (`mongodb+srv://` stops before it).
pub fn parse_connection_string(uri: &str) -> Result<ClientOptions> {
    crate::options::parse_uri_offline(uri)
}
