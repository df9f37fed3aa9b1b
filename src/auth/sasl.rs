//! The SASL commands every SASL mechanism runs (`saslStart`, `saslContinue`) and their replies.

use base64ct::{Base64, Encoding};
use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, Document};

/// `{saslStart: 1, mechanism, payload}`, with `options: {skipEmptyExchange: true}` when asked
/// (SCRAM: the server then ends the conversation with its signature) and `db` for a
/// `speculativeAuthenticate` (whose `hello` runs on `admin`).
pub(crate) fn start_command(
    mechanism: &str,
    payload: Vec<u8>,
    skip_empty_exchange: bool,
    db: Option<&str>,
) -> Document {
    let mut cmd = doc! {
        "saslStart": 1,
        "mechanism": mechanism,
        "payload": binary(payload),
    };
    if skip_empty_exchange {
        cmd.insert("options", doc! { "skipEmptyExchange": true });
    }
    if let Some(db) = db {
        cmd.insert("db", db);
    }
    cmd
}

/// `{saslContinue: 1, conversationId, payload}`.
pub(crate) fn continue_command(conversation_id: &Bson, payload: Vec<u8>) -> Document {
    doc! {
        "saslContinue": 1,
        "conversationId": conversation_id.clone(),
        "payload": binary(payload),
    }
}

fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    })
}

/// A `saslStart`/`saslContinue` reply (already known to have `ok: 1`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SaslReply {
    /// Sent back as it came (servers use int32; some int64).
    pub(crate) conversation_id: Bson,
    pub(crate) payload: Vec<u8>,
    pub(crate) done: bool,
}

/// Reads a reply; `Err` says what is missing or mistyped.
pub(crate) fn parse_reply(reply: &Document) -> Result<SaslReply, String> {
    // The field `key`, read by `read` (`None`: mistyped, which `should_be` describes).
    fn field<T>(
        reply: &Document,
        key: &str,
        should_be: &str,
        read: impl FnOnce(&Bson) -> Option<Result<T, String>>,
    ) -> Result<T, String> {
        let value = reply
            .get(key)
            .ok_or_else(|| format!("the reply has no {key}"))?;
        read(value).unwrap_or_else(|| {
            Err(format!(
                "{key} should be {should_be}, got {:?}",
                value.element_type()
            ))
        })
    }
    let conversation_id = field(reply, "conversationId", "an integer", |b| match b {
        Bson::Int32(_) | Bson::Int64(_) => Some(Ok(b.clone())),
        _ => None,
    })?;
    let payload = field(reply, "payload", "binary", |b| match b {
        Bson::Binary(b) => Some(Ok(b.bytes.clone())),
        // The specification allows a base64 string too.
        Bson::String(s) => {
            Some(Base64::decode_vec(s).map_err(|_| "the payload string is not base64".to_owned()))
        }
        _ => None,
    })?;
    let done = field(reply, "done", "a boolean", |b| match b {
        Bson::Boolean(b) => Some(Ok(*b)),
        _ => None,
    })?;
    Ok(SaslReply {
        conversation_id,
        payload,
        done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_as_the_specification_shows() {
        let start = start_command("SCRAM-SHA-1", b"n,,n=user,r=abc".to_vec(), true, None);
        assert_eq!(
            start,
            doc! {
                "saslStart": 1, "mechanism": "SCRAM-SHA-1",
                "payload": binary(b"n,,n=user,r=abc".to_vec()),
                "options": {"skipEmptyExchange": true},
            }
        );
        let plain = start_command("PLAIN", b"\0u\0p".to_vec(), false, Some("$external"));
        assert!(!plain.contains_key("options"));
        assert_eq!(plain.get_str("db").unwrap(), "$external");
        assert_eq!(
            continue_command(&Bson::Int32(7), Vec::new()),
            doc! {"saslContinue": 1, "conversationId": 7, "payload": binary(Vec::new())}
        );
    }

    #[test]
    fn replies_are_read_and_checked() {
        let r = parse_reply(
            &doc! {"conversationId": 1, "payload": binary(b"x".to_vec()), "done": false, "ok": 1},
        )
        .unwrap();
        assert_eq!(r.conversation_id, Bson::Int32(1));
        assert_eq!(r.payload, b"x");
        assert!(!r.done);
        let r =
            parse_reply(&doc! {"conversationId": 2i64, "payload": "eA==", "done": true}).unwrap();
        assert_eq!(r.payload, b"x");
        assert!(r.done);
        for bad in [
            doc! {"payload": binary(vec![]), "done": true},
            doc! {"conversationId": "1", "payload": binary(vec![]), "done": true},
            doc! {"conversationId": 1, "done": true},
            doc! {"conversationId": 1, "payload": 5, "done": true},
            doc! {"conversationId": 1, "payload": "not base64!", "done": true},
            doc! {"conversationId": 1, "payload": binary(vec![])},
            doc! {"conversationId": 1, "payload": binary(vec![]), "done": 1},
        ] {
            assert!(parse_reply(&bad).is_err(), "{bad}");
        }
    }
}
