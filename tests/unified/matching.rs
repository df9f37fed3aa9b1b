//! "Evaluating Matches" of the Unified Test Format: whether an actual value matches an expected
//! one. Pure functions over BSON; entities come in through [`MatchCtx`].
//!
//! Rules: documents match key by key in any order; a root-level document may have extra keys,
//! a nested one may not; arrays have the same length and match element by element; numbers
//! (int, long, double) match by value; `$$`-operators replace a value.

use bson::{Bson, Document};

/// What matching may need from the entity map.
pub trait Entities {
    /// A BSON entity by name (`$$matchesEntity`).
    fn bson(&self, id: &str) -> Option<Bson>;
    /// A session entity's `lsid` by name (`$$sessionLsid`).
    fn lsid(&self, id: &str) -> Option<Document>;
}

/// No entities at all.
pub struct NoEntities;

impl Entities for NoEntities {
    fn bson(&self, _: &str) -> Option<Bson> {
        None
    }
    fn lsid(&self, _: &str) -> Option<Document> {
        None
    }
}

/// The context of a match: the entities it may refer to.
#[derive(Clone, Copy)]
pub struct MatchCtx<'a> {
    pub entities: &'a (dyn Entities + Sync),
}

impl MatchCtx<'static> {
    /// A context without entities (unit tests, outcome checks).
    pub fn empty() -> Self {
        MatchCtx {
            entities: &NoEntities,
        }
    }
}

/// Matches `actual` against `expected` as a root-level value (extra keys allowed in a
/// document). `actual` is `None` when there is no value at all (an operation that returned
/// nothing).
pub fn match_root(expected: &Bson, actual: Option<&Bson>, ctx: &MatchCtx) -> Result<(), String> {
    matches(expected, actual, true, "", ctx)
}

/// Matches a nested value (no extra keys in documents), e.g. the result of `distinct`.
pub fn match_value(expected: &Bson, actual: Option<&Bson>, ctx: &MatchCtx) -> Result<(), String> {
    matches(expected, actual, false, "", ctx)
}

/// Matches an iterated result: same length, each element a root-level document.
pub fn match_root_list(expected: &Bson, actual: &[Bson], ctx: &MatchCtx) -> Result<(), String> {
    if let Some(op) = operator(expected) {
        // e.g. `{$$unsetOrMatches: [...]}` around the whole list.
        let list = Bson::Array(actual.to_vec());
        return apply_operator(op, Some(&list), true, "", ctx);
    }
    let Bson::Array(exp) = expected else {
        return Err(format!(
            "expected {}, got a list of {} documents",
            show(expected),
            actual.len()
        ));
    };
    if exp.len() != actual.len() {
        return Err(format!(
            "expected {} results, got {}: {}",
            exp.len(),
            actual.len(),
            show(&Bson::Array(actual.to_vec()))
        ));
    }
    for (i, (e, a)) in exp.iter().zip(actual).enumerate() {
        matches(e, Some(a), true, &format!("[{i}]"), ctx)?;
    }
    Ok(())
}

/// The operator of `{$$op: arg}` (a document whose first and only key starts with `$$`).
pub fn operator(v: &Bson) -> Option<(&str, &Bson)> {
    match v {
        Bson::Document(d) if d.len() == 1 => {
            let (k, arg) = d.iter().next()?;
            k.starts_with("$$").then_some((k.as_str(), arg))
        }
        _ => None,
    }
}

fn matches(
    expected: &Bson,
    actual: Option<&Bson>,
    root: bool,
    path: &str,
    ctx: &MatchCtx,
) -> Result<(), String> {
    if let Some(op) = operator(expected) {
        return apply_operator(op, actual, root, path, ctx);
    }
    let Some(actual) = actual else {
        return Err(format!(
            "{}: expected {}, got nothing",
            at(path),
            show(expected)
        ));
    };
    match expected {
        Bson::Document(exp) => {
            let Bson::Document(act) = actual else {
                return Err(format!(
                    "{}: expected a document {}, got {}",
                    at(path),
                    show(expected),
                    show(actual)
                ));
            };
            for (k, v) in exp {
                matches(v, act.get(k), false, &format!("{path}.{k}"), ctx)?;
            }
            if !root {
                if let Some(extra) = act.keys().find(|k| !exp.contains_key(*k)) {
                    return Err(format!(
                        "{}: unexpected key {extra:?} in {} (expected {})",
                        at(path),
                        show(actual),
                        show(expected)
                    ));
                }
            }
            Ok(())
        }
        Bson::Array(exp) => {
            let Bson::Array(act) = actual else {
                return Err(format!(
                    "{}: expected an array {}, got {}",
                    at(path),
                    show(expected),
                    show(actual)
                ));
            };
            if exp.len() != act.len() {
                return Err(format!(
                    "{}: expected {} elements {}, got {} {}",
                    at(path),
                    exp.len(),
                    show(expected),
                    act.len(),
                    show(actual)
                ));
            }
            for (i, (e, a)) in exp.iter().zip(act).enumerate() {
                matches(e, Some(a), false, &format!("{path}[{i}]"), ctx)?;
            }
            Ok(())
        }
        _ => {
            if scalar_eq(expected, actual) {
                Ok(())
            } else {
                Err(format!(
                    "{}: expected {}, got {}",
                    at(path),
                    show(expected),
                    show(actual)
                ))
            }
        }
    }
}

fn apply_operator(
    (op, arg): (&str, &Bson),
    actual: Option<&Bson>,
    root: bool,
    path: &str,
    ctx: &MatchCtx,
) -> Result<(), String> {
    match op {
        "$$exists" => {
            let want = arg
                .as_bool()
                .ok_or_else(|| format!("$$exists takes a boolean, not {}", show(arg)))?;
            match (want, actual) {
                (true, None) => Err(format!("{}: expected the key to exist", at(path))),
                (false, Some(a)) => Err(format!(
                    "{}: expected no such key, got {}",
                    at(path),
                    show(a)
                )),
                _ => Ok(()),
            }
        }
        "$$type" => {
            let Some(actual) = actual else {
                return Err(format!(
                    "{}: expected a value of type {}",
                    at(path),
                    show(arg)
                ));
            };
            let names: Vec<&str> = match arg {
                Bson::String(s) => vec![s.as_str()],
                Bson::Array(a) => a
                    .iter()
                    .map(|t| t.as_str().ok_or("$$type takes strings"))
                    .collect::<Result<_, _>>()?,
                other => return Err(format!("$$type takes a string or strings, not {other}")),
            };
            for n in &names {
                if !KNOWN_TYPES.contains(n) && *n != "number" {
                    return Err(format!("$$type: unknown type name {n:?}"));
                }
            }
            if names.iter().any(|n| type_matches(n, actual)) {
                Ok(())
            } else {
                Err(format!(
                    "{}: expected type {}, got {} ({})",
                    at(path),
                    show(arg),
                    show(actual),
                    type_name(actual)
                ))
            }
        }
        "$$unsetOrMatches" => match actual {
            None => Ok(()),
            Some(_) => matches(arg, actual, root, path, ctx),
        },
        "$$matchesEntity" => {
            let name = arg.as_str().ok_or("$$matchesEntity takes an entity name")?;
            let entity = ctx
                .entities
                .bson(name)
                .ok_or_else(|| format!("$$matchesEntity: no BSON entity named {name:?}"))?;
            matches(&entity, actual, root, path, ctx)
        }
        "$$matchesHexBytes" => {
            let hex = arg.as_str().ok_or("$$matchesHexBytes takes a string")?;
            let want = decode_hex(hex)?;
            let got = match actual {
                Some(Bson::Binary(b)) => b.bytes.clone(),
                Some(Bson::String(s)) => decode_hex(s).unwrap_or_else(|_| s.as_bytes().to_vec()),
                other => {
                    return Err(format!(
                        "{}: expected bytes {hex}, got {}",
                        at(path),
                        other.map_or("nothing".into(), show)
                    ))
                }
            };
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "{}: expected bytes {hex}, got {}",
                    at(path),
                    encode_hex(&got)
                ))
            }
        }
        "$$sessionLsid" => {
            let name = arg.as_str().ok_or("$$sessionLsid takes a session name")?;
            let lsid = ctx
                .entities
                .lsid(name)
                .ok_or_else(|| format!("$$sessionLsid: no session {name:?}"))?;
            match actual {
                Some(Bson::Document(d)) if *d == lsid => Ok(()),
                other => Err(format!(
                    "{}: expected the lsid of {name} {lsid}, got {}",
                    at(path),
                    other.map_or("nothing".into(), show)
                )),
            }
        }
        "$$lte" => {
            let limit = number(arg).ok_or("$$lte takes a number")?;
            match actual.and_then(number) {
                Some(n) if n <= limit => Ok(()),
                _ => Err(format!(
                    "{}: expected a number <= {}, got {}",
                    at(path),
                    show(arg),
                    actual.map_or("nothing".into(), show)
                )),
            }
        }
        "$$matchAsDocument" => {
            let Some(Bson::String(json)) = actual else {
                return Err(format!(
                    "{}: $$matchAsDocument needs an extended JSON string, got {}",
                    at(path),
                    actual.map_or("nothing".into(), show)
                ));
            };
            let value: serde_json::Value = serde_json::from_str(json)
                .map_err(|e| format!("{}: not JSON ({e}): {json}", at(path)))?;
            let doc = Bson::try_from(value)
                .map_err(|e| format!("{}: not extended JSON ({e}): {json}", at(path)))?;
            if !matches!(doc, Bson::Document(_)) {
                return Err(format!("{}: not a document: {json}", at(path)));
            }
            matches(arg, Some(&doc), false, path, ctx)
        }
        "$$matchAsRoot" => match actual {
            Some(a @ Bson::Document(_)) => matches(arg, Some(a), true, path, ctx),
            other => Err(format!(
                "{}: $$matchAsRoot needs a document, got {}",
                at(path),
                other.map_or("nothing".into(), show)
            )),
        },
        other => Err(format!("{}: unknown operator {other}", at(path))),
    }
}

/// The `$type` names (MongoDB query operator), in BSON type order.
const KNOWN_TYPES: &[&str] = &[
    "double",
    "string",
    "object",
    "array",
    "binData",
    "undefined",
    "objectId",
    "bool",
    "date",
    "null",
    "regex",
    "dbPointer",
    "javascript",
    "symbol",
    "javascriptWithScope",
    "int",
    "timestamp",
    "long",
    "decimal",
    "minKey",
    "maxKey",
];

/// The `$type` name of a value.
pub fn type_name(v: &Bson) -> &'static str {
    match v {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

fn type_matches(name: &str, v: &Bson) -> bool {
    if name == "number" {
        return matches!(
            v,
            Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
        );
    }
    type_name(v) == name
}

/// An int, long or double as a number (Decimal128 is not compared flexibly).
fn number(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) => Some(*n),
        _ => None,
    }
}

fn int(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        _ => None,
    }
}

/// Equality of non-container values: numbers by value, anything else by type and value.
pub fn scalar_eq(expected: &Bson, actual: &Bson) -> bool {
    if let (Some(a), Some(b)) = (int(expected), int(actual)) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (number(expected), number(actual)) {
        return a == b;
    }
    expected == actual
}

/// Exact equality of documents, ignoring key order (outcome data, values inside
/// CodeWScope): numbers still by value.
pub fn equal_unordered(expected: &Bson, actual: &Bson) -> bool {
    match (expected, actual) {
        (Bson::Document(e), Bson::Document(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|av| equal_unordered(v, av)))
        }
        (Bson::Array(e), Bson::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| equal_unordered(x, y))
        }
        _ => scalar_eq(expected, actual),
    }
}

/// Hex digits to bytes (an even count, either case).
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("not hex digits: {s:?}")))
        .collect()
}

fn encode_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "at the top".to_owned()
    } else {
        format!("at {}", path.trim_start_matches('.'))
    }
}

/// A value as relaxed extended JSON, cut at 400 characters.
pub fn show(v: &Bson) -> String {
    let s = v.clone().into_relaxed_extjson().to_string();
    if s.len() > 400 {
        let mut end = 400;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, oid::ObjectId, Binary, Bson};

    use super::*;

    fn ok(expected: Bson, actual: Bson) {
        let ctx = MatchCtx::empty();
        if let Err(e) = match_root(&expected, Some(&actual), &ctx) {
            panic!("{expected} should match {actual}: {e}");
        }
    }

    fn no(expected: Bson, actual: Bson) {
        let ctx = MatchCtx::empty();
        assert!(
            match_root(&expected, Some(&actual), &ctx).is_err(),
            "{expected} should not match {actual}"
        );
    }

    #[test]
    fn root_documents_allow_extra_keys_nested_do_not() {
        ok(doc! {"x": 1}.into(), doc! {"x": 1, "y": 1}.into());
        no(doc! {"x": 1, "y": 1}.into(), doc! {"x": 1}.into());
        no(
            doc! {"x": {"y": 1}}.into(),
            doc! {"x": {"y": 1, "z": 1}}.into(),
        );
        ok(
            doc! {"x": {"y": 1}}.into(),
            doc! {"x": {"y": 1}, "z": 2}.into(),
        );
        // Key order does not matter.
        ok(doc! {"x": 1, "y": 1}.into(), doc! {"y": 1, "x": 1}.into());
        ok(
            doc! {"x": {"a": 1, "b": 2}}.into(),
            doc! {"x": {"b": 2, "a": 1}}.into(),
        );
        // A document is not a scalar, and the other way round.
        no(doc! {"x": 1}.into(), Bson::Int32(1));
        no(Bson::Int32(1), doc! {"x": 1}.into());
        // A nested value matched alone is not root-level.
        let ctx = MatchCtx::empty();
        assert!(match_value(
            &doc! {"x": 1}.into(),
            Some(&doc! {"x": 1, "y": 2}.into()),
            &ctx
        )
        .is_err());
    }

    #[test]
    fn arrays_need_the_same_length_and_match_in_order() {
        ok(
            vec![Bson::Int32(1), Bson::Int32(2)].into(),
            vec![Bson::Int32(1), Bson::Int32(2)].into(),
        );
        no(
            vec![Bson::Int32(1), Bson::Int32(2), Bson::Int32(3)].into(),
            vec![
                Bson::Int32(1),
                Bson::Int32(2),
                Bson::Int32(3),
                Bson::Int32(4),
            ]
            .into(),
        );
        no(
            vec![Bson::Int32(2), Bson::Int32(1)].into(),
            vec![Bson::Int32(1), Bson::Int32(2)].into(),
        );
        // Documents inside an array value are not root-level (distinct) ...
        no(
            Bson::Array(vec![doc! {"x": 1}.into()]),
            Bson::Array(vec![doc! {"x": 1, "y": 1}.into()]),
        );
        // ... but the documents of an iterated result are (find).
        let ctx = MatchCtx::empty();
        let exp = Bson::Array(vec![doc! {"x": 1}.into(), doc! {"x": 2}.into()]);
        let act: Vec<Bson> = vec![doc! {"x": 1, "y": 1}.into(), doc! {"x": 2, "y": 2}.into()];
        match_root_list(&exp, &act, &ctx).unwrap();
        assert!(match_root_list(&exp, &act[..1], &ctx).is_err());
    }

    #[test]
    fn numbers_match_by_value_across_types() {
        ok(Bson::Int32(1), Bson::Double(1.0));
        ok(Bson::Int32(1), Bson::Int64(1));
        ok(Bson::Int64(1), Bson::Int32(1));
        ok(doc! {"ok": 1}.into(), doc! {"ok": 1.0}.into());
        no(Bson::Int32(1), Bson::Double(1.5));
        no(Bson::Int32(1), Bson::String("1".into()));
        no(Bson::Boolean(true), Bson::Int32(1));
        no(Bson::Null, Bson::Int32(0));
        ok(Bson::Int64(i64::MAX), Bson::Int64(i64::MAX));
        no(Bson::Int64(i64::MAX), Bson::Int64(i64::MAX - 1));
    }

    #[test]
    fn exists() {
        ok(
            doc! {"a": {"$$exists": true}}.into(),
            doc! {"a": Bson::Null}.into(),
        );
        no(doc! {"a": {"$$exists": true}}.into(), doc! {"b": 1}.into());
        ok(doc! {"a": {"$$exists": false}}.into(), doc! {"b": 1}.into());
        no(doc! {"a": {"$$exists": false}}.into(), doc! {"a": 1}.into());
        // Inside a nested document: the key is accounted for either way.
        ok(
            doc! {"x": {"a": 1, "w": {"$$exists": false}}}.into(),
            doc! {"x": {"a": 1}}.into(),
        );
    }

    #[test]
    fn type_operator() {
        ok(
            doc! {"a": {"$$type": "string"}}.into(),
            doc! {"a": "x"}.into(),
        );
        ok(
            doc! {"a": {"$$type": ["int", "long"]}}.into(),
            doc! {"a": 5_i64}.into(),
        );
        no(
            doc! {"a": {"$$type": ["int", "long"]}}.into(),
            doc! {"a": 5.0}.into(),
        );
        no(
            doc! {"a": {"$$type": "string"}}.into(),
            doc! {"b": "x"}.into(),
        );
        ok(
            doc! {"a": {"$$type": "objectId"}}.into(),
            doc! {"a": ObjectId::new()}.into(),
        );
        ok(
            doc! {"a": {"$$type": "number"}}.into(),
            doc! {"a": 2.5}.into(),
        );
        ok(
            doc! {"a": {"$$type": "array"}}.into(),
            doc! {"a": [1, "x"]}.into(),
        );
        no(
            doc! {"a": {"$$type": "number"}}.into(),
            doc! {"a": "2"}.into(),
        );
        // An unknown type name is an error in the file, not a mismatch to shrug at.
        let ctx = MatchCtx::empty();
        let e = match_root(
            &doc! {"$$type": "integer"}.into(),
            Some(&Bson::Int32(1)),
            &ctx,
        );
        assert!(e.unwrap_err().contains("unknown type"));
    }

    #[test]
    fn unset_or_matches() {
        let ctx = MatchCtx::empty();
        let exp: Bson = doc! {"$$unsetOrMatches": {"insertedId": {"$$unsetOrMatches": 2}}}.into();
        match_root(&exp, None, &ctx).unwrap();
        match_root(&exp, Some(&doc! {}.into()), &ctx).unwrap();
        match_root(&exp, Some(&doc! {"insertedId": 2}.into()), &ctx).unwrap();
        assert!(match_root(&exp, Some(&doc! {"insertedId": 3}.into()), &ctx).is_err());
        // It keeps the root-level status of what it wraps.
        match_root(&exp, Some(&doc! {"insertedId": 2, "extra": 1}.into()), &ctx).unwrap();
    }

    #[test]
    fn entities_and_lsids() {
        let id = ObjectId::new();
        let lsid =
            doc! {"id": Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: vec![7; 16] }};
        struct Two(ObjectId, Document);
        impl Entities for Two {
            fn bson(&self, n: &str) -> Option<Bson> {
                (n == "oid0").then_some(Bson::ObjectId(self.0))
            }
            fn lsid(&self, n: &str) -> Option<Document> {
                (n == "session0").then(|| self.1.clone())
            }
        }
        let two = Two(id, lsid.clone());
        let ctx = MatchCtx { entities: &two };
        let e: Bson = doc! {"_id": {"$$matchesEntity": "oid0"}}.into();
        match_root(&e, Some(&doc! {"_id": id}.into()), &ctx).unwrap();
        assert!(match_root(&e, Some(&doc! {"_id": ObjectId::new()}.into()), &ctx).is_err());
        let missing: Bson = doc! {"_id": {"$$matchesEntity": "nope"}}.into();
        assert!(match_root(&missing, Some(&doc! {"_id": id}.into()), &ctx)
            .unwrap_err()
            .contains("no BSON entity"));
        let l: Bson = doc! {"lsid": {"$$sessionLsid": "session0"}}.into();
        match_root(&l, Some(&doc! {"lsid": lsid.clone()}.into()), &ctx).unwrap();
        assert!(match_root(&l, Some(&doc! {"lsid": {"id": 1}}.into()), &ctx).is_err());
        let unknown: Bson = doc! {"lsid": {"$$sessionLsid": "session9"}}.into();
        assert!(match_root(&unknown, Some(&doc! {"lsid": lsid}.into()), &ctx).is_err());
    }

    #[test]
    fn lte_and_hex_bytes() {
        ok(doc! {"n": {"$$lte": 5}}.into(), doc! {"n": 5.0}.into());
        ok(doc! {"n": {"$$lte": 1}}.into(), doc! {"n": 0.0}.into());
        no(doc! {"n": {"$$lte": 1}}.into(), doc! {"n": 1.1}.into());
        no(doc! {"n": {"$$lte": 1}}.into(), doc! {"n": "0"}.into());
        let bytes = Bson::Binary(Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: vec![0x12, 0xab],
        });
        ok(doc! {"$$matchesHexBytes": "12AB"}.into(), bytes.clone());
        no(doc! {"$$matchesHexBytes": "12AC"}.into(), bytes);
        ok(
            doc! {"$$matchesHexBytes": ""}.into(),
            Bson::Binary(Binary {
                subtype: bson::spec::BinarySubtype::Generic,
                bytes: vec![],
            }),
        );
        assert!(decode_hex("123").is_err() && decode_hex("zz").is_err());
    }

    #[test]
    fn match_as_document_and_as_root() {
        let actual: Bson = doc! {"json": r#"{"a": 1, "b": {"$numberLong": "2"}}"#}.into();
        ok(
            doc! {"json": {"$$matchAsDocument": {"a": 1, "b": 2}}}.into(),
            actual.clone(),
        );
        // Not root-level: an extra key fails ...
        no(
            doc! {"json": {"$$matchAsDocument": {"a": 1}}}.into(),
            actual.clone(),
        );
        // ... unless $$matchAsRoot says so.
        ok(
            doc! {"json": {"$$matchAsDocument": {"$$matchAsRoot": {"a": 1}}}}.into(),
            actual,
        );
        no(
            doc! {"json": {"$$matchAsDocument": {"a": 1}}}.into(),
            doc! {"json": "not json"}.into(),
        );
        ok(
            doc! {"x": {"$$matchAsRoot": {"a": 1}}}.into(),
            doc! {"x": {"a": 1, "b": 2}}.into(),
        );
        no(
            doc! {"x": {"$$matchAsRoot": {"a": 1}}}.into(),
            doc! {"x": 5}.into(),
        );
    }

    #[test]
    fn unknown_operators_are_errors() {
        let ctx = MatchCtx::empty();
        let e = match_root(
            &doc! {"a": {"$$nope": 1}}.into(),
            Some(&doc! {"a": 1}.into()),
            &ctx,
        );
        assert!(e.unwrap_err().contains("unknown operator"));
    }

    #[test]
    fn exact_equality_ignores_key_order_only() {
        assert!(equal_unordered(
            &doc! {"a": 1, "b": 2}.into(),
            &doc! {"b": 2, "a": 1}.into()
        ));
        assert!(!equal_unordered(
            &doc! {"a": 1}.into(),
            &doc! {"a": 1, "b": 2}.into()
        ));
        assert!(!equal_unordered(
            &doc! {"a": {"x": 1}}.into(),
            &doc! {"a": {"x": 1, "y": 1}}.into()
        ));
        assert!(equal_unordered(
            &doc! {"a": 1}.into(),
            &doc! {"a": 1.0}.into()
        ));
    }
}
