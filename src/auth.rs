//! Authentication, run once per connection right after the `hello` handshake (never on
//! monitoring connections): MONGODB-X509 ([`x509`]), SCRAM-SHA-256 and SCRAM-SHA-1
//! ([`scram`]), PLAIN ([`plain`]); with no mechanism named, SCRAM negotiated through
//! `saslSupportedMechs`. GSSAPI, MONGODB-AWS and MONGODB-OIDC are refused by [`mechanism`],
//! the one place that decides, with [`ErrorKind::NotSupported`].
//!
//! This module does not know the connection type: what `hello` carries for authentication
//! and what its reply says are decided in [`hello`] as pure functions over data, and commands
//! go through a [`Channel`], which the connection implements.

pub(crate) mod hello;
pub(crate) mod plain;
pub(crate) mod sasl;
pub(crate) mod scram;
pub(crate) mod x509;

use async_trait::async_trait;
use bson::{Bson, Document};

pub(crate) use self::hello::{HelloAuth, Sent};
pub(crate) use self::scram::ScramCache;
use self::scram::ScramVersion;
use crate::error::{Error, ErrorKind, Result};
use crate::options::{AuthMechanism, Credential};
use crate::tls::TlsBackend;

/// What authentication needs of a connection: send a command, get its reply.
#[async_trait]
pub(crate) trait Channel: Send {
    /// Runs `command` on database `db`. A reply with `ok: 0` is an [`ErrorKind::Command`].
    async fn run_command(&mut self, db: &str, command: Document) -> Result<Document>;
}

/// The mechanism a credential resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mechanism {
    X509,
    Scram(ScramVersion),
    /// No mechanism named: SCRAM-SHA-256 if the server lists it for the user, else SCRAM-SHA-1.
    Negotiate,
    Plain,
}

/// The mechanism `credential` asks for, once its fields are checked against what the
/// mechanism needs (the parser checks connection strings; this also covers credentials built
/// in code). The one place where a mechanism this crate does not implement is refused.
pub(crate) fn mechanism(credential: &Credential) -> Result<Mechanism> {
    let resolved = match &credential.mechanism {
        Some(AuthMechanism::MongoDbX509) => Mechanism::X509,
        Some(AuthMechanism::ScramSha256) => Mechanism::Scram(ScramVersion::Sha256),
        Some(AuthMechanism::ScramSha1) => Mechanism::Scram(ScramVersion::Sha1),
        Some(AuthMechanism::Plain) => Mechanism::Plain,
        None => Mechanism::Negotiate,
        Some(
            other
            @ (AuthMechanism::Gssapi | AuthMechanism::MongoDbAws | AuthMechanism::MongoDbOidc),
        ) => {
            return Err(Error::new(ErrorKind::NotSupported {
                message: format!(
                    "authMechanism={other} is not supported by mongo-x509; it authenticates with \
                     MONGODB-X509, SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN"
                ),
            }))
        }
    };
    let name = resolved.name();
    if resolved == Mechanism::X509 {
        if credential.password.is_some() {
            return Err(Error::invalid_argument(
                "MONGODB-X509 does not take a password: the client certificate proves the \
                 identity (a password for an encrypted key goes in \
                 TlsOptions::tls_certificate_key_file_password)",
            ));
        }
        return Ok(resolved);
    }
    match credential.username.as_deref() {
        Some(user) if !user.is_empty() => {}
        _ => {
            return Err(Error::invalid_argument(format!(
                "{name} needs a user name: give it as user:password@host (percent-encoded) or \
                 in Credential::username"
            )))
        }
    }
    if credential.password.is_none() {
        return Err(Error::invalid_argument(format!(
            "{name} needs a password: give it as user:password@host (percent-encoded) or in \
             Credential::password"
        )));
    }
    if credential
        .mechanism_properties
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(Error::invalid_argument(format!(
            "{name} takes no mechanism properties; remove authMechanismProperties"
        )));
    }
    Ok(resolved)
}

impl Mechanism {
    /// The name for messages.
    fn name(self) -> &'static str {
        match self {
            Mechanism::X509 => x509::MECHANISM,
            Mechanism::Scram(v) => v.mechanism(),
            Mechanism::Negotiate => "a credential without a mechanism (SCRAM)",
            Mechanism::Plain => plain::MECHANISM,
        }
    }

    /// The database the user is defined in when the credential names none (a connection
    /// string always names one: its database, or these).
    fn default_source(self) -> &'static str {
        match self {
            Mechanism::X509 | Mechanism::Plain => x509::EXTERNAL_DB,
            Mechanism::Scram(_) | Mechanism::Negotiate => "admin",
        }
    }
}

/// A user name, password and source for a password mechanism. Never printed.
pub(crate) struct Login<'a> {
    pub(crate) username: &'a str,
    pub(crate) password: &'a str,
    pub(crate) source: &'a str,
}

impl Login<'_> {
    /// An [`ErrorKind::Authentication`] for this user (`message`: what went wrong).
    pub(crate) fn failed(&self, mechanism: &str, message: String, code: Option<i32>) -> Error {
        Error::new(ErrorKind::Authentication {
            message: format!(
                "{mechanism} as user {:?} on {:?}: {message}",
                self.username, self.source
            ),
            mechanism: mechanism.to_owned(),
            user: Some(self.username.to_owned()),
            code,
            subject: None,
        })
    }

    /// A server's refusal becomes [`ErrorKind::Authentication`] with what to check; network
    /// errors stay as they are.
    pub(crate) fn server_error(&self, mechanism: &str, e: Error) -> Error {
        let ErrorKind::Command {
            code,
            code_name,
            message,
        } = &*e.kind
        else {
            return e;
        };
        let hint = if mechanism == plain::MECHANISM {
            "check the user name and password, and that the server is configured for LDAP \
             (PLAIN)"
                .to_owned()
        } else {
            format!(
                "check the user name and password, that authSource names the database the user \
                 was created in (now {:?}), and that the user has {mechanism} among its \
                 mechanisms",
                self.source
            )
        };
        let code_text = if code_name.is_empty() {
            format!("code {code}")
        } else {
            format!("{code_name}, code {code}")
        };
        self.failed(
            mechanism,
            format!("{} ({code_text}); {hint}", message.trim_end_matches('.')),
            Some(*code),
        )
    }
}

/// What authentication a new connection will do, decided before any I/O.
#[derive(Clone, Debug)]
pub(crate) struct AuthPlan<'a> {
    credential: &'a Credential,
    mechanism: Mechanism,
    /// MONGODB-X509: the subject DN of the certificate the TLS backend presents.
    subject: Option<String>,
    cache: &'a ScramCache,
}

/// The plan for `credential` (`None`: no authentication), refusing what cannot work before
/// anything is sent: an unsupported mechanism, missing fields, X.509 without a certificate.
pub(crate) fn plan<'a>(
    credential: Option<&'a Credential>,
    tls: Option<&dyn TlsBackend>,
    cache: &'a ScramCache,
) -> Result<Option<AuthPlan<'a>>> {
    let Some(credential) = credential else {
        return Ok(None);
    };
    let mechanism = mechanism(credential)?;
    let subject = match mechanism {
        Mechanism::X509 => Some(x509::check_preconditions(tls)?),
        _ => None,
    };
    Ok(Some(AuthPlan {
        credential,
        mechanism,
        subject,
        cache,
    }))
}

impl AuthPlan<'_> {
    /// The client certificate's subject, for MONGODB-X509.
    pub(crate) fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// For MONGODB-X509: the subject of the certificate the TLS handshake really sent, which
    /// differs from the planned one when the identity was reloaded in between.
    pub(crate) fn use_sent_subject(&mut self, sent: Option<String>) {
        if let (Some(subject), Some(sent)) = (&mut self.subject, sent) {
            *subject = sent;
        }
    }

    fn source(&self) -> &str {
        self.credential
            .source
            .as_deref()
            .unwrap_or(self.mechanism.default_source())
    }

    /// The user name, password and source; `None` for MONGODB-X509 (checked by
    /// [`mechanism`] for the others).
    fn login(&self) -> Option<Login<'_>> {
        Some(Login {
            username: self.credential.username.as_deref()?,
            password: self.credential.password.as_deref()?,
            source: self.source(),
        })
    }
}

/// Runs whatever authentication is left after the `hello` (already sent with what
/// [`AuthPlan::add_to_hello`] put in it, `sent`). Returns the authenticated user name.
pub(crate) async fn authenticate(
    chan: &mut dyn Channel,
    plan: &AuthPlan<'_>,
    sent: &Sent,
    reply: &HelloAuth,
) -> Result<Option<String>> {
    let next = hello::after_hello(plan.mechanism, sent, reply);
    let missing_login = || Error::internal("a password mechanism without user name or password");
    match next {
        hello::Next::Done => Ok(match (plan.mechanism, &reply.speculative) {
            (Mechanism::X509, Some(d)) => Some(x509::authenticated_user(
                d,
                plan.credential,
                plan.subject().unwrap_or_default(),
            )),
            (Mechanism::X509, None) => None,
            // Arbiters: nothing to authenticate.
            _ => None,
        }),
        hello::Next::X509 => {
            let subject = plan.subject().unwrap_or_default();
            let cmd = x509::authenticate_command(plan.credential, false);
            let reply = x509::run_authenticate(chan, cmd, plan.credential, subject).await?;
            Ok(Some(x509::authenticated_user(
                &reply,
                plan.credential,
                subject,
            )))
        }
        hello::Next::Scram {
            version,
            speculative,
        } => {
            let login = plan.login().ok_or_else(missing_login)?;
            scram::authenticate(chan, version, &login, plan.cache, speculative).await?;
            Ok(Some(login.username.to_owned()))
        }
        hello::Next::Plain => {
            let login = plan.login().ok_or_else(missing_login)?;
            plain::authenticate(chan, &login).await?;
            Ok(Some(login.username.to_owned()))
        }
    }
}

/// MongoDB's notion of a true `ok`.
fn truthy(value: &Bson) -> bool {
    crate::sdam::server::truthy(value)
}

/// For tests: the fields of an authentication error, borrowed, to compare at once.
#[cfg(test)]
#[derive(Debug, PartialEq)]
pub(crate) struct AuthFailure<'e> {
    pub(crate) mechanism: &'e str,
    pub(crate) user: Option<&'e str>,
    pub(crate) code: Option<i32>,
    pub(crate) subject: Option<&'e str>,
    pub(crate) message: &'e str,
}

/// For tests: `err` as an [`AuthFailure`]; panics on any other kind of error.
#[cfg(test)]
pub(crate) fn auth_failure(err: &Error) -> AuthFailure<'_> {
    match &*err.kind {
        ErrorKind::Authentication {
            message,
            mechanism,
            user,
            code,
            subject,
        } => AuthFailure {
            mechanism,
            user: user.as_deref(),
            code: *code,
            subject: subject.as_deref(),
            message,
        },
        other => panic!("expected an authentication error, got {other:?}"),
    }
}
