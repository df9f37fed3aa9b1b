//! What a database or collection handle passes on to its operations: read preference, read
//! concern, write concern and `timeoutMS`, each the handle's own or, when unset, its parent's
//! (the client's options at the top).

use std::time::Duration;

use super::{
    ClientOptions, CollectionOptions, DatabaseOptions, ReadConcern, ReadPreference, WriteConcern,
};

/// The defaults an operation takes from its handle. Resolved when the handle is made, so an
/// operation reads one value instead of walking collection, database and client.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Inherited {
    pub(crate) read_preference: Option<ReadPreference>,
    pub(crate) read_concern: Option<ReadConcern>,
    pub(crate) write_concern: Option<WriteConcern>,
    pub(crate) timeout: Option<Duration>,
}

impl Inherited {
    /// The client's own defaults (its connection string or options).
    pub(crate) fn from_client(options: &ClientOptions) -> Self {
        Self {
            read_preference: options.read_preference.clone(),
            read_concern: options.read_concern.clone(),
            write_concern: options.write_concern.clone(),
            timeout: options.timeout,
        }
    }

    /// A database handle's: what it sets, else these.
    pub(crate) fn for_database(&self, o: DatabaseOptions) -> Self {
        self.with(
            o.selection_criteria,
            o.read_concern,
            o.write_concern,
            o.timeout,
        )
    }

    /// A collection handle's: what it sets, else these.
    pub(crate) fn for_collection(&self, o: CollectionOptions) -> Self {
        self.with(
            o.selection_criteria,
            o.read_concern,
            o.write_concern,
            o.timeout,
        )
    }

    fn with(
        &self,
        read_preference: Option<ReadPreference>,
        read_concern: Option<ReadConcern>,
        write_concern: Option<WriteConcern>,
        timeout: Option<Duration>,
    ) -> Self {
        Self {
            read_preference: read_preference.or_else(|| self.read_preference.clone()),
            read_concern: read_concern.or_else(|| self.read_concern.clone()),
            write_concern: write_concern.or_else(|| self.write_concern.clone()),
            timeout: timeout.or(self.timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Acknowledgment, ReadPreferenceMode};

    #[test]
    fn each_level_overrides_what_it_sets_and_keeps_the_rest() {
        let client = Inherited {
            read_preference: Some(ReadPreferenceMode::Secondary.into()),
            read_concern: Some(ReadConcern::local()),
            write_concern: Some(WriteConcern::builder().w(Acknowledgment::Nodes(1)).build()),
            timeout: Some(Duration::from_secs(5)),
        };
        let db = client.for_database(
            DatabaseOptions::builder()
                .read_concern(ReadConcern::majority())
                .timeout(Duration::ZERO)
                .build(),
        );
        assert_eq!(db.read_preference, client.read_preference);
        assert_eq!(db.read_concern, Some(ReadConcern::majority()));
        assert_eq!(db.write_concern, client.write_concern);
        assert_eq!(db.timeout, Some(Duration::ZERO), "0 (no limit) is a value");
        let coll = db.for_collection(
            CollectionOptions::builder()
                .selection_criteria(ReadPreference::from(ReadPreferenceMode::Nearest))
                .build(),
        );
        assert_eq!(
            coll.read_preference,
            Some(ReadPreferenceMode::Nearest.into())
        );
        assert_eq!(coll.read_concern, Some(ReadConcern::majority()));
        assert_eq!(coll.timeout, Some(Duration::ZERO));
    }
}
