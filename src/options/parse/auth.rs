//! Credentials from userinfo and the auth options, checked with the Auth spec's rules for each
//! mechanism (required and forbidden fields, default sources, mechanism properties).
//! Messages never quote a password or a mechanism property value that may be a secret.

use bson::{Bson, Document};

use super::userinfo::UserInfo;
use crate::error::{Error, Result};
use crate::options::{AuthMechanism, Credential};

const EXTERNAL: &str = "$external";

/// The auth-related parts of a connection string.
pub(super) struct AuthInput<'a> {
    pub(super) userinfo: Option<UserInfo>,
    pub(super) mechanism: Option<AuthMechanism>,
    pub(super) source: Option<String>,
    pub(super) properties: Option<Vec<(String, String)>>,
    /// The database from the path, the default source of some mechanisms.
    pub(super) database: Option<&'a str>,
    /// Whether `authSource` and the property values may be quoted: not when they followed
    /// `tlsCertificateKeyFilePassword` or hold an unescaped '=' (pieces of a password).
    pub(super) quote_source: bool,
    pub(super) quote_properties: bool,
}

/// Builds the credential, or `None` when the connection string asks for no authentication
/// (no `@` and no `authMechanism`; `authSource` alone does not ask for it, per the Auth spec).
pub(super) fn build_credential(input: AuthInput<'_>) -> Result<Option<Credential>> {
    let AuthInput {
        userinfo,
        mechanism,
        source,
        properties,
        database,
        quote_source,
        quote_properties,
    } = input;
    let (username, password) = match userinfo {
        Some(u) => (Some(u.username), u.password),
        None => (None, None),
    };
    if username.is_none() && mechanism.is_none() {
        if properties.is_some() {
            return Err(Error::invalid_argument(
                "authMechanismProperties is given without authMechanism; add authMechanism",
            ));
        }
        return Ok(None);
    }
    let name = mechanism
        .as_ref()
        .map_or("the default mechanism (SCRAM)", |m| m.as_str());
    let check = Check {
        name,
        username: username.as_deref(),
        password: password.is_some(),
        has_properties: properties.as_ref().is_some_and(|p| !p.is_empty()),
        quote_source,
        quote_properties,
    };
    let mut props = normalize(properties.unwrap_or_default());
    let source =
        match &mechanism {
            None | Some(AuthMechanism::ScramSha1) | Some(AuthMechanism::ScramSha256) => {
                check.username_required()?;
                check.no_properties()?;
                source
                    .or(database.map(str::to_owned))
                    .unwrap_or_else(|| "admin".into())
            }
            Some(AuthMechanism::Plain) => {
                check.username_required()?;
                if !check.password {
                    return Err(Error::invalid_argument(
                        "PLAIN needs a password: give it in the connection string as \
                     user:password@host (percent-encoded)",
                    ));
                }
                check.no_properties()?;
                source
                    .or(database.map(str::to_owned))
                    .unwrap_or_else(|| EXTERNAL.into())
            }
            Some(AuthMechanism::MongoDbX509) => {
                check.username_not_empty()?;
                if check.password {
                    return Err(Error::invalid_argument(
                        "MONGODB-X509 does not take a password: the client certificate proves the \
                     identity; remove the password from the connection string (a password for \
                     an encrypted key goes in tlsCertificateKeyFilePassword)",
                    ));
                }
                check.no_properties()?;
                check.external_only(source)?
            }
            Some(AuthMechanism::Gssapi) => {
                check.username_required()?;
                check.allowed_properties(
                    &props,
                    &[
                        "SERVICE_NAME",
                        "CANONICALIZE_HOST_NAME",
                        "SERVICE_REALM",
                        "SERVICE_HOST",
                    ],
                )?;
                if let Some((_, value)) = props
                    .iter_mut()
                    .find(|(k, _)| k == "CANONICALIZE_HOST_NAME")
                {
                    *value = canonicalize_host_name(value, check.quote_properties)?;
                }
                if !props.iter().any(|(k, _)| k == "SERVICE_NAME") {
                    props.insert(0, ("SERVICE_NAME".into(), "mongodb".into()));
                }
                check.external_only(source)?
            }
            Some(AuthMechanism::MongoDbAws) => {
                check.username_not_empty()?;
                check.allowed_properties(&props, &["AWS_SESSION_TOKEN"])?;
                let token = props.iter().any(|(k, _)| k == "AWS_SESSION_TOKEN");
                match (username.is_some(), check.password) {
                    (true, true) => {}
                    (false, false) if !token => {}
                    _ => return Err(Error::invalid_argument(
                        "MONGODB-AWS needs the access key ID (user name) and the secret access \
                         key (password) together, optionally with AWS_SESSION_TOKEN, or none of \
                         them (credentials then come from the environment)",
                    )),
                }
                check.external_only(source)?
            }
            Some(AuthMechanism::MongoDbOidc) => {
                if check.password {
                    return Err(Error::invalid_argument(
                    "MONGODB-OIDC does not take a password; remove it from the connection string",
                ));
                }
                check.username_not_empty()?;
                oidc_properties(&check, &props)?;
                check.external_only(source)?
            }
        };
    let mechanism_properties = (!props.is_empty()).then(|| to_document(props));
    Ok(Some(Credential {
        username,
        source: Some(source),
        // Moved into the credential, which wipes it when dropped.
        password: password.map(|mut p| std::mem::take(&mut *p)),
        mechanism,
        mechanism_properties,
    }))
}

/// Property names are case-insensitive (Auth spec, "Naming"): upper-case them; the last of a
/// repeated name wins.
fn normalize(properties: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(properties.len());
    for (key, value) in properties {
        let key = key.to_ascii_uppercase();
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(existing) => existing.1 = value,
            None => out.push((key, value)),
        }
    }
    out
}

fn to_document(props: Vec<(String, String)>) -> Document {
    let mut doc = Document::new();
    for (key, value) in props {
        // CANONICALIZE_HOST_NAME keeps the legacy booleans as booleans, as the spec tests expect.
        let value = match (key.as_str(), value.as_str()) {
            ("CANONICALIZE_HOST_NAME", "true") => Bson::Boolean(true),
            ("CANONICALIZE_HOST_NAME", "false") => Bson::Boolean(false),
            _ => Bson::String(value),
        };
        doc.insert(key, value);
    }
    doc
}

/// A value for a message: quoted, or a placeholder when it may be part of a password.
fn shown(value: &str, quote: bool) -> String {
    if quote {
        format!("{value:?}")
    } else {
        "(not shown: it may be part of a password)".to_owned()
    }
}

fn canonicalize_host_name(value: &str, quote: bool) -> Result<String> {
    ["true", "false", "none", "forward", "forwardAndReverse"]
        .into_iter()
        .find(|v| v.eq_ignore_ascii_case(value))
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::invalid_argument(format!(
                "authMechanismProperties: CANONICALIZE_HOST_NAME:{} is invalid; expected \
                 none, forward, forwardAndReverse, true or false",
                shown(value, quote)
            ))
        })
}

fn oidc_properties(check: &Check<'_>, props: &[(String, String)]) -> Result<()> {
    if props.iter().any(|(k, _)| k == "ALLOWED_HOSTS") {
        return Err(Error::invalid_argument(
            "authMechanismProperties: ALLOWED_HOSTS cannot be set in a connection string (Auth \
             spec); set it in code",
        ));
    }
    check.allowed_properties(props, &["ENVIRONMENT", "TOKEN_RESOURCE"])?;
    let get = |name: &str| {
        props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(environment) = get("ENVIRONMENT") else {
        return Err(Error::invalid_argument(
            "MONGODB-OIDC needs authMechanismProperties=ENVIRONMENT:<azure|gcp|k8s|test> in a \
             connection string (a token callback can only be given in code)",
        ));
    };
    let needs_resource = match environment {
        "azure" | "gcp" => true,
        "test" | "k8s" => false,
        other => {
            return Err(Error::invalid_argument(format!(
                "authMechanismProperties: ENVIRONMENT:{} is not supported; expected \
                 azure, gcp, k8s or test",
                shown(other, check.quote_properties)
            )))
        }
    };
    match (needs_resource, get("TOKEN_RESOURCE").is_some()) {
        (true, false) => {
            return Err(Error::invalid_argument(format!(
                "MONGODB-OIDC with ENVIRONMENT:{environment} needs \
                 authMechanismProperties TOKEN_RESOURCE:<audience> (percent-encoded)"
            )))
        }
        (false, true) => {
            return Err(Error::invalid_argument(format!(
                "authMechanismProperties: TOKEN_RESOURCE is only used with ENVIRONMENT:azure or \
                 ENVIRONMENT:gcp, not ENVIRONMENT:{environment}; remove it"
            )))
        }
        _ => {}
    }
    // Only the Azure integration uses a user name (the managed identity's client ID).
    if check.username.is_some() && environment != "azure" {
        return Err(Error::invalid_argument(format!(
            "MONGODB-OIDC with ENVIRONMENT:{environment} does not take a user name; remove it \
             (only ENVIRONMENT:azure uses one, as the client ID)"
        )));
    }
    Ok(())
}

/// The facts the per-mechanism rules look at.
struct Check<'a> {
    name: &'a str,
    username: Option<&'a str>,
    password: bool,
    has_properties: bool,
    quote_source: bool,
    quote_properties: bool,
}

impl Check<'_> {
    fn username_required(&self) -> Result<()> {
        match self.username {
            Some(u) if !u.is_empty() => Ok(()),
            Some(_) => Err(Error::invalid_argument(format!(
                "{} needs a user name, but the user name before '@' is empty",
                self.name
            ))),
            None => Err(Error::invalid_argument(format!(
                "{} needs a user name: give it as user:password@host (percent-encoded)",
                self.name
            ))),
        }
    }

    /// Where the user name is optional, an `@` with nothing before it is still a mistake.
    fn username_not_empty(&self) -> Result<()> {
        match self.username {
            Some("") => Err(Error::invalid_argument(format!(
                "{}: the user name before '@' is empty; remove the '@' or give the user name",
                self.name
            ))),
            _ => Ok(()),
        }
    }

    fn no_properties(&self) -> Result<()> {
        if self.has_properties {
            return Err(Error::invalid_argument(format!(
                "{} takes no authMechanismProperties; remove the option",
                self.name
            )));
        }
        Ok(())
    }

    fn allowed_properties(&self, props: &[(String, String)], allowed: &[&str]) -> Result<()> {
        match props.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((key, _)) => Err(Error::invalid_argument(format!(
                "authMechanismProperties: {} is not a property of {}; expected {}",
                if self.quote_properties {
                    key.as_str()
                } else {
                    "a property (not shown: it may be part of a password)"
                },
                self.name,
                allowed.join(", ")
            ))),
            None => Ok(()),
        }
    }

    fn external_only(&self, source: Option<String>) -> Result<String> {
        match source {
            None => Ok(EXTERNAL.into()),
            Some(s) if s == EXTERNAL => Ok(s),
            Some(s) => Err(Error::invalid_argument(format!(
                "authSource={} is invalid for {}: its source is always $external; remove \
                 authSource",
                shown(&s, self.quote_source),
                self.name
            ))),
        }
    }
}
