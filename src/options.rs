//! Client options: what a connection string says, as typed values you can also build in code.
//!
//! [`ClientOptions::parse`] implements the MongoDB Connection String and URI Options
//! specifications; every type here can also be built with its `builder()`, with the same names
//! as the official `mongodb` crate.
//!
//! ```
//! use mongo_x509::options::{AuthMechanism, ClientOptions, Credential, ServerAddress, Tls, TlsOptions};
//!
//! let options = ClientOptions::builder()
//!     .hosts(vec![ServerAddress::Tcp { host: "db.example.com".into(), port: None }])
//!     .credential(Credential::builder().mechanism(AuthMechanism::MongoDbX509).build())
//!     .tls(Tls::Enabled(
//!         TlsOptions::builder()
//!             .ca_file_path("/etc/ssl/mongo-ca.pem")
//!             .cert_key_file_path("/etc/ssl/client.pem")
//!             .tls_certificate_key_file_password(b"secret".to_vec())
//!             .build(),
//!     ))
//!     .build();
//! assert_eq!(options.hosts[0].to_string(), "db.example.com:27017");
//! // The password never shows in Debug output.
//! assert!(!format!("{options:?}").contains("secret"));
//! ```

#[macro_use]
pub(crate) mod define;
mod bulk_write;
mod change_stream;
mod collection;
mod handle;
mod index;
mod inherited;
mod operation;
mod parse;
mod resolver;
mod search_index;
mod transaction;

pub use crate::gridfs::options::*;
pub use change_stream::*;
mod server_api;
mod types;

pub use bulk_write::*;
pub use collection::*;
pub use handle::{CollectionOptions, DatabaseOptions};
pub use index::{IndexModel, IndexOptions};
pub(crate) use inherited::Inherited;
pub use operation::*;
#[cfg(feature = "fuzzing")]
pub(crate) use parse::parse_uri_offline;
pub use resolver::ResolverConfig;
pub use search_index::*;
pub use server_api::{ServerApi, ServerApiVersion};
pub(crate) use transaction::transaction_setters;
pub use transaction::TransactionOptions;
pub use types::*;

/// The options of a write, whose write concern defaults to its handle's (`Target::writes`).
pub(crate) trait WriteOptions {
    fn write_concern_mut(&mut self) -> &mut Option<WriteConcern>;
}

macro_rules! write_options {
    ($($name:ty),* $(,)?) => {$(
        impl WriteOptions for $name {
            fn write_concern_mut(&mut self) -> &mut Option<WriteConcern> {
                &mut self.write_concern
            }
        }
    )*};
}

/// The options of a read, whose read preference and read concern the client applies
/// (`Target::reads_of`).
pub(crate) trait ReadOptions {
    /// Takes the read preference and read concern out of the options.
    fn take_reads(&mut self) -> (Option<ReadPreference>, Option<ReadConcern>);
}

macro_rules! read_options {
    ($($name:ty),* $(,)?) => {$(
        impl ReadOptions for $name {
            fn take_reads(&mut self) -> (Option<ReadPreference>, Option<ReadConcern>) {
                (self.selection_criteria.take(), self.read_concern.take())
            }
        }
    )*};
}

read_options!(
    AggregateOptions,
    CountOptions,
    DistinctOptions,
    EstimatedDocumentCountOptions,
    FindOneOptions,
    FindOptions,
);

write_options!(
    AggregateOptions,
    BulkWriteOptions,
    CollectionBulkWriteOptions,
    CreateCollectionOptions,
    CreateIndexOptions,
    DeleteOptions,
    DropIndexOptions,
    DropOptions,
    FindOneAndDeleteOptions,
    FindOneAndReplaceOptions,
    FindOneAndUpdateOptions,
    InsertManyOptions,
    RenameCollectionOptions,
    ReplaceOptions,
    UpdateOptions,
);
