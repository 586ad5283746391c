//! Event types in SQLite: the three known types as the integers 0, 1 and 2
//! (a byte in the record, compared as an integer); a type this version does
//! not know, pulled from a newer client, as its text, verbatim.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::protocol::EventType;

/// The stored code of a known type.
pub(crate) fn code(kind: EventType) -> i64 {
    match kind {
        EventType::Insert => 0,
        EventType::Update => 1,
        EventType::Delete => 2,
    }
}

fn from_code(code: i64) -> Option<EventType> {
    match code {
        0 => Some(EventType::Insert),
        1 => Some(EventType::Update),
        2 => Some(EventType::Delete),
        _ => None,
    }
}

/// An event type on its way into SQLite: the wire name as given.
pub(crate) struct SqlKind<'a>(pub &'a str);

impl ToSql for SqlKind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match EventType::parse(self.0) {
            Some(k) => ToSqlOutput::from(code(k)),
            None => ToSqlOutput::from(self.0),
        })
    }
}

/// A stored event type, read back as its wire name.
pub(crate) struct KindText(pub String);

impl FromSql for KindText {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Integer(i) => from_code(i)
                .map(|k| KindText(k.as_str().to_string()))
                .ok_or(FromSqlError::OutOfRange(i)),
            other => String::column_result(other).map(KindText),
        }
    }
}

/// A stored event type, read back as a known type (`None`: a newer type).
pub(crate) struct Kind(pub Option<EventType>);

impl FromSql for Kind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Integer(i) => Ok(Kind(from_code(i))),
            ValueRef::Text(t) => Ok(Kind(std::str::from_utf8(t).ok().and_then(EventType::parse))),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}
