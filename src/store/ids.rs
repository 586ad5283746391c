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

#[cfg(test)]
mod tests {
    use super::*;

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
