//! The actions of a [`GridFsBucket`](crate::gridfs::GridFsBucket), named as in the official
//! crate: set options with chained calls, then `.await`.

mod delete;
mod download;
mod drop;
mod find;
mod rename;
mod upload;

pub use delete::{Delete, DeleteByName};
pub use download::{OpenDownloadStream, OpenDownloadStreamByName};
pub use drop::Drop;
pub use find::{Find, FindOne};
pub use rename::{Rename, RenameByName};
pub use upload::OpenUploadStream;

/// Makes a GridFS action type an [`Action`](super::Action).
macro_rules! gridfs_action {
    ($($name:ident),*) => {$(
        impl $crate::action::private::Sealed for $name<'_> {}
        impl $crate::action::Action for $name<'_> {}
        #[cfg(feature = "sync")]
        impl $crate::sync::ActionClient for $name<'_> {
            fn action_client(&self) -> $crate::Client {
                self.bucket.files().client().clone()
            }
        }
    )*};
}
use gridfs_action;
