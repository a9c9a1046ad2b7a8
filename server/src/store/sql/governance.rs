//! The `alias_policies` and `change_requests` tables. Compiled once per
//! database (see `postgres.rs`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::domain::commands::{PolicyQuery, RequestQuery};
use crate::domain::governance::{AliasPolicy, ChangeRequest, RequestState};
use crate::domain::page::{Page, PolicyCursor, RequestCursor};
use crate::domain::{AliasName, DomainResult, ModelName, ModelPrefix};
use crate::store::dialect::Dialect as _;
use crate::store::governance_rows::{
    ChangeRequestRow, FreezeRow, NewChangeRequestRow, PolicyRow, PrefixPolicyRow,
    RequestDecisionRow,
};
use crate::store::rows::{split_page, to_db_time};
use crate::store::schema::{
    alias_policies, change_requests, freezes, models, prefix_alias_policies,
};
use crate::store::tx::GovernanceTable;

impl GovernanceTable for Conn {
    async fn alias_policy(
        &mut self,
        model_id: i64,
        alias: &AliasName,
    ) -> DomainResult<Option<PolicyRow>> {
        Ok(alias_policies::table
            .find((model_id, alias.as_str()))
            .select(PolicyRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn save_alias_policy(&mut self, row: PolicyRow) -> DomainResult<()> {
        diesel::insert_into(alias_policies::table)
            .values(&row)
            .on_conflict((alias_policies::model_id, alias_policies::alias))
            .do_update()
            .set(&row)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn delete_alias_policy(&mut self, model_id: i64, alias: &AliasName) -> DomainResult<()> {
        diesel::delete(alias_policies::table.find((model_id, alias.as_str())))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn list_alias_policies(
        &mut self,
        query: &PolicyQuery,
    ) -> DomainResult<Page<AliasPolicy, PolicyCursor>> {
        let mut rows = alias_policies::table
            .inner_join(models::table)
            .select((PolicyRow::as_select(), models::name))
            .order_by((models::name.asc(), alias_policies::alias.asc()))
            .limit(query.page_size as i64 + 1)
            .into_boxed();
        if let Some(model) = &query.model_name {
            rows = rows.filter(models::name.eq(model.as_str().to_owned()));
        }
        if let Some(after) = &query.after {
            rows = rows.filter(
                models::name.gt(after.after_model.clone()).or(models::name
                    .eq(after.after_model.clone())
                    .and(alias_policies::alias.gt(after.after_alias.clone()))),
            );
        }
        let loaded = rows.load::<(PolicyRow, String)>(self).await?;
        let (loaded, more) = split_page(loaded, query.page_size);
        let items = loaded
            .into_iter()
            .map(|(row, model)| {
                let cursor = PolicyCursor {
                    after_model: model.clone(),
                    after_alias: row.alias.clone(),
                };
                row.into_domain(model).map(|policy| (policy, cursor))
            })
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(Page { items, more })
    }

    async fn mark_governed(&mut self, model_id: i64) -> DomainResult<()> {
        diesel::update(models::table.find(model_id))
            .filter(models::governed.eq(false))
            .set(models::governed.eq(true))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn prefix_policy(
        &mut self,
        prefix: &ModelPrefix,
        alias: &AliasName,
    ) -> DomainResult<Option<PrefixPolicyRow>> {
        Ok(prefix_alias_policies::table
            .find((alias.as_str(), prefix.as_str()))
            .select(PrefixPolicyRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn inherited_policies(
        &mut self,
        model: &ModelName,
        alias: Option<&AliasName>,
    ) -> DomainResult<Vec<PrefixPolicyRow>> {
        let mut rows = inherited_policies_query!(ModelPrefix::all_of(model)).into_boxed();
        if let Some(alias) = alias {
            rows = rows.filter(prefix_alias_policies::alias.eq(alias.as_str().to_owned()));
        }
        let mut loaded = rows.load::<PrefixPolicyRow>(self).await?;
        loaded.sort_by_key(|row| std::cmp::Reverse(row.prefix.len()));
        Ok(loaded)
    }

    async fn save_prefix_policy(&mut self, row: PrefixPolicyRow) -> DomainResult<()> {
        diesel::insert_into(prefix_alias_policies::table)
            .values(&row)
            .on_conflict((prefix_alias_policies::alias, prefix_alias_policies::prefix))
            .do_update()
            .set(&row)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn delete_prefix_policy(
        &mut self,
        prefix: &ModelPrefix,
        alias: &AliasName,
    ) -> DomainResult<()> {
        diesel::delete(prefix_alias_policies::table.find((alias.as_str(), prefix.as_str())))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn list_prefix_policies(
        &mut self,
        query: &PolicyQuery,
    ) -> DomainResult<Page<AliasPolicy, PolicyCursor>> {
        let mut rows = prefix_alias_policies::table
            .select(PrefixPolicyRow::as_select())
            .order_by((
                prefix_alias_policies::prefix.asc(),
                prefix_alias_policies::alias.asc(),
            ))
            .limit(query.page_size as i64 + 1)
            .into_boxed();
        if let Some(after) = &query.after {
            rows = rows.filter(
                prefix_alias_policies::prefix
                    .gt(after.after_model.clone())
                    .or(prefix_alias_policies::prefix
                        .eq(after.after_model.clone())
                        .and(prefix_alias_policies::alias.gt(after.after_alias.clone()))),
            );
        }
        let loaded = rows.load::<PrefixPolicyRow>(self).await?;
        let (loaded, more) = split_page(loaded, query.page_size);
        let items = loaded
            .into_iter()
            .map(|row| {
                let cursor = PolicyCursor {
                    after_model: row.prefix.clone(),
                    after_alias: row.alias.clone(),
                };
                row.into_domain().map(|policy| (policy, cursor))
            })
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(Page { items, more })
    }

    async fn mark_family_governed(&mut self, prefix: &ModelPrefix) -> DomainResult<()> {
        // `_` is a model-name character and LIKE's any-character: escaped.
        let pattern = format!("{}%", prefix.as_str().replace('_', "\\_"));
        diesel::update(models::table)
            .filter(models::governed.eq(false))
            .filter(models::name.like(pattern).escape('\\'))
            .set(models::governed.eq(true))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn order_with_prefix_policies(&mut self, exclusive: bool) -> DomainResult<()> {
        self.lock_prefix_policies(exclusive).await
    }

    async fn insert_change_request(&mut self, row: NewChangeRequestRow) -> DomainResult<i64> {
        Ok(diesel::insert_into(change_requests::table)
            .values(&row)
            .returning(change_requests::id)
            .get_result(self)
            .await?)
    }

    async fn open_requests_of_alias(
        &mut self,
        model_id: i64,
        alias: &AliasName,
        now: DateTime<Utc>,
        limit: i64,
    ) -> DomainResult<Vec<(i64, i64)>> {
        Ok(change_requests::table
            .filter(change_requests::model_id.eq(model_id))
            .filter(change_requests::alias.eq(alias.as_str()))
            .filter(change_requests::state.eq(RequestState::Pending.as_str()))
            .filter(change_requests::expires_at.gt(to_db_time(now)))
            .order(change_requests::id.desc())
            .limit(limit)
            .select((change_requests::id, change_requests::version))
            .load(self)
            .await?)
    }

    async fn change_request(
        &mut self,
        id: i64,
    ) -> DomainResult<Option<(ChangeRequestRow, String)>> {
        Ok(change_requests::table
            .inner_join(models::table)
            .filter(change_requests::id.eq(id))
            .select((ChangeRequestRow::as_select(), models::name))
            .first(self)
            .await
            .optional()?)
    }

    async fn save_request_decision(
        &mut self,
        id: i64,
        decision: RequestDecisionRow,
    ) -> DomainResult<()> {
        diesel::update(change_requests::table.find(id))
            .set(&decision)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn freeze(
        &mut self,
        model_id: i64,
        alias: &str,
        version: i64,
    ) -> DomainResult<Option<FreezeRow>> {
        Ok(freezes::table
            .find((model_id, alias, version))
            .select(FreezeRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn save_freeze(&mut self, row: FreezeRow) -> DomainResult<()> {
        diesel::insert_into(freezes::table)
            .values(&row)
            .on_conflict((freezes::model_id, freezes::alias, freezes::version))
            .do_update()
            .set(&row)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn delete_freeze(
        &mut self,
        model_id: i64,
        alias: &str,
        version: i64,
    ) -> DomainResult<()> {
        diesel::delete(freezes::table.find((model_id, alias, version)))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn list_change_requests(
        &mut self,
        query: &RequestQuery,
        now: DateTime<Utc>,
    ) -> DomainResult<Page<ChangeRequest, RequestCursor>> {
        let mut rows = change_requests::table
            .inner_join(models::table)
            .select((ChangeRequestRow::as_select(), models::name))
            .order_by(change_requests::id.desc())
            .limit(query.page_size as i64 + 1)
            .into_boxed();
        if let Some(model) = &query.model_name {
            rows = rows.filter(models::name.eq(model.as_str().to_owned()));
        }
        if let Some(alias) = &query.alias {
            rows = rows.filter(change_requests::alias.eq(alias.as_str().to_owned()));
        }
        if let Some(requester) = &query.requester {
            rows = rows.filter(change_requests::requester.eq(requester.clone()));
        }
        let pending = RequestState::Pending.as_str();
        rows = match query.state {
            None => rows,
            // EXPIRED is never stored: it is PENDING past its expiry.
            Some(RequestState::Pending) => rows
                .filter(change_requests::state.eq(pending))
                .filter(change_requests::expires_at.gt(to_db_time(now))),
            Some(RequestState::Expired) => rows
                .filter(change_requests::state.eq(pending))
                .filter(change_requests::expires_at.le(to_db_time(now))),
            Some(state) => rows.filter(change_requests::state.eq(state.as_str())),
        };
        if let Some(after) = &query.after {
            rows = rows.filter(change_requests::id.lt(after.before_id));
        }
        let loaded = rows.load::<(ChangeRequestRow, String)>(self).await?;
        let (loaded, more) = split_page(loaded, query.page_size);
        let items = loaded
            .into_iter()
            .map(|(row, model)| {
                let cursor = RequestCursor { before_id: row.id };
                row.into_domain(model, now).map(|request| (request, cursor))
            })
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(Page { items, more })
    }
}
