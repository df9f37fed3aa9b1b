//! The options of a transaction ([`TransactionOptions`]) and the read concern levels a
//! transaction (or anything else) may ask for.

use std::time::Duration;

use super::{Acknowledgment, ReadConcern, ReadPreference, WriteConcern};

options! {
    /// Options of a transaction: given to
    /// [`ClientSession::start_transaction`](crate::ClientSession::start_transaction), or as a
    /// session's [`default_transaction_options`](crate::options::SessionOptions::default_transaction_options).
    /// An option left unset is taken from the session's defaults, then from the client.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mongo_x509::options::{ReadConcern, TransactionOptions, WriteConcern, Acknowledgment};
    /// let options = TransactionOptions::builder()
    ///     .read_concern(ReadConcern::snapshot())
    ///     .write_concern(WriteConcern::builder().w(Acknowledgment::Majority).build())
    ///     .max_commit_time(Duration::from_secs(5))
    ///     .build();
    /// assert_eq!(options.read_concern.unwrap().level, "snapshot");
    /// ```
    pub struct TransactionOptions => transaction_setters {
        /// The read concern of the transaction: sent with its first command only (`local`,
        /// `majority` or `snapshot`).
        #[serde(skip)]
        read_concern: ReadConcern,
        /// The write concern of `commitTransaction` and `abortTransaction`; the commands inside
        /// the transaction carry none. Must be acknowledged.
        #[serde(skip)]
        write_concern: WriteConcern,
        /// Where the transaction's reads go: it must be the primary (the server's rule), and a
        /// read with any other read preference fails.
        #[serde(skip)]
        read_preference: ReadPreference,
        /// `maxTimeMS` of `commitTransaction`: how long the server may take to commit.
        #[serde(skip)]
        max_commit_time: Duration,
    }
}

impl TransactionOptions {
    /// Each option unset here taken from `defaults`.
    pub(crate) fn or(mut self, defaults: &TransactionOptions) -> TransactionOptions {
        self.read_concern = self.read_concern.or_else(|| defaults.read_concern.clone());
        self.write_concern = self
            .write_concern
            .or_else(|| defaults.write_concern.clone());
        self.read_preference = self
            .read_preference
            .or_else(|| defaults.read_preference.clone());
        self.max_commit_time = self.max_commit_time.or(defaults.max_commit_time);
        self
    }
}

impl WriteConcern {
    /// `w: "majority"`.
    pub fn majority() -> Self {
        WriteConcern {
            w: Some(Acknowledgment::Majority),
            ..WriteConcern::default()
        }
    }

    /// False for `w: 0` without `j: true`: the server sends no acknowledgment.
    pub fn is_acknowledged(&self) -> bool {
        crate::operation::acknowledged(Some(self))
    }
}
