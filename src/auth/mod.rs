//! Authentication, run once per connection right after the `hello` handshake.
//!
//! Only MONGODB-X509 is implemented; every other mechanism is refused when a connection is
//! opened (before any byte is sent) with [`ErrorKind::NotSupported`].

pub(crate) mod x509;

use crate::conn::handshake::{auth_step_after_hello, AuthStep};
use crate::conn::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::options::{AuthMechanism, Credential};
use crate::tls::TlsBackend;

/// What authentication a new connection will do, decided before any I/O.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AuthPlan {
    /// No credential: no authentication.
    None,
    /// MONGODB-X509 with the client certificate whose subject DN is `subject`.
    X509 {
        /// The credential (user name optional).
        credential: Credential,
        /// The subject DN of the client certificate the TLS backend presents.
        subject: String,
    },
}

/// Checks that the credential can be used over this connection, before anything is sent.
pub(crate) fn plan(
    credential: Option<&Credential>,
    tls: Option<&dyn TlsBackend>,
) -> Result<AuthPlan> {
    let Some(credential) = credential else {
        return Ok(AuthPlan::None);
    };
    match credential.mechanism {
        Some(AuthMechanism::MongoDbX509) => {
            let subject = x509::check_preconditions(tls)?;
            Ok(AuthPlan::X509 {
                credential: credential.clone(),
                subject,
            })
        }
        ref other => Err(unsupported_mechanism(other.as_ref())),
    }
}

/// The error for a mechanism this crate does not implement yet.
pub(crate) fn unsupported_mechanism(mechanism: Option<&AuthMechanism>) -> Error {
    let message = match mechanism {
        Some(m) => format!(
            "{m} is not supported yet by mongo-x509; use MONGODB-X509 (authMechanism=MONGODB-X509)"
        ),
        // No mechanism means "negotiate", which ends in SCRAM-SHA-256 on any current server.
        None => "SCRAM-SHA-256 is not supported yet by mongo-x509; use MONGODB-X509 (a credential \
                 without authMechanism means SCRAM-SHA-256: set authMechanism=MONGODB-X509)"
            .to_owned(),
    };
    Error::new(ErrorKind::NotSupported { message })
}

/// Runs whatever authentication is left after the `hello` (already sent on `conn`).
/// Returns the authenticated user name, if any.
pub(crate) async fn authenticate(conn: &mut Connection, plan: &AuthPlan) -> Result<Option<String>> {
    match plan {
        AuthPlan::None => Ok(None),
        AuthPlan::X509 {
            credential,
            subject,
        } => {
            let step = auth_step_after_hello(conn.hello(), credential)?;
            let reply = match step {
                AuthStep::Done => conn
                    .hello()
                    .speculative_authenticate
                    .clone()
                    .unwrap_or_default(),
                AuthStep::SendAuthenticate(cmd) => {
                    x509::run_authenticate(conn, cmd, credential, subject).await?
                }
            };
            Ok(Some(x509::authenticated_user(&reply, credential, subject)))
        }
    }
}
