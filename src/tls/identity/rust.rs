//! The pure-Rust identity decoder used by the native-tls backend: every supported PEM and
//! PKCS#12 form to a certificate chain (leaf first) and an unencrypted PKCS#8 key.

use std::fmt;

use zeroize::Zeroizing;

use super::cert::{key_matches, CertInfo};
use super::{describe_blocks, pem_key, pkcs12, IdentityFormat, IdentityInput};
use crate::error::{IdentityErrorKind, Result};

/// A decoded identity.
pub(crate) struct DecodedIdentity {
    /// DER certificates, leaf first: the certificate that matches the key, then the others in
    /// file order.
    pub chain: Vec<Vec<u8>>,
    /// The leaf certificate, parsed.
    pub leaf: CertInfo,
    /// The private key, unencrypted PKCS#8 DER.
    pub key_pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for DecodedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodedIdentity")
            .field(
                "chain",
                &format_args!("<{} certificates>", self.chain.len()),
            )
            .field("leaf", &self.leaf.subject)
            .field("key_pkcs8", &"<redacted>")
            .finish()
    }
}

const CERT_LABELS: [&str; 2] = ["CERTIFICATE", "X509 CERTIFICATE"];

/// Decodes (and decrypts, in pure Rust) the identity. A password given for an unencrypted key
/// is ignored.
pub(crate) fn decode_rust(
    input: &IdentityInput,
    format: &IdentityFormat,
    password: Option<&[u8]>,
) -> Result<DecodedIdentity> {
    decode_kind(input, format, password).map_err(|kind| input.error(kind))
}

fn decode_kind(
    input: &IdentityInput,
    format: &IdentityFormat,
    password: Option<&[u8]>,
) -> std::result::Result<DecodedIdentity, IdentityErrorKind> {
    let (certs, key) = match format {
        IdentityFormat::Pem(blocks) => {
            let key_block = blocks.iter().find(|b| b.is_private_key());
            let certs: Vec<Vec<u8>> = blocks
                .iter()
                .filter(|b| CERT_LABELS.contains(&b.label.as_str()))
                .map(|b| b.der.to_vec())
                .collect();
            let Some(key_block) = key_block else {
                return Err(IdentityErrorKind::NoPrivateKey {
                    found: describe_blocks(blocks),
                });
            };
            if certs.is_empty() {
                return Err(IdentityErrorKind::NoCertificate {
                    found: describe_blocks(blocks),
                });
            }
            (certs, pem_key::to_pkcs8(key_block, password)?)
        }
        IdentityFormat::Pkcs12 => {
            let mut contents = pkcs12::decode(&input.bytes, password)?;
            let found = format!(
                "PKCS#12 with {} certificate(s) and {} key(s)",
                contents.certs.len(),
                contents.keys.len()
            );
            if contents.keys.is_empty() {
                return Err(IdentityErrorKind::NoPrivateKey { found });
            }
            if contents.certs.is_empty() {
                return Err(IdentityErrorKind::NoCertificate { found });
            }
            let key = contents.keys.swap_remove(0);
            (contents.certs, key)
        }
    };
    order_chain(certs, key)
}

/// Puts the certificate that matches the key first (or, when no certificate can be checked,
/// the first one), the others after it in file order.
fn order_chain(
    certs: Vec<Vec<u8>>,
    key: Zeroizing<Vec<u8>>,
) -> std::result::Result<DecodedIdentity, IdentityErrorKind> {
    let infos = certs
        .iter()
        .map(|c| CertInfo::parse(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let verdicts: Vec<Option<bool>> = infos.iter().map(|i| key_matches(i, &key)).collect();
    let leaf_index = verdicts
        .iter()
        .position(|v| *v == Some(true))
        .or_else(|| verdicts.iter().position(|v| v.is_none()));
    let Some(leaf_index) = leaf_index else {
        return Err(IdentityErrorKind::KeyMismatch {
            subject: infos.first().map(|i| i.subject.clone()).unwrap_or_default(),
        });
    };
    let mut chain = certs;
    let leaf_der = chain.remove(leaf_index);
    chain.insert(0, leaf_der);
    let leaf = infos
        .into_iter()
        .nth(leaf_index)
        .ok_or_else(|| IdentityErrorKind::Malformed {
            detail: "certificate list changed while ordering it".to_owned(),
        })?;
    Ok(DecodedIdentity {
        chain,
        leaf,
        key_pkcs8: key,
    })
}
