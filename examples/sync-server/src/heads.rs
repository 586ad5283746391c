//! Wakes live tails when a scope's head advances: one `watch` channel per
//! scope that has listeners, so a commit wakes them at once (no polling).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The last known head of each scope with live listeners.
#[derive(Debug, Clone, Default)]
pub struct Heads {
    scopes: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
}

impl Heads {
    /// Announces that `scope` now ends at `head` (after a commit).
    pub fn publish(&self, scope: &str, head: u64) {
        let mut scopes = self.scopes.lock().expect("heads");
        if let Some(tx) = scopes.get(scope) {
            tx.send_if_modified(|h| {
                let newer = head > *h;
                if newer {
                    *h = head;
                }
                newer
            });
            if tx.receiver_count() == 0 {
                scopes.remove(scope);
            }
        }
    }

    /// A receiver that changes whenever `scope`'s head advances.
    pub fn subscribe(&self, scope: &str) -> watch::Receiver<u64> {
        let mut scopes = self.scopes.lock().expect("heads");
        scopes
            .entry(scope.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }
}
