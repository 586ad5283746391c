//! A SQLite VFS shim that coalesces each file's sequential writes into one
//! write call, made when SQLite syncs the file (or reads, truncates, closes
//! it, or asks its size).
//!
//! Why: on OPFS a write call costs about 20 µs whatever its size up to
//! 16 KiB, and SQLite writes sequentially, in small pieces: a WAL as two
//! calls per page (frame header, page), a rollback journal as three (page
//! number, page, checksum). Coalesced, a commit's frames are a few calls and
//! runs of adjacent database pages are one each.
//!
//! Why it is safe: with `synchronous = FULL` SQLite syncs a file at every
//! point where it needs earlier writes durable before going on (the journal
//! before the database is touched, the database before the journal is
//! cleared). The shim writes every buffered byte before it passes a sync
//! down, so what SQLite relies on being durable is durable; what is still
//! buffered is exactly what SQLite already assumes a power cut may lose. A
//! deferred write that fails (storage full) fails the sync, and SQLite rolls
//! the transaction back as for any failed sync. A WAL commit made without a
//! sync (`synchronous = NORMAL`, which the store uses only for data it can
//! fetch again) may stay buffered until a later sync, as it may stay in an
//! OS cache without the shim; a partly written one is ignored at recovery
//! (frames carry checksums and a commit marker).

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::mem::{align_of, size_of};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rusqlite::ffi;

use crate::error::{Error, Result};

/// A buffer holds at most this much; longer runs are written in pieces.
/// On OPFS a 64 KiB call costs about what four 8 KiB calls do, so larger
/// buffers gain little; and SQLite never writes more than a 64 KiB page at
/// once, so VFSes need not take more (the unix VFS truncates a write to
/// 17 bits of length).
const BUFFER_LIMIT: usize = 64 * 1024;

/// Write calls seen and made by one coalescing VFS.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteCounts {
    /// `xWrite` calls SQLite made.
    pub requested: u64,
    /// `xWrite` calls passed to the wrapped VFS.
    pub issued: u64,
}

/// The coalescing VFSes registered in this process, by name.
static REGISTERED: Mutex<BTreeMap<String, &'static Shim>> = Mutex::new(BTreeMap::new());

/// What the shim's `sqlite3_vfs.pAppData` points at (leaked: a registered
/// VFS lives as long as the process).
struct Shim {
    /// The wrapped VFS, found by name at each use: a VFS may be unregistered
    /// (sahpool does so when its pool is paused) and registered again.
    inner_name: CString,
    /// Offset of the wrapped file inside ours, aligned.
    inner_offset: usize,
    /// Room for the wrapped file (its `szOsFile` at registration).
    inner_size: usize,
    requested: AtomicU64,
    issued: AtomicU64,
}

impl Shim {
    /// The wrapped VFS if it is registered now and its files fit ours.
    fn inner(&self) -> Option<*mut ffi::sqlite3_vfs> {
        // SAFETY: sqlite3_vfs_find reads the NUL-terminated name.
        let vfs = unsafe { ffi::sqlite3_vfs_find(self.inner_name.as_ptr()) };
        // SAFETY: a found VFS is a live sqlite3_vfs.
        (!vfs.is_null() && unsafe { (*vfs).szOsFile } as usize <= self.inner_size).then_some(vfs)
    }
}

/// Our file: SQLite's base struct first, then the wrapped VFS's file at
/// `Shim::inner_offset` in the same allocation.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    shim: *const Shim,
    inner: *mut ffi::sqlite3_file,
    /// Null unless the file is a database, a journal or a WAL.
    buffer: *mut Buffer,
}

/// Bytes written at `start..start + bytes.len()` and not yet passed down.
struct Buffer {
    start: i64,
    bytes: Vec<u8>,
}

/// Registers (once per process) a VFS named `<base>+coalesce` that wraps
/// the registered VFS `base`, and returns its name. Open connections with
/// it by name; `base` stays usable on its own.
pub fn register(base: &str) -> Result<String> {
    let name = format!("{base}+coalesce");
    let mut registered = REGISTERED
        .lock()
        .map_err(|_| Error::StorageUnavailable("the VFS registry is poisoned".into()))?;
    if registered.contains_key(&name) {
        return Ok(name);
    }
    let c_name = CString::new(name.clone())
        .map_err(|_| Error::InvalidConfig(format!("VFS name '{base}' contains NUL")))?;
    let c_base = CString::new(base)
        .map_err(|_| Error::InvalidConfig(format!("VFS name '{base}' contains NUL")))?;
    // SAFETY: as above.
    let inner = unsafe { ffi::sqlite3_vfs_find(c_base.as_ptr()) };
    if inner.is_null() {
        return Err(Error::StorageUnavailable(format!(
            "no SQLite VFS named '{base}'"
        )));
    }
    let align = align_of::<u64>().max(align_of::<ffi::sqlite3_file>());
    let inner_offset = size_of::<File>().div_ceil(align) * align;
    // SAFETY: `inner` is a registered VFS.
    let inner_ref = unsafe { &*inner };
    let shim: &'static Shim = Box::leak(Box::new(Shim {
        inner_name: c_base,
        inner_offset,
        inner_size: inner_ref.szOsFile as usize,
        requested: AtomicU64::new(0),
        issued: AtomicU64::new(0),
    }));
    // SAFETY: every field of sqlite3_vfs is an integer, a pointer or an
    // Option of a function pointer, for which all-zero is valid (0 / null / None).
    let mut vfs: ffi::sqlite3_vfs = unsafe { std::mem::zeroed() };
    vfs.iVersion = inner_ref.iVersion.min(2);
    vfs.szOsFile = (inner_offset + inner_ref.szOsFile as usize) as c_int;
    vfs.mxPathname = inner_ref.mxPathname;
    vfs.zName = c_name.into_raw();
    vfs.pAppData = shim as *const Shim as *mut c_void;
    vfs.xOpen = Some(x_open);
    vfs.xDelete = inner_ref.xDelete.map(|_| x_delete as _);
    vfs.xAccess = inner_ref.xAccess.map(|_| x_access as _);
    vfs.xFullPathname = inner_ref.xFullPathname.map(|_| x_full_pathname as _);
    vfs.xRandomness = inner_ref.xRandomness.map(|_| x_randomness as _);
    vfs.xSleep = inner_ref.xSleep.map(|_| x_sleep as _);
    vfs.xCurrentTime = inner_ref.xCurrentTime.map(|_| x_current_time as _);
    vfs.xGetLastError = inner_ref.xGetLastError.map(|_| x_get_last_error as _);
    if vfs.iVersion >= 2 {
        vfs.xCurrentTimeInt64 = inner_ref
            .xCurrentTimeInt64
            .map(|_| x_current_time_int64 as _);
    }
    let vfs = Box::leak(Box::new(vfs));
    // SAFETY: `vfs` is leaked, so it outlives its registration.
    let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 0) };
    if rc != ffi::SQLITE_OK {
        return Err(Error::StorageUnavailable(format!(
            "could not register VFS '{name}' (SQLite code {rc})"
        )));
    }
    registered.insert(name.clone(), shim);
    Ok(name)
}

/// The write calls a coalescing VFS saw and made since it was registered,
/// or `None` when `name` is not one.
pub fn write_counts(name: &str) -> Option<WriteCounts> {
    let shim = *REGISTERED.lock().ok()?.get(name)?;
    Some(WriteCounts {
        requested: shim.requested.load(Ordering::Relaxed),
        issued: shim.issued.load(Ordering::Relaxed),
    })
}

// ---- VFS methods: all but xOpen pass the wrapped VFS down. ----

unsafe fn shim_of(vfs: *mut ffi::sqlite3_vfs) -> &'static Shim {
    &*((*vfs).pAppData as *const Shim)
}

/// The wrapped VFS, or `$missing` from the calling method when it is gone.
macro_rules! inner_or {
    ($vfs:expr, $missing:expr) => {
        match shim_of($vfs).inner() {
            Some(inner) => inner,
            None => return $missing,
        }
    };
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let shim = shim_of(vfs);
    let f = file as *mut File;
    let inner = (file as *mut u8).add(shim.inner_offset) as *mut ffi::sqlite3_file;
    ptr::write(
        f,
        File {
            base: ffi::sqlite3_file {
                pMethods: ptr::null(),
            },
            shim,
            inner,
            buffer: ptr::null_mut(),
        },
    );
    let Some(inner_vfs) = shim.inner() else {
        return ffi::SQLITE_CANTOPEN;
    };
    let Some(open) = (*inner_vfs).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    let rc = open(inner_vfs, name, inner, flags, out_flags);
    // SQLite calls xClose when pMethods is set, even after a failed open:
    // mirror the wrapped file so that its close happens exactly when due.
    if !(*inner).pMethods.is_null() {
        (*f).base.pMethods = &IO_METHODS;
        let buffered =
            ffi::SQLITE_OPEN_MAIN_DB | ffi::SQLITE_OPEN_MAIN_JOURNAL | ffi::SQLITE_OPEN_WAL;
        if flags & buffered != 0 {
            (*f).buffer = Box::into_raw(Box::new(Buffer {
                start: 0,
                bytes: Vec::new(),
            }));
        }
    }
    rc
}

unsafe extern "C" fn x_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    let inner = inner_or!(vfs, ffi::SQLITE_IOERR_DELETE);
    (*inner)
        .xDelete
        .map_or(ffi::SQLITE_IOERR_DELETE, |f| f(inner, name, sync_dir))
}

unsafe extern "C" fn x_access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let inner = inner_or!(vfs, ffi::SQLITE_IOERR_ACCESS);
    (*inner)
        .xAccess
        .map_or(ffi::SQLITE_IOERR_ACCESS, |f| f(inner, name, flags, out))
}

unsafe extern "C" fn x_full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n_out: c_int,
    out: *mut c_char,
) -> c_int {
    let inner = inner_or!(vfs, ffi::SQLITE_CANTOPEN);
    (*inner)
        .xFullPathname
        .map_or(ffi::SQLITE_CANTOPEN, |f| f(inner, name, n_out, out))
}

unsafe extern "C" fn x_randomness(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let inner = inner_or!(vfs, 0);
    (*inner).xRandomness.map_or(0, |f| f(inner, n, out))
}

unsafe extern "C" fn x_sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    let inner = inner_or!(vfs, 0);
    (*inner).xSleep.map_or(0, |f| f(inner, micros))
}

unsafe extern "C" fn x_current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    let inner = inner_or!(vfs, ffi::SQLITE_ERROR);
    (*inner)
        .xCurrentTime
        .map_or(ffi::SQLITE_ERROR, |f| f(inner, out))
}

unsafe extern "C" fn x_get_last_error(
    vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let inner = inner_or!(vfs, 0);
    (*inner).xGetLastError.map_or(0, |f| f(inner, n, out))
}

unsafe extern "C" fn x_current_time_int64(
    vfs: *mut ffi::sqlite3_vfs,
    out: *mut ffi::sqlite3_int64,
) -> c_int {
    let inner = inner_or!(vfs, ffi::SQLITE_ERROR);
    (*inner)
        .xCurrentTimeInt64
        .map_or(ffi::SQLITE_ERROR, |f| f(inner, out))
}

// ---- File methods. ----

static IO_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe fn methods(f: *mut File) -> &'static ffi::sqlite3_io_methods {
    &*(*(*f).inner).pMethods
}

/// Passes `bytes` at `offset` to the wrapped file.
unsafe fn write_through(f: *mut File, bytes: &[u8], offset: i64) -> c_int {
    (*(*f).shim).issued.fetch_add(1, Ordering::Relaxed);
    match methods(f).xWrite {
        Some(write) => write(
            (*f).inner,
            bytes.as_ptr() as *const c_void,
            bytes.len() as c_int,
            offset,
        ),
        None => ffi::SQLITE_IOERR_WRITE,
    }
}

/// Writes what the buffer holds. It is emptied even when the write fails:
/// the failure goes to SQLite, which rolls back and never counts on it.
unsafe fn flush(f: *mut File) -> c_int {
    let Some(buffer) = (*f).buffer.as_mut() else {
        return ffi::SQLITE_OK;
    };
    if buffer.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let rc = write_through(f, &buffer.bytes, buffer.start);
    buffer.bytes.clear();
    rc
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    let f = file as *mut File;
    let flushed = flush(f);
    let closed = methods(f)
        .xClose
        .map_or(ffi::SQLITE_OK, |close| close((*f).inner));
    if !(*f).buffer.is_null() {
        drop(Box::from_raw((*f).buffer));
        (*f).buffer = ptr::null_mut();
    }
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    out: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let f = file as *mut File;
    if let Some(buffer) = (*f).buffer.as_ref() {
        let end = buffer.start + buffer.bytes.len() as i64;
        // Overlaps what is buffered (or reads past it, where the file
        // would end without it): write it first.
        if !buffer.bytes.is_empty() && offset < end && offset + amount as i64 > buffer.start {
            let rc = flush(f);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
    }
    methods(f).xRead.map_or(ffi::SQLITE_IOERR_READ, |read| {
        read((*f).inner, out, amount, offset)
    })
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let f = file as *mut File;
    (*(*f).shim).requested.fetch_add(1, Ordering::Relaxed);
    let bytes = std::slice::from_raw_parts(data as *const u8, amount.max(0) as usize);
    let Some(buffer) = (*f).buffer.as_mut() else {
        (*(*f).shim).issued.fetch_add(1, Ordering::Relaxed);
        return methods(f).xWrite.map_or(ffi::SQLITE_IOERR_WRITE, |w| {
            w((*f).inner, data, amount, offset)
        });
    };
    let end = buffer.start + buffer.bytes.len() as i64;
    if !buffer.bytes.is_empty() && offset == end && buffer.bytes.len() + bytes.len() <= BUFFER_LIMIT
    {
        buffer.bytes.extend_from_slice(bytes);
        return ffi::SQLITE_OK;
    }
    let rc = flush(f);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    if bytes.len() >= BUFFER_LIMIT {
        return write_through(f, bytes, offset);
    }
    let buffer = &mut *(*f).buffer;
    buffer.start = offset;
    buffer.bytes.extend_from_slice(bytes);
    ffi::SQLITE_OK
}

/// Writes the buffer (failing with its error), then calls the wrapped
/// file's method, or answers `$missing` where it has none.
macro_rules! flush_then {
    ($file:expr, $method:ident, $missing:expr $(, $arg:expr)*) => {{
        let f = $file as *mut File;
        let rc = flush(f);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        methods(f).$method.map_or($missing, |m| m((*f).inner $(, $arg)*))
    }};
}

/// Calls the wrapped file's method, or answers `$missing` where it has none.
macro_rules! pass_down {
    ($file:expr, $method:ident, $missing:expr $(, $arg:expr)*) => {{
        let f = $file as *mut File;
        methods(f).$method.map_or($missing, |m| m((*f).inner $(, $arg)*))
    }};
}

unsafe extern "C" fn x_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    flush_then!(file, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size)
}

unsafe extern "C" fn x_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    flush_then!(file, xSync, ffi::SQLITE_IOERR_FSYNC, flags)
}

unsafe extern "C" fn x_file_size(file: *mut ffi::sqlite3_file, out: *mut i64) -> c_int {
    flush_then!(file, xFileSize, ffi::SQLITE_IOERR_FSTAT, out)
}

unsafe extern "C" fn x_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass_down!(file, xLock, ffi::SQLITE_OK, level)
}

unsafe extern "C" fn x_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // Another connection may read once the lock is gone.
    flush_then!(file, xUnlock, ffi::SQLITE_OK, level)
}

unsafe extern "C" fn x_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    pass_down!(file, xCheckReservedLock, ffi::SQLITE_OK, out)
}

unsafe extern "C" fn x_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    // Whatever the control does, it sees the file as SQLite wrote it.
    flush_then!(file, xFileControl, ffi::SQLITE_NOTFOUND, op, arg)
}

unsafe extern "C" fn x_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    pass_down!(file, xSectorSize, 4096)
}

unsafe extern "C" fn x_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    pass_down!(file, xDeviceCharacteristics, 0)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};
    use std::ffi::CStr;

    /// The counters are per VFS and the tests share one: one test at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn default_vfs_name() -> String {
        // SAFETY: a null name asks for the default VFS, registered for good.
        let vfs = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
        unsafe { CStr::from_ptr((*vfs).zName) }
            .to_str()
            .unwrap()
            .to_string()
    }

    fn open(path: &std::path::Path, vfs: &str, cache_pages: u32) -> Connection {
        open_in(path, vfs, cache_pages, "PERSIST")
    }

    fn open_in(path: &std::path::Path, vfs: &str, cache_pages: u32, journal: &str) -> Connection {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let c = Connection::open_with_flags_and_vfs(path, flags, vfs).unwrap();
        // Exclusive locking: the shim has no shared memory, as on OPFS.
        c.execute_batch(&format!(
            "PRAGMA locking_mode = EXCLUSIVE; PRAGMA synchronous = FULL; PRAGMA cache_size = {cache_pages};"
        ))
        .unwrap();
        let mode: String = c
            .query_row(&format!("PRAGMA journal_mode = {journal}"), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(mode.eq_ignore_ascii_case(journal), "{mode}");
        c
    }

    /// SQLite finds the file sound.
    fn assert_intact(c: &Connection) {
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }

    /// Every `v` of table `t`.
    fn values(c: &Connection) -> Vec<String> {
        c.prepare("SELECT v FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn key(round: u64, i: u64) -> String {
        format!("{:016x}", (i * 2_654_435_761 + round * 97) % 1_000_003)
    }

    /// Writes `rounds` transactions of 500 random keys through `vfs`;
    /// returns the write calls requested and issued, and the distinct keys.
    fn workload_in(
        path: &std::path::Path,
        vfs: &str,
        cache_pages: u32,
        rounds: u64,
        journal: &str,
    ) -> (u64, u64, usize) {
        let before = write_counts(vfs).unwrap();
        let c = open_in(path, vfs, cache_pages, journal);
        c.execute_batch("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
            .unwrap();
        let mut keys = std::collections::HashSet::new();
        for round in 0..rounds {
            let tx = c.unchecked_transaction().unwrap();
            for i in 0..500u64 {
                let k = key(round, i);
                tx.execute(
                    "INSERT OR REPLACE INTO t VALUES (?1, ?2)",
                    (&k, format!("{k}-{round}-{}", "x".repeat(80))),
                )
                .unwrap();
                keys.insert(k);
            }
            tx.commit().unwrap();
        }
        assert_intact(&c);
        drop(c);
        let after = write_counts(vfs).unwrap();
        (
            after.requested - before.requested,
            after.issued - before.issued,
            keys.len(),
        )
    }

    /// The file, read through the plain VFS: intact, with every key.
    fn check_plain(path: &std::path::Path, base: &str, keys: usize) {
        let plain = open(path, base, 2000);
        assert_intact(&plain);
        let n: i64 = plain
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as usize, keys);
    }

    /// The workload through the coalescing VFS over the default one, in
    /// `dir/db`; the file is then checked through the plain VFS.
    struct Run {
        path: std::path::PathBuf,
        name: String,
        base: String,
        requested: u64,
        issued: u64,
        keys: usize,
    }

    fn coalesced(dir: &tempfile::TempDir, cache_pages: u32, journal: &str) -> Run {
        let base = default_vfs_name();
        let name = register(&base).unwrap();
        let path = dir.path().join("db");
        let (requested, issued, keys) = workload_in(&path, &name, cache_pages, 20, journal);
        check_plain(&path, &base, keys);
        Run {
            path,
            name,
            base,
            requested,
            issued,
            keys,
        }
    }

    #[test]
    fn transactions_write_the_same_data_in_far_fewer_calls() {
        let _serial = serial();
        let base = default_vfs_name();
        assert_eq!(
            register(&base).unwrap(),
            register(&base).unwrap(),
            "registered once"
        );
        let dir = tempfile::tempdir().unwrap();
        let Run {
            requested, issued, ..
        } = coalesced(&dir, 2000, "PERSIST");
        // Measured: about a third. The journal (three calls per page) becomes
        // a few calls per transaction; scattered table pages stay one each.
        assert!(
            issued * 2 < requested,
            "{issued} of {requested} write calls"
        );
    }

    #[test]
    fn a_cache_that_spills_mid_transaction_reads_back_what_it_wrote() {
        let _serial = serial();
        // Ten pages of cache: SQLite writes pages out during transactions and
        // reads them back after eviction, through the buffer.
        let dir = tempfile::tempdir().unwrap();
        let Run {
            requested, issued, ..
        } = coalesced(&dir, 10, "PERSIST");
        assert!(issued < requested, "{issued} of {requested} write calls");
    }

    #[test]
    fn wal_frames_coalesce_and_commits_without_sync_are_read_back() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let Run {
            path,
            name,
            base,
            requested,
            issued,
            keys,
        } = coalesced(&dir, 2000, "WAL");
        assert!(
            issued * 2 < requested,
            "{issued} of {requested} write calls"
        );
        // Commits without a sync stay buffered until something needs them:
        // a checkpoint reads the frames back through the buffer.
        let c = open_in(&path, &name, 10, "WAL");
        c.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;")
            .unwrap();
        for i in 0..50 {
            c.execute(
                "INSERT OR REPLACE INTO t VALUES (?1, ?2)",
                (format!("n{i:04}"), "y".repeat(500)),
            )
            .unwrap();
        }
        let busy: i64 = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 0);
        drop(c);
        check_plain(&path, &base, keys + 50);
    }

    #[test]
    fn a_rolled_back_transaction_leaves_nothing() {
        let _serial = serial();
        let name = register(&default_vfs_name()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let c = open(&path, &name, 2000);
        c.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept');")
            .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..2000 {
            tx.execute("INSERT INTO t VALUES (?1)", [format!("{i:0>200}")])
                .unwrap();
        }
        tx.rollback().unwrap();
        assert_eq!(values(&c), ["kept"]);
        assert_intact(&c);
    }

    /// Set: every write of the `failing` VFS fails as on a full disk.
    static FULL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    /// The default VFS's method tables (it has several), each with a copy
    /// whose `xWrite` fails while `FULL`: (copy, original) addresses.
    static METHOD_COPIES: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

    unsafe extern "C" fn failing_write(
        file: *mut ffi::sqlite3_file,
        data: *const c_void,
        n: c_int,
        at: i64,
    ) -> c_int {
        if FULL.load(Ordering::SeqCst) {
            return ffi::SQLITE_FULL;
        }
        let copy = (*file).pMethods as usize;
        let base = METHOD_COPIES
            .lock()
            .unwrap()
            .iter()
            .find(|(c, _)| *c == copy)
            .unwrap()
            .1;
        (*(base as *const ffi::sqlite3_io_methods)).xWrite.unwrap()(file, data, n, at)
    }

    unsafe extern "C" fn failing_open(
        _vfs: *mut ffi::sqlite3_vfs,
        name: *const c_char,
        file: *mut ffi::sqlite3_file,
        flags: c_int,
        out: *mut c_int,
    ) -> c_int {
        let base = ffi::sqlite3_vfs_find(ptr::null());
        let rc = (*base).xOpen.unwrap()(base, name, file, flags, out);
        if !(*file).pMethods.is_null() {
            let original = (*file).pMethods as usize;
            let mut copies = METHOD_COPIES.lock().unwrap();
            let copy = match copies.iter().find(|(_, b)| *b == original) {
                Some((c, _)) => *c,
                None => {
                    let mut copy = *(original as *const ffi::sqlite3_io_methods);
                    copy.xWrite = Some(failing_write);
                    let c = Box::leak(Box::new(copy)) as *const ffi::sqlite3_io_methods as usize;
                    copies.push((c, original));
                    c
                }
            };
            (*file).pMethods = copy as *const ffi::sqlite3_io_methods;
        }
        rc
    }

    /// `failing`: the default VFS whose writes fail while `FULL` is set.
    fn failing_vfs() -> &'static str {
        static REGISTERED: std::sync::Once = std::sync::Once::new();
        REGISTERED.call_once(|| unsafe {
            let base = ffi::sqlite3_vfs_find(ptr::null());
            let mut vfs = *base;
            vfs.zName = c"failing".as_ptr();
            vfs.xOpen = Some(failing_open);
            vfs.pNext = ptr::null_mut();
            assert_eq!(
                ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 0),
                ffi::SQLITE_OK
            );
        });
        "failing"
    }

    #[test]
    fn a_buffered_write_that_fails_fails_the_commit_and_keeps_nothing_of_it() {
        let _serial = serial();
        let name = register(failing_vfs()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = crate::Store::from_connection(
            open_in(&path, &name, 2000, "WAL"),
            crate::StoreConfig::default(),
            Box::new(crate::env::SystemEnvironment),
        )
        .unwrap();
        let insert = |key: &str| -> crate::model::Mutation {
            serde_json::from_value(serde_json::json!({
                "collection": "todos", "type": "insert", "key": key,
                "modified": {"id": key, "title": "x".repeat(300)},
            }))
            .unwrap()
        };
        store.capture(vec![insert("kept")]).unwrap();
        // A small transaction's frames sit in the buffer until its commit
        // syncs them, and that write finds the disk full; a large one's
        // fill the buffer, whose write fails first.
        for rows in [5, 400] {
            FULL.store(true, Ordering::SeqCst);
            let many: Vec<_> = (0..rows).map(|i| insert(&format!("lost{i}"))).collect();
            let failed = store.capture(many);
            FULL.store(false, Ordering::SeqCst);
            assert!(
                matches!(failed, Err(Error::StorageFull(_))),
                "{rows} rows: {failed:?}"
            );
        }
        let keys = |store: &crate::Store| -> Vec<String> {
            store
                .visible_rows("todos")
                .unwrap()
                .into_iter()
                .map(|r| r.key.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(keys(&store), ["kept"]);
        assert_eq!(store.counts().unwrap().pending, 1);
        // The disk has room again: writing goes on, and the file is sound.
        store.capture(vec![insert("after")]).unwrap();
        drop(store);
        let plain = open_in(&path, &default_vfs_name(), 2000, "WAL");
        assert_intact(&plain);
        let n: i64 = plain
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn a_crash_mid_transaction_is_rolled_back_at_the_next_open() {
        let _serial = serial();
        let name = register(&default_vfs_name()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let c = open(&path, &name, 10);
        c.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept');")
            .unwrap();
        let committed = std::fs::read(&path).unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..2000 {
            tx.execute("INSERT INTO t VALUES (?1)", [format!("{i:0>200}")])
                .unwrap();
        }
        // The power goes out now: the files are what the VFS wrote so far.
        // The small cache made SQLite write pages of the open transaction to
        // the database, after syncing their old content to the journal.
        let crashed = dir.path().join("crashed");
        std::fs::copy(&path, &crashed).unwrap();
        std::fs::copy(
            dir.path().join("db-journal"),
            dir.path().join("crashed-journal"),
        )
        .unwrap();
        assert_ne!(
            std::fs::read(&crashed).unwrap(),
            committed,
            "the transaction reached the file"
        );
        drop(tx);
        drop(c);
        let reopened = open(&crashed, &name, 2000);
        assert_eq!(values(&reopened), ["kept"]);
        assert_intact(&reopened);
    }

    #[test]
    fn unknown_base_vfs_is_an_error() {
        let _serial = serial();
        assert!(matches!(
            register("no-such-vfs"),
            Err(Error::StorageUnavailable(_))
        ));
        assert_eq!(write_counts("no-such-vfs"), None);
    }
}
