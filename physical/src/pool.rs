//! A fixed set of worker threads taking jobs from a list in order (callers sort it,
//! largest first) and sending results back to the calling thread, which consumes them as
//! they come. Memory stays bounded: each worker holds its own state (buffers, codec
//! contexts) and the result channel is bounded.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// Runs `work` on every job with `workers` threads. `init` builds each worker's state.
/// `consume` sees every result on the calling thread; returning `false` stops the workers
/// after the jobs they are running (the remaining jobs are skipped).
pub fn run_parallel<J, S, R>(
    jobs: &[J],
    workers: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &J) -> R + Sync,
    mut consume: impl FnMut(R) -> bool,
) where
    J: Sync,
    R: Send,
{
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = workers.clamp(1, jobs.len().max(1));
    let (tx, rx) = mpsc::sync_channel::<R>(workers * 4);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop, init, work) = (&next, &stop, &init, &work);
            scope.spawn(move || {
                let mut state = init();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    if tx.send(work(&mut state, job)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut keep_going = true;
        for result in rx.iter() {
            if keep_going && !consume(result) {
                keep_going = false;
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once() {
        let jobs: Vec<u64> = (0..1000).collect();
        let mut seen = Vec::new();
        run_parallel(
            &jobs,
            3,
            || 0u64,
            |_, j| j * 2,
            |r| {
                seen.push(r);
                true
            },
        );
        seen.sort();
        assert_eq!(seen, (0..1000).map(|j| j * 2).collect::<Vec<_>>());
    }

    #[test]
    fn stopping_skips_the_rest() {
        let jobs: Vec<u64> = (0..10_000).collect();
        let workers = 2;
        let ran = AtomicUsize::new(0);
        let mut consumed = 0;
        run_parallel(
            &jobs,
            workers,
            || (),
            |_, j| {
                ran.fetch_add(1, Ordering::Relaxed);
                *j
            },
            |_| {
                consumed += 1;
                consumed < 5
            },
        );
        // Counting what ran, not what was consumed (which stops at 5 whatever the workers
        // do): after the stop, only the results already queued (4 per worker), the job
        // each worker holds, and one it may take between its check and the stop.
        let ran = ran.into_inner();
        assert_eq!(consumed, 5);
        assert!(
            ran <= 5 + 4 * workers + 2 * workers,
            "{ran} jobs ran after the consumer stopped at 5"
        );
    }

    #[test]
    fn no_jobs_is_fine() {
        let jobs: Vec<u8> = vec![];
        run_parallel(&jobs, 4, || (), |_, j| *j, |_| true);
    }
}
