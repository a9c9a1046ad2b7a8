//! Retries with exponential backoff and full jitter, for calls that are safe
//! to repeat: reads, and registrations that carry a `request_id`. Only
//! UNAVAILABLE is retried: it means the request did not take effect or, for
//! an idempotent call, that repeating it is harmless.

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

    /// Runs `call` until it succeeds, fails with another code than
    /// UNAVAILABLE, or the attempts run out.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(status)
                    if status.code() == Code::Unavailable && attempt < self.max_attempts =>
                {
                    tokio::time::sleep(self.backoff(attempt - 1)).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
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
    async fn only_unavailable_is_retried_and_attempts_are_bounded() {
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
}
