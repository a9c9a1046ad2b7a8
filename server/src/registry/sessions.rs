//! Use cases of console sessions: started at sign-in, looked up on every
//! page, ended at sign-out.

use chrono::{DateTime, Utc};

use crate::domain::DomainResult;
use crate::domain::session::ConsoleSession;
use crate::store::{SessionRow, Tx};

/// Stores a new session, clearing the expired ones on the way (sessions
/// end by themselves; nothing else deletes their rows).
pub async fn start_session<T: Tx>(tx: &mut T, session: ConsoleSession) -> DomainResult<()> {
    tx.delete_expired_sessions(session.created_at).await?;
    tx.insert_session(SessionRow::from(&session)).await
}

/// The session whose secret has digest `id_digest`, unless it ended.
pub async fn find_session<T: Tx>(
    tx: &mut T,
    id_digest: String,
    now: DateTime<Utc>,
) -> DomainResult<Option<ConsoleSession>> {
    Ok(tx
        .session(&id_digest)
        .await?
        .map(SessionRow::into_domain)
        .filter(|session| session.expires_at > now))
}

/// Ends a session; whether it was there.
pub async fn end_session<T: Tx>(tx: &mut T, id_digest: String) -> DomainResult<bool> {
    tx.delete_session(&id_digest).await
}
