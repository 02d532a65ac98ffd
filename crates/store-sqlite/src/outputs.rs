//! Step outputs as they were written or last read, parsed and shared: the
//! steps that read an output (a run's later steps, its gates) get it from
//! here rather than parsing it from the database again.
//!
//! An entry is used only while the step's row still says what it said when
//! the entry was made: its status, when it finished, and how many times its
//! output has been written (`steps.output_rev`, which every statement that
//! writes an output counts up in the same transaction). Whoever wrote the
//! row since, in this process or another, the count has moved on and the
//! entry is not used. Versions from before the column do not count: those
//! since the steps table's columns are checked refuse a table with one
//! they do not know; older ones must not share a database with this one. The cache is bounded by the outputs' size as
//! JSON plus a fixed charge per entry, least recently used first out.

use hashlink::LinkedHashMap;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The most the cache holds, counted as [`Outputs::put`] does. With
/// `greenlight bench`'s 64 Campaign Launch runs in flight (offline agents,
/// 3,000 runs), about 2.5 MB of output JSON served 95% of the outputs read
/// from here (2 MB: 79%; 4 MB: 99%). Held as parsed values it takes more
/// than that: the bench's RSS with 10,000 runs waiting rose by about 8 MB.
pub(crate) const BUDGET_BYTES: usize = 3 << 20;

/// What an entry costs besides its output's JSON: its key, stamp, place in
/// the map and the output's allocation, roughly.
const ENTRY_BYTES: usize = 256;

/// What a step's row said of it when its output was cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub status: String,
    pub finished_at: Option<String>,
    /// `steps.output_rev`: how many times the output has been written.
    pub rev: i64,
}

struct Entry {
    stamp: Stamp,
    output: Arc<Value>,
    bytes: usize,
}

#[derive(Default)]
struct Inner {
    entries: LinkedHashMap<String, Entry>,
    bytes: usize,
}

/// The cache: one per store, shared by its reads and writes.
pub(crate) struct Outputs {
    budget: usize,
    inner: Mutex<Inner>,
}

fn key(run: &str, step: &str) -> String {
    let mut k = String::with_capacity(run.len() + step.len() + 1);
    k.push_str(run);
    k.push('.');
    k.push_str(step);
    k
}

impl Outputs {
    pub(crate) fn new(budget: usize) -> Outputs {
        Outputs {
            budget,
            inner: Mutex::default(),
        }
    }

    // A panic elsewhere while holding the lock leaves whole entries and a
    // byte count that is at worst off by one entry: keep using them.
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The step's output, if cached under the row's present `stamp`;
    /// `used` counts it as used now (what eviction goes by).
    pub(crate) fn get(&self, run: &str, step: &str, stamp: &Stamp, used: bool) -> Option<Arc<Value>> {
        let k = key(run, step);
        let mut inner = self.inner();
        let entry = if used {
            inner.entries.to_back(&k)?
        } else {
            inner.entries.get_mut(&k)?
        };
        (entry.stamp == *stamp).then(|| entry.output.clone())
    }

    /// Keeps `output` (`json_bytes` long as JSON) as the step's under
    /// `stamp`; one costing more than a quarter of the budget is not kept.
    pub(crate) fn put(&self, run: &str, step: &str, stamp: Stamp, output: Arc<Value>, json_bytes: usize) {
        let k = key(run, step);
        let bytes = json_bytes
            + k.len()
            + stamp.status.len()
            + stamp.finished_at.as_ref().map_or(0, String::len)
            + ENTRY_BYTES;
        if bytes > self.budget / 4 {
            self.forget(run, step);
            return;
        }
        // Dropped once the lock is released: a large output takes a while.
        let mut dropped = Vec::new();
        let mut inner = self.inner();
        if let Some(old) = inner.entries.insert(k, Entry { stamp, output, bytes }) {
            inner.bytes -= old.bytes;
            dropped.push(old);
        }
        inner.bytes += bytes;
        while inner.bytes > self.budget {
            match inner.entries.pop_front() {
                Some((_, e)) => {
                    inner.bytes -= e.bytes;
                    dropped.push(e);
                }
                None => {
                    inner.bytes = 0;
                    break;
                }
            }
        }
        drop(inner);
        drop(dropped);
    }

    /// Drops the step's entry (its output has been written anew).
    pub(crate) fn forget(&self, run: &str, step: &str) {
        let mut inner = self.inner();
        let old = inner.entries.remove(&key(run, step));
        if let Some(old) = &old {
            inner.bytes -= old.bytes;
        }
        drop(inner);
        drop(old);
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.inner().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stamp(status: &str, at: &str) -> Stamp {
        Stamp {
            status: status.into(),
            finished_at: Some(at.into()),
            rev: 1,
        }
    }

    #[test]
    fn an_entry_serves_only_the_row_it_was_cached_for() {
        let c = Outputs::new(10_000);
        c.put("r1", "a", stamp("succeeded", "t1"), Arc::new(json!({"x": 1})), 10);
        assert!(c.bytes() > 10, "an entry costs more than its JSON");
        assert_eq!(
            c.get("r1", "a", &stamp("succeeded", "t1"), true).as_deref(),
            Some(&json!({"x": 1}))
        );
        // The row was written since: another status, finish time or count of writes.
        assert!(c.get("r1", "a", &stamp("approved", "t1"), true).is_none());
        assert!(c.get("r1", "a", &stamp("succeeded", "t2"), true).is_none());
        let rewritten = Stamp {
            rev: 2,
            ..stamp("succeeded", "t1")
        };
        assert!(c.get("r1", "a", &rewritten, true).is_none());
        assert!(c.get("r2", "a", &stamp("succeeded", "t1"), true).is_none());
        c.forget("r1", "a");
        assert!(c.get("r1", "a", &stamp("succeeded", "t1"), true).is_none());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn the_cache_keeps_to_its_budget_least_recently_used_first_out() {
        let s = stamp("succeeded", "t");
        // What an entry of 100 bytes of JSON costs here ("r.a", the stamp).
        let cost = 100 + "r.a".len() + "succeeded".len() + "t".len() + ENTRY_BYTES;
        let c = Outputs::new(4 * cost);
        for step in ["a", "b", "c"] {
            c.put("r", step, s.clone(), Arc::new(json!(step)), 100);
        }
        // "a" read and counted as used, "b" read without: "b" is now the
        // least recently used.
        assert!(c.get("r", "a", &s, true).is_some());
        assert!(c.get("r", "b", &s, false).is_some());
        c.put("r", "d", s.clone(), Arc::new(json!("d")), 100);
        c.put("r", "e", s.clone(), Arc::new(json!("e")), 100);
        assert!(
            c.get("r", "b", &s, true).is_none(),
            "the least recently used goes first"
        );
        for kept in ["a", "c", "d", "e"] {
            assert!(c.get("r", kept, &s, true).is_some(), "{kept} is kept");
        }
        assert_eq!(c.bytes(), 4 * cost);
        // Replacing an entry counts its bytes once.
        c.put("r", "a", s.clone(), Arc::new(json!("a2")), 100);
        assert_eq!(c.bytes(), 4 * cost);
        // Too large to keep: not kept, and its older entry goes.
        c.put("r", "a", s.clone(), Arc::new(json!("huge")), cost);
        assert!(c.get("r", "a", &s, true).is_none());
        assert_eq!(c.bytes(), 3 * cost);
    }
}
