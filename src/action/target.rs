//! What an action runs against: the client, and for a database or collection action the
//! namespace with the defaults its handle carries. Every action holds one.

use std::time::Duration;

use super::OpenedCursor;
use crate::client::Run;
use crate::csot::Deadline;
use crate::cursor::{Cursor, SessionCursor};
use crate::error::Result;
use crate::operation::{CursorSpec, Operation, Reads};
use crate::options::{
    Inherited, ReadConcern, ReadOptions, ReadPreference, TimeoutMode, WriteConcern, WriteOptions,
};
use crate::sdam::SelectionCriteria;
use crate::{Client, ClientSession};

use serde::de::DeserializeOwned;

/// The kind of cursor a command opens, as `timeoutMS` sees it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CursorTimeout {
    /// The operation's `timeoutMode`, if set.
    pub(crate) mode: Option<TimeoutMode>,
    /// A tailable cursor.
    pub(crate) tailable: bool,
    /// A tailable cursor whose `getMore`s wait for data (`awaitData`).
    pub(crate) await_data: bool,
    /// An `aggregate` that writes (`$out`, `$merge`).
    pub(crate) writes: bool,
}

/// A client, database or collection handle, borrowed for one action.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    client: &'a Client,
    db: &'a str,
    /// Empty for a client or database action.
    coll: &'a str,
    inherited: &'a Inherited,
    /// The action runs in a session's transaction: the handle's read and write concerns do not
    /// apply (the transaction's do).
    in_transaction: bool,
    /// `timeoutMS`: the operation's, else the handle's (which is the client's unless set).
    timeout: Option<Duration>,
    /// The operation set its own `timeoutMS`.
    timeout_set: bool,
}

impl<'a> Target<'a> {
    pub(crate) fn new(
        client: &'a Client,
        db: &'a str,
        coll: &'a str,
        inherited: &'a Inherited,
    ) -> Self {
        Self {
            client,
            db,
            coll,
            inherited,
            in_transaction: false,
            timeout: inherited.timeout,
            timeout_set: false,
        }
    }

    /// The target of an action given `session`: inside its transaction, the handle's concerns
    /// are not inherited. (The session stays borrowed until the action has run, so the
    /// transaction cannot start or end in between.)
    pub(crate) fn for_session(mut self, session: &crate::ClientSession) -> Self {
        self.in_transaction = session.transaction.is_active();
        self
    }

    /// The operation's own `timeoutMS`, over the handle's.
    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
        self.timeout_set = true;
    }

    /// The `timeoutMS` that applies: the operation's, else the handle's.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// CSOT spec: a tailable-await cursor's `maxAwaitTimeMS` must be shorter than a non-zero
    /// `timeoutMS`, or each `getMore` would time out waiting.
    pub(crate) fn check_max_await_time(&self, max_await_time: Option<Duration>) -> Result<()> {
        match (max_await_time, self.timeout) {
            (Some(wait), Some(timeout)) if !timeout.is_zero() && wait >= timeout => {
                Err(crate::error::Error::invalid_argument(format!(
                    "maxAwaitTimeMS ({} ms) must be less than timeoutMS ({} ms): each getMore \
                     waits that long for new documents; lower max_await_time or raise the timeout",
                    wait.as_millis(),
                    timeout.as_millis()
                )))
            }
            _ => Ok(()),
        }
    }

    /// The deadline of an operation starting now, when a `timeoutMS` applies.
    pub(crate) fn deadline(&self) -> Option<Deadline> {
        Deadline::start(self.timeout)
    }

    /// The deadline of an operation run in `session`: inside a convenient transaction, the
    /// transaction's, which the operation may not override (CSOT specification, "Validation
    /// and Overrides"); else [`deadline`](Self::deadline).
    pub(crate) fn deadline_in(&self, session: Option<&ClientSession>) -> Result<Option<Deadline>> {
        match session.and_then(|s| s.convenient_deadline) {
            Some(_) if self.timeout_set => Err(crate::error::Error::invalid_argument(
                "timeoutMS cannot be set on an operation inside a convenient transaction \
                 (and_run): the transaction's timeoutMS applies to it; remove .timeout()",
            )),
            Some(d) => Ok(Some(d)),
            None => Ok(self.deadline()),
        }
    }

    pub(crate) fn client(&self) -> &'a Client {
        self.client
    }

    pub(crate) fn db(&self) -> &'a str {
        self.db
    }

    pub(crate) fn coll(&self) -> &'a str {
        self.coll
    }

    /// The operation's write concern, else the handle's; `None` when nothing is set (the
    /// server's default applies and no `writeConcern` is sent). In a transaction only the
    /// operation's, which the executor then refuses.
    pub(crate) fn write_concern(&self, op: Option<WriteConcern>) -> Option<WriteConcern> {
        let inherited = self.inherited.write_concern.clone();
        op.or_else(|| inherited.filter(|_| !self.in_transaction))
            .filter(|wc| !wc.is_empty())
    }

    /// The options of a write with [`write_concern`](Self::write_concern) applied to them.
    pub(crate) fn writes<O: WriteOptions>(&self, mut options: O) -> O {
        let wc = options.write_concern_mut();
        *wc = self.write_concern(wc.take());
        options
    }

    /// The options of a read with its [`Reads`], as [`reads_of`](Self::reads_of) sets them.
    pub(crate) fn reading<O: ReadOptions>(&self, mut options: O) -> (O, Reads) {
        let reads = self.reads_of(&mut options);
        (options, reads)
    }

    /// How a read runs: the read preference and read concern taken out of its options, else
    /// the handle's.
    pub(crate) fn reads_of<O: ReadOptions>(&self, options: &mut O) -> Reads {
        let (read_preference, read_concern) = options.take_reads();
        self.reads_with(read_preference, read_concern)
    }

    /// How the handle's reads run: its read preference and read concern (none in a
    /// transaction, whose first command carries the transaction's).
    pub(crate) fn reads(&self) -> Reads {
        self.reads_with(None, None)
    }

    /// How a read runs: the operation's read preference and read concern, else the handle's.
    pub(crate) fn reads_with(
        &self,
        read_preference: Option<ReadPreference>,
        read_concern: Option<ReadConcern>,
    ) -> Reads {
        let rp = read_preference
            .or_else(|| self.inherited.read_preference.clone())
            .unwrap_or_default();
        Reads {
            criteria: SelectionCriteria::Read(rp),
            read_concern: read_concern
                .or_else(|| self.inherited.read_concern.clone())
                .filter(|_| !self.in_transaction),
        }
    }

    /// Runs an operation in the explicit session, or an implicit one, under the handle's (or
    /// the action's) `timeoutMS`.
    pub(crate) fn execute<'s, Op: Operation + 's>(
        &'s self,
        op: Op,
        session: Option<&'s mut ClientSession>,
    ) -> impl std::future::Future<Output = Result<Op::Output>> + 's {
        let deadline = self.deadline_in(session.as_deref());
        async move {
            let deadline = deadline?;
            self.client.execute_in(op, session, deadline).await
        }
    }

    /// Runs an operation that opens a non-tailable cursor (`timeoutMode` unset), keeping its
    /// implicit session and, in load-balanced mode, its connection for the cursor's
    /// `getMore`s.
    pub(crate) async fn open_cursor<Op>(
        &self,
        op: Op,
        session: Option<&mut ClientSession>,
    ) -> Result<OpenedCursor>
    where
        Op: Operation<Output = CursorSpec>,
    {
        self.open_cursor_as(op, session, CursorTimeout::default())
            .await
    }

    /// How `timeoutMS` applies to a cursor of the kind `c` says (CSOT specification,
    /// "Cursors"): its mode, checked against the cursor's kind.
    pub(crate) fn timeout_mode(&self, c: CursorTimeout) -> Result<TimeoutMode> {
        let invalid = crate::error::Error::invalid_argument;
        match c.mode {
            Some(_) if self.timeout.is_none() => Err(invalid(
                "timeoutMode requires timeoutMS: set a timeout on the operation, its handle or \
                 the client, or remove timeout_mode",
            )),
            Some(TimeoutMode::CursorLifetime) if c.tailable => Err(invalid(
                "a tailable cursor takes timeoutMode Iteration only (each next gets timeoutMS \
                 afresh)",
            )),
            Some(TimeoutMode::Iteration) if c.writes => Err(invalid(
                "timeoutMode Iteration cannot apply to an aggregate with $out or $merge: its \
                 command must finish under one timeoutMS; use CursorLifetime",
            )),
            Some(mode) => Ok(mode),
            None if c.tailable => Ok(TimeoutMode::Iteration),
            None => Ok(TimeoutMode::CursorLifetime),
        }
    }

    /// [`open_cursor`](Self::open_cursor) for a cursor of the kind `c` says: under
    /// `timeoutMode: cursorLifetime` the command and every `getMore` share one deadline;
    /// under `iteration` each `getMore` gets `timeoutMS` afresh and the command carries no
    /// `maxTimeMS` (nor does a tailable non-awaitData cursor's).
    pub(crate) async fn open_cursor_as<Op>(
        &self,
        op: Op,
        session: Option<&mut ClientSession>,
        c: CursorTimeout,
    ) -> Result<OpenedCursor>
    where
        Op: Operation<Output = CursorSpec>,
    {
        let mode = self.timeout_mode(c)?;
        let mut deadline = self.deadline_in(session.as_deref())?;
        if mode == TimeoutMode::Iteration && !c.await_data {
            deadline = deadline.map(Deadline::without_max_time_ms);
        }
        let run = Run {
            session,
            keep_connection: self.client.is_load_balanced(),
            keep_session: true,
            deadline,
            ..Run::default()
        };
        let (result, leftovers) = self.client.run(op, run).await;
        result.map(|mut spec| {
            // Each getMore gets the operation's timeoutMS afresh, or shares the cursor's
            // lifetime.
            spec.get_more.timeout = self.timeout;
            if mode == TimeoutMode::CursorLifetime {
                spec.get_more.lifetime = deadline;
            }
            OpenedCursor { spec, leftovers }
        })
    }

    /// [`open_cursor_as`](Self::open_cursor_as) in an action's session: the cursor the action
    /// yields, a [`Cursor`] or, in an explicit session, a [`SessionCursor`].
    pub(crate) async fn cursor<'s, Op, S, T>(
        &self,
        op: Op,
        mut session: S,
        c: CursorTimeout,
    ) -> Result<S::Cursor<T>>
    where
        Op: Operation<Output = CursorSpec>,
        S: super::SessionMode<'s>,
    {
        let opened = self.open_cursor_as(op, session.session_mut(), c).await?;
        Ok(session.cursor(self.client, opened))
    }

    /// Runs an operation that opens a cursor and reads the whole cursor, keeping what `keep`
    /// returns of each result (the names of `list_*_names`).
    pub(crate) async fn collect<Op, T, U>(
        &self,
        op: Op,
        session: Option<&mut ClientSession>,
        mut keep: impl FnMut(T) -> Option<U>,
    ) -> Result<Vec<U>>
    where
        Op: Operation<Output = CursorSpec>,
        T: DeserializeOwned + 'static,
    {
        let mut out = Vec::new();
        match session {
            Some(session) => {
                let o = self.open_cursor(op, Some(&mut *session)).await?;
                let client = self.client.clone();
                let mut cursor = SessionCursor::<T>::new(client, o.spec, o.leftovers, session);
                while let Some(item) = cursor.next(session).await.transpose()? {
                    out.extend(keep(item));
                }
            }
            None => {
                let o = self.open_cursor(op, None).await?;
                let mut cursor = Cursor::<T>::new(self.client.clone(), o.spec, o.leftovers);
                while let Some(item) = cursor.next_item().await.transpose()? {
                    out.extend(keep(item));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{
        ClientOptions, CollectionOptions, DatabaseOptions, ReadPreferenceMode, ServerAddress,
    };

    fn client(timeout: Option<Duration>) -> Client {
        let mut options = ClientOptions::builder()
            .hosts(vec![ServerAddress::Tcp {
                host: "localhost".into(),
                port: Some(1),
            }])
            .read_concern(ReadConcern::local())
            .build();
        options.timeout = timeout;
        Client::with_options(options).unwrap()
    }

    #[test]
    fn timeout_mode_needs_timeout_ms_and_suits_the_cursor() {
        let mode = |m: Option<TimeoutMode>, tailable: bool, writes: bool| CursorTimeout {
            mode: m,
            tailable,
            await_data: false,
            writes,
        };
        let untimed = client(None);
        let coll = untimed.database("db").collection::<()>("c");
        let t = coll.target();
        assert!(t
            .timeout_mode(mode(Some(TimeoutMode::Iteration), false, false))
            .is_err());
        assert_eq!(
            t.timeout_mode(mode(None, false, false)).unwrap(),
            TimeoutMode::CursorLifetime
        );
        let timed = client(Some(Duration::from_secs(1)));
        let coll = timed.database("db").collection::<()>("c");
        let t = coll.target();
        assert_eq!(
            t.timeout_mode(mode(None, true, false)).unwrap(),
            TimeoutMode::Iteration,
            "tailable cursors iterate"
        );
        assert!(t
            .timeout_mode(mode(Some(TimeoutMode::CursorLifetime), true, false))
            .is_err());
        assert!(t
            .timeout_mode(mode(Some(TimeoutMode::Iteration), false, true))
            .is_err());
        assert_eq!(
            t.timeout_mode(mode(Some(TimeoutMode::Iteration), false, false))
                .unwrap(),
            TimeoutMode::Iteration
        );
    }

    #[test]
    fn the_operation_wins_over_the_collection_over_the_database_over_the_client() {
        let client = client(Some(Duration::from_secs(9)));
        let db = client.database_with_options(
            "db",
            DatabaseOptions::builder()
                .selection_criteria(ReadPreference::from(ReadPreferenceMode::Secondary))
                .timeout(Duration::from_secs(3))
                .build(),
        );
        let plain = client.database("db").collection::<()>("c");
        let t = plain.target();
        assert_eq!(t.timeout, Some(Duration::from_secs(9)), "the client's");
        assert_eq!(t.reads().read_concern, Some(ReadConcern::local()));
        assert_eq!(
            t.reads().criteria,
            SelectionCriteria::Read(Default::default())
        );

        let coll = db.collection_with_options::<()>(
            "c",
            CollectionOptions::builder()
                .read_concern(ReadConcern::majority())
                .build(),
        );
        let mut t = coll.target();
        assert_eq!(t.timeout, Some(Duration::from_secs(3)), "the database's");
        let reads = t.reads();
        assert_eq!(
            reads.criteria,
            SelectionCriteria::Read(ReadPreferenceMode::Secondary.into())
        );
        assert_eq!(reads.read_concern, Some(ReadConcern::majority()));
        let reads = t.reads_with(
            Some(ReadPreferenceMode::Nearest.into()),
            Some(ReadConcern::available()),
        );
        assert_eq!(
            reads.criteria,
            SelectionCriteria::Read(ReadPreferenceMode::Nearest.into())
        );
        assert_eq!(reads.read_concern, Some(ReadConcern::available()));
        t.set_timeout(Duration::ZERO);
        let deadline = t
            .deadline()
            .expect("timeoutMS=0 is a deadline without a limit");
        assert_eq!(deadline.expires(), None);
    }

    #[test]
    fn max_await_time_must_be_below_a_non_zero_timeout() {
        let client = client(Some(Duration::from_millis(500)));
        let coll = client.database("db").collection::<()>("c");
        let mut t = coll.target();
        assert!(t
            .check_max_await_time(Some(Duration::from_millis(499)))
            .is_ok());
        assert!(t.check_max_await_time(None).is_ok());
        let e = t
            .check_max_await_time(Some(Duration::from_millis(500)))
            .unwrap_err();
        assert!(e.to_string().contains("maxAwaitTimeMS (500 ms)"), "{e}");
        t.set_timeout(Duration::ZERO);
        assert!(t.check_max_await_time(Some(Duration::from_secs(9))).is_ok());
    }

    #[test]
    fn without_any_timeout_there_is_no_deadline() {
        let client = client(None);
        let coll = client.database("db").collection::<()>("c");
        assert!(coll.target().deadline().is_none());
    }
}
