//! Loading the client identity with OpenSSL itself.
//!
//! The shared front-end (`tls::identity`) reads the file once and finds its format; here OpenSSL
//! parses the certificates and decrypts the key. OpenSSL's default password callback prompts on
//! the terminal, so every call that may decrypt passes its own callback (an empty one when no
//! password was given), and an encrypted key without a password is reported before OpenSSL is
//! asked at all.

use ::openssl::error::ErrorStack;
use ::openssl::pkcs12::Pkcs12;
use ::openssl::pkey::{PKey, Private};
use ::openssl::x509::X509;
use zeroize::Zeroizing;

use crate::error::{IdentityErrorKind, Result};
use crate::options::TlsOptions;
use crate::tls::identity::cert::CertInfo;
use crate::tls::identity::{self, describe_blocks, IdentityFormat, PemBlock};

type KindResult<T> = std::result::Result<T, IdentityErrorKind>;

/// A loaded identity: the leaf certificate, the intermediates to send after it, and its key.
pub(super) struct OpenSslIdentity {
    pub leaf: X509,
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
    /// The leaf's subject DN, RFC 2253.
    pub subject: String,
}

/// Reads, parses and decrypts the identity named by `opts`; `None` without one.
pub(super) fn load(opts: &TlsOptions) -> Result<Option<OpenSslIdentity>> {
    let Some(input) = identity::read_identity(opts)? else {
        return Ok(None);
    };
    crate::tls::count_identity_load();
    let format = identity::detect(&input)?;
    let password = opts.tls_certificate_key_file_password.as_deref();
    let loaded = match &format {
        IdentityFormat::Pem(blocks) => from_pem(blocks, password),
        IdentityFormat::Pkcs12 => from_pkcs12(&input.bytes, password),
    };
    let (leaf, chain, key) = loaded.map_err(|kind| input.error(kind))?;
    let der = Zeroizing::new(leaf.to_der().map_err(|e| {
        input.error(IdentityErrorKind::Rejected {
            detail: format!("cannot re-encode the certificate ({})", short_reason(&e)),
        })
    })?);
    let info = CertInfo::parse(&der).map_err(|kind| input.error(kind))?;
    info.check_validity(std::time::SystemTime::now())
        .map_err(|kind| input.error(kind))?;
    Ok(Some(OpenSslIdentity {
        leaf,
        chain,
        key,
        subject: info.subject,
    }))
}

/// PEM: every CERTIFICATE block, and the (single) private key block.
fn from_pem(
    blocks: &[PemBlock],
    password: Option<&[u8]>,
) -> KindResult<(X509, Vec<X509>, PKey<Private>)> {
    let mut certs = Vec::new();
    for block in blocks.iter().filter(|b| is_certificate(&b.label)) {
        let cert = X509::from_der(&block.der).map_err(|e| IdentityErrorKind::Malformed {
            detail: format!(
                "a CERTIFICATE block is not a valid certificate ({})",
                short_reason(&e)
            ),
        })?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(IdentityErrorKind::NoCertificate {
            found: describe_blocks(blocks),
        });
    }
    let mut keys = blocks.iter().filter(|b| b.is_private_key());
    let Some(key_block) = keys.next() else {
        return Err(IdentityErrorKind::NoPrivateKey {
            found: describe_blocks(blocks),
        });
    };
    if keys.next().is_some() {
        return Err(IdentityErrorKind::UnsupportedFormat {
            found: format!(
                "more than one private key ({}); keep only the client certificate's key",
                describe_blocks(blocks)
            ),
        });
    }
    let key = pem_key(key_block, password)?;
    // The leaf is the certificate that goes with the key, wherever it is in the file; the
    // others are intermediates, sent after it in file order.
    let Some(position) = certs.iter().position(|c| matches_key(c, &key)) else {
        return Err(IdentityErrorKind::KeyMismatch {
            subject: certs.first().map(subject_of).unwrap_or_default(),
        });
    };
    let leaf = certs.remove(position);
    Ok((leaf, certs, key))
}

fn is_certificate(label: &str) -> bool {
    matches!(label, "CERTIFICATE" | "X509 CERTIFICATE")
}

/// Decodes one private key block. Encrypted keys only ever see our own password callback.
fn pem_key(block: &PemBlock, password: Option<&[u8]>) -> KindResult<PKey<Private>> {
    let encrypted_pkcs8 = block.label == "ENCRYPTED PRIVATE KEY";
    let legacy = block.is_legacy_encrypted();
    if !encrypted_pkcs8 && !legacy {
        // Unencrypted: a password, if given, is accepted and ignored.
        let parsed = match block.label.as_str() {
            "PRIVATE KEY" => PKey::private_key_from_pkcs8(&block.der),
            "RSA PRIVATE KEY" => {
                ::openssl::rsa::Rsa::private_key_from_der(&block.der).and_then(PKey::from_rsa)
            }
            "EC PRIVATE KEY" => {
                ::openssl::ec::EcKey::private_key_from_der(&block.der).and_then(PKey::from_ec_key)
            }
            other => {
                return Err(IdentityErrorKind::UnsupportedFormat {
                    found: format!(
                        "a {other} block; supported keys: PRIVATE KEY (PKCS#8), ENCRYPTED \
                         PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY"
                    ),
                })
            }
        };
        return parsed.map_err(|e| IdentityErrorKind::Malformed {
            detail: format!(
                "the {} block is not a valid key ({})",
                block.label,
                short_reason(&e)
            ),
        });
    }
    let scheme = if encrypted_pkcs8 {
        pkcs8_scheme(&block.der)
    } else {
        let cipher = block
            .header("DEK-Info")
            .and_then(|v| v.split(',').next())
            .unwrap_or("unknown cipher");
        format!("legacy PEM {cipher}")
    };
    let Some(password) = password else {
        return Err(IdentityErrorKind::PasswordRequired { scheme });
    };
    let callback = |buf: &mut [u8]| -> std::result::Result<usize, ErrorStack> {
        // OpenSSL cleanses its buffer after use; a password too long for it cannot be right.
        match buf.get_mut(..password.len()) {
            Some(dest) => {
                dest.copy_from_slice(password);
                Ok(password.len())
            }
            None => Err(ErrorStack::get()),
        }
    };
    let parsed = if encrypted_pkcs8 {
        PKey::private_key_from_pkcs8_callback(&block.der, callback)
    } else {
        // Legacy encryption lives in the PEM headers: give OpenSSL the block as PEM again.
        let pem = to_pem(block);
        PKey::private_key_from_pem_callback(pem.as_bytes(), callback)
    };
    parsed.map_err(|e| {
        let reason = short_reason(&e);
        if reason.contains("unsupported") {
            IdentityErrorKind::UnsupportedFormat {
                found: format!("{scheme} is not supported by this OpenSSL ({reason})"),
            }
        } else {
            // "bad decrypt", or garbage that fails to parse after decryption.
            IdentityErrorKind::WrongPassword
        }
    })
}

/// The encryption scheme of an EncryptedPrivateKeyInfo, in words, for "password required".
fn pkcs8_scheme(der: &[u8]) -> String {
    use crate::tls::identity::tlv;
    // EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier { OID, params }, OCTET STRING }
    let oid = || -> Option<Vec<u8>> {
        let top = tlv::read_exact(der)?;
        let items = tlv::children_of(top, tlv::SEQUENCE)?;
        let alg = tlv::children_of(*items.first()?, tlv::SEQUENCE)?;
        let oid = alg.first()?;
        (oid.tag == tlv::OID).then(|| oid.value.to_vec())
    };
    const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
    const PKCS5_PBES1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05];
    const PKCS12_PBE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];
    match oid() {
        Some(o) if o == PBES2 => "PKCS#8 PBES2".to_owned(),
        Some(o) if o.starts_with(PKCS12_PBE) || o.starts_with(PKCS5_PBES1) => {
            "PKCS#8 PBES1".to_owned()
        }
        _ => "PKCS#8".to_owned(),
    }
}

/// The block as PEM text (kept in a zeroizing buffer: it holds the encrypted key).
fn to_pem(block: &PemBlock) -> Zeroizing<String> {
    let mut pem = Zeroizing::new(format!("-----BEGIN {}-----\n", block.label));
    for (name, value) in &block.headers {
        pem.push_str(name);
        pem.push_str(": ");
        pem.push_str(value);
        pem.push('\n');
    }
    if !block.headers.is_empty() {
        pem.push('\n');
    }
    for chunk in block.der.chunks(48) {
        // 48 bytes make one 64-character line.
        let line = Zeroizing::new(::openssl::base64::encode_block(chunk));
        pem.push_str(&line);
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {}-----\n", block.label));
    pem
}

/// PKCS#12 through OpenSSL, with the legacy provider loaded when the file needs it.
fn from_pkcs12(
    bytes: &[u8],
    password: Option<&[u8]>,
) -> KindResult<(X509, Vec<X509>, PKey<Private>)> {
    let p12 = Pkcs12::from_der(bytes).map_err(|e| IdentityErrorKind::Malformed {
        detail: format!("not a valid PKCS#12 file ({})", short_reason(&e)),
    })?;
    // `parse2` takes a C string: a NUL cannot be in a password OpenSSL could have written.
    let pass: Zeroizing<String> = match password {
        None => Zeroizing::new(String::new()),
        Some(p) if p.contains(&0) => return Err(IdentityErrorKind::WrongPassword),
        Some(p) => match std::str::from_utf8(p) {
            Ok(s) => Zeroizing::new(s.to_owned()),
            Err(_) => {
                return Err(IdentityErrorKind::Rejected {
                    detail: "the PKCS#12 password is not valid UTF-8, which the OpenSSL backend \
                             needs; use the native-tls backend or re-export the file with a UTF-8 \
                             password"
                        .to_owned(),
                })
            }
        },
    };
    let parsed = match p12.parse2(&pass) {
        Ok(parsed) => parsed,
        Err(e) if is_unsupported_algorithm(&e) => {
            let algorithm = unsupported_algorithm(&e);
            legacy::ensure_loaded().map_err(|detail| {
                IdentityErrorKind::LegacyProviderUnavailable {
                    algorithm: algorithm.clone(),
                    detail,
                }
            })?;
            p12.parse2(&pass).map_err(|e| {
                if is_unsupported_algorithm(&e) {
                    IdentityErrorKind::LegacyProviderUnavailable {
                        algorithm: unsupported_algorithm(&e),
                        detail: "the legacy provider is loaded but does not provide it".to_owned(),
                    }
                } else {
                    pkcs12_error(&e, password.is_some())
                }
            })?
        }
        Err(e) => return Err(pkcs12_error(&e, password.is_some())),
    };
    let mut chain: Vec<X509> = parsed
        .ca
        .map(|stack| stack.into_iter().collect())
        .unwrap_or_default();
    let Some(key) = parsed.pkey else {
        return Err(IdentityErrorKind::NoPrivateKey {
            found: format!(
                "a PKCS#12 file with {} certificate(s) and no key",
                chain.len() + usize::from(parsed.cert.is_some())
            ),
        });
    };
    let leaf = match parsed.cert {
        Some(cert) => cert,
        // OpenSSL puts every certificate in `ca` when none has the key's local key id.
        None => match chain.iter().position(|c| matches_key(c, &key)) {
            Some(i) => chain.remove(i),
            None => {
                return Err(match chain.first() {
                    Some(first) => IdentityErrorKind::KeyMismatch {
                        subject: subject_of(first),
                    },
                    None => IdentityErrorKind::NoCertificate {
                        found: "a PKCS#12 file with a private key only".to_owned(),
                    },
                })
            }
        },
    };
    if !matches_key(&leaf, &key) {
        return Err(IdentityErrorKind::KeyMismatch {
            subject: subject_of(&leaf),
        });
    }
    Ok((leaf, chain, key))
}

fn pkcs12_error(e: &ErrorStack, password_given: bool) -> IdentityErrorKind {
    let reason = short_reason(e);
    if reason.contains("mac verify failure") || reason.contains("decrypt") {
        if password_given {
            IdentityErrorKind::WrongPassword
        } else {
            IdentityErrorKind::PasswordRequired {
                scheme: "PKCS#12".to_owned(),
            }
        }
    } else {
        IdentityErrorKind::Malformed {
            detail: format!("OpenSSL cannot read the PKCS#12 file ({reason})"),
        }
    }
}

fn is_unsupported_algorithm(e: &ErrorStack) -> bool {
    e.errors().iter().any(|err| {
        err.reason().is_some_and(|r| r.contains("unsupported"))
            || err.data().is_some_and(|d| d.contains("Algorithm ("))
    })
}

/// The algorithm OpenSSL could not fetch, from its error data "… Algorithm (RC2-40-CBC : 0) …".
fn unsupported_algorithm(e: &ErrorStack) -> String {
    e.errors()
        .iter()
        .filter_map(|err| err.data())
        .find_map(|d| {
            let rest = d.split("Algorithm (").nth(1)?;
            let name = rest.split([' ', ':', ')']).next()?;
            (!name.is_empty()).then(|| name.to_owned())
        })
        .unwrap_or_else(|| "RC2/3DES with SHA-1 (legacy PKCS#12)".to_owned())
}

fn matches_key(cert: &X509, key: &PKey<Private>) -> bool {
    cert.public_key().is_ok_and(|public| public.public_eq(key))
}

fn subject_of(cert: &X509) -> String {
    cert.to_der()
        .ok()
        .and_then(|der| CertInfo::parse(&der).ok())
        .map(|info| info.subject)
        .unwrap_or_else(|| "(unreadable subject)".to_owned())
}

/// OpenSSL's reason for the first error, without the library/function noise; never the
/// whole error stack.
pub(super) fn short_reason(e: &ErrorStack) -> String {
    e.errors()
        .iter()
        .find_map(|err| err.reason())
        .unwrap_or("unknown OpenSSL error")
        .to_owned()
}

/// OpenSSL 3's legacy provider (RC2, 3DES-with-SHA-1 PKCS#12), loaded once per process.
#[cfg(ossl300)]
mod legacy {
    use std::sync::OnceLock;

    use ::openssl::provider::Provider;

    /// Kept for the life of the process: dropping a provider unloads it.
    static PROVIDERS: OnceLock<Result<(Provider, Provider), String>> = OnceLock::new();

    pub(super) fn ensure_loaded() -> Result<(), String> {
        PROVIDERS
            .get_or_init(|| {
                // Loading any provider switches off the implicit "default" one: load it too.
                let default = Provider::try_load(None, "default", true)
                    .map_err(|e| super::short_reason(&e))?;
                let legacy = Provider::try_load(None, "legacy", true)
                    .map_err(|e| super::short_reason(&e))?;
                Ok((default, legacy))
            })
            .as_ref()
            .map(|_| ())
            .map_err(Clone::clone)
    }
}

/// Before OpenSSL 3 the legacy algorithms are built in: nothing to load.
#[cfg(not(ossl300))]
mod legacy {
    pub(super) fn ensure_loaded() -> Result<(), String> {
        Err("this OpenSSL does not support the algorithm".to_owned())
    }
}
