//! Replays every input in fuzz/regressions/<target>/ (seeds and every crash the fuzzers found,
//! see scripts/fuzz.sh) through the same entry points and checks as the fuzz targets in
//! fuzz/fuzz_targets/, so a fixed crash stays fixed in `cargo test`.

use std::path::Path;
use std::time::Duration;

use mongo_x509::bson::Document;
use mongo_x509::options::ServerAddress;
use mongo_x509::sdam::{ServerDescription, MAX_MESSAGE_SIZE_CEILING, MAX_WRITE_BATCH_SIZE_CEILING};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

#[test]
fn options_parse() {
    for (name, data) in inputs("options_parse") {
        let Ok(uri) = std::str::from_utf8(&data) else {
            continue;
        };
        if let Err(e) = mongo_x509::fuzzing::parse_connection_string(uri) {
            if uri.matches("Zq7Secret").count() == 1 && uri.contains("Password=Zq7Secret") {
                assert!(!e.to_string().contains("Zq7Secret"), "{name}: {e}");
            }
        }
    }
}

#[test]
fn op_msg() {
    for (_, data) in inputs("op_msg") {
        let _ = mongo_x509::fuzzing::decode_op_msg(&data);
    }
}

#[test]
fn hello() {
    for (name, data) in inputs("hello") {
        let Ok(reply) = Document::from_reader(&data[..]) else {
            continue;
        };
        let address = ServerAddress::Tcp {
            host: "fuzz.test".into(),
            port: Some(27017),
        };
        let rtt = Some(Duration::from_millis(1));
        let Ok(d) = ServerDescription::from_hello(address, &reply, rtt, Duration::from_secs(1))
        else {
            continue;
        };
        assert!(
            (1..=MAX_MESSAGE_SIZE_CEILING).contains(&d.max_message_size_bytes),
            "{name}"
        );
        assert!(
            (1..=d.max_message_size_bytes).contains(&d.max_bson_object_size),
            "{name}"
        );
        assert!(
            (1..=MAX_WRITE_BATCH_SIZE_CEILING).contains(&d.max_write_batch_size),
            "{name}"
        );
    }
}

/// Selector bits as in fuzz/fuzz_targets/identity.rs: 0-1 the password, 2 the backend.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[test]
fn identity() {
    use mongo_x509::options::{TlsBackendKind, TlsOptions};
    for (_, data) in inputs("identity") {
        let Some((&selector, key)) = data.split_first() else {
            continue;
        };
        let mut opts = TlsOptions::builder().cert_key_data(key.to_vec()).build();
        opts.tls_certificate_key_file_password = match selector & 3 {
            0 => None,
            1 => Some(Vec::new()),
            _ => Some("s3cr3t p@ss/wörd".as_bytes().to_vec()),
        };
        if selector & 4 != 0 && cfg!(feature = "native-tls") {
            opts.backend = Some(TlsBackendKind::NativeTls);
        }
        let _ = mongo_x509::tls::build_backend(&opts);
    }
}
