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
    let m = crate::wire::decode_message_raw(&buf, max)?;
    // What the client then reads from a reply: ok and the error fields, the cluster time,
    // a cursor batch, and the whole body as a document.
    let body = bson::RawDocument::from_bytes(&buf[m.body])
        .map_err(|e| crate::error::Error::invalid_response(e.to_string()))?;
    let _ = crate::conn::check_ok(body);
    let _ = crate::session::cluster_time::times_of(body);
    let _ = crate::operation::parse_batch(body, "firstBatch");
    crate::conn::to_document(body).map(|_| ())
}

/// Parses a connection string without any DNS lookup (`mongodb+srv://` stops before it).
pub fn parse_connection_string(uri: &str) -> Result<ClientOptions> {
    crate::options::parse_uri_offline(uri)
}
