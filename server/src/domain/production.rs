//! Production rules: who may become production, the compare-and-set and
//! metric gate of a promotion, and which version a rollback returns to.

use std::collections::BTreeMap;

use super::error::{DomainError, DomainResult};
use super::event::EventKind;
use super::status::VersionStatus;

/// A promotion's metric gate: the candidate must beat the current production
/// version on `metric` by at least `min_delta`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricGate {
    /// The metric compared.
    pub metric: String,
    /// The margin the candidate must win by (may be negative).
    pub min_delta: f64,
    /// Lower values are better (losses, errors).
    pub lower_is_better: bool,
}

/// The production version a caller expects, for compare-and-set.
/// `Some(None)` means "I expect there to be no production version".
pub type ExpectedCurrent = Option<Option<i64>>;

/// Refuses the change with ABORTED when the caller's view of the current
/// production version is stale.
pub fn check_expected_current(expected: ExpectedCurrent, current: Option<i64>) -> DomainResult<()> {
    match expected {
        Some(expected) if expected != current => Err(DomainError::Aborted(format!(
            "expected the current production version to be {}, but it is {}; \
             re-read it and decide again",
            describe(expected),
            describe(current)
        ))),
        _ => Ok(()),
    }
}

/// Only ACTIVE versions can be production.
pub fn check_promotable(version: i64, status: VersionStatus) -> DomainResult<()> {
    if status == VersionStatus::Active {
        Ok(())
    } else {
        Err(DomainError::FailedPrecondition(format!(
            "version {version} is {status}; only ACTIVE versions can be production \
             (reinstate it first with UpdateModelVersionStatus)"
        )))
    }
}

/// Applies the metric gate to a candidate, given the current production
/// version and its metrics (none: the gate passes).
pub fn check_gate(
    gate: Option<&MetricGate>,
    candidate: (i64, &BTreeMap<String, f64>),
    current: Option<(i64, &BTreeMap<String, f64>)>,
) -> DomainResult<()> {
    let (Some(gate), Some((current_version, current_metrics))) = (gate, current) else {
        return Ok(());
    };
    let (candidate_version, candidate_metrics) = candidate;
    let metric = gate.metric.as_str();
    let Some(&candidate_value) = candidate_metrics.get(metric) else {
        return Err(DomainError::FailedPrecondition(format!(
            "metric gate: version {candidate_version} has no metric {metric:?} to compare"
        )));
    };
    let Some(&current_value) = current_metrics.get(metric) else {
        return Err(DomainError::FailedPrecondition(format!(
            "metric gate: the production version {current_version} has no metric {metric:?} \
             to compare against; promote without the gate"
        )));
    };
    let (passes, required) = if gate.lower_is_better {
        let required = current_value - gate.min_delta;
        (candidate_value <= required, format!("at most {required}"))
    } else {
        let required = current_value + gate.min_delta;
        (candidate_value >= required, format!("at least {required}"))
    };
    if passes {
        Ok(())
    } else {
        Err(DomainError::FailedPrecondition(format!(
            "metric gate: version {candidate_version} has {metric} = {candidate_value}, but \
             {required} is needed (production version {current_version} has {current_value}, \
             min delta {})",
            gate.min_delta
        )))
    }
}

/// One production change read back from the event trail, oldest first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProductionChange {
    /// PRODUCTION_SET or PRODUCTION_ROLLED_BACK.
    pub kind: EventKind,
    /// The production version after the change.
    pub new_version: Option<i64>,
}

/// The version a rollback returns to: the one that held production before
/// `current`. Promotions push onto the history and rollbacks pop from it, so
/// repeated rollbacks walk further back instead of toggling.
pub fn rollback_target(history: &[ProductionChange], current: i64) -> DomainResult<i64> {
    let mut stack: Vec<i64> = Vec::new();
    for change in history {
        match (change.kind, change.new_version) {
            (EventKind::ProductionSet, Some(version)) => stack.push(version),
            (EventKind::ProductionRolledBack, Some(version)) => {
                stack.pop();
                if stack.last() != Some(&version) {
                    stack.push(version);
                }
            }
            _ => {}
        }
    }
    if stack.last() != Some(&current) {
        stack.push(current);
    }
    stack.pop();
    stack.pop().ok_or_else(|| {
        DomainError::FailedPrecondition(format!(
            "there is no earlier production version to roll back to (version {current} is \
             the first one promoted); promote a version explicitly instead"
        ))
    })
}

fn describe(version: Option<i64>) -> String {
    match version {
        Some(v) => format!("version {v}"),
        None => "none".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: i64) -> ProductionChange {
        ProductionChange {
            kind: EventKind::ProductionSet,
            new_version: Some(v),
        }
    }

    fn back(v: i64) -> ProductionChange {
        ProductionChange {
            kind: EventKind::ProductionRolledBack,
            new_version: Some(v),
        }
    }

    #[test]
    fn rollback_returns_to_the_previous_production_version() {
        assert_eq!(rollback_target(&[set(1), set(2), set(3)], 3), Ok(2));
    }

    #[test]
    fn repeated_rollbacks_walk_back_through_history() {
        assert_eq!(
            rollback_target(&[set(1), set(2), set(3), back(2)], 2),
            Ok(1)
        );
        let first_only = rollback_target(&[set(1), set(2), set(3), back(2), back(1)], 1);
        assert!(matches!(
            first_only,
            Err(DomainError::FailedPrecondition(_))
        ));
    }

    #[test]
    fn re_promoting_an_old_version_makes_the_interim_one_the_rollback_target() {
        assert_eq!(rollback_target(&[set(1), set(2), set(1)], 1), Ok(2));
    }

    #[test]
    fn compare_and_set_distinguishes_none_from_a_version() {
        assert!(check_expected_current(None, Some(3)).is_ok());
        assert!(check_expected_current(Some(Some(3)), Some(3)).is_ok());
        assert!(check_expected_current(Some(None), None).is_ok());
        assert!(matches!(
            check_expected_current(Some(None), Some(3)),
            Err(DomainError::Aborted(_))
        ));
        assert!(matches!(
            check_expected_current(Some(Some(2)), Some(3)),
            Err(DomainError::Aborted(_))
        ));
    }

    #[test]
    fn the_metric_gate_compares_against_production_plus_delta() {
        let gate = MetricGate {
            metric: "auc".into(),
            min_delta: 0.01,
            lower_is_better: false,
        };
        let prod = BTreeMap::from([("auc".to_owned(), 0.90)]);
        let better = BTreeMap::from([("auc".to_owned(), 0.92)]);
        let barely = BTreeMap::from([("auc".to_owned(), 0.905)]);
        assert!(check_gate(Some(&gate), (2, &better), Some((1, &prod))).is_ok());
        assert!(check_gate(Some(&gate), (2, &barely), Some((1, &prod))).is_err());
        assert!(check_gate(Some(&gate), (2, &barely), None).is_ok());
        assert!(check_gate(None, (2, &barely), Some((1, &prod))).is_ok());
        let missing = BTreeMap::new();
        assert!(check_gate(Some(&gate), (2, &missing), Some((1, &prod))).is_err());
    }

    #[test]
    fn a_lower_is_better_gate_wants_a_smaller_value() {
        let gate = MetricGate {
            metric: "loss".into(),
            min_delta: 0.1,
            lower_is_better: true,
        };
        let prod = BTreeMap::from([("loss".to_owned(), 1.0)]);
        let lower = BTreeMap::from([("loss".to_owned(), 0.8)]);
        let same = BTreeMap::from([("loss".to_owned(), 0.95)]);
        assert!(check_gate(Some(&gate), (2, &lower), Some((1, &prod))).is_ok());
        assert!(check_gate(Some(&gate), (2, &same), Some((1, &prod))).is_err());
    }
}
