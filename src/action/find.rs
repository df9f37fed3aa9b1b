//! [`Collection::find`] and [`Collection::find_one`].

use bson::Document;
use serde::de::DeserializeOwned;

use super::SessionMode;
use crate::coll::Collection;
use crate::cursor::{Cursor, SessionCursor};
use crate::error::Result;
use crate::operation;
use crate::options::{FindOneOptions, FindOptions};

impl<T: DeserializeOwned + Send + Sync> Collection<T> {
    /// Finds the documents matching `filter`. Returns a [`Find`] action whose output is a
    /// [`Cursor<T>`](crate::Cursor) (a [`SessionCursor<T>`](crate::SessionCursor) in an
    /// explicit session).
    ///
    /// ```no_run
    /// # async fn f(items: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use futures_util::TryStreamExt;
    /// use mongo_x509::bson::doc;
    /// let low: Vec<_> = items.find(doc! { "qty": { "$lt": 5 } }).sort(doc! { "qty": 1 }).await?.try_collect().await?;
    /// # let _ = low; Ok(()) }
    /// ```
    pub fn find(&self, filter: Document) -> Find<'_, T> {
        Find::new(self.target(), filter)
    }

    /// Finds the first document matching `filter`, or `None`. Returns a [`FindOne`] action.
    pub fn find_one(&self, filter: Document) -> FindOne<'_, T> {
        FindOne::new(self.target(), filter)
    }
}

action! {
    /// Finds documents: [`Collection::find`].
    pub struct Find<'a, T> {
        filter: Document,
    }
    options: FindOptions, find_setters;
}

impl<'a, T: DeserializeOwned + Send + Sync, S: SessionMode<'a>> Find<'a, T, S> {
    async fn execute(self) -> Result<S::Cursor<T>> {
        let t = self.target;
        let mut o = self.options;
        if o.cursor_type == Some(crate::options::CursorType::TailableAwait) {
            t.check_max_await_time(o.max_await_time)?;
        }
        let reads = t.reads_of(&mut o);
        let kind = o.cursor_type.unwrap_or_default();
        let cursor = super::CursorTimeout {
            mode: o.timeout_mode,
            tailable: kind != crate::options::CursorType::NonTailable,
            await_data: kind == crate::options::CursorType::TailableAwait,
            writes: false,
        };
        let op = operation::Find::new(t.db(), t.coll(), self.filter, o, reads);
        t.cursor(op, self.session, cursor).await
    }
}
into_future!(impl<'a, T, S> Find<'a, T, S> => S::Cursor<T>
    where T: DeserializeOwned + Send + Sync + 'a, S: SessionMode<'a>);

action! {
    /// Finds one document: [`Collection::find_one`].
    pub struct FindOne<'a, T> {
        filter: Document,
    }
    options: FindOneOptions, find_one_setters;
}

impl<'a, T: DeserializeOwned + Send + Sync + 'static, S: SessionMode<'a>> FindOne<'a, T, S> {
    async fn execute(self) -> Result<Option<T>> {
        let t = self.target;
        let mut o = self.options;
        let reads = t.reads_of(&mut o);
        // A find of one document in a single batch: the server closes the cursor.
        let options = FindOptions {
            sort: o.sort,
            projection: o.projection,
            skip: o.skip,
            max_time: o.max_time,
            comment: o.comment,
            hint: o.hint,
            collation: o.collation,
            let_vars: o.let_vars,
            allow_partial_results: o.allow_partial_results,
            return_key: o.return_key,
            show_record_id: o.show_record_id,
            allow_disk_use: o.allow_disk_use,
            max: o.max,
            min: o.min,
            raw_data: o.raw_data,
            limit: Some(-1),
            ..FindOptions::default()
        };
        let op = operation::Find::new(t.db(), t.coll(), self.filter, options, reads);
        // The first result, deserialized straight from the reply's bytes.
        let item = match self.session.into_session() {
            Some(session) => {
                let o = t.open_cursor(op, Some(&mut *session)).await?;
                let mut cursor =
                    SessionCursor::<T>::new(t.client().clone(), o.spec, o.leftovers, session);
                cursor.next(session).await
            }
            None => {
                let o = t.open_cursor(op, None).await?;
                Cursor::<T>::new(t.client().clone(), o.spec, o.leftovers)
                    .next_item()
                    .await
            }
        };
        item.transpose()
    }
}
into_future!(impl<'a, T, S> FindOne<'a, T, S> => Option<T>
    where T: DeserializeOwned + Send + Sync + 'static, S: SessionMode<'a>);
