//! End-to-end tests: a real server on an ephemeral loopback port, a real
//! tonic client, every scenario on SQLite and on PostgreSQL. One test binary
//! keeps link time down.
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

mod aliases;
mod auth;
mod compression;
mod concurrency;
mod events;
mod feed_order;
mod governance;
mod health;
mod hostile;
mod idempotency;
mod listing;
mod migration;
mod prefix_policies;
mod production;
mod read_cache;
mod registration;
mod replicas;
mod status;
mod tls;
mod use_cases;
mod watch;
