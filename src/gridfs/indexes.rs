//! The indexes GridFS needs, made before a bucket handle's first write: when the files
//! collection is empty (read on the primary), each index is looked for first (an application
//! with read-only rights to the indexes still works) and created only when missing.

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;

use super::GridFsBucket;
use crate::action::gridfs::{within, Budget};
use crate::coll::Collection;
use crate::error::{ErrorKind, Result};
use crate::options::{IndexModel, IndexOptions};

/// `NamespaceNotFound`: `listIndexes` on a collection that does not exist yet.
const NAMESPACE_NOT_FOUND: i32 = 26;

impl GridFsBucket {
    /// Makes sure the files and chunks indexes exist, once per bucket handle.
    /// Each command runs under what is left of `budget`.
    pub(crate) async fn ensure_indexes(&self, budget: &Budget) -> Result<()> {
        if self.indexes_checked() {
            return Ok(());
        }
        let find = self
            .files_on_primary()
            .find_one(doc! {})
            .projection(doc! { "_id": 1 });
        let empty = within!(budget, find)?.is_none();
        if empty {
            let files = doc! { "filename": 1, "uploadDate": 1 };
            ensure_index(self.files(), files, false, budget).await?;
            let chunks = doc! { "files_id": 1, "n": 1 };
            ensure_index(self.chunks(), chunks, true, budget).await?;
        }
        self.set_indexes_checked(true);
        Ok(())
    }
}

/// Creates the index on `keys` unless the collection has one already.
async fn ensure_index<T: Send + Sync>(
    coll: &Collection<T>,
    keys: Document,
    unique: bool,
    budget: &Budget,
) -> Result<()> {
    let existing: Vec<IndexModel> = match within!(budget, coll.list_indexes()) {
        Ok(cursor) => cursor.try_collect().await?,
        Err(e) if matches!(*e.kind, ErrorKind::Command { code, .. } if code == NAMESPACE_NOT_FOUND) => {
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    if existing.iter().any(|i| same_keys(&i.keys, &keys)) {
        return Ok(());
    }
    let mut index = IndexModel::builder().keys(keys).build();
    if unique {
        index.options = Some(IndexOptions::builder().unique(true).build());
    }
    within!(budget, coll.create_index(index))?;
    Ok(())
}

/// Whether an index's keys are `wanted`: the same fields in the same order, numbers equal by
/// value whatever their type (the shell writes `1.0`).
pub(crate) fn same_keys(existing: &Document, wanted: &Document) -> bool {
    existing.len() == wanted.len()
        && existing
            .iter()
            .zip(wanted)
            .all(|((k1, v1), (k2, v2))| k1 == k2 && same_value(v1, v2))
}

fn same_value(a: &Bson, b: &Bson) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn number(b: &Bson) -> Option<f64> {
    match b {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) => Some(*n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_match_whatever_the_numeric_type() {
        let wanted = doc! { "filename": 1, "uploadDate": 1 };
        for existing in [
            doc! { "filename": 1, "uploadDate": 1 },
            doc! { "filename": 1_i64, "uploadDate": 1.0 },
            doc! { "filename": 1.0, "uploadDate": 1_i64 },
        ] {
            assert!(same_keys(&existing, &wanted), "{existing}");
        }
        for other in [
            doc! { "filename": -1, "uploadDate": 1 },
            doc! { "uploadDate": 1, "filename": 1 },
            doc! { "filename": 1 },
            doc! { "filename": 1, "uploadDate": 1, "x": 1 },
            doc! { "filename": "text", "uploadDate": 1 },
        ] {
            assert!(!same_keys(&other, &wanted), "{other}");
        }
    }
}
