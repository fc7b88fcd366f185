//! A small pool that works through a list on several threads and hands the
//! results on in the list's order: `validate DIR` checks files in parallel and
//! prints them as one thread would. Workers take the list a chunk at a time and
//! run at most a window of chunks ahead of the one printed next, so memory stays
//! flat however long the list.
//!
//! Chunks, not single items, because every hand-over between threads costs a
//! wake-up: one message and one wake per file made `validate` on 10,000 files
//! switch threads 28,000 times and spend three times the system time of one
//! thread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread;

/// How many chunks each worker may run ahead of the next one handed on.
const AHEAD_PER_JOB: usize = 4;
/// The most items in a chunk: a stream of results still shows up in steps this
/// small.
const MAX_CHUNK: usize = 16;
/// Chunks per worker the list is at least cut into, so a short list is still
/// shared out evenly.
const CHUNKS_PER_JOB: usize = 8;

/// How many items a worker takes at a time, for `len` items on `jobs` threads.
fn chunk_size(len: usize, jobs: usize) -> usize {
    (len / (jobs * CHUNKS_PER_JOB)).clamp(1, MAX_CHUNK)
}

/// Calls `work` on every item on `jobs` threads and `sink` on the results in
/// the items' order. The first error from `sink` stops the workers (each
/// finishes the item it holds) and is returned.
pub fn map_in_order<T, R, E>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    T: Sync,
    R: Send,
{
    let jobs = jobs.clamp(1, items.len().max(1));
    if jobs == 1 {
        return items.iter().try_for_each(|item| sink(work(item)));
    }
    let chunk = chunk_size(items.len(), jobs);
    let window = jobs * AHEAD_PER_JOB;
    let next = AtomicUsize::new(0);
    let progress = Progress::default();
    let (sender, receiver) = mpsc::channel::<(usize, Vec<R>)>();
    thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let (next, progress, work) = (&next, &progress, &work);
            scope.spawn(move || {
                let _stop_others_on_panic = PanicGuard(progress);
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(part) = items.chunks(chunk).nth(index) else {
                        break;
                    };
                    if !progress.wait_for_room(index, window) {
                        break;
                    }
                    let mut results = Vec::with_capacity(part.len());
                    for item in part {
                        if progress.is_stopped() {
                            return;
                        }
                        results.push(work(item));
                    }
                    if sender.send((index, results)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut early = BTreeMap::new();
        let mut handed = 0;
        for (index, results) in &receiver {
            early.insert(index, results);
            while let Some(results) = early.remove(&handed) {
                for result in results {
                    if let Err(error) = sink(result) {
                        progress.stop();
                        return Err(error);
                    }
                }
                handed += 1;
                progress.handed(handed);
            }
        }
        Ok(())
    })
}

/// How many chunks have been handed on, and whether to stop.
#[derive(Default)]
struct Progress {
    state: Mutex<State>,
    changed: Condvar,
    /// `State::stopped`, readable between items without taking the lock.
    stopped: AtomicBool,
}

#[derive(Default)]
struct State {
    handed: usize,
    stopped: bool,
    /// Workers waiting for room: only then is a hand-over worth a wake-up.
    waiting: usize,
}

impl Progress {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until chunk `index` is within the window; false when told to stop.
    fn wait_for_room(&self, index: usize, window: usize) -> bool {
        let mut state = self.lock();
        while !state.stopped && index >= state.handed + window {
            state.waiting += 1;
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting -= 1;
        }
        !state.stopped
    }

    fn handed(&self, count: usize) {
        let mut state = self.lock();
        state.handed = count;
        if state.waiting > 0 {
            self.changed.notify_all();
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.lock().stopped = true;
        self.changed.notify_all();
    }
}

/// A worker that panics leaves a gap no result fills: the others are stopped, so
/// the pool ends and the panic surfaces instead of everyone waiting for ever.
struct PanicGuard<'p>(&'p Progress);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn hands_results_on_in_order_whatever_finishes_first() {
        let items: Vec<u64> = (0..200).collect();
        let mut seen = Vec::new();
        let done: Result<(), ()> = map_in_order(
            &items,
            3,
            |&n| {
                // Early items take longest, so later ones finish first.
                thread::sleep(std::time::Duration::from_micros((200 - n) * 20));
                n * 2
            },
            |r| {
                seen.push(r);
                Ok(())
            },
        );
        assert_eq!(done, Ok(()));
        assert_eq!(seen, items.iter().map(|n| n * 2).collect::<Vec<_>>());
    }

    #[test]
    fn never_runs_further_ahead_than_the_window() {
        let items: Vec<usize> = (0..100).collect();
        let started = AtomicUsize::new(0);
        let mut handed = 0;
        let done: Result<(), ()> = map_in_order(
            &items,
            2,
            |&n| {
                started.fetch_max(n, Ordering::SeqCst);
                n
            },
            |n| {
                // Slow at the sink: the workers must wait for it.
                thread::sleep(std::time::Duration::from_micros(300));
                let ahead = started.load(Ordering::SeqCst) - n;
                let window = 2 * AHEAD_PER_JOB * chunk_size(100, 2);
                assert!(ahead < window, "{ahead} items ahead");
                handed += 1;
                Ok(())
            },
        );
        assert_eq!(done, Ok(()));
        assert_eq!(handed, 100);
    }

    #[test]
    fn the_first_error_stops_the_workers() {
        let items: Vec<usize> = (0..10_000).collect();
        let worked = AtomicUsize::new(0);
        let done = map_in_order(
            &items,
            4,
            |&n| {
                worked.fetch_add(1, Ordering::SeqCst);
                n
            },
            |n| if n == 5 { Err("broken pipe") } else { Ok(()) },
        );
        assert_eq!(done, Err("broken pipe"));
        // At most the window, and each worker's item in hand, of 10,000.
        let window = 4 * AHEAD_PER_JOB * chunk_size(items.len(), 4);
        assert!(worked.load(Ordering::SeqCst) <= window + 4, "stopped early");
    }

    #[test]
    fn one_job_or_no_items_need_no_threads() {
        let mut seen = Vec::new();
        let done: Result<(), ()> = map_in_order(
            &[1, 2, 3],
            1,
            |n| n + 1,
            |n| {
                seen.push(n);
                Ok(())
            },
        );
        assert_eq!((done, seen), (Ok(()), vec![2, 3, 4]));
        let none: [u8; 0] = [];
        assert_eq!(map_in_order(&none, 8, |n| *n, |_| Err(())), Ok(()));
    }
}
