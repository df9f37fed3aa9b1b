//! PLAIN (RFC 4616), which MongoDB uses for LDAP users (proxy authentication): one `saslStart`
//! carrying `\0user\0password`, on `$external` unless the credential names another source.
//! The password crosses the wire as it is, so only use it over TLS.

use zeroize::Zeroizing;

use super::{sasl, Channel, Login};
use crate::error::Result;

/// The mechanism name on the wire.
pub(crate) const MECHANISM: &str = "PLAIN";

/// `authzid \0 authcid \0 password` with an empty authzid (the server takes the user).
pub(crate) fn payload(username: &str, password: &str) -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(username.len() + password.len() + 2));
    bytes.push(0);
    bytes.extend_from_slice(username.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(password.as_bytes());
    bytes
}

/// Sends the one `saslStart`; the server must answer `done: true`.
pub(crate) async fn authenticate(chan: &mut dyn Channel, login: &Login<'_>) -> Result<()> {
    let cmd = sasl::start_command(
        MECHANISM,
        payload(login.username, login.password).to_vec(),
        false,
        None,
    );
    let reply = chan
        .run_command(login.source, cmd)
        .await
        .map_err(|e| login.server_error(MECHANISM, e))?;
    match sasl::parse_reply(&reply) {
        Ok(r) if r.done => Ok(()),
        Ok(_) => Err(login.failed(
            MECHANISM,
            "the server did not end the conversation after the one PLAIN message".into(),
            None,
        )),
        Err(what) => Err(login.failed(
            MECHANISM,
            format!("the server's reply is invalid: {what}"),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_the_specification_example() {
        use base64ct::{Base64, Encoding};
        // The Authentication specification: user "user", password "pencil".
        assert_eq!(
            Base64::encode_string(&payload("user", "pencil")),
            "AHVzZXIAcGVuY2ls"
        );
    }
}
