//! Failed authentication, per peer address: logged with the address (at
//! most one line per peer every ten seconds, with the count since the last
//! line, so a flood cannot flood the log), and slowed: past a few failures
//! in a minute, each further refusal from that address waits longer,
//! doubling up to a second. Guessing tokens gets slow; callers with a
//! valid token, from any address, are never delayed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures a peer may make in a window before its refusals slow down.
const FREE_FAILURES: u32 = 10;
/// The window failures are counted in.
const WINDOW: Duration = Duration::from_secs(60);
/// The first delay, doubled with every further failure.
const FIRST_DELAY: Duration = Duration::from_millis(50);
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(1);
/// At most one log line per peer this often.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Peers remembered at most (older windows are forgotten first).
const MAX_PEERS: usize = 10_000;

/// The failures of each peer address.
#[derive(Debug, Default)]
pub struct Failures {
    peers: Mutex<HashMap<IpAddr, Peer>>,
}

#[derive(Debug)]
struct Peer {
    window_start: Instant,
    in_window: u32,
    logged_at: Option<Instant>,
    unlogged: u32,
}

impl Failures {
    /// Records a failed authentication from `peer` (`what`: where, e.g.
    /// the method); returns how long to hold the refusal.
    pub fn record(&self, peer: Option<IpAddr>, what: &str) -> Duration {
        // Callers whose address is unknown share one entry, so their log
        // lines are limited too; they are never delayed (it would delay
        // them all).
        let known_peer = peer.is_some();
        let peer = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let now = Instant::now();
        let Ok(mut peers) = self.peers.lock() else {
            return Duration::ZERO;
        };
        if peers.len() >= MAX_PEERS {
            peers.retain(|_, known| now.duration_since(known.window_start) < WINDOW);
        }
        let known = peers.entry(peer).or_insert(Peer {
            window_start: now,
            in_window: 0,
            logged_at: None,
            unlogged: 0,
        });
        if now.duration_since(known.window_start) >= WINDOW {
            known.window_start = now;
            known.in_window = 0;
        }
        known.in_window += 1;
        known.unlogged += 1;
        if known
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= LOG_EVERY)
        {
            tracing::warn!(
                peer = %peer,
                failures = known.unlogged,
                in_last_minute = known.in_window,
                what,
                "authentication failed"
            );
            known.logged_at = Some(now);
            known.unlogged = 0;
        }
        if known_peer {
            delay_after(known.in_window)
        } else {
            Duration::ZERO
        }
    }
}

/// The delay of a peer's `failures`-th failure in a window.
fn delay_after(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES + 1) {
        None => Duration::ZERO,
        Some(doublings) => FIRST_DELAY
            .saturating_mul(1u32 << doublings.min(16))
            .min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_failures_are_free_then_each_waits_longer_up_to_a_bound() {
        let delays: Vec<u64> = (1..=18)
            .map(|n| delay_after(n).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 100, 200, 400, 800, 1000, 1000, 1000
            ]
        );
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn peers_are_counted_apart() {
        let failures = Failures::default();
        let guesser: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            failures.record(Some(guesser), "test");
        }
        assert!(failures.record(Some(guesser), "test") > Duration::ZERO);
        assert_eq!(failures.record(Some(other), "test"), Duration::ZERO);
    }
}
