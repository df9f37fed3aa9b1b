//! The userinfo part (`user:password@`). Error messages never quote it: it holds a password.

use zeroize::Zeroizing;

use super::decode::decode;
use crate::error::{Error, Result};

/// A user name and, when a `:` was present, a password (possibly empty).
pub(super) struct UserInfo {
    pub(super) username: String,
    /// Wiped when dropped, on error paths too.
    pub(super) password: Option<Zeroizing<String>>,
}

const HINT: &str = "percent-encode the user name and password (e.g. '@' as %40, ':' as %3A, \
                    '/' as %2F, '%' as %25, space as %20)";

/// Splits and percent-decodes userinfo, refusing what the Connection String spec refuses:
/// an unescaped `@`, more than one `:`, a `%` that is not an escape, and characters that
/// RFC 3986 does not allow in userinfo.
pub(super) fn parse_userinfo(raw: &str) -> Result<UserInfo> {
    if raw.contains('@') {
        return Err(fail("the user name or password contains an unescaped '@'"));
    }
    if raw.matches(':').count() > 1 {
        return Err(fail("the user name or password contains an unescaped ':'"));
    }
    // RFC 3986 3.2.1: userinfo = *( unreserved / pct-encoded / sub-delims / ":" )
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.'
                    | '_'
                    | '~'
                    | '%'
                    | ':'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
            )
    };
    if !raw.chars().all(allowed) {
        return Err(fail(
            "the user name or password contains a character that must be percent-encoded \
             (a space, a non-ASCII character, or one of \"#?[]<>\\^`{|})",
        ));
    }
    let (user, password) = match raw.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (raw, None),
    };
    let username = decode(user).map_err(|e| {
        fail(&format!(
            "the user name cannot be decoded: {}",
            e.describe()
        ))
    })?;
    let password = password
        .map(|p| {
            decode(p)
                .map(Zeroizing::new)
                .map_err(|e| fail(&format!("the password cannot be decoded: {}", e.describe())))
        })
        .transpose()?;
    Ok(UserInfo { username, password })
}

fn fail(what: &str) -> Error {
    Error::invalid_argument(format!("connection string: {what}; {HINT}"))
}
