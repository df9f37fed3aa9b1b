//! The options of a change stream ([`Collection::watch`](crate::Collection::watch),
//! [`Database::watch`](crate::Database::watch), [`Client::watch`](crate::Client::watch)).
//! The `$changeStream` stage's options serialize themselves into the stage; those of the
//! `aggregate` command and of its `getMore`s are applied by the change stream.

use std::time::Duration;

use bson::{Bson, Timestamp};

use super::Collation;
use crate::change_stream::event::ResumeToken;

options! {
    /// Options for a change stream (`watch`).
    pub struct ChangeStreamOptions => watch_setters {
        /// What an event's [`full_document`](crate::change_stream::event::ChangeStreamEvent::full_document)
        /// holds for updates: by default nothing; with
        /// [`UpdateLookup`](crate::options::FullDocumentType::UpdateLookup) the document as it is some time
        /// after the update.
        full_document: FullDocumentType,
        /// Whether events carry the document as it was before the change (the collection
        /// needs `changeStreamPreAndPostImages`).
        full_document_before_change: FullDocumentBeforeChangeType,
        /// Start after this event: the [`ChangeStream::resume_token`](crate::change_stream::ChangeStream::resume_token)
        /// (or an event's `id`) saved earlier. Not after an invalidate event: use
        /// `start_after` there. To pass an `Option`, use
        /// [`Action::optional`](crate::action::Action::optional).
        resume_after: ResumeToken,
        /// Only changes at or after this cluster time (any command's `operationTime`).
        start_at_operation_time: Timestamp,
        /// Like `resume_after`, and also after an invalidate event (a collection dropped or
        /// renamed): the new stream starts with the changes that followed it.
        start_after: ResumeToken,
        /// Also report the expanded events (`createIndexes`, `dropIndexes`, `modify`,
        /// `create`, `shardCollection`, …) and fields (MongoDB 6.0+).
        show_expanded_events: bool,
        /// How long each `getMore` waits on the server for new events before it returns an
        /// empty batch (`maxAwaitTimeMS`; the server's default is one second).
        #[serde(skip)]
        max_await_time: Duration,
        /// Events per batch.
        #[serde(skip)]
        batch_size: u32,
        /// The collation for string comparisons in the pipeline.
        #[serde(skip)]
        collation: Collation,
        /// A comment (any BSON value), sent with the `aggregate` and its `getMore`s.
        #[serde(skip)]
        comment: Bson => into,
    }
}

server_names! {
    /// What a change event's `fullDocument` holds ([`ChangeStreamOptions::full_document`]).
    pub enum FullDocumentType {
        /// A value the server knows and this crate does not, sent as given.
        Other(String),
        /// For updates, the current majority-committed version of the document, looked up after
        /// the update (`updateLookup`).
        UpdateLookup = "updateLookup",
        /// For updates and replacements, the post-image when one was recorded (`whenAvailable`).
        WhenAvailable = "whenAvailable",
        /// As `WhenAvailable`, and an error when no post-image was recorded (`required`).
        Required = "required",
    }
}

server_names! {
    /// What a change event's `fullDocumentBeforeChange` holds
    /// ([`ChangeStreamOptions::full_document_before_change`]).
    pub enum FullDocumentBeforeChangeType {
        /// A value the server knows and this crate does not, sent as given.
        Other(String),
        /// The pre-image when one was recorded, else null (`whenAvailable`).
        WhenAvailable = "whenAvailable",
        /// The pre-image, and an error when none was recorded (`required`).
        Required = "required",
        /// Nothing (`off`, the server's default).
        Off = "off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn only_the_stage_options_serialize() {
        let token = ResumeToken::from_document(doc! { "_data": "82" });
        let o = ChangeStreamOptions::builder()
            .full_document(FullDocumentType::UpdateLookup)
            .full_document_before_change(FullDocumentBeforeChangeType::Other("x".into()))
            .start_after(token)
            .show_expanded_events(true)
            .max_await_time(Duration::from_millis(10))
            .batch_size(3_u32)
            .comment(Bson::from("c"))
            .build();
        assert_eq!(
            bson::to_document(&o).unwrap(),
            doc! { "fullDocument": "updateLookup", "fullDocumentBeforeChange": "x",
            "startAfter": { "_data": "82" }, "showExpandedEvents": true }
        );
        let back: FullDocumentType = bson::from_bson(Bson::from("whenAvailable")).unwrap();
        assert_eq!(back, FullDocumentType::WhenAvailable);
        let back: FullDocumentBeforeChangeType = bson::from_bson(Bson::from("new")).unwrap();
        assert_eq!(back, FullDocumentBeforeChangeType::Other("new".into()));
    }
}
