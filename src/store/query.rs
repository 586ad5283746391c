//! Read-only queries: hydration, the event log, history, rejections, counts.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Row as SqlRow};
use serde_json::Value;

use super::ids::{IdText, SqlId};
use super::kind::KindText;
use super::{KeyKind, Store, VisibleRow};
use crate::error::Result;
use crate::model::{EventQuery, EventStatus, LogCounts, LoggedEvent, Origin, Rejection, RowJson};
use crate::protocol::Key;

const EVENT_COLUMNS: &str = "seq, event_id, collection, kind, key, payload, changes, timestamp, origin, status, global_seq, reject_code, reject_reason";

/// Rejected events not yet cleared, oldest first (through `events_rejected`).
pub(super) const REJECTIONS: &str =
    "SELECT event_id, collection, kind, key, payload, timestamp, reject_code, reject_reason
     FROM events WHERE status = 3 AND reject_cleared = 0 ORDER BY seq";
/// Pending (from the outbox watermark `?1`), rejected (through
/// `events_rejected`) and the last seq: none of them reads the log whole.
pub(super) const COUNTS: &str =
    "SELECT (SELECT count(*) FROM events WHERE seq >= ?1 AND origin = 0 AND applied = 0 AND status IN (0, 1)),
        (SELECT count(*) FROM events WHERE status = 3 AND reject_cleared = 0),
        (SELECT max(seq) FROM events)";

/// The visible row of each key of collection `?1`, in key order; `{after}`
/// is empty or a condition on `key` with parameter `?3`, `?2` the limit
/// (-1: none). The rows' primary key (collection, key) serves both.
fn visible_rows_sql(after: &str) -> String {
    format!(
        "SELECT key, CASE WHEN pending = 0 THEN confirmed ELSE coalesce(visible, payload) END AS v
         FROM rows LEFT JOIN (SELECT seq AS event_seq, payload FROM events) ON event_seq = visible_seq
         WHERE collection = ?1 {after} AND v IS NOT NULL ORDER BY key LIMIT ?2"
    )
}

/// What each element of a page of visible rows is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageShape {
    /// `{"key": …, "value": …}`: a `VisibleRow`.
    Keyed,
    /// The row itself. Hydration takes the key from the row (`getKey`), so
    /// the page skips a wrapper object and a key string per row: a third
    /// less JSON for the page thread to parse.
    Values,
}

/// One page of visible rows as JSON text (see [`Store::visible_rows_page_json`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VisibleRowsPage {
    /// A JSON array of the page's rows, each as `shape` says.
    pub json: String,
    /// The key text to pass as `after` for the next page; `None` at the end.
    pub next: Option<String>,
}

impl Store {
    /// The visible rows of a collection, for hydrating it at start.
    pub fn visible_rows(&self, collection: &str) -> Result<Vec<VisibleRow>> {
        let Some(collection) = self.find_collection(collection) else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(&visible_rows_sql(""))?;
        let mut rows = stmt.query(params![collection, -1])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let key: String = r.get(0)?;
            out.push(VisibleRow {
                key: self.key_value(collection, &key),
                value: RowJson::from_text(r.get::<_, String>(1)?)?,
            });
        }
        Ok(out)
    }

    /// Up to `limit` visible rows of a collection after the key text
    /// `after` (in key order), written straight from SQLite into one JSON
    /// array text, each row as `shape` says: no value per row is built, and
    /// the stored rows are JSON already. Hydration reads a large collection
    /// page by page, so the text (and the memory it takes) stays small.
    pub fn visible_rows_page_json(
        &self,
        collection: &str,
        after: Option<&str>,
        limit: usize,
        shape: PageShape,
    ) -> Result<VisibleRowsPage> {
        let mut json = String::from("[");
        let Some(id) = self.find_collection(collection) else {
            json.push(']');
            return Ok(VisibleRowsPage { json, next: None });
        };
        let numeric = matches!(
            self.collections.borrow().by_id.get(&id),
            Some((_, KeyKind::Number))
        );
        let limit = limit.max(1);
        let mut stmt = match after {
            None => self.conn.prepare_cached(&visible_rows_sql(""))?,
            Some(_) => self
                .conn
                .prepare_cached(&visible_rows_sql("AND key > ?3"))?,
        };
        // One row more than the page: whether a next page exists is known
        // without asking for an empty one.
        let fetch = limit as i64 + 1;
        let mut rows = match after {
            None => stmt.query(params![id, fetch])?,
            Some(a) => stmt.query(params![id, fetch, a])?,
        };
        let (mut count, mut last_key, mut next) = (0usize, String::new(), None);
        while let Some(r) = rows.next()? {
            let key = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            if count == limit {
                next = Some(std::mem::take(&mut last_key));
                break;
            }
            let value = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            if count > 0 {
                json.push(',');
            }
            match shape {
                PageShape::Keyed => {
                    json.push_str("{\"key\":");
                    write_key(&mut json, key, numeric)?;
                    json.push_str(",\"value\":");
                    json.push_str(value);
                    json.push('}');
                }
                PageShape::Values => json.push_str(value),
            }
            count += 1;
            if count == limit {
                last_key = key.to_string();
            }
        }
        json.push(']');
        Ok(VisibleRowsPage { json, next })
    }

    /// Events of the log, oldest first by local sequence, filtered.
    pub fn events(&self, q: &EventQuery) -> Result<Vec<LoggedEvent>> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1");
        let mut args: Vec<SqlValue> = Vec::new();
        if let Some(c) = &q.collection {
            let Some(c) = self.find_collection(c) else {
                return Ok(Vec::new());
            };
            sql.push_str(" AND collection = ?");
            args.push(SqlValue::Integer(c));
            if let Some(k) = q.key.as_ref().and_then(Key::from_value) {
                sql.push_str(" AND key = ?");
                args.push(SqlValue::Text(k.text()));
            }
        }
        if let Some(s) = q.status {
            sql.push_str(" AND status = ?");
            args.push(SqlValue::Integer(s.to_db()));
        }
        if let Some(after) = q.after_seq {
            sql.push_str(" AND seq > ?");
            args.push(SqlValue::Integer(after));
        }
        sql.push_str(" ORDER BY seq LIMIT ?");
        args.push(SqlValue::Integer(q.limit.unwrap_or(1000) as i64));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(self.logged_event(r)?);
        }
        Ok(out)
    }

    /// The events of one row in the order that made it: server order first,
    /// then this device's not-yet-ordered events in capture order.
    pub fn history(&self, collection: &str, key: &Value) -> Result<Vec<LoggedEvent>> {
        let (Some(key), Some(collection)) =
            (Key::from_value(key), self.find_collection(collection))
        else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE collection = ?1 AND key = ?2
             ORDER BY global_seq IS NULL, global_seq, seq"
        ))?;
        let mut rows = stmt.query(params![collection, key.text()])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(self.logged_event(r)?);
        }
        Ok(out)
    }

    /// Rejected events the app has not cleared, oldest first.
    pub fn rejections(&self) -> Result<Vec<Rejection>> {
        let mut stmt = self.conn.prepare_cached(REJECTIONS)?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let collection: i64 = r.get(1)?;
            let key: String = r.get(3)?;
            out.push(Rejection {
                event_id: r.get::<_, IdText>(0)?.0,
                key: self.key_value(collection, &key),
                collection_id: self.collection_name(collection),
                kind: r.get::<_, KindText>(2)?.0,
                payload: serde_json::from_str(&r.get::<_, String>(4)?)?,
                timestamp: r.get(5)?,
                code: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                reason: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Hides a rejection from [`Store::rejections`] (the event stays in the
    /// log). Returns whether there was such a rejection.
    pub fn clear_rejection(&self, event_id: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE events SET reject_cleared = 1 WHERE event_id = ?1 AND origin = 0 AND status = 3 AND reject_cleared = 0")?
            .execute([SqlId::new(event_id)])?;
        Ok(n > 0)
    }

    /// Pending, rejected and total counts. Read once, then kept up to date
    /// by captures; any other write makes the next call count again.
    pub fn counts(&self) -> Result<LogCounts> {
        let changes = self.conn.total_changes();
        if let Some((at, counts)) = self.counts.get() {
            if at == changes {
                return Ok(counts);
            }
        }
        let counts = self
            .conn
            .prepare_cached(COUNTS)?
            .query_row([self.outbox_from()?], |r| {
                Ok(LogCounts {
                    pending: r.get::<_, i64>(0)? as u64,
                    rejected: r.get::<_, i64>(1)? as u64,
                    total: r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64,
                })
            })?;
        self.counts.set(Some((changes, counts)));
        Ok(counts)
    }

    /// After a capture appended `appended` pending events, the last with seq
    /// `last_seq`: moves the kept counts on if they were current before it
    /// (`before`, the change count then), else leaves them to be recounted.
    pub(super) fn counts_captured(&self, before: u64, appended: u64, last_seq: Option<i64>) {
        let kept = self.counts.get().filter(|(at, _)| *at == before);
        self.counts.set(kept.map(|(_, c)| {
            let counts = LogCounts {
                pending: c.pending + appended,
                total: last_seq.map_or(c.total, |s| s as u64),
                ..c
            };
            (self.conn.total_changes(), counts)
        }));
    }

    fn logged_event(&self, r: &SqlRow<'_>) -> Result<LoggedEvent> {
        let collection: i64 = r.get(2)?;
        let key: String = r.get(4)?;
        Ok(LoggedEvent {
            seq: r.get(0)?,
            event_id: r.get::<_, IdText>(1)?.0,
            key: self.key_value(collection, &key),
            collection_id: self.collection_name(collection),
            kind: r.get::<_, KindText>(3)?.0,
            payload: serde_json::from_str(&r.get::<_, String>(5)?)?,
            changes: r
                .get::<_, Option<String>>(6)?
                .map(|t| serde_json::from_str(&t))
                .transpose()?,
            timestamp: r.get(7)?,
            origin: if r.get::<_, i64>(8)? == 0 {
                Origin::Local
            } else {
                Origin::Remote
            },
            status: EventStatus::from_db(r.get(9)?),
            global_seq: r.get::<_, Option<i64>>(10)?.map(|s| s as u64),
            reject_code: r.get(11)?,
            reject_reason: r.get(12)?,
        })
    }
}

/// A key as JSON: numeric keys are stored as canonical number text (a
/// server's stringified number included: the key kind says how to read it).
fn write_key(out: &mut String, key: &str, numeric: bool) -> Result<()> {
    if numeric && serde_json::from_str::<serde_json::Number>(key).is_ok() {
        out.push_str(key);
    } else {
        out.push_str(&serde_json::to_string(key)?);
    }
    Ok(())
}
