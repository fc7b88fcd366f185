//! The one start-up of the tests' loopback HTTP servers: an axum router on
//! `127.0.0.1:0`, on a thread with its own tokio runtime (so a plain `#[test]`
//! can run the `runbook` binary against it), stopped when the handle drops.
//! It counts the connections it accepts and how many were open at once — a
//! connection counts from its accept to its close — so a test can hold the
//! client to a connection cap.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How the server's runtime and socket are set up.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// Worker threads; 1 is a current-thread runtime.
    pub workers: usize,
    /// The listen backlog: how many connections may wait to be accepted.
    pub backlog: u32,
    /// A pause after each accept, as a busy server takes: with a short
    /// backlog, a burst of connections overflows the queue, and the client's
    /// connects that were not queued are retried (after a second, on Linux).
    pub accept_pause: Duration,
}

impl Setup {
    /// One thread, tokio's usual backlog.
    pub const SINGLE: Setup = Setup {
        workers: 1,
        backlog: 1024,
        accept_pause: Duration::ZERO,
    };
}

/// The connections a server saw.
#[derive(Debug, Default)]
pub struct Connections {
    accepted: AtomicUsize,
    open: AtomicUsize,
    max_open: AtomicUsize,
}

impl Connections {
    /// How many connections were accepted in all.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The most connections that were open at the same time.
    pub fn max_open(&self) -> usize {
        self.max_open.load(Ordering::SeqCst)
    }

    /// Waits until every connection is closed (the client went away); panics
    /// after `within`, naming how many are still open.
    pub fn wait_all_closed(&self, within: Duration) {
        let until = Instant::now() + within;
        while self.open.load(Ordering::SeqCst) > 0 {
            assert!(
                Instant::now() < until,
                "{} connections still open after {within:?}",
                self.open.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A running server; dropping it stops it.
pub struct Loopback {
    pub address: SocketAddr,
    pub connections: Arc<Connections>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Loopback {
    /// Serves `router` until the returned handle is dropped.
    pub fn start(router: Router, setup: Setup) -> Loopback {
        let connections = Arc::new(Connections::default());
        let counted = Arc::clone(&connections);
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = if setup.workers <= 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(setup.workers)
                    .enable_all()
                    .build()
            }
            .expect("a tokio runtime for the test server");
            runtime.block_on(async move {
                let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
                socket
                    .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                    .expect("bind a loopback port");
                let listener = socket.listen(setup.backlog).expect("listen");
                address_tx
                    .send(listener.local_addr().expect("a bound address"))
                    .expect("the test is waiting for the address");
                let counting = Counting {
                    listener,
                    counted,
                    pause: setup.accept_pause,
                };
                let _ = axum::serve(counting, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the test server started");
        Loopback {
            address,
            connections,
            stop: Some(stop),
        }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The listener, counting each connection it hands to axum.
struct Counting {
    listener: tokio::net::TcpListener,
    counted: Arc<Connections>,
    pause: Duration,
}

impl axum::serve::Listener for Counting {
    type Io = Counted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Counted, SocketAddr) {
        let (stream, address) = axum::serve::Listener::accept(&mut self.listener).await;
        if !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
        let counted = &self.counted;
        counted.accepted.fetch_add(1, Ordering::SeqCst);
        let now = counted.open.fetch_add(1, Ordering::SeqCst) + 1;
        counted.max_open.fetch_max(now, Ordering::SeqCst);
        let stream = Counted {
            stream,
            counted: Arc::clone(counted),
        };
        (stream, address)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// An accepted connection; it stops counting as open when axum drops it.
struct Counted {
    stream: tokio::net::TcpStream,
    counted: Arc<Connections>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.counted.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
