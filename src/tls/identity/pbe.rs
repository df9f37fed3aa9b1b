//! Password-based decryption in pure Rust (feature `native-tls`): PBES2 (through `pkcs5`), the
//! PKCS#12 PBE schemes of RFC 7292 appendix C (pbeWithSHAAnd3-KeyTripleDES-CBC, RC2, …), and
//! the legacy OpenSSL PEM encryption (`DEK-Info`, EVP_BytesToKey with MD5).
//!
//! Every buffer that holds a derived key or plaintext is [`Zeroizing`].

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, InnerIvInit, KeyInit};
use sha2::digest;
use sha2::Digest;
use zeroize::Zeroizing;

use super::tlv;
use crate::error::IdentityErrorKind;

/// Why a decryption failed.
#[derive(Debug)]
pub(crate) enum PbeError {
    /// Bad padding or the plaintext is not DER: almost certainly the wrong password.
    WrongPassword,
    /// The algorithm is not supported; names it.
    Unsupported(String),
    /// The algorithm parameters could not be parsed.
    Malformed(String),
}

impl PbeError {
    pub(crate) fn into_kind(self) -> IdentityErrorKind {
        match self {
            PbeError::WrongPassword => IdentityErrorKind::WrongPassword,
            PbeError::Unsupported(found) => IdentityErrorKind::UnsupportedFormat { found },
            PbeError::Malformed(detail) => IdentityErrorKind::Malformed { detail },
        }
    }
}

pub(crate) const OID_PBES2: &str = "1.2.840.113549.1.5.13";
const OID_PBKDF2: &str = "1.2.840.113549.1.5.12";
const OID_SCRYPT: &str = "1.3.6.1.4.1.11591.4.11";
const OID_P12_3DES: &str = "1.2.840.113549.1.12.1.3";
const OID_P12_2DES: &str = "1.2.840.113549.1.12.1.4";
const OID_P12_RC2_128: &str = "1.2.840.113549.1.12.1.5";
const OID_P12_RC2_40: &str = "1.2.840.113549.1.12.1.6";

/// A readable name for the encryption algorithms and PRFs this module meets.
pub(crate) fn oid_name(oid: &str) -> String {
    let name = match oid {
        OID_PBES2 => "PBES2",
        OID_PBKDF2 => "PBKDF2",
        OID_SCRYPT => "scrypt",
        OID_P12_3DES => "pbeWithSHA1And3-KeyTripleDES-CBC",
        OID_P12_2DES => "pbeWithSHA1And2-KeyTripleDES-CBC",
        OID_P12_RC2_128 => "pbeWithSHA1And128BitRC2-CBC",
        OID_P12_RC2_40 => "pbeWithSHA1And40BitRC2-CBC",
        "1.2.840.113549.1.12.1.1" => "pbeWithSHA1And128BitRC4",
        "1.2.840.113549.1.12.1.2" => "pbeWithSHA1And40BitRC4",
        "1.2.840.113549.1.5.3" => "PBES1 pbeWithMD5AndDES-CBC",
        "1.2.840.113549.1.5.6" => "PBES1 pbeWithMD5AndRC2-CBC",
        "1.2.840.113549.1.5.10" => "PBES1 pbeWithSHA1AndDES-CBC",
        "1.2.840.113549.1.5.11" => "PBES1 pbeWithSHA1AndRC2-CBC",
        "1.2.840.113549.2.7" => "HMAC-SHA1",
        "1.2.840.113549.2.9" => "HMAC-SHA256",
        "1.2.840.113549.2.10" => "HMAC-SHA384",
        "1.2.840.113549.2.11" => "HMAC-SHA512",
        "2.16.840.1.101.3.4.1.2" => "AES-128-CBC",
        "2.16.840.1.101.3.4.1.22" => "AES-192-CBC",
        "2.16.840.1.101.3.4.1.42" => "AES-256-CBC",
        "1.2.840.113549.3.7" => "DES-EDE3-CBC",
        "1.3.14.3.2.7" => "DES-CBC",
        "1.3.14.3.2.26" => "SHA-1",
        "2.16.840.1.101.3.4.2.1" => "SHA-256",
        "2.16.840.1.101.3.4.2.2" => "SHA-384",
        "2.16.840.1.101.3.4.2.3" => "SHA-512",
        "1.2.840.113549.1.5.14" => "PBMAC1",
        _ => return format!("OID {oid}"),
    };
    format!("{name} ({oid})")
}

/// The dotted OID of an OBJECT IDENTIFIER TLV.
pub(crate) fn oid_string(t: tlv::Tlv<'_>) -> Option<String> {
    if t.tag != tlv::OID {
        return None;
    }
    der::asn1::ObjectIdentifier::from_bytes(t.value)
        .ok()
        .map(|o| o.to_string())
}

/// An AlgorithmIdentifier: its OID and its parameters (if any).
pub(crate) fn algorithm(raw: &[u8]) -> Option<(String, Option<tlv::Tlv<'_>>)> {
    let items = tlv::children_of(tlv::read_exact(raw)?, tlv::SEQUENCE)?;
    let oid = oid_string(*items.first()?)?;
    Some((oid, items.get(1).copied()))
}

/// Describes the encryption scheme in `alg_raw` for "password required" messages, e.g.
/// `PBES2 (AES-256-CBC, PBKDF2 HMAC-SHA256)`.
pub(crate) fn describe_scheme(alg_raw: &[u8]) -> String {
    let Some((oid, params)) = algorithm(alg_raw) else {
        return "unknown scheme".to_owned();
    };
    if oid != OID_PBES2 {
        return short(&oid);
    }
    let describe = || -> Option<String> {
        let p = tlv::children_of(params?, tlv::SEQUENCE)?;
        let (kdf, kdf_params) = algorithm(p.first()?.raw)?;
        let (cipher, _) = algorithm(p.get(1)?.raw)?;
        let mut kdf_name = short(&kdf);
        if kdf == OID_PBKDF2 {
            // PBKDF2-params ::= SEQUENCE { salt, iterationCount, keyLength OPTIONAL, prf DEFAULT sha1 }
            let prf = tlv::children_of(kdf_params?, tlv::SEQUENCE)?
                .into_iter()
                .find(|t| t.tag == tlv::SEQUENCE)
                .and_then(|t| algorithm(t.raw))
                .map(|(o, _)| short(&o))
                .unwrap_or_else(|| "HMAC-SHA1".to_owned());
            kdf_name = format!("{kdf_name} {prf}");
        }
        Some(format!("PBES2 ({}, {kdf_name})", short(&cipher)))
    };
    describe().unwrap_or_else(|| "PBES2".to_owned())
}

fn short(oid: &str) -> String {
    let name = oid_name(oid);
    match name.split_once(" (") {
        Some((n, _)) if !n.starts_with("OID") => n.to_owned(),
        _ => name,
    }
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

/// Decrypts `ciphertext` with the PBE algorithm `alg_raw` (a DER AlgorithmIdentifier).
/// PBES2 takes the password bytes as they are; the PKCS#12 schemes take its BMPString form.
pub(crate) fn decrypt(
    alg_raw: &[u8],
    ciphertext: &[u8],
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PbeError> {
    let (oid, params) = algorithm(alg_raw)
        .ok_or_else(|| PbeError::Malformed("invalid encryption algorithm identifier".into()))?;
    let plaintext = match oid.as_str() {
        OID_PBES2 => pbes2(alg_raw, ciphertext, password)?,
        OID_P12_3DES | OID_P12_2DES | OID_P12_RC2_128 | OID_P12_RC2_40 => {
            pkcs12_pbe(&oid, params, ciphertext, &bmp_password(password))?
        }
        other => {
            return Err(PbeError::Unsupported(format!(
                "the key is encrypted with {}, which is not supported; re-encrypt it with \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
                oid_name(other)
            )))
        }
    };
    // Wrong passwords pass the padding check about once in 256 tries: the plaintext must
    // also be one DER value.
    if tlv::read_exact(&plaintext).is_none() {
        return Err(PbeError::WrongPassword);
    }
    Ok(plaintext)
}

fn pbes2(
    alg_raw: &[u8],
    ciphertext: &[u8],
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PbeError> {
    let scheme = pkcs5::EncryptionScheme::try_from(alg_raw).map_err(|e| {
        PbeError::Unsupported(format!(
            "{} is not supported ({e}); supported: PBES2 with AES-128/192/256-CBC or \
             DES-EDE3-CBC, PBKDF2 (HMAC-SHA1/SHA-224/SHA-256/SHA-384/SHA-512) or scrypt",
            describe_scheme(alg_raw)
        ))
    })?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    match scheme.decrypt_in_place(password, &mut buffer) {
        Ok(plain) => Ok(Zeroizing::new(plain.to_vec())),
        // pkcs5 0.7 reports bad padding as EncryptFailed even when decrypting.
        Err(pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed) => {
            Err(PbeError::WrongPassword)
        }
        Err(e) => Err(PbeError::Unsupported(format!(
            "{}: {e}",
            describe_scheme(alg_raw)
        ))),
    }
}

/// RFC 7292 appendix C: key and IV from the PKCS#12 KDF with SHA-1, then CBC.
fn pkcs12_pbe(
    oid: &str,
    params: Option<tlv::Tlv<'_>>,
    ciphertext: &[u8],
    bmp: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PbeError> {
    let bad = || PbeError::Malformed(format!("invalid parameters for {}", oid_name(oid)));
    // pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }
    let p = params
        .and_then(|p| tlv::children_of(p, tlv::SEQUENCE))
        .ok_or_else(bad)?;
    let salt = p
        .first()
        .filter(|t| t.tag == tlv::OCTET_STRING)
        .ok_or_else(bad)?
        .value;
    let iterations = p
        .get(1)
        .and_then(|t| tlv::small_int(*t))
        .and_then(|i| i32::try_from(i).ok())
        .filter(|i| *i >= 1 && *i <= 10_000_000)
        .ok_or_else(bad)?;
    let key_len = match oid {
        OID_P12_3DES => 24,
        OID_P12_2DES | OID_P12_RC2_128 => 16,
        _ => 5,
    };
    let key = pkcs12_kdf::<sha1::Sha1>(bmp, salt, 1, iterations, key_len);
    let iv = pkcs12_kdf::<sha1::Sha1>(bmp, salt, 2, iterations, 8);
    match oid {
        OID_P12_3DES => cbc_decrypt::<des::TdesEde3>(&key, &iv, ciphertext),
        OID_P12_2DES => cbc_decrypt::<des::TdesEde2>(&key, &iv, ciphertext),
        OID_P12_RC2_128 => {
            cbc_decrypt_with(rc2::Rc2::new_with_eff_key_len(&key, 128), &iv, ciphertext)
        }
        _ => cbc_decrypt_with(rc2::Rc2::new_with_eff_key_len(&key, 40), &iv, ciphertext),
    }
}

/// The PKCS#12 KDF (RFC 7292 appendix B) over a BMPString password (with its terminator).
pub(crate) fn pkcs12_kdf<D>(
    bmp: &[u8],
    salt: &[u8],
    id: u8,
    iterations: i32,
    len: usize,
) -> Zeroizing<Vec<u8>>
where
    D: Digest + digest::FixedOutputReset + digest::core_api::BlockSizeUser,
{
    use pkcs12::kdf::Pkcs12KeyType;
    let id = match id {
        1 => Pkcs12KeyType::EncryptionKey,
        2 => Pkcs12KeyType::Iv,
        _ => Pkcs12KeyType::Mac,
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
    if iv.len() != C::block_size() {
        return Err(PbeError::Malformed("invalid IV length".into()));
    }
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

/// Legacy OpenSSL PEM encryption: `DEK-Info: CIPHER,HEXIV`, key = EVP_BytesToKey(MD5,
/// salt = first 8 bytes of the IV, 1 iteration).
pub(crate) fn legacy_pem_decrypt(
    dek_info: &str,
    ciphertext: &[u8],
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PbeError> {
    let (cipher, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| PbeError::Malformed(format!("invalid DEK-Info header {dek_info:?}")))?;
    let cipher = cipher.trim().to_ascii_uppercase();
    let iv = hex_decode(iv_hex.trim()).ok_or_else(|| {
        PbeError::Malformed(format!("invalid IV in DEK-Info header {dek_info:?}"))
    })?;
    let key_len = match cipher.as_str() {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        "DES-EDE3-CBC" => 24,
        "DES-CBC" => 8,
        other => {
            return Err(PbeError::Unsupported(format!(
                "legacy PEM encryption with {other} is not supported (supported: AES-128/192/256-CBC, \
                 DES-EDE3-CBC, DES-CBC); convert the key with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
            )))
        }
    };
    let salt = iv
        .get(..8)
        .ok_or_else(|| PbeError::Malformed("the DEK-Info IV is too short".into()))?;
    let key = evp_bytes_to_key_md5(password, salt, key_len);
    let plaintext = match cipher.as_str() {
        "AES-128-CBC" => cbc_decrypt::<aes::Aes128>(&key, &iv, ciphertext)?,
        "AES-192-CBC" => cbc_decrypt::<aes::Aes192>(&key, &iv, ciphertext)?,
        "AES-256-CBC" => cbc_decrypt::<aes::Aes256>(&key, &iv, ciphertext)?,
        "DES-EDE3-CBC" => cbc_decrypt::<des::TdesEde3>(&key, &iv, ciphertext)?,
        _ => cbc_decrypt::<des::Des>(&key, &iv, ciphertext)?,
    };
    if tlv::read_exact(&plaintext).is_none() {
        return Err(PbeError::WrongPassword);
    }
    Ok(plaintext)
}

/// OpenSSL's EVP_BytesToKey with MD5 and one iteration: D_i = MD5(D_{i-1} || password || salt).
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
    if s.len() % 2 != 0 || !s.is_ascii() {
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
    fn bmp() {
        assert_eq!(&**bmp_password("aé".as_bytes()), &[0, b'a', 0, 0xe9, 0, 0]);
        assert_eq!(&**bmp_password(b""), &[0, 0]);
        assert_eq!(&**bmp_password(&[0xff]), &[0, 0xff, 0, 0]);
    }

    #[test]
    fn hex() {
        assert_eq!(hex_decode("00aF"), Some(vec![0, 0xaf]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("zz"), None);
    }

    #[test]
    fn unknown_algorithms_are_named() {
        // SEQUENCE { OID 1.2.840.113549.1.12.1.1 (RC4) }
        let alg = [
            0x30, 0x0c, 0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x01,
        ];
        match decrypt(&alg, &[0; 16], b"pw") {
            Err(PbeError::Unsupported(m)) => assert!(m.contains("RC4"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
