//! The accept loop. Every accepted socket gets `TCP_NODELAY` (without it a
//! response of more than a few hundred bytes waits ~40 ms for the client's
//! delayed ACK), counts against a cap on open connections (at the cap, new
//! clients wait in the kernel's backlog instead of exhausting file
//! descriptors), and must send its first bytes (the HTTP/2 preface or a TLS
//! ClientHello) within the handshake timeout or be closed; a plaintext
//! HTTP/2 connection must also start its first call (a HEADERS frame) by
//! then. At the cap, a newcomer takes the slot of the oldest connection
//! that has not started a call yet (a socket that only sent the preface
//! holds no caller's work), so such sockets cannot lock callers out. Accept
//! errors (e.g. EMFILE) back off instead of spinning a core.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Sleep;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The HTTP/2 client preface is 24 bytes; any real client sends them first.
const PREFACE_BYTES: usize = 24;

/// Bounds on the connections a server keeps open.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long a new connection may take to send its first bytes.
    pub handshake_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Accepts connections on `listener` within `limits`. The listening socket
/// closes when the stream is dropped (the server stopped accepting).
pub fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> ReceiverStream<io::Result<Connection>> {
    let (sender, receiver) = mpsc::channel(1);
    tokio::spawn(accept_loop(listener, limits, sender));
    ReceiverStream::new(receiver)
}

async fn accept_loop(
    listener: TcpListener,
    limits: ConnectionLimits,
    sender: mpsc::Sender<io::Result<Connection>>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut open: Vec<Weak<Opening>> = Vec::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        // With a free slot, accept; at the cap, a newcomer is accepted only
        // to take an idle opener's slot (else it waits in the backlog).
        let free = Arc::clone(&slots).try_acquire_owned().ok();
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            permit = Arc::clone(&slots).acquire_owned(), if free.is_none() => {
                drop(permit);
                continue;
            }
            () = sender.closed() => return,
        };
        let (stream, _) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(error) => {
                // Logged once per pause, so a persistent error is a line a
                // second at most.
                tracing::warn!(error = %error, pause_ms = backoff.as_millis() as u64, "accept failed");
                drop(free);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let permit = match free {
            Some(permit) => permit,
            None => {
                open.retain(|opening| opening.strong_count() > 0);
                if let Some(idle) = oldest_without_a_call(&open) {
                    idle.evict();
                }
                let permit = tokio::select! {
                    permit = Arc::clone(&slots).acquire_owned() => permit,
                    () = sender.closed() => return,
                };
                match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                }
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(error = %error, "cannot set TCP_NODELAY");
        }
        let connection = Connection::new(stream, permit, limits.handshake_timeout);
        open.push(Arc::downgrade(&connection.opening));
        if sender.send(Ok(connection)).await.is_err() {
            return;
        }
    }
}

/// The connection opened longest ago among those that have not started a
/// call.
fn oldest_without_a_call(open: &[Weak<Opening>]) -> Option<Arc<Opening>> {
    open.iter()
        .filter_map(Weak::upgrade)
        .filter(|opening| !opening.started.load(Ordering::Relaxed))
        .min_by_key(|opening| opening.at)
}

/// What the accept loop knows of a connection while it opens: whether it
/// started a call, and a way to close it to make room.
struct Opening {
    at: Instant,
    started: AtomicBool,
    evicted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Opening {
    fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        if let Some(waker) = self.waker.lock().ok().and_then(|mut waker| waker.take()) {
            waker.wake();
        }
    }
}

/// Where a connection is in its opening: its first bytes, then (plaintext
/// HTTP/2) its frames up to the first HEADERS.
enum Stage {
    FirstBytes(Vec<u8>),
    Frames { header: Vec<u8>, skip: usize },
    Started,
}

/// The HTTP/2 client preface.
const PREFACE: &[u8; PREFACE_BYTES] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame's header, and the type of a HEADERS frame.
const FRAME_HEADER_BYTES: usize = 9;
const HEADERS_FRAME: u8 = 0x1;

impl Stage {
    /// Feeds bytes read; true once the connection started (its first call,
    /// or its first bytes for anything but plaintext HTTP/2).
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match self {
                Self::Started => return true,
                Self::FirstBytes(seen) => {
                    let take = (PREFACE_BYTES - seen.len()).min(bytes.len());
                    seen.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if seen.len() == PREFACE_BYTES {
                        *self = if seen.as_slice() == PREFACE {
                            Self::Frames {
                                header: Vec::with_capacity(FRAME_HEADER_BYTES),
                                skip: 0,
                            }
                        } else {
                            Self::Started
                        };
                    }
                }
                Self::Frames { header, skip } => {
                    if *skip > 0 {
                        let take = (*skip).min(bytes.len());
                        *skip -= take;
                        bytes = &bytes[take..];
                        continue;
                    }
                    let take = (FRAME_HEADER_BYTES - header.len()).min(bytes.len());
                    header.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if header.len() == FRAME_HEADER_BYTES {
                        if header[3] == HEADERS_FRAME {
                            *self = Self::Started;
                        } else {
                            *skip = usize::from(header[0]) << 16
                                | usize::from(header[1]) << 8
                                | usize::from(header[2]);
                            header.clear();
                        }
                    }
                }
            }
        }
        matches!(self, Self::Started)
    }
}

/// An accepted connection holding its slot until it closes.
pub struct Connection {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    opening: Arc<Opening>,
    /// Until the connection started: the deadline and how far it got.
    handshake: Option<(Pin<Box<Sleep>>, Stage)>,
}

impl Connection {
    /// The peer's address, when the socket still knows it.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.stream.peer_addr().ok()
    }

    fn new(stream: TcpStream, slot: OwnedSemaphorePermit, timeout: Duration) -> Self {
        Self {
            stream,
            _slot: slot,
            opening: Arc::new(Opening {
                at: Instant::now(),
                started: AtomicBool::new(false),
                evicted: AtomicBool::new(false),
                waker: Mutex::new(None),
            }),
            handshake: Some((
                Box::pin(tokio::time::sleep(timeout)),
                Stage::FirstBytes(Vec::with_capacity(PREFACE_BYTES)),
            )),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some((deadline, stage)) = &mut this.handshake else {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        };
        if this.opening.evicted.load(Ordering::Relaxed) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room: the server is at its connection cap and this connection \
                 started no call",
            )));
        }
        if let Ok(mut waker) = this.opening.waker.lock() {
            *waker = Some(cx.waker().clone());
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) if stage.feed(&buf.filled()[before..]) => {
                this.opening.started.store(true, Ordering::Relaxed);
                this.handshake = None;
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client sent no handshake (or, over plaintext HTTP/2, no call) in time",
                )));
            }
            _ => {}
        }
        polled
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_stream::StreamExt;

    use super::*;

    #[tokio::test]
    async fn at_the_cap_a_newcomer_takes_the_slot_of_a_connection_with_no_call() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut connections = incoming(
            listener,
            ConnectionLimits {
                max_connections: 1,
                handshake_timeout: Duration::from_secs(30),
            },
        );
        // The preface and a SETTINGS frame, and no call.
        let mut opener = TcpStream::connect(address).await.unwrap();
        opener.write_all(PREFACE).await.unwrap();
        opener
            .write_all(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0])
            .await
            .unwrap();
        let mut idle = connections.next().await.unwrap().unwrap();
        let mut read = vec![0u8; PREFACE_BYTES + FRAME_HEADER_BYTES];
        idle.read_exact(&mut read).await.unwrap();
        assert!(idle.handshake.is_some(), "no call yet");
        let _newcomer = TcpStream::connect(address).await.unwrap();
        let mut byte = [0u8; 1];
        let error = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut byte))
            .await
            .expect("closed at once, not at the handshake timeout")
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted);
        drop(idle);
        tokio::time::timeout(Duration::from_secs(5), connections.next())
            .await
            .expect("the newcomer gets the slot")
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_call_is_seen_at_the_first_headers_frame_whatever_the_chunking() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend_from_slice(&[0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100]); // SETTINGS
        bytes.extend_from_slice(&[0, 0, 8, 0x6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]); // PING
        let headers_at = bytes.len();
        bytes.extend_from_slice(&[0, 0, 1, HEADERS_FRAME, 4, 0, 0, 0, 1, 0x82]);
        for chunk in [1, 2, 5, 9, 24, 1000] {
            let mut stage = Stage::FirstBytes(Vec::new());
            let mut fed = 0;
            let mut started_at = None;
            for piece in bytes.chunks(chunk) {
                fed += piece.len();
                if stage.feed(piece) && started_at.is_none() {
                    started_at = Some(fed);
                }
            }
            let started_at = started_at.expect("started");
            // Seen in the chunk that completes the HEADERS frame's header.
            let complete = headers_at + FRAME_HEADER_BYTES;
            assert!(
                started_at >= complete && started_at < complete + chunk,
                "{chunk}"
            );
        }
        let mut other = Stage::FirstBytes(Vec::new());
        assert!(
            other.feed(b"GET / HTTP/1.1\r\nHost: localhost\r\n"),
            "HTTP/1.1 starts at once"
        );
        let mut tls = Stage::FirstBytes(Vec::new());
        assert!(
            tls.feed(&[0x16; PREFACE_BYTES]),
            "TLS starts after its first bytes"
        );
    }

    #[tokio::test]
    async fn a_silent_client_is_closed_and_a_full_server_waits_for_a_slot() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut connections = incoming(
            listener,
            ConnectionLimits {
                max_connections: 1,
                handshake_timeout: Duration::from_millis(100),
            },
        );
        let _silent = TcpStream::connect(address).await.unwrap();
        let mut accepted = connections.next().await.unwrap().unwrap();
        assert!(accepted.stream.nodelay().unwrap());
        let mut byte = [0u8; 1];
        let error = accepted.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        drop(accepted);
        // A client that spoke holds its slot: the next one waits.
        let mut spoke = TcpStream::connect(address).await.unwrap();
        spoke.write_all(&[b'x'; PREFACE_BYTES]).await.unwrap();
        let mut accepted = connections.next().await.unwrap().unwrap();
        let mut first = [0u8; PREFACE_BYTES];
        accepted.read_exact(&mut first).await.unwrap();
        let mut second = TcpStream::connect(address).await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), connections.next()).await;
        assert!(waiting.is_err(), "no second connection at the cap");
        drop(accepted);
        let mut next = connections.next().await.unwrap().unwrap();
        second.write_all(&[b'x'; PREFACE_BYTES]).await.unwrap();
        let mut preface = [0u8; PREFACE_BYTES];
        next.read_exact(&mut preface).await.unwrap();
        assert!(
            next.handshake.is_none(),
            "a client that spoke is not timed out"
        );
    }
}
