//! The `model_versions` table with its metric and tag rows. Compiled once
//! per database (see `postgres.rs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::domain::signature::{SignedFile, VerifiedSignature};
use crate::domain::{DomainResult, EventKind, ModelVersion, NewVersion, VersionRef, VersionStatus};
use crate::store::dialect::Dialect;
use crate::store::rows::{MetricRow, ModelRow, TagRow, VersionRow, from_json, to_db_time, to_json};
use crate::store::schema::{
    events, model_versions, models, version_metrics, version_signatures, version_tags,
};
use crate::store::tx::{AliasTable, VersionTable};

impl VersionTable for Conn {
    async fn version_row(
        &mut self,
        model_id: i64,
        version: i64,
    ) -> DomainResult<Option<VersionRow>> {
        Ok(version_row_query!(model_id, version)
            .first(self)
            .await
            .optional()?)
    }

    async fn version_row_by_id(&mut self, id: &str) -> DomainResult<Option<VersionRow>> {
        Ok(model_versions::table
            .find(id)
            .select(VersionRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn find_version(&mut self, target: &VersionRef) -> DomainResult<Option<ModelVersion>> {
        let query = model_versions::table
            .inner_join(models::table)
            .select((VersionRow::as_select(), models::name))
            .into_boxed();
        let query = match target {
            VersionRef::Id(id) => query.filter(model_versions::id.eq(id.clone())),
            VersionRef::Number(name, version) => query
                .filter(models::name.eq(name.as_str().to_owned()))
                .filter(model_versions::version.eq(*version)),
        };
        match query.first::<(VersionRow, String)>(self).await.optional()? {
            Some((row, name)) => self.with_aliases(row, name).await.map(Some),
            None => Ok(None),
        }
    }

    async fn version_by_request_id(
        &mut self,
        principal: &str,
        request_id: &str,
    ) -> DomainResult<Option<(VersionRow, String)>> {
        Ok(model_versions::table
            .inner_join(models::table)
            .filter(model_versions::request_id.eq(request_id))
            .filter(model_versions::created_by.eq(principal))
            .select((VersionRow::as_select(), models::name))
            .first::<(VersionRow, String)>(self)
            .await
            .optional()?)
    }

    async fn insert_version(
        &mut self,
        model: &ModelRow,
        row: &VersionRow,
        new: &NewVersion,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        let metrics: Vec<MetricRow> = new
            .metrics
            .iter()
            .map(|(name, &value)| MetricRow {
                version_id: &row.id,
                model_id: model.id,
                name,
                value,
            })
            .collect();
        let advance = diesel::update(models::table.find(model.id)).set((
            models::next_version.eq(row.version + 1),
            models::updated_at.eq(to_db_time(now)),
        ));
        self.insert_version_rows(advance, row, &metrics, &tag_rows(&row.id, &new.tags))
            .await
    }

    async fn save_version_status(
        &mut self,
        row: &mut VersionRow,
        status: VersionStatus,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        row.status = status.as_str().to_owned();
        row.updated_at = to_db_time(now);
        diesel::update(model_versions::table.find(&row.id))
            .set((
                model_versions::status.eq(&row.status),
                model_versions::updated_at.eq(row.updated_at),
            ))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn save_version_details(
        &mut self,
        row: &mut VersionRow,
        description: Option<String>,
        tags: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        if let Some(description) = description {
            row.description = description;
        }
        row.tags = to_json(tags)?;
        row.updated_at = to_db_time(now);
        diesel::update(model_versions::table.find(&row.id))
            .set((
                model_versions::description.eq(&row.description),
                model_versions::tags.eq(&row.tags),
                model_versions::updated_at.eq(row.updated_at),
            ))
            .execute(self)
            .await?;
        diesel::delete(version_tags::table.filter(version_tags::version_id.eq(&row.id)))
            .execute(self)
            .await?;
        self.insert_tag_rows(&tag_rows(&row.id, tags)).await
    }

    async fn save_signature(
        &mut self,
        row: &mut VersionRow,
        signature: &VerifiedSignature,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        row.signature = Some(to_json(&signature.summary)?);
        row.updated_at = to_db_time(now);
        diesel::update(model_versions::table.find(&row.id))
            .set((
                model_versions::signature.eq(&row.signature),
                model_versions::updated_at.eq(row.updated_at),
            ))
            .execute(self)
            .await?;
        diesel::delete(version_signatures::table.find(&row.id))
            .execute(self)
            .await?;
        diesel::insert_into(version_signatures::table)
            .values((
                version_signatures::version_id.eq(&row.id),
                version_signatures::files.eq(to_json(&signature.files)?),
                version_signatures::bundle.eq(&signature.bundle),
            ))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn signature_details(
        &mut self,
        version_id: &str,
    ) -> DomainResult<Option<(Vec<SignedFile>, String)>> {
        let found: Option<(String, String)> = version_signatures::table
            .find(version_id)
            .select((version_signatures::files, version_signatures::bundle))
            .first(self)
            .await
            .optional()?;
        found
            .map(|(files, bundle)| Ok((from_json(&files, "version_signatures.files")?, bundle)))
            .transpose()
    }

    async fn latest_active_version(&mut self, model_id: i64) -> DomainResult<Option<i64>> {
        Ok(model_versions::table
            .filter(model_versions::model_id.eq(model_id))
            .filter(model_versions::status.eq(VersionStatus::Active.as_str()))
            .select(diesel::dsl::max(model_versions::version))
            .first::<Option<i64>>(self)
            .await?)
    }

    async fn latest_active_version_at(
        &mut self,
        model_id: i64,
        at: DateTime<Utc>,
    ) -> DomainResult<Option<i64>> {
        let at = to_db_time(at);
        let status_then = events::table
            .filter(events::model_id.eq(model_versions::model_id.nullable()))
            .filter(events::version.eq(model_versions::version.nullable()))
            .filter(events::event_type.eq(EventKind::StatusChanged.as_str()))
            .filter(events::occurred_at.le(at))
            .order((events::occurred_at.desc(), events::id.desc()))
            .select(events::new_status)
            .limit(1)
            .single_value();
        Ok(model_versions::table
            .filter(model_versions::model_id.eq(model_id))
            .filter(model_versions::created_at.le(at))
            .filter(
                status_then
                    .is_null()
                    .or(status_then.eq(VersionStatus::Active.as_str())),
            )
            .order_by(model_versions::version.desc())
            .select(model_versions::version)
            .first::<i64>(self)
            .await
            .optional()?)
    }

    async fn with_aliases(
        &mut self,
        row: VersionRow,
        model_name: String,
    ) -> DomainResult<ModelVersion> {
        let held = self.aliases_of_version(row.model_id, row.version).await?;
        row.into_domain(model_name, held)
    }

    async fn list_versions(
        &mut self,
        query: &crate::domain::commands::VersionQuery,
        model_id: Option<i64>,
    ) -> DomainResult<crate::domain::page::Page<ModelVersion, crate::domain::page::VersionCursor>>
    {
        super::listing::list_versions(self, query, model_id).await
    }

    /// Driven by the (model_id, name, value) index of version_metrics: the
    /// first qualifying row in value order is the answer.
    async fn best_version(
        &mut self,
        model_id: i64,
        metric: &str,
        statuses: &[VersionStatus],
        lowest: bool,
    ) -> DomainResult<Option<(VersionRow, f64)>> {
        let statuses: Vec<&'static str> = statuses.iter().map(|s| s.as_str()).collect();
        let candidates = version_metrics::table
            .inner_join(model_versions::table.on(model_versions::id.eq(Conn::metric_version_id())))
            .filter(version_metrics::model_id.eq(model_id))
            .filter(version_metrics::name.eq(metric))
            .filter(model_versions::status.eq_any(statuses))
            .select((VersionRow::as_select(), version_metrics::value))
            .into_boxed();
        let ordered = if lowest {
            candidates.order_by((version_metrics::value.asc(), model_versions::version.desc()))
        } else {
            candidates.order_by((
                version_metrics::value.desc(),
                model_versions::version.desc(),
            ))
        };
        Ok(ordered.first::<(VersionRow, f64)>(self).await.optional()?)
    }
}

fn tag_rows<'a>(version_id: &'a str, tags: &'a BTreeMap<String, String>) -> Vec<TagRow<'a>> {
    tags.iter()
        .map(|(key, value)| TagRow {
            version_id,
            key,
            value,
        })
        .collect()
}
