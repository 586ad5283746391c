//! SQLite files on OPFS through the `sahpool` VFS: one pool (its own VFS name
//! and OPFS directory) per database name, so databases never share slots and
//! one can be closed and its access handles released without touching the
//! others.

use std::cell::RefCell;
use std::collections::HashSet;

use rusqlite::{Connection, OpenFlags};
use sqlite_wasm_rs::WasmOsCallback;
use sqlite_wasm_vfs::sahpool::{install, OpfsSAHError, OpfsSAHPoolCfgBuilder, OpfsSAHPoolUtil};
use wasm_bindgen::JsValue;

use crate::error::{Error, Result};

/// OPFS directory that holds one sub-directory per database.
const ROOT_DIRECTORY: &str = "eventsourced-db";
/// The database file inside its pool (each pool holds one database).
const FILE_NAME: &str = "/events.sqlite3";
/// Slots of a pool: the database file, its WAL, and the rollback journal a
/// database of an earlier version kept (or a spare). Temporary files live in memory (`temp_store = MEMORY`). Every slot
/// costs an access handle, acquired one by one at each open, so pools made
/// larger by older versions are trimmed to this.
const CAPACITY: usize = 3;

thread_local! {
    // Databases open in this worker: sahpool does no locking between two
    // connections of one pool, so a second open must be refused here.
    static OPEN: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// A database file open on OPFS, with the pool that holds its access handles.
pub struct OpfsDatabase {
    /// The open connection (hand it to the store).
    pub connection: Connection,
    /// Holds the pool; release it after the connection closed.
    pub handle: OpfsHandle,
}

/// The OPFS side of an open database. Dropping it releases the access
/// handles too (best effort), so a database whose JS object was freed
/// without `close` can still be reopened.
pub struct OpfsHandle {
    name: String,
    pool: Option<OpfsSAHPoolUtil>,
}

impl OpfsHandle {
    /// Releases the pool's OPFS access handles (after its connection closed),
    /// so another tab or worker can open the database. Reopening resumes it.
    pub fn release(mut self) -> Result<()> {
        // Drop un-marks the name once this returns.
        match self.pool.take() {
            Some(pool) => pool.pause().map_err(|e| {
                Error::StorageUnavailable(format!("could not release OPFS handles: {e}"))
            }),
            None => Ok(()),
        }
    }
}

impl Drop for OpfsHandle {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = pool.pause();
        }
        OPEN.with(|open| open.borrow_mut().remove(&self.name));
    }
}

/// Opens (creating if needed) the database `name` on OPFS.
///
/// Fails with `STORAGE_UNAVAILABLE` where OPFS sync access handles do not
/// exist (not a dedicated worker, not a secure context, an old browser) or
/// when another tab or worker holds the database.
pub async fn open(name: &str) -> Result<OpfsDatabase> {
    let encoded = encode_name(name)?;
    if !OPEN.with(|open| open.borrow_mut().insert(name.to_string())) {
        return Err(Error::StorageUnavailable(format!(
            "database '{name}' is already open in this worker"
        )));
    }
    // From here on the handle un-marks the name on every exit path.
    let mut handle = OpfsHandle {
        name: name.to_string(),
        pool: None,
    };
    let vfs_name = format!("esdb-{encoded}");
    let cfg = OpfsSAHPoolCfgBuilder::new()
        .vfs_name(&vfs_name)
        .directory(&format!("{ROOT_DIRECTORY}/db-{encoded}"))
        // Never wipe a user's data on open.
        .clear_on_init(false)
        .initial_capacity(CAPACITY)
        .build();
    // Not the default VFS: in-memory databases in the same worker keep
    // SQLite's memory VFS, and each database names its own pool.
    let pool = install::<WasmOsCallback>(&cfg, false)
        .await
        .map_err(|e| storage_error(name, e))?;
    // A pool paused by `release` is reused by `install` as is.
    if pool.is_paused() {
        pool.resume().await.map_err(|e| storage_error(name, e))?;
    }
    if pool.capacity() > CAPACITY {
        // Only unused slots go; best effort, a failure changes nothing.
        let _ = pool.reduce_capacity(pool.capacity() - CAPACITY).await;
    }
    handle.pool = Some(pool);
    // Coalesced writes: a third of the write calls or fewer (`vfs_coalesce`).
    let vfs_name = crate::vfs_coalesce::register(&vfs_name)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags_and_vfs(FILE_NAME, flags, vfs_name.as_str())
        .map_err(|e| match Error::from(e) {
            Error::Storage(m) => Error::StorageUnavailable(m),
            other => other,
        })?;
    // One connection per pool anyway (sahpool does no locking between
    // connections): exclusive mode skips the lock calls and the cache
    // revalidation of every transaction, and lets WAL work without shared
    // memory (it must be set before the journal mode).
    connection
        .query_row("PRAGMA locking_mode = EXCLUSIVE", [], |_| Ok(()))
        .map_err(Error::from)?;
    request_persistence();
    Ok(OpfsDatabase { connection, handle })
}

/// Asks the browser to keep this origin's storage under pressure
/// (`navigator.storage.persist()`). Best effort: the API exists only on
/// windows (the main-thread client asks too), and the answer changes nothing.
pub fn request_persistence() {
    let call = || -> std::result::Result<(), JsValue> {
        let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())?;
        let storage = js_sys::Reflect::get(&navigator, &"storage".into())?;
        let persist = js_sys::Reflect::get(&storage, &"persist".into())?;
        if let Some(f) = wasm_bindgen::JsCast::dyn_ref::<js_sys::Function>(&persist) {
            f.call0(&storage)?;
        }
        Ok(())
    };
    let _ = call();
}

/// Maps a database name to an OPFS directory component and a VFS name:
/// ASCII letters, digits, `-`, `_`, `.` are kept, other bytes become `~xx`.
fn encode_name(name: &str) -> Result<String> {
    if name.is_empty() || name.len() > 128 {
        return Err(Error::InvalidConfig(
            "the database name must have 1 to 128 bytes".into(),
        ));
    }
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("~{b:02x}"));
        }
    }
    Ok(out)
}

fn storage_error(name: &str, e: OpfsSAHError) -> Error {
    let text = e.to_string();
    match e {
        OpfsSAHError::NotSupported => Error::StorageUnavailable(format!(
            "OPFS sync access handles are not available here ({text}); run the database in a \
             dedicated worker in a secure context, or open it with storage: 'memory'"
        )),
        _ if text.contains("QuotaExceededError") => Error::StorageFull(text),
        // Chromium refuses a second sync access handle on the same file.
        _ if text.contains("NoModificationAllowedError") || text.contains("InvalidStateError") => {
            Error::StorageUnavailable(format!(
                "database '{name}' is open in another tab or worker ({text})"
            ))
        }
        _ => Error::StorageUnavailable(format!("database '{name}': {text}")),
    }
}
