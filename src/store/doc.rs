//! A row shared between the event that wrote it, the confirmed and the
//! visible state. It is kept as JSON text and parsed only when a field merge
//! needs the fields: most events replace a whole row, so their text goes from
//! the app to the log, the row table and back to the app without ever being
//! parsed or re-serialised.

use std::cell::OnceCell;
use std::rc::Rc;

use crate::error::Result;
use crate::fold::{effect, merge, Effect, Row};
use crate::model::RowJson;
use crate::protocol::EventType;

#[derive(Debug, Clone)]
pub(crate) struct Doc(Rc<Inner>);

/// At least one of the two is set.
#[derive(Debug)]
struct Inner {
    text: OnceCell<Text>,
    row: OnceCell<Row>,
}

/// The JSON text of a row: as the app or the server sent it (checked once on
/// the way in, so it goes back out without another check), or as stored.
#[derive(Debug)]
enum Text {
    Json(RowJson),
    Stored(String),
}

impl Text {
    fn as_str(&self) -> &str {
        match self {
            Text::Json(j) => j.as_str(),
            Text::Stored(s) => s,
        }
    }
}

impl Doc {
    /// A row from its fields.
    pub fn from_row(row: Row) -> Doc {
        Doc(Rc::new(Inner {
            text: OnceCell::new(),
            row: OnceCell::from(row),
        }))
    }

    /// A row from the JSON text of an object read from SQLite (written by
    /// this store, so known to be well formed).
    pub fn from_text(text: String) -> Doc {
        Doc(Rc::new(Inner {
            text: OnceCell::from(Text::Stored(text)),
            row: OnceCell::new(),
        }))
    }

    /// A row from checked JSON text (an object, as the caller made sure).
    pub fn from_json(json: RowJson) -> Doc {
        Doc(Rc::new(Inner {
            text: OnceCell::from(Text::Json(json)),
            row: OnceCell::new(),
        }))
    }

    pub fn text(&self) -> Result<&str> {
        if let Some(t) = self.0.text.get() {
            return Ok(t.as_str());
        }
        let row = self.0.row.get().expect("a Doc has its text or its row");
        let t = Text::Json(RowJson::serialize(row)?);
        Ok(self.0.text.get_or_init(|| t).as_str())
    }

    pub fn row(&self) -> Result<&Row> {
        if let Some(r) = self.0.row.get() {
            return Ok(r);
        }
        let text = self.0.text.get().expect("a Doc has its text or its row");
        let r: Row = serde_json::from_str(text.as_str())?;
        Ok(self.0.row.get_or_init(|| r))
    }

    /// The row's fields, owned, copying only when the row is shared.
    pub fn into_row(self) -> Result<Row> {
        self.row()?;
        Ok(match Rc::try_unwrap(self.0) {
            Ok(inner) => inner.row.into_inner().expect("parsed above"),
            Err(shared) => shared.row.get().expect("parsed above").clone(),
        })
    }

    /// The row as JSON for the JS side.
    pub fn to_json(&self) -> Result<RowJson> {
        self.text()?;
        Ok(match self.0.text.get().expect("made above") {
            Text::Json(j) => j.clone(),
            Text::Stored(s) => RowJson::from_text(s.clone())?,
        })
    }

    /// The row as JSON for the JS side, moving its text out when this is
    /// the last reference (no copy).
    pub fn into_json(self) -> Result<RowJson> {
        match Rc::try_unwrap(self.0) {
            Ok(inner) => match inner.text.into_inner() {
                Some(Text::Json(j)) => Ok(j),
                Some(Text::Stored(s)) => Ok(RowJson::from_text(s)?),
                None => Ok(RowJson::serialize(
                    inner.row.get().expect("a Doc has its text or its row"),
                )?),
            },
            Err(shared) => Doc(shared).to_json(),
        }
    }

    /// Whether `a` and `b` are the same row object (one event's payload
    /// passed on, not a row that happens to be equal).
    pub fn ptr_eq(a: &Doc, b: &Doc) -> bool {
        Rc::ptr_eq(&a.0, &b.0)
    }

    /// Whether two rows are equal, comparing text before fields.
    pub fn same(a: &Doc, b: &Doc) -> Result<bool> {
        if Rc::ptr_eq(&a.0, &b.0) {
            return Ok(true);
        }
        if let (Some(x), Some(y)) = (a.0.text.get(), b.0.text.get()) {
            if x.as_str() == y.as_str() {
                return Ok(true);
            }
        }
        Ok(a.row()? == b.row()?)
    }
}

/// [`crate::fold::apply`] over shared rows.
pub(crate) fn apply(
    base: Option<Doc>,
    kind: EventType,
    payload: &Doc,
    changes: Option<&Row>,
) -> Result<Option<Doc>> {
    Ok(match effect(kind, base.is_some(), changes) {
        Effect::Payload => Some(payload.clone()),
        Effect::Merge(changes) => match base {
            Some(b) => {
                let mut row = b.into_row()?;
                merge(&mut row, changes);
                Some(Doc::from_row(row))
            }
            None => None,
        },
        Effect::Remove => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_kept_until_a_merge_needs_the_fields() {
        let payload = Doc::from_text(r#"{"id":1,"b":2,"a":1}"#.to_string());
        let out = apply(None, EventType::Insert, &payload, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            out.text().unwrap(),
            r#"{"id":1,"b":2,"a":1}"#,
            "field order kept, nothing re-serialised"
        );
        let changes = json!({"a": 5}).as_object().unwrap().clone();
        let merged = apply(Some(out), EventType::Update, &payload, Some(&changes))
            .unwrap()
            .unwrap();
        assert_eq!(merged.row().unwrap()["a"], 5);
        assert_eq!(merged.row().unwrap()["b"], 2);
        assert!(!Doc::same(&merged, &payload).unwrap());
        assert!(Doc::same(&payload, &Doc::from_row(payload.row().unwrap().clone())).unwrap());
    }
}
