//! SIGHUP: the files an operator edits while the server runs.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::signing::SignatureTrust;

/// Re-reads the tokens file and the signature trust file on every SIGHUP;
/// a bad file keeps the previous one and says why. Open connections are
/// not touched.
pub async fn reload_on_hangup(authenticator: Arc<Authenticator>, signatures: Arc<SignatureTrust>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the tokens file will not be reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            match authenticator.reload() {
                Ok(principals) => tracing::info!(principals, "tokens file reloaded"),
                Err(error) => {
                    tracing::error!(error = %error, "tokens file NOT reloaded; the previous one stays in force")
                }
            }
            match signatures.reload() {
                Ok(Some(signers)) => tracing::info!(signers, "signature trust file reloaded"),
                Ok(None) => {}
                Err(error) => tracing::error!(
                    error = %error,
                    "signature trust file NOT reloaded; the previous one stays in force"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    drop((authenticator, signatures));
}
