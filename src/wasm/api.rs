//! `EventSourcedCore`, the class the worker (or an in-process host) drives.
//! Every method converts its arguments, calls the core, converts the result.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::Error;
use crate::model::{EventQuery, Mutation, Rejection, VisibleChange};
use crate::store::{CollectionDef, Journal, PageShape, Store, StoreConfig};
use crate::sync::{sync, SyncObserver, SyncOptions, SyncResult};

use super::convert::{input, output};
use super::env::BrowserEnvironment;
use super::errors::to_js;
use super::http::{HeaderSource, HttpConfig, HttpTransport};
use super::js_transport::JsTransport;
use super::opfs;
use super::timer::BrowserTimer;
use super::transport::AnyTransport;

/// Where the database lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Storage {
    /// SQLite on OPFS (sahpool), durable; needs a dedicated worker.
    #[default]
    Opfs,
    /// In memory: only when the app asks (Node, tests, ephemeral sessions).
    Memory,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OpenOptions {
    storage: Storage,
    collections: Vec<CollectionDef>,
    schema_version: u32,
}

/// One open database: the core's store, and on OPFS the pool holding its
/// access handles.
#[wasm_bindgen]
pub struct EventSourcedCore {
    // An `Rc` so a running sync keeps the store alive without borrowing
    // `self` (wasm-bindgen forbids other calls while `self` is borrowed).
    // Declared before `opfs`: on drop the connection closes first, then
    // the pool releases its handles.
    store: RefCell<Option<Rc<Store>>>,
    opfs: RefCell<Option<opfs::OpfsHandle>>,
}

type JsResult<T> = Result<T, JsValue>;

#[wasm_bindgen]
impl EventSourcedCore {
    /// Opens (creating if needed) the database `name`. On OPFS (the default)
    /// this must run in a dedicated worker; where OPFS is missing it throws
    /// `STORAGE_UNAVAILABLE` rather than silently keeping data in memory.
    pub async fn open(
        name: String,
        #[wasm_bindgen(unchecked_param_type = "OpenOptions | undefined")] options: JsValue,
    ) -> JsResult<EventSourcedCore> {
        let options: OpenOptions = if options.is_undefined() || options.is_null() {
            OpenOptions::default()
        } else {
            input("open options", &options)?
        };
        let env = Box::new(BrowserEnvironment::new()?);
        let mut config = StoreConfig {
            collections: options.collections,
            schema_version: options.schema_version,
            journal: Journal::Memory,
            // 4 MiB: a hydration of 100k rows would otherwise fill 16 MiB of
            // cache the worker never gives back. Writes touch few pages.
            cache_kib: Some(4096),
        };
        let (store, pool) = match options.storage {
            Storage::Memory => (Store::open_in_memory(config, env)?, None),
            Storage::Opfs => {
                let db = opfs::open(&name).await?;
                // WAL without shared memory: `opfs::open` set the exclusive
                // locking mode first, so SQLite keeps the WAL index in heap
                // memory. One sync per capture instead of a rollback
                // journal's four or five.
                config.journal = Journal::Wal;
                // On failure the connection is dropped (closed), then the
                // handle releases the pool.
                let store = Store::from_connection(db.connection, config, env)?;
                (store, Some(db.handle))
            }
        };
        Ok(EventSourcedCore {
            store: RefCell::new(Some(Rc::new(store))),
            opfs: RefCell::new(pool),
        })
    }

    fn store(&self) -> Result<Rc<Store>, Error> {
        self.store.borrow().clone().ok_or(Error::Closed)
    }

    /// This device's id, stamped on its events.
    #[wasm_bindgen(js_name = clientId)]
    pub fn client_id(&self) -> JsResult<String> {
        Ok(self.store()?.client_id().to_string())
    }

    /// When a sync round last pulled everything the server had (ms since
    /// the epoch); `undefined` before the first.
    #[wasm_bindgen(js_name = lastSyncAt)]
    pub fn last_sync_at(&self) -> JsResult<Option<f64>> {
        Ok(self.store()?.last_sync_at()?.map(|t| t as f64))
    }

    /// Moves the WAL into the database file and empties it; for idle
    /// moments (the next open then has no WAL to read).
    pub fn checkpoint(&self) -> JsResult<()> {
        Ok(self.store()?.checkpoint()?)
    }

    /// The pull cursor (`"0"` before the first pull).
    pub fn cursor(&self) -> JsResult<String> {
        Ok(self.store()?.cursor()?)
    }

    /// Captures mutations in one SQLite transaction: durable when this
    /// returns. Returns the visible changes they made.
    #[wasm_bindgen(unchecked_return_type = "VisibleChange[]")]
    pub fn capture(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Mutation[]")] mutations: JsValue,
    ) -> JsResult<JsValue> {
        let mutations: Vec<Mutation> = input("mutations", &mutations).map_err(|e| match e {
            Error::InvalidConfig(reason) => Error::InvalidMutation {
                collection: String::new(),
                reason,
            },
            other => other,
        })?;
        let changes = self.store()?.capture(mutations)?;
        Ok(output(&changes)?)
    }

    /// [`capture`](Self::capture) in JSON text both ways: the mutations as a
    /// `Mutation[]` text, as a worker receives them from the page, and the
    /// visible changes as a `VisibleChange[]` text, which the worker can post
    /// on as it is. No objects are built here for either.
    #[wasm_bindgen(js_name = captureJson)]
    pub fn capture_json(&self, mutations: &str) -> JsResult<String> {
        let mutations: Vec<Mutation> =
            serde_json::from_str(mutations).map_err(|e| Error::InvalidMutation {
                collection: String::new(),
                reason: format!("mutations: {e}"),
            })?;
        let changes = self.store()?.capture(mutations)?;
        serde_json::to_string(&changes)
            .map_err(|e| Error::Storage(format!("could not encode changes: {e}")).into())
    }

    /// The visible rows of a collection, for hydrating it.
    #[wasm_bindgen(js_name = visibleRows, unchecked_return_type = "VisibleRow[]")]
    pub fn visible_rows(&self, collection: &str) -> JsResult<JsValue> {
        Ok(output(&self.store()?.visible_rows(collection)?)?)
    }

    /// Up to `limit` visible rows of a collection after the key text
    /// `after`, in key order, as `{ rows, next }`: `rows` a `VisibleRow[]` as
    /// JSON text (the stored rows joined without being parsed, so a worker
    /// posts one string and the page parses it once), `next` the `after` of
    /// the next page or `null` at the end. With `values_only`, `{ values,
    /// next }` instead: the rows without their keys, as hydration takes
    /// them. Pages keep the text, and this worker's memory, small for large
    /// collections.
    #[wasm_bindgen(js_name = visibleRowsPage, unchecked_return_type = "VisibleRowsPage")]
    pub fn visible_rows_page(
        &self,
        collection: &str,
        after: Option<String>,
        limit: u32,
        values_only: Option<bool>,
    ) -> JsResult<JsValue> {
        let (shape, field) = match values_only {
            Some(true) => (PageShape::Values, "values"),
            _ => (PageShape::Keyed, "rows"),
        };
        let page = self.store()?.visible_rows_page_json(
            collection,
            after.as_deref(),
            limit as usize,
            shape,
        )?;
        let out = js_sys::Object::new();
        let set = |k: &str, v: JsValue| js_sys::Reflect::set(&out, &JsValue::from_str(k), &v);
        set(field, JsValue::from_str(&page.json))?;
        set(
            "next",
            page.next.map_or(JsValue::NULL, |n| JsValue::from_str(&n)),
        )?;
        Ok(out.into())
    }

    /// Events of the log, oldest first, filtered by `query`.
    #[wasm_bindgen(unchecked_return_type = "LoggedEvent[]")]
    pub fn events(
        &self,
        #[wasm_bindgen(unchecked_param_type = "EventQuery | undefined")] query: JsValue,
    ) -> JsResult<JsValue> {
        let query: EventQuery = if query.is_undefined() || query.is_null() {
            EventQuery::default()
        } else {
            input("event query", &query)?
        };
        Ok(output(&self.store()?.events(&query)?)?)
    }

    /// The events of one row, oldest first.
    #[wasm_bindgen(unchecked_return_type = "LoggedEvent[]")]
    pub fn history(
        &self,
        collection: &str,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
    ) -> JsResult<JsValue> {
        let key: serde_json::Value = input("key", &key)?;
        Ok(output(&self.store()?.history(collection, &key)?)?)
    }

    /// Rejected events not yet cleared.
    #[wasm_bindgen(unchecked_return_type = "Rejection[]")]
    pub fn rejections(&self) -> JsResult<JsValue> {
        Ok(output(&self.store()?.rejections()?)?)
    }

    /// Forgets a rejection; `false` when there was none with that id.
    #[wasm_bindgen(js_name = clearRejection)]
    pub fn clear_rejection(&self, event_id: &str) -> JsResult<bool> {
        Ok(self.store()?.clear_rejection(event_id)?)
    }

    /// Counts of the log (pending, rejected, total).
    #[wasm_bindgen(unchecked_return_type = "LogCounts")]
    pub fn counts(&self) -> JsResult<JsValue> {
        Ok(output(&self.store()?.counts()?)?)
    }

    /// Runs one sync round (push the outbox, pull until done). Captures may
    /// go on meanwhile. Resolves to `{ pushed, pulled, rejected, errors }`;
    /// it rejects only for a bad request or a closed database.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncResult>")]
    pub fn sync(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SyncRequest")] request: JsValue,
    ) -> JsResult<js_sys::Promise> {
        let store = self.store()?;
        let get =
            |k: &str| js_sys::Reflect::get(&request, &JsValue::from_str(k)).unwrap_or_default();
        let transport = parse_transport(get("transport"))?;
        let options_value = get("options");
        let options: SyncOptions = if options_value.is_undefined() || options_value.is_null() {
            SyncOptions::default()
        } else {
            input("sync options", &options_value)?
        };
        let mut observer = JsObserver {
            on_changes: get("onChanges").dyn_into().ok(),
            on_rejections: get("onRejections").dyn_into().ok(),
        };
        // Not an `async fn`: the returned future must not borrow `self`,
        // so `close` stays callable (it then waits for this round's end).
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let result = sync(&store, &transport, &BrowserTimer, &options, &mut observer).await;
            Ok(sync_result(result))
        }))
    }

    /// Closes the database and releases its OPFS access handles, so another
    /// worker or tab can open it. Later calls throw `CLOSED`. Throws (and
    /// stays open) while a sync round is still running: await it first.
    pub fn close(&self) -> JsResult<()> {
        let Some(store) = self.store.borrow_mut().take() else {
            return Ok(());
        };
        let store = match Rc::try_unwrap(store) {
            Ok(store) => store,
            Err(shared) => {
                *self.store.borrow_mut() = Some(shared);
                return Err(Error::StorageUnavailable(
                    "cannot close while a sync is running; await it first".into(),
                )
                .into());
            }
        };
        store.close()?;
        if let Some(handle) = self.opfs.borrow_mut().take() {
            handle.release()?;
        }
        Ok(())
    }

    /// Whether `close` has run.
    #[wasm_bindgen(getter, js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.store.borrow().is_none()
    }
}

fn parse_transport(value: JsValue) -> Result<AnyTransport, Error> {
    if let Some(t) = JsTransport::from_js(&value) {
        return Ok(AnyTransport::Js(t));
    }
    if !value.is_object() {
        return Err(Error::InvalidConfig(
            "sync needs a transport: { push, pull } URLs or functions".into(),
        ));
    }
    let headers = js_sys::Reflect::get(&value, &JsValue::from_str("headers")).unwrap_or_default();
    let headers = HeaderSource::from_js(&headers).map_err(Error::InvalidConfig)?;
    let config: HttpConfig = input("sync transport", &value)?;
    Ok(AnyTransport::Http(HttpTransport::new(config, headers)))
}

fn sync_result(result: SyncResult) -> JsValue {
    let obj = js_sys::Object::new();
    let set = |k: &str, v: JsValue| {
        let _ = js_sys::Reflect::set(&obj, &JsValue::from_str(k), &v);
    };
    set("pushed", JsValue::from(result.pushed as f64));
    set("pulled", JsValue::from(result.pulled as f64));
    set("rejected", JsValue::from(result.rejected as f64));
    set(
        "errors",
        result
            .errors
            .iter()
            .map(to_js)
            .collect::<js_sys::Array>()
            .into(),
    );
    obj.into()
}

/// Hands each page's changes to the JS callbacks as they are applied.
struct JsObserver {
    on_changes: Option<js_sys::Function>,
    on_rejections: Option<js_sys::Function>,
}

impl JsObserver {
    fn call(f: &Option<js_sys::Function>, value: Result<JsValue, Error>) {
        let Some(f) = f else { return };
        // A throwing callback must not abort the round: the changes are
        // durable already, and the app can re-read them.
        match value {
            Ok(v) => {
                if let Err(e) = f.call1(&JsValue::UNDEFINED, &v) {
                    web_sys::console::error_2(&"eventsourced-db: a sync callback threw".into(), &e);
                }
            }
            Err(e) => web_sys::console::error_1(&JsValue::from(e)),
        }
    }
}

impl SyncObserver for JsObserver {
    fn on_changes(&mut self, changes: &[VisibleChange]) {
        if changes.is_empty() || self.on_changes.is_none() {
            return;
        }
        // JSON text, not objects (see `SyncRequest.onChanges`).
        let text = serde_json::to_string(changes)
            .map(|t| JsValue::from_str(&t))
            .map_err(|e| Error::Storage(format!("could not convert changes for JS: {e}")));
        Self::call(&self.on_changes, text);
    }

    fn on_rejections(&mut self, rejections: &[Rejection]) {
        if rejections.is_empty() || self.on_rejections.is_none() {
            return;
        }
        Self::call(&self.on_rejections, output(rejections));
    }
}
