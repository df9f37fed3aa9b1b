//! [`ServerApi`]: the Stable API version a client declares, sent with every command.

use bson::Document;
use typed_builder::TypedBuilder;

/// The Stable API versions this crate knows. More may be added in minor releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerApiVersion {
    /// Version 1.
    V1,
}

impl ServerApiVersion {
    /// The version as the server spells it (`apiVersion`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ServerApiVersion::V1 => "1",
        }
    }
}

/// A declared Stable API version ([`ClientOptions::server_api`](super::ClientOptions)): every
/// command the client sends carries it as `apiVersion`, with `apiStrict` and
/// `apiDeprecationErrors` when set, the handshake's `hello`, cursors' `getMore`s and
/// [`Database::run_command`](crate::Database::run_command) included (put no API fields in a
/// command given to `run_command`: what then happens is undefined). The server then behaves
/// as that API version says, whatever its release.
///
/// Declared in code only, as the Stable API specification requires (no connection string
/// option), and for the whole client: databases, collections and operations cannot change it.
///
/// ```
/// use mongo_x509::options::{ClientOptions, ServerApi, ServerApiVersion};
/// let mut options = ClientOptions::default();
/// options.server_api = Some(
///     ServerApi::builder()
///         .version(ServerApiVersion::V1)
///         .strict(true)
///         .deprecation_errors(true)
///         .build(),
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct ServerApi {
    /// The declared version.
    #[builder(!default, setter(!strip_option))]
    pub version: ServerApiVersion,
    /// `apiStrict`: the server refuses commands and options outside the declared version.
    /// Sent only when set (the server's default is false).
    pub strict: Option<bool>,
    /// `apiDeprecationErrors`: the server refuses what the declared version deprecates.
    /// Sent only when set (the server's default is false).
    pub deprecation_errors: Option<bool>,
}

impl ServerApi {
    /// Adds `apiVersion`, and `apiStrict` and `apiDeprecationErrors` when set, to a command.
    /// (Every command takes them: `getMore` and the commands of a transaction too.)
    pub(crate) fn append_to(&self, cmd: &mut Document) {
        cmd.insert("apiVersion", self.version.as_str());
        if let Some(strict) = self.strict {
            cmd.insert("apiStrict", strict);
        }
        if let Some(errors) = self.deprecation_errors {
            cmd.insert("apiDeprecationErrors", errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn only_what_is_set_is_sent() {
        let mut cmd = doc! { "find": "c" };
        ServerApi::builder()
            .version(ServerApiVersion::V1)
            .build()
            .append_to(&mut cmd);
        assert_eq!(cmd, doc! { "find": "c", "apiVersion": "1" });
        let mut cmd = doc! { "getMore": 1_i64 };
        ServerApi::builder()
            .version(ServerApiVersion::V1)
            .strict(false)
            .deprecation_errors(true)
            .build()
            .append_to(&mut cmd);
        assert_eq!(
            cmd,
            doc! { "getMore": 1_i64, "apiVersion": "1", "apiStrict": false, "apiDeprecationErrors": true }
        );
    }
}
