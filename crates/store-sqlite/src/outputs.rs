//! Step outputs as they were written or last read, parsed and shared: the
//! steps that read an output (a run's later steps, its gates) get it from
//! here rather than parsing it from the database again.
//!
//! An entry is used only while the step's row still says what it said when
//! the entry was made: its status and when it finished. Every write of an
//! output sets both (a step's result, a gate's decision), so an entry cannot
//! outlive the output it holds, whoever wrote the row since. The cache is
//! bounded by the outputs' size as JSON, least recently used first out.

use hashlink::LinkedHashMap;
use serde_json::Value;
use std::sync::{Arc, Mutex, PoisonError};

/// The most output JSON the cache holds. With the bench's 64 Campaign
/// Launch runs in flight, 4 MiB served 99% of reads from here (2 MiB: 79%);
/// held as parsed values, it is about 7 MB of memory.
pub(crate) const BUDGET_BYTES: usize = 4 << 20;

/// What a step's row said of it when its output was cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub status: String,
    pub finished_at: Option<String>,
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
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The step's output, if cached under the row's present `stamp`.
    pub(crate) fn get(&self, run: &str, step: &str, stamp: &Stamp) -> Option<Arc<Value>> {
        let mut inner = self.inner();
        let k = key(run, step);
        let entry = inner.entries.to_back(&k)?;
        (entry.stamp == *stamp).then(|| entry.output.clone())
    }

    /// Keeps `output` (`bytes` long as JSON) as the step's under `stamp`;
    /// one larger than a quarter of the budget is not kept.
    pub(crate) fn put(&self, run: &str, step: &str, stamp: Stamp, output: Arc<Value>, bytes: usize) {
        if bytes > self.budget / 4 {
            self.forget(run, step);
            return;
        }
        let mut inner = self.inner();
        if let Some(old) = inner
            .entries
            .insert(key(run, step), Entry { stamp, output, bytes })
        {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        while inner.bytes > self.budget {
            match inner.entries.pop_front() {
                Some((_, e)) => inner.bytes -= e.bytes,
                None => {
                    inner.bytes = 0;
                    break;
                }
            }
        }
    }

    /// Drops the step's entry (its output is being written anew).
    pub(crate) fn forget(&self, run: &str, step: &str) {
        let mut inner = self.inner();
        if let Some(old) = inner.entries.remove(&key(run, step)) {
            inner.bytes -= old.bytes;
        }
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
        }
    }

    #[test]
    fn an_entry_serves_only_the_row_it_was_cached_for() {
        let c = Outputs::new(1000);
        c.put("r1", "a", stamp("succeeded", "t1"), Arc::new(json!({"x": 1})), 10);
        assert_eq!(
            c.get("r1", "a", &stamp("succeeded", "t1")).as_deref(),
            Some(&json!({"x": 1}))
        );
        // The row was written since: another status or finish time.
        assert!(c.get("r1", "a", &stamp("approved", "t1")).is_none());
        assert!(c.get("r1", "a", &stamp("succeeded", "t2")).is_none());
        assert!(c.get("r2", "a", &stamp("succeeded", "t1")).is_none());
        c.forget("r1", "a");
        assert!(c.get("r1", "a", &stamp("succeeded", "t1")).is_none());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn the_cache_keeps_to_its_budget_least_recently_used_first_out() {
        let c = Outputs::new(100);
        let s = stamp("succeeded", "t");
        for step in ["a", "b", "c"] {
            c.put("r", step, s.clone(), Arc::new(json!(step)), 25);
        }
        // Read "a": "b" is now the least recently used.
        assert!(c.get("r", "a", &s).is_some());
        c.put("r", "d", s.clone(), Arc::new(json!("d")), 25);
        c.put("r", "e", s.clone(), Arc::new(json!("e")), 25);
        assert!(
            c.get("r", "b", &s).is_none(),
            "the least recently used goes first"
        );
        for kept in ["a", "c", "d", "e"] {
            assert!(c.get("r", kept, &s).is_some(), "{kept} is kept");
        }
        assert_eq!(c.bytes(), 100);
        // Replacing an entry counts its bytes once.
        c.put("r", "a", s.clone(), Arc::new(json!("a2")), 25);
        assert_eq!(c.bytes(), 100);
        // Too large to keep: not kept, and its older entry goes.
        c.put("r", "a", s.clone(), Arc::new(json!("huge")), 26);
        assert!(c.get("r", "a", &s).is_none());
        assert_eq!(c.bytes(), 75);
    }
}
