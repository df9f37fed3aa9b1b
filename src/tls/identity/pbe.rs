//! Password-based decryption in pure Rust: PBES2 through `pkcs5`, the PKCS#12 PBE schemes of
//! RFC 7292 appendix C, and OpenSSL's legacy PEM encryption (`DEK-Info`).
//!
//! Two pieces are written here because no well-kept crate does them: the PKCS#12 PBE
//! decryption (`pkcs5` knows PBES1 by name but cannot decrypt it; the key derivation itself is
//! `pkcs12::kdf`) and OpenSSL's `EVP_BytesToKey` for legacy PEM. Every buffer that holds a
//! derived key or plaintext is [`Zeroizing`]. Every KDF parameter is checked against the
//! [`KdfLimits`] before anything is derived ([`check_limits`], [`check_iterations`]), and so is
//! the sum over every derivation of one file ([`KdfBudget`]).

// Legacy PEM decryption serves the native-tls backend; OpenSSL decrypts its own.
#![cfg_attr(not(feature = "native-tls"), allow(dead_code))]

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, InnerIvInit, KeyInit};
use const_oid::db::rfc6268;
use const_oid::ObjectIdentifier;
use der::asn1::AnyRef;
use der::Decode;
use pkcs12::pbe_params::Pkcs12PbeParams;
use pkcs5::pbes2;
use sha2::digest;
use sha2::Digest;
use x509_cert::spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::error::IdentityErrorKind;
use crate::tls::KdfLimits;

/// Why a decryption failed.
#[derive(Debug)]
pub(crate) enum PbeError {
    /// Bad padding or the plaintext is not DER: almost certainly the wrong password.
    WrongPassword,
    /// The algorithm is not supported; names it.
    Unsupported(String),
    /// The algorithm parameters could not be parsed.
    Malformed(String),
    /// A KDF parameter is above its limit ([`IdentityErrorKind::KdfLimitExceeded`]).
    Limit(IdentityErrorKind),
}

impl PbeError {
    pub(crate) fn into_kind(self) -> IdentityErrorKind {
        match self {
            PbeError::WrongPassword => IdentityErrorKind::WrongPassword,
            PbeError::Unsupported(found) => IdentityErrorKind::UnsupportedFormat { found },
            PbeError::Malformed(detail) => IdentityErrorKind::Malformed { detail },
            PbeError::Limit(kind) => kind,
        }
    }
}

use pkcs12::{
    PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC as P12_RC2_40,
    PKCS_12_PBE_WITH_SHAAND128_BIT_RC2_CBC as P12_RC2_128,
    PKCS_12_PBE_WITH_SHAAND2_KEY_TRIPLE_DES_CBC as P12_2DES,
    PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC as P12_3DES,
};

/// Readable names for the algorithms this module meets.
const NAMES: &[(ObjectIdentifier, &str)] = &[
    (pbes2::PBES2_OID, "PBES2"),
    (pbes2::PBKDF2_OID, "PBKDF2"),
    (pbes2::SCRYPT_OID, "scrypt"),
    (P12_3DES, "pbeWithSHA1And3-KeyTripleDES-CBC"),
    (P12_2DES, "pbeWithSHA1And2-KeyTripleDES-CBC"),
    (P12_RC2_128, "pbeWithSHA1And128BitRC2-CBC"),
    (P12_RC2_40, "pbeWithSHA1And40BitRC2-CBC"),
    (
        pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC4,
        "pbeWithSHA1And128BitRC4",
    ),
    (
        pkcs12::PKCS_12_PBE_WITH_SHAAND40_BIT_RC4,
        "pbeWithSHA1And40BitRC4",
    ),
    (
        pkcs5::pbes1::PBE_WITH_MD5_AND_DES_CBC_OID,
        "PBES1 pbeWithMD5AndDES-CBC",
    ),
    (
        pkcs5::pbes1::PBE_WITH_MD5_AND_RC2_CBC_OID,
        "PBES1 pbeWithMD5AndRC2-CBC",
    ),
    (
        pkcs5::pbes1::PBE_WITH_SHA1_AND_DES_CBC_OID,
        "PBES1 pbeWithSHA1AndDES-CBC",
    ),
    (
        pkcs5::pbes1::PBE_WITH_SHA1_AND_RC2_CBC_OID,
        "PBES1 pbeWithSHA1AndRC2-CBC",
    ),
    (pbes2::HMAC_WITH_SHA1_OID, "HMAC-SHA1"),
    (rfc6268::ID_HMAC_WITH_SHA_224, "HMAC-SHA224"),
    (rfc6268::ID_HMAC_WITH_SHA_256, "HMAC-SHA256"),
    (rfc6268::ID_HMAC_WITH_SHA_384, "HMAC-SHA384"),
    (rfc6268::ID_HMAC_WITH_SHA_512, "HMAC-SHA512"),
    (pbes2::AES_128_CBC_OID, "AES-128-CBC"),
    (pbes2::AES_192_CBC_OID, "AES-192-CBC"),
    (pbes2::AES_256_CBC_OID, "AES-256-CBC"),
    (pbes2::DES_EDE3_CBC_OID, "DES-EDE3-CBC"),
    (ObjectIdentifier::new_unwrap("1.3.14.3.2.7"), "DES-CBC"),
    (const_oid::db::rfc5912::ID_SHA_1, "SHA-1"),
    (const_oid::db::rfc5912::ID_SHA_224, "SHA-224"),
    (const_oid::db::rfc5912::ID_SHA_256, "SHA-256"),
    (const_oid::db::rfc5912::ID_SHA_384, "SHA-384"),
    (const_oid::db::rfc5912::ID_SHA_512, "SHA-512"),
    (
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.14"),
        "PBMAC1",
    ),
];

/// The algorithm's name, or `OID x.y.z` for one this module does not know.
fn short(oid: &ObjectIdentifier) -> String {
    match NAMES.iter().find(|(o, _)| o == oid) {
        Some((_, name)) => (*name).to_owned(),
        None => format!("OID {oid}"),
    }
}

/// `NAME (x.y.z)`, for error messages.
pub(crate) fn oid_name(oid: &ObjectIdentifier) -> String {
    match NAMES.iter().find(|(o, _)| o == oid) {
        Some((_, name)) => format!("{name} ({oid})"),
        None => format!("OID {oid}"),
    }
}

/// True for the PKCS#12 PBE schemes, which are always decrypted here (OpenSSL 3 would need its
/// legacy provider for RC2).
pub(crate) fn is_pkcs12_pbe(oid: &ObjectIdentifier) -> bool {
    [P12_3DES, P12_2DES, P12_RC2_128, P12_RC2_40].contains(oid)
}

/// Describes an encryption scheme for "password required" messages, e.g.
/// `PBES2 (AES-256-CBC, PBKDF2 HMAC-SHA256)`.
pub(crate) fn describe_scheme(alg: &AlgorithmIdentifierOwned) -> String {
    if alg.oid != pbes2::PBES2_OID {
        return short(&alg.oid);
    }
    match pbes2_parameters(alg) {
        Ok(params) => {
            let kdf = match &params.kdf {
                pbes2::Kdf::Pbkdf2(p) => format!("PBKDF2 {}", short(&p.prf.oid())),
                pbes2::Kdf::Scrypt(_) => "scrypt".to_owned(),
                _ => "unknown KDF".to_owned(),
            };
            format!("PBES2 ({}, {kdf})", short(&params.encryption.oid()))
        }
        Err(_) => "PBES2".to_owned(),
    }
}

fn pbes2_parameters(alg: &AlgorithmIdentifierOwned) -> Result<pbes2::Parameters<'_>, PbeError> {
    let params = alg
        .parameters
        .as_ref()
        .ok_or_else(|| PbeError::Malformed("PBES2 without parameters".into()))?;
    pbes2::Parameters::try_from(AnyRef::from(params)).map_err(|e| {
        PbeError::Unsupported(format!(
            "this PBES2 variant is not supported ({e}); supported: AES-128/192/256-CBC or \
             DES-EDE3-CBC with PBKDF2 (HMAC-SHA1/SHA-224/SHA-256/SHA-384/SHA-512) or scrypt"
        ))
    })
}

/// Checks that the scheme is one this crate decrypts, before anyone is asked to decrypt: a
/// backend then only ever fails on a wrong password.
pub(crate) fn check_supported(alg: &AlgorithmIdentifierOwned) -> Result<(), PbeError> {
    if alg.oid == pbes2::PBES2_OID {
        return pbes2_parameters(alg).map(|_| ());
    }
    if is_pkcs12_pbe(&alg.oid) {
        return pkcs12_params(alg).map(|_| ());
    }
    Err(PbeError::Unsupported(format!(
        "the key is encrypted with {}, which is not supported; re-encrypt it with \
         `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
        oid_name(&alg.oid)
    )))
}

/// The password as a PKCS#12 BMPString: UTF-16BE with a two-byte NUL terminator (what
/// OpenSSL does for UTF-8 passwords; bytes that are not UTF-8 are widened one by one).
pub(crate) fn bmp_password(password: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    match std::str::from_utf8(password) {
        Ok(s) => {
            for unit in s.encode_utf16() {
                out.extend_from_slice(&unit.to_be_bytes());
            }
        }
        Err(_) => {
            for b in password {
                out.extend_from_slice(&[0, *b]);
            }
        }
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// Decrypts `ciphertext` with the PBE algorithm `alg`, its KDF paid from `budget`. PBES2 takes
/// the password bytes as they are; the PKCS#12 schemes take its BMPString form.
pub(crate) fn decrypt(
    alg: &AlgorithmIdentifierOwned,
    ciphertext: &[u8],
    password: &[u8],
    budget: &mut KdfBudget,
) -> Result<Zeroizing<Vec<u8>>, PbeError> {
    check_supported(alg)?;
    check_limits(alg, budget)?;
    decrypt_within_limits(alg, ciphertext, password)
}

/// [`decrypt`] once the caller has checked the KDF parameters ([`check_limits`]).
pub(crate) fn decrypt_within_limits(
    alg: &AlgorithmIdentifierOwned,
    ciphertext: &[u8],
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PbeError> {
    let plaintext = if alg.oid == pbes2::PBES2_OID {
        pbes2_decrypt(alg, ciphertext, password)?
    } else {
        pkcs12_pbe(alg, ciphertext, &bmp_password(password))?
    };
    // Wrong passwords pass the padding check about once in 256 tries: the plaintext must
    // also be one DER value.
    if AnyRef::from_der(&plaintext).is_err() {
        return Err(PbeError::WrongPassword);
    }
    Ok(plaintext)
}

fn pbes2_decrypt(
    alg: &AlgorithmIdentifierOwned,
    ciphertext: &[u8],
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PbeError> {
    let params = pbes2_parameters(alg)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    match params.decrypt_in_place(password, &mut buffer) {
        Ok(plain) => Ok(Zeroizing::new(plain.to_vec())),
        // pkcs5 0.7 reports bad padding as EncryptFailed even when decrypting.
        Err(pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed) => {
            Err(PbeError::WrongPassword)
        }
        Err(e) => Err(PbeError::Unsupported(format!(
            "{}: {e}",
            describe_scheme(alg)
        ))),
    }
}

fn pkcs12_params(alg: &AlgorithmIdentifierOwned) -> Result<Pkcs12PbeParams, PbeError> {
    let bad = || PbeError::Malformed(format!("invalid parameters for {}", oid_name(&alg.oid)));
    let params: Pkcs12PbeParams = alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as().ok())
        .ok_or_else(bad)?;
    Ok(params)
}

/// What one file may still spend on key derivation: the [`KdfLimits`] bound each parameter
/// and also the sum over every derivation the file asks for (a PKCS#12 MAC, each encrypted
/// section, the key), so that a file of many encrypted sections costs at most the limit in
/// all. Each derivation is paid, by its declared iteration count or scrypt cost, before it
/// runs.
#[derive(Debug)]
pub(crate) struct KdfBudget {
    limits: KdfLimits,
    iterations: u64,
    iteration_derivations: u32,
    scrypt: u64,
    scrypt_derivations: u32,
}

impl KdfBudget {
    /// A full budget for one file.
    pub(crate) fn new(limits: &KdfLimits) -> Self {
        Self {
            limits: *limits,
            iterations: 0,
            iteration_derivations: 0,
            scrypt: 0,
            scrypt_derivations: 0,
        }
    }

    /// Pays `count` iterations (already checked against the limit for one derivation).
    fn spend_iterations(&mut self, count: u64) -> Result<(), PbeError> {
        let total = self.iterations.saturating_add(count);
        let limit = u64::from(self.limits.max_iterations);
        if total > limit {
            return Err(PbeError::Limit(IdentityErrorKind::KdfLimitExceeded {
                parameter: format!(
                    "total iteration count of the file's {} key derivations (MAC, encrypted \
                     sections, key)",
                    self.iteration_derivations + 1
                ),
                value: total,
                limit,
                option: "KdfLimits::max_iterations",
            }));
        }
        self.iterations = total;
        self.iteration_derivations += 1;
        Ok(())
    }

    /// Pays a scrypt derivation of `cost` bytes (already checked against the limit for one).
    fn spend_scrypt(&mut self, cost: u64) -> Result<(), PbeError> {
        let total = self.scrypt.saturating_add(cost);
        if total > self.limits.max_scrypt_memory {
            return Err(PbeError::Limit(IdentityErrorKind::KdfLimitExceeded {
                parameter: format!(
                    "total scrypt cost in bytes of the file's {} scrypt derivations",
                    self.scrypt_derivations + 1
                ),
                value: total,
                limit: self.limits.max_scrypt_memory,
                option: "KdfLimits::max_scrypt_memory",
            }));
        }
        self.scrypt = total;
        self.scrypt_derivations += 1;
        Ok(())
    }
}

/// An iteration count between 1 and the limit, paid from `budget`: a larger one is refused by
/// name, before deriving (2^31-1 iterations run for minutes), and so is one that would take
/// the file's total above the limit.
pub(crate) fn check_iterations(
    parameter: &str,
    value: i64,
    budget: &mut KdfBudget,
) -> Result<(), PbeError> {
    if value < 1 {
        return Err(PbeError::Malformed(format!(
            "the {parameter} is {value}; it must be at least 1"
        )));
    }
    if value > i64::from(budget.limits.max_iterations) {
        return Err(PbeError::Limit(IdentityErrorKind::KdfLimitExceeded {
            parameter: parameter.to_owned(),
            value: value as u64,
            limit: u64::from(budget.limits.max_iterations),
            option: "KdfLimits::max_iterations",
        }));
    }
    budget.spend_iterations(value.unsigned_abs())
}

/// scrypt's cost in bytes, `128·r·(N·p + p + 2)`: OpenSSL 3's memory check (`128·r·(N+2)`
/// for V plus `128·r·p` for B) when p = 1, and an upper bound on memory and work otherwise.
fn scrypt_cost(n: u64, r: u64, p: u64) -> u64 {
    let cost = 128 * u128::from(r) * (u128::from(n) * u128::from(p) + u128::from(p) + 2);
    u64::try_from(cost).unwrap_or(u64::MAX)
}

/// Checks every KDF parameter of `alg` (PBES2 with PBKDF2 or scrypt, or a PKCS#12 PBE
/// scheme) against the limits, and pays for the derivation from `budget`, before anyone
/// derives a key with it.
pub(crate) fn check_limits(
    alg: &AlgorithmIdentifierOwned,
    budget: &mut KdfBudget,
) -> Result<(), PbeError> {
    if is_pkcs12_pbe(&alg.oid) {
        let params = pkcs12_params(alg)?;
        return check_iterations(
            "PKCS#12 PBE iteration count",
            params.iterations.into(),
            budget,
        );
    }
    if alg.oid != pbes2::PBES2_OID {
        return Ok(()); // refused by check_supported
    }
    match pbes2_parameters(alg)?.kdf {
        pbes2::Kdf::Pbkdf2(p) => {
            check_iterations("PBKDF2 iteration count", p.iteration_count.into(), budget)
        }
        pbes2::Kdf::Scrypt(s) => {
            let (n, r, p) = (
                s.cost_parameter,
                u64::from(s.block_size),
                u64::from(s.parallelization),
            );
            // What scrypt itself requires (RFC 7914), checked here so that neither backend
            // reaches its own (differently reported) refusal: N a power of two above 1 and
            // below 2^(16·r), r and p at least 1, r·p below 2^30.
            if n < 2
                || !n.is_power_of_two()
                || r == 0
                || p == 0
                || n.ilog2() >= 16 * r as u32
                || r * p >= 1 << 30
            {
                return Err(PbeError::Malformed(format!(
                    "invalid scrypt parameters N={n}, r={r}, p={p} (N must be a power of two \
                     above 1 and below 2^(16·r); r and p at least 1, r·p below 2^30)"
                )));
            }
            let cost = scrypt_cost(n, r, p);
            if cost > budget.limits.max_scrypt_memory {
                return Err(PbeError::Limit(IdentityErrorKind::KdfLimitExceeded {
                    parameter: format!(
                        "scrypt cost 128·r·(N·p + p + 2) bytes (N={n}, r={r}, p={p})"
                    ),
                    value: cost,
                    limit: budget.limits.max_scrypt_memory,
                    option: "KdfLimits::max_scrypt_memory",
                }));
            }
            budget.spend_scrypt(cost)
        }
        _ => Ok(()),
    }
}

/// True when `alg` is PBES2 with scrypt above OpenSSL 3's default memory limit (32 MiB),
/// which OpenSSL refuses whatever the password.
#[cfg(feature = "openssl")]
pub(crate) fn scrypt_above_openssl_default(alg: &AlgorithmIdentifierOwned) -> bool {
    if alg.oid != pbes2::PBES2_OID {
        return false;
    }
    match pbes2_parameters(alg).map(|p| p.kdf) {
        Ok(pbes2::Kdf::Scrypt(s)) => {
            let (r, p) = (u64::from(s.block_size), u64::from(s.parallelization));
            // OpenSSL's own formula (crypto/evp/pbe_scrypt.c).
            let memory = 128 * u128::from(r) * (u128::from(s.cost_parameter) + 2)
                + 128 * u128::from(r) * u128::from(p);
            memory > u128::from(KdfLimits::DEFAULT_MAX_SCRYPT_MEMORY)
        }
        _ => false,
    }
}

/// RFC 7292 appendix C: key and IV from the PKCS#12 KDF with SHA-1, then CBC.
fn pkcs12_pbe(
    alg: &AlgorithmIdentifierOwned,
    ciphertext: &[u8],
    bmp: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PbeError> {
    let params = pkcs12_params(alg)?;
    let salt = params.salt.as_bytes();
    let key_len = match alg.oid {
        P12_3DES => 24,
        P12_2DES | P12_RC2_128 => 16,
        _ => 5,
    };
    let key = pkcs12_kdf::<sha1::Sha1>(bmp, salt, KdfPurpose::Key, params.iterations, key_len);
    let iv = pkcs12_kdf::<sha1::Sha1>(bmp, salt, KdfPurpose::Iv, params.iterations, 8);
    match alg.oid {
        P12_3DES => cbc_decrypt::<des::TdesEde3>(&key, &iv, ciphertext),
        P12_2DES => cbc_decrypt::<des::TdesEde2>(&key, &iv, ciphertext),
        P12_RC2_128 => cbc_decrypt_with(rc2::Rc2::new_with_eff_key_len(&key, 128), &iv, ciphertext),
        _ => cbc_decrypt_with(rc2::Rc2::new_with_eff_key_len(&key, 40), &iv, ciphertext),
    }
}

/// What the PKCS#12 KDF derives (its ID byte).
#[derive(Clone, Copy)]
pub(crate) enum KdfPurpose {
    Key,
    Iv,
    Mac,
}

/// The PKCS#12 KDF (RFC 7292 appendix B) over a BMPString password (with its terminator).
pub(crate) fn pkcs12_kdf<D>(
    bmp: &[u8],
    salt: &[u8],
    purpose: KdfPurpose,
    iterations: i32,
    len: usize,
) -> Zeroizing<Vec<u8>>
where
    D: Digest + digest::FixedOutputReset + digest::core_api::BlockSizeUser,
{
    use pkcs12::kdf::Pkcs12KeyType;
    let id = match purpose {
        KdfPurpose::Key => Pkcs12KeyType::EncryptionKey,
        KdfPurpose::Iv => Pkcs12KeyType::Iv,
        KdfPurpose::Mac => Pkcs12KeyType::Mac,
    };
    Zeroizing::new(pkcs12::kdf::derive_key::<D>(bmp, salt, id, iterations, len))
}

/// CBC decryption with PKCS#7 padding; bad padding means a wrong password.
pub(crate) fn cbc_decrypt<C>(
    key: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PbeError>
where
    C: BlockDecryptMut + cbc::cipher::BlockCipher + KeyInit,
{
    let cipher =
        C::new_from_slice(key).map_err(|_| PbeError::Malformed("invalid key length".into()))?;
    cbc_decrypt_with(cipher, iv, ciphertext)
}

fn cbc_decrypt_with<C>(
    cipher: C,
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PbeError>
where
    C: BlockDecryptMut + cbc::cipher::BlockCipher,
{
    let decryptor = cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv)
        .map_err(|_| PbeError::Malformed("invalid IV length".into()))?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let len = decryptor
        .decrypt_padded_mut::<Pkcs7>(&mut buffer)
        .map_err(|_| PbeError::WrongPassword)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

/// A legacy PEM `DEK-Info` header, checked: the cipher (upper case), its key length and the IV.
pub(crate) struct DekInfo {
    pub cipher: String,
    key_len: usize,
    iv: Vec<u8>,
}

impl DekInfo {
    /// Parses `CIPHER,HEXIV`; unsupported ciphers are named.
    pub(crate) fn parse(dek_info: &str) -> Result<DekInfo, PbeError> {
        let (cipher, iv_hex) = dek_info
            .split_once(',')
            .ok_or_else(|| PbeError::Malformed(format!("invalid DEK-Info header {dek_info:?}")))?;
        let cipher = cipher.trim().to_ascii_uppercase();
        let (key_len, iv_len) = match cipher.as_str() {
            "AES-128-CBC" => (16, 16),
            "AES-192-CBC" => (24, 16),
            "AES-256-CBC" => (32, 16),
            "DES-EDE3-CBC" => (24, 8),
            "DES-CBC" => (8, 8),
            other => {
                return Err(PbeError::Unsupported(format!(
                    "legacy PEM encryption with {other} is not supported (supported: \
                     AES-128/192/256-CBC, DES-EDE3-CBC, DES-CBC); convert the key with \
                     `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                )))
            }
        };
        let iv = hex_decode(iv_hex.trim())
            .filter(|iv| iv.len() == iv_len)
            .ok_or_else(|| {
                PbeError::Malformed(format!("invalid IV in DEK-Info header {dek_info:?}"))
            })?;
        Ok(DekInfo {
            cipher,
            key_len,
            iv,
        })
    }

    /// Decrypts a legacy PEM body: key = EVP_BytesToKey(MD5, salt = first 8 bytes of the IV,
    /// 1 iteration), then CBC.
    pub(crate) fn decrypt(
        &self,
        ciphertext: &[u8],
        password: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PbeError> {
        let salt = self.iv.get(..8).unwrap_or(&self.iv);
        let key = evp_bytes_to_key_md5(password, salt, self.key_len);
        let iv = &self.iv;
        let plaintext = match self.cipher.as_str() {
            "AES-128-CBC" => cbc_decrypt::<aes::Aes128>(&key, iv, ciphertext)?,
            "AES-192-CBC" => cbc_decrypt::<aes::Aes192>(&key, iv, ciphertext)?,
            "AES-256-CBC" => cbc_decrypt::<aes::Aes256>(&key, iv, ciphertext)?,
            "DES-EDE3-CBC" => cbc_decrypt::<des::TdesEde3>(&key, iv, ciphertext)?,
            _ => cbc_decrypt::<des::Des>(&key, iv, ciphertext)?,
        };
        if AnyRef::from_der(&plaintext).is_err() {
            return Err(PbeError::WrongPassword);
        }
        Ok(plaintext)
    }
}

/// OpenSSL's EVP_BytesToKey with MD5 and one iteration: D_i = MD5(D_{i-1} || password || salt).
/// Written here: it is OpenSSL's own legacy construction, which no maintained crate provides.
fn evp_bytes_to_key_md5(password: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut previous = Zeroizing::new(Vec::new());
    while out.len() < len {
        let mut md5 = md5::Md5::new();
        md5.update(&*previous);
        md5.update(password);
        md5.update(salt);
        let block = md5.finalize();
        previous = Zeroizing::new(block.to_vec());
        out.extend_from_slice(&previous);
    }
    out.truncate(len);
    out
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_key_matches_openssl() {
        // D1 = MD5(password || salt), D2 = MD5(D1 || password || salt).
        let key = evp_bytes_to_key_md5(b"password", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
        let mut d1 = md5::Md5::new();
        d1.update(b"password");
        d1.update([1, 2, 3, 4, 5, 6, 7, 8]);
        let d1 = d1.finalize();
        assert_eq!(&key[..16], d1.as_slice());
        let mut d2 = md5::Md5::new();
        d2.update(d1);
        d2.update(b"password");
        d2.update([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&key[16..], d2.finalize().as_slice());
    }

    #[test]
    fn scrypt_cost_is_openssls_memory_check_for_p_1() {
        let openssl = |n: u64, r: u64, p: u64| 128 * r * (n + 2) + 128 * r * p;
        for (n, r) in [(16384, 8), (32768, 8), (1 << 17, 2), (2, 60000)] {
            assert_eq!(scrypt_cost(n, r, 1), openssl(n, r, 1));
        }
        let limit = KdfLimits::default().max_scrypt_memory;
        assert!(scrypt_cost(16384, 8, 1) <= limit); // what tools emit
        assert!(scrypt_cost(32768, 8, 1) > limit); // OpenSSL 3 refuses it too
        assert!(scrypt_cost(16384, 8, 2) > limit); // p multiplies the work
        assert_eq!(scrypt_cost(1 << 63, 65535, 65535), u64::MAX);
    }

    /// Each derivation is within the limit, their sum is not: the one that would cross it is
    /// refused before it runs, naming the total and how many derivations it covers.
    #[test]
    fn the_budget_bounds_the_sum_of_a_files_derivations() {
        let mut budget = KdfBudget::new(&KdfLimits::new(25, 1000));
        check_iterations("MAC", 10, &mut budget).unwrap();
        check_iterations("PBKDF2", 10, &mut budget).unwrap();
        match check_iterations("PBKDF2", 10, &mut budget) {
            Err(PbeError::Limit(IdentityErrorKind::KdfLimitExceeded {
                parameter,
                value: 30,
                limit: 25,
                option: "KdfLimits::max_iterations",
            })) => assert!(parameter.contains("total") && parameter.contains("3 key")),
            other => panic!("{other:?}"),
        }
        // A refused derivation costs nothing: one that fits still does.
        check_iterations("PBKDF2", 5, &mut budget).unwrap();
        assert!(check_iterations("PBKDF2", 1, &mut budget).is_err());
        // A single parameter over the limit is named as before.
        match check_iterations(
            "PBKDF2 iteration count",
            26,
            &mut KdfBudget::new(&KdfLimits::new(25, 0)),
        ) {
            Err(PbeError::Limit(IdentityErrorKind::KdfLimitExceeded { parameter, .. })) => {
                assert_eq!(parameter, "PBKDF2 iteration count")
            }
            other => panic!("{other:?}"),
        }
        // scrypt's cost is summed on its own.
        let mut budget = KdfBudget::new(&KdfLimits::new(25, 1000));
        budget.spend_scrypt(600).unwrap();
        match budget.spend_scrypt(600) {
            Err(PbeError::Limit(IdentityErrorKind::KdfLimitExceeded {
                value: 1200,
                limit: 1000,
                option: "KdfLimits::max_scrypt_memory",
                ..
            })) => {}
            other => panic!("{other:?}"),
        }
        check_iterations("PBKDF2", 25, &mut budget).unwrap();
    }

    #[test]
    fn bmp() {
        assert_eq!(&**bmp_password("aé".as_bytes()), &[0, b'a', 0, 0xe9, 0, 0]);
        assert_eq!(&**bmp_password(b""), &[0, 0]);
        assert_eq!(&**bmp_password(&[0xff]), &[0, 0xff, 0, 0]);
    }

    #[test]
    fn dek_info() {
        assert!(DekInfo::parse("AES-128-CBC,00112233445566778899AABBCCDDEEFF").is_ok());
        assert!(matches!(
            DekInfo::parse("AES-128-CBC,0011"),
            Err(PbeError::Malformed(_))
        ));
        assert!(matches!(
            DekInfo::parse("BF-CBC,0011223344556677"),
            Err(PbeError::Unsupported(_))
        ));
        assert_eq!(hex_decode("00aF"), Some(vec![0, 0xaf]));
        assert_eq!(hex_decode("zz"), None);
    }

    #[test]
    fn unknown_algorithms_are_named() {
        let alg = AlgorithmIdentifierOwned {
            oid: pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC4,
            parameters: None,
        };
        match decrypt(
            &alg,
            &[0; 16],
            b"pw",
            &mut KdfBudget::new(&KdfLimits::default()),
        ) {
            Err(PbeError::Unsupported(m)) => assert!(m.contains("RC4"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
