//! [`Collection`]: a blocking collection handle.

use std::ops::Deref;

blocking_wrapper! {
    /// A collection of a blocking [`Client`](super::Client): the async
    /// [`Collection<T>`](crate::Collection), whose actions (`insert_one`, `find`,
    /// `update_many`, `aggregate`, `create_index`, `watch`, …) run here with `.run()`, with the
    /// same builders. Cheap to clone; `Send + Sync`.
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// let items = client.database("shop").collection::<Document>("items");
    /// items.insert_one(doc! { "name": "pen", "qty": 10 }).run()?;
    /// items
    ///     .update_one(doc! { "name": "pen" }, doc! { "$inc": { "qty": 5 } })
    ///     .upsert(true)
    ///     .run()?;
    /// let pen = items.find_one(doc! { "name": "pen" }).run()?;
    /// for item in items.find(doc! {}).sort(doc! { "qty": -1 }).batch_size(50).run()? {
    ///     println!("{}", item?);
    /// }
    /// # let _ = pen; Ok(()) }
    /// ```
    pub struct Collection<T>(crate::Collection<T>);
}

impl<T> Collection<T> {
    /// The same collection with documents of another type.
    ///
    /// ```no_run
    /// # fn f(items: mongo_x509::sync::Collection<mongo_x509::bson::Document>) {
    /// use mongo_x509::bson::RawDocumentBuf;
    /// let raw = items.clone_with_type::<RawDocumentBuf>();
    /// # let _ = raw; }
    /// ```
    pub fn clone_with_type<U>(&self) -> Collection<U> {
        Collection::from_held(self.held.with(self.held.get().clone_with_type()))
    }
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Self {
            held: self.held.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.held.fmt(f)
    }
}

impl<T> Deref for Collection<T> {
    type Target = crate::Collection<T>;

    /// The async collection: its actions run here with `.run()`.
    fn deref(&self) -> &crate::Collection<T> {
        self.held.get()
    }
}
