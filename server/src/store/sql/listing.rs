//! Listing versions: filters, orderings and keyset pagination, the one
//! query of the registry with many shapes. Compiled once per database (see
//! `postgres.rs`).

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::domain::commands::{VersionQuery, VersionView};
use crate::domain::page::{PAGE_BUDGET_BYTES, Page, SortKey, VersionCursor, VersionOrder};
use crate::domain::{DomainResult, ModelVersion};
use crate::store::dialect::Dialect;
use crate::store::rows::{
    VersionBulkRow, VersionHeadRow, VersionRow, from_db_time, split_page, to_db_time,
};
use crate::store::schema::{aliases, model_versions, models, version_metrics, version_tags};

/// Lists versions with filters, ordering and keyset pagination.
///
/// A listing of one model ordered by a metric starts from that metric's
/// index range (`version_metrics (model_id, name, value, version_id)`) and
/// walks it in order, stopping after one page: its cost does not grow with
/// the model's versions. Other orderings of one model walk
/// `(model_id, version)` or sort what the filters leave.
///
/// Memory is bounded by what is read, not only by what is sent: the page's
/// rows are read without their bulky columns but with those columns'
/// sizes; the page ends where the sizes pass [`PAGE_BUDGET_BYTES`] (at
/// least one version), and only the FULL view then reads the bulky
/// columns, of the versions that fit.
pub(super) async fn list_versions(
    conn: &mut Conn,
    query: &VersionQuery,
    model_id: Option<i64>,
) -> DomainResult<Page<ModelVersion, VersionCursor>> {
    let after = query
        .after
        .as_ref()
        .map(|cursor| (cursor.key.clone(), cursor.id.clone()));
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
                        .filter(
                            filter_metrics
                                .field(version_metrics::name)
                                .eq(metric.clone()),
                        )
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

    let loaded: Vec<(VersionHeadRow, String, Option<f64>, i64)> = match &query.order {
        VersionOrder::Metric(metric) => {
            let after = after
                .map(|(key, id)| match key {
                    SortKey::Metric(v) => Ok((v, id)),
                    _ => Err(VersionCursor::foreign_ordering()),
                })
                .transpose()?;
            // Driven by the ordering metric's rows, in index order.
            let mut rows = version_metrics::table
                .inner_join(
                    model_versions::table.on(model_versions::id.eq(Conn::metric_version_id())),
                )
                .inner_join(models::table.on(models::id.eq(model_versions::model_id)))
                .filter(version_metrics::name.eq(metric.clone()))
                .select((
                    VersionHeadRow::as_select(),
                    models::name,
                    version_metrics::value.nullable(),
                    bulk_bytes(),
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
            keyset!(
                rows,
                version_metrics::value,
                version_metrics::version_id,
                after
            )
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
                    VersionHeadRow::as_select(),
                    model_name.assume_not_null(),
                    diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Double>>(
                        "NULL",
                    ),
                    bulk_bytes(),
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
                            _ => Err(VersionCursor::foreign_ordering()),
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
                            _ => Err(VersionCursor::foreign_ordering()),
                        })
                        .transpose()?;
                    keyset!(rows, model_versions::version, model_versions::id, after)
                }
                VersionOrder::CreatedAt => {
                    let after = after
                        .map(|(key, id)| match key {
                            SortKey::Time(t) => Ok((to_db_time(t), id)),
                            _ => Err(VersionCursor::foreign_ordering()),
                        })
                        .transpose()?;
                    keyset!(rows, model_versions::created_at, model_versions::id, after)
                }
                VersionOrder::TrainedAt | VersionOrder::Metric(_) => {
                    let rows = rows.filter(model_versions::training_finished_at.is_not_null());
                    let after = after
                        .map(|(key, id)| match key {
                            SortKey::Time(t) => Ok((to_db_time(t), id)),
                            _ => Err(VersionCursor::foreign_ordering()),
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
    let (mut loaded, mut more) = split_page(loaded, query.page_size);
    let fitting = fitting_in_budget(&loaded, query.view);
    if fitting < loaded.len() {
        loaded.truncate(fitting);
        more = true;
    }
    let cursors: Vec<VersionCursor> = loaded
        .iter()
        .map(|(row, _, value, _)| VersionCursor {
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
    let mut bulk = match query.view {
        VersionView::Basic => HashMap::new(),
        VersionView::Full => bulk_of(conn, loaded.iter().map(|(row, ..)| row.id.as_str())).await?,
    };
    let rows = loaded
        .into_iter()
        .map(|(row, name, _, _)| {
            let bulk = bulk.remove(&row.id);
            (row.into_row(bulk), name)
        })
        .collect();
    let versions = with_aliases_all(conn, rows).await?;
    Ok(Page {
        items: versions.into_iter().zip(cursors).collect(),
        more,
    })
}

/// The stored size of a version's bulky columns, read without reading
/// them (both databases know a text's length without its content).
fn bulk_bytes() -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "CAST(octet_length(model_versions.params) + octet_length(model_versions.metadata) \
         + octet_length(model_versions.feature_names) AS BIGINT)",
    )
}

/// How many of the page's rows fit the byte budget in `view` (at least
/// one: a version alone is always smaller than a response may be).
fn fitting_in_budget(
    rows: &[(VersionHeadRow, String, Option<f64>, i64)],
    view: VersionView,
) -> usize {
    let mut spent = 0usize;
    for (taken, (row, name, _, bulk)) in rows.iter().enumerate() {
        let bulk = match view {
            VersionView::Basic => 0,
            VersionView::Full => usize::try_from(*bulk).unwrap_or(0),
        };
        spent = spent.saturating_add(row.stored_bytes() + name.len() + bulk);
        if taken > 0 && spent > PAGE_BUDGET_BYTES {
            return taken;
        }
    }
    rows.len()
}

/// The bulky columns of the versions `ids`, by id.
async fn bulk_of<'a>(
    conn: &mut Conn,
    ids: impl Iterator<Item = &'a str>,
) -> DomainResult<HashMap<String, VersionBulkRow>> {
    let ids: Vec<&str> = ids.collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(model_versions::table
        .filter(model_versions::id.eq_any(ids))
        .select(VersionBulkRow::as_select())
        .load::<VersionBulkRow>(conn)
        .await?
        .into_iter()
        .map(|bulk| (bulk.id.clone(), bulk))
        .collect())
}

/// Versions read with the aliases each holds, in one query.
async fn with_aliases_all(
    conn: &mut Conn,
    rows: Vec<(VersionRow, String)>,
) -> DomainResult<Vec<ModelVersion>> {
    let ids: Vec<&str> = rows.iter().map(|(row, _)| row.id.as_str()).collect();
    let mut held: HashMap<String, Vec<String>> = HashMap::new();
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
