//! Parsing and structural checks of a push body. Any failure refuses the
//! whole batch with a `400` before anything is stored.

use std::io;

use eventsourced_db::protocol::{Event, MAX_PUSH_BATCH};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::config::Limits;
use crate::error::ApiError;

/// A well-formed event, ready to store.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The event as pushed.
    pub event: Event,
    /// Its id as a UUID: the idempotency key (so `A…` and `a…` are one event).
    pub id: Uuid,
    /// Its canonical JSON, stored as text so pull splices it without re-parsing.
    pub body: String,
}

/// Parses a push body into events, or the `400` that refuses the batch.
pub fn parse_batch(bytes: &[u8], limits: &Limits) -> Result<Vec<Parsed>, ApiError> {
    // First split the array into raw elements (cheap, no allocation per
    // field) so errors can name the offending event's index.
    let raws: Vec<&RawValue> = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ApiError::bad_request("invalid_batch", "the body must be a JSON array of events")
        } else {
            ApiError::bad_request("malformed_json", format!("malformed JSON: {e}"))
        }
    })?;
    if raws.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "a push carries 1 to 500 events",
        ));
    }
    if raws.len() > MAX_PUSH_BATCH {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!(
                "a push carries at most {MAX_PUSH_BATCH} events, got {}",
                raws.len()
            ),
        ));
    }
    raws.iter()
        .enumerate()
        .map(|(i, raw)| parse_event(i, raw.get(), limits))
        .collect()
}

fn parse_event(i: usize, raw: &str, limits: &Limits) -> Result<Parsed, ApiError> {
    let event: Event = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request("invalid_event", format!("event {i}: {e}")))?;
    let id = Uuid::parse_str(&event.event_id).map_err(|_| {
        ApiError::bad_request(
            "invalid_event_id",
            format!("event {i}: eventId `{}` is not a UUID", event.event_id),
        )
    })?;
    if event.collection_id.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_collection",
            format!("event {i}: collectionId must be a non-empty string"),
        ));
    }
    if event.timestamp <= 0 {
        return Err(ApiError::bad_request(
            "invalid_timestamp",
            format!("event {i}: timestamp must be a positive integer (ms since the epoch)"),
        ));
    }
    let body = serde_json::to_string(&event).expect("an Event always serializes");
    // The payload is part of the body, so only a large body needs measuring.
    if body.len() > limits.max_payload_bytes {
        let payload = json_len(&event.payload);
        let changes = event.changes.as_ref().map_or(0, json_len);
        if payload.max(changes) > limits.max_payload_bytes {
            return Err(ApiError::bad_request(
                "payload_too_large",
                format!(
                    "event {i}: payload is {} bytes, the limit is {}",
                    payload.max(changes),
                    limits.max_payload_bytes
                ),
            ));
        }
    }
    Ok(Parsed { event, id, body })
}

/// Serialized size of a value without building the string.
fn json_len<T: serde::Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    serde_json::to_writer(&mut c, value).expect("counting never fails");
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> &'static str {
        parse_batch(body.as_bytes(), &Limits::default())
            .unwrap_err()
            .code
    }

    const OK: &str = r#"{"eventId":"0190a0a0-0000-7000-8000-000000000001","collectionId":"todos","type":"insert","key":1,"payload":{"id":1},"timestamp":5}"#;

    #[test]
    fn good_batch_parses() {
        let b = parse_batch(format!("[{OK}]").as_bytes(), &Limits::default()).unwrap();
        assert_eq!(b.len(), 1);
        assert!(b[0].body.starts_with("{\"eventId\""));
    }

    #[test]
    fn bad_batches_are_named() {
        assert_eq!(code("[{"), "malformed_json");
        assert_eq!(code("{}"), "invalid_batch");
        assert_eq!(code("[]"), "empty_batch");
        assert_eq!(
            code(&OK.replace("\"insert\"", "\"upsert\"")),
            "invalid_batch"
        );
        assert_eq!(
            code(&format!("[{}]", OK.replace("\"insert\"", "\"upsert\""))),
            "invalid_event"
        );
        assert_eq!(
            code(&format!("[{}]", OK.replace("0190a0a0-", "zz"))),
            "invalid_event_id"
        );
        assert_eq!(
            code(&format!("[{}]", OK.replace("\"todos\"", "\"\""))),
            "invalid_collection"
        );
        assert_eq!(
            code(&format!("[{}]", OK.replace(":5}", ":0}"))),
            "invalid_timestamp"
        );
    }

    #[test]
    fn payload_limit_applies() {
        let limits = Limits {
            max_payload_bytes: 64,
            ..Limits::default()
        };
        let big = OK.replace("{\"id\":1}", &format!("{{\"t\":\"{}\"}}", "x".repeat(100)));
        let err = parse_batch(format!("[{big}]").as_bytes(), &limits).unwrap_err();
        assert_eq!(err.code, "payload_too_large");
        assert!(parse_batch(format!("[{OK}]").as_bytes(), &limits).is_ok());
    }
}
