//! Event ids in SQLite: a UUID is stored as its 16 bytes (the unique index is
//! half the size of the text form, and compares faster); anything else a
//! server sent is kept verbatim as text, so no event is ever refused for it.

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// An event id on its way into SQLite: parsed once, bound without a copy.
pub(crate) enum SqlId<'a> {
    Uuid([u8; 16]),
    Text(&'a str),
}

impl<'a> SqlId<'a> {
    pub fn new(id: &'a str) -> Self {
        // Only the canonical lowercase hyphenated form is stored as bytes, so
        // that reading it back gives the exact string the client was given.
        let canonical = id.len() == 36 && !id.bytes().any(|b| b.is_ascii_uppercase());
        match uuid::Uuid::try_parse(id) {
            Ok(u) if canonical => SqlId::Uuid(u.into_bytes()),
            _ => SqlId::Text(id),
        }
    }
}

impl ToSql for SqlId<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlId::Uuid(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            SqlId::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
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
