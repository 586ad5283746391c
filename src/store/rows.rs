//! The row state of the keys one transaction touches: loaded once, changed in
//! memory, written back once, and turned into the visible changes the JS side
//! must apply.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use rusqlite::{params, CachedStatement, Connection, OptionalExtension};

use super::batch;
use super::doc::{apply, Doc};
use super::kind::Kind;
use super::{KeyKind, Store};
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
    /// How many of the key's local events are pending (not applied, not
    /// rejected): while there are any, they are folded over `confirmed`.
    pub pending: i64,
    /// The newest pending event (the head of the chain of `prev_pending`).
    pub last_pending: Option<i64>,
    /// An event whose payload is `visible` itself (the event that wrote
    /// the row as a whole): the row table then names it instead of storing
    /// the text a second time.
    pub visible_seq: Option<i64>,
    /// The visible row when the transaction first touched the key.
    before: Option<Doc>,
    /// Whether the key has a row in the table.
    stored: bool,
    /// Report the key even if it did not change (a replayed capture): its
    /// visible row as an update, or this row as a delete when it is gone.
    pub report: Option<Doc>,
}

impl RowState {
    fn from_stored((confirmed, visible, pending, last_pending, visible_seq): Stored) -> Self {
        let confirmed = confirmed.map(Doc::from_text);
        let (visible, visible_seq) = if pending > 0 {
            (visible.map(Doc::from_text), visible_seq)
        } else {
            (confirmed.clone(), None)
        };
        RowState {
            before: visible.clone(),
            confirmed,
            visible,
            pending,
            last_pending,
            visible_seq,
            stored: true,
            report: None,
        }
    }
}

/// A row as stored: confirmed, visible (the text, wherever it is stored),
/// pending, last_pending, visible_seq.
type Stored = (
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

/// The columns of [`Stored`], for `SELECT ... FROM rows`: the visible text
/// is read through `visible_seq` from the event that holds it.
const STORED_COLUMNS: &str = "confirmed,
    CASE WHEN pending = 0 THEN NULL
         WHEN visible_seq IS NULL THEN visible
         ELSE (SELECT payload FROM events WHERE seq = rows.visible_seq) END,
    pending, last_pending, visible_seq";

/// The stored keys of a collection between two keys, at most `?4` of them.
pub(super) const KEYS_IN_RANGE: &str =
    "SELECT key FROM rows WHERE collection = ?1 AND key >= ?2 AND key <= ?3 LIMIT ?4";

/// A pending local event, as the rebase reads it.
pub(crate) struct PendingEvent {
    pub seq: i64,
    kind: Option<EventType>,
    payload: String,
    changes: Option<String>,
    pub status: i64,
    pub global_seq: Option<i64>,
}

/// One key in the cache.
struct Entry {
    collection: i64,
    key: String,
    state: RowState,
    /// The next entry with the same hash (`usize::MAX`: none).
    next: usize,
    /// Whether `get` asked for it (a preloaded key may never be asked for).
    touched: bool,
}

/// Hashes a u64 that is a hash already.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
}

/// Touched keys, in first-touch order, inside one transaction on `conn`.
pub(crate) struct RowCache<'c> {
    conn: &'c Connection,
    /// Prepared once per transaction, not fetched from rusqlite's cache per key.
    select: CachedStatement<'c>,
    /// One (keyed, so not collidable on purpose) hash of `(collection, key)`
    /// per look-up → the first entry with that hash.
    hasher: RandomState,
    index: HashMap<u64, usize, BuildHasherDefault<Prehashed>>,
    entries: Vec<Entry>,
    /// Touched entries in first-touch order.
    order: Vec<usize>,
}

impl<'c> RowCache<'c> {
    /// An empty cache for a transaction on `conn`.
    pub fn new(conn: &'c Connection) -> Result<Self> {
        Ok(RowCache {
            conn,
            select: conn.prepare_cached(&format!(
                "SELECT {STORED_COLUMNS} FROM rows WHERE collection = ?1 AND key = ?2"
            ))?,
            hasher: RandomState::new(),
            index: HashMap::default(),
            entries: Vec::new(),
            order: Vec::new(),
        })
    }

    fn find(&self, hash: u64, collection: i64, key: &str) -> Option<usize> {
        let mut i = *self.index.get(&hash)?;
        loop {
            let e = &self.entries[i];
            if e.collection == collection && e.key == key {
                return Some(i);
            }
            if e.next == usize::MAX {
                return None;
            }
            i = e.next;
        }
    }

    fn push(
        &mut self,
        hash: u64,
        collection: i64,
        key: &str,
        state: RowState,
        touched: bool,
    ) -> usize {
        let i = self.entries.len();
        let next = self.index.insert(hash, i).unwrap_or(usize::MAX);
        self.entries.push(Entry {
            collection,
            key: key.to_string(),
            state,
            next,
            touched,
        });
        if touched {
            self.order.push(i);
        }
        i
    }

    /// Reads the rows of many keys of one collection ahead, a few statements
    /// for all of them instead of one per key; [`RowCache::get`] (or
    /// [`RowCache::at`], with the entry index returned for each key) then
    /// takes them in its own order.
    pub fn preload(&mut self, collection: i64, keys: &[&str]) -> Result<Vec<usize>> {
        let mut todo: Vec<&str> = Vec::with_capacity(keys.len());
        let mut at: Vec<usize> = Vec::with_capacity(keys.len());
        // The entries pushed below are `todo`'s, in its order, from here.
        let first_new = self.entries.len();
        self.entries.reserve(keys.len());
        self.order.reserve(keys.len());
        self.index.reserve(keys.len());
        for &k in keys {
            let h = self.hasher.hash_one((collection, k));
            let i = match self.find(h, collection, k) {
                Some(i) => i,
                None => {
                    todo.push(k);
                    self.push(h, collection, k, RowState::default(), false)
                }
            };
            at.push(i);
        }
        let todo = self.stored_among(collection, todo, first_new)?;
        let mut found: Vec<(String, Stored)> = Vec::new();
        batch::query_in(
            self.conn,
            &format!("SELECT key, {STORED_COLUMNS} FROM rows WHERE collection = ?1 AND key IN"),
            "",
            &[&collection],
            &todo,
            |stmt, i, k| Ok(stmt.raw_bind_parameter(i, k)?),
            |r| {
                found.push((
                    r.get(0)?,
                    (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
                ));
                Ok(())
            },
        )?;
        for (key, stored) in found {
            let h = self.hasher.hash_one((collection, key.as_str()));
            if let Some(i) = self.find(h, collection, &key) {
                self.entries[i].state = RowState::from_stored(stored);
            }
        }
        Ok(at)
    }

    /// The keys of `todo` (the entries from `first_new` on) that may have a
    /// row, by one scan of the table between the smallest and the largest of
    /// them: when that range holds few rows (keys that grow with time, a
    /// first sync), the keys it does not hold need no look-up each. When it
    /// holds many (random keys over a large table) the scan stops early and
    /// every key is looked up.
    fn stored_among<'k>(
        &self,
        collection: i64,
        todo: Vec<&'k str>,
        first_new: usize,
    ) -> Result<Vec<&'k str>> {
        // A few keys are looked up directly (a single capture: one query).
        if todo.len() < 16 {
            return Ok(todo);
        }
        let (Some(low), Some(high)) = (todo.iter().min(), todo.iter().max()) else {
            return Ok(todo);
        };
        // Room for some other keys interleaved with these (text order).
        let limit = todo.len() + 64;
        let mut stmt = self.conn.prepare_cached(KEYS_IN_RANGE)?;
        let mut rows = stmt.query(params![collection, low, high, limit as i64])?;
        let mut stored = Vec::new();
        let mut seen = 0;
        while let Some(r) = rows.next()? {
            seen += 1;
            if seen == limit {
                return Ok(todo);
            }
            // Keys are stored as text; anything else matches none of these.
            let Ok(key) = r.get_ref(0)?.as_str() else {
                continue;
            };
            let h = self.hasher.hash_one((collection, key));
            match self.find(h, collection, key) {
                Some(i) if i >= first_new => stored.push(todo[i - first_new]),
                _ => {}
            }
        }
        Ok(stored)
    }

    /// The state of entry `i` (an index [`RowCache::preload`] returned):
    /// [`RowCache::get`] without hashing the key again.
    pub fn at(&mut self, i: usize) -> &mut RowState {
        let e = &mut self.entries[i];
        if !e.touched {
            e.touched = true;
            self.order.push(i);
        }
        &mut e.state
    }

    /// The state of a key, loaded from the table on first touch.
    pub fn get(&mut self, collection: i64, key: &str) -> Result<&mut RowState> {
        let h = self.hasher.hash_one((collection, key));
        if let Some(i) = self.find(h, collection, key) {
            let e = &mut self.entries[i];
            if !e.touched {
                e.touched = true;
                self.order.push(i);
            }
            return Ok(&mut self.entries[i].state);
        }
        let loaded: Option<Stored> = self
            .select
            .query_row(params![collection, key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let state = loaded.map(RowState::from_stored).unwrap_or_default();
        let i = self.push(h, collection, key, state, true);
        Ok(&mut self.entries[i].state)
    }

    /// The touched states (in no particular order).
    fn touched(entries: &mut [Entry]) -> impl Iterator<Item = &mut RowState> {
        entries
            .iter_mut()
            .filter(|e| e.touched)
            .map(|e| &mut e.state)
    }

    /// Writes every touched key back and returns the visible changes, in
    /// first-touch order, with keys typed by their collection's key kind.
    pub fn flush(self, store: &Store) -> Result<Vec<VisibleChange>> {
        let conn = self.conn;
        // collection, key, confirmed, visible, pending, last_pending, visible_seq
        type Write<'a> = (
            i64,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            i64,
            Option<i64>,
            Option<i64>,
        );
        // Keys new to the table are plain inserts; stored ones are upserts.
        // (A plain multi-row `INSERT OR FAIL` needs no statement journal:
        // the whole transaction rolls back on any error anyway. An upsert's
        // update does, and pays a copy of every page it touches for it.)
        let mut inserts: Vec<Write<'_>> = Vec::with_capacity(self.order.len());
        let mut updates: Vec<Write<'_>> = Vec::new();
        let mut delete = None;
        for &i in &self.order {
            let Entry {
                collection,
                key,
                state,
                ..
            } = &self.entries[i];
            if state.confirmed.is_none() && state.pending == 0 {
                if state.stored {
                    if delete.is_none() {
                        delete = Some(conn.prepare_cached(
                            "DELETE FROM rows WHERE collection = ?1 AND key = ?2",
                        )?);
                    }
                    delete
                        .as_mut()
                        .expect("prepared above")
                        .execute(params![collection, key])?;
                }
                continue;
            }
            let confirmed = state.confirmed.as_ref().map(Doc::text).transpose()?;
            let (visible, visible_seq) = match &state.visible {
                Some(_) if state.pending > 0 && state.visible_seq.is_some() => {
                    (None, state.visible_seq)
                }
                Some(v) if state.pending > 0 => (Some(v.text()?), None),
                _ => (None, None),
            };
            let w = (
                *collection,
                key.as_str(),
                confirmed,
                visible,
                state.pending,
                state.last_pending,
                visible_seq,
            );
            if state.stored {
                updates.push(w);
            } else {
                inserts.push(w);
            }
        }
        drop(delete);
        let bind = |stmt: &mut CachedStatement<'_>, i: usize, w: &Write<'_>| -> Result<()> {
            stmt.raw_bind_parameter(i, w.0)?;
            stmt.raw_bind_parameter(i + 1, w.1)?;
            stmt.raw_bind_parameter(i + 2, w.2)?;
            stmt.raw_bind_parameter(i + 3, w.3)?;
            stmt.raw_bind_parameter(i + 4, w.4)?;
            stmt.raw_bind_parameter(i + 5, w.5)?;
            stmt.raw_bind_parameter(i + 6, w.6)?;
            Ok(())
        };
        const HEAD: &str = "INTO rows (collection, key, confirmed, visible, pending, last_pending, visible_seq) VALUES";
        batch::execute(
            conn,
            &format!("INSERT OR FAIL {HEAD}"),
            "(?, ?, ?, ?, ?, ?, ?)",
            "",
            7,
            &inserts,
            bind,
        )?;
        batch::execute(
            conn,
            &format!("INSERT {HEAD}"),
            "(?, ?, ?, ?, ?, ?, ?)",
            "ON CONFLICT (collection, key) DO UPDATE SET
               confirmed = excluded.confirmed, visible = excluded.visible,
               pending = excluded.pending, last_pending = excluded.last_pending,
               visible_seq = excluded.visible_seq",
            7,
            &updates,
            bind,
        )?;
        drop(inserts);
        drop(updates);
        let mut changes = Vec::new();
        let mut name: Option<(i64, String)> = None;
        let mut entries = self.entries;
        for i in self.order {
            let e = &mut entries[i];
            let collection = e.collection;
            let key = std::mem::take(&mut e.key);
            let RowState {
                confirmed,
                visible,
                before,
                report,
                ..
            } = std::mem::take(&mut e.state);
            // The visible row's text is moved out, not copied, unless
            // something else still holds it.
            drop(confirmed);
            let (kind, value) = match (before, visible, report) {
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
            let collection_name = match &name {
                Some((id, n)) if *id == collection => n.clone(),
                _ => {
                    let n = store.collection_name(collection);
                    name = Some((collection, n.clone()));
                    n
                }
            };
            changes.push(VisibleChange {
                key: key_value(store, collection, key),
                collection: collection_name,
                kind,
                value: value.into_json()?,
            });
        }
        Ok(changes)
    }

    /// The pending events of a key, newest first: a walk down its chain from
    /// `last_pending` by rowid that stops once it has `pending` of them. Events
    /// that settled or were rejected since they were linked are skipped, and
    /// linked past so that the next walk does not meet them again; the state's
    /// head and count are corrected to what the walk found.
    fn walk(
        conn: &Connection,
        lookup: &mut CachedStatement<'_>,
        state: &mut RowState,
    ) -> Result<Vec<PendingEvent>> {
        let mut out: Vec<PendingEvent> = Vec::new();
        let mut cur = state.last_pending;
        let mut skipped = false;
        while (out.len() as i64) < state.pending {
            let Some(seq) = cur else { break };
            let found = lookup
                .query_row([seq], |r| {
                    Ok((
                        PendingEvent {
                            seq,
                            kind: r.get::<_, Kind>(0)?.0,
                            payload: r.get(1)?,
                            changes: r.get(2)?,
                            status: r.get(5)?,
                            global_seq: r.get(6)?,
                        },
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                })
                .optional()?;
            let Some((event, prev, live)) = found else {
                break;
            };
            if live {
                if skipped {
                    if let Some(newer) = out.last() {
                        conn.prepare_cached("UPDATE events SET prev_pending = ?2 WHERE seq = ?1")?
                            .execute(params![newer.seq, seq])?;
                    }
                    skipped = false;
                }
                out.push(event);
            } else {
                skipped = true;
            }
            cur = prev;
        }
        state.pending = out.len() as i64;
        state.last_pending = out.first().map(|e| e.seq);
        Ok(out)
    }

    /// Marks applied the pending events the server's snapshot already holds
    /// (confirmed at or below `upto`), so they are not folded again.
    pub fn apply_confirmed_upto(&mut self, upto: i64) -> Result<()> {
        let conn = self.conn;
        let mut lookup = chain_lookup(conn)?;
        let mut mark = conn.prepare_cached("UPDATE events SET applied = 1 WHERE seq = ?1")?;
        for state in Self::touched(&mut self.entries) {
            if state.pending <= 0 {
                continue;
            }
            for e in Self::walk(conn, &mut lookup, state)? {
                if e.status == 2 && e.global_seq.is_some_and(|g| g <= upto) {
                    mark.execute([e.seq])?;
                    state.pending -= 1;
                }
            }
        }
        Ok(())
    }

    /// Recomputes every touched key's visible row: its confirmed row with the
    /// key's pending local events folded on top, oldest first (the rebase).
    /// A key with none pending (the usual case) costs no query at all.
    pub fn rebase_all(&mut self) -> Result<()> {
        let conn = self.conn;
        let mut lookup = None;
        for state in Self::touched(&mut self.entries) {
            if state.pending <= 0 {
                state.pending = 0;
                state.last_pending = None;
                state.visible = state.confirmed.clone();
                state.visible_seq = None;
                continue;
            }
            let lookup = match &mut lookup {
                Some(l) => l,
                None => lookup.insert(chain_lookup(conn)?),
            };
            let events = Self::walk(conn, lookup, state)?;
            let mut visible = state.confirmed.clone();
            let mut visible_seq = None;
            for e in events.into_iter().rev() {
                let Some(kind) = e.kind else { continue };
                let payload = Doc::from_text(e.payload);
                let changes: Option<Row> =
                    e.changes.map(|t| serde_json::from_str(&t)).transpose()?;
                visible = apply(visible, kind, &payload, changes.as_ref())?;
                visible_seq = visible
                    .as_ref()
                    .is_some_and(|v| Doc::ptr_eq(v, &payload))
                    .then_some(e.seq);
            }
            state.visible = visible;
            state.visible_seq = visible_seq;
        }
        Ok(())
    }
}

/// [`Store::key_value`], taking the key text over instead of copying it.
fn key_value(store: &Store, collection: i64, key: String) -> serde_json::Value {
    match store.collections.borrow().by_id.get(&collection) {
        Some((_, KeyKind::Number)) => match serde_json::from_str::<serde_json::Number>(&key) {
            Ok(n) => serde_json::Value::Number(n),
            Err(_) => serde_json::Value::String(key),
        },
        _ => serde_json::Value::String(key),
    }
}

/// The statement that reads one event of a chain by its seq.
fn chain_lookup(conn: &Connection) -> Result<CachedStatement<'_>> {
    Ok(conn.prepare_cached(
        "SELECT kind, payload, changes, prev_pending, origin = 0 AND applied = 0 AND status != 3,
                status, global_seq
         FROM events WHERE seq = ?1",
    )?)
}
