//! `for_each` + `concurrency`: run one action per item with at most N in flight,
//! and hand the results back in item order.
//!
//! The bound is the point — a rate-limited API or a fleet of hosts must never see
//! more than N requests at once from one step — so it is enforced by
//! construction: at most N futures exist at any moment; the next item's future
//! is created only when one finishes. They are polled together on the caller's
//! task rather than spawned, so `run` may borrow from the caller (no `'static`),
//! and dropping the returned future (Ctrl-C) drops every item in flight.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

/// Why a `for_each` over no items is skipped (by the run and by `plan --probe`):
/// it did and checked nothing, so it must not pass — a probe over zero items
/// would otherwise open the gate of the step that needs it with nothing verified.
pub const NO_ITEMS: &str =
    "`for_each` gave no items: nothing was done or checked, so it proves nothing";

/// Runs `run` on every item, at most `concurrency` at a time (`0` counts as 1),
/// and returns the results in the order of `items`. `on_done` is told how many
/// items have finished each time one does, for a progress bar.
///
/// The items' futures share one task: they overlap while they wait (on sockets,
/// processes, timers), which is all an action does; a future that blocks the
/// thread would stall the others.
pub async fn for_each<T, R, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    mut run: F,
    mut on_done: impl FnMut(usize),
) -> Vec<R>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = R>,
{
    let limit = concurrency.max(1);
    let total = items.len();
    let mut waiting = items.into_iter().enumerate();
    // (item index, its future); boxed so each stays pinned while the vector moves.
    let mut in_flight: Vec<(usize, Pin<Box<Fut>>)> = Vec::with_capacity(limit.min(total));
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(total).collect();
    let mut done = 0;

    loop {
        while in_flight.len() < limit {
            let Some((index, item)) = waiting.next() else {
                break;
            };
            in_flight.push((index, Box::pin(run(item))));
        }
        if in_flight.is_empty() {
            break;
        }
        let finished = poll_fn(|cx| {
            let mut finished = Vec::new();
            let mut slot = 0;
            while slot < in_flight.len() {
                match in_flight[slot].1.as_mut().poll(cx) {
                    Poll::Ready(result) => {
                        let (index, _) = in_flight.swap_remove(slot);
                        finished.push((index, result));
                    }
                    Poll::Pending => slot += 1,
                }
            }
            if finished.is_empty() {
                Poll::Pending
            } else {
                Poll::Ready(finished)
            }
        })
        .await;
        for (index, result) in finished {
            if let Some(place) = results.get_mut(index) {
                *place = Some(result);
            }
            done += 1;
            on_done(done);
        }
    }
    // Every index was filled exactly once above.
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::routing::get;

    use super::*;
    use crate::action::http::tests::{serve, test_client};
    use crate::action::http::{Request, send};

    /// How many requests are in the handler now, and the most there ever were.
    #[derive(Default)]
    struct Gauge {
        now: AtomicUsize,
        max: AtomicUsize,
    }

    impl Gauge {
        async fn hold(&self, time: Duration) {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(time).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    async fn slow_server() -> (std::net::SocketAddr, Arc<Gauge>) {
        let gauge = Arc::new(Gauge::default());
        let router = Router::new()
            .route(
                "/item/{n}",
                get(
                    |State(gauge): State<Arc<Gauge>>, Path(n): Path<u32>| async move {
                        gauge.hold(Duration::from_millis(20)).await;
                        n.to_string()
                    },
                ),
            )
            .with_state(Arc::clone(&gauge));
        (serve(router).await, gauge)
    }

    /// Fetches `/item/0` … `/item/49` with `concurrency`, returning the bodies
    /// and the most requests the server saw at once.
    async fn fetch_all(concurrency: usize) -> (Vec<String>, usize, Vec<usize>) {
        let (address, gauge) = slow_server().await;
        let client = test_client();
        let items: Vec<u32> = (0..50).collect();
        let mut progress = Vec::new();
        let bodies = for_each(
            items,
            concurrency,
            |n| {
                let request = Request::get(
                    format!("http://{address}/item/{n}"),
                    Duration::from_secs(10),
                );
                let client = &client;
                async move {
                    send(client, &request)
                        .await
                        .map_or_else(|error| error.to_string(), |response| response.body)
                }
            },
            |done| progress.push(done),
        )
        .await;
        (bodies, gauge.max.load(Ordering::SeqCst), progress)
    }

    #[tokio::test]
    async fn http_fan_out_never_exceeds_its_concurrency_and_keeps_order() {
        let expected: Vec<String> = (0..50).map(|n: u32| n.to_string()).collect();
        for concurrency in [1, 5] {
            let (bodies, max, progress) = fetch_all(concurrency).await;
            assert_eq!(bodies, expected, "concurrency {concurrency}");
            // With 50 items of 20 ms each, every slot gets used.
            assert_eq!(max, concurrency, "most requests at once");
            assert_eq!(progress, (1..=50).collect::<Vec<_>>());
        }
    }

    #[tokio::test]
    async fn more_slots_than_items_stays_within_the_item_count() {
        let (bodies, max, _) = fetch_all(64).await;
        assert_eq!(bodies.len(), 50);
        assert!((1..=50).contains(&max), "{max}");
    }

    #[tokio::test]
    async fn the_bound_holds_for_any_future() {
        let gauge = Gauge::default();
        // Uneven durations, so items finish out of order.
        let items: Vec<u64> = (0..40).map(|n| (n * 7) % 11).collect();
        let results = for_each(
            items.clone(),
            3,
            |millis| {
                let gauge = &gauge;
                async move {
                    gauge.hold(Duration::from_millis(millis)).await;
                    millis * 2
                }
            },
            |_| {},
        )
        .await;
        assert_eq!(results, items.iter().map(|m| m * 2).collect::<Vec<_>>());
        assert_eq!(gauge.max.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn zero_concurrency_runs_one_at_a_time_and_no_items_is_fine() {
        let gauge = Gauge::default();
        let results = for_each(
            vec![1u64, 2, 3],
            0,
            |millis| {
                let gauge = &gauge;
                async move {
                    gauge.hold(Duration::from_millis(millis)).await;
                    millis
                }
            },
            |_| {},
        )
        .await;
        assert_eq!(results, vec![1, 2, 3]);
        assert_eq!(gauge.max.load(Ordering::SeqCst), 1);

        let mut calls = 0;
        let none: Vec<u8> =
            for_each(Vec::<u8>::new(), 4, |n| async move { n }, |_| calls += 1).await;
        assert!(none.is_empty());
        assert_eq!(calls, 0);
    }
}
