//! MONGODB-X509: the server takes the user name from the client certificate's subject DN.
//!
//! The conversation is one command, `{authenticate: 1, mechanism: "MONGODB-X509"}` on
//! `$external` (with `user` only when the user gave one: the server then checks it equals the
//! certificate subject), which MongoDB 4.4+ also accepts inside `hello` as
//! `speculativeAuthenticate` — saving a round trip on every connection.

use bson::{doc, Bson, Document};

use super::Channel;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Credential;
use crate::tls::TlsBackend;

/// The mechanism name on the wire.
pub(crate) const MECHANISM: &str = "MONGODB-X509";
/// The database X.509 users live in.
pub(crate) const EXTERNAL_DB: &str = "$external";

/// Refuses X.509 over a connection that cannot carry it. Returns the certificate subject.
pub(crate) fn check_preconditions(tls: Option<&dyn TlsBackend>) -> Result<String> {
    let Some(tls) = tls else {
        return Err(Error::invalid_argument(
            "MONGODB-X509 needs TLS: set tls=true (and tlsCertificateKeyFile to the client certificate)",
        ));
    };
    match tls.client_subject() {
        Some(subject) => Ok(subject),
        None => Err(Error::invalid_argument(format!(
            "MONGODB-X509 needs a client certificate: set tlsCertificateKeyFile (the {} TLS backend \
             has no client certificate)",
            tls.name()
        ))),
    }
}

/// The `authenticate` command; for the `speculativeAuthenticate` of `hello` it names the
/// database with `db`, since `hello` itself runs on `admin`.
pub(crate) fn authenticate_command(credential: &Credential, speculative: bool) -> Document {
    let mut cmd = doc! { "authenticate": 1, "mechanism": MECHANISM };
    if let Some(user) = &credential.username {
        cmd.insert("user", user.as_str());
    }
    if speculative {
        cmd.insert("db", EXTERNAL_DB);
    }
    cmd
}

/// Sends `authenticate` on `$external`; a server refusal becomes [`ErrorKind::Authentication`].
pub(crate) async fn run_authenticate(
    chan: &mut dyn Channel,
    cmd: Document,
    credential: &Credential,
    subject: &str,
) -> Result<Document> {
    match chan.run_command(EXTERNAL_DB, cmd).await {
        Ok(reply) => Ok(reply),
        Err(e) => match *e.kind {
            ErrorKind::Command {
                code,
                code_name,
                message,
            } => Err(auth_error(
                Some(code),
                &code_name,
                &message,
                credential.username.as_deref(),
                subject,
            )),
            _ => Err(e),
        },
    }
}

/// Builds the authentication error: the server's words plus what to check.
pub(crate) fn auth_error(
    code: Option<i32>,
    code_name: &str,
    server_message: &str,
    username: Option<&str>,
    subject: &str,
) -> Error {
    let server = match (code, code_name.is_empty()) {
        (Some(code), false) => format!("{server_message} ({code_name}, code {code})"),
        (Some(code), true) => format!("{server_message} (code {code})"),
        (None, _) => server_message.to_owned(),
    };
    let hint = match username {
        Some(user) if user != subject => format!(
            "the username given ({user:?}) differs from the client certificate's subject \
             ({subject:?}); leave the username out or set it to the subject"
        ),
        _ => {
            let dn = js_string(subject);
            format!(
                "is there a user named {subject:?} in $external? create it with \
                 db.getSiblingDB(\"$external\").runCommand({{createUser: {dn}, roles: \
                 [{{role: \"readWrite\", db: \"test\"}}]}})"
            )
        }
    };
    Error::new(ErrorKind::Authentication {
        message: format!("MONGODB-X509 as {subject:?}: {server}; {hint}"),
        mechanism: MECHANISM.to_owned(),
        user: Some(username.unwrap_or(subject).to_owned()),
        code,
        subject: Some(subject.to_owned()),
    })
}

/// `s` as a double-quoted JavaScript string literal (DNs may hold `\` and `"`).
fn js_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The user the server authenticated: its `user` field, else the name given, else the subject.
pub(crate) fn authenticated_user(
    reply: &Document,
    credential: &Credential,
    subject: &str,
) -> String {
    match reply.get("user") {
        Some(Bson::String(u)) => u.clone(),
        _ => credential
            .username
            .clone()
            .unwrap_or_else(|| subject.to_owned()),
    }
}
