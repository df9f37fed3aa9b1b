//! Cluster time gossip (Driver Sessions specification, "Gossipping the cluster time"): the
//! highest `$clusterTime` seen is sent back on every command; `operationTime` is tracked per
//! session for causal consistency.

use std::sync::{Arc, Mutex, OnceLock};

use bson::{Document, RawBsonRef, RawDocument, RawDocumentBuf, Timestamp};

/// A `$clusterTime` document as a server signed it: sent back unchanged.
///
/// It is sent with every command, so its size is bounded: a `$clusterTime` larger than
/// [`ClusterTime::MAX_SIZE`] bytes (a real one is about 100) is not adopted, and a warning is
/// logged; the client keeps the time it had.
///
/// ```
/// # use mongo_x509::ClusterTime;
/// fn newer(a: &ClusterTime, b: &ClusterTime) -> bool {
///     a.timestamp() > b.timestamp()
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterTime {
    ts: Timestamp,
    /// Shared: every command carries the client's cluster time, so a copy is a reference count.
    inner: Arc<Signed>,
}

/// The bytes as they are sent back, and the document, decoded when first asked for: a time
/// copied out of a reply is sent as bytes and rarely looked at (decoding it cost more than a
/// tenth of a small operation, and the server's time moves with every reply).
#[derive(Debug)]
struct Signed {
    raw: RawDocumentBuf,
    doc: OnceLock<Document>,
}

impl PartialEq for Signed {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl ClusterTime {
    /// The largest `$clusterTime` document adopted, in BSON bytes: 1 KiB. A server's is about
    /// 100 bytes (a timestamp, and a signature of a 20-byte hash and a key id); a larger one
    /// would be sent back with every command.
    pub const MAX_SIZE: usize = 1024;

    /// Reads a `$clusterTime` document (`{clusterTime: Timestamp, signature: {...}}`);
    /// `None` when it has no `clusterTime` timestamp or is larger than
    /// [`MAX_SIZE`](Self::MAX_SIZE).
    pub fn from_document(doc: Document) -> Option<Self> {
        let ts = doc.get_timestamp("clusterTime").ok()?;
        let raw = RawDocumentBuf::from_document(&doc).ok()?;
        if !within_size(&raw) {
            return None;
        }
        Some(Self {
            ts,
            inner: Arc::new(Signed {
                raw,
                doc: OnceLock::from(doc),
            }),
        })
    }

    /// A copy of a reply's `$clusterTime` bytes (already within the size limit), without
    /// decoding them; `None` when a key or a value in them is not valid BSON, as decoding
    /// would have found.
    fn from_raw(ts: Timestamp, raw: &RawDocument) -> Option<Self> {
        if !values_valid(raw) {
            return None;
        }
        Some(Self {
            ts,
            inner: Arc::new(Signed {
                raw: raw.to_raw_document_buf(),
                doc: OnceLock::new(),
            }),
        })
    }

    /// The time itself.
    pub fn timestamp(&self) -> Timestamp {
        self.ts
    }

    /// The document as the server sent it (with its signature).
    pub fn as_document(&self) -> &Document {
        let raw = &self.inner.raw;
        // The bytes were checked when the time was made (`values_valid`), so this decodes.
        self.inner
            .doc
            .get_or_init(|| Document::try_from(raw.as_ref()).unwrap_or_default())
    }

    /// The bytes to send back.
    pub(crate) fn as_raw(&self) -> &RawDocument {
        &self.inner.raw
    }
}

/// A reply's `$clusterTime`, not yet copied out of the reply: most replies carry a time the
/// client already has, and then nothing is built.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplyClusterTime<'a> {
    ts: Timestamp,
    raw: &'a RawDocument,
}

impl ReplyClusterTime<'_> {
    /// True when this time is higher than `than` (or `than` is none).
    pub(crate) fn is_newer(&self, than: Option<&ClusterTime>) -> bool {
        than.is_none_or(|c| ts_key(c.ts) < ts_key(self.ts))
    }

    /// An owned copy.
    pub(crate) fn to_cluster_time(self) -> Option<ClusterTime> {
        ClusterTime::from_raw(self.ts, self.raw)
    }
}

/// True when every key and value of `raw`, nested ones included, reads as BSON (keys and
/// strings valid UTF-8): what decoding it into a [`Document`] checks, without building one.
fn values_valid(raw: &RawDocument) -> bool {
    raw.iter().all(|e| e.is_ok_and(|(_, v)| value_valid(v)))
}

fn value_valid(v: RawBsonRef<'_>) -> bool {
    match v {
        RawBsonRef::Document(d) => values_valid(d),
        RawBsonRef::Array(a) => a.into_iter().all(|e| e.is_ok_and(value_valid)),
        RawBsonRef::JavaScriptCodeWithScope(c) => values_valid(c.scope),
        _ => true,
    }
}

/// Orders timestamps by (seconds, increment), as the server does.
pub(crate) fn ts_key(ts: Timestamp) -> (u32, u32) {
    (ts.time, ts.increment)
}

/// Keeps the greater of `current` and `new` (copied only when it is greater).
pub(crate) fn advance(current: &mut Option<ClusterTime>, new: &ClusterTime) {
    if current
        .as_ref()
        .is_none_or(|c| ts_key(c.ts) < ts_key(new.ts))
    {
        *current = Some(new.clone());
    }
}

/// The client-wide clock: the highest cluster time any reply carried.
#[derive(Debug, Default)]
pub(crate) struct ClusterClock {
    time: Mutex<Option<ClusterTime>>,
}

impl ClusterClock {
    /// The highest cluster time seen, if any.
    pub(crate) fn get(&self) -> Option<ClusterTime> {
        self.time.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Advances to `new` if it is higher.
    pub(crate) fn advance(&self, new: &ClusterTime) {
        advance(
            &mut self.time.lock().unwrap_or_else(|p| p.into_inner()),
            new,
        );
    }
}

/// True when a `$clusterTime` is small enough to be sent back with every command; logs a
/// warning when it is not.
fn within_size(raw: &RawDocument) -> bool {
    let size = raw.as_bytes().len();
    if size <= ClusterTime::MAX_SIZE {
        return true;
    }
    tracing::warn!(
        size,
        limit = ClusterTime::MAX_SIZE,
        "a $clusterTime larger than the limit is ignored; the client keeps the cluster time it had"
    );
    false
}

/// What a reply says about time: its `$clusterTime` and `operationTime`. Malformed values are
/// ignored (gossip is best effort; they never fail an operation), and so is a `$clusterTime`
/// larger than [`ClusterTime::MAX_SIZE`].
pub(crate) fn times_of(reply: &RawDocument) -> (Option<ReplyClusterTime<'_>>, Option<Timestamp>) {
    let cluster = reply.get_document("$clusterTime").ok().and_then(|raw| {
        if !within_size(raw) {
            return None;
        }
        let ts = raw.get_timestamp("clusterTime").ok()?;
        Some(ReplyClusterTime { ts, raw })
    });
    (cluster, reply.get_timestamp("operationTime").ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn ct(time: u32, increment: u32) -> ClusterTime {
        ClusterTime::from_document(doc! {
            "clusterTime": Timestamp { time, increment },
            "signature": { "keyId": 1_i64 },
        })
        .unwrap()
    }

    #[test]
    fn the_clock_keeps_the_highest_time() {
        let clock = ClusterClock::default();
        assert_eq!(clock.get(), None);
        // (time seen, then the clock's time)
        for (seen, kept) in [((5, 1), (5, 1)), ((4, 9), (5, 1)), ((5, 2), (5, 2))] {
            clock.advance(&ct(seen.0, seen.1));
            let (time, increment) = kept;
            let kept = Timestamp { time, increment };
            assert_eq!(clock.get().unwrap().timestamp(), kept, "after {seen:?}");
        }
        // Sent back unchanged, signature included.
        assert_eq!(
            clock
                .get()
                .unwrap()
                .as_document()
                .get_document("signature")
                .unwrap(),
            &doc! { "keyId": 1_i64 }
        );
    }

    #[test]
    fn replies_are_read_and_garbage_ignored() {
        let reply = doc! {
            "ok": 1,
            "$clusterTime": { "clusterTime": Timestamp { time: 7, increment: 3 }, "signature": {} },
            "operationTime": Timestamp { time: 7, increment: 2 },
        };
        let raw = bson::RawDocumentBuf::from_document(&reply).unwrap();
        let (c, o) = times_of(&raw);
        let c = c.unwrap();
        assert!(c.is_newer(None) && c.is_newer(Some(&ct(7, 2))) && !c.is_newer(Some(&ct(7, 3))));
        assert_eq!(
            c.to_cluster_time().unwrap().timestamp(),
            Timestamp {
                time: 7,
                increment: 3
            }
        );
        assert_eq!(
            o,
            Some(Timestamp {
                time: 7,
                increment: 2
            })
        );
        // Copied as bytes, decoded when asked for.
        let copied = times_of(&raw).0.unwrap().to_cluster_time().unwrap();
        assert_eq!(
            copied.as_document(),
            reply.get_document("$clusterTime").unwrap()
        );
        // A string that is not UTF-8 inside the signature: not adopted, as a decode would fail.
        let mut bad = bson::to_vec(&doc! {
            "$clusterTime": { "clusterTime": Timestamp { time: 8, increment: 1 }, "signature": { "s": "ab" } },
        })
        .unwrap();
        let at = bad.windows(3).position(|w| w == b"ab\0").unwrap();
        bad[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
        let bad = bson::RawDocumentBuf::from_bytes(bad).unwrap();
        assert!(times_of(&bad).0.unwrap().to_cluster_time().is_none());
        let garbage = doc! { "$clusterTime": { "clusterTime": 5 }, "operationTime": "x" };
        let garbage = bson::RawDocumentBuf::from_document(&garbage).unwrap();
        let (c, o) = times_of(&garbage);
        assert!(c.is_none() && o.is_none());
        assert!(ClusterTime::from_document(doc! {}).is_none());
    }

    /// A server's `$clusterTime` goes back out with every command: one above the bound is not
    /// adopted (the reply's `operationTime` still is), one at the bound is.
    #[test]
    fn an_oversized_cluster_time_is_not_adopted() {
        let padded = |size: usize| {
            let mut time = doc! {
                "clusterTime": Timestamp { time: 9, increment: 1 },
                "signature": { "hash": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![0; 20] }, "keyId": 7_i64 },
                "padding": "",
            };
            let base = bson::to_vec(&time).unwrap().len();
            time.insert("padding", "x".repeat(size - base));
            assert_eq!(bson::to_vec(&time).unwrap().len(), size);
            time
        };
        let reply = |time: Document| {
            bson::RawDocumentBuf::from_document(&doc! {
                "ok": 1, "$clusterTime": time, "operationTime": Timestamp { time: 9, increment: 1 },
            })
            .unwrap()
        };
        for size in [ClusterTime::MAX_SIZE + 1, 64 * 1024, 8 * 1024 * 1024] {
            let raw = reply(padded(size));
            let (c, o) = times_of(&raw);
            assert!(c.is_none(), "{size} bytes adopted");
            assert!(o.is_some());
            assert!(ClusterTime::from_document(padded(size)).is_none());
        }
        let raw = reply(padded(ClusterTime::MAX_SIZE));
        let (c, _) = times_of(&raw);
        assert!(c.unwrap().to_cluster_time().is_some());
        // What servers send is far below the bound.
        assert!(bson::to_vec(&ct(1, 1).as_document()).unwrap().len() < 128);
    }
}
