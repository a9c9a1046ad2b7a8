//! Alias rules, one code path for every alias (`production` is one of them):
//! names, who may hold an alias, compare-and-set, the metric gate, and the
//! rollback chain that lets an alias walk back through its own history.

use std::collections::BTreeMap;
use std::fmt;

use super::error::{DomainError, DomainResult};
use super::status::VersionStatus;

/// A validated alias name: `^[a-z][a-z0-9_-]{0,62}$`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct AliasName(String);

/// Reads a stored alias name (in a JSON column), checked like any other.
impl TryFrom<String> for AliasName {
    type Error = DomainError;

    fn try_from(name: String) -> DomainResult<Self> {
        Self::parse("alias", &name)
    }
}

impl AliasName {
    /// The alias the production RPCs use.
    pub const PRODUCTION: &'static str = "production";
    /// The read-only alias every model has: its highest ACTIVE version.
    pub const LATEST: &'static str = "latest";

    /// Checks `name` against the alias pattern; `field` names the request
    /// field in the error. `latest` is accepted (for reads).
    pub fn parse(field: &str, name: &str) -> DomainResult<Self> {
        if name.is_empty() {
            return Err(DomainError::invalid(field, "is required"));
        }
        let bytes = name.as_bytes();
        let valid = bytes.len() <= 63
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'));
        if !valid {
            return Err(DomainError::invalid(
                field,
                format!(
                    "{name:?} is not a valid alias: use 1 to 63 characters of a-z, 0-9, '_' and \
                     '-', starting with a letter (for example \"canary\")"
                ),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// An alias that can be moved, deleted or rolled back: any but `latest`.
    pub fn movable(field: &str, name: &str) -> DomainResult<Self> {
        let alias = Self::parse(field, name)?;
        if alias.is_latest() {
            return Err(DomainError::invalid(
                field,
                "`latest` is read-only: it always points at the model's highest ACTIVE version",
            ));
        }
        Ok(alias)
    }

    /// The `production` alias.
    pub fn production() -> Self {
        Self(Self::PRODUCTION.to_owned())
    }

    /// Whether this is the read-only `latest`.
    pub fn is_latest(&self) -> bool {
        self.0 == Self::LATEST
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Debug-formats as the quoted name, so messages read `alias "canary"`.
impl fmt::Debug for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A move's metric gate: the candidate must beat the alias's current
/// version on `metric` by at least `min_delta`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricGate {
    /// The metric compared.
    pub metric: String,
    /// The margin the candidate must win by (may be negative).
    pub min_delta: f64,
    /// Lower values are better (losses, errors).
    pub lower_is_better: bool,
}

/// The version a caller expects an alias to point at, for compare-and-set.
/// `Some(None)` means "I expect the alias not to exist".
pub type ExpectedCurrent = Option<Option<i64>>;

/// How a precondition enters a request's fingerprint: none as `null` (so
/// requests from before it existed match), "the alias must not exist" as
/// `"must_not_exist"`, a version as its number. Serialised as `Option`
/// would make the first two alike, and a retry adding the precondition
/// would be replayed instead of refused. (A key first used, before this
/// distinction, with "must not exist" is refused on a retry across the
/// upgrade, as ALREADY_EXISTS: the safe side.)
pub fn fingerprint_expected_current<S: serde::Serializer>(
    expected: &ExpectedCurrent,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match expected {
        None => serializer.serialize_none(),
        Some(None) => serializer.serialize_str("must_not_exist"),
        Some(Some(version)) => serializer.serialize_i64(*version),
    }
}

/// Refuses the change with ABORTED when the caller's view of the alias is
/// stale.
pub fn check_expected_current(
    alias: &AliasName,
    expected: ExpectedCurrent,
    current: Option<i64>,
) -> DomainResult<()> {
    match expected {
        Some(expected) if expected != current => Err(DomainError::Aborted(format!(
            "expected alias {alias:?} to point at {}, but it points at {}; re-read it and \
             decide again",
            describe(expected),
            describe(current)
        ))),
        _ => Ok(()),
    }
}

/// Only ACTIVE versions can hold an alias.
pub fn check_holdable(alias: &AliasName, version: i64, status: VersionStatus) -> DomainResult<()> {
    if status == VersionStatus::Active {
        Ok(())
    } else {
        Err(DomainError::FailedPrecondition(format!(
            "version {version} is {status}; only ACTIVE versions can hold alias {alias:?} \
             (reinstate it first with UpdateModelVersionStatus)"
        )))
    }
}

/// Applies the metric gate to a candidate, given the alias's current version
/// and its metrics (none: the gate passes).
pub fn check_gate(
    alias: &AliasName,
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
            "metric gate: version {current_version}, which holds alias {alias:?}, has no metric \
             {metric:?} to compare against; move the alias without the gate"
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
             {required} is needed (version {current_version}, which holds alias {alias:?}, has \
             {current_value}; min delta {})",
            gate.min_delta
        )))
    }
}

/// One alias event as the rollback chain sees it.
///
/// Every alias event records where a rollback issued right after it would
/// return (`rollback_event_id`): a move points at the event that set the
/// version it replaced; a rollback inherits the pointer of the event it
/// returned to; a deletion points at the event that set the deleted
/// version. Following the chain walks back through the alias's own history
/// (repeated rollbacks go further back instead of toggling), reading two
/// rows per rollback however long the history is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AliasEntry {
    /// The event's id.
    pub event_id: i64,
    /// The version the alias points at after the event (`None`: deleted).
    pub version: Option<i64>,
    /// Where a rollback right after this event returns.
    pub rollback_event_id: Option<i64>,
}

/// The rollback pointer of a move, given the alias's latest event before it.
pub fn rollback_pointer_of_move(latest: Option<&AliasEntry>) -> Option<i64> {
    match latest {
        None => None,
        Some(entry) if entry.version.is_some() => Some(entry.event_id),
        // After a deletion, a rollback returns past it, to the deleted version.
        Some(entry) => entry.rollback_event_id,
    }
}

/// The rollback pointer of a deletion of the alias whose latest event is
/// `latest`.
pub fn rollback_pointer_of_deletion(latest: &AliasEntry) -> Option<i64> {
    Some(latest.event_id)
}

/// The event whose version a rollback returns to, given the alias's latest
/// event; FAILED_PRECONDITION when there is nothing to return to.
pub fn rollback_source(alias: &AliasName, latest: Option<&AliasEntry>) -> DomainResult<i64> {
    let current = latest.and_then(|entry| entry.version.map(|version| (entry, version)));
    let Some((entry, version)) = current else {
        return Err(DomainError::FailedPrecondition(format!(
            "alias {alias:?} points at no version, so there is nothing to roll back; set it \
             with SetModelAlias"
        )));
    };
    entry.rollback_event_id.ok_or_else(|| {
        DomainError::FailedPrecondition(format!(
            "alias {alias:?} has no earlier version to roll back to (version {version} is the \
             first it pointed at); set a version explicitly instead"
        ))
    })
}

fn describe(version: Option<i64>) -> String {
    match version {
        Some(v) => format!("version {v}"),
        None => "no version".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory alias history that applies the chain rules the store
    /// applies, for checking where rollbacks go.
    #[derive(Default)]
    struct History(Vec<AliasEntry>);

    impl History {
        fn latest(&self) -> Option<&AliasEntry> {
            self.0.last()
        }

        fn entry(&self, id: i64) -> AliasEntry {
            self.0[(id - 1) as usize]
        }

        fn push(&mut self, version: Option<i64>, rollback_event_id: Option<i64>) {
            let event_id = self.0.len() as i64 + 1;
            self.0.push(AliasEntry {
                event_id,
                version,
                rollback_event_id,
            });
        }

        fn set(&mut self, version: i64) -> &mut Self {
            let pointer = rollback_pointer_of_move(self.latest());
            self.push(Some(version), pointer);
            self
        }

        fn delete(&mut self) -> &mut Self {
            let pointer = rollback_pointer_of_deletion(self.latest().unwrap());
            self.push(None, pointer);
            self
        }

        fn rollback(&mut self) -> DomainResult<i64> {
            let source = self.entry(rollback_source(&AliasName::production(), self.latest())?);
            self.push(source.version, source.rollback_event_id);
            Ok(source.version.unwrap())
        }
    }

    #[test]
    fn rollback_returns_to_the_previous_version() {
        assert_eq!(History::default().set(1).set(2).set(3).rollback(), Ok(2));
    }

    #[test]
    fn repeated_rollbacks_walk_back_through_history() {
        let mut history = History::default();
        history.set(1).set(2).set(3);
        assert_eq!(history.rollback(), Ok(2));
        assert_eq!(history.rollback(), Ok(1));
        assert!(matches!(
            history.rollback(),
            Err(DomainError::FailedPrecondition(_))
        ));
    }

    #[test]
    fn re_pointing_at_an_old_version_makes_the_interim_one_the_rollback_target() {
        let mut history = History::default();
        history.set(1).set(2).set(1);
        assert_eq!(history.rollback(), Ok(2));
        assert_eq!(history.rollback(), Ok(1));
    }

    #[test]
    fn a_move_after_a_rollback_returns_to_the_rolled_back_to_version() {
        let mut history = History::default();
        history.set(1).set(2);
        assert_eq!(history.rollback(), Ok(1));
        history.set(3);
        assert_eq!(history.rollback(), Ok(1));
        assert!(history.rollback().is_err());
    }

    #[test]
    fn a_deleted_alias_cannot_roll_back_but_a_new_move_returns_past_the_deletion() {
        let mut history = History::default();
        history.set(1).set(2).delete();
        assert!(matches!(
            history.rollback(),
            Err(DomainError::FailedPrecondition(_))
        ));
        history.set(5);
        assert_eq!(history.rollback(), Ok(2));
        assert_eq!(history.rollback(), Ok(1));
    }

    #[test]
    fn an_alias_that_never_moved_has_nothing_to_roll_back() {
        assert!(History::default().rollback().is_err());
        assert!(History::default().set(4).rollback().is_err());
    }

    #[test]
    fn alias_names_follow_the_pattern_and_latest_is_read_only() {
        for good in ["production", "canary", "a", "shadow-2", "ab_c"] {
            assert!(AliasName::movable("alias", good).is_ok(), "{good}");
        }
        for bad in ["", "Prod", "1st", "-x", "with space", &"a".repeat(64)] {
            assert!(AliasName::parse("alias", bad).is_err(), "{bad:?}");
        }
        assert!(AliasName::parse("alias", "latest").unwrap().is_latest());
        assert!(matches!(
            AliasName::movable("alias", "latest"),
            Err(error) if error.invalid_fields() == ["alias"]
        ));
    }

    #[test]
    fn compare_and_set_distinguishes_none_from_a_version() {
        let alias = AliasName::production();
        assert!(check_expected_current(&alias, None, Some(3)).is_ok());
        assert!(check_expected_current(&alias, Some(Some(3)), Some(3)).is_ok());
        assert!(check_expected_current(&alias, Some(None), None).is_ok());
        assert!(matches!(
            check_expected_current(&alias, Some(None), Some(3)),
            Err(DomainError::Aborted(_))
        ));
        assert!(matches!(
            check_expected_current(&alias, Some(Some(2)), Some(3)),
            Err(DomainError::Aborted(_))
        ));
    }

    #[test]
    fn the_metric_gate_compares_against_the_current_version_plus_delta() {
        let alias = AliasName::production();
        let gate = MetricGate {
            metric: "auc".into(),
            min_delta: 0.01,
            lower_is_better: false,
        };
        let current = BTreeMap::from([("auc".to_owned(), 0.90)]);
        let better = BTreeMap::from([("auc".to_owned(), 0.92)]);
        let barely = BTreeMap::from([("auc".to_owned(), 0.905)]);
        assert!(check_gate(&alias, Some(&gate), (2, &better), Some((1, &current))).is_ok());
        assert!(check_gate(&alias, Some(&gate), (2, &barely), Some((1, &current))).is_err());
        assert!(check_gate(&alias, Some(&gate), (2, &barely), None).is_ok());
        assert!(check_gate(&alias, None, (2, &barely), Some((1, &current))).is_ok());
        let missing = BTreeMap::new();
        assert!(check_gate(&alias, Some(&gate), (2, &missing), Some((1, &current))).is_err());
    }

    #[test]
    fn a_lower_is_better_gate_wants_a_smaller_value() {
        let alias = AliasName::production();
        let gate = MetricGate {
            metric: "loss".into(),
            min_delta: 0.1,
            lower_is_better: true,
        };
        let current = BTreeMap::from([("loss".to_owned(), 1.0)]);
        let lower = BTreeMap::from([("loss".to_owned(), 0.8)]);
        let same = BTreeMap::from([("loss".to_owned(), 0.95)]);
        assert!(check_gate(&alias, Some(&gate), (2, &lower), Some((1, &current))).is_ok());
        assert!(check_gate(&alias, Some(&gate), (2, &same), Some((1, &current))).is_err());
    }
}
