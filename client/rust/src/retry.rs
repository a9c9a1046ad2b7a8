//! Retries with exponential backoff and full jitter, for calls that are safe
//! to repeat: reads, and changes, which carry a `request_id` their retries
//! reuse. Retried: UNAVAILABLE (the request did not take effect or, for an
//! idempotent call, repeating it is harmless), and DEADLINE_EXCEEDED or
//! CANCELLED *answered by the server* (the response names the request; its
//! own `--request-timeout` passed, or it gave the call up): the change was
//! not made, or was made during its commit, and the same `request_id` tells
//! which. The client's own timeout is the caller's decision: not retried.

use std::future::Future;
use std::time::Duration;

use tonic::{Code, Status};

/// How often and how patiently to retry UNAVAILABLE.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// Upper bound of the first backoff.
    pub initial_backoff: Duration,
    /// Upper bound of any backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The pause before retry number `retry` (0-based): uniformly random up
    /// to `initial_backoff * 2^retry`, capped at `max_backoff`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .min(self.max_backoff);
        ceiling.mul_f64(fastrand::f64())
    }

    /// Runs `call` until it succeeds, fails in a way a retry cannot help
    /// (see the module), or the attempts run out.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(status) if worth_retrying(&status) && attempt < self.max_attempts => {
                    tokio::time::sleep(self.backoff(attempt - 1)).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }
}

/// The response header in which the server names each request.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// Whether another attempt with the same request may succeed.
fn worth_retrying(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable => true,
        Code::DeadlineExceeded | Code::Cancelled => {
            status.metadata().contains_key(REQUEST_ID_HEADER)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_and_stays_under_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        for _ in 0..100 {
            assert!(policy.backoff(0) <= Duration::from_millis(100));
            assert!(policy.backoff(1) <= Duration::from_millis(200));
            assert!(policy.backoff(9) <= Duration::from_millis(500));
        }
    }

    #[tokio::test]
    async fn unavailable_is_retried_other_errors_are_not_and_attempts_are_bounded() {
        let policy = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let mut calls = 0;
        let outcome: Result<(), Status> = policy
            .run(|| {
                calls += 1;
                async { Err(Status::unavailable("down")) }
            })
            .await;
        assert_eq!(outcome.map_err(|s| s.code()), Err(Code::Unavailable));
        assert_eq!(calls, 3);

        let mut calls = 0;
        let outcome: Result<(), Status> = policy
            .run(|| {
                calls += 1;
                async { Err(Status::not_found("gone")) }
            })
            .await;
        assert_eq!(outcome.map_err(|s| s.code()), Err(Code::NotFound));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn a_deadline_the_server_answered_is_retried_and_the_clients_own_is_not() {
        let policy = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let answered = || {
            let mut status = Status::deadline_exceeded("the change was not made");
            status
                .metadata_mut()
                .insert(REQUEST_ID_HEADER, "0193-abc".parse().unwrap());
            status
        };
        let mut calls = 0;
        let outcome: Result<u32, Status> = policy
            .run(|| {
                calls += 1;
                let outcome = if calls < 3 {
                    Err(answered())
                } else {
                    Ok(calls)
                };
                async move { outcome }
            })
            .await;
        assert_eq!(outcome.map_err(|s| s.code()), Ok(3));

        for own in [
            Status::deadline_exceeded("timeout"),
            Status::cancelled("Timeout expired"),
        ] {
            let mut calls = 0;
            let code = own.code();
            let outcome: Result<(), Status> = policy
                .run(|| {
                    calls += 1;
                    let own = own.clone();
                    async move { Err(own) }
                })
                .await;
            assert_eq!(outcome.map_err(|s| s.code()), Err(code));
            assert_eq!(calls, 1, "the caller's own deadline is not retried");
        }
    }
}
