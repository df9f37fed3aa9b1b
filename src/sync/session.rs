//! [`ClientSession`]: a blocking explicit session.

use std::ops::{Deref, DerefMut};

use super::Client;

blocking_wrapper! {
    /// An explicit session of a blocking [`Client`]: the async
    /// [`ClientSession`](crate::ClientSession), from `client.start_session().run()`. Pass it to
    /// actions with `.session(&mut session)` as in the async API; run transactions with
    /// `start_transaction`, `commit_transaction` and `abort_transaction`, each ending in
    /// `.run()`. A transaction still open when the session is dropped is aborted in the
    /// background, on the client's runtime (if other handles keep it running).
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// let accounts = client.database("bank").collection::<Document>("accounts");
    /// let mut session = client.start_session().run()?;
    /// session.start_transaction().run()?;
    /// accounts
    ///     .update_one(doc! { "_id": "ann" }, doc! { "$inc": { "balance": -10 } })
    ///     .session(&mut session)
    ///     .run()?;
    /// accounts
    ///     .update_one(doc! { "_id": "bob" }, doc! { "$inc": { "balance": 10 } })
    ///     .session(&mut session)
    ///     .run()?;
    /// session.commit_transaction().run()?;
    /// # Ok(()) }
    /// ```
    #[derive(Debug)]
    pub struct ClientSession(crate::ClientSession);
}

impl ClientSession {
    /// The client that started the session.
    ///
    /// ```no_run
    /// # fn f(session: mongo_x509::sync::ClientSession) {
    /// let client = session.client();
    /// # let _ = client; }
    /// ```
    pub fn client(&self) -> Client {
        Client::from_held(self.held.with(self.held.get().client()))
    }
}

impl Deref for ClientSession {
    type Target = crate::ClientSession;

    /// The async session (its id, cluster time, transaction state, …).
    fn deref(&self) -> &crate::ClientSession {
        self.held.get()
    }
}

impl DerefMut for ClientSession {
    /// The async session: what `.session(&mut session)` takes, and the transaction actions.
    fn deref_mut(&mut self) -> &mut crate::ClientSession {
        self.held.get_mut()
    }
}
