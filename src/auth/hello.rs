//! Authentication's part of the `hello` handshake, as pure functions: what to add to `hello`
//! (`saslSupportedMechs` to negotiate, `speculativeAuthenticate` to save a round trip) and,
//! from the reply, what is left to do.

use bson::Document;

use super::scram::{self, ClientFirst, ScramVersion};
use super::{truthy, x509, AuthPlan, Mechanism};
use crate::error::Result;

/// What the `hello` reply says that authentication needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct HelloAuth {
    /// The `speculativeAuthenticate` document, when the server ran the speculative
    /// authentication.
    pub(crate) speculative: Option<Document>,
    /// `saslSupportedMechs`: the user's mechanisms, when negotiation was asked for.
    pub(crate) sasl_supported_mechs: Option<Vec<String>>,
    /// The server is an arbiter, which has no users: no authentication (Auth spec).
    pub(crate) arbiter: bool,
}

/// What was sent in `hello` for speculative authentication.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Sent {
    Nothing,
    X509,
    /// A SCRAM client-first message (for a negotiated mechanism: SCRAM-SHA-256).
    Scram(ScramVersion, ClientFirst),
}

impl AuthPlan<'_> {
    /// Adds the authentication fields to the `hello` command; returns what was sent.
    pub(crate) fn add_to_hello(&self, hello: &mut Document) -> Result<Sent> {
        let nonce = match self.mechanism {
            Mechanism::Scram(_) | Mechanism::Negotiate => scram::new_nonce()?,
            Mechanism::X509 | Mechanism::Plain => String::new(),
        };
        Ok(self.add_to_hello_with_nonce(hello, nonce))
    }

    /// [`AuthPlan::add_to_hello`] with the SCRAM nonce given.
    pub(crate) fn add_to_hello_with_nonce(&self, hello: &mut Document, nonce: String) -> Sent {
        let credential = self.credential;
        let version = match self.mechanism {
            Mechanism::X509 => {
                hello.insert(
                    "speculativeAuthenticate",
                    x509::authenticate_command(credential, true),
                );
                return Sent::X509;
            }
            // PLAIN has no speculative form.
            Mechanism::Plain => return Sent::Nothing,
            Mechanism::Scram(version) => version,
            Mechanism::Negotiate => {
                // The user name as given, not SASLprep'd: the server matches it raw.
                hello.insert(
                    "saslSupportedMechs",
                    format!(
                        "{}.{}",
                        self.source(),
                        credential.username.as_deref().unwrap_or_default()
                    ),
                );
                // The Handshake spec: speculate with SCRAM-SHA-256, the default of every
                // server that answers speculative authentication.
                ScramVersion::Sha256
            }
        };
        let first = ClientFirst::new(credential.username.as_deref().unwrap_or_default(), nonce);
        hello.insert(
            "speculativeAuthenticate",
            first.command(version, Some(self.source())),
        );
        Sent::Scram(version, first)
    }
}

/// What is left to do after `hello`.
#[derive(Debug, PartialEq)]
pub(crate) enum Next<'a> {
    /// Nothing: an arbiter, or the speculative MONGODB-X509 authentication succeeded.
    Done,
    /// Send `authenticate` (MONGODB-X509).
    X509,
    /// Run SCRAM with this hash, continuing the speculative conversation when there is one.
    Scram {
        version: ScramVersion,
        speculative: Option<(&'a ClientFirst, &'a Document)>,
    },
    /// Send the PLAIN `saslStart`.
    Plain,
}

/// The mechanism negotiation picks (Auth spec, "Default Authentication Methods"):
/// SCRAM-SHA-256 if the server lists it for the user, else SCRAM-SHA-1 (also when the list is
/// missing; unknown names are ignored).
pub(crate) fn negotiated(sasl_supported_mechs: Option<&[String]>) -> ScramVersion {
    let listed = sasl_supported_mechs
        .unwrap_or_default()
        .iter()
        .any(|m| m == ScramVersion::Sha256.mechanism());
    if listed {
        ScramVersion::Sha256
    } else {
        ScramVersion::Sha1
    }
}

/// Decides what is left after the `hello` reply.
///
/// A speculative reply that is absent or carries `ok: 0` means the full conversation runs (the
/// server omits the field when the speculative attempt failed; if the full attempt fails too,
/// its error is the one reported: it says more). A SCRAM speculative reply is only used for
/// the mechanism it was sent for: if negotiation picked SCRAM-SHA-1, the conversation starts
/// over.
pub(crate) fn after_hello<'a>(
    mechanism: Mechanism,
    sent: &'a Sent,
    reply: &'a HelloAuth,
) -> Next<'a> {
    if reply.arbiter {
        return Next::Done;
    }
    let speculative = reply
        .speculative
        .as_ref()
        .filter(|d| d.get("ok").is_none_or(truthy));
    match mechanism {
        Mechanism::X509 => match (sent, speculative) {
            (Sent::X509, Some(_)) => Next::Done,
            _ => Next::X509,
        },
        Mechanism::Plain => Next::Plain,
        Mechanism::Scram(_) | Mechanism::Negotiate => {
            let version = match mechanism {
                Mechanism::Scram(version) => version,
                _ => negotiated(reply.sasl_supported_mechs.as_deref()),
            };
            let speculative = match (sent, speculative) {
                (Sent::Scram(sent_version, first), Some(reply)) if *sent_version == version => {
                    Some((first, reply))
                }
                _ => None,
            };
            Next::Scram {
                version,
                speculative,
            }
        }
    }
}

#[cfg(test)]
mod tests;
