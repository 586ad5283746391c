//! Event ids in SQLite: a UUID is stored as its 16 bytes (the unique index is
//! half the size of the text form, and compares faster); anything else a
//! server sent is kept verbatim as text, so no event is ever refused for it.

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// An event id on its way into SQLite.
pub(crate) struct SqlId<'a>(pub &'a str);

impl ToSql for SqlId<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        // Only the canonical lowercase hyphenated form is stored as bytes, so
        // that reading it back gives the exact string the client was given.
        let canonical = self.0.len() == 36 && !self.0.bytes().any(|b| b.is_ascii_uppercase());
        match uuid::Uuid::try_parse(self.0) {
            Ok(u) if canonical => Ok(ToSqlOutput::from(u.as_bytes().to_vec())),
            _ => Ok(ToSqlOutput::from(self.0)),
        }
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
