//! Idempotent changes. A change may carry a request id (scoped to the
//! caller's principal); the first call records a fingerprint of its
//! validated request (field -> SHA-256 of the field's canonical JSON) and
//! what it returned. A retry with the same id and the same request gets the
//! same answer and changes nothing; the same id with a different request is
//! refused with ALREADY_EXISTS naming the fields that differ.
//!
//! Adding a field to a command (a new proto field) and retries that span
//! the upgrade: a fingerprint stored before the field existed lacks it. A
//! field present on one side only is a difference only when it holds a
//! value a request sets on purpose; left unset (null, "", 0, false, [], {})
//! it matches its absence. So a new field needs no version bump and no
//! migration of stored keys, and a retry that newly sets it is still told
//! it differs. Renaming a field is not safe this way: add the new name,
//! keep reading the old one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{DomainError, DomainResult};

/// The fields of a request, each reduced to a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(BTreeMap<String, String>);

impl Fingerprint {
    /// The fingerprint of `request` (a validated command) made through
    /// `method`; the method is a field too, so one id cannot serve two
    /// different kinds of change.
    pub fn of(method: &str, request: &impl Serialize) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert("method".to_owned(), digest(&serde_json::json!(method)));
        if let Ok(serde_json::Value::Object(object)) = serde_json::to_value(request) {
            for (field, value) in object {
                fields.insert(field, digest(&value));
            }
        }
        Self(fields)
    }

    /// Refuses a request whose fingerprint differs from the one `request_id`
    /// was first used with, naming the fields that differ (a field only one
    /// side has differs only when it is set: see the module's note).
    pub fn check_same_as(&self, first: &Fingerprint, request_id: &str) -> DomainResult<()> {
        let unset = unset_digests();
        let differs =
            |field: &String, digest: &String, other: &Fingerprint| match other.0.get(field) {
                Some(theirs) => theirs != digest,
                None => !unset.contains(digest),
            };
        let mut differing: Vec<&str> = self
            .0
            .iter()
            .filter(|(field, digest)| differs(field, digest, first))
            .chain(first.0.iter().filter(|(field, digest)| {
                !self.0.contains_key(*field) && differs(field, digest, self)
            }))
            .map(|(field, _)| field.as_str())
            .collect();
        differing.sort_unstable();
        differing.dedup();
        if differing.is_empty() {
            return Ok(());
        }
        Err(DomainError::AlreadyExists(format!(
            "request_id {request_id:?} was already used for a different request (it differs in {}); \
             use a new request_id for a new change, and the same one only to retry",
            differing.join(", ")
        )))
    }

    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// Reads the stored form.
    pub fn from_json(json: &str) -> DomainResult<Self> {
        serde_json::from_str(json)
            .map(Self)
            .map_err(|e| DomainError::Internal(format!("stored request fingerprint: {e}")))
    }
}

/// The digests of the values an unset field serialises to.
fn unset_digests() -> [String; 7] {
    use serde_json::json;
    [
        json!(null),
        json!(""),
        json!(0),
        json!(0.0),
        json!(false),
        json!([]),
        json!({}),
    ]
    .map(|value| digest(&value))
}

/// What a change returned, by reference, so that a retry answers the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A version (registered, or changed).
    Version {
        /// Its id.
        id: String,
    },
    /// An alias moved (or rolled back) to a version.
    AliasMoved {
        /// The version's id.
        version_id: String,
        /// The version the alias pointed at before.
        previous: Option<i64>,
        /// Whether the alias already pointed there.
        unchanged: bool,
    },
    /// An alias was deleted.
    AliasDeleted {
        /// The version it pointed at.
        previous: i64,
    },
    /// A model was changed.
    Model {
        /// Its name.
        name: String,
    },
    /// An alias's policy was set.
    Policy {
        /// Its model's name.
        model: String,
        /// The alias.
        alias: String,
    },
    /// A policy was set on a model-name prefix.
    PrefixPolicy {
        /// The prefix.
        prefix: String,
        /// The alias.
        alias: String,
    },
    /// An alias's policy was removed.
    PolicyDeleted {
        /// The revision removed.
        revision: i64,
    },
    /// A change request was made or decided.
    ChangeRequest {
        /// Its id.
        id: i64,
    },
    /// An alias or a version was frozen (its row names it).
    Frozen {
        /// The model.
        model: String,
        /// The alias ('' for a version).
        alias: String,
        /// The version (0 for an alias).
        version: i64,
    },
    /// A freeze ended.
    Unfrozen,
    /// A webhook subscription was created or resumed.
    Webhook {
        /// Its id.
        id: i64,
    },
    /// A webhook subscription was deleted.
    WebhookDeleted,
    /// A webhook subscription's secret was rotated: the secret the answer
    /// showed, shown again to a retry.
    WebhookSecretRotated {
        /// The subscription.
        id: i64,
        /// The new secret's text.
        secret: String,
    },
}

impl Outcome {
    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the stored form.
    pub fn from_json(json: &str) -> DomainResult<Self> {
        serde_json::from_str(json)
            .map_err(|e| DomainError::Internal(format!("stored request outcome: {e}")))
    }
}

fn digest(value: &serde_json::Value) -> String {
    // serde_json writes object keys in sorted order (no preserve_order
    // feature), so equal values have equal text.
    let text = serde_json::to_string(value).unwrap_or_default();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Move {
        model_name: &'static str,
        alias: &'static str,
        version: i64,
    }

    #[test]
    fn the_same_request_matches_and_a_different_one_names_its_fields() {
        let first = Fingerprint::of(
            "SetModelAlias",
            &Move {
                model_name: "churn",
                alias: "canary",
                version: 2,
            },
        );
        let again = Fingerprint::of(
            "SetModelAlias",
            &Move {
                model_name: "churn",
                alias: "canary",
                version: 2,
            },
        );
        assert!(again.check_same_as(&first, "r1").is_ok());
        let other = Fingerprint::of(
            "SetModelAlias",
            &Move {
                model_name: "churn",
                alias: "staging",
                version: 3,
            },
        );
        let refused = other.check_same_as(&first, "r1").unwrap_err();
        assert!(
            matches!(&refused, DomainError::AlreadyExists(m) if m.contains("differs in alias, version")),
            "{refused}"
        );
        let other_method = Fingerprint::of(
            "RollbackModelAlias",
            &Move {
                model_name: "churn",
                alias: "canary",
                version: 2,
            },
        );
        assert!(
            other_method
                .check_same_as(&first, "r1")
                .unwrap_err()
                .to_string()
                .contains("method")
        );
    }

    #[test]
    fn a_field_added_by_an_upgrade_matches_its_absence_until_it_is_set() {
        #[derive(Serialize)]
        struct MoveWithNote {
            model_name: &'static str,
            alias: &'static str,
            version: i64,
            note: &'static str,
        }
        // Stored by the release before `note` existed.
        let before_upgrade = Fingerprint::of(
            "SetModelAlias",
            &Move {
                model_name: "churn",
                alias: "canary",
                version: 2,
            },
        );
        let retry = |note| {
            Fingerprint::of(
                "SetModelAlias",
                &MoveWithNote {
                    model_name: "churn",
                    alias: "canary",
                    version: 2,
                    note,
                },
            )
        };
        assert!(retry("").check_same_as(&before_upgrade, "r1").is_ok());
        assert!(
            before_upgrade.check_same_as(&retry(""), "r1").is_ok(),
            "and after a downgrade"
        );
        let refused = retry("new")
            .check_same_as(&before_upgrade, "r1")
            .unwrap_err();
        assert!(refused.to_string().contains("differs in note"), "{refused}");
    }

    #[test]
    fn fingerprints_and_outcomes_survive_storage() {
        let first = Fingerprint::of(
            "X",
            &Move {
                model_name: "a",
                alias: "b",
                version: 1,
            },
        );
        assert_eq!(Fingerprint::from_json(&first.to_json()).unwrap(), first);
        let outcome = Outcome::AliasMoved {
            version_id: "v".into(),
            previous: None,
            unchanged: false,
        };
        assert_eq!(Outcome::from_json(&outcome.to_json()).unwrap(), outcome);
    }
}
