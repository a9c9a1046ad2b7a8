//! Use cases of the audit trail, and the page-token key.

use crate::domain::commands::EventQuery;
use crate::domain::page::{EventCursor, Page};
use crate::domain::secret;
use crate::domain::{DomainError, DomainResult, Event};
use crate::store::Tx;

/// Lists events, oldest first (or newest first when asked).
pub async fn list_events<T: Tx>(
    tx: &mut T,
    query: EventQuery,
) -> DomainResult<Page<Event, EventCursor>> {
    let model_id = match &query.model_name {
        Some(name) => Some(tx.find_model(name).await?.id),
        None => None,
    };
    tx.list_events(&query, model_id).await
}

/// The key that signs page tokens, created by the first server that needs
/// it and shared by every replica through the database.
pub async fn page_key<T: Tx>(tx: &mut T) -> DomainResult<[u8; 32]> {
    let fresh = secret::hex(&secret::random_32()?);
    let stored = tx.secret("page_token_key", fresh).await?;
    secret::from_hex_32(&stored)
        .ok_or_else(|| DomainError::Internal("the stored page token key is malformed".into()))
}
