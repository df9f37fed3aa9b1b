//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677) as the Authentication specification
//! profiles them: user names are not SASLprep'd, SCRAM-SHA-256 passwords are, SCRAM-SHA-1 uses
//! the MongoDB digest `hex(md5(user + ":mongo:" + password))` as its password, no channel
//! binding (`n,,`), at least 4,096 iterations, and `skipEmptyExchange`.
//!
//! The conversation steps are pure functions ([`ClientFirst`], [`parse_server_first`],
//! [`client_final`], [`verify_server_final`]); [`authenticate`] only sends what they build.
//! The client and server keys are cached per salt and iteration count in a [`ScramCache`]
//! (one per client, so one credential), so only a client's first connection runs PBKDF2.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64ct::{Base64, Encoding};
use bson::Document;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{sasl, Channel, Login};
use crate::error::{Error, ErrorKind, Result};
use crate::options::{SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS};

/// Random bytes in the client nonce (32 base64 characters).
const NONCE_BYTES: usize = 24;
/// Salts and iteration counts remembered per client (servers of one deployment share the
/// user's salt, so one entry per mechanism is the usual case).
const CACHE_CAPACITY: usize = 8;

/// The hash a SCRAM mechanism uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ScramVersion {
    Sha1,
    Sha256,
}

impl ScramVersion {
    /// The mechanism name on the wire.
    pub(crate) fn mechanism(self) -> &'static str {
        match self {
            ScramVersion::Sha1 => "SCRAM-SHA-1",
            ScramVersion::Sha256 => "SCRAM-SHA-256",
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
            // HMAC takes keys of any length.
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
            mac.update(data);
            Zeroizing::new(mac.finalize().into_bytes().to_vec())
        }
        match self {
            ScramVersion::Sha1 => run::<Hmac<Sha1>>(key, data),
            ScramVersion::Sha256 => run::<Hmac<Sha256>>(key, data),
        }
    }

    /// Checks `signature` against HMAC(key, data) in constant time.
    fn verify_hmac(self, key: &[u8], data: &[u8], signature: &[u8]) -> bool {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8], sig: &[u8]) -> bool {
            let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
                return false;
            };
            mac.update(data);
            mac.verify_slice(sig).is_ok()
        }
        match self {
            ScramVersion::Sha1 => run::<Hmac<Sha1>>(key, data, signature),
            ScramVersion::Sha256 => run::<Hmac<Sha256>>(key, data, signature),
        }
    }

    fn hash(self, data: &[u8]) -> Zeroizing<Vec<u8>> {
        match self {
            ScramVersion::Sha1 => Zeroizing::new(Sha1::digest(data).to_vec()),
            ScramVersion::Sha256 => Zeroizing::new(Sha256::digest(data).to_vec()),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC of this hash.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<Vec<u8>> {
        match self {
            ScramVersion::Sha1 => {
                let mut out = Zeroizing::new(vec![0u8; 20]);
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out);
                out
            }
            ScramVersion::Sha256 => {
                let mut out = Zeroizing::new(vec![0u8; 32]);
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

/// The password as the key derivation takes it: for SCRAM-SHA-1 the MongoDB digest
/// `hex(md5(username + ":mongo:" + password))` (neither SASLprep'd), for SCRAM-SHA-256 the
/// password prepared with SASLprep (RFC 4013).
pub(crate) fn prepare_password(
    version: ScramVersion,
    username: &str,
    password: &str,
) -> Result<Zeroizing<String>> {
    match version {
        ScramVersion::Sha1 => {
            let mut md5 = md5::Md5::new();
            md5.update(username.as_bytes());
            md5.update(b":mongo:");
            md5.update(password.as_bytes());
            let digest = Zeroizing::new(md5.finalize().to_vec());
            let mut hex = Zeroizing::new(String::with_capacity(32));
            for byte in digest.iter() {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
                hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
            }
            Ok(hex)
        }
        ScramVersion::Sha256 => match stringprep::saslprep(password) {
            Ok(prepared) => Ok(Zeroizing::new(prepared.into_owned())),
            // The library's message quotes the offending character: not shown.
            Err(_) => Err(Error::invalid_argument(format!(
                "the password of user {username:?} cannot be used with SCRAM-SHA-256: SASLprep \
                 (RFC 4013) prohibits a character in it (a control character, a private-use or \
                 unassigned code point, or mixed right-to-left text); change the password, or \
                 use SCRAM-SHA-1 if the user has it"
            ))),
        },
    }
}

/// A fresh client nonce: random bytes from the operating system, base64 (printable, no ',').
pub(crate) fn new_nonce() -> Result<String> {
    let mut bytes = [0u8; NONCE_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::internal(format!(
            "the operating system's random number generator failed ({e}); SCRAM needs it for \
             its nonce"
        ))
    })?;
    Ok(Base64::encode_string(&bytes))
}

/// The client-first message, kept for the rest of the conversation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClientFirst {
    /// `n=<user>,r=<nonce>`, part of the AuthMessage.
    bare: String,
    /// The client nonce.
    nonce: String,
}

impl ClientFirst {
    /// The message for `username` (escaped, not SASLprep'd: the specification says so) and
    /// `nonce`.
    pub(crate) fn new(username: &str, nonce: String) -> Self {
        let user = username.replace('=', "=3D").replace(',', "=2C");
        Self {
            bare: format!("n={user},r={nonce}"),
            nonce,
        }
    }

    /// The bytes sent: the GS2 header `n,,` (no channel binding) and the bare message.
    pub(crate) fn message(&self) -> Vec<u8> {
        format!("n,,{}", self.bare).into_bytes()
    }

    /// The `saslStart` command carrying this message; with `db` for `speculativeAuthenticate`.
    pub(crate) fn command(&self, version: ScramVersion, db: Option<&str>) -> Document {
        sasl::start_command(version.mechanism(), self.message(), true, db)
    }
}

/// What the client found wrong in a SCRAM conversation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ScramError {
    /// A message that is not what RFC 5802 says (what is wrong, never a secret).
    Malformed(String),
    /// The server sent `e=<value>`.
    Server(String),
    /// The iteration count is below [`SCRAM_MIN_ITERATIONS`] or above [`SCRAM_MAX_ITERATIONS`].
    IterationCount(u64),
    /// The server's signature does not prove it knows the password.
    ServerSignature,
}

/// The parsed server-first message.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ServerFirst {
    /// The message as received, part of the AuthMessage.
    message: String,
    /// The combined nonce (the client's followed by the server's).
    nonce: String,
    salt: Vec<u8>,
    iterations: u32,
}

/// Splits a SCRAM message into its `x=value` attributes.
fn attributes(payload: &[u8]) -> std::result::Result<Vec<(char, &str)>, ScramError> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| ScramError::Malformed("the message is not UTF-8".into()))?;
    text.split(',')
        .map(|part| {
            let mut chars = part.chars();
            match (chars.next(), chars.next()) {
                (Some(key), Some('=')) if key.is_ascii_alphabetic() => Ok((key, &part[2..])),
                _ => Err(ScramError::Malformed(format!(
                    "{:?} is not an attribute (x=value)",
                    part.chars().take(16).collect::<String>()
                ))),
            }
        })
        .collect()
}

/// Reads and checks the server-first message: the nonce must extend the client's, the salt
/// must be base64, the iteration count within [[`SCRAM_MIN_ITERATIONS`],
/// [`SCRAM_MAX_ITERATIONS`]].
pub(crate) fn parse_server_first(
    payload: &[u8],
    client_nonce: &str,
) -> std::result::Result<ServerFirst, ScramError> {
    let attrs = attributes(payload)?;
    match attrs.first() {
        Some(('e', value)) => return Err(ScramError::Server((*value).to_owned())),
        Some(('m', _)) => {
            return Err(ScramError::Malformed(
                "the server requires an extension (m=) that SCRAM clients do not know".into(),
            ))
        }
        _ => {}
    }
    let get = |key: char| {
        attrs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or_else(|| ScramError::Malformed(format!("the server-first message has no {key}=")))
    };
    let nonce = get('r')?;
    if !nonce.starts_with(client_nonce) || nonce.len() <= client_nonce.len() {
        return Err(ScramError::Malformed(
            "the server's nonce does not extend the client's".into(),
        ));
    }
    let salt = Base64::decode_vec(get('s')?)
        .map_err(|_| ScramError::Malformed("the salt is not base64".into()))?;
    if salt.is_empty() {
        return Err(ScramError::Malformed("the salt is empty".into()));
    }
    let count = get('i')?;
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ScramError::Malformed(format!(
            "the iteration count {count:?} is not a number"
        )));
    }
    // Digits only: a parse failure is an overflow, i.e. far above the limit.
    let iterations: u64 = count.parse().unwrap_or(u64::MAX);
    if iterations < u64::from(SCRAM_MIN_ITERATIONS) || iterations > u64::from(SCRAM_MAX_ITERATIONS)
    {
        return Err(ScramError::IterationCount(iterations));
    }
    let Ok(text) = std::str::from_utf8(payload) else {
        unreachable!("attributes() checked UTF-8")
    };
    Ok(ServerFirst {
        message: text.to_owned(),
        nonce: nonce.to_owned(),
        salt,
        // Checked against SCRAM_MAX_ITERATIONS, so it fits.
        iterations: iterations as u32,
    })
}

/// The client and server keys of a password, salt and iteration count: what the cache holds.
/// Wiped when dropped.
pub(crate) struct ScramKeys {
    client_key: Zeroizing<Vec<u8>>,
    server_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramKeys(<redacted>)")
    }
}

/// `ClientKey` and `ServerKey` from the prepared password (RFC 5802 section 3). This is the
/// expensive step: `iterations` rounds of HMAC.
pub(crate) fn derive_keys(
    version: ScramVersion,
    prepared_password: &str,
    salt: &[u8],
    iterations: u32,
) -> ScramKeys {
    let salted = version.salted_password(prepared_password.as_bytes(), salt, iterations);
    ScramKeys {
        client_key: version.hmac(&salted, b"Client Key"),
        server_key: version.hmac(&salted, b"Server Key"),
    }
}

/// The client-final message and what checking the server's answer needs.
pub(crate) struct ClientFinal {
    /// `c=biws,r=<nonce>,p=<proof>`.
    message: Vec<u8>,
    /// The AuthMessage both signatures sign.
    auth_message: String,
}

impl ClientFinal {
    /// The bytes sent.
    pub(crate) fn message(&self) -> &[u8] {
        &self.message
    }
}

/// Builds the client-final message with the proof that the client knows the password.
pub(crate) fn client_final(
    version: ScramVersion,
    keys: &ScramKeys,
    client_first: &ClientFirst,
    server_first: &ServerFirst,
) -> ClientFinal {
    // "biws" is base64("n,,"): the GS2 header, no channel binding.
    let without_proof = format!("c=biws,r={}", server_first.nonce);
    let auth_message = format!(
        "{},{},{}",
        client_first.bare, server_first.message, without_proof
    );
    let stored_key = version.hash(&keys.client_key);
    let signature = version.hmac(&stored_key, auth_message.as_bytes());
    let proof: Zeroizing<Vec<u8>> = Zeroizing::new(
        keys.client_key
            .iter()
            .zip(signature.iter())
            .map(|(k, s)| k ^ s)
            .collect(),
    );
    ClientFinal {
        message: format!("{without_proof},p={}", Base64::encode_string(&proof)).into_bytes(),
        auth_message,
    }
}

/// Checks the server-final message: `v=` must be the server signature, which only a server
/// that knows the password (its ServerKey) can compute.
pub(crate) fn verify_server_final(
    version: ScramVersion,
    keys: &ScramKeys,
    client_final: &ClientFinal,
    payload: &[u8],
) -> std::result::Result<(), ScramError> {
    let attrs = attributes(payload)?;
    match attrs.first() {
        Some(('e', value)) => Err(ScramError::Server((*value).to_owned())),
        Some(('v', value)) => {
            let signature = Base64::decode_vec(value)
                .map_err(|_| ScramError::Malformed("the server signature is not base64".into()))?;
            if version.verify_hmac(
                &keys.server_key,
                client_final.auth_message.as_bytes(),
                &signature,
            ) {
                Ok(())
            } else {
                Err(ScramError::ServerSignature)
            }
        }
        _ => Err(ScramError::Malformed(
            "the server-final message has neither v= nor e=".into(),
        )),
    }
}

/// The keys computed so far, per mechanism, salt and iteration count, for one credential (the
/// Authentication specification's cache: a new connection costs no PBKDF2). Keys are wiped
/// when evicted or when the cache is dropped with its client.
#[derive(Default)]
pub(crate) struct ScramCache {
    /// Held across a derivation, so connections opened together derive once.
    entries: tokio::sync::Mutex<Vec<CacheEntry>>,
    /// How many times PBKDF2 ran.
    derivations: AtomicU64,
}

struct CacheEntry {
    version: ScramVersion,
    salt: Vec<u8>,
    iterations: u32,
    keys: Arc<ScramKeys>,
}

impl std::fmt::Debug for ScramCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCache")
            .field("derivations", &self.derivations())
            .finish_non_exhaustive()
    }
}

impl ScramCache {
    /// The keys for this salt and count: from the cache, or derived (off the async worker
    /// threads: a high count takes seconds) and remembered.
    pub(crate) async fn keys(
        &self,
        version: ScramVersion,
        prepared_password: Zeroizing<String>,
        server_first: &ServerFirst,
    ) -> Result<Arc<ScramKeys>> {
        let mut entries = self.entries.lock().await;
        let found = entries.iter().position(|e| {
            e.version == version
                && e.iterations == server_first.iterations
                && e.salt == server_first.salt
        });
        if let Some(i) = found {
            return Ok(entries[i].keys.clone());
        }
        let salt = server_first.salt.clone();
        let iterations = server_first.iterations;
        let keys = tokio::task::spawn_blocking(move || {
            derive_keys(version, &prepared_password, &salt, iterations)
        })
        .await
        .map_err(|e| Error::internal(format!("the SCRAM key derivation did not finish: {e}")))?;
        self.derivations.fetch_add(1, Ordering::Relaxed);
        let keys = Arc::new(keys);
        if entries.len() >= CACHE_CAPACITY {
            entries.remove(0);
        }
        entries.push(CacheEntry {
            version,
            salt: server_first.salt.clone(),
            iterations,
            keys: keys.clone(),
        });
        Ok(keys)
    }

    /// How many times PBKDF2 ran for this cache.
    pub(crate) fn derivations(&self) -> u64 {
        self.derivations.load(Ordering::Relaxed)
    }
}

/// Runs the conversation. `speculative`: the client-first sent in `hello` and the server's
/// answer (the `saslStart` reply); without it `saslStart` is sent here.
pub(crate) async fn authenticate(
    chan: &mut dyn Channel,
    version: ScramVersion,
    login: &Login<'_>,
    cache: &ScramCache,
    speculative: Option<(&ClientFirst, &Document)>,
) -> Result<()> {
    let mechanism = version.mechanism();
    let fail = |e: ScramError| scram_error(e, version, login);
    let sent;
    let (client_first, first_reply) = match speculative {
        Some((client_first, reply)) => (client_first, reply.clone()),
        None => {
            sent = ClientFirst::new(login.username, new_nonce()?);
            let reply = chan
                .run_command(login.source, sent.command(version, None))
                .await
                .map_err(|e| login.server_error(mechanism, e))?;
            (&sent, reply)
        }
    };
    let first = sasl::parse_reply(&first_reply).map_err(|m| fail(ScramError::Malformed(m)))?;
    if first.done {
        return Err(fail(ScramError::Malformed(
            "the server ended the conversation before the client proved anything".into(),
        )));
    }
    let server_first = parse_server_first(&first.payload, &client_first.nonce).map_err(fail)?;
    let prepared = prepare_password(version, login.username, login.password)?;
    let keys = cache.keys(version, prepared, &server_first).await?;
    let client_final = client_final(version, &keys, client_first, &server_first);
    let reply = chan
        .run_command(
            login.source,
            sasl::continue_command(&first.conversation_id, client_final.message().to_vec()),
        )
        .await
        .map_err(|e| login.server_error(mechanism, e))?;
    let second = sasl::parse_reply(&reply).map_err(|m| fail(ScramError::Malformed(m)))?;
    verify_server_final(version, &keys, &client_final, &second.payload).map_err(fail)?;
    if !second.done {
        // A server that ignores skipEmptyExchange (before 4.4) wants one more, empty, round.
        let reply = chan
            .run_command(
                login.source,
                sasl::continue_command(&first.conversation_id, Vec::new()),
            )
            .await
            .map_err(|e| login.server_error(mechanism, e))?;
        let third = sasl::parse_reply(&reply).map_err(|m| fail(ScramError::Malformed(m)))?;
        if !third.done {
            return Err(fail(ScramError::Malformed(
                "the server did not end the conversation after verifying the proof".into(),
            )));
        }
    }
    Ok(())
}

/// The typed error for what the client found wrong.
fn scram_error(e: ScramError, version: ScramVersion, login: &Login<'_>) -> Error {
    let mechanism = version.mechanism();
    let message = match e {
        ScramError::IterationCount(iterations) => {
            return Error::new(ErrorKind::ScramIterationCount {
                mechanism: mechanism.to_owned(),
                user: login.username.to_owned(),
                iterations,
                min: SCRAM_MIN_ITERATIONS,
                max: SCRAM_MAX_ITERATIONS,
            })
        }
        ScramError::Malformed(what) => format!("the server's SCRAM message is invalid: {what}"),
        ScramError::Server(value) => format!("the server ended the conversation with e={value}"),
        ScramError::ServerSignature => "the server's signature is wrong: it does not know the \
             password, so it is not the server the user was created on (or something between \
             is impersonating it); check the address and use TLS"
            .to_owned(),
    };
    login.failed(mechanism, message, None)
}

#[cfg(test)]
mod tests;
