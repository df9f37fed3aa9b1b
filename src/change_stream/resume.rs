//! The Change Streams specification's resume rules, as decisions over data: which resume
//! token is cached, which errors are resumable, and what the resume's `$changeStream` asks
//! for. No I/O; the stream ([`super::watcher`]) feeds in what it sees.

use bson::{RawDocument, Timestamp};

use super::event::ResumeToken;
use crate::error::{Error, ErrorKind, Result};
use crate::options::ChangeStreamOptions;

/// `CursorNotFound`: resumable whatever the server version (the server cannot label it, it
/// no longer knows the cursor was a change stream).
const CURSOR_NOT_FOUND: i32 = 43;

/// Before MongoDB 4.4 (wire version 9) the server does not label resumable errors; these
/// codes are (the specification's list).
const RESUMABLE_CODES: [i32; 17] = [
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
    63,    // StaleShardVersion
    150,   // StaleEpoch
    13388, // StaleConfig
    234,   // RetryChangeStream
    133,   // FailedToSatisfyReadPreference
];

/// MongoDB 4.4: resumable errors carry [`RESUMABLE_LABEL`].
const WIRE_VERSION_4_4: i32 = 9;

/// MongoDB 4.0: `startAtOperationTime` exists.
const WIRE_VERSION_4_0: i32 = 7;

/// The label a MongoDB 4.4+ server puts on an error a change stream may resume after.
pub(crate) const RESUMABLE_LABEL: &str = "ResumableChangeStreamError";

/// Whether a change stream resumes after `e`, an error of a `getMore` on a server of
/// `wire_version` (that of the connection the cursor was opened on). Errors that are not the
/// server's answer (the network, a timeout, no server to reach) are resumable; of the server's
/// errors, `CursorNotFound`, and then the labelled ones (4.4+) or the listed codes (older).
/// Never a client-side error (a bad argument, a shut-down client, an operation's
/// `timeoutMS`).
pub(crate) fn is_resumable(e: &Error, wire_version: i32) -> bool {
    match &*e.kind {
        ErrorKind::Command { code, .. } => {
            *code == CURSOR_NOT_FOUND
                || if wire_version >= WIRE_VERSION_4_4 {
                    e.contains_label(RESUMABLE_LABEL)
                } else {
                    RESUMABLE_CODES.contains(code)
                }
        }
        ErrorKind::Io(_)
        | ErrorKind::Timeout { .. }
        | ErrorKind::InvalidResponse { .. }
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::WaitQueueTimeout { .. }
        | ErrorKind::TlsHandshake { .. } => true,
        _ => false,
    }
}

/// What the change stream remembers for a resume, across cursors.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ResumeState {
    /// The cached resume token ([`ChangeStream::resume_token`](super::ChangeStream::resume_token)).
    token: Option<ResumeToken>,
    /// The first `aggregate`'s `operationTime`, kept when nothing else marks the start.
    operation_time: Option<Timestamp>,
    /// An event has been handed out (a stream started with `startAfter` resumes with
    /// `resumeAfter` from then on).
    document_returned: bool,
    /// The wire version of the server the current cursor was opened on.
    wire_version: i32,
}

/// What a cursor-opening `aggregate` said besides its batch: the first batch's state and where
/// it ran.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Start<'a> {
    /// The first batch has no events.
    pub(crate) empty: bool,
    /// The first batch's `postBatchResumeToken`.
    pub(crate) post_batch_resume_token: Option<&'a RawDocument>,
    /// The reply's `operationTime`.
    pub(crate) operation_time: Option<Timestamp>,
    /// The wire version of the server it ran on.
    pub(crate) wire_version: i32,
}

/// The point a resume starts from: a snapshot of [`ResumeState`] for the resume's
/// `aggregate`, which picks its options per server ([`ResumePoint::options`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ResumePoint {
    token: Option<ResumeToken>,
    operation_time: Option<Timestamp>,
    document_returned: bool,
}

impl ResumeState {
    /// After the first `aggregate`: the token cached is its empty batch's
    /// `postBatchResumeToken`, else `startAfter`, else `resumeAfter`, else none; its
    /// `operationTime` is kept when neither a token nor a start time says where the stream
    /// starts.
    pub(crate) fn started(options: &ChangeStreamOptions, start: Start<'_>) -> Self {
        let token = match start.post_batch_resume_token {
            Some(t) if start.empty => Some(ResumeToken::from_raw(t)),
            _ => options
                .start_after
                .clone()
                .or_else(|| options.resume_after.clone()),
        };
        let no_start_given = options.start_at_operation_time.is_none()
            && options.resume_after.is_none()
            && options.start_after.is_none();
        let keeps_time = no_start_given
            && start.empty
            && start.post_batch_resume_token.is_none()
            && start.wire_version >= WIRE_VERSION_4_0;
        Self {
            token,
            operation_time: start.operation_time.filter(|_| keeps_time),
            document_returned: false,
            wire_version: start.wire_version,
        }
    }

    /// After a resume's `aggregate`: an empty batch's `postBatchResumeToken` is the new
    /// place; otherwise the token resumed from stays until an event is handed out.
    pub(crate) fn resumed(&mut self, start: Start<'_>) {
        if let (true, Some(t)) = (start.empty, start.post_batch_resume_token) {
            self.token = Some(ResumeToken::from_raw(t));
        }
        self.wire_version = start.wire_version;
    }

    /// An event is handed out: `id` is its `_id`; `last_in_batch` with the batch's
    /// `postBatchResumeToken` caches that token instead. An event without `_id` cannot be
    /// resumed after: the error that closes the stream.
    pub(crate) fn handed_out(
        &mut self,
        id: Option<ResumeToken>,
        last_in_batch: bool,
        post_batch_resume_token: Option<&RawDocument>,
    ) -> Result<()> {
        let Some(id) = id else {
            return Err(Error::new(ErrorKind::MissingResumeToken));
        };
        self.document_returned = true;
        self.token = match (last_in_batch, post_batch_resume_token) {
            (true, Some(t)) => Some(ResumeToken::from_raw(t)),
            _ => Some(id),
        };
        Ok(())
    }

    /// A `getMore` returned no events: its `postBatchResumeToken`, if any, is the new place.
    pub(crate) fn empty_batch(&mut self, post_batch_resume_token: Option<&RawDocument>) {
        if let Some(t) = post_batch_resume_token {
            self.token = Some(ResumeToken::from_raw(t));
        }
    }

    /// The cached resume token.
    pub(crate) fn token(&self) -> Option<&ResumeToken> {
        self.token.as_ref()
    }

    /// Whether the stream resumes after `e`, a `getMore`'s error.
    pub(crate) fn resumes_after(&self, e: &Error) -> bool {
        is_resumable(e, self.wire_version)
    }

    /// Where a resume starts.
    pub(crate) fn point(&self) -> ResumePoint {
        ResumePoint {
            token: self.token.clone(),
            operation_time: self.operation_time,
            document_returned: self.document_returned,
        }
    }
}

impl ResumePoint {
    /// The resume's options, for a server of `wire_version`: the original ones with the
    /// start replaced (the specification's table). With a cached token: `startAfter` it if
    /// the stream started with `startAfter` and has handed out nothing yet, else
    /// `resumeAfter` it. Without one: `startAtOperationTime` the original start time or the
    /// one kept from the first `aggregate`. Without either, the original command as it was.
    pub(crate) fn options(
        &self,
        original: &ChangeStreamOptions,
        wire_version: i32,
    ) -> ChangeStreamOptions {
        let mut o = original.clone();
        if let Some(token) = &self.token {
            if original.start_after.is_some() && !self.document_returned {
                o.start_after = Some(token.clone());
                o.resume_after = None;
            } else {
                o.resume_after = Some(token.clone());
                o.start_after = None;
            }
            o.start_at_operation_time = None;
        } else if let Some(time) = original.start_at_operation_time.or(self.operation_time) {
            o.resume_after = None;
            o.start_after = None;
            o.start_at_operation_time = (wire_version >= WIRE_VERSION_4_0).then_some(time);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, RawDocumentBuf};

    fn token(s: &str) -> ResumeToken {
        ResumeToken::from_document(doc! { "_data": s })
    }

    fn raw(s: &str) -> RawDocumentBuf {
        RawDocumentBuf::from_document(&doc! { "_data": s }).unwrap()
    }

    fn ts(t: u32) -> Timestamp {
        Timestamp {
            time: t,
            increment: 0,
        }
    }

    fn start(empty: bool, pbrt: Option<&RawDocumentBuf>, time: Option<u32>) -> Start<'_> {
        Start {
            empty,
            post_batch_resume_token: pbrt.map(|t| t.as_ref()),
            operation_time: time.map(ts),
            wire_version: 21,
        }
    }

    fn command(code: i32, labels: &[&str]) -> Error {
        Error::new(ErrorKind::Command {
            code,
            code_name: String::new(),
            message: "m".into(),
        })
        .with_reply_details(labels.iter().map(|l| l.to_string()).collect(), None)
    }

    #[test]
    fn the_initial_token_is_the_empty_batchs_then_start_after_then_resume_after() {
        let plain = ChangeStreamOptions::default();
        let pbrt = raw("p");
        let s = ResumeState::started(&plain, start(true, Some(&pbrt), Some(5)));
        assert_eq!(s.token(), Some(&token("p")));
        // Events in the first batch: the pbrt waits for the last of them.
        let s = ResumeState::started(&plain, start(false, Some(&pbrt), Some(5)));
        assert_eq!(s.token(), None, "nothing given, nothing cached");
        let both = ChangeStreamOptions::builder()
            .start_after(token("sa"))
            .resume_after(token("ra"))
            .build();
        let s = ResumeState::started(&both, start(false, Some(&pbrt), None));
        assert_eq!(s.token(), Some(&token("sa")));
        let ra = ChangeStreamOptions::builder()
            .resume_after(token("ra"))
            .build();
        let s = ResumeState::started(&ra, start(false, None, None));
        assert_eq!(s.token(), Some(&token("ra")));
    }

    #[test]
    fn the_operation_time_is_kept_only_when_nothing_else_marks_the_start() {
        let plain = ChangeStreamOptions::default();
        let kept = |o: &ChangeStreamOptions, st: Start<'_>| ResumeState::started(o, st).point();
        assert_eq!(
            kept(&plain, start(true, None, Some(5))).operation_time,
            Some(ts(5))
        );
        let pbrt = raw("p");
        for st in [
            start(false, None, Some(5)),       // events came
            start(true, Some(&pbrt), Some(5)), // a token came
            Start {
                wire_version: 6, // MongoDB 3.6: no startAtOperationTime
                ..start(true, None, Some(5))
            },
        ] {
            assert_eq!(kept(&plain, st).operation_time, None, "{st:?}");
        }
        let at = ChangeStreamOptions::builder()
            .start_at_operation_time(ts(1))
            .build();
        assert_eq!(kept(&at, start(true, None, Some(5))).operation_time, None);
    }

    #[test]
    fn each_event_caches_its_id_and_the_last_one_the_batch_token() {
        let mut s = ResumeState::started(&ChangeStreamOptions::default(), start(false, None, None));
        let pbrt = raw("p");
        s.handed_out(Some(token("e1")), false, Some(&pbrt)).unwrap();
        assert_eq!(s.token(), Some(&token("e1")));
        s.handed_out(Some(token("e2")), true, Some(&pbrt)).unwrap();
        assert_eq!(s.token(), Some(&token("p")), "last of the batch: the pbrt");
        s.handed_out(Some(token("e3")), true, None).unwrap();
        assert_eq!(s.token(), Some(&token("e3")), "no pbrt: the id");
        let later = raw("q");
        s.empty_batch(Some(&later));
        assert_eq!(s.token(), Some(&token("q")));
        s.empty_batch(None);
        assert_eq!(
            s.token(),
            Some(&token("q")),
            "an empty batch without one keeps it"
        );
        let err = s.handed_out(None, true, Some(&pbrt)).unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::MissingResumeToken), "{err}");
        assert_eq!(
            s.token(),
            Some(&token("q")),
            "the token is not moved past it"
        );
    }

    #[test]
    fn a_resume_swaps_the_start_as_the_specification_says() {
        let pipeline_opts = |b: bool| {
            let o = ChangeStreamOptions::builder()
                .full_document(crate::options::FullDocumentType::UpdateLookup)
                .start_at_operation_time(ts(1))
                .batch_size(5_u32);
            if b {
                o.start_after(token("sa")).build()
            } else {
                o.build()
            }
        };
        // startAfter, nothing handed out yet: startAfter the cached token.
        let original = pipeline_opts(true);
        let mut s = ResumeState::started(&original, start(false, None, None));
        let o = s.point().options(&original, 21);
        assert_eq!(o.start_after, Some(token("sa")));
        assert_eq!((o.resume_after, o.start_at_operation_time), (None, None));
        assert_eq!(o.batch_size, Some(5), "the rest as it was");
        assert!(o.full_document.is_some());
        // An event handed out: resumeAfter it, startAfter gone.
        s.handed_out(Some(token("e1")), false, None).unwrap();
        let o = s.point().options(&original, 21);
        assert_eq!(o.resume_after, Some(token("e1")));
        assert_eq!((o.start_after, o.start_at_operation_time), (None, None));

        // No token: the original start time, or the kept operationTime.
        let original = pipeline_opts(false);
        let s = ResumeState::started(&original, start(true, None, Some(9)));
        let o = s.point().options(&original, 21);
        assert_eq!(o.start_at_operation_time, Some(ts(1)));
        let plain = ChangeStreamOptions::default();
        let s = ResumeState::started(&plain, start(true, None, Some(9)));
        assert_eq!(
            s.point().options(&plain, 21).start_at_operation_time,
            Some(ts(9))
        );
        // A server without startAtOperationTime gets none.
        assert_eq!(
            s.point().options(&original, 6).start_at_operation_time,
            None
        );
        // Nothing at all: the original command.
        let s = ResumeState::started(&plain, start(false, None, None));
        assert_eq!(s.point().options(&plain, 21), plain);
    }

    #[test]
    fn a_resumed_cursor_moves_the_token_only_with_an_empty_batch() {
        let plain = ChangeStreamOptions::default();
        let mut s = ResumeState::started(&plain, start(false, None, None));
        s.handed_out(Some(token("e1")), false, None).unwrap();
        let p = raw("p");
        s.resumed(start(false, Some(&p), None));
        assert_eq!(s.token(), Some(&token("e1")));
        s.resumed(Start {
            wire_version: 8,
            ..start(true, Some(&p), None)
        });
        assert_eq!(s.token(), Some(&token("p")));
        // The wire version of the new cursor's server decides the next resume.
        assert!(s.resumes_after(&command(91, &[])));
    }

    #[test]
    fn resumable_errors_follow_the_server_version() {
        let io = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        for wire in [6, 8, 9, 21] {
            assert!(is_resumable(&io, wire), "a network error, wire {wire}");
            assert!(is_resumable(&command(43, &[]), wire), "CursorNotFound");
            assert!(!is_resumable(&command(2, &[]), wire), "BadValue");
            assert!(!is_resumable(&Error::invalid_argument("x"), wire));
            assert!(!is_resumable(&Error::new(ErrorKind::Shutdown), wire));
        }
        let timeout = Error::new(ErrorKind::Timeout {
            message: "socketTimeoutMS".into(),
        });
        assert!(is_resumable(&timeout, 21));
        let selection = Error::new(ErrorKind::ServerSelection {
            message: "x".into(),
        });
        assert!(is_resumable(&selection, 21));
        // 4.4+: the label decides, whatever the code.
        assert!(is_resumable(&command(280, &[RESUMABLE_LABEL]), 9));
        assert!(!is_resumable(&command(91, &[]), 9));
        assert!(!is_resumable(&command(280, &[]), 21));
        // Older: the codes decide, labels mean nothing.
        for code in RESUMABLE_CODES {
            assert!(is_resumable(&command(code, &[]), 8), "{code}");
        }
        assert!(!is_resumable(&command(280, &[RESUMABLE_LABEL]), 8));
        // The CSOT timeout is the user's budget, not a glitch.
        let csot = Error::new(ErrorKind::OperationTimeout {
            message: "x".into(),
        });
        assert!(!is_resumable(&csot, 21));
    }
}
