//! Cluster time gossip (Driver Sessions specification, "Gossipping the cluster time"): the
//! highest `$clusterTime` seen is sent back on every command; `operationTime` is tracked per
//! session for causal consistency.

use std::sync::{Arc, Mutex};

use bson::{Document, RawDocument, RawDocumentBuf, Timestamp};

/// A `$clusterTime` document as a server signed it: sent back unchanged.
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

/// The document, and its bytes as they are sent back.
#[derive(Debug, PartialEq)]
struct Signed {
    doc: Document,
    raw: RawDocumentBuf,
}

impl ClusterTime {
    /// Reads a `$clusterTime` document (`{clusterTime: Timestamp, signature: {...}}`);
    /// `None` when it has no `clusterTime` timestamp.
    pub fn from_document(doc: Document) -> Option<Self> {
        let ts = doc.get_timestamp("clusterTime").ok()?;
        let raw = RawDocumentBuf::from_document(&doc).ok()?;
        Some(Self {
            ts,
            inner: Arc::new(Signed { doc, raw }),
        })
    }

    /// The time itself.
    pub fn timestamp(&self) -> Timestamp {
        self.ts
    }

    /// The document as the server sent it (with its signature).
    pub fn as_document(&self) -> &Document {
        &self.inner.doc
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
        than.map_or(true, |c| ts_key(c.ts) < ts_key(self.ts))
    }

    /// An owned copy.
    pub(crate) fn to_cluster_time(self) -> Option<ClusterTime> {
        ClusterTime::from_document(Document::try_from(self.raw).ok()?)
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
        .map_or(true, |c| ts_key(c.ts) < ts_key(new.ts))
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

/// What a reply says about time: its `$clusterTime` and `operationTime`. Malformed values are
/// ignored (gossip is best effort; they never fail an operation).
pub(crate) fn times_of(reply: &RawDocument) -> (Option<ReplyClusterTime<'_>>, Option<Timestamp>) {
    let cluster = reply.get_document("$clusterTime").ok().and_then(|raw| {
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
        clock.advance(&ct(5, 1));
        clock.advance(&ct(4, 9));
        assert_eq!(
            clock.get().unwrap().timestamp(),
            Timestamp {
                time: 5,
                increment: 1
            }
        );
        clock.advance(&ct(5, 2));
        assert_eq!(
            clock.get().unwrap().timestamp(),
            Timestamp {
                time: 5,
                increment: 2
            }
        );
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
        let garbage = doc! { "$clusterTime": { "clusterTime": 5 }, "operationTime": "x" };
        let garbage = bson::RawDocumentBuf::from_document(&garbage).unwrap();
        let (c, o) = times_of(&garbage);
        assert!(c.is_none() && o.is_none());
        assert!(ClusterTime::from_document(doc! {}).is_none());
    }
}
