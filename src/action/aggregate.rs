//! [`Collection::aggregate`] and [`Database::aggregate`].

use bson::Document;

use super::{SessionMode, Target};
use crate::coll::Collection;
use crate::error::Result;
use crate::operation;
use crate::options::{AggregateOptions, ReadPreferenceMode};
use crate::sdam::SelectionCriteria;
use crate::Database;

impl<T: Send + Sync> Collection<T> {
    /// Runs an aggregation pipeline on the collection. Returns an [`Aggregate`] action whose
    /// output is a `Cursor<Document>` (use [`Cursor::with_type`](crate::Cursor::with_type)
    /// for another type).
    ///
    /// ```no_run
    /// # async fn f(orders: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use futures_util::TryStreamExt;
    /// use mongo_x509::bson::doc;
    /// let totals: Vec<_> = orders
    ///     .aggregate([doc! { "$group": { "_id": "$customer", "total": { "$sum": "$amount" } } }])
    ///     .allow_disk_use(true)
    ///     .await?
    ///     .try_collect()
    ///     .await?;
    /// # let _ = totals; Ok(()) }
    /// ```
    pub fn aggregate(&self, pipeline: impl IntoIterator<Item = Document>) -> Aggregate<'_> {
        Aggregate::new(self.target(), pipeline.into_iter().collect())
    }
}

impl Database {
    /// Runs an aggregation on the database (`{aggregate: 1}`), e.g. `$currentOp` or
    /// `$documents` pipelines. Returns an [`Aggregate`] action.
    pub fn aggregate(&self, pipeline: impl IntoIterator<Item = Document>) -> Aggregate<'_> {
        Aggregate::new(self.target(), pipeline.into_iter().collect())
    }
}

action! {
    /// Runs an aggregation: [`Collection::aggregate`] and [`Database::aggregate`].
    pub struct Aggregate<'a> {
        pipeline: Vec<Document>,
    }
    options: AggregateOptions, aggregate_setters;
}

impl<'a, S: SessionMode<'a>> Aggregate<'a, S> {
    async fn execute(self) -> Result<S::Cursor<Document>> {
        let t: Target<'a> = self.target;
        let mut options = t.writes(self.options);
        t.check_max_await_time(options.max_await_time)?;
        // A database-level aggregation has no collection.
        let coll = Some(t.coll()).filter(|c| !c.is_empty()).map(str::to_owned);
        let reads = t.reads_of(&mut options);
        // $out/$merge with a non-primary read preference: on a secondary only when every
        // server can run it.
        let primary = matches!(&reads.criteria, SelectionCriteria::Read(rp) if rp.mode == ReadPreferenceMode::Primary);
        let on_read_preference = !primary
            && operation::pipeline_writes(&self.pipeline)
            && operation::write_stage_may_use_read_preference(&t.client().topology_description());
        let cursor = super::CursorTimeout {
            mode: options.timeout_mode,
            writes: operation::pipeline_writes(&self.pipeline),
            ..Default::default()
        };
        let op = operation::Aggregate::new(t.db().to_owned(), coll, self.pipeline, options, reads)
            .write_stage_on_read_preference(on_read_preference);
        t.cursor(op, self.session, cursor).await
    }
}
into_future!(impl<'a, S> Aggregate<'a, S> => S::Cursor<Document> where S: SessionMode<'a>);
