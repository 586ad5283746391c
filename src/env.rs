//! Platform services the core needs: the wall clock and randomness. Native
//! builds use [`SystemEnvironment`]; the wasm layer supplies its own; tests may
//! supply a fixed clock.

/// Clock and randomness of the platform.
pub trait Environment {
    /// Wall-clock time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Fills `buf` with cryptographically strong random bytes.
    fn fill_random(&self, buf: &mut [u8]);
}

/// The operating system's clock and randomness (not on wasm32).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEnvironment;

#[cfg(not(target_arch = "wasm32"))]
impl Environment for SystemEnvironment {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // The OS RNG failing is not recoverable in any useful way.
        getrandom::fill(buf).expect("the operating system's random source failed");
    }
}

/// Mints a UUIDv7 (time-ordered) from the environment.
pub fn new_event_id(env: &dyn Environment) -> String {
    let id = new_event_ids(env, env.now_ms(), 1).pop().expect("one id");
    id.hyphenated().to_string()
}

/// Mints `n` UUIDv7s for time `ms` with one call for randomness (a system
/// call natively, a JS call in the browser: once per batch, not per event).
/// They come in ascending order, so a batch's ids are appended at the end of
/// the log's `event_id` index instead of being scattered through its last
/// pages (fewer page splits).
pub fn new_event_ids(env: &dyn Environment, ms: i64, n: usize) -> Vec<uuid::Uuid> {
    if n == 0 {
        // Not even the call: in the browser it crosses into JS.
        return Vec::new();
    }
    let mut rand = vec![0u8; 10 * n];
    env.fill_random(&mut rand);
    // Sorted as integers (a UUID's order is its big-endian bytes' order):
    // one comparison each instead of a 16-byte loop.
    let mut ids: Vec<u128> = rand
        .chunks_exact(10)
        .map(|r| {
            let r: &[u8; 10] = r.try_into().expect("chunks of 10");
            uuid::Builder::from_unix_timestamp_millis(ms.max(0) as u64, r)
                .into_uuid()
                .as_u128()
        })
        .collect();
    ids.sort_unstable();
    ids.into_iter().map(uuid::Uuid::from_u128).collect()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_v7_and_unique() {
        let env = SystemEnvironment;
        let a = new_event_id(&env);
        let b = new_event_id(&env);
        assert_ne!(a, b);
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 7);
    }
}
