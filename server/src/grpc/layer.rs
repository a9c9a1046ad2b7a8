//! The request layer every RPC passes through: it assigns the request id (a
//! new UUIDv7, returned in the `x-request-id` response header), keeps the
//! caller's own `x-request-id` as a correlation id, sets the call's
//! deadline (`--request-timeout`, or the client's shorter `grpc-timeout`),
//! puts the request context into the request, and logs one line per call
//! with method, gRPC code, latency and principal inside a per-request span.
//!
//! A read past its deadline is cut and answered DEADLINE_EXCEEDED (its
//! database statement is cancelled). A change gets its deadline too, but is
//! answered by its handler, which waits to learn whether it committed; the
//! layer cuts it only [`CHANGE_GRACE`] later, as a backstop. Streams have
//! no deadline.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response};
use tokio::sync::Notify;
use tower::{Layer, Service};
use tracing::Instrument;

use super::context::RequestContext;
use super::error_details;
use crate::auth::CallKind;

const REQUEST_ID_HEADER: &str = "x-request-id";

/// How long after its deadline a change is cut if its handler has not
/// answered (the handler learns the change's fate within 2 s).
pub const CHANGE_GRACE: Duration = Duration::from_secs(3);

/// Adds [`RequestLog`] to a service stack.
#[derive(Debug, Clone)]
pub struct RequestLayer {
    request_timeout: Duration,
    unanswered: Unanswered,
}

impl RequestLayer {
    /// A layer giving each call at most `request_timeout`, counting the
    /// calls not yet answered in `unanswered`.
    pub fn new(request_timeout: Duration, unanswered: Unanswered) -> Self {
        Self {
            request_timeout,
            unanswered,
        }
    }
}

/// The unary calls being served, not yet answered: at shutdown, once there
/// are none, what remains open is streams, which have been told to end;
/// one whose client does not read cannot end and is not waited for.
#[derive(Debug, Clone, Default)]
pub struct Unanswered(Arc<UnansweredCount>);

#[derive(Debug, Default)]
struct UnansweredCount {
    calls: AtomicUsize,
    none_left: Notify,
}

impl Unanswered {
    fn start(&self) -> UnansweredCall {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        UnansweredCall(Arc::clone(&self.0))
    }

    /// Completes once no unary call is being served.
    pub async fn none(&self) {
        loop {
            let notified = self.0.none_left.notified();
            if self.0.calls.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One unary call of [`Unanswered`], counted until dropped.
#[derive(Debug)]
struct UnansweredCall(Arc<UnansweredCount>);

impl Drop for UnansweredCall {
    fn drop(&mut self) {
        if self.0.calls.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.none_left.notify_waiters();
        }
    }
}

impl<S> Layer<S> for RequestLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLog {
            inner,
            request_timeout: self.request_timeout,
            unanswered: self.unanswered.clone(),
        }
    }
}

/// The service [`RequestLayer`] wraps around the gRPC routes.
#[derive(Debug, Clone)]
pub struct RequestLog<S> {
    inner: S,
    request_timeout: Duration,
    unanswered: Unanswered,
}

/// The `grpc-timeout` header: digits and a unit (H, M, S, m, u, n).
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let text = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

impl<S, B, R> Service<Request<B>> for RequestLog<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
    B: Send + 'static,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let request_id = uuid::Uuid::now_v7().to_string();
        // Printable ASCII only, so a hostile value cannot forge log lines.
        let correlation_id = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|id| {
                !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
            })
            .map(str::to_owned);
        let method = request.uri().path().to_owned();
        let kind = crate::auth::call_kind(&method);
        let label = crate::auth::method_label(&method);
        let started = Instant::now();
        let budget = grpc_timeout(request.headers())
            .map_or(self.request_timeout, |t| t.min(self.request_timeout));
        let deadline = (kind != CallKind::Stream).then(|| started + budget);
        // When the layer itself gives up on the call.
        let cutoff = match kind {
            CallKind::Read => deadline,
            CallKind::Change => deadline.map(|d| d + CHANGE_GRACE),
            CallKind::Stream => None,
        };
        request.extensions_mut().insert(RequestContext {
            request_id: request_id.clone(),
            correlation_id: correlation_id.clone(),
            principal: None,
            credential: None,
            deadline,
        });
        let span = tracing::info_span!(
            "rpc",
            rpc.method = %method,
            request.id = %request_id,
            correlation.id = correlation_id.as_deref().unwrap_or(""),
            principal = tracing::field::Empty,
            rpc.code = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );

        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let recorded = span.clone();
        let unanswered = (kind != CallKind::Stream).then(|| self.unanswered.start());
        Box::pin(
            async move {
                let _unanswered = unanswered;
                let in_flight = crate::prometheus::call_started(label);
                // Logs the call if the client gives up on it first.
                let mut unfinished = Unfinished {
                    started,
                    deadline,
                    in_flight,
                    finished: false,
                };
                let call = inner.call(request);
                let result = match cutoff {
                    Some(cutoff) => match tokio::time::timeout_at(cutoff.into(), call).await {
                        Ok(result) => result,
                        Err(_) => Ok(tonic::Status::deadline_exceeded(format!(
                            "the call did not finish within its deadline ({} ms)",
                            budget.as_millis()
                        ))
                        .into_http()),
                    },
                    None => call.await,
                };
                unfinished.finished = true;
                let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                recorded.record("elapsed_ms", elapsed_ms);
                match result {
                    Ok(mut response) => {
                        // Errors travel in the headers of a trailers-only
                        // response; a call that succeeded has none there.
                        let mut code = response
                            .headers()
                            .get("grpc-status")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<i32>().ok())
                            .map_or(tonic::Code::Ok, tonic::Code::from_i32);
                        if code != tonic::Code::Ok {
                            code = error_details::complete(response.headers_mut(), code, &request_id);
                        }
                        if let Ok(value) = HeaderValue::from_str(&request_id) {
                            response.headers_mut().insert(REQUEST_ID_HEADER, value);
                        }
                        recorded.record("rpc.code", format!("{code:?}"));
                        unfinished.in_flight.answered(code, started.elapsed());
                        log_completion(code, elapsed_ms);
                        Ok(response)
                    }
                    Err(error) => {
                        tracing::warn!(rpc.code = "transport_error", elapsed_ms, error = %error, "rpc failed");
                        Err(error)
                    }
                }
            }
            .instrument(span),
        )
    }
}

/// A call in progress: dropped before it finished, the client hung up,
/// which is logged like an answer. A client hanging up at its own deadline
/// races the server's answer; once that deadline has passed the call timed
/// out, whichever side noticed first, and is logged as such (as gRPC's own
/// servers report it).
struct Unfinished {
    started: Instant,
    deadline: Option<Instant>,
    in_flight: crate::prometheus::InFlight,
    finished: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.finished {
            let elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
            let timed_out = self.deadline.is_some_and(|d| Instant::now() >= d);
            let (code, message) = if timed_out {
                (
                    tonic::Code::DeadlineExceeded,
                    "rpc dropped by the client at its deadline",
                )
            } else {
                (
                    tonic::Code::Cancelled,
                    "rpc cancelled by the client before it finished",
                )
            };
            let rpc_code = format!("{code:?}");
            let span = tracing::Span::current();
            span.record("elapsed_ms", elapsed_ms);
            span.record("rpc.code", rpc_code.as_str());
            self.in_flight.answered(code, self.started.elapsed());
            tracing::info!(rpc.code = %rpc_code, elapsed_ms, "{message}");
        }
    }
}

fn log_completion(code: tonic::Code, elapsed_ms: f64) {
    let rpc_code = format!("{code:?}");
    match code {
        tonic::Code::Internal
        | tonic::Code::Unknown
        | tonic::Code::DataLoss
        | tonic::Code::Unavailable => {
            tracing::warn!(rpc.code = %rpc_code, elapsed_ms, "rpc finished");
        }
        _ => tracing::info!(rpc.code = %rpc_code, elapsed_ms, "rpc finished"),
    }
}
