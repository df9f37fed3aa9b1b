//! Numbers in a `hello` reply are held to the ranges the protocol allows.

use std::time::Duration;

use bson::{doc, Document};

use super::*;
use crate::options::ServerAddress;

fn parse(reply: Document) -> crate::error::Result<ServerDescription> {
    let address = ServerAddress::Tcp {
        host: "h".into(),
        port: Some(1),
    };
    ServerDescription::from_hello(address, &reply, None, Duration::ZERO)
}

fn with(key: &str, value: impl Into<bson::Bson>) -> Document {
    let mut d = doc! { "ok": 1, "isWritablePrimary": true, "maxWireVersion": 21 };
    d.insert(key, value.into());
    d
}

#[test]
fn sizes_above_the_ceilings_are_capped() {
    let d = parse(doc! {
        "ok": 1, "isWritablePrimary": true, "maxWireVersion": 21,
        "maxMessageSizeBytes": i64::MAX, "maxBsonObjectSize": i64::MAX,
        "maxWriteBatchSize": i64::MAX,
    })
    .unwrap();
    assert_eq!(d.max_message_size_bytes, MAX_MESSAGE_SIZE_CEILING);
    assert_eq!(d.max_bson_object_size, MAX_MESSAGE_SIZE_CEILING);
    assert_eq!(d.max_write_batch_size, MAX_WRITE_BATCH_SIZE_CEILING);
    // A document may not be larger than a message.
    let d = parse(doc! {
        "ok": 1, "maxMessageSizeBytes": 1000, "maxBsonObjectSize": 5000,
    })
    .unwrap();
    assert_eq!(d.max_bson_object_size, 1000);
    // What servers send today is kept as it is.
    let d = parse(doc! {
        "ok": 1, "maxMessageSizeBytes": 48_000_000, "maxBsonObjectSize": 16_777_216,
        "maxWriteBatchSize": 100_000,
    })
    .unwrap();
    assert_eq!(
        (
            d.max_message_size_bytes,
            d.max_bson_object_size,
            d.max_write_batch_size
        ),
        (48_000_000, 16_777_216, 100_000)
    );
}

#[test]
fn out_of_range_numbers_make_the_reply_invalid() {
    for reply in [
        with("logicalSessionTimeoutMinutes", -1),
        with("logicalSessionTimeoutMinutes", i64::MAX),
        with("minWireVersion", -1),
        with("maxWireVersion", i64::from(i32::MAX) + 1),
        // A double beyond i64 is not saturated into a number.
        with("setVersion", 1e300),
        with("maxMessageSizeBytes", -1e300),
    ] {
        let e = parse(reply.clone()).unwrap_err();
        assert!(
            matches!(&*e.kind, crate::error::ErrorKind::InvalidResponse { .. }),
            "{reply}: {e}"
        );
    }
    let d = parse(with("logicalSessionTimeoutMinutes", 30)).unwrap();
    assert_eq!(d.logical_session_timeout, Some(Duration::from_secs(1800)));
}
