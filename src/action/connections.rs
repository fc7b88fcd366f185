//! A fan-out's connections: at most one per slot of its `concurrency`, kept
//! open and reused, so a server sees no more connections than requests in
//! flight (SPEC: a fan-out "never exceeds concurrency requests in flight").
//!
//! reqwest's pool cannot promise that by itself. An HTTP/1 connection goes back
//! to the pool only after the request that used it has ended (hyper-util hands
//! it back from a task of its own), so the next request, finding the pool
//! empty, opens a new connection while the old one is on its way back: against
//! a server with a short listen queue, `concurrency: 16` opened 21–25. A
//! connection's lifetime cannot be followed from outside reqwest — a connector
//! layer must return reqwest's own sealed connection type, so it cannot carry
//! anything that notices the connection close — so the cap is kept by
//! construction instead:
//!
//! - A fan-out has [`Lanes`]: one per item in flight, each its own client with
//!   at most one connection, used by one request at a time.
//! - A lane's connector ([`Gate`]) opens a connection only when the lane has
//!   none. While its connection may still be open it refuses at once
//!   ([`Refused`]), before anything is sent; [`crate::action::http::send`]
//!   then waits a moment ([`Refused::wait`]) for the connection to be back in
//!   the pool and sends again. A connection that does not come back within
//!   [`GONE_AFTER`] is gone (the server closed it while it sat idle), and the
//!   lane opens a new one — one open connection replacing a closed one.
//! - A lane whose request failed, or whose server said `Connection: close`,
//!   knows its connection is closing and opens the next one without waiting,
//!   after letting the old one's close run first.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::http::{self, HttpError, Request, Response, Throttled};
use super::tls::{Connection, ConnectionError};

/// How long a lane waits for its connection to come back to the pool before
/// taking it as closed. It comes back as soon as hyper's connection task next
/// runs — on the engine's one-thread runtime, before anything else that was
/// waiting — so this is only met when the server closed the connection.
pub const GONE_AFTER: Duration = Duration::from_millis(100);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A fan-out's lanes, made as items need them and handed out one per item in
/// flight; dropping them closes their connections.
pub struct Lanes {
    /// The step's TLS files and addresses, which every lane's client has.
    connection: Connection,
    free: Mutex<Vec<Lane>>,
}

impl Lanes {
    /// Lanes connecting as `connection` says, its files read and checked now,
    /// before anything is sent.
    pub fn new(connection: Connection) -> Result<Lanes, ConnectionError> {
        let _checked = connection.builder()?;
        Ok(Lanes {
            connection,
            free: Mutex::new(Vec::new()),
        })
    }

    /// [`http::send_patiently`] on a free lane (a new one when none is free).
    pub async fn send_patiently(
        &self,
        request: &Request,
        deadline: Instant,
        on_429: impl FnMut(&Throttled),
    ) -> Result<(Response, u32), HttpError> {
        let reused = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let lane = match reused {
            Some(lane) => lane,
            None => Lane::new(&self.connection)?,
        };
        let result = http::send_patiently(&lane.client, request, deadline, on_429).await;
        let closing = match &result {
            Ok((response, _)) => response
                .headers
                .get("connection")
                .is_some_and(|value| value.eq_ignore_ascii_case("close")),
            Err(_) => true,
        };
        if closing {
            lane.state.closing();
        }
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(lane);
        result
    }
}

/// A client of its own with at most one connection.
struct Lane {
    client: reqwest::Client,
    state: Arc<LaneState>,
}

impl Lane {
    fn new(connection: &Connection) -> Result<Lane, HttpError> {
        let state = Arc::new(LaneState::default());
        let client = connection
            .builder()
            .map_err(|error| HttpError::Client(error.reason()))?
            .pool_max_idle_per_host(1)
            .connector_layer(Gate(Arc::clone(&state)))
            .build()
            .map_err(|error| HttpError::Client(error.to_string()))?;
        Ok(Lane { client, state })
    }
}

/// What a lane knows of its connection.
#[derive(Debug, Default)]
struct LaneState {
    /// A connection this lane opened may still be open.
    open: AtomicBool,
    /// Its connection is closing (a failed request, `Connection: close`): the
    /// next one need not wait for it to come back.
    closing: AtomicBool,
}

impl LaneState {
    fn closing(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }
}

/// The lane's connector layer: lets a connection open only when the lane has
/// none.
#[derive(Debug, Clone)]
struct Gate(Arc<LaneState>);

impl<S> tower_layer::Layer<S> for Gate {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> GateService<S> {
        GateService {
            inner,
            lane: Arc::clone(&self.0),
        }
    }
}

#[derive(Debug, Clone)]
struct GateService<S> {
    inner: S,
    lane: Arc<LaneState>,
}

impl<S, R> tower_service::Service<R> for GateService<S>
where
    S: tower_service::Service<R, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let lane = Arc::clone(&self.lane);
        let closing = lane.closing.swap(false, Ordering::SeqCst);
        if closing {
            lane.open.store(false, Ordering::SeqCst);
        }
        if lane.open.swap(true, Ordering::SeqCst) {
            return Box::pin(async move { Err(Box::new(Refused { lane }) as BoxError) });
        }
        // The service that was made ready goes into the future; a clone stays.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let opening = Opening(Some(Arc::clone(&lane)));
            if closing {
                // The closing connection's task closes it when it next runs.
                tokio::task::yield_now().await;
            }
            let connected = inner.call(request).await;
            if connected.is_ok() {
                opening.done();
            }
            connected
        })
    }
}

/// A connection being opened: when it fails or is given up, the lane has none.
struct Opening(Option<Arc<LaneState>>);

impl Opening {
    fn done(mut self) {
        self.0 = None;
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        if let Some(lane) = self.0.take() {
            lane.open.store(false, Ordering::SeqCst);
        }
    }
}

/// A lane's connector refused to open a second connection: nothing was sent.
#[derive(Debug)]
pub struct Refused {
    lane: Arc<LaneState>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection of this lane is still open")
    }
}

impl std::error::Error for Refused {}

impl Refused {
    /// The refusal in `error`'s causes, if it is one.
    pub fn in_error(error: &reqwest::Error) -> Option<&Refused> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = cause {
            if let Some(refused) = current.downcast_ref::<Refused>() {
                return Some(refused);
            }
            cause = current.source();
        }
        None
    }

    /// Waits for the lane's connection to be back in the pool before the
    /// request is sent again; `refusals` counts this request's refusals. The
    /// first wait lets every task that is ready run (hyper's, handing the
    /// connection back, among them); later ones back off, and past
    /// [`GONE_AFTER`] in all the connection is taken as closed.
    pub async fn wait(&self, refusals: &mut u32, since: Instant) {
        *refusals += 1;
        if *refusals == 1 {
            tokio::task::yield_now().await;
            return;
        }
        if since.elapsed() >= GONE_AFTER {
            self.lane.open.store(false, Ordering::SeqCst);
            return;
        }
        let backoff = Duration::from_millis(1 << (*refusals - 2).min(6));
        tokio::time::sleep(backoff).await;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpListener};
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A loopback HTTP/1.1 server answering every request `200 ok`, counting
    /// the connections it accepts; `close` says how it ends each connection
    /// after one answer: saying `Connection: close`, or silently, as a server
    /// whose keep-alive ran out does.
    fn one_answer_per_connection(say_close: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let address = listener.local_addr().expect("an address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().expect("a clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let connection = if say_close {
                    "Connection: close\r\n"
                } else {
                    ""
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{connection}\r\nok"
                );
            }
        });
        (address, accepted)
    }

    async fn get(lanes: &Lanes, address: SocketAddr) -> Result<Response, HttpError> {
        let request = Request::get(format!("http://{address}/"), Duration::from_secs(10));
        let deadline = Instant::now() + Duration::from_secs(10);
        lanes
            .send_patiently(&request, deadline, |_| {})
            .await
            .map(|(response, _)| response)
    }

    #[tokio::test]
    async fn a_lane_opens_a_new_connection_after_connection_close() {
        let (address, accepted) = one_answer_per_connection(true);
        let lanes = Lanes::new(Connection::default()).expect("lanes");
        for _ in 0..5 {
            let response = get(&lanes, address).await.expect("an answer");
            assert_eq!(response.body, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_lane_replaces_a_connection_the_server_closed_while_it_was_idle() {
        let (address, accepted) = one_answer_per_connection(false);
        let lanes = Lanes::new(Connection::default()).expect("lanes");
        for _ in 0..3 {
            let response = get(&lanes, address).await.expect("an answer");
            assert_eq!(response.body, "ok");
            // The server has closed the connection by the next request.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }
}
