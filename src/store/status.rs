//! When this device last finished a sync round, kept across reloads so the
//! app's sync status can say so at once after a start.

use super::Store;
use crate::error::Result;

const LAST_SYNC_AT: &str = "last_sync_at";

impl Store {
    /// When a sync round last pulled everything the server had (ms since
    /// the epoch); `None` before the first.
    pub fn last_sync_at(&self) -> Result<Option<i64>> {
        Ok(self.meta(LAST_SYNC_AT)?.and_then(|v| v.parse().ok()))
    }

    /// Records the end of a complete round at `at_ms`.
    pub fn set_last_sync_at(&self, at_ms: i64) -> Result<()> {
        self.set_meta(LAST_SYNC_AT, &at_ms.to_string())
    }
}
