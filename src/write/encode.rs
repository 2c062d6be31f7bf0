//! Encoding on worker threads. Parquet-encoding every row in order on one thread capped the tool
//! at about three cores; here the work is cut into tasks that run on a pool of encoder threads:
//!
//! - the columns of a partition's file, in groups: a batch of rows (a segment) is encoded into
//!   each group's column writers by its own task, so one busy partition keeps every core busy;
//! - whole small files, opened, written and closed by one task, so many small partitions are
//!   written side by side.
//!
//! A task's result depends only on the rows it is given, never on which thread runs it or when:
//! the output is the same bytes however the threads are scheduled (see `file.rs` for the order
//! in which a file's tasks are given out).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Sender, unbounded};

/// Work for an encoder thread.
type Task = Box<dyn FnOnce() + Send>;

/// A fixed set of encoder threads running tasks in the order they are given.
///
/// A task that panics is caught: its thread goes on, and whoever waits for the task's result
/// sees its result channel closed.
pub struct EncoderPool {
    tasks: Option<Sender<Task>>,
    threads: Vec<JoinHandle<()>>,
    costs: Arc<ColumnCosts>,
}

impl EncoderPool {
    /// A pool of `threads` encoder threads (at least one) for files of `fields` columns.
    pub fn new(threads: usize, fields: usize) -> Self {
        let (tasks, queue) = unbounded::<Task>();
        let threads = (0..threads.max(1))
            .map(|i| {
                let queue = queue.clone();
                std::thread::Builder::new()
                    .name(format!("encoder-{i}"))
                    .spawn(move || {
                        for task in queue {
                            let _ = catch_unwind(AssertUnwindSafe(task));
                        }
                    })
                    .expect("the system can start an encoder thread")
            })
            .collect();
        EncoderPool {
            tasks: Some(tasks),
            threads,
            costs: Arc::new(ColumnCosts::new(fields)),
        }
    }

    /// Runs `task` on an encoder thread.
    pub fn spawn(&self, task: impl FnOnce() + Send + 'static) {
        if let Some(tasks) = &self.tasks {
            // The threads outlive the sender, so the queue is open.
            let _ = tasks.send(Box::new(task));
        }
    }

    /// How many encoder threads there are.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// What encoding each column has cost so far, shared by the tasks that measure it.
    pub fn costs(&self) -> &Arc<ColumnCosts> {
        &self.costs
    }
}

impl Drop for EncoderPool {
    fn drop(&mut self) {
        self.tasks = None; // the threads end once the queue is empty
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The time each column (top-level field) took to encode per row, as measured by the tasks:
/// used only to share columns out evenly between tasks, which changes where they are encoded,
/// never what is written.
pub struct ColumnCosts {
    /// Nanoseconds per 1,000 rows, per field, smoothed; 0 until measured.
    per_thousand_rows: Mutex<Vec<u64>>,
}

impl ColumnCosts {
    fn new(fields: usize) -> Self {
        ColumnCosts {
            per_thousand_rows: Mutex::new(vec![0; fields]),
        }
    }

    /// Records that encoding `rows` rows of field `field` took from `start` until now.
    pub fn record(&self, field: usize, rows: usize, start: Instant) {
        if rows == 0 {
            return;
        }
        let nanos = start.elapsed().as_nanos() as u64;
        let cost = nanos.saturating_mul(1000) / rows as u64;
        let mut costs = self
            .per_thousand_rows
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(c) = costs.get_mut(field) {
            *c = if *c == 0 { cost } else { (*c * 7 + cost) / 8 };
        }
    }

    /// The fields `0..fields` shared out into at most `groups` groups of about equal cost
    /// (largest first, each to the cheapest group so far); fields not measured yet count as the
    /// average of those that were. Each group lists its fields in ascending order.
    pub fn groups(&self, fields: usize, groups: usize) -> Vec<Vec<usize>> {
        let groups = groups.clamp(1, fields.max(1));
        let costs = self
            .per_thousand_rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let measured: Vec<u64> = costs.iter().copied().filter(|&c| c > 0).collect();
        let average = if measured.is_empty() {
            1
        } else {
            measured.iter().sum::<u64>() / measured.len() as u64
        };
        let mut order: Vec<(u64, usize)> = (0..fields)
            .map(|f| {
                let cost = costs.get(f).copied().unwrap_or(0);
                (if cost == 0 { average } else { cost }, f)
            })
            .collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        let mut bins: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); groups];
        for (cost, field) in order {
            let cheapest = bins
                .iter_mut()
                .min_by_key(|(total, _)| *total)
                .expect("at least one group");
            cheapest.0 += cost.max(1);
            cheapest.1.push(field);
        }
        let mut out: Vec<Vec<usize>> = bins
            .into_iter()
            .map(|(_, mut fields)| {
                fields.sort_unstable();
                fields
            })
            .filter(|f| !f.is_empty())
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_task_runs_and_a_panicking_task_leaves_its_thread_working() {
        let pool = EncoderPool::new(2, 1);
        let (done, results) = unbounded();
        for i in 0..100 {
            let done = done.clone();
            pool.spawn(move || {
                if i % 10 == 3 {
                    panic!("injected");
                }
                done.send(i).unwrap();
            });
        }
        drop(done);
        drop(pool); // joins, after the queue is empty
        let mut got: Vec<i32> = results.iter().collect();
        got.sort_unstable();
        let expected: Vec<i32> = (0..100).filter(|i| i % 10 != 3).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn groups_cover_every_field_once_and_balance_measured_costs() {
        let costs = ColumnCosts::new(6);
        let start = Instant::now() - Duration::from_millis(60);
        costs.record(0, 1000, start); // field 0 is by far the dearest
        for f in 1..6 {
            costs.record(f, 1000, Instant::now() - Duration::from_millis(10));
        }
        let groups = costs.groups(6, 3);
        let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4, 5]);
        assert!(
            groups.contains(&vec![0]),
            "the dear field alone: {groups:?}"
        );
        assert_eq!(groups.len(), 3);
        assert_eq!(
            costs.groups(6, 100).len(),
            6,
            "never more groups than fields"
        );
        assert_eq!(costs.groups(6, 0).len(), 1);
        assert_eq!(ColumnCosts::new(4).groups(4, 2), [vec![0, 2], vec![1, 3]]);
    }
}
