//! A `hello` reply (any BSON document) through `ServerDescription::from_hello`: never panics,
//! and the limits it keeps are within the client's ceilings.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mongo_x509::bson::Document;
use mongo_x509::options::ServerAddress;
use mongo_x509::sdam::{ServerDescription, MAX_MESSAGE_SIZE_CEILING, MAX_WRITE_BATCH_SIZE_CEILING};

fuzz_target!(|data: &[u8]| {
    let Ok(reply) = Document::from_reader(data) else {
        return;
    };
    let address = ServerAddress::Tcp {
        host: "fuzz.test".into(),
        port: Some(27017),
    };
    let Ok(d) = ServerDescription::from_hello(
        address,
        &reply,
        Some(Duration::from_millis(1)),
        Duration::from_secs(1),
    ) else {
        return;
    };
    assert!((1..=MAX_MESSAGE_SIZE_CEILING).contains(&d.max_message_size_bytes));
    assert!((1..=d.max_message_size_bytes).contains(&d.max_bson_object_size));
    assert!((1..=MAX_WRITE_BATCH_SIZE_CEILING).contains(&d.max_write_batch_size));
    assert!(d.min_wire_version >= 0 && d.max_wire_version >= 0);
});
