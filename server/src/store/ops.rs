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
    EventRow, MetricRow, ModelRow, NewEventRow, NewModelRow, TagRow, VersionRow, from_db_time,
    to_db_time, to_json,
};
use super::schema::{events, model_versions, models, version_metrics, version_tags};
use crate::domain::commands::{
    BestVersionQuery, Caller, ChangeStatus, EventQuery, ModelQuery, ProductionChanged, Rollback,
    SetProduction, UpdateVersion, VersionQuery,
};
use crate::domain::page::{self, EventCursor, ModelCursor, SortKey, VersionCursor, VersionOrder};
use crate::domain::production::{self, ProductionChange};
use crate::domain::{
    DomainError, DomainResult, Event, EventKind, Model, ModelName, ModelVersion, NewVersion, Page,
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
    let now = time::now();
    let name = new.model_name.as_str();
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
    if created {
        insert_event(
            conn,
            NewEventRow::new(EventKind::ModelCreated, model.id, &caller, now),
        )
        .await?;
    }
    if let Some(request_id) = &new.request_id {
        let earlier = model_versions::table
            .inner_join(models::table)
            .filter(model_versions::request_id.eq(request_id))
            .select((VersionRow::as_select(), models::name))
            .first::<(VersionRow, String)>(conn)
            .await
            .optional()?;
        if let Some((row, owner)) = earlier {
            if owner == name {
                return row.into_domain(owner);
            }
            return Err(DomainError::AlreadyExists(format!(
                "request_id {request_id:?} was already used to register version {} of model \
                 {owner:?}; use a new request_id for a new registration",
                row.version
            )));
        }
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
    // Row by row: diesel-async cannot batch-insert on SQLite, and versions
    // carry a handful of metrics.
    for (metric, &value) in &new.metrics {
        diesel::insert_into(version_metrics::table)
            .values(MetricRow {
                version_id: &row.id,
                model_id: model.id,
                name: metric,
                value,
            })
            .execute(conn)
            .await?;
    }
    replace_tag_rows(conn, &row.id, &new.tags).await?;

    let mut event = NewEventRow::new(EventKind::VersionRegistered, model.id, &caller, now);
    event.version = Some(number);
    event.new_status = Some(VersionStatus::Active.as_str().to_owned());
    insert_event(conn, event).await?;
    row.into_domain(name.to_owned())
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
        Some((row, name)) => row.into_domain(name),
        None => Err(version_not_found(conn, &target).await),
    }
}

/// Reads the current production version of a model.
pub async fn get_production(conn: &mut Conn, name: ModelName) -> DomainResult<ModelVersion> {
    let found = model_versions::table
        .inner_join(models::table)
        .filter(models::name.eq(name.as_str()))
        .filter(model_versions::is_production.eq(true))
        .select((VersionRow::as_select(), models::name))
        .first::<(VersionRow, String)>(conn)
        .await
        .optional()?;
    match found {
        Some((row, name)) => row.into_domain(name),
        None => {
            find_model(conn, &name).await?;
            Err(DomainError::NotFound(format!(
                "model {name:?} has no production version; promote one with SetProductionModel"
            )))
        }
    }
}

/// Reads the version that was in production at `at`, from the event trail.
pub async fn production_as_of(
    conn: &mut Conn,
    name: ModelName,
    at: DateTime<Utc>,
) -> DomainResult<ModelVersion> {
    let model = find_model(conn, &name).await?;
    let version = events::table
        .filter(events::model_id.eq(model.id))
        .filter(events::event_type.eq_any(production_kinds()))
        .filter(events::occurred_at.le(to_db_time(at)))
        .order((events::occurred_at.desc(), events::id.desc()))
        .select(events::new_production_version)
        .first::<Option<i64>>(conn)
        .await
        .optional()?
        .flatten();
    match version {
        Some(version) => get_version(conn, VersionRef::Number(name, version)).await,
        None => Err(DomainError::NotFound(format!(
            "model {name:?} had no production version at {}",
            at.to_rfc3339()
        ))),
    }
}

/// Lists versions with filters, ordering and keyset pagination.
pub async fn list_versions(
    conn: &mut Conn,
    query: VersionQuery,
) -> DomainResult<Page<ModelVersion>> {
    if let Some(name) = &query.model_name {
        find_model(conn, name).await?;
    }
    let order_metric = match &query.order {
        VersionOrder::Metric(metric) => metric.clone(),
        _ => String::new(),
    };
    // The ordering metric is joined under an alias, so the metric filters
    // below can use version_metrics in subqueries.
    let order_metrics = diesel::alias!(version_metrics as order_metrics);
    let order_value = order_metrics.field(version_metrics::value).nullable();
    let mut rows = model_versions::table
        .inner_join(models::table)
        .left_join(
            order_metrics.on(order_metrics
                .field(version_metrics::version_id)
                .eq(model_versions::id)
                .and(
                    order_metrics
                        .field(version_metrics::model_id)
                        .eq(model_versions::model_id),
                )
                .and(order_metrics.field(version_metrics::name).eq(order_metric))),
        )
        .select((VersionRow::as_select(), models::name, order_value))
        .into_boxed();

    if let Some(name) = &query.model_name {
        rows = rows.filter(models::name.eq(name.as_str().to_owned()));
    }
    if !query.statuses.is_empty() {
        let statuses: Vec<&'static str> = query.statuses.iter().map(|s| s.as_str()).collect();
        rows = rows.filter(model_versions::status.eq_any(statuses));
    }
    if let Some(algorithm) = &query.algorithm {
        rows = rows.filter(model_versions::algorithm.eq(algorithm.clone()));
    }
    for (key, value) in &query.tags {
        rows = rows.filter(
            model_versions::id.eq_any(
                version_tags::table
                    .filter(version_tags::key.eq(key.clone()))
                    .filter(version_tags::value.eq(value.clone()))
                    .select(version_tags::version_id),
            ),
        );
    }
    for (metric, &min) in &query.min_metrics {
        rows = rows.filter(
            model_versions::id.eq_any(
                version_metrics::table
                    .filter(version_metrics::name.eq(metric.clone()))
                    .filter(version_metrics::value.ge(min))
                    .select(version_metrics::version_id),
            ),
        );
    }
    if let Some(after) = query.trained_after {
        rows = rows.filter(model_versions::training_finished_at.ge(to_db_time(after)));
    }
    if let Some(before) = query.trained_before {
        rows = rows.filter(model_versions::training_finished_at.lt(to_db_time(before)));
    }
    if query.production_only {
        rows = rows.filter(model_versions::is_production.eq(true));
    }

    // Keyset pagination: order by (key, id) and start strictly after the
    // last (key, id) returned.
    macro_rules! keyset {
        ($column:expr, $key:expr) => {
            if let Some((key, id)) = $key {
                rows = if query.descending {
                    rows.filter(
                        $column
                            .lt(key)
                            .or($column.eq(key).and(model_versions::id.lt(id))),
                    )
                } else {
                    rows.filter(
                        $column
                            .gt(key)
                            .or($column.eq(key).and(model_versions::id.gt(id))),
                    )
                };
            }
            rows = if query.descending {
                rows.order_by(($column.desc(), model_versions::id.desc()))
            } else {
                rows.order_by(($column.asc(), model_versions::id.asc()))
            };
        };
    }
    let after = match &query.after {
        Some(cursor) if cursor.order != query.order || cursor.descending != query.descending => {
            return Err(bad_version_token());
        }
        Some(cursor) => Some((cursor.key.clone(), cursor.id.clone())),
        None => None,
    };
    match &query.order {
        VersionOrder::Version => {
            let after = after
                .map(|(key, id)| match key {
                    SortKey::Version(v) => Ok((v, id)),
                    _ => Err(bad_version_token()),
                })
                .transpose()?;
            keyset!(model_versions::version, after);
        }
        VersionOrder::CreatedAt => {
            let after = after
                .map(|(key, id)| match key {
                    SortKey::Time(t) => Ok((to_db_time(t), id)),
                    _ => Err(bad_version_token()),
                })
                .transpose()?;
            keyset!(model_versions::created_at, after);
        }
        VersionOrder::TrainedAt => {
            rows = rows.filter(model_versions::training_finished_at.is_not_null());
            let after = after
                .map(|(key, id)| match key {
                    SortKey::Time(t) => Ok((to_db_time(t), id)),
                    _ => Err(bad_version_token()),
                })
                .transpose()?;
            keyset!(model_versions::training_finished_at, after);
        }
        VersionOrder::Metric(_) => {
            rows = rows.filter(order_value.is_not_null());
            let after = after
                .map(|(key, id)| match key {
                    SortKey::Metric(v) => Ok((v, id)),
                    _ => Err(bad_version_token()),
                })
                .transpose()?;
            keyset!(order_value, after);
        }
    }

    let loaded = rows
        .limit(query.page_size as i64 + 1)
        .load::<(VersionRow, String, Option<f64>)>(conn)
        .await?;
    let (loaded, more) = split_page(loaded, query.page_size);
    let next_page_token = match loaded.last() {
        Some((row, _, value)) if more => {
            let key = match &query.order {
                VersionOrder::Version => SortKey::Version(row.version),
                VersionOrder::CreatedAt => SortKey::Time(from_db_time(row.created_at)),
                VersionOrder::TrainedAt => SortKey::Time(from_db_time(
                    row.training_finished_at.unwrap_or(row.created_at),
                )),
                VersionOrder::Metric(_) => SortKey::Metric(value.unwrap_or_default()),
            };
            Some(page::encode(&VersionCursor {
                order: query.order.clone(),
                descending: query.descending,
                key,
                id: row.id.clone(),
            }))
        }
        _ => None,
    };
    let items = loaded
        .into_iter()
        .map(|(row, name, _)| row.into_domain(name))
        .collect::<DomainResult<Vec<_>>>()?;
    Ok(Page {
        items,
        next_page_token,
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
        .inner_join(model_versions::table)
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
        Some((row, value)) => Ok((row.into_domain(model.name)?, value)),
        None => Err(DomainError::NotFound(format!(
            "model {:?} has no version in status {} with metric {:?}",
            query.model_name.as_str(),
            statuses.join(" or "),
            query.metric
        ))),
    }
}

/// Lists models by name.
pub async fn list_models(conn: &mut Conn, query: ModelQuery) -> DomainResult<Page<Model>> {
    let mut rows = models::table
        .left_join(
            model_versions::table.on(model_versions::model_id
                .eq(models::id)
                .and(model_versions::is_production.eq(true))),
        )
        .select((ModelRow::as_select(), model_versions::version.nullable()))
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
    let next_page_token = match loaded.last() {
        Some((row, _)) if more => Some(page::encode(&ModelCursor {
            after_name: row.name.clone(),
        })),
        _ => None,
    };
    let items = loaded
        .into_iter()
        .map(|(row, production)| model_from_row(row, production))
        .collect();
    Ok(Page {
        items,
        next_page_token,
    })
}

/// Reads one model with its production version.
pub async fn get_model(conn: &mut Conn, name: ModelName) -> DomainResult<Model> {
    let row = find_model(conn, &name).await?;
    let production = model_versions::table
        .filter(model_versions::model_id.eq(row.id))
        .filter(model_versions::is_production.eq(true))
        .select(model_versions::version)
        .first::<i64>(conn)
        .await
        .optional()?;
    Ok(model_from_row(row, production))
}

/// Makes a version production; see `RegistryService.SetProductionModel`.
pub async fn set_production(
    conn: &mut Conn,
    command: SetProduction,
    caller: Caller,
) -> DomainResult<ProductionChanged> {
    let model = lock_model(conn, &command.model_name).await?;
    let now = time::now();
    let Some(mut candidate) = version_row(conn, model.id, command.version).await? else {
        return Err(DomainError::NotFound(format!(
            "model {:?} has no version {}",
            model.name, command.version
        )));
    };
    let current = production_row(conn, model.id).await?;
    let current_version = current.as_ref().map(|row| row.version);
    production::check_expected_current(command.expected_current, current_version)?;
    if current_version == Some(command.version) {
        return Ok(ProductionChanged {
            version: candidate.into_domain(model.name)?,
            previous: current_version,
            unchanged: true,
        });
    }
    production::check_promotable(command.version, candidate.status()?)?;
    let current_metrics = current.as_ref().map(VersionRow::metrics).transpose()?;
    production::check_gate(
        command.gate.as_ref(),
        (command.version, &candidate.metrics()?),
        current_version.zip(current_metrics.as_ref()),
    )?;

    switch_production(conn, model.id, current.as_ref(), &mut candidate, now).await?;
    let mut event = NewEventRow::new(EventKind::ProductionSet, model.id, &caller, now);
    event.version = Some(command.version);
    event.previous_production_version = current_version;
    event.new_production_version = Some(command.version);
    event.reason = command.reason;
    insert_event(conn, event).await?;
    Ok(ProductionChanged {
        version: candidate.into_domain(model.name)?,
        previous: current_version,
        unchanged: false,
    })
}

/// Returns production to the previous production version.
pub async fn rollback(
    conn: &mut Conn,
    command: Rollback,
    caller: Caller,
) -> DomainResult<ProductionChanged> {
    let model = lock_model(conn, &command.model_name).await?;
    let now = time::now();
    let current = production_row(conn, model.id).await?;
    production::check_expected_current(
        command.expected_current,
        current.as_ref().map(|r| r.version),
    )?;
    let Some(current) = current else {
        return Err(DomainError::FailedPrecondition(format!(
            "model {:?} has no production version to roll back",
            model.name
        )));
    };
    let history = events::table
        .filter(events::model_id.eq(model.id))
        .filter(events::event_type.eq_any(production_kinds()))
        .order_by(events::id.asc())
        .select((events::event_type, events::new_production_version))
        .load::<(String, Option<i64>)>(conn)
        .await?
        .into_iter()
        .filter_map(|(kind, new_version)| {
            EventKind::parse(&kind).map(|kind| ProductionChange { kind, new_version })
        })
        .collect::<Vec<_>>();
    let target_version = production::rollback_target(&history, current.version)?;
    let Some(mut target) = version_row(conn, model.id, target_version).await? else {
        return Err(DomainError::Internal(format!(
            "the event trail of model {:?} names version {target_version}, which does not exist",
            model.name
        )));
    };
    production::check_promotable(target_version, target.status()?).map_err(|_| {
        DomainError::FailedPrecondition(format!(
            "cannot roll back to version {target_version}: it is {}, and only ACTIVE versions \
             can be production; promote a version explicitly instead",
            target.status
        ))
    })?;

    switch_production(conn, model.id, Some(&current), &mut target, now).await?;
    let mut event = NewEventRow::new(EventKind::ProductionRolledBack, model.id, &caller, now);
    event.version = Some(target_version);
    event.previous_production_version = Some(current.version);
    event.new_production_version = Some(target_version);
    event.reason = command.reason;
    insert_event(conn, event).await?;
    Ok(ProductionChanged {
        version: target.into_domain(model.name)?,
        previous: Some(current.version),
        unchanged: false,
    })
}

/// Changes a version's status through the status machine.
pub async fn change_status(
    conn: &mut Conn,
    command: ChangeStatus,
    caller: Caller,
) -> DomainResult<ModelVersion> {
    let (model, mut row) = lock_version(conn, &command.target).await?;
    let now = time::now();
    let from = row.status()?;
    from.check_transition(command.status, row.version, row.is_production)?;
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
    insert_event(conn, event).await?;
    row.status = command.status.as_str().to_owned();
    row.updated_at = to_db_time(now);
    row.into_domain(model.name)
}

/// Changes a version's description and tags.
pub async fn update_version(
    conn: &mut Conn,
    command: UpdateVersion,
    caller: Caller,
) -> DomainResult<ModelVersion> {
    let (model, mut row) = lock_version(conn, &command.target).await?;
    let now = time::now();
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
    insert_event(conn, event).await?;
    row.into_domain(model.name)
}

/// Lists events, oldest first.
pub async fn list_events(conn: &mut Conn, query: EventQuery) -> DomainResult<Page<Event>> {
    let mut rows = events::table
        .inner_join(models::table)
        .select((EventRow::as_select(), models::name))
        .order_by(events::id.asc())
        .limit(query.page_size as i64 + 1)
        .into_boxed();
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
    if let Some(since) = query.since {
        rows = rows.filter(events::occurred_at.ge(to_db_time(since)));
    }
    if let Some(until) = query.until {
        rows = rows.filter(events::occurred_at.lt(to_db_time(until)));
    }
    if let Some(after) = &query.after {
        rows = rows.filter(events::id.gt(after.after_id));
    }
    let loaded = rows.load::<(EventRow, String)>(conn).await?;
    let (loaded, more) = split_page(loaded, query.page_size);
    let next_page_token = match loaded.last() {
        Some((row, _)) if more => Some(page::encode(&EventCursor { after_id: row.id })),
        _ => None,
    };
    let items = loaded
        .into_iter()
        .map(|(row, name)| row.into_domain(name))
        .collect::<DomainResult<Vec<_>>>()?;
    Ok(Page {
        items,
        next_page_token,
    })
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

async fn production_row(conn: &mut Conn, model_id: i64) -> DomainResult<Option<VersionRow>> {
    Ok(model_versions::table
        .filter(model_versions::model_id.eq(model_id))
        .filter(model_versions::is_production.eq(true))
        .select(VersionRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Moves the production flag from `current` to `next`. The old flag is
/// cleared first: the unique partial index allows one production row per
/// model at every moment, not only at commit.
async fn switch_production(
    conn: &mut Conn,
    model_id: i64,
    current: Option<&VersionRow>,
    next: &mut VersionRow,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let now = to_db_time(now);
    if let Some(current) = current {
        diesel::update(model_versions::table.find(&current.id))
            .set((
                model_versions::is_production.eq(false),
                model_versions::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
    }
    diesel::update(model_versions::table.find(&next.id))
        .set((
            model_versions::is_production.eq(true),
            model_versions::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    diesel::update(models::table.find(model_id))
        .set(models::updated_at.eq(now))
        .execute(conn)
        .await?;
    next.is_production = true;
    next.updated_at = now;
    Ok(())
}

async fn replace_tag_rows(
    conn: &mut Conn,
    version_id: &str,
    tags: &BTreeMap<String, String>,
) -> DomainResult<()> {
    diesel::delete(version_tags::table.filter(version_tags::version_id.eq(version_id)))
        .execute(conn)
        .await?;
    for (key, value) in tags {
        diesel::insert_into(version_tags::table)
            .values(TagRow {
                version_id,
                key,
                value,
            })
            .execute(conn)
            .await?;
    }
    Ok(())
}

async fn insert_event(conn: &mut Conn, event: NewEventRow) -> DomainResult<()> {
    diesel::insert_into(events::table)
        .values(event)
        .execute(conn)
        .await?;
    Ok(())
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

fn model_from_row(row: ModelRow, production_version: Option<i64>) -> Model {
    Model {
        version_count: row.next_version - 1,
        name: ModelName::from_stored(row.name),
        created_at: from_db_time(row.created_at),
        updated_at: from_db_time(row.updated_at),
        production_version,
    }
}

fn production_kinds() -> [&'static str; 2] {
    EventKind::PRODUCTION_CHANGES.map(EventKind::as_str)
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
