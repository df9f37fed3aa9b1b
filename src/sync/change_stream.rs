//! [`ChangeStream`] and [`SessionChangeStream`]: change streams read by blocking.

use serde::de::DeserializeOwned;

use super::ClientSession;
use crate::change_stream::event::ResumeToken;
use crate::error::Result;

blocking_wrapper! {
    /// A change stream opened with `watch().run()`: an [`Iterator`] of events that waits for the
    /// next one (resuming after a network error as the async
    /// [`ChangeStream`](crate::change_stream::ChangeStream) does), and ends after an `invalidate`
    /// event or an error.
    ///
    /// ```no_run
    /// # fn f(coll: mongo_x509::sync::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// for event in coll.watch().run()? {
    ///     let event = event?;
    ///     println!("{:?} {:?}", event.operation_type, event.document_key);
    /// }
    /// # Ok(()) }
    /// ```
    pub struct ChangeStream<T>(crate::change_stream::ChangeStream<T>);

    /// The same stream, decoding its events as `U`.
    pub fn with_type;
}

/// The methods the blocking change streams share: `resume_token`, `is_alive` and `close`.
macro_rules! change_stream_methods {
    ($name:ident) => {
        impl<T> $name<T> {
            /// The token to resume after the last event handed out; see
            /// [`ChangeStream::resume_token`](crate::change_stream::ChangeStream::resume_token).
            pub fn resume_token(&self) -> Option<ResumeToken> {
                self.held.get().resume_token()
            }

            /// Whether more events may come: false once the server has ended the stream or an
            /// error has.
            pub fn is_alive(&self) -> bool {
                self.held.get().is_alive()
            }

            /// Closes the stream now, blocking until the server has answered the
            /// `killCursors`; see
            /// [`ChangeStream::close`](crate::change_stream::ChangeStream::close).
            pub fn close(self) {
                let (stream, runtime) = self.held.into_parts();
                runtime.block_on(stream.close());
            }
        }
    };
}

change_stream_methods!(ChangeStream);

impl<T: DeserializeOwned + 'static> ChangeStream<T> {
    /// The next event if one arrives with at most one `getMore`: `Ok(None)` when the batch
    /// came back empty. Save [`resume_token`](Self::resume_token) after each call to continue
    /// from there after a restart.
    ///
    /// ```no_run
    /// # fn f(coll: mongo_x509::sync::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// # fn save<T>(_: T) {}
    /// let mut stream = coll.watch().run()?;
    /// while stream.is_alive() {
    ///     if let Some(event) = stream.next_if_any()? {
    ///         println!("{event:?}");
    ///     }
    ///     save(stream.resume_token());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn next_if_any(&mut self) -> Result<Option<T>> {
        self.held.block_on(|stream| stream.next_if_any())
    }
}

blocking_iterator! {
    /// The next event, waiting for it; `None` once the stream has ended.
    impl Iterator for ChangeStream
}

blocking_wrapper! {
    /// A change stream opened in an explicit session (`watch().session(&mut session).run()`):
    /// read it with [`next`](Self::next) and the same session.
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::Document;
    /// let coll = client.database("app").collection::<Document>("events");
    /// let mut session = client.start_session().run()?;
    /// let mut stream = coll.watch().session(&mut session).run()?;
    /// while let Some(event) = stream.next(&mut session)? {
    ///     println!("{:?}", event.operation_type);
    /// }
    /// # Ok(()) }
    /// ```
    pub struct SessionChangeStream<T>(crate::change_stream::SessionChangeStream<T>);

    /// The same stream, decoding its events as `U`.
    pub fn with_type;
}

change_stream_methods!(SessionChangeStream);

impl<T: DeserializeOwned + 'static> SessionChangeStream<T> {
    /// The next event, waiting for one, with `getMore`s in `session` (the session the stream
    /// was opened in); `Ok(None)` once the stream has ended.
    pub fn next(&mut self, session: &mut ClientSession) -> Result<Option<T>> {
        self.held.block_on(|stream| stream.next(session))
    }

    /// The next event if one arrives with at most one `getMore` in `session`: `Ok(None)` when
    /// the batch came back empty.
    pub fn next_if_any(&mut self, session: &mut ClientSession) -> Result<Option<T>> {
        self.held.block_on(|stream| stream.next_if_any(session))
    }
}
