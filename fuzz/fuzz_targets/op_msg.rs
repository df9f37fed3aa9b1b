//! The OP_MSG decoder (OP_COMPRESSED unwrapped first) on any bytes: never panics, never
//! allocates past the message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mongo_x509::fuzzing::decode_op_msg(data);
});
