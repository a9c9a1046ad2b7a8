//! The pages' query strings: what a link or a filter form can ask for, read
//! leniently (an empty field is no filter) and checked like the API's
//! fields (a bad one is a 400 page naming it).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::domain::{AliasName, DomainError, DomainResult, EventKind, ModelName, VersionStatus};

/// Rows per page of every table.
pub const PAGE_ROWS: usize = 50;

/// `/`: the models.
#[derive(Debug, Default, Deserialize)]
pub struct ModelsParams {
    /// Only names starting with this.
    #[serde(default)]
    pub prefix: String,
    /// The page after this token.
    #[serde(default)]
    pub after: String,
}

/// `/models/{name}`: one model.
#[derive(Debug, Default, Deserialize)]
pub struct ModelParams {
    /// Only versions in this status (empty: every status).
    #[serde(default)]
    pub status: String,
    /// Order the versions by this metric, best first (empty: by number).
    #[serde(default)]
    pub sort: String,
    /// The metric charted across versions (empty: a sensible default).
    #[serde(default)]
    pub metric: String,
    /// The versions' page after this token.
    #[serde(default)]
    pub after: String,
    /// The audit trail's page after this token.
    #[serde(default)]
    pub events_after: String,
}

impl ModelParams {
    /// The status filter.
    pub fn status(&self) -> DomainResult<Option<VersionStatus>> {
        optional(&self.status)
            .map(|s| {
                VersionStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
                    DomainError::invalid("status", "must be ACTIVE, DEPRECATED or ARCHIVED")
                })
            })
            .transpose()
    }
}

/// `/events`: the whole trail, filtered.
#[derive(Debug, Default, Deserialize)]
pub struct EventsParams {
    /// Only this model.
    #[serde(default)]
    pub model: String,
    /// Only moves of this alias.
    #[serde(default)]
    pub alias: String,
    /// Only this kind of event (e.g. `ALIAS_SET`).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Only changes by this principal.
    #[serde(default)]
    pub actor: String,
    /// Only at or after this day or time (RFC 3339 or `YYYY-MM-DD`).
    #[serde(default)]
    pub since: String,
    /// Only before this day or time.
    #[serde(default)]
    pub until: String,
    /// The page after this token.
    #[serde(default)]
    pub after: String,
}

/// The filters of an events page, checked.
pub struct EventFilters {
    /// Only this model.
    pub model: Option<ModelName>,
    /// Only this alias.
    pub alias: Option<AliasName>,
    /// Only this kind.
    pub kind: Option<EventKind>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only at or after.
    pub since: Option<DateTime<Utc>>,
    /// Only before.
    pub until: Option<DateTime<Utc>>,
}

impl EventsParams {
    /// The filters, every bad one named.
    pub fn filters(&self) -> DomainResult<EventFilters> {
        Ok(EventFilters {
            model: optional(&self.model)
                .map(|m| ModelName::parse("model", m))
                .transpose()?,
            alias: optional(&self.alias)
                .map(|a| AliasName::movable("alias", a))
                .transpose()?,
            kind: optional(&self.kind)
                .map(|k| {
                    EventKind::parse(&k.to_ascii_uppercase()).ok_or_else(|| {
                        DomainError::invalid("type", "is not an event type (e.g. ALIAS_SET)")
                    })
                })
                .transpose()?,
            actor: optional(&self.actor).map(str::to_owned),
            since: optional(&self.since)
                .map(|t| moment("since", t))
                .transpose()?,
            until: optional(&self.until)
                .map(|t| moment("until", t))
                .transpose()?,
        })
    }
}

/// A trimmed, non-empty field.
fn optional(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

/// A moment from a form: RFC 3339, or a day (its midnight, UTC).
fn moment(field: &str, text: &str) -> DomainResult<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .ok_or_else(|| {
            DomainError::invalid(field, "must be a day (2026-11-27) or an RFC 3339 time")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_lenient_about_blanks_and_name_bad_fields() {
        let blank = EventsParams::default().filters().unwrap();
        assert!(blank.model.is_none() && blank.kind.is_none() && blank.since.is_none());
        let day = EventsParams {
            since: "2026-11-27".into(),
            kind: "alias_set".into(),
            ..Default::default()
        }
        .filters()
        .unwrap();
        assert_eq!(day.kind, Some(EventKind::AliasSet));
        assert_eq!(
            day.since.map(|t| t.to_rfc3339()),
            Some("2026-11-27T00:00:00+00:00".to_owned())
        );
        let bad = EventsParams {
            until: "yesterday".into(),
            ..Default::default()
        };
        assert!(matches!(bad.filters(), Err(e) if e.invalid_fields() == ["until"]));
        let status = ModelParams {
            status: "retired".into(),
            ..Default::default()
        };
        assert!(matches!(status.status(), Err(e) if e.invalid_fields() == ["status"]));
    }
}
