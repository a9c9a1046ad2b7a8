// The store's operations, written once and compiled once per backend:
// `store::pg` and `store::sqlite` each `include!` this file after defining
// `Conn` (their connection type), so every query is type-checked against
// both PostgreSQL and SQLite. Functions that change state expect to run
// inside the write transaction the caller opened, so a change and its
// audit event always commit together.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::rows::{
    AliasRow, EventRow, MetricRow, ModelRow, NewEventRow, NewModelRow, RequestKeyRow, TagRow,
    VersionRow, from_db_time, to_db_time, to_json,
};
use super::schema::{
    aliases, events, model_versions, models, request_keys, version_metrics, version_tags,
};
use crate::domain::alias::{self, AliasName};
use crate::domain::idempotency::{Fingerprint, Outcome};
use crate::domain::commands::{
    AliasMoved, BestVersionQuery, Caller, ChangeStatus, DeleteAlias, EventQuery, ModelQuery,
    RollbackAlias, SetAlias, UpdateModel, UpdateVersion, VersionQuery,
};
use crate::domain::page::{EventCursor, ModelCursor, Page, SortKey, VersionCursor, VersionOrder};
use crate::domain::{
    DomainError, DomainResult, Event, EventKind, Model, ModelName, ModelVersion, NewVersion,
    VersionRef, VersionStatus, time,
};

/// Checks that the database answers.
pub async fn ping(conn: &mut Conn) -> DomainResult<()> {
    diesel::sql_query("SELECT 1").execute(conn).await?;
    Ok(())
}

/// Registers a new version; see `RegistryService.RegisterModel`.
pub async fn register(
    conn: &mut Conn,
    new: NewVersion,
    caller: Caller,
) -> DomainResult<ModelVersion> {
    caller.check_model(&new.model_name)?;
    let method = "RegisterModel";
    let fingerprint = Fingerprint::of(method, &new);
    if let Some(outcome) = claim_key(conn, &caller, method, &fingerprint).await? {
        return replay_version(conn, outcome).await;
    }
    let name = new.model_name.as_str();
    // Before any lock: registrations from before request keys existed do
    // not change any more.
    if let Some(earlier) = legacy_registration(conn, &caller, name).await? {
        settle_key(conn, &caller, &Outcome::Version { id: earlier.id.clone() }).await?;
        return Ok(earlier);
    }
    let now = time::now();
    let created = diesel::insert_into(models::table)
        .values(NewModelRow {
            name,
            next_version: 1,
            created_at: to_db_time(now),
            updated_at: to_db_time(now),
        })
        .on_conflict(models::name)
        .do_nothing()
        .execute(conn)
        .await?
        == 1;
    // Every registration for this model queues here until the one before it
    // commits, which makes version numbers gap-free.
    let model = lock_model(conn, &new.model_name).await?;
    let now = event_time(conn, model.id).await?;
    let mut events = Vec::new();
    if created {
        events.push(NewEventRow::new(
            EventKind::ModelCreated,
            model.id,
            &caller,
            now,
        ));
    }

    let number = model.next_version;
    diesel::update(models::table.find(model.id))
        .set((
            models::next_version.eq(number + 1),
            models::updated_at.eq(to_db_time(now)),
        ))
        .execute(conn)
        .await?;
    let row = VersionRow::new(model.id, number, &new, &caller, now)?;
    diesel::insert_into(model_versions::table)
        .values(&row)
        .execute(conn)
        .await?;
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
    insert_metric_rows(conn, &metrics).await?;
    insert_tag_rows(conn, &tag_rows(&row.id, &new.tags)).await?;

    let mut event = NewEventRow::new(EventKind::VersionRegistered, model.id, &caller, now);
    event.version = Some(number);
    event.new_status = Some(VersionStatus::Active.as_str().to_owned());
    events.push(event);
    settle_key(conn, &caller, &Outcome::Version { id: row.id.clone() }).await?;
    append_events(conn, events).await?;
    // A new version holds no alias yet.
    row.into_domain(name.to_owned(), Vec::new())
}

/// A registration made before request keys existed, under the caller's
/// idempotency key (kept in model_versions.request_id then).
async fn legacy_registration(
    conn: &mut Conn,
    caller: &Caller,
    model_name: &str,
) -> DomainResult<Option<ModelVersion>> {
    let Some(key) = &caller.idempotency_key else {
        return Ok(None);
    };
    let earlier = model_versions::table
        .inner_join(models::table)
        .filter(model_versions::request_id.eq(key))
        .select((VersionRow::as_select(), models::name))
        .first::<(VersionRow, String)>(conn)
        .await
        .optional()?;
    match earlier {
        None => Ok(None),
        Some((row, owner)) if owner == model_name => with_aliases(conn, row, owner).await.map(Some),
        Some((row, owner)) => Err(DomainError::AlreadyExists(format!(
            "request_id {key:?} was already used to register version {} of model {owner:?}; \
             use a new request_id for a new registration",
            row.version
        ))),
    }
}

/// Reads one version.
pub async fn get_version(conn: &mut Conn, target: VersionRef) -> DomainResult<ModelVersion> {
    let query = model_versions::table
        .inner_join(models::table)
        .select((VersionRow::as_select(), models::name))
        .into_boxed();
    let query = match &target {
        VersionRef::Id(id) => query.filter(model_versions::id.eq(id.clone())),
        VersionRef::Number(name, version) => query
            .filter(models::name.eq(name.as_str().to_owned()))
            .filter(model_versions::version.eq(*version)),
    };
    match query.first::<(VersionRow, String)>(conn).await.optional()? {
        Some((row, name)) => with_aliases(conn, row, name).await,
        None => Err(version_not_found(conn, &target).await),
    }
}

/// Reads the version an alias of a model points at now (`latest`: the
/// highest ACTIVE version).
pub async fn get_by_alias(
    conn: &mut Conn,
    name: ModelName,
    alias: AliasName,
) -> DomainResult<ModelVersion> {
    if alias.is_latest() {
        let model = find_model(conn, &name).await?;
        return match latest_active_version(conn, model.id).await? {
            Some(version) => get_version(conn, VersionRef::Number(name, version)).await,
            None => Err(DomainError::NotFound(format!(
                "model {name:?} has no ACTIVE version, so `latest` points at none"
            ))),
        };
    }
    // One statement: the version the alias points at, once per alias that
    // version holds (a version holds a few).
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
        .load::<(VersionRow, String, String)>(conn)
        .await?;
    let mut rows = rows.into_iter();
    match rows.next() {
        Some((row, name, first)) => {
            let held_aliases = std::iter::once(first)
                .chain(rows.map(|(_, _, alias)| alias))
                .collect();
            row.into_domain(name, held_aliases)
        }
        None => {
            find_model(conn, &name).await?;
            Err(DomainError::NotFound(format!(
                "model {name:?} has no alias {alias:?}; point it at a version with SetModelAlias"
            )))
        }
    }
}

/// Reads the version an alias pointed at at time `at`, from the event trail
/// (for `latest`: the highest version registered by then that was ACTIVE
/// then).
pub async fn get_by_alias_as_of(
    conn: &mut Conn,
    name: ModelName,
    alias: AliasName,
    at: DateTime<Utc>,
) -> DomainResult<ModelVersion> {
    let model = find_model(conn, &name).await?;
    let version = if alias.is_latest() {
        latest_active_version_at(conn, model.id, at).await?
    } else {
        // The alias's last event at or before `at`: one index range.
        events::table
            .filter(events::model_id.eq(model.id))
            .filter(events::alias.eq(alias.as_str()))
            .filter(events::occurred_at.le(to_db_time(at)))
            .order((events::occurred_at.desc(), events::id.desc()))
            .select(events::new_version)
            .first::<Option<i64>>(conn)
            .await
            .optional()?
            .flatten()
    };
    match version {
        Some(version) => get_version(conn, VersionRef::Number(name, version)).await,
        None => Err(DomainError::NotFound(format!(
            "alias {alias:?} of model {name:?} pointed at no version at {}",
            at.to_rfc3339()
        ))),
    }
}

/// Lists versions with filters, ordering and keyset pagination.
///
/// A listing of one model ordered by a metric starts from that metric's
/// index range (`version_metrics (model_id, name, value, version_id)`) and
/// walks it in order, stopping after one page: its cost does not grow with
/// the model's versions. Other orderings of one model walk
/// `(model_id, version)` or sort what the filters leave.
pub async fn list_versions(
    conn: &mut Conn,
    query: VersionQuery,
) -> DomainResult<Page<ModelVersion, VersionCursor>> {
    let model_id = match &query.model_name {
        Some(name) => Some(find_model(conn, name).await?.id),
        None => None,
    };
    let after = match &query.after {
        Some(cursor) if cursor.order != query.order || cursor.descending != query.descending => {
            return Err(bad_version_token());
        }
        Some(cursor) => Some((cursor.key.clone(), cursor.id.clone())),
        None => None,
    };
    // Filters every query shape shares; metric and tag conditions are
    // correlated lookups of the version's own rows (primary keys).
    macro_rules! filtered {
        ($rows:expr, $skip_min_metric:expr) => {{
            let mut rows = $rows;
            if let Some(model_id) = model_id {
                rows = rows.filter(model_versions::model_id.eq(model_id));
            }
            if !query.statuses.is_empty() {
                let statuses: Vec<&'static str> =
                    query.statuses.iter().map(|s| s.as_str()).collect();
                rows = rows.filter(model_versions::status.eq_any(statuses));
            }
            if let Some(algorithm) = &query.algorithm {
                rows = rows.filter(model_versions::algorithm.eq(algorithm.clone()));
            }
            for (key, value) in &query.tags {
                rows = rows.filter(diesel::dsl::exists(
                    version_tags::table
                        .filter(version_tags::version_id.eq(model_versions::id))
                        .filter(version_tags::key.eq(key.clone()))
                        .filter(version_tags::value.eq(value.clone())),
                ));
            }
            for (metric, &min) in &query.min_metrics {
                if Some(metric.as_str()) == $skip_min_metric {
                    continue;
                }
                // Under another name: the metric ordering may drive the
                // query from version_metrics itself.
                let filter_metrics = diesel::alias!(version_metrics as filter_metrics);
                rows = rows.filter(diesel::dsl::exists(
                    filter_metrics
                        .filter(
                            filter_metrics
                                .field(version_metrics::version_id)
                                .eq(model_versions::id),
                        )
                        .filter(filter_metrics.field(version_metrics::name).eq(metric.clone()))
                        .filter(filter_metrics.field(version_metrics::value).ge(min)),
                ));
            }
            if let Some(after) = query.trained_after {
                rows = rows.filter(model_versions::training_finished_at.ge(to_db_time(after)));
            }
            if let Some(before) = query.trained_before {
                rows = rows.filter(model_versions::training_finished_at.lt(to_db_time(before)));
            }
            // Alias filters are correlated EXISTS subqueries on (model_id,
            // version), which the aliases_by_version index answers.
            for required in &query.holding_all {
                rows = rows.filter(diesel::dsl::exists(
                    aliases::table
                        .filter(aliases::model_id.eq(model_versions::model_id))
                        .filter(aliases::version.eq(model_versions::version))
                        .filter(aliases::alias.eq(required.as_str().to_owned())),
                ));
            }
            if !query.holding_any.is_empty() {
                let names: Vec<String> = query
                    .holding_any
                    .iter()
                    .map(|a| a.as_str().to_owned())
                    .collect();
                rows = rows.filter(diesel::dsl::exists(
                    aliases::table
                        .filter(aliases::model_id.eq(model_versions::model_id))
                        .filter(aliases::version.eq(model_versions::version))
                        .filter(aliases::alias.eq_any(names)),
                ));
            }
            if query.holding_some_alias {
                rows = rows.filter(diesel::dsl::exists(
                    aliases::table
                        .filter(aliases::model_id.eq(model_versions::model_id))
                        .filter(aliases::version.eq(model_versions::version)),
                ));
            }
            rows
        }};
    }
    // Keyset pagination: order by (key, tie-breaker) and start strictly
    // after the last pair returned.
    macro_rules! keyset {
        ($rows:expr, $column:expr, $tie:expr, $key:expr) => {{
            let mut rows = $rows;
            // The leading inclusive bound is a range of the index (the OR
            // alone is only a filter, and a deep page would rescan every
            // row before it); the OR then sorts out the ties.
            if let Some((key, id)) = $key {
                rows = if query.descending {
                    rows.filter($column.le(key.clone()).and($column.lt(key).or($tie.lt(id))))
                } else {
                    rows.filter($column.ge(key.clone()).and($column.gt(key).or($tie.gt(id))))
                };
            }
            if query.descending {
                rows.order_by(($column.desc(), $tie.desc()))
            } else {
                rows.order_by(($column.asc(), $tie.asc()))
            }
        }};
    }
    let limit = query.page_size as i64 + 1;

    let loaded: Vec<(VersionRow, String, Option<f64>)> = match &query.order {
        VersionOrder::Metric(metric) => {
            let after = after
                .map(|(key, id)| match key {
                    SortKey::Metric(v) => Ok((v, id)),
                    _ => Err(bad_version_token()),
                })
                .transpose()?;
            // Driven by the ordering metric's rows, in index order.
            let mut rows = version_metrics::table
                .inner_join(model_versions::table.on(model_versions::id.eq(metric_version_id())))
                .inner_join(models::table.on(models::id.eq(model_versions::model_id)))
                .filter(version_metrics::name.eq(metric.clone()))
                .select((
                    VersionRow::as_select(),
                    models::name,
                    version_metrics::value.nullable(),
                ))
                .into_boxed();
            if let Some(model_id) = model_id {
                rows = rows.filter(version_metrics::model_id.eq(model_id));
            }
            // A minimum on the ordering metric is a bound of the same range.
            if let Some(&min) = query.min_metrics.get(metric) {
                rows = rows.filter(version_metrics::value.ge(min));
            }
            let rows = filtered!(rows, Some(metric.as_str()));
            keyset!(rows, version_metrics::value, version_metrics::version_id, after)
                .limit(limit)
                .load(conn)
                .await?
        }
        order => {
            // The model's name as a lookup per row rather than a join: with
            // `models` in the FROM clause SQLite put it in the outer loop
            // and sorted the versions instead of reading them in index
            // order (379 ms for a page at 1M versions).
            let model_name = models::table
                .filter(models::id.eq(model_versions::model_id))
                .select(models::name)
                .single_value();
            let rows = model_versions::table
                .select((
                    VersionRow::as_select(),
                    model_name.assume_not_null(),
                    diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Double>>(
                        "NULL",
                    ),
                ))
                .into_boxed();
            let rows = filtered!(rows, None::<&str>);
            let rows = match order {
                // Within one model the version number is unique, so it is
                // the whole key: ordered by (version, id), SQLite sorted
                // every version of the model (379 ms at 1M) although its
                // (model_id, status, version) index is already in order.
                VersionOrder::Version if model_id.is_some() => {
                    let after = after
                        .map(|(key, _)| match key {
                            SortKey::Version(v) => Ok(v),
                            _ => Err(bad_version_token()),
                        })
                        .transpose()?;
                    let mut rows = rows;
                    if let Some(after) = after {
                        rows = if query.descending {
                            rows.filter(model_versions::version.lt(after))
                        } else {
                            rows.filter(model_versions::version.gt(after))
                        };
                    }
                    if query.descending {
                        rows.order_by(model_versions::version.desc())
                    } else {
                        rows.order_by(model_versions::version.asc())
                    }
                }
                VersionOrder::Version => {
                    let after = after
                        .map(|(key, id)| match key {
                            SortKey::Version(v) => Ok((v, id)),
                            _ => Err(bad_version_token()),
                        })
                        .transpose()?;
                    keyset!(rows, model_versions::version, model_versions::id, after)
                }
                VersionOrder::CreatedAt => {
                    let after = after
                        .map(|(key, id)| match key {
                            SortKey::Time(t) => Ok((to_db_time(t), id)),
                            _ => Err(bad_version_token()),
                        })
                        .transpose()?;
                    keyset!(rows, model_versions::created_at, model_versions::id, after)
                }
                VersionOrder::TrainedAt | VersionOrder::Metric(_) => {
                    let rows = rows.filter(model_versions::training_finished_at.is_not_null());
                    let after = after
                        .map(|(key, id)| match key {
                            SortKey::Time(t) => Ok((to_db_time(t), id)),
                            _ => Err(bad_version_token()),
                        })
                        .transpose()?;
                    keyset!(
                        rows,
                        model_versions::training_finished_at,
                        model_versions::id,
                        after
                    )
                }
            };
            rows.limit(limit).load(conn).await?
        }
    };
    let (loaded, more) = split_page(loaded, query.page_size);
    let cursors: Vec<VersionCursor> = loaded
        .iter()
        .map(|(row, _, value)| VersionCursor {
            order: query.order.clone(),
            descending: query.descending,
            key: match &query.order {
                VersionOrder::Version => SortKey::Version(row.version),
                VersionOrder::CreatedAt => SortKey::Time(from_db_time(row.created_at)),
                VersionOrder::TrainedAt => SortKey::Time(from_db_time(
                    row.training_finished_at.unwrap_or(row.created_at),
                )),
                VersionOrder::Metric(_) => SortKey::Metric(value.unwrap_or_default()),
            },
            id: row.id.clone(),
        })
        .collect();
    let rows = loaded
        .into_iter()
        .map(|(row, name, _)| (row, name))
        .collect();
    let versions = with_aliases_all(conn, rows).await?;
    Ok(Page {
        items: versions.into_iter().zip(cursors).collect(),
        more,
    })
}

/// Finds the version with the best value of a metric.
pub async fn best_version(
    conn: &mut Conn,
    query: BestVersionQuery,
) -> DomainResult<(ModelVersion, f64)> {
    let model = find_model(conn, &query.model_name).await?;
    let statuses: Vec<&'static str> = if query.statuses.is_empty() {
        vec![VersionStatus::Active.as_str()]
    } else {
        query.statuses.iter().map(|s| s.as_str()).collect()
    };
    // Driven by the (model_id, name, value) index of version_metrics: the
    // first qualifying row in value order is the answer.
    let candidates = version_metrics::table
        .inner_join(model_versions::table.on(model_versions::id.eq(metric_version_id())))
        .filter(version_metrics::model_id.eq(model.id))
        .filter(version_metrics::name.eq(&query.metric))
        .filter(model_versions::status.eq_any(&statuses))
        .select((VersionRow::as_select(), version_metrics::value))
        .into_boxed();
    let ordered = if query.lowest {
        candidates.order_by((version_metrics::value.asc(), model_versions::version.desc()))
    } else {
        candidates.order_by((
            version_metrics::value.desc(),
            model_versions::version.desc(),
        ))
    };
    match ordered.first::<(VersionRow, f64)>(conn).await.optional()? {
        Some((row, value)) => Ok((with_aliases(conn, row, model.name).await?, value)),
        None => Err(DomainError::NotFound(format!(
            "model {:?} has no version in status {} with metric {:?}",
            query.model_name.as_str(),
            statuses.join(" or "),
            query.metric
        ))),
    }
}

/// Lists models by name.
pub async fn list_models(
    conn: &mut Conn,
    query: ModelQuery,
) -> DomainResult<Page<Model, ModelCursor>> {
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
    let loaded = rows.load::<(ModelRow, Option<i64>)>(conn).await?;
    let (loaded, more) = split_page(loaded, query.page_size);
    let ids: Vec<i64> = loaded.iter().map(|(row, _)| row.id).collect();
    let mut by_model: std::collections::HashMap<i64, BTreeMap<String, i64>> =
        std::collections::HashMap::new();
    for row in aliases::table
        .filter(aliases::model_id.eq_any(ids))
        .select(AliasRow::as_select())
        .load::<AliasRow>(conn)
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
            let aliases = by_model.remove(&row.id).unwrap_or_default();
            row.into_domain(aliases, latest).map(|model| (model, cursor))
        })
        .collect::<DomainResult<Vec<_>>>()?;
    Ok(Page { items, more })
}

/// Reads one model with its aliases.
pub async fn get_model(conn: &mut Conn, name: ModelName) -> DomainResult<Model> {
    let row = find_model(conn, &name).await?;
    model_with_aliases(conn, row).await
}

/// Changes a model's description and tags; see `RegistryService.UpdateModel`.
pub async fn update_model(
    conn: &mut Conn,
    command: UpdateModel,
    caller: Caller,
) -> DomainResult<Model> {
    caller.check_model(&command.model_name)?;
    let method = "UpdateModel";
    let fingerprint = Fingerprint::of(method, &command);
    if let Some(outcome) = claim_key(conn, &caller, method, &fingerprint).await? {
        return replay_model(conn, outcome).await;
    }
    let mut model = lock_model(conn, &command.model_name).await?;
    let now = event_time(conn, model.id).await?;
    let tags = command.apply_to_tags(model.tags()?)?;
    if let Some(description) = &command.description {
        model.description = description.clone();
    }
    model.tags = to_json(&tags)?;
    model.updated_at = to_db_time(now);
    diesel::update(models::table.find(model.id))
        .set((
            models::description.eq(&model.description),
            models::tags.eq(&model.tags),
            models::updated_at.eq(model.updated_at),
        ))
        .execute(conn)
        .await?;
    let mut event = NewEventRow::new(EventKind::ModelUpdated, model.id, &caller, now);
    event.reason = command.reason;
    settle_key(conn, &caller, &Outcome::Model { name: model.name.clone() }).await?;
    append_events(conn, vec![event]).await?;
    model_with_aliases(conn, model).await
}

/// Points an alias at a version; see `RegistryService.SetModelAlias`.
pub async fn set_alias(
    conn: &mut Conn,
    command: SetAlias,
    caller: Caller,
) -> DomainResult<AliasMoved> {
    caller.check_alias(&command.model_name, &command.alias)?;
    let method = "SetModelAlias";
    let fingerprint = Fingerprint::of(method, &command);
    if let Some(outcome) = claim_key(conn, &caller, method, &fingerprint).await? {
        return replay_alias_moved(conn, outcome).await;
    }
    let model = lock_model(conn, &command.model_name).await?;
    let now = event_time(conn, model.id).await?;
    let alias = &command.alias;
    let Some(candidate) = version_row(conn, model.id, command.version).await? else {
        return Err(DomainError::NotFound(format!(
            "model {:?} has no version {}",
            model.name, command.version
        )));
    };
    let current = alias_row(conn, model.id, alias).await?;
    let current_version = current.as_ref().map(|row| row.version);
    alias::check_expected_current(alias, command.expected_current, current_version)?;
    if current_version == Some(command.version) {
        settle_key(
            conn,
            &caller,
            &Outcome::AliasMoved {
                version_id: candidate.id.clone(),
                previous: current_version,
                unchanged: true,
            },
        )
        .await?;
        return Ok(AliasMoved {
            version: with_aliases(conn, candidate, model.name).await?,
            previous: current_version,
            unchanged: true,
        });
    }
    alias::check_holdable(alias, command.version, candidate.status()?)?;
    if let Some(gate) = &command.gate {
        let current_metrics = match current_version {
            Some(version) => version_row(conn, model.id, version)
                .await?
                .map(|row| row.metrics())
                .transpose()?,
            None => None,
        };
        alias::check_gate(
            alias,
            Some(gate),
            (command.version, &candidate.metrics()?),
            current_version.zip(current_metrics.as_ref()),
        )?;
    }

    let latest = latest_alias_event(conn, model.id, alias).await?;
    let mut event = NewEventRow::new(EventKind::AliasSet, model.id, &caller, now);
    event.version = Some(command.version);
    event.alias = Some(alias.as_str().to_owned());
    event.previous_version = current_version;
    event.new_version = Some(command.version);
    event.rollback_event_id =
        alias::rollback_pointer_of_move(latest.as_ref().map(EventRow::alias_entry).as_ref());
    event.reason = command.reason;
    touch_model(conn, model.id, now).await?;
    settle_key(
        conn,
        &caller,
        &Outcome::AliasMoved {
            version_id: candidate.id.clone(),
            previous: current_version,
            unchanged: false,
        },
    )
    .await?;
    // Last, under the event-order lock: the event, then the alias row that
    // names it.
    let event_id = append_event(conn, event).await?;
    point_alias(conn, model.id, alias, command.version, event_id, current.is_some()).await?;
    Ok(AliasMoved {
        version: with_aliases(conn, candidate, model.name).await?,
        previous: current_version,
        unchanged: false,
    })
}

/// Removes an alias; see `RegistryService.DeleteModelAlias`. Returns the
/// version it pointed at.
pub async fn delete_alias(
    conn: &mut Conn,
    command: DeleteAlias,
    caller: Caller,
) -> DomainResult<i64> {
    caller.check_alias(&command.model_name, &command.alias)?;
    let method = "DeleteModelAlias";
    let fingerprint = Fingerprint::of(method, &command);
    if let Some(outcome) = claim_key(conn, &caller, method, &fingerprint).await? {
        return replay_deletion(outcome);
    }
    let model = lock_model(conn, &command.model_name).await?;
    let now = event_time(conn, model.id).await?;
    let alias = &command.alias;
    let current = alias_row(conn, model.id, alias).await?;
    alias::check_expected_current(
        alias,
        command.expected_current,
        current.as_ref().map(|row| row.version),
    )?;
    let Some(current) = current else {
        return Err(DomainError::NotFound(format!(
            "model {:?} has no alias {alias:?} to delete",
            model.name
        )));
    };
    let latest = latest_alias_event(conn, model.id, alias).await?;
    let mut event = NewEventRow::new(EventKind::AliasDeleted, model.id, &caller, now);
    event.version = Some(current.version);
    event.alias = Some(alias.as_str().to_owned());
    event.previous_version = Some(current.version);
    event.rollback_event_id = latest
        .as_ref()
        .map(EventRow::alias_entry)
        .and_then(|entry| alias::rollback_pointer_of_deletion(&entry));
    event.reason = command.reason;
    diesel::delete(
        aliases::table
            .filter(aliases::model_id.eq(model.id))
            .filter(aliases::alias.eq(alias.as_str())),
    )
    .execute(conn)
    .await?;
    touch_model(conn, model.id, now).await?;
    settle_key(
        conn,
        &caller,
        &Outcome::AliasDeleted {
            previous: current.version,
        },
    )
    .await?;
    append_events(conn, vec![event]).await?;
    Ok(current.version)
}

/// Returns an alias to the version it held before; see
/// `RegistryService.RollbackModelAlias`.
pub async fn rollback_alias(
    conn: &mut Conn,
    command: RollbackAlias,
    caller: Caller,
) -> DomainResult<AliasMoved> {
    caller.check_alias(&command.model_name, &command.alias)?;
    let method = "RollbackModelAlias";
    let fingerprint = Fingerprint::of(method, &command);
    if let Some(outcome) = claim_key(conn, &caller, method, &fingerprint).await? {
        return replay_alias_moved(conn, outcome).await;
    }
    let model = lock_model(conn, &command.model_name).await?;
    let now = event_time(conn, model.id).await?;
    let alias = &command.alias;
    let current = alias_row(conn, model.id, alias).await?;
    let current_version = current.as_ref().map(|row| row.version);
    alias::check_expected_current(alias, command.expected_current, current_version)?;
    let latest = latest_alias_event(conn, model.id, alias).await?;
    let source_id =
        alias::rollback_source(alias, latest.as_ref().map(EventRow::alias_entry).as_ref())?;
    let source = events::table
        .find(source_id)
        .select(EventRow::as_select())
        .first::<EventRow>(conn)
        .await?;
    let corrupt = || {
        DomainError::Internal(format!(
            "the rollback chain of alias {alias:?} of model {:?} names event {source_id}, which \
             has no existing version",
            model.name
        ))
    };
    let target_version = source.new_version.ok_or_else(corrupt)?;
    let target = version_row(conn, model.id, target_version)
        .await?
        .ok_or_else(corrupt)?;
    let status = target.status()?;
    alias::check_holdable(alias, target_version, status).map_err(|_| {
        DomainError::FailedPrecondition(format!(
            "cannot roll alias {alias:?} back to version {target_version}: it is {status}, and \
             only ACTIVE versions hold aliases; point the alias at a version explicitly instead"
        ))
    })?;

    let mut event = NewEventRow::new(EventKind::AliasRolledBack, model.id, &caller, now);
    event.version = Some(target_version);
    event.alias = Some(alias.as_str().to_owned());
    event.previous_version = current_version;
    event.new_version = Some(target_version);
    event.rollback_event_id = source.rollback_event_id;
    event.reason = command.reason;
    touch_model(conn, model.id, now).await?;
    settle_key(
        conn,
        &caller,
        &Outcome::AliasMoved {
            version_id: target.id.clone(),
            previous: current_version,
            unchanged: false,
        },
    )
    .await?;
    let event_id = append_event(conn, event).await?;
    point_alias(conn, model.id, alias, target_version, event_id, current.is_some()).await?;
    Ok(AliasMoved {
        version: with_aliases(conn, target, model.name).await?,
        previous: current_version,
        unchanged: false,
    })
}

/// Changes a version's status through the status machine.
pub async fn change_status(
    conn: &mut Conn,
    command: ChangeStatus,
    caller: Caller,
) -> DomainResult<ModelVersion> {
    let method = "UpdateModelVersionStatus";
    let fingerprint = Fingerprint::of(method, &command);
    if let Some(outcome) = claim_key(conn, &caller, method, &fingerprint).await? {
        return replay_version(conn, outcome).await;
    }
    let (model, mut row) = lock_version(conn, &command.target).await?;
    caller.check_model(&ModelName::from_stored(model.name.clone()))?;
    let now = event_time(conn, model.id).await?;
    let from = row.status()?;
    let held = aliases_of_version(conn, model.id, row.version).await?;
    from.check_transition(command.status, row.version, &held)?;
    diesel::update(model_versions::table.find(&row.id))
        .set((
            model_versions::status.eq(command.status.as_str()),
            model_versions::updated_at.eq(to_db_time(now)),
        ))
        .execute(conn)
        .await?;
    let mut event = NewEventRow::new(EventKind::StatusChanged, model.id, &caller, now);
    event.version = Some(row.version);
    event.previous_status = Some(from.as_str().to_owned());
    event.new_status = Some(command.status.as_str().to_owned());
    event.reason = command.reason;
    settle_key(conn, &caller, &Outcome::Version { id: row.id.clone() }).await?;
    append_events(conn, vec![event]).await?;
    row.status = command.status.as_str().to_owned();
    row.updated_at = to_db_time(now);
    row.into_domain(model.name, held)
}

/// Changes a version's description and tags.
pub async fn update_version(
    conn: &mut Conn,
    command: UpdateVersion,
    caller: Caller,
) -> DomainResult<ModelVersion> {
    let method = "UpdateModelVersion";
    let fingerprint = Fingerprint::of(method, &command);
    if let Some(outcome) = claim_key(conn, &caller, method, &fingerprint).await? {
        return replay_version(conn, outcome).await;
    }
    let (model, mut row) = lock_version(conn, &command.target).await?;
    caller.check_model(&ModelName::from_stored(model.name.clone()))?;
    let now = event_time(conn, model.id).await?;
    let tags = command.apply_to_tags(row.tags()?)?;
    if let Some(description) = &command.description {
        row.description = description.clone();
    }
    row.tags = to_json(&tags)?;
    row.updated_at = to_db_time(now);
    diesel::update(model_versions::table.find(&row.id))
        .set((
            model_versions::description.eq(&row.description),
            model_versions::tags.eq(&row.tags),
            model_versions::updated_at.eq(row.updated_at),
        ))
        .execute(conn)
        .await?;
    replace_tag_rows(conn, &row.id, &tags).await?;
    let mut event = NewEventRow::new(EventKind::VersionUpdated, model.id, &caller, now);
    event.version = Some(row.version);
    event.reason = command.reason;
    settle_key(conn, &caller, &Outcome::Version { id: row.id.clone() }).await?;
    append_events(conn, vec![event]).await?;
    with_aliases(conn, row, model.name).await
}

/// Lists events, oldest first (or newest first when asked).
pub async fn list_events(
    conn: &mut Conn,
    query: EventQuery,
) -> DomainResult<Page<Event, EventCursor>> {
    let mut rows = events::table
        .inner_join(models::table)
        .select((EventRow::as_select(), models::name))
        .limit(query.page_size as i64 + 1)
        .into_boxed();
    rows = if query.newest_first {
        rows.order_by(events::id.desc())
    } else {
        rows.order_by(events::id.asc())
    };
    if let Some(name) = &query.model_name {
        let model = find_model(conn, name).await?;
        rows = rows.filter(events::model_id.eq(model.id));
    }
    if let Some(version) = query.version {
        rows = rows.filter(events::version.eq(version));
    }
    if !query.kinds.is_empty() {
        let kinds: Vec<&'static str> = query.kinds.iter().map(|k| k.as_str()).collect();
        rows = rows.filter(events::event_type.eq_any(kinds));
    }
    if let Some(alias) = &query.alias {
        rows = rows.filter(events::alias.eq(alias.as_str().to_owned()));
    }
    if let Some(actor) = &query.actor {
        rows = rows.filter(events::actor.eq(actor.clone()));
    }
    if let Some(since) = query.since {
        rows = rows.filter(events::occurred_at.ge(to_db_time(since)));
    }
    if let Some(until) = query.until {
        rows = rows.filter(events::occurred_at.lt(to_db_time(until)));
    }
    if let Some(after) = &query.after {
        rows = if query.newest_first {
            rows.filter(events::id.lt(after.after_id))
        } else {
            rows.filter(events::id.gt(after.after_id))
        };
    }
    let loaded = rows.load::<(EventRow, String)>(conn).await?;
    let (loaded, more) = split_page(loaded, query.page_size);
    let items = loaded
        .into_iter()
        .map(|(row, name)| {
            let cursor = EventCursor { after_id: row.id };
            row.into_domain(name).map(|event| (event, cursor))
        })
        .collect::<DomainResult<Vec<_>>>()?;
    Ok(Page { items, more })
}

/// The version an alias points at now and the id of the event that put it
/// there; `None` when it points nowhere (the id is then that of its last
/// event, 0 if it never had one). For `latest`, the id of the model's last
/// event.
pub async fn alias_state(
    conn: &mut Conn,
    name: ModelName,
    alias: AliasName,
) -> DomainResult<(Option<ModelVersion>, i64)> {
    let model = find_model(conn, &name).await?;
    if alias.is_latest() {
        let last = events::table
            .filter(events::model_id.eq(model.id))
            .select(diesel::dsl::max(events::id))
            .first::<Option<i64>>(conn)
            .await?
            .unwrap_or(0);
        let version = match latest_active_version(conn, model.id).await? {
            Some(number) => Some(get_version(conn, VersionRef::Number(name, number)).await?),
            None => None,
        };
        return Ok((version, last));
    }
    match alias_row(conn, model.id, &alias).await? {
        Some(row) => {
            let version = get_version(conn, VersionRef::Number(name, row.version)).await?;
            Ok((Some(version), row.event_id))
        }
        None => {
            let last = latest_alias_event(conn, model.id, &alias)
                .await?
                .map_or(0, |event| event.id);
            Ok((None, last))
        }
    }
}

/// Up to `limit` events after `after_id`, in id order.
pub async fn events_after(conn: &mut Conn, after_id: i64, limit: usize) -> DomainResult<Vec<Event>> {
    events::table
        .inner_join(models::table)
        .filter(events::id.gt(after_id))
        .order_by(events::id.asc())
        .limit(limit as i64)
        .select((EventRow::as_select(), models::name))
        .load::<(EventRow, String)>(conn)
        .await?
        .into_iter()
        .map(|(row, name)| row.into_domain(name))
        .collect()
}

/// The newest event's id, 0 when there is none.
pub async fn last_event_id(conn: &mut Conn) -> DomainResult<i64> {
    Ok(events::table
        .select(diesel::dsl::max(events::id))
        .first::<Option<i64>>(conn)
        .await?
        .unwrap_or(0))
}

/// The key that signs page tokens, created by the first server that needs
/// it and shared by every replica through the database.
pub async fn page_key(conn: &mut Conn) -> DomainResult<[u8; 32]> {
    use super::schema::server_secrets;
    const NAME: &str = "page_token_key";
    let stored = server_secrets::table
        .find(NAME)
        .select(server_secrets::value)
        .first::<String>(conn)
        .await
        .optional()?;
    let stored = match stored {
        Some(hex) => hex,
        None => {
            let fresh: String = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
                .iter()
                .flat_map(|u| u.as_bytes().to_vec())
                .map(|b| format!("{b:02x}"))
                .collect();
            diesel::insert_into(server_secrets::table)
                .values((server_secrets::name.eq(NAME), server_secrets::value.eq(&fresh)))
                .on_conflict(server_secrets::name)
                .do_nothing()
                .execute(conn)
                .await?;
            // Another replica may have won the race: use what is stored.
            server_secrets::table
                .find(NAME)
                .select(server_secrets::value)
                .first::<String>(conn)
                .await?
        }
    };
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = stored
            .get(2 * i..2 * i + 2)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or_else(|| DomainError::Internal("the stored page token key is malformed".into()))?;
    }
    Ok(key)
}

/// Claims the caller's idempotency key for a change, in the change's own
/// transaction: `None` when the key is new (or absent), the first call's
/// outcome when the same request was made before, ALREADY_EXISTS when the
/// key was used for a different request. A concurrent call with the same
/// key waits here for the first one to commit or roll back.
async fn claim_key(
    conn: &mut Conn,
    caller: &Caller,
    method: &str,
    fingerprint: &Fingerprint,
) -> DomainResult<Option<Outcome>> {
    let Some(key) = &caller.idempotency_key else {
        return Ok(None);
    };
    let claimed = diesel::insert_into(request_keys::table)
        .values(RequestKeyRow {
            principal: caller.identity.clone(),
            request_id: key.clone(),
            method: method.to_owned(),
            fingerprint: fingerprint.to_json(),
            outcome: String::new(),
            created_at: to_db_time(time::now()),
        })
        .on_conflict((request_keys::principal, request_keys::request_id))
        .do_nothing()
        .execute(conn)
        .await?
        == 1;
    if claimed {
        return Ok(None);
    }
    let first = request_keys::table
        .find((&caller.identity, key))
        .select(RequestKeyRow::as_select())
        .first(conn)
        .await?;
    fingerprint.check_same_as(&Fingerprint::from_json(&first.fingerprint)?, key)?;
    Outcome::from_json(&first.outcome).map(Some)
}

/// Records what a change returned under the key it claimed.
async fn settle_key(conn: &mut Conn, caller: &Caller, outcome: &Outcome) -> DomainResult<()> {
    if let Some(key) = &caller.idempotency_key {
        diesel::update(request_keys::table.find((&caller.identity, key)))
            .set(request_keys::outcome.eq(outcome.to_json()))
            .execute(conn)
            .await?;
    }
    Ok(())
}

fn replay_mismatch(outcome: Outcome) -> DomainError {
    DomainError::Internal(format!("a stored outcome of the wrong kind: {outcome:?}"))
}

async fn replay_version(conn: &mut Conn, outcome: Outcome) -> DomainResult<ModelVersion> {
    match outcome {
        Outcome::Version { id } => get_version(conn, VersionRef::Id(id)).await,
        other => Err(replay_mismatch(other)),
    }
}

async fn replay_alias_moved(conn: &mut Conn, outcome: Outcome) -> DomainResult<AliasMoved> {
    match outcome {
        Outcome::AliasMoved {
            version_id,
            previous,
            unchanged,
        } => Ok(AliasMoved {
            version: get_version(conn, VersionRef::Id(version_id)).await?,
            previous,
            unchanged,
        }),
        other => Err(replay_mismatch(other)),
    }
}

fn replay_deletion(outcome: Outcome) -> DomainResult<i64> {
    match outcome {
        Outcome::AliasDeleted { previous } => Ok(previous),
        other => Err(replay_mismatch(other)),
    }
}

async fn replay_model(conn: &mut Conn, outcome: Outcome) -> DomainResult<Model> {
    match outcome {
        Outcome::Model { name } => get_model(conn, ModelName::from_stored(name)).await,
        other => Err(replay_mismatch(other)),
    }
}

/// Reads a model by name, NOT_FOUND when there is none.
async fn find_model(conn: &mut Conn, name: &ModelName) -> DomainResult<ModelRow> {
    models::table
        .filter(models::name.eq(name.as_str()))
        .select(ModelRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| model_not_found(name.as_str()))
}

/// Locks a model's row for the rest of the transaction (a no-op UPDATE,
/// which takes the row lock on PostgreSQL and the write lock on SQLite), so
/// changes to one model are serialised.
async fn lock_model(conn: &mut Conn, name: &ModelName) -> DomainResult<ModelRow> {
    queue_for_model(conn, name.as_str()).await?;
    diesel::update(models::table.filter(models::name.eq(name.as_str())))
        .set(models::next_version.eq(models::next_version))
        .returning(ModelRow::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| model_not_found(name.as_str()))
}

/// Locks the model of a version and reads the version.
async fn lock_version(
    conn: &mut Conn,
    target: &VersionRef,
) -> DomainResult<(ModelRow, VersionRow)> {
    let model = match target {
        VersionRef::Number(name, _) => lock_model(conn, name).await?,
        VersionRef::Id(id) => {
            let model_id = model_versions::table
                .find(id)
                .select(model_versions::model_id)
                .first::<i64>(conn)
                .await
                .optional()?
                .ok_or_else(|| {
                    DomainError::NotFound(format!("there is no version with id {id:?}"))
                })?;
            diesel::update(models::table.find(model_id))
                .set(models::next_version.eq(models::next_version))
                .returning(ModelRow::as_returning())
                .get_result(conn)
                .await?
        }
    };
    let row = match target {
        VersionRef::Number(_, version) => version_row(conn, model.id, *version).await?,
        VersionRef::Id(id) => model_versions::table
            .find(id)
            .select(VersionRow::as_select())
            .first(conn)
            .await
            .optional()?,
    };
    match row {
        Some(row) => Ok((model, row)),
        None => Err(version_not_found(conn, target).await),
    }
}

async fn version_row(
    conn: &mut Conn,
    model_id: i64,
    version: i64,
) -> DomainResult<Option<VersionRow>> {
    Ok(model_versions::table
        .filter(model_versions::model_id.eq(model_id))
        .filter(model_versions::version.eq(version))
        .select(VersionRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The alias row of `alias` of model `model_id`, if the alias exists.
async fn alias_row(
    conn: &mut Conn,
    model_id: i64,
    alias: &AliasName,
) -> DomainResult<Option<AliasRow>> {
    Ok(aliases::table
        .find((model_id, alias.as_str()))
        .select(AliasRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The latest event of `alias` of model `model_id`: the head of its
/// rollback chain.
async fn latest_alias_event(
    conn: &mut Conn,
    model_id: i64,
    alias: &AliasName,
) -> DomainResult<Option<EventRow>> {
    Ok(events::table
        .filter(events::model_id.eq(model_id))
        .filter(events::alias.eq(alias.as_str()))
        .order_by(events::id.desc())
        .select(EventRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Points `alias` at `version`, recording the event that moved it.
async fn point_alias(
    conn: &mut Conn,
    model_id: i64,
    alias: &AliasName,
    version: i64,
    event_id: i64,
    exists: bool,
) -> DomainResult<()> {
    if exists {
        diesel::update(aliases::table.find((model_id, alias.as_str())))
            .set((aliases::version.eq(version), aliases::event_id.eq(event_id)))
            .execute(conn)
            .await?;
    } else {
        diesel::insert_into(aliases::table)
            .values(AliasRow {
                model_id,
                alias: alias.as_str().to_owned(),
                version,
                event_id,
            })
            .execute(conn)
            .await?;
    }
    Ok(())
}

async fn touch_model(conn: &mut Conn, model_id: i64, now: DateTime<Utc>) -> DomainResult<()> {
    diesel::update(models::table.find(model_id))
        .set(models::updated_at.eq(to_db_time(now)))
        .execute(conn)
        .await?;
    Ok(())
}

/// The aliases version `version` of model `model_id` holds, sorted.
async fn aliases_of_version(
    conn: &mut Conn,
    model_id: i64,
    version: i64,
) -> DomainResult<Vec<String>> {
    Ok(aliases::table
        .filter(aliases::model_id.eq(model_id))
        .filter(aliases::version.eq(version))
        .order_by(aliases::alias.asc())
        .select(aliases::alias)
        .load(conn)
        .await?)
}

/// One version read with the aliases it holds.
async fn with_aliases(
    conn: &mut Conn,
    row: VersionRow,
    model_name: String,
) -> DomainResult<ModelVersion> {
    let held = aliases_of_version(conn, row.model_id, row.version).await?;
    row.into_domain(model_name, held)
}

/// Versions read with the aliases each holds, in one query.
async fn with_aliases_all(
    conn: &mut Conn,
    rows: Vec<(VersionRow, String)>,
) -> DomainResult<Vec<ModelVersion>> {
    let ids: Vec<&str> = rows.iter().map(|(row, _)| row.id.as_str()).collect();
    let mut held: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    if !ids.is_empty() {
        for (version_id, name) in aliases::table
            .inner_join(
                model_versions::table.on(model_versions::model_id
                    .eq(aliases::model_id)
                    .and(model_versions::version.eq(aliases::version))),
            )
            .filter(model_versions::id.eq_any(ids))
            .order_by(aliases::alias.asc())
            .select((model_versions::id, aliases::alias))
            .load::<(String, String)>(conn)
            .await?
        {
            held.entry(version_id).or_default().push(name);
        }
    }
    rows.into_iter()
        .map(|(row, name)| {
            let aliases = held.remove(&row.id).unwrap_or_default();
            row.into_domain(name, aliases)
        })
        .collect()
}

/// A model with its aliases and latest ACTIVE version.
async fn model_with_aliases(conn: &mut Conn, row: ModelRow) -> DomainResult<Model> {
    let aliases = aliases::table
        .filter(aliases::model_id.eq(row.id))
        .select((aliases::alias, aliases::version))
        .load::<(String, i64)>(conn)
        .await?
        .into_iter()
        .collect();
    let latest = latest_active_version(conn, row.id).await?;
    row.into_domain(aliases, latest)
}

/// The highest ACTIVE version of model `model_id` (the alias `latest`).
async fn latest_active_version(conn: &mut Conn, model_id: i64) -> DomainResult<Option<i64>> {
    Ok(model_versions::table
        .filter(model_versions::model_id.eq(model_id))
        .filter(model_versions::status.eq(VersionStatus::Active.as_str()))
        .select(diesel::dsl::max(model_versions::version))
        .first::<Option<i64>>(conn)
        .await?)
}

/// The highest version of model `model_id` registered by `at` whose status
/// at `at` was ACTIVE (the alias `latest` as of `at`).
async fn latest_active_version_at(
    conn: &mut Conn,
    model_id: i64,
    at: DateTime<Utc>,
) -> DomainResult<Option<i64>> {
    let at = to_db_time(at);
    let status_then = events::table
        .filter(events::model_id.eq(model_versions::model_id))
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
        .first::<i64>(conn)
        .await
        .optional()?)
}

async fn replace_tag_rows(
    conn: &mut Conn,
    version_id: &str,
    tags: &BTreeMap<String, String>,
) -> DomainResult<()> {
    diesel::delete(version_tags::table.filter(version_tags::version_id.eq(version_id)))
        .execute(conn)
        .await?;
    insert_tag_rows(conn, &tag_rows(version_id, tags)).await
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

/// Appends a change's events to the trail and returns their ids. The last
/// step of every write: it takes the event-order lock (PostgreSQL), held
/// until the transaction commits, and announces the events to every
/// replica at commit.
async fn append_events(conn: &mut Conn, events: Vec<NewEventRow>) -> DomainResult<Vec<i64>> {
    before_appending_events(conn).await?;
    let mut ids = Vec::with_capacity(events.len());
    // Row by row: diesel-async cannot batch-insert with RETURNING on SQLite,
    // and a change writes one or two events.
    for event in events {
        ids.push(
            diesel::insert_into(events::table)
                .values(event)
                .returning(events::id)
                .get_result(conn)
                .await?,
        );
    }
    if let Some(&last) = ids.last() {
        after_appending_events(conn, last).await?;
    }
    Ok(ids)
}

/// [`append_events`] for one event; returns its id.
async fn append_event(conn: &mut Conn, event: NewEventRow) -> DomainResult<i64> {
    append_events(conn, vec![event])
        .await?
        .pop()
        .ok_or_else(|| DomainError::Internal("an appended event has no id".to_owned()))
}

/// The time of a change to model `model_id`: now, but never before the
/// model's last event, whatever this replica's clock says, so `as_of` and
/// the trail's order by time agree with the order of changes.
async fn event_time(conn: &mut Conn, model_id: i64) -> DomainResult<DateTime<Utc>> {
    let last = events::table
        .filter(events::model_id.eq(model_id))
        .select(diesel::dsl::max(events::occurred_at))
        .first::<Option<chrono::NaiveDateTime>>(conn)
        .await?
        .map(from_db_time);
    let now = time::now();
    Ok(match last {
        Some(last) if last > now => last,
        _ => now,
    })
}

/// The NOT_FOUND for a version, saying whether the model or only the
/// version is missing.
async fn version_not_found(conn: &mut Conn, target: &VersionRef) -> DomainError {
    match target {
        VersionRef::Id(id) => DomainError::NotFound(format!("there is no version with id {id:?}")),
        VersionRef::Number(name, version) => match find_model(conn, name).await {
            Ok(model) => DomainError::NotFound(format!(
                "model {name:?} has no version {version} (its versions are 1 to {})",
                model.next_version - 1
            )),
            Err(error) => error,
        },
    }
}

fn model_not_found(name: &str) -> DomainError {
    DomainError::NotFound(format!(
        "model {name:?} does not exist; models are created by their first RegisterModel"
    ))
}

fn bad_version_token() -> DomainError {
    DomainError::invalid(
        "page_token",
        "was issued for another ordering; keep order_by, order_metric and descending unchanged \
         while paging, or start again with an empty page_token",
    )
}

/// Splits the `size + 1` rows of a page query into the page and whether
/// another page follows.
fn split_page<T>(mut rows: Vec<T>, size: usize) -> (Vec<T>, bool) {
    let more = rows.len() > size;
    rows.truncate(size);
    (rows, more)
}
