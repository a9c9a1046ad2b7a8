//! The `request_keys` and `server_secrets` tables, and the health checks.
//! Compiled once per database (see `postgres.rs`).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::domain::{ChangeQueue, DomainResult};
use crate::store::dialect::Dialect;
use crate::store::rows::RequestKeyRow;
use crate::store::schema::{request_keys, server_secrets};
use crate::store::tx::KeyTable;

/// Inserts request key `key` unless its (principal, request_id) exists:
/// true when it was inserted. (A dialect's `queue_and_claim`, once the
/// change holds its model's queue.)
pub(in crate::store) async fn claim_request_key(
    conn: &mut Conn,
    key: &RequestKeyRow,
) -> DomainResult<bool> {
    Ok(diesel::insert_into(request_keys::table)
        .values(key)
        .on_conflict((request_keys::principal, request_keys::request_id))
        .do_nothing()
        .execute(conn)
        .await?
        == 1)
}

impl KeyTable for Conn {
    async fn queue_and_claim_request_key(
        &mut self,
        queue: ChangeQueue<'_>,
        key: RequestKeyRow,
    ) -> DomainResult<Option<RequestKeyRow>> {
        if self.queue_and_claim(&queue.key(), &key).await? {
            return Ok(None);
        }
        Ok(Some(
            request_keys::table
                .find((&key.principal, &key.request_id))
                .select(RequestKeyRow::as_select())
                .first(self)
                .await?,
        ))
    }

    async fn settle_request_key(
        &mut self,
        principal: &str,
        request_id: &str,
        outcome: String,
    ) -> DomainResult<()> {
        diesel::update(request_keys::table.find((principal, request_id)))
            .set(request_keys::outcome.eq(outcome))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn secret(&mut self, name: &str, fresh: String) -> DomainResult<String> {
        let stored = server_secrets::table
            .find(name)
            .select(server_secrets::value)
            .first::<String>(self)
            .await
            .optional()?;
        if let Some(stored) = stored {
            return Ok(stored);
        }
        diesel::insert_into(server_secrets::table)
            .values((
                server_secrets::name.eq(name),
                server_secrets::value.eq(&fresh),
            ))
            .on_conflict(server_secrets::name)
            .do_nothing()
            .execute(self)
            .await?;
        // Another replica may have won the race: use what is stored.
        Ok(server_secrets::table
            .find(name)
            .select(server_secrets::value)
            .first::<String>(self)
            .await?)
    }

    async fn check_alive(&mut self) -> DomainResult<()> {
        diesel::sql_query("SELECT 1").execute(self).await?;
        Ok(())
    }

    async fn probe_write(&mut self) -> DomainResult<()> {
        self.write_header().await
    }
}
