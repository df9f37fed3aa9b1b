//! `ClientOptions::parse` (without DNS) on any string: never panics; an error never quotes a
//! password given with `tlsCertificateKeyFilePassword`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(uri) = std::str::from_utf8(data) {
        if let Err(e) = mongo_x509::fuzzing::parse_connection_string(uri) {
            let message = e.to_string();
            // A marker password (given once, after `Password=`) must never reach an error
            // message; elsewhere in the string the marker is not a password.
            if uri.matches("Zq7Secret").count() == 1 && uri.contains("Password=Zq7Secret") {
                assert!(!message.contains("Zq7Secret"), "{message}");
            }
        }
    }
});
