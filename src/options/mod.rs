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

mod parse;
mod resolver;
mod types;

#[cfg(feature = "fuzzing")]
pub(crate) use parse::parse_uri_offline;
pub use resolver::ResolverConfig;
pub use types::*;
// The CRUD operation options (issue 4).
pub use crate::coll::options::*;
