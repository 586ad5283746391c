//! Raw SQLite on OPFS for the benchmark's floor: one table of JSON rows and
//! the four operations the cases need. No events, no log, no sync state.

use eventsourced_db::wasm::opfs;
use rusqlite::{params, Connection};
use wasm_bindgen::prelude::*;

type JsResult<T> = Result<T, JsValue>;

fn err(e: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&e.to_string()).into()
}

/// One database: the connection, and the pool holding its access handles.
#[wasm_bindgen]
pub struct Floor {
    // Declared first: the connection closes before the pool is released.
    conn: Option<Connection>,
    handle: Option<opfs::OpfsHandle>,
}

#[wasm_bindgen]
impl Floor {
    /// Opens `name` with the journal and sync settings the core uses on OPFS
    /// for captures (WAL, synchronous FULL: durable when a commit returns).
    pub async fn open(name: String) -> JsResult<Floor> {
        let db = opfs::open(&name).await.map_err(err)?;
        db.connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
            )
            .map_err(err)?;
        Ok(Floor {
            conn: Some(db.connection),
            handle: Some(db.handle),
        })
    }

    fn conn(&self) -> JsResult<&Connection> {
        self.conn.as_ref().ok_or_else(|| err("closed"))
    }

    /// Writes rows (keys[i] → JSON text values[i]) in one transaction.
    #[wasm_bindgen(js_name = putMany)]
    pub fn put_many(&self, keys: Vec<String>, values: Vec<String>) -> JsResult<()> {
        let tx = self.conn()?.unchecked_transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached("INSERT OR REPLACE INTO rows VALUES (?1, ?2)")
                .map_err(err)?;
            for (k, v) in keys.iter().zip(&values) {
                stmt.execute(params![k, v]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Every row as one JSON array text (`[v1,v2,...]`): one `JSON.parse` on the JS side.
    #[wasm_bindgen(js_name = readAll)]
    pub fn read_all(&self) -> JsResult<String> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT value FROM rows").map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut out = String::from("[");
        while let Some(row) = rows.next().map_err(err)? {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(row.get_ref(0).map_err(err)?.as_str().map_err(err)?);
        }
        out.push(']');
        Ok(out)
    }

    /// The number of rows.
    pub fn count(&self) -> JsResult<f64> {
        self.conn()?
            .query_row("SELECT count(*) FROM rows", [], |r| r.get::<_, i64>(0))
            .map(|n| n as f64)
            .map_err(err)
    }

    /// Closes the connection and releases the OPFS access handles.
    pub fn close(&mut self) -> JsResult<()> {
        if let Some(conn) = self.conn.take() {
            conn.close().map_err(|(_, e)| err(e))?;
        }
        match self.handle.take() {
            Some(h) => h.release().map_err(err),
            None => Ok(()),
        }
    }
}
