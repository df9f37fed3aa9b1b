//! `expectError`: what the runner reads from an error ([`ErrorFacts`], from the crate's
//! [`Error`]), and the pure check of those facts against the expectation.

use bson::{Bson, Document};
use mongo_x509::error::{Error, ErrorKind};

use super::matching::{match_root, MatchCtx};
use super::spec::ExpectedError;

/// What `expectError` can assert about an error.
#[derive(Clone, Debug, Default)]
pub struct ErrorFacts {
    /// The error's text (`errorContains`).
    pub message: String,
    /// It came from a server's reply (not `isClientError`).
    pub from_server: bool,
    /// A `timeoutMS` expiry (`isTimeoutError`).
    pub timeout: bool,
    /// Server error codes it carries (the command's, a write error's, a write concern
    /// error's).
    pub codes: Vec<i32>,
    /// Their code names.
    pub code_names: Vec<String>,
    pub labels: Vec<String>,
    /// The server's reply, when the error keeps it (`errorResponse`).
    pub response: Option<Document>,
    /// Write errors by index (`writeErrors`), as documents (`code`, `codeName`, `errmsg`, …).
    pub write_errors: Option<Document>,
    /// Write concern errors, in order (`writeConcernErrors`).
    pub write_concern_errors: Option<Vec<Document>>,
    /// A partial result carried by the error (bulk writes), as a document.
    pub partial_result: Option<Bson>,
}

/// Reads the facts from one of the crate's errors.
pub fn facts(e: &Error) -> ErrorFacts {
    let mut f = ErrorFacts {
        message: e.to_string(),
        labels: e.labels().to_vec(),
        response: e.server_response().cloned(),
        ..Default::default()
    };
    match &*e.kind {
        ErrorKind::Command {
            code, code_name, ..
        } => {
            f.from_server = true;
            f.codes.push(*code);
            if !code_name.is_empty() {
                f.code_names.push(code_name.clone());
            }
        }
        ErrorKind::Write {
            write_errors,
            write_concern_error,
            inserted_ids,
            ..
        } => {
            f.from_server = true;
            // insert_many's partial result, in the shape of a bulk write's (the CRUD
            // spec lets insertMany be a bulk write); other writes insert nothing.
            if !inserted_ids.is_empty() {
                let mut ids: Vec<_> = inserted_ids.iter().collect();
                ids.sort_by_key(|(i, _)| **i);
                let ids: bson::Document = ids
                    .into_iter()
                    .map(|(i, id)| (i.to_string(), id.clone()))
                    .collect();
                f.partial_result = Some(Bson::Document(bson::doc! {
                    "insertedCount": ids.len() as i64, "insertedIds": ids,
                    "matchedCount": 0_i64, "modifiedCount": 0_i64, "deletedCount": 0_i64,
                    "upsertedCount": 0_i64, "upsertedIds": {},
                }));
            }
            f.codes.extend(write_errors.iter().map(|w| w.code));
            f.code_names.extend(
                write_errors
                    .iter()
                    .filter(|w| !w.code_name.is_empty())
                    .map(|w| w.code_name.clone()),
            );
            if let Some(wce) = write_concern_error {
                // The crate keeps a write concern error as text: "<message> (code N)".
                if let Some(code) = wce
                    .rsplit_once("(code ")
                    .and_then(|(_, rest)| rest.trim_end_matches(')').parse().ok())
                {
                    f.codes.push(code);
                }
            }
        }
        ErrorKind::BulkWrite(b) => {
            // The top-level error that stopped it, if any, then each write's and each write
            // concern error's (the format: a match in any of them satisfies the assertion).
            if let Some(inner) = &b.error {
                let i = facts(inner);
                f.from_server = i.from_server;
                f.timeout = i.timeout;
                f.codes = i.codes;
                f.code_names = i.code_names;
                f.labels.extend(i.labels);
                f.response = i.response;
            } else {
                f.from_server = true;
            }
            let mut write_errors = Document::new();
            let mut by_index: Vec<_> = b.write_errors.iter().collect();
            by_index.sort_by_key(|(i, _)| **i);
            for (i, w) in by_index {
                f.codes.push(w.code);
                if !w.code_name.is_empty() {
                    f.code_names.push(w.code_name.clone());
                }
                let mut d = bson::doc! {"code": w.code, "message": &w.message};
                if !w.code_name.is_empty() {
                    d.insert("codeName", &w.code_name);
                }
                if let Some(details) = &w.details {
                    d.insert("details", details.clone());
                }
                write_errors.insert(i.to_string(), d);
            }
            f.write_errors = Some(write_errors);
            let mut wces = Vec::new();
            for w in &b.write_concern_errors {
                f.codes.push(w.code);
                if !w.code_name.is_empty() {
                    f.code_names.push(w.code_name.clone());
                }
                let mut d = bson::doc! {"code": w.code, "message": &w.message};
                if !w.code_name.is_empty() {
                    d.insert("codeName", &w.code_name);
                }
                if let Some(details) = &w.details {
                    d.insert("details", details.clone());
                }
                wces.push(d);
            }
            f.write_concern_errors = Some(wces);
            f.partial_result = b
                .partial_result
                .as_ref()
                .map(super::ops::bulk::partial_result);
        }
        ErrorKind::WriteConcern {
            code, code_name, ..
        } => {
            f.from_server = true;
            f.codes.push(*code);
            if !code_name.is_empty() {
                f.code_names.push(code_name.clone());
            }
        }
        ErrorKind::Authentication { code: Some(c), .. } => {
            f.from_server = true;
            f.codes.push(*c);
        }
        ErrorKind::OperationTimeout { .. } => f.timeout = true,
        _ => {}
    }
    f
}

/// Checks an error's facts against `expectError`.
pub fn check(expected: &ExpectedError, f: &ErrorFacts, ctx: &MatchCtx) -> Result<(), String> {
    let what = || format!("the error was: {}", f.message);
    if expected.is_error == Some(false) {
        return Err("expectError.isError must not be false".into());
    }
    if let Some(client) = expected.is_client_error {
        if client == f.from_server {
            return Err(format!(
                "expected a {} error; {}",
                if client { "client" } else { "server" },
                what()
            ));
        }
    }
    if let Some(timeout) = expected.is_timeout_error {
        if timeout != f.timeout {
            return Err(format!(
                "expected {}a timeout error (timeoutMS); {}",
                if timeout { "" } else { "not " },
                what()
            ));
        }
    }
    if let Some(s) = &expected.error_contains {
        if !f.message.to_lowercase().contains(&s.to_lowercase()) {
            return Err(format!("expected the error to contain {s:?}; {}", what()));
        }
    }
    if let Some(code) = expected.error_code {
        if !f.codes.contains(&code) {
            return Err(format!(
                "expected error code {code}, the error has {:?}; {}",
                f.codes,
                what()
            ));
        }
    }
    if let Some(name) = &expected.error_code_name {
        if !f.code_names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(format!(
                "expected code name {name}, the error has {:?}; {}",
                f.code_names,
                what()
            ));
        }
    }
    for l in expected.error_labels_contain.iter().flatten() {
        if !f.labels.contains(l) {
            return Err(format!(
                "expected label {l}, the error has {:?}; {}",
                f.labels,
                what()
            ));
        }
    }
    for l in expected.error_labels_omit.iter().flatten() {
        if f.labels.contains(l) {
            return Err(format!("expected no label {l}; {}", what()));
        }
    }
    if let Some(exp) = &expected.error_response {
        let Some(resp) = &f.response else {
            return Err(format!(
                "errorResponse: the error does not carry the server's reply; {}",
                what()
            ));
        };
        match_root(
            &Bson::Document(exp.clone()),
            Some(&Bson::Document(resp.clone())),
            ctx,
        )
        .map_err(|e| format!("errorResponse: {e}"))?;
    }
    if let Some(exp) = &expected.write_errors {
        let Some(actual) = &f.write_errors else {
            return Err(format!("writeErrors: the error carries none; {}", what()));
        };
        for (k, v) in exp {
            match_root(v, actual.get(k), ctx).map_err(|e| format!("writeErrors.{k}: {e}"))?;
        }
        if let Some(extra) = actual.keys().find(|k| !exp.contains_key(*k)) {
            return Err(format!(
                "writeErrors: unexpected write error at index {extra}"
            ));
        }
    }
    if let Some(exp) = &expected.write_concern_errors {
        let actual = f.write_concern_errors.clone().unwrap_or_default();
        if actual.len() != exp.len() {
            return Err(format!(
                "writeConcernErrors: expected {}, got {}; {}",
                exp.len(),
                actual.len(),
                what()
            ));
        }
        for (i, (e, a)) in exp.iter().zip(&actual).enumerate() {
            match_root(
                &Bson::Document(e.clone()),
                Some(&Bson::Document(a.clone())),
                ctx,
            )
            .map_err(|m| format!("writeConcernErrors[{i}]: {m}"))?;
        }
    }
    if let Some(exp) = &expected.expect_result {
        match_root(exp, f.partial_result.as_ref(), ctx)
            .map_err(|e| format!("expectError.expectResult (the partial result): {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn server_error() -> ErrorFacts {
        ErrorFacts {
            message: "command failed: DuplicateKey (11000): E11000 duplicate key".into(),
            from_server: true,
            codes: vec![11000],
            code_names: vec!["DuplicateKey".into()],
            labels: vec!["RetryableWriteError".into()],
            response: Some(doc! {"ok": 0, "code": 11000, "errmsg": "E11000"}),
            ..Default::default()
        }
    }

    fn expect(d: Document) -> ExpectedError {
        bson::from_document(d).unwrap()
    }

    #[test]
    fn each_assertion() {
        let ctx = MatchCtx::empty();
        let f = server_error();
        for ok in [
            doc! {"isError": true},
            doc! {"isClientError": false},
            doc! {"isTimeoutError": false},
            doc! {"errorContains": "e11000 DUPLICATE"},
            doc! {"errorCode": 11000},
            doc! {"errorCodeName": "duplicatekey"},
            doc! {"errorLabelsContain": ["RetryableWriteError"]},
            doc! {"errorLabelsOmit": ["TransientTransactionError"]},
            doc! {"errorResponse": {"code": 11000}},
        ] {
            check(&expect(ok.clone()), &f, &ctx).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            doc! {"isClientError": true},
            doc! {"isTimeoutError": true},
            doc! {"errorContains": "nope"},
            doc! {"errorCode": 11001},
            doc! {"errorCodeName": "Other"},
            doc! {"errorLabelsContain": ["TransientTransactionError"]},
            doc! {"errorLabelsOmit": ["RetryableWriteError"]},
            doc! {"errorResponse": {"code": 1}},
            doc! {"expectResult": {"insertedCount": 1}},
        ] {
            assert!(check(&expect(bad.clone()), &f, &ctx).is_err(), "{bad}");
        }
        // A client error: no reply to match.
        let c = ErrorFacts {
            message: "I/O error: connection reset".into(),
            ..Default::default()
        };
        check(&expect(doc! {"isClientError": true}), &c, &ctx).unwrap();
        assert!(check(&expect(doc! {"errorResponse": {}}), &c, &ctx).is_err());
    }

    #[test]
    fn crate_errors_become_facts() {
        let e = Error::new(ErrorKind::Command {
            code: 91,
            code_name: "ShutdownInProgress".into(),
            message: "shutting down".into(),
        });
        let f = facts(&e);
        assert!(f.from_server && !f.timeout);
        assert_eq!(
            (f.codes, f.code_names),
            (vec![91], vec!["ShutdownInProgress".to_string()])
        );
        let t = facts(&Error::new(ErrorKind::OperationTimeout {
            message: "x".into(),
        }));
        assert!(t.timeout && !t.from_server);
        let io = facts(&Error::from(std::io::Error::other("reset")));
        assert!(!io.from_server);
    }
}
