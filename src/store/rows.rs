//! The row state of the keys one transaction touches: loaded once, changed in
//! memory, written back once, and turned into the visible changes the JS side
//! must apply.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::doc::{apply, Doc};
use crate::error::Result;
use crate::fold::Row;
use crate::model::{ChangeKind, VisibleChange};
use crate::protocol::EventType;

/// One key's state inside a transaction.
#[derive(Debug, Default)]
pub(crate) struct RowState {
    /// The row as the server's order makes it.
    pub confirmed: Option<Doc>,
    /// The row the app sees.
    pub visible: Option<Doc>,
    /// True while pending local events are folded over `confirmed`.
    pub overlay: bool,
    /// The visible row when the transaction first touched the key.
    before: Option<Doc>,
    /// Whether the key has a row in the table.
    stored: bool,
    /// Report the key even if it did not change (a replayed capture): its
    /// visible row as an update, or this row as a delete when it is gone.
    pub report: Option<Doc>,
}

/// Touched keys, in first-touch order, inside one transaction on `conn`.
pub(crate) struct RowCache<'c> {
    conn: &'c Connection,
    /// Prepared once per transaction, not fetched from rusqlite's cache per key.
    select: rusqlite::CachedStatement<'c>,
    /// `collection \0 key` → position in `states`.
    index: HashMap<String, usize>,
    states: Vec<(String, String, RowState)>,
    probe: String,
}

fn parse(text: Option<String>) -> Result<Option<Doc>> {
    Ok(text.map(Doc::from_text))
}

impl<'c> RowCache<'c> {
    /// An empty cache for a transaction on `conn`.
    pub fn new(conn: &'c Connection) -> Result<Self> {
        Ok(RowCache {
            conn,
            select: conn.prepare_cached(
                "SELECT confirmed, visible, overlay FROM rows WHERE collection = ?1 AND key = ?2",
            )?,
            index: HashMap::new(),
            states: Vec::new(),
            probe: String::new(),
        })
    }

    /// The state of a key, loaded from the table on first touch.
    pub fn get(&mut self, collection: &str, key: &str) -> Result<&mut RowState> {
        self.probe.clear();
        self.probe.push_str(collection);
        self.probe.push('\0');
        self.probe.push_str(key);
        if let Some(&i) = self.index.get(self.probe.as_str()) {
            return Ok(&mut self.states[i].2);
        }
        let loaded = self
            .select
            .query_row(params![collection, key], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            })
            .optional()?;
        let state = match loaded {
            None => RowState::default(),
            Some((confirmed, visible, overlay)) => {
                let confirmed = parse(confirmed)?;
                let visible = if overlay {
                    parse(visible)?
                } else {
                    confirmed.clone()
                };
                RowState {
                    before: visible.clone(),
                    confirmed,
                    visible,
                    overlay,
                    stored: true,
                    report: None,
                }
            }
        };
        self.index.insert(self.probe.clone(), self.states.len());
        self.states
            .push((collection.to_string(), key.to_string(), state));
        Ok(&mut self.states.last_mut().expect("pushed above").2)
    }

    /// Writes every touched key back and returns the visible changes, in
    /// first-touch order. `key_value` maps a key's text to its typed value.
    pub fn flush(self, key_value: impl Fn(&str, &str) -> Value) -> Result<Vec<VisibleChange>> {
        let conn = self.conn;
        let mut upsert = conn.prepare_cached(
            "INSERT INTO rows (collection, key, confirmed, visible, overlay) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (collection, key) DO UPDATE SET
               confirmed = excluded.confirmed, visible = excluded.visible, overlay = excluded.overlay",
        )?;
        let mut delete =
            conn.prepare_cached("DELETE FROM rows WHERE collection = ?1 AND key = ?2")?;
        let mut changes = Vec::new();
        for (collection, key, state) in self.states {
            if state.confirmed.is_none() && !state.overlay {
                if state.stored {
                    delete.execute(params![collection, key])?;
                }
            } else {
                let confirmed = state.confirmed.as_ref().map(Doc::text).transpose()?;
                let visible = match (&state.visible, state.overlay) {
                    (Some(v), true) => Some(v.text()?),
                    _ => None,
                };
                upsert.execute(params![collection, key, confirmed, visible, state.overlay])?;
            }
            let (kind, value) = match (state.before, state.visible, state.report) {
                (None, Some(after), _) => (ChangeKind::Insert, after),
                (Some(before), None, _) => (ChangeKind::Delete, before),
                (Some(before), Some(after), report)
                    if report.is_some() || !Doc::same(&before, &after)? =>
                {
                    (ChangeKind::Update, after)
                }
                (None, None, Some(last)) => (ChangeKind::Delete, last),
                _ => continue,
            };
            changes.push(VisibleChange {
                key: key_value(&collection, &key),
                collection,
                kind,
                value: value.to_json()?,
            });
        }
        Ok(changes)
    }
}

impl RowCache<'_> {
    /// Recomputes every touched key's visible row: its confirmed row with the
    /// key's still-unapplied, unrejected local events folded on top, oldest
    /// first (the rebase).
    pub fn rebase_all(&mut self) -> Result<()> {
        let conn = self.conn;
        // Usually no local event is pending at all: then visible = confirmed
        // and the per-key look-ups are skipped.
        let any_pending: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM events WHERE origin = 0 AND applied = 0 AND status != 3)",
            )?
            .query_row([], |r| r.get(0))?;
        if !any_pending {
            for (_, _, state) in &mut self.states {
                state.visible = state.confirmed.clone();
                state.overlay = false;
            }
            return Ok(());
        }
        // One statement for all keys, not one trip through rusqlite's cache per
        // key: returning it there clears its bindings, and SQLite re-prepares a
        // statement whose plan looked at bound values after every clear.
        let mut stmt = conn.prepare_cached(
            "SELECT kind, payload, changes FROM events
             WHERE collection = ?1 AND key = ?2 AND origin = 0 AND applied = 0 AND status != 3
             ORDER BY seq",
        )?;
        for (collection, key, state) in &mut self.states {
            let mut rows = stmt.query(params![&*collection, &*key])?;
            let mut visible = state.confirmed.clone();
            let mut folded = false;
            while let Some(r) = rows.next()? {
                let Some(kind) = EventType::parse(&r.get::<_, String>(0)?) else {
                    continue;
                };
                let payload = Doc::from_text(r.get(1)?);
                let changes: Option<Row> = r
                    .get::<_, Option<String>>(2)?
                    .map(|t| serde_json::from_str(&t))
                    .transpose()?;
                visible = apply(visible, kind, &payload, changes.as_ref())?;
                folded = true;
            }
            state.visible = visible;
            state.overlay = folded;
        }
        Ok(())
    }
}
