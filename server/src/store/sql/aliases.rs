//! The `aliases` table. Compiled once per database (see `postgres.rs`).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::domain::{AliasName, DomainResult, ModelName, ModelVersion};
use crate::store::dialect::Dialect;
use crate::store::rows::{AliasMoveState, AliasRow, ModelRow, VersionRow};
use crate::store::schema::{aliases, model_versions, models};
use crate::store::tx::AliasTable;

// The reads of an alias move, as macros: PostgreSQL sends them pipelined
// (`Dialect::read_alias_move`), which needs each query as a value, and
// their types are long to spell. Callers bring diesel's query traits.

/// The row of alias `$alias` of model `$model_id`.
macro_rules! alias_row_query {
    ($model_id:expr, $alias:expr) => {
        crate::store::schema::aliases::table
            .find(($model_id, $alias))
            .select(crate::store::rows::AliasRow::as_select())
    };
}

/// The latest move (set, rollback, deletion) of alias `$alias` of model
/// `$model_id`; events about its policy and change requests do not move it.
macro_rules! latest_alias_event_query {
    ($model_id:expr, $alias:expr) => {
        crate::store::schema::events::table
            .filter(crate::store::schema::events::model_id.eq($model_id))
            .filter(crate::store::schema::events::alias.eq($alias))
            .filter(
                crate::store::schema::events::event_type
                    .eq_any(crate::domain::EventKind::ALIAS_MOVES.map(|k| k.as_str())),
            )
            .order_by(crate::store::schema::events::id.desc())
            .select(crate::store::rows::EventRow::as_select())
    };
}

/// The policy of alias `$alias` of model `$model_id`.
macro_rules! alias_policy_query {
    ($model_id:expr, $alias:expr) => {
        crate::store::schema::alias_policies::table
            .find(($model_id, $alias))
            .select(crate::store::governance_rows::PolicyRow::as_select())
    };
}

/// The policies set on any of `$prefixes` (every prefix of a model's
/// name), for every alias; a caller filters by alias.
macro_rules! inherited_policies_query {
    ($prefixes:expr) => {
        crate::store::schema::prefix_alias_policies::table
            .filter(crate::store::schema::prefix_alias_policies::prefix.eq_any($prefixes))
            .select(crate::store::governance_rows::PrefixPolicyRow::as_select())
    };
}

/// The freeze of alias `$alias` of model `$model_id`.
macro_rules! alias_freeze_query {
    ($model_id:expr, $alias:expr) => {
        crate::store::schema::freezes::table
            .find(($model_id, $alias, 0_i64))
            .select(crate::store::governance_rows::FreezeRow::as_select())
    };
}

/// Version `$version` of model `$model_id`.
macro_rules! version_row_query {
    ($model_id:expr, $version:expr) => {
        crate::store::schema::model_versions::table
            .filter(crate::store::schema::model_versions::model_id.eq($model_id))
            .filter(crate::store::schema::model_versions::version.eq($version))
            .select(crate::store::rows::VersionRow::as_select())
    };
}

impl AliasTable for Conn {
    async fn alias_row(
        &mut self,
        model_id: i64,
        alias: &AliasName,
    ) -> DomainResult<Option<AliasRow>> {
        Ok(alias_row_query!(model_id, alias.as_str())
            .first(self)
            .await
            .optional()?)
    }

    async fn alias_move_state(
        &mut self,
        model: &ModelRow,
        alias: &AliasName,
        candidate: Option<i64>,
    ) -> DomainResult<AliasMoveState> {
        self.read_alias_move(model, alias.as_str(), candidate).await
    }

    async fn point_alias(
        &mut self,
        model_id: i64,
        alias: &AliasName,
        version: i64,
        event_id: i64,
        exists: bool,
    ) -> DomainResult<()> {
        if exists {
            diesel::update(aliases::table.find((model_id, alias.as_str())))
                .set((aliases::version.eq(version), aliases::event_id.eq(event_id)))
                .execute(self)
                .await?;
        } else {
            diesel::insert_into(aliases::table)
                .values(AliasRow {
                    model_id,
                    alias: alias.as_str().to_owned(),
                    version,
                    event_id,
                })
                .execute(self)
                .await?;
        }
        Ok(())
    }

    async fn remove_alias(&mut self, model_id: i64, alias: &AliasName) -> DomainResult<()> {
        diesel::delete(
            aliases::table
                .filter(aliases::model_id.eq(model_id))
                .filter(aliases::alias.eq(alias.as_str())),
        )
        .execute(self)
        .await?;
        Ok(())
    }

    async fn aliases_of_version(
        &mut self,
        model_id: i64,
        version: i64,
    ) -> DomainResult<Vec<String>> {
        Ok(aliases::table
            .filter(aliases::model_id.eq(model_id))
            .filter(aliases::version.eq(version))
            .order_by(aliases::alias.asc())
            .select(aliases::alias)
            .load(self)
            .await?)
    }

    /// One statement: the version the alias points at, once per alias that
    /// version holds (a version holds a few).
    async fn version_by_alias(
        &mut self,
        name: &ModelName,
        alias: &AliasName,
    ) -> DomainResult<Option<ModelVersion>> {
        let held = diesel::alias!(aliases as held);
        let rows = aliases::table
            .inner_join(
                model_versions::table.on(model_versions::model_id
                    .eq(aliases::model_id)
                    .and(model_versions::version.eq(aliases::version))),
            )
            .inner_join(models::table.on(models::id.eq(aliases::model_id)))
            .inner_join(
                held.on(held
                    .field(aliases::model_id)
                    .eq(model_versions::model_id)
                    .and(held.field(aliases::version).eq(model_versions::version))),
            )
            .filter(models::name.eq(name.as_str()))
            .filter(aliases::alias.eq(alias.as_str()))
            .order_by(held.field(aliases::alias).asc())
            .select((
                VersionRow::as_select(),
                models::name,
                held.field(aliases::alias),
            ))
            .load::<(VersionRow, String, String)>(self)
            .await?;
        let mut rows = rows.into_iter();
        let Some((row, name, first)) = rows.next() else {
            return Ok(None);
        };
        let held_aliases = std::iter::once(first)
            .chain(rows.map(|(_, _, alias)| alias))
            .collect();
        row.into_domain(name, held_aliases).map(Some)
    }
}
