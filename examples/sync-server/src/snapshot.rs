//! `GET /api/snapshot`: every live row of a scope and the cursor it stands at.
//!
//! Built by folding the log page by page (see [`crate::store::fold`]).
//! Because compaction rewrites kept events to carry their materialized row,
//! folding a partly compacted log gives the same rows as the full log, even
//! if a compaction runs while the snapshot is read.

use eventsourced_db::protocol::Snapshot;

use crate::store::fold::Rows;
use crate::store::{Backend, StoreError};

/// Events read per backend call.
const PAGE: usize = 5000;

/// Materializes `scope`'s rows.
pub async fn build(backend: &dyn Backend, scope: &str) -> Result<Snapshot, StoreError> {
    let mut rows = Rows::default();
    let mut cursor = 0;
    loop {
        let page = backend.pull(scope, cursor, PAGE).await?;
        for e in &page.events {
            rows.apply_stored(e)?;
            cursor = e.seq;
        }
        if !page.has_more {
            break;
        }
    }
    Ok(Snapshot {
        rows: rows.into_snapshot_rows(),
        cursor: cursor.to_string(),
    })
}
