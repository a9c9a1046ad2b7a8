//! The `console_sessions` table. Compiled once per database (see
//! `postgres.rs`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::domain::DomainResult;
use crate::store::rows::{SessionRow, to_db_time};
use crate::store::schema::console_sessions;
use crate::store::tx::SessionTable;

impl SessionTable for Conn {
    async fn insert_session(&mut self, session: SessionRow) -> DomainResult<()> {
        diesel::insert_into(console_sessions::table)
            .values(&session)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn session(&mut self, id_digest: &str) -> DomainResult<Option<SessionRow>> {
        Ok(console_sessions::table
            .find(id_digest)
            .select(SessionRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn delete_session(&mut self, id_digest: &str) -> DomainResult<bool> {
        Ok(diesel::delete(console_sessions::table.find(id_digest))
            .execute(self)
            .await?
            > 0)
    }

    async fn delete_expired_sessions(&mut self, now: DateTime<Utc>) -> DomainResult<usize> {
        Ok(diesel::delete(
            console_sessions::table.filter(console_sessions::expires_at.lt(to_db_time(now))),
        )
        .execute(self)
        .await?)
    }
}
