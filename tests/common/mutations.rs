//! Damaged copies of real identity files (flipped bits, random bytes, truncation), the same 400
//! every run: 40 per file, one file per decoder path. Used by the no-panic test and by the
//! backend differential test.

use super::certs::test_certs;

/// One file per decoder path (scrypt is left out: slow by design, and its parameters are
/// covered by the format tests).
pub const FILES: &[&str] = &[
    "client.p12",
    "client-legacy.p12",
    "client-chain.p12",
    "client-pkcs8-aes256.pem",
    "client-pkcs8-des3.pem",
    "client-pkcs8-pbes1.pem",
    "client-legacy-aes256.pem",
    "client-ec-legacy-aes256.pem",
    "client-pkcs1.pem",
    "client-ec-sec1.pem",
];

/// Damaged copies per file.
pub const ROUNDS: usize = 40;

/// One damaged input: the file it came from, the round, the bytes.
pub struct Mutation {
    pub file: &'static str,
    pub round: usize,
    pub bytes: Vec<u8>,
}

/// The `FILES.len() * ROUNDS` damaged inputs, from a fixed seed.
pub fn mutations() -> Vec<Mutation> {
    let certs = test_certs();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut out = Vec::with_capacity(FILES.len() * ROUNDS);
    for file in FILES {
        let original = std::fs::read(certs.join(file)).expect("test file");
        for round in 0..ROUNDS {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 4 {
                let i = next() as usize % bytes.len();
                match next() % 3 {
                    0 => bytes[i] = next() as u8,
                    1 => bytes.truncate(i.max(1)),
                    _ => bytes[i] ^= 1 << (next() % 8),
                }
            }
            out.push(Mutation { file, round, bytes });
        }
    }
    out
}
