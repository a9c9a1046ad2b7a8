//! The `models` table. Compiled once per database (see `postgres.rs`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::domain::commands::ModelQuery;
use crate::domain::page::{ModelCursor, Page};
use crate::domain::{ChangeQueue, DomainResult, Model, ModelName, VersionStatus};
use crate::store::dialect::Dialect;
use crate::store::rows::{
    AliasRow, LockedModel, ModelRow, NewModelRow, model_not_found, split_page, to_db_time, to_json,
};
use crate::store::schema::{aliases, model_versions, models};
use crate::store::tx::{ModelTable, VersionTable};

impl ModelTable for Conn {
    async fn find_model(&mut self, name: &ModelName) -> DomainResult<ModelRow> {
        models::table
            .filter(models::name.eq(name.as_str()))
            .select(ModelRow::as_select())
            .first(self)
            .await
            .optional()?
            .ok_or_else(|| model_not_found(name.as_str()))
    }

    async fn create_and_lock_model(
        &mut self,
        name: &ModelName,
        now: DateTime<Utc>,
    ) -> DomainResult<(LockedModel, bool)> {
        let new = NewModelRow {
            name: name.as_str(),
            next_version: 1,
            created_at: to_db_time(now),
            updated_at: to_db_time(now),
        };
        self.upsert_and_lock_model(new).await
    }

    async fn queue_for_changes(&mut self, queue: ChangeQueue<'_>) -> DomainResult<()> {
        self.queue_for_model(&queue.key()).await
    }

    async fn model_of_version(&mut self, id: &str) -> DomainResult<Option<ModelName>> {
        Ok(model_versions::table
            .inner_join(models::table)
            .filter(model_versions::id.eq(id))
            .select(models::name)
            .first::<String>(self)
            .await
            .optional()?
            .map(ModelName::from_stored))
    }

    async fn lock_model(&mut self, name: &ModelName) -> DomainResult<LockedModel> {
        self.lock_model_row(name.as_str())
            .await?
            .ok_or_else(|| model_not_found(name.as_str()))
    }

    async fn save_model_details(
        &mut self,
        model: &mut ModelRow,
        description: Option<String>,
        tags: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        if let Some(description) = description {
            model.description = description;
        }
        model.tags = to_json(tags)?;
        model.updated_at = to_db_time(now);
        diesel::update(models::table.find(model.id))
            .set((
                models::description.eq(&model.description),
                models::tags.eq(&model.tags),
                models::updated_at.eq(model.updated_at),
            ))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn touch_model(&mut self, model_id: i64, now: DateTime<Utc>) -> DomainResult<()> {
        diesel::update(models::table.find(model_id))
            .set(models::updated_at.eq(to_db_time(now)))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn model_with_aliases(&mut self, row: ModelRow) -> DomainResult<Model> {
        let held = aliases::table
            .filter(aliases::model_id.eq(row.id))
            .select((aliases::alias, aliases::version))
            .load::<(String, i64)>(self)
            .await?
            .into_iter()
            .collect();
        let latest = self.latest_active_version(row.id).await?;
        row.into_domain(held, latest)
    }

    async fn list_models(&mut self, query: &ModelQuery) -> DomainResult<Page<Model, ModelCursor>> {
        // The latest ACTIVE version as a correlated subquery: one lookup in
        // model_versions_by_status per model.
        let latest_active = model_versions::table
            .filter(model_versions::model_id.eq(models::id))
            .filter(model_versions::status.eq(VersionStatus::Active.as_str()))
            .select(diesel::dsl::max(model_versions::version))
            .single_value();
        let mut rows = models::table
            .select((ModelRow::as_select(), latest_active))
            .order_by(models::name.asc())
            .limit(query.page_size as i64 + 1)
            .into_boxed();
        if !query.name_prefix.is_empty() {
            let escaped = query
                .name_prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            rows = rows.filter(models::name.like(format!("{escaped}%")).escape('\\'));
        }
        if let Some(after) = &query.after {
            rows = rows.filter(models::name.gt(after.after_name.clone()));
        }
        let loaded = rows.load::<(ModelRow, Option<i64>)>(self).await?;
        let (loaded, more) = split_page(loaded, query.page_size);
        let ids: Vec<i64> = loaded.iter().map(|(row, _)| row.id).collect();
        let mut by_model: HashMap<i64, BTreeMap<String, i64>> = HashMap::new();
        for row in aliases::table
            .filter(aliases::model_id.eq_any(ids))
            .select(AliasRow::as_select())
            .load::<AliasRow>(self)
            .await?
        {
            by_model
                .entry(row.model_id)
                .or_default()
                .insert(row.alias, row.version);
        }
        let items = loaded
            .into_iter()
            .map(|(row, latest)| {
                let cursor = ModelCursor {
                    after_name: row.name.clone(),
                };
                let held = by_model.remove(&row.id).unwrap_or_default();
                row.into_domain(held, latest).map(|model| (model, cursor))
            })
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(Page { items, more })
    }
}
