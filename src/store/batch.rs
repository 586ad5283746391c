//! Many rows per statement. A statement execution has a fixed cost (binding
//! checks, opening and closing cursors, the virtual machine's halt and reset)
//! of the order of one b-tree insert; writing 64 rows per `INSERT ... VALUES
//! (...), (...)` pays it once instead of 64 times (measured: about 40% of the
//! SQLite instructions of a capture). Chunks of 64, 16, 4 and 1 rows keep the
//! number of distinct statements (cached per connection) small.

use rusqlite::{CachedStatement, Connection};

use crate::error::Result;

/// The chunk sizes, largest first.
const SIZES: [usize; 4] = [64, 16, 4, 1];

/// `head` followed by `n` copies of `row` (a parenthesised tuple of `?`),
/// separated by commas, then `tail`.
fn sql(head: &str, row: &str, n: usize, tail: &str) -> String {
    let mut s = String::with_capacity(head.len() + (row.len() + 1) * n + tail.len() + 1);
    s.push_str(head);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(row);
    }
    s.push(' ');
    s.push_str(tail);
    s
}

/// Executes `head VALUES row, row, ... tail` over `items`, binding each
/// item's parameters with `bind(statement, first_index, item)` (indexes are
/// 1-based, `width` per row). Returns the number of rows changed.
pub(crate) fn execute<T>(
    conn: &Connection,
    head: &str,
    row: &str,
    tail: &str,
    width: usize,
    items: &[T],
    mut bind: impl FnMut(&mut CachedStatement<'_>, usize, &T) -> Result<()>,
) -> Result<usize> {
    let mut changed = 0;
    let mut rest = items;
    // Largest chunks first; each size's statement is fetched from the cache
    // once and reused for all its chunks (a fetch hashes and compares the
    // statement's text, and its return clears every binding).
    for n in SIZES {
        if rest.len() < n {
            continue;
        }
        let mut stmt = conn.prepare_cached(&sql(head, row, n, tail))?;
        while rest.len() >= n {
            let (chunk, tail_items) = rest.split_at(n);
            for (i, item) in chunk.iter().enumerate() {
                bind(&mut stmt, 1 + i * width, item)?;
            }
            changed += stmt.raw_execute()?;
            rest = tail_items;
        }
    }
    Ok(changed)
}

/// Runs `head (?, ?, ...) tail` (an `IN` list of `n` parameters after
/// `fixed` leading ones) over `keys` in chunks, padding the last chunk with
/// its last key, and calls `row` for every result row.
pub(crate) fn query_in<K>(
    conn: &Connection,
    head: &str,
    tail: &str,
    fixed: &[&dyn rusqlite::ToSql],
    keys: &[K],
    mut bind: impl FnMut(&mut CachedStatement<'_>, usize, &K) -> Result<()>,
    mut row: impl FnMut(&rusqlite::Row<'_>) -> Result<()>,
) -> Result<()> {
    // One statement per size, fetched once: every chunk but the last is
    // full (64), the last is padded up to the next size.
    let mut held: Option<(usize, CachedStatement<'_>)> = None;
    for chunk in keys.chunks(SIZES[0]) {
        // Pad up to the next size, so that few statement texts exist.
        let n = SIZES
            .into_iter()
            .rev()
            .find(|&s| s >= chunk.len())
            .expect("64 fits a chunk");
        if held.as_ref().is_none_or(|(size, _)| *size != n) {
            let mut s = String::with_capacity(head.len() + 2 * n + tail.len() + 4);
            s.push_str(head);
            s.push('(');
            for i in 0..n {
                s.push_str(if i == 0 { "?" } else { ",?" });
            }
            s.push_str(") ");
            s.push_str(tail);
            let mut stmt = conn.prepare_cached(&s)?;
            for (i, p) in fixed.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, p)?;
            }
            held = Some((n, stmt));
        }
        let stmt = &mut held.as_mut().expect("set above").1;
        for i in 0..n {
            let key = chunk.get(i).unwrap_or(&chunk[chunk.len() - 1]);
            bind(stmt, fixed.len() + 1 + i, key)?;
        }
        let mut rows = stmt.raw_query();
        while let Some(r) = rows.next()? {
            row(r)?;
        }
    }
    Ok(())
}
