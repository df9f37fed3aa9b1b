//! [`Cursor`] and [`SessionCursor`]: cursors iterated by blocking.

use serde::de::DeserializeOwned;

use super::ClientSession;
use crate::error::Result;
use crate::options::ServerAddress;

blocking_wrapper! {
    /// A cursor over the results of `find`, `aggregate`, `list_collections`, … run with
    /// `.run()`: an [`Iterator`] of `Result<T>`. Each batch after the first is fetched with a
    /// `getMore` when the one before is used up (the [`async cursor`](crate::Cursor) does the
    /// work). Dropped before the end, it kills its server cursor in the background.
    ///
    /// ```no_run
    /// # fn f(coll: mongo_x509::sync::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let cursor = coll.find(doc! { "qty": { "$gt": 5 } }).batch_size(100).run()?;
    /// let big: Vec<_> = cursor.collect::<Result<_, _>>()?;
    /// # let _ = big; Ok(()) }
    /// ```
    pub struct Cursor<T>(crate::Cursor<T>);

    /// Converts to a cursor over another document type.
    ///
    /// ```no_run
    /// # fn f(coll: mongo_x509::sync::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, RawDocumentBuf};
    /// let raw = coll.find(doc! {}).run()?.with_type::<RawDocumentBuf>();
    /// # let _ = raw; Ok(()) }
    /// ```
    pub fn with_type;
}

/// The methods the blocking cursors share: `id`, `address`, and `close` (documented by the
/// caller).
macro_rules! cursor_methods {
    ($(#[$close:meta])* $name:ident) => {
        impl<T> $name<T> {
            /// The server-side cursor id; 0 once the server has no more results.
            pub fn id(&self) -> i64 {
                self.held.get().id()
            }

            /// The server the cursor lives on.
            pub fn address(&self) -> &ServerAddress {
                self.held.get().address()
            }

            $(#[$close])*
            pub fn close(self) {
                let (cursor, runtime) = self.held.into_parts();
                runtime.block_on(cursor.close());
            }
        }
    };
}

cursor_methods! {
    /// Closes the cursor now, blocking until the server has answered the `killCursors`;
    /// see [`Cursor::close`](crate::Cursor::close).
    ///
    /// ```no_run
    /// # fn f(coll: mongo_x509::sync::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let mut cursor = coll.find(doc! {}).batch_size(10).run()?;
    /// let first = cursor.next();
    /// cursor.close();
    /// # let _ = first; Ok(()) }
    /// ```
    Cursor
}

impl<T: DeserializeOwned + 'static> Cursor<T> {
    /// The next result if there is one now, with at most one `getMore`: `Ok(None)` when that
    /// brought an empty batch (a tailable cursor with nothing new yet) or the cursor is
    /// exhausted; see [`Cursor::next_if_any`](crate::Cursor::next_if_any).
    ///
    /// ```no_run
    /// # fn f(log: mongo_x509::sync::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// use mongo_x509::options::CursorType;
    /// let mut tail = log.find(doc! {}).cursor_type(CursorType::Tailable).run()?;
    /// while let Some(entry) = tail.next_if_any()? {
    ///     println!("{entry}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn next_if_any(&mut self) -> Result<Option<T>> {
        self.held.block_on(|cursor| cursor.next_if_any())
    }
}

blocking_iterator! {
    /// The next result, waiting for a `getMore` when the batch is used up; `None` at the end.
    impl Iterator for Cursor
}

blocking_wrapper! {
    /// A cursor opened in an explicit session (`.session(&mut session).run()`): iterate it with
    /// [`next`](Self::next), or [`iter`](Self::iter), and the same session, whose `getMore`s it
    /// runs in.
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// let mut session = client.start_session().run()?;
    /// let coll = client.database("app").collection::<Document>("events");
    /// let mut cursor = coll.find(doc! {}).session(&mut session).run()?;
    /// while let Some(event) = cursor.next(&mut session) {
    ///     println!("{}", event?);
    /// }
    /// # Ok(()) }
    /// ```
    pub struct SessionCursor<T>(crate::SessionCursor<T>);

    /// Converts to a cursor over another document type.
    pub fn with_type;
}

cursor_methods! {
    /// Closes the cursor now, as [`Cursor::close`] does.
    SessionCursor
}

impl<T: DeserializeOwned + 'static> SessionCursor<T> {
    /// The next result, running a `getMore` in `session` (the session the cursor was opened
    /// in) when the batch is used up; `None` at the end.
    pub fn next(&mut self, session: &mut ClientSession) -> Option<Result<T>> {
        self.held.block_on(|cursor| cursor.next(session))
    }

    /// The next result if there is one now, with at most one `getMore` in `session`; see
    /// [`Cursor::next_if_any`].
    pub fn next_if_any(&mut self, session: &mut ClientSession) -> Result<Option<T>> {
        self.held.block_on(|cursor| cursor.next_if_any(session))
    }

    /// An [`Iterator`] over the rest of the results, using `session`.
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// let mut session = client.start_session().run()?;
    /// let coll = client.database("app").collection::<Document>("events");
    /// let mut cursor = coll.find(doc! {}).session(&mut session).run()?;
    /// let all: Vec<Document> = cursor.iter(&mut session).collect::<Result<_, _>>()?;
    /// # let _ = all; Ok(()) }
    /// ```
    pub fn iter<'c, 's>(
        &'c mut self,
        session: &'s mut ClientSession,
    ) -> SessionCursorIter<'c, 's, T> {
        SessionCursorIter {
            cursor: self,
            session,
        }
    }
}

/// [`SessionCursor::iter`]: the cursor and its session, as an [`Iterator`].
pub struct SessionCursorIter<'c, 's, T> {
    cursor: &'c mut SessionCursor<T>,
    session: &'s mut ClientSession,
}

impl<T> std::fmt::Debug for SessionCursorIter<'_, '_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.cursor.fmt(f)
    }
}

impl<T: DeserializeOwned + 'static> Iterator for SessionCursorIter<'_, '_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.cursor.next(self.session)
    }
}
