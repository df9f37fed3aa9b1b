//! Operations: each unified operation name mapped onto the crate's API. Arguments are taken
//! one by one from [`Args`]; an argument left over is an error naming it, so an option the
//! crate (or this runner) does not have fails the test loudly instead of being dropped.

pub mod bucket;
pub mod bulk;
mod change_stream;
mod client;
mod collection;
mod cursor;
mod database;
pub mod session;
pub mod special;

use std::collections::HashMap;
use std::time::Duration;

use bson::{Bson, Document};
use mongo_x509::options::{
    Acknowledgment, Collation, Hint, ReadConcern, ReadPreference, ReadPreferenceMode, WriteConcern,
};

use super::entities::{Entity, SessionEntity};
use super::runner::TestCtx;
use super::spec::Operation;

/// What an operation produced.
pub enum Outcome {
    /// Nothing (a void method).
    None,
    /// A value: a scalar, a document (matched as root-level), or an array of values.
    Value(Bson),
    /// The documents of a fully iterated cursor (each matched as root-level).
    Docs(Vec<Bson>),
    /// An entity to save (a cursor); it cannot be matched.
    Entity(Entity),
}

/// The result of running an operation: the crate's error is the operation's outcome (for
/// `expectError`); a `Runner` error is a failure of the test whatever it expects.
pub type OpResult = Result<Result<Outcome, mongo_x509::error::Error>, String>;

/// The arguments of one operation, consumed as the operation reads them.
pub struct Args {
    op: String,
    doc: Document,
}

impl Args {
    pub fn new(op: &Operation) -> Self {
        Args {
            op: op.name.clone(),
            doc: op.arguments.clone().unwrap_or_default(),
        }
    }

    pub fn from_doc(op: &str, doc: Document) -> Self {
        Args {
            op: op.to_owned(),
            doc,
        }
    }

    pub fn take(&mut self, key: &str) -> Option<Bson> {
        self.doc.remove(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.doc.contains_key(key)
    }

    fn bad(&self, key: &str, what: &str, v: &Bson) -> String {
        format!("{}: argument {key} must be {what}, not {v}", self.op)
    }

    pub fn doc(&mut self, key: &str) -> Result<Option<Document>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Bson::Document(d)) => Ok(Some(d)),
            Some(v) => Err(self.bad(key, "a document", &v)),
        }
    }

    pub fn req_doc(&mut self, key: &str) -> Result<Document, String> {
        self.doc(key)?
            .ok_or_else(|| format!("{}: argument {key} is required", self.op))
    }

    pub fn req(&mut self, key: &str) -> Result<Bson, String> {
        self.take(key)
            .ok_or_else(|| format!("{}: argument {key} is required", self.op))
    }

    pub fn docs(&mut self, key: &str) -> Result<Option<Vec<Document>>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Bson::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    Bson::Document(d) => Ok(d),
                    other => Err(self.bad(key, "an array of documents", &other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(self.bad(key, "an array of documents", &v)),
        }
    }

    pub fn req_docs(&mut self, key: &str) -> Result<Vec<Document>, String> {
        self.docs(key)?
            .ok_or_else(|| format!("{}: argument {key} is required", self.op))
    }

    pub fn str(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Bson::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.bad(key, "a string", &v)),
        }
    }

    pub fn req_str(&mut self, key: &str) -> Result<String, String> {
        self.str(key)?
            .ok_or_else(|| format!("{}: argument {key} is required", self.op))
    }

    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Bson::Boolean(b)) => Ok(Some(b)),
            Some(v) => Err(self.bad(key, "a boolean", &v)),
        }
    }

    pub fn i64(&mut self, key: &str) -> Result<Option<i64>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => as_i64(&v)
                .map(Some)
                .ok_or_else(|| self.bad(key, "an integer", &v)),
        }
    }

    pub fn u64(&mut self, key: &str) -> Result<Option<u64>, String> {
        match self.i64(key)? {
            None => Ok(None),
            Some(n) => u64::try_from(n)
                .map(Some)
                .map_err(|_| format!("{}: argument {key} must not be negative", self.op)),
        }
    }

    pub fn u32(&mut self, key: &str) -> Result<Option<u32>, String> {
        match self.i64(key)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| format!("{}: argument {key} out of range: {n}", self.op)),
        }
    }

    /// A number of milliseconds.
    pub fn millis(&mut self, key: &str) -> Result<Option<Duration>, String> {
        Ok(self.u64(key)?.map(Duration::from_millis))
    }

    pub fn hint(&mut self, key: &str) -> Result<Option<Hint>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Bson::String(s)) => Ok(Some(Hint::Name(s))),
            Some(Bson::Document(d)) => Ok(Some(Hint::Keys(d))),
            Some(v) => Err(self.bad(key, "an index name or key pattern", &v)),
        }
    }

    pub fn collation(&mut self) -> Result<Option<Collation>, String> {
        match self.doc("collation")? {
            None => Ok(None),
            Some(d) => bson::from_document(d)
                .map(Some)
                .map_err(|e| format!("{}: collation: {e}", self.op)),
        }
    }

    pub fn write_concern(&mut self) -> Result<Option<WriteConcern>, String> {
        self.doc("writeConcern")?
            .map(|d| write_concern(&d))
            .transpose()
    }

    pub fn read_concern(&mut self) -> Result<Option<ReadConcern>, String> {
        self.doc("readConcern")?
            .map(|d| read_concern(&d))
            .transpose()
    }

    pub fn read_preference(&mut self) -> Result<Option<ReadPreference>, String> {
        self.doc("readPreference")?
            .map(|d| read_preference(&d))
            .transpose()
    }

    /// The session entity named by `session`, if any.
    pub fn session(&mut self, ctx: &TestCtx) -> Result<Option<SessionEntity>, String> {
        match self.str("session")? {
            None => Ok(None),
            Some(name) => ctx.session(&name).map(Some),
        }
    }

    /// Fails on any argument not read.
    pub fn finish(self) -> Result<(), String> {
        if self.doc.is_empty() {
            return Ok(());
        }
        let keys: Vec<&String> = self.doc.keys().collect();
        Err(format!(
            "{}: unsupported argument(s) {keys:?}: not in the crate's API (or this runner) yet",
            self.op
        ))
    }
}

pub fn as_i64(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(f) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    }
}

/// A `writeConcern` object (`w`, `journal`, `wtimeoutMS`).
pub fn write_concern(d: &Document) -> Result<WriteConcern, String> {
    let mut wc = WriteConcern::default();
    for (k, v) in d {
        match k.as_str() {
            "w" => {
                wc.w = Some(match v {
                    Bson::String(s) if s == "majority" => Acknowledgment::Majority,
                    Bson::String(s) => Acknowledgment::Custom(s.clone()),
                    other => Acknowledgment::Nodes(
                        as_i64(other)
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| format!("writeConcern.w: {other}"))?,
                    ),
                })
            }
            "journal" | "j" => wc.journal = v.as_bool(),
            "wtimeoutMS" | "wtimeout" => {
                wc.w_timeout = as_i64(v).map(|n| Duration::from_millis(n.max(0) as u64))
            }
            other => return Err(format!("writeConcern.{other}: not supported")),
        }
    }
    Ok(wc)
}

/// A `readConcern` object (`level`).
pub fn read_concern(d: &Document) -> Result<ReadConcern, String> {
    match (d.get_str("level"), d.len()) {
        (Ok(level), 1) => Ok(ReadConcern::custom(level)),
        _ => Err(format!("readConcern {d}: only a level is supported")),
    }
}

/// A `readPreference` object (`mode`, `tagSets`, `maxStalenessSeconds`).
pub fn read_preference(d: &Document) -> Result<ReadPreference, String> {
    let mut rp = ReadPreference::default();
    for (k, v) in d {
        match k.as_str() {
            "mode" => {
                rp.mode = match v.as_str().unwrap_or_default().to_ascii_lowercase().as_str() {
                    "primary" => ReadPreferenceMode::Primary,
                    "primarypreferred" => ReadPreferenceMode::PrimaryPreferred,
                    "secondary" => ReadPreferenceMode::Secondary,
                    "secondarypreferred" => ReadPreferenceMode::SecondaryPreferred,
                    "nearest" => ReadPreferenceMode::Nearest,
                    _ => return Err(format!("readPreference.mode: {v}")),
                }
            }
            "tagSets" => {
                let sets = v.as_array().ok_or("readPreference.tagSets: an array")?;
                for s in sets {
                    let s = s.as_document().ok_or("readPreference.tagSets: documents")?;
                    rp.tag_sets.push(
                        s.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect::<HashMap<_, _>>(),
                    );
                }
            }
            "maxStalenessSeconds" => {
                rp.max_staleness = as_i64(v).map(|n| Duration::from_secs(n.max(0) as u64))
            }
            other => return Err(format!("readPreference.{other}: not supported")),
        }
    }
    Ok(rp)
}

/// Runs one entity operation (not `testRunner`).
pub async fn run(op: &Operation, ctx: &TestCtx) -> OpResult {
    let entity = ctx.entity(&op.object)?;
    let args = Args::new(op);
    if op.name == "createChangeStream" {
        return change_stream::create(&entity, args, ctx).await;
    }
    match entity {
        Entity::Collection(c) => collection::run(&op.name, args, &c, ctx).await,
        Entity::Database(d) => database::run(&op.name, args, &d, ctx).await,
        Entity::Client(c) => client::run(&op.name, args, &c, ctx).await,
        Entity::Session(s) => session::run(&op.name, args, &s, ctx).await,
        Entity::Cursor(c) => cursor::run(&op.name, args, &c).await,
        Entity::Bucket(b) => bucket::run(&op.name, args, &b).await,
        other => Err(format!(
            "operation {} on {} ({}): not supported by this runner",
            op.name,
            op.object,
            other.kind()
        )),
    }
}

/// Passes the session to an action when there is one: `with_session!(action, session_ref)`.
macro_rules! with_session {
    ($action:expr, $session:expr) => {
        match $session {
            Some(s) => $action.session(s).await,
            None => $action.await,
        }
    };
}
pub(crate) use with_session;
