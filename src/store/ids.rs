//! Event ids in SQLite: a UUID is stored as its 16 bytes (the unique index is
//! half the size of the text form, and compares faster); anything else a
//! server sent is kept verbatim as text, so no event is ever refused for it.

use std::cmp::Ordering;

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::Connection;

use crate::error::Result;

/// An event id on its way into SQLite: parsed once, bound without a copy.
pub(crate) enum SqlId<'a> {
    Uuid([u8; 16]),
    Text(&'a str),
}

impl<'a> SqlId<'a> {
    pub fn new(id: &'a str) -> Self {
        // Only the canonical lowercase hyphenated form is stored as bytes, so
        // that reading it back gives the exact string the client was given.
        match canonical_uuid(id.as_bytes()) {
            Some(bytes) => SqlId::Uuid(bytes),
            None => SqlId::Text(id),
        }
    }
}

/// The 16 bytes of a UUID in lowercase hyphenated form (`8-4-4-4-12` hex
/// digits), else `None`. Hand-written: one is parsed per stored or pulled
/// event, and the general parser (every accepted form) cost about 1 µs each
/// in the browser.
fn canonical_uuid(text: &[u8]) -> Option<[u8; 16]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != 36 || [8, 13, 18, 23].iter().any(|&i| text[i] != b'-') {
        return None;
    }
    let mut out = [0u8; 16];
    let mut digits = text.iter().copied().filter(|&c| c != b'-');
    for byte in &mut out {
        *byte = (nibble(digits.next()?)? << 4) | nibble(digits.next()?)?;
    }
    Some(out)
}

impl SqlId<'_> {
    /// The value SQLite stores for it.
    fn value(&self) -> ValueRef<'_> {
        match self {
            SqlId::Uuid(b) => ValueRef::Blob(b),
            SqlId::Text(t) => ValueRef::Text(t.as_bytes()),
        }
    }
}

impl ToSql for SqlId<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(self.value()))
    }
}

/// A stored id's place in SQLite's order of event ids: text before bytes
/// (the order of storage classes), each compared bytewise (BINARY).
fn sort_key(value: ValueRef<'_>) -> Option<(u8, &[u8])> {
    match value {
        ValueRef::Text(t) => Some((0, t)),
        ValueRef::Blob(b) => Some((1, b)),
        _ => None,
    }
}

/// The ends of the local ids' range (each a read of one end of the index).
pub(crate) const LOCAL_ID_RANGE: &str =
    "SELECT (SELECT min(event_id) FROM events WHERE origin = 0),
        (SELECT max(event_id) FROM events WHERE origin = 0)";

/// The smallest and the largest id of this device's own events, in SQLite's
/// order: an id outside the range is not one of them. A pulled page is
/// mostly other devices' events, whose ids (random, or newer than anything
/// written here) mostly fall outside it, so few of them need a look-up.
pub(crate) struct LocalIdRange {
    low: (u8, Vec<u8>),
    high: (u8, Vec<u8>),
}

impl LocalIdRange {
    /// The range of the stored local ids; `None` when there are none.
    pub fn read(conn: &Connection) -> Result<Option<Self>> {
        let end =
            |value: ValueRef<'_>| sort_key(value).map(|(class, bytes)| (class, bytes.to_vec()));
        let ends = conn
            .prepare_cached(LOCAL_ID_RANGE)?
            .query_row([], |r| Ok((end(r.get_ref(0)?), end(r.get_ref(1)?))))?;
        Ok(match ends {
            (Some(low), Some(high)) => Some(LocalIdRange { low, high }),
            _ => None,
        })
    }

    /// Whether `id` lies within the range (so it may be a local event's).
    pub fn contains(&self, id: &SqlId<'_>) -> bool {
        let (class, bytes) = sort_key(id.value()).expect("an id is text or bytes");
        let cmp = |end: &(u8, Vec<u8>)| class.cmp(&end.0).then_with(|| bytes.cmp(&end.1));
        cmp(&self.low) != Ordering::Less && cmp(&self.high) != Ordering::Greater
    }
}

/// An event id read back from SQLite.
pub(crate) struct IdText(pub String);

impl FromSql for IdText {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Blob(b) => uuid::Uuid::from_slice(b)
                .map(|u| IdText(u.hyphenated().to_string()))
                .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e))),
            other => String::column_result(other).map(IdText),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(local: &[&str], pulled: &[&str]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id BLOB NOT NULL, origin INTEGER NOT NULL);
             CREATE UNIQUE INDEX events_local_id ON events(event_id) WHERE origin = 0;",
        )
        .unwrap();
        for (ids, origin) in [(local, 0), (pulled, 1)] {
            for id in ids {
                conn.execute(
                    "INSERT INTO events (event_id, origin) VALUES (?1, ?2)",
                    rusqlite::params![SqlId::new(id), origin],
                )
                .unwrap();
            }
        }
        conn
    }

    #[test]
    fn the_local_range_orders_ids_as_sqlite_does() {
        let local = [
            "0192f0c1-7b3a-7c4d-8e5f-0123456789ab",
            "0192f0c1-7b3a-7c4d-8e5f-0123456789ac",
            "event-42",
        ];
        // Other devices' ids (one far below the local ones) are not in the range.
        let conn = log_with(&local, &["00000000-0000-4000-8000-000000000000"]);
        let range = LocalIdRange::read(&conn).unwrap().expect("local ids");
        let probes = [
            "0192f0c1-7b3a-7c4d-8e5f-0123456789ab",
            "0192f0c1-7b3a-7c4d-8e5f-0123456789aa",
            "0192f0c1-7b3a-7c4d-8e5f-0123456789ad",
            "0192f0c1-7b3a-7c4d-8e5f-0123456789ac",
            "00000000-0000-4000-8000-000000000000",
            "ffffffff-ffff-4fff-bfff-ffffffffffff",
            "event-42",
            "event-41",
            "event-420",
            "event-5",
            "Event-5",
            "",
            "0192F0C1-7B3A-7C4D-8E5F-0123456789AB",
        ];
        for probe in probes {
            let id = SqlId::new(probe);
            let sqlite: bool = conn
                .query_row(
                    "SELECT ?1 >= (SELECT min(event_id) FROM events WHERE origin = 0)
                        AND ?1 <= (SELECT max(event_id) FROM events WHERE origin = 0)",
                    [&id],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(range.contains(&id), sqlite, "{probe}");
        }
        for id in local {
            assert!(range.contains(&SqlId::new(id)), "{id}");
        }
    }

    #[test]
    fn no_local_ids_no_range() {
        let conn = log_with(&[], &["0192f0c1-7b3a-7c4d-8e5f-0123456789ab"]);
        assert!(LocalIdRange::read(&conn).unwrap().is_none());
    }

    #[test]
    fn only_canonical_uuids_become_bytes() {
        let id = "0192f0c1-7b3a-7c4d-8e5f-0123456789ab";
        match SqlId::new(id) {
            SqlId::Uuid(b) => assert_eq!(uuid::Uuid::from_bytes(b).hyphenated().to_string(), id),
            SqlId::Text(_) => panic!("a canonical UUID is stored as bytes"),
        }
        for kept in [
            "0192F0C1-7B3A-7C4D-8E5F-0123456789AB",   // uppercase
            "0192f0c17b3a7c4d8e5f0123456789ab",       // simple form
            "{0192f0c1-7b3a-7c4d-8e5f-0123456789ab}", // braced
            "0192f0c1-7b3a-7c4d-8e5f-0123456789ag",   // not hex
            "0192f0c1-7b3a-7c4d-8e5f+0123456789ab",   // misplaced hyphen
            "0192f0c1-7b3a-7c4d-8e5f-0123456789a-",
            "event-42",
            "",
        ] {
            assert!(
                matches!(SqlId::new(kept), SqlId::Text(t) if t == kept),
                "{kept}"
            );
        }
    }
}
