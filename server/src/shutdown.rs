//! The signals that stop the server. They are installed before anything else
//! at start-up (before a port opens or the database is touched), so a
//! SIGTERM or SIGINT at any moment — while migrating, while waiting for the
//! database, while serving — is a clean stop with status 0, never the
//! default disposition's kill (Kubernetes stops pods exactly then).

/// SIGTERM and SIGINT, registered with the runtime when created: a signal
/// that arrives before [`StopSignals::received`] is first awaited is kept,
/// not lost.
#[derive(Debug)]
pub struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Takes over SIGTERM and SIGINT from their default (kill) disposition.
    /// Needs a running Tokio runtime.
    pub fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Completes when SIGTERM or SIGINT arrives (or arrived since
    /// [`StopSignals::install`]); names the signal.
    pub async fn received(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => "SIGTERM",
                _ = self.interrupt.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            "Ctrl-C"
        }
    }
}
