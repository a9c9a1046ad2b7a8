//! Rules for request fields several requests share: filter sizes, alias
//! filters, optional texts, tag keys, metric gates and compare-and-set
//! preconditions.

use super::requests::MAX_FILTER_ENTRIES;
use crate::domain::alias::{AliasName, ExpectedCurrent, MetricGate};
use crate::domain::{DomainError, DomainResult, Violations, validate};

/// Refuses a filter with more than [`MAX_FILTER_ENTRIES`] entries.
pub(super) fn at_most(field: &str, entries: usize) -> DomainResult<()> {
    if entries > MAX_FILTER_ENTRIES {
        return Err(DomainError::invalid(
            field,
            format!("has {entries} entries; at most {MAX_FILTER_ENTRIES} are accepted in a filter"),
        ));
    }
    Ok(())
}

/// The aliases a version listing asks for; `latest` is computed, not held,
/// so it cannot be a filter.
pub(super) fn held_alias_filter(names: &[String]) -> DomainResult<Vec<AliasName>> {
    let mut v = Violations::default();
    let aliases: Vec<AliasName> = names
        .iter()
        .filter_map(|name| v.check(AliasName::movable("aliases", name)))
        .collect();
    v.finish()?;
    Ok(aliases)
}

pub(super) fn optional_filter_text(field: &str, value: String) -> DomainResult<Option<String>> {
    if value.is_empty() {
        return Ok(None);
    }
    validate::optional_text(field, &value, 256).map(Some)
}

pub(super) fn tag_keys(field: &str, keys: Vec<String>) -> DomainResult<Vec<String>> {
    let mut v = Violations::default();
    for key in &keys {
        v.check(validate::tag_key(field, key));
    }
    v.finish()?;
    Ok(keys)
}

pub(super) fn optional_description(description: Option<String>) -> DomainResult<Option<String>> {
    description
        .map(|d| validate::optional_text("description", &d, validate::MAX_DESCRIPTION_CHARS))
        .transpose()
}

pub(super) fn metric_gate(
    metric: String,
    min_delta: f64,
    lower_is_better: bool,
) -> DomainResult<Option<MetricGate>> {
    if metric.is_empty() {
        return Ok(None);
    }
    validate::metric_name("gate_metric", &metric)?;
    if !min_delta.is_finite() {
        return Err(DomainError::invalid(
            "gate_min_delta",
            "must be a finite number",
        ));
    }
    Ok(Some(MetricGate {
        metric,
        min_delta,
        lower_is_better,
    }))
}

/// `expected_current_version` on the wire: absent means no precondition,
/// 0 means "the alias does not exist", N means version N.
pub(super) fn expected_current(value: Option<i64>) -> DomainResult<ExpectedCurrent> {
    match value {
        None => Ok(None),
        Some(0) => Ok(Some(None)),
        Some(v) if v > 0 => Ok(Some(Some(v))),
        Some(v) => Err(DomainError::invalid(
            "expected_current_version",
            format!("must be 0 (the alias does not exist) or a version number, got {v}"),
        )),
    }
}
