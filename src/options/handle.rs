//! [`DatabaseOptions`] and [`CollectionOptions`]: the read preference, read and write concern
//! and `timeoutMS` a database or collection handle gives its operations.

use std::time::Duration;

use typed_builder::TypedBuilder;

use super::{ReadConcern, ReadPreference, WriteConcern};

/// The defaults of a database handle, for
/// [`Client::database_with_options`](crate::Client::database_with_options). What is not set
/// comes from the client.
///
/// `selection_criteria` keeps the official crate's name; in this crate a read's selection
/// criteria are its [`ReadPreference`] (writes always go to a writable server).
///
/// ```
/// use std::time::Duration;
/// use mongo_x509::options::{DatabaseOptions, ReadConcern, ReadPreference, ReadPreferenceMode};
/// let options = DatabaseOptions::builder()
///     .selection_criteria(ReadPreference::from(ReadPreferenceMode::SecondaryPreferred))
///     .read_concern(ReadConcern::majority())
///     .timeout(Duration::from_secs(2))
///     .build();
/// assert_eq!(options.timeout, Some(Duration::from_secs(2)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct DatabaseOptions {
    /// Where the database's reads go (its read preference).
    pub selection_criteria: Option<ReadPreference>,
    /// The read concern of its reads.
    pub read_concern: Option<ReadConcern>,
    /// The write concern of its writes.
    pub write_concern: Option<WriteConcern>,
    /// `timeoutMS` of each of its operations (zero: no limit).
    pub timeout: Option<Duration>,
}

/// The defaults of a collection handle, for
/// [`Database::collection_with_options`](crate::Database::collection_with_options). What is not
/// set comes from the database handle.
///
/// ```no_run
/// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
/// use mongo_x509::bson::{doc, Document};
/// use mongo_x509::options::{Acknowledgment, CollectionOptions, WriteConcern};
/// let orders = client.database("shop").collection_with_options::<Document>(
///     "orders",
///     CollectionOptions::builder()
///         .write_concern(WriteConcern::builder().w(Acknowledgment::Majority).build())
///         .build(),
/// );
/// orders.insert_one(doc! { "item": "pen" }).await?; // acknowledged by a majority
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct CollectionOptions {
    /// Where the collection's reads go (its read preference).
    pub selection_criteria: Option<ReadPreference>,
    /// The read concern of its reads.
    pub read_concern: Option<ReadConcern>,
    /// The write concern of its writes.
    pub write_concern: Option<WriteConcern>,
    /// `timeoutMS` of each of its operations (zero: no limit).
    pub timeout: Option<Duration>,
}
