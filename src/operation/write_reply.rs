//! Write command replies (`insert`, `update`, `delete`): counts, upserted ids, write errors and
//! the write concern error, with every index checked against the batch that was sent.

use bson::{Bson, Document, RawDocument};

use super::{bson_u64, reply_count};
use crate::error::{Error, ErrorKind, Result, WriteConcernError, WriteError};

/// The counts and errors in a write command's reply.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct WriteReply {
    pub(crate) n: u64,
    pub(crate) n_modified: u64,
    /// (index in the whole input, `_id`).
    pub(crate) upserted: Vec<(usize, Bson)>,
    pub(crate) write_errors: Vec<WriteError>,
    pub(crate) write_concern_error: Option<String>,
    /// The same, typed (bulk writes report them so).
    pub(crate) write_concern_error_detail: Option<WriteConcernError>,
}

/// An index from a reply, which must name one of the `sent` statements; shifted by `offset`
/// (the batch's position in the whole input).
fn index(entry: &Document, sent: usize, offset: usize, what: &str) -> Result<usize> {
    entry
        .get("index")
        .and_then(bson_u64)
        .and_then(|i| usize::try_from(i).ok())
        .filter(|i| *i < sent)
        .and_then(|i| i.checked_add(offset))
        .ok_or_else(|| {
            Error::invalid_response(format!(
                "{what}: index {:?} is not one of the {sent} statement(s) sent",
                entry.get("index")
            ))
        })
}

fn entries<'a>(
    reply: &'a Document,
    key: &str,
) -> Result<impl Iterator<Item = Result<&'a Document>>> {
    let array: &[Bson] = match reply.get(key) {
        None => &[],
        Some(Bson::Array(a)) => a,
        Some(_) => {
            return Err(Error::invalid_response(format!(
                "write reply: {key} is not an array"
            )))
        }
    };
    let key = key.to_owned();
    Ok(array.iter().map(move |b| match b {
        Bson::Document(d) => Ok(d),
        _ => Err(Error::invalid_response(format!(
            "write reply: {key} holds a non-document"
        ))),
    }))
}

pub(crate) fn code(d: &Document) -> i32 {
    match d.get("code") {
        Some(Bson::Int32(c)) => *c,
        Some(Bson::Int64(c)) => i32::try_from(*c).unwrap_or(0),
        _ => 0,
    }
}

/// Reads a write reply for a batch of `sent` statements that starts at `offset` in the input.
/// The counts are read raw; only the rare parts (upserted ids, errors) are decoded.
pub(crate) fn parse(reply: &RawDocument, sent: usize, offset: usize) -> Result<WriteReply> {
    let invalid = |e: bson::raw::Error| Error::invalid_response(format!("write reply: {e}"));
    let mut rest = Document::new();
    for element in reply {
        let (key, value) = element.map_err(invalid)?;
        if matches!(key, "upserted" | "writeErrors" | "writeConcernError") {
            rest.insert(key, Bson::try_from(value).map_err(invalid)?);
        }
    }
    let mut r = WriteReply {
        n: reply_count(reply, "n", "write")?,
        n_modified: reply_count(reply, "nModified", "write")?,
        ..WriteReply::default()
    };
    let reply = &rest;
    for u in entries(reply, "upserted")? {
        let u = u?;
        let idx = index(u, sent, offset, "upserted")?;
        let id = u
            .get("_id")
            .ok_or_else(|| Error::invalid_response("upserted: an entry has no _id"))?;
        r.upserted.push((idx, id.clone()));
    }
    for e in entries(reply, "writeErrors")? {
        let e = e?;
        r.write_errors
            .push(write_error(e, index(e, sent, offset, "writeErrors")?));
    }
    r.write_concern_error = write_concern_error(reply)?;
    r.write_concern_error_detail = typed_write_concern_error(reply)?;
    Ok(r)
}

/// The reply to a command of one statement (`update_one`, `delete_many`, …): its counts and
/// upserted id, or its write error or write concern error as an [`ErrorKind::Write`].
pub(crate) fn parse_one(reply: &RawDocument) -> Result<WriteReply> {
    let mut r = parse(reply, 1, 0)?;
    let write_errors = std::mem::take(&mut r.write_errors);
    write_result(write_errors, r.write_concern_error.take(), 1)?;
    Ok(r)
}

/// What every error entry of a reply says: `code`, `codeName`, `errmsg` and `errInfo`.
fn error_parts(d: &Document) -> WriteConcernError {
    WriteConcernError {
        code: code(d),
        code_name: d.get_str("codeName").unwrap_or_default().to_owned(),
        message: d.get_str("errmsg").unwrap_or("no message").to_owned(),
        details: d.get_document("errInfo").ok().cloned(),
    }
}

/// A write error entry (`writeErrors` of a write reply, a failed `bulkWrite` result) for the
/// write at `index` of the whole input.
pub(crate) fn write_error(d: &Document, index: usize) -> WriteError {
    let WriteConcernError {
        code,
        code_name,
        message,
        details,
    } = error_parts(d);
    WriteError {
        index,
        code,
        message,
        code_name,
        details,
    }
}

/// `writeConcernError` as its parts, when present.
pub(crate) fn typed_write_concern_error(reply: &Document) -> Result<Option<WriteConcernError>> {
    match reply.get("writeConcernError") {
        None => Ok(None),
        Some(Bson::Document(wce)) => Ok(Some(error_parts(wce))),
        Some(_) => Err(Error::invalid_response(
            "write reply: writeConcernError is not a document",
        )),
    }
}

/// `writeConcernError` in words, when present.
pub(crate) fn write_concern_error(reply: &Document) -> Result<Option<String>> {
    match reply.get("writeConcernError") {
        None => Ok(None),
        Some(Bson::Document(wce)) => {
            let msg = wce.get_str("errmsg").unwrap_or("no message");
            Ok(Some(format!("{msg} (code {})", code(wce))))
        }
        Some(_) => Err(Error::invalid_response(
            "write reply: writeConcernError is not a document",
        )),
    }
}

/// The indexes in `offset..offset + taken` of the statements applied: all but those that
/// failed, and, ordered, none after the first that failed (the server stopped there).
pub(crate) fn applied(
    offset: usize,
    taken: usize,
    write_errors: &[WriteError],
    ordered: bool,
) -> impl Iterator<Item = usize> + '_ {
    let first_error = write_errors.iter().map(|e| e.index).min();
    (offset..offset + taken)
        .filter(|i| !write_errors.iter().any(|e| e.index == *i))
        .filter(move |i| !(ordered && first_error.is_some_and(|f| *i > f)))
}

/// An [`ErrorKind::Write`] for the errors collected, or `Ok` when there are none.
pub(crate) fn write_result(
    write_errors: Vec<WriteError>,
    write_concern_error: Option<String>,
    total: usize,
) -> Result<()> {
    if write_errors.is_empty() && write_concern_error.is_none() {
        return Ok(());
    }
    let message = match (write_errors.first(), &write_concern_error) {
        (Some(first), _) => format!(
            "{} of {total} write(s) failed; first at index {}: {} (code {})",
            write_errors.len(),
            first.index,
            first.message,
            first.code
        ),
        (None, Some(wce)) => format!("write concern error: {wce}"),
        (None, None) => String::new(),
    };
    Err(Error::new(ErrorKind::Write {
        message,
        write_errors,
        write_concern_error,
        inserted_ids: Default::default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::is_invalid_response;
    use crate::operation::test_util::raw;
    use bson::doc;

    #[test]
    fn write_errors_are_reported_with_shifted_indexes() {
        let reply = doc! {
            "ok": 1, "n": 1,
            "writeErrors": [ { "index": 1, "code": 11000, "errmsg": "E11000 duplicate key" } ],
            "writeConcernError": { "code": 64, "errmsg": "waiting for replication timed out" },
        };
        let r = parse(&raw(&reply), 2, 100).unwrap();
        assert_eq!(r.n, 1);
        assert_eq!(r.write_errors[0].index, 101);
        let err = write_result(r.write_errors, r.write_concern_error, 2).unwrap_err();
        match &*err.kind {
            ErrorKind::Write {
                message,
                write_errors,
                write_concern_error,
                ..
            } => {
                assert!(message.contains("E11000"), "{message}");
                assert_eq!(write_errors.len(), 1);
                assert!(write_concern_error.as_deref().unwrap().contains("code 64"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upserted_ids_are_read() {
        let oid = bson::oid::ObjectId::new();
        let r = parse(
            &raw(&doc! { "ok": 1, "n": 1, "nModified": 0, "upserted": [ { "index": 0, "_id": oid } ] }),
            1,
            0,
        )
        .unwrap();
        assert_eq!(r.upserted, vec![(0, Bson::ObjectId(oid))]);
        assert!(write_result(r.write_errors, r.write_concern_error, 1).is_ok());
    }

    #[test]
    fn indexes_outside_the_batch_are_invalid_responses() {
        for index in [
            Bson::Int32(2),
            Bson::Int32(-1),
            Bson::Int64(i64::MAX),
            Bson::Double(0.5),
        ] {
            let reply = doc! { "ok": 1, "writeErrors": [ { "index": index.clone(), "code": 1 } ] };
            let err = parse(&raw(&reply), 2, usize::MAX - 1).unwrap_err();
            assert!(is_invalid_response(&err), "{index}: {err}");
        }
        // A valid index whose shifted value would overflow is refused too.
        let reply = doc! { "ok": 1, "writeErrors": [ { "index": 1, "code": 1 } ] };
        assert!(parse(&raw(&reply), 2, usize::MAX).is_err());
        let reply = doc! { "ok": 1, "upserted": [ { "index": 5, "_id": 1 } ] };
        assert!(is_invalid_response(&parse(&raw(&reply), 1, 0).unwrap_err()));
    }

    #[test]
    fn malformed_write_replies_are_invalid_responses() {
        for reply in [
            doc! { "ok": 1, "n": "one" },
            doc! { "ok": 1, "n": -1 },
            doc! { "ok": 1, "writeErrors": { "index": 0 } },
            doc! { "ok": 1, "writeErrors": [ 3 ] },
            doc! { "ok": 1, "writeErrors": [ { "code": 1 } ] },
            doc! { "ok": 1, "upserted": [ { "index": 0 } ] },
            doc! { "ok": 1, "writeConcernError": "bad" },
        ] {
            let err = parse(&raw(&reply), 1, 0).unwrap_err();
            assert!(is_invalid_response(&err), "{reply}: {err}");
        }
    }
}
