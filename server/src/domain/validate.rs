//! Input rules: every limit and pattern a request must satisfy, each failure
//! an INVALID_ARGUMENT that names the request field and says how to fix it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::error::{DomainError, DomainResult, Violations};
use super::types::{Artifact, ModelName, NewVersion, Training};

/// Longest accepted URI (artifact, metadata file, dataset).
pub const MAX_URI_CHARS: usize = 2048;
/// Longest accepted description.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Longest accepted reason.
pub const MAX_REASON_CHARS: usize = 1024;
/// Most metrics on one version.
pub const MAX_METRICS: usize = 256;
/// Most hyperparameters on one version.
pub const MAX_PARAMS: usize = 256;
/// Most tags on one version.
pub const MAX_TAGS: usize = 64;
/// Most feature names on one version.
pub const MAX_FEATURE_NAMES: usize = 10_000;
/// Largest metadata object, serialised as JSON.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
/// Default page size of list calls.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page size of list calls.
pub const MAX_PAGE_SIZE: usize = 500;

/// Metrics whose values are fractions and must lie within [0, 1].
pub const UNIT_INTERVAL_METRICS: [&str; 5] = ["auc", "accuracy", "precision", "recall", "f1"];

/// A registration as received, before any rule is checked.
#[derive(Debug, Clone, Default)]
pub struct RegistrationInput {
    /// See `RegisterModelRequest.model_name`.
    pub model_name: String,
    /// See `RegisterModelRequest.algorithm`.
    pub algorithm: String,
    /// See `RegisterModelRequest.artifact`.
    pub artifact: Option<Artifact>,
    /// See `RegisterModelRequest.metrics`.
    pub metrics: BTreeMap<String, f64>,
    /// See `RegisterModelRequest.params`.
    pub params: BTreeMap<String, String>,
    /// See `RegisterModelRequest.tags`.
    pub tags: BTreeMap<String, String>,
    /// See `RegisterModelRequest.training`.
    pub training: Option<Training>,
    /// See `RegisterModelRequest.metadata`.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// See `RegisterModelRequest.description`.
    pub description: String,
}

impl RegistrationInput {
    /// Checks every rule of a registration and normalises what has a
    /// canonical form (lower-case sha256, derived duration and feature count).
    pub fn validate(self) -> DomainResult<NewVersion> {
        let mut v = Violations::default();
        let model_name = v.check(ModelName::parse("model_name", &self.model_name));
        let algorithm = v.check(required_text("algorithm", &self.algorithm, 128));
        let artifact = v.check(validate_artifact(self.artifact));
        let metrics = v.check(validate_metrics("metrics", self.metrics));
        let params = v.check(validate_params("params", self.params));
        let tags = v.check(validate_tags("tags", self.tags));
        let training = v.check(validate_training(self.training.unwrap_or_default()));
        v.check(validate_metadata(&self.metadata));
        let description = v.check(optional_text(
            "description",
            &self.description,
            MAX_DESCRIPTION_CHARS,
        ));
        let (
            Some(model_name),
            Some(algorithm),
            Some(artifact),
            Some(metrics),
            Some(params),
            Some(tags),
            Some(training),
            Some(description),
        ) = (
            model_name,
            algorithm,
            artifact,
            metrics,
            params,
            tags,
            training,
            description,
        )
        else {
            return Err(v.into_error());
        };
        v.finish()?;
        Ok(NewVersion {
            model_name,
            algorithm,
            artifact,
            metrics,
            params,
            tags,
            training,
            metadata: self.metadata,
            description,
            signature: None,
            unsigned_refusal: None,
        })
    }
}

/// Checks the metadata object: its size as JSON, and no NUL in any key or
/// string at any depth.
fn validate_metadata(metadata: &serde_json::Map<String, serde_json::Value>) -> DomainResult<()> {
    let bytes = serde_json::to_vec(metadata).map(|b| b.len()).unwrap_or(0);
    if bytes > MAX_METADATA_BYTES {
        return Err(DomainError::invalid(
            "metadata",
            format!(
                "is {bytes} bytes as JSON; at most {MAX_METADATA_BYTES} are accepted (store large \
                 documents beside the artifact and put their URI in artifact.metadata_uri)"
            ),
        ));
    }
    fn has_nul(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(has_nul),
            serde_json::Value::Object(map) => {
                map.iter().any(|(k, v)| k.contains('\0') || has_nul(v))
            }
            _ => false,
        }
    }
    if metadata.iter().any(|(k, v)| k.contains('\0') || has_nul(v)) {
        return Err(DomainError::invalid(
            "metadata",
            "must not contain NUL characters in keys or strings",
        ));
    }
    Ok(())
}

fn validate_artifact(artifact: Option<Artifact>) -> DomainResult<Artifact> {
    let Some(artifact) = artifact else {
        return Err(DomainError::invalid(
            "artifact",
            "is required: set artifact.uri to where the trained model is stored",
        ));
    };
    let uri = required_text("artifact.uri", &artifact.uri, MAX_URI_CHARS)?;
    let metadata_uri = optional_text(
        "artifact.metadata_uri",
        &artifact.metadata_uri,
        MAX_URI_CHARS,
    )?;
    let sha256 = artifact.sha256.to_ascii_lowercase();
    if !sha256.is_empty() && (sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(DomainError::invalid(
            "artifact.sha256",
            format!(
                "must be 64 hexadecimal characters (a SHA-256 digest), got {} characters",
                artifact.sha256.chars().count()
            ),
        ));
    }
    if artifact.size_bytes < 0 {
        return Err(DomainError::invalid(
            "artifact.size_bytes",
            "must not be negative (use 0 when unknown)",
        ));
    }
    Ok(Artifact {
        uri,
        metadata_uri,
        sha256,
        size_bytes: artifact.size_bytes,
    })
}

fn validate_training(training: Training) -> DomainResult<Training> {
    let Training {
        started_at,
        finished_at,
        mut duration_seconds,
        train_samples,
        test_samples,
        mut feature_count,
        feature_names,
        dataset_uri,
        code_version,
    } = training;
    if let (Some(started), Some(finished)) = (started_at, finished_at) {
        if finished < started {
            return Err(DomainError::invalid(
                "training.finished_at",
                format!("{finished} is before training.started_at {started}"),
            ));
        }
        if duration_seconds == 0.0 {
            duration_seconds = (finished - started).num_microseconds().unwrap_or(0) as f64 / 1e6;
        }
    }
    if !duration_seconds.is_finite() || duration_seconds < 0.0 {
        return Err(DomainError::invalid(
            "training.duration_seconds",
            "must be a finite, non-negative number of seconds",
        ));
    }
    non_negative("training.train_samples", train_samples)?;
    non_negative("training.test_samples", test_samples)?;
    non_negative("training.feature_count", feature_count)?;
    if feature_names.len() > MAX_FEATURE_NAMES {
        return Err(DomainError::invalid(
            "training.feature_names",
            format!(
                "has {} names; at most {MAX_FEATURE_NAMES} are accepted",
                feature_names.len()
            ),
        ));
    }
    for name in &feature_names {
        if name.is_empty() || name.chars().count() > 256 || name.contains('\0') {
            return Err(DomainError::invalid(
                "training.feature_names",
                "each name must be 1 to 256 characters, without NUL",
            ));
        }
    }
    let named = feature_names.len() as i64;
    if named > 0 {
        if feature_count == 0 {
            feature_count = named;
        } else if feature_count != named {
            return Err(DomainError::invalid(
                "training.feature_count",
                format!("is {feature_count} but training.feature_names lists {named} names"),
            ));
        }
    }
    Ok(Training {
        started_at,
        finished_at,
        duration_seconds,
        train_samples,
        test_samples,
        feature_count,
        feature_names,
        dataset_uri: optional_text("training.dataset_uri", &dataset_uri, MAX_URI_CHARS)?,
        code_version: optional_text("training.code_version", &code_version, 256)?,
    })
}

/// Checks a map of metrics: names, finiteness, the unit interval of the
/// well-known ones, and the count.
pub fn validate_metrics(
    field: &str,
    metrics: BTreeMap<String, f64>,
) -> DomainResult<BTreeMap<String, f64>> {
    if metrics.len() > MAX_METRICS {
        return Err(DomainError::invalid(
            field,
            format!(
                "has {} entries; at most {MAX_METRICS} are accepted",
                metrics.len()
            ),
        ));
    }
    let mut v = Violations::default();
    for (name, &value) in &metrics {
        v.check(metric_name(field, name));
        if !value.is_finite() {
            v.add(
                format!("{field}[{name}]"),
                format!("must be a finite number, got {value}"),
            );
        } else if UNIT_INTERVAL_METRICS.contains(&name.as_str()) && !(0.0..=1.0).contains(&value) {
            v.add(
                format!("{field}[{name}]"),
                format!("must be within [0, 1], got {value}"),
            );
        }
    }
    v.finish()?;
    Ok(metrics)
}

/// Checks a metric name: `^[a-z0-9][a-z0-9_./-]{0,127}$`.
pub fn metric_name(field: &str, name: &str) -> DomainResult<()> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'/' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!(
                "metric name {name:?} is not valid: use 1 to 128 characters of a-z, 0-9, \
                 '_', '.', '/' and '-', starting with a letter or digit (for example \"auc\")"
            ),
        ))
    }
}

fn validate_params(
    field: &str,
    params: BTreeMap<String, String>,
) -> DomainResult<BTreeMap<String, String>> {
    if params.len() > MAX_PARAMS {
        return Err(DomainError::invalid(
            field,
            format!(
                "has {} entries; at most {MAX_PARAMS} are accepted",
                params.len()
            ),
        ));
    }
    let mut v = Violations::default();
    for (key, value) in &params {
        if key.is_empty() || key.chars().count() > 128 || key.contains('\0') {
            v.add(
                field,
                format!("key {key:?} must be 1 to 128 characters, without NUL"),
            );
        }
        if value.chars().count() > 4096 || value.contains('\0') {
            v.add(
                format!("{field}[{key}]"),
                "must be at most 4096 characters, without NUL",
            );
        }
    }
    v.finish()?;
    Ok(params)
}

/// Checks a map of tags: key pattern, value length and count.
pub fn validate_tags(
    field: &str,
    tags: BTreeMap<String, String>,
) -> DomainResult<BTreeMap<String, String>> {
    if tags.len() > MAX_TAGS {
        return Err(DomainError::invalid(
            field,
            format!(
                "has {} entries; at most {MAX_TAGS} are accepted",
                tags.len()
            ),
        ));
    }
    let mut v = Violations::default();
    for (key, value) in &tags {
        v.check(tag_key(field, key));
        if value.chars().count() > 256 || value.contains('\0') {
            v.add(
                format!("{field}[{key}]"),
                "must be at most 256 characters, without NUL",
            );
        }
    }
    v.finish()?;
    Ok(tags)
}

/// Checks a tag key: `^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$`.
pub fn tag_key(field: &str, key: &str) -> DomainResult<()> {
    let bytes = key.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!(
                "tag key {key:?} is not valid: use 1 to 128 characters of letters, digits, \
                 '_', '.', ':', '/' and '-', starting with a letter or digit"
            ),
        ))
    }
}

/// A required reason for a state change.
pub fn reason(value: &str) -> DomainResult<String> {
    let reason = required_text("reason", value, MAX_REASON_CHARS)?;
    if reason.trim().is_empty() {
        return Err(DomainError::invalid(
            "reason",
            "is required: say why this change is made",
        ));
    }
    Ok(reason)
}

/// A non-empty text of at most `max_chars` characters.
pub fn required_text(field: &str, value: &str, max_chars: usize) -> DomainResult<String> {
    if value.is_empty() {
        return Err(DomainError::invalid(field, "is required"));
    }
    optional_text(field, value, max_chars)
}

/// A possibly empty text of at most `max_chars` characters, without NUL
/// (which PostgreSQL cannot store).
pub fn optional_text(field: &str, value: &str, max_chars: usize) -> DomainResult<String> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(DomainError::invalid(
            field,
            format!("is {chars} characters long; at most {max_chars} are accepted"),
        ));
    }
    if value.contains('\0') {
        return Err(DomainError::invalid(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(value.to_owned())
}

/// An idempotency key: empty means none; otherwise 1 to 128 printable
/// characters.
pub fn request_id(value: &str) -> DomainResult<Option<String>> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > 128 || value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "request_id",
            "must be 1 to 128 printable characters (for example a UUID)",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// A positive version number.
pub fn version_number(field: &str, version: i64) -> DomainResult<i64> {
    if version >= 1 {
        Ok(version)
    } else {
        Err(DomainError::invalid(
            field,
            format!("must be a version number (1 or more), got {version}"),
        ))
    }
}

/// A page size: 0 means the default, negative or too large is refused.
pub fn page_size(value: i32) -> DomainResult<usize> {
    match value {
        0 => Ok(DEFAULT_PAGE_SIZE),
        v if v < 0 => Err(DomainError::invalid("page_size", "must not be negative")),
        v if v as usize > MAX_PAGE_SIZE => Err(DomainError::invalid(
            "page_size",
            format!("is {v}; at most {MAX_PAGE_SIZE} are returned per page"),
        )),
        v => Ok(v as usize),
    }
}

/// A time range whose `from` is not after `until`.
pub fn time_range(
    fields: (&str, &str),
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> DomainResult<()> {
    match (from, until) {
        (Some(from), Some(until)) if from > until => Err(DomainError::invalid(
            fields.1,
            format!("{until} is before {} {from}", fields.0),
        )),
        _ => Ok(()),
    }
}

fn non_negative(field: &str, value: i64) -> DomainResult<()> {
    if value < 0 {
        Err(DomainError::invalid(
            field,
            format!("must not be negative, got {value}"),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> RegistrationInput {
        RegistrationInput {
            model_name: "churn".into(),
            algorithm: "XGBoost".into(),
            artifact: Some(Artifact {
                uri: "s3://models/churn.pkl".into(),
                ..Artifact::default()
            }),
            ..RegistrationInput::default()
        }
    }

    fn field_of(result: DomainResult<NewVersion>) -> String {
        match result {
            Err(error @ DomainError::InvalidArgument(_)) => error.invalid_fields().join(", "),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn every_invalid_field_is_named_at_once() {
        let input = RegistrationInput {
            model_name: "Bad Name".into(),
            algorithm: String::new(),
            metrics: BTreeMap::from([("auc".to_owned(), 2.0), ("f1".to_owned(), f64::NAN)]),
            tags: BTreeMap::from([("team".to_owned(), "a\0b".to_owned())]),
            description: "x".repeat(5000),
            ..minimal()
        };
        assert_eq!(
            field_of(input.validate()),
            "model_name, algorithm, metrics[auc], metrics[f1], tags[team], description"
        );
    }

    #[test]
    fn nul_is_refused_in_every_string_even_deep_in_metadata() {
        let deep = serde_json::json!({"a": {"b": ["ok", "no\0pe"]}});
        let input = RegistrationInput {
            metadata: deep.as_object().cloned().unwrap(),
            ..minimal()
        };
        assert_eq!(field_of(input.validate()), "metadata");
        let input = RegistrationInput {
            params: BTreeMap::from([("depth".to_owned(), "6\0".to_owned())]),
            ..minimal()
        };
        assert_eq!(field_of(input.validate()), "params[depth]");
    }

    #[test]
    fn a_minimal_registration_is_valid() {
        let new = minimal().validate().unwrap();
        assert_eq!(new.model_name.as_str(), "churn");
    }

    #[test]
    fn bad_model_names_are_refused_naming_the_field() {
        for bad in ["", "Churn", "-churn", "churn model", &"a".repeat(129)] {
            let input = RegistrationInput {
                model_name: bad.to_owned(),
                ..minimal()
            };
            assert_eq!(field_of(input.validate()), "model_name", "{bad:?}");
        }
    }

    #[test]
    fn well_known_metrics_must_be_fractions_and_all_must_be_finite() {
        for (name, value) in [
            ("auc", 1.5),
            ("f1", -0.1),
            ("loss", f64::NAN),
            ("rmse", f64::INFINITY),
        ] {
            let input = RegistrationInput {
                metrics: BTreeMap::from([(name.to_owned(), value)]),
                ..minimal()
            };
            assert_eq!(field_of(input.validate()), format!("metrics[{name}]"));
        }
        let fine = RegistrationInput {
            metrics: BTreeMap::from([("auc".to_owned(), 1.0), ("loss".to_owned(), 12.5)]),
            ..minimal()
        };
        assert!(fine.validate().is_ok());
    }

    #[test]
    fn sha256_must_be_64_hex_characters_and_is_stored_lower_case() {
        let mut input = minimal();
        input.artifact.as_mut().unwrap().sha256 = "AB".repeat(32);
        assert_eq!(input.validate().unwrap().artifact.sha256, "ab".repeat(32));
        let mut input = minimal();
        input.artifact.as_mut().unwrap().sha256 = "xyz".into();
        assert_eq!(field_of(input.validate()), "artifact.sha256");
    }

    #[test]
    fn training_facts_are_checked_and_completed() {
        let started = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let finished = DateTime::from_timestamp(1_700_000_090, 500_000_000).unwrap();
        let input = RegistrationInput {
            training: Some(Training {
                started_at: Some(started),
                finished_at: Some(finished),
                feature_names: vec!["tenure".into(), "monthly_charges".into()],
                ..Training::default()
            }),
            ..minimal()
        };
        let training = input.validate().unwrap().training;
        assert_eq!(training.duration_seconds, 90.5);
        assert_eq!(training.feature_count, 2);

        let backwards = RegistrationInput {
            training: Some(Training {
                started_at: Some(finished),
                finished_at: Some(started),
                ..Training::default()
            }),
            ..minimal()
        };
        assert_eq!(field_of(backwards.validate()), "training.finished_at");
    }

    #[test]
    fn a_missing_artifact_or_algorithm_is_named() {
        let input = RegistrationInput {
            artifact: None,
            ..minimal()
        };
        assert_eq!(field_of(input.validate()), "artifact");
        let input = RegistrationInput {
            algorithm: String::new(),
            ..minimal()
        };
        assert_eq!(field_of(input.validate()), "algorithm");
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(7), Ok(7));
        assert!(page_size(-1).is_err());
        assert!(page_size(501).is_err());
    }
}

#[cfg(test)]
mod readme_limits {
    //! The README's limits table states the limits this module enforces.

    use super::*;

    const README: &str = include_str!("../../../README.md");

    fn row(what: &str) -> &'static str {
        README
            .lines()
            .find(|line| line.starts_with(&format!("| {what} |")))
            .unwrap_or_else(|| panic!("the README's limits table has no row for {what}"))
    }

    #[test]
    fn the_readme_limits_table_matches_the_code() {
        for (what, limit) in [
            ("metrics per version", MAX_METRICS),
            ("params per version", MAX_PARAMS),
            ("tags per version or model", MAX_TAGS),
            ("feature names", MAX_FEATURE_NAMES),
            ("metadata", MAX_METADATA_BYTES),
            ("description", MAX_DESCRIPTION_CHARS),
            ("reason", MAX_REASON_CHARS),
            ("artifact, metadata and dataset URIs", MAX_URI_CHARS),
        ] {
            assert!(
                row(what).contains(&format!("| {limit}")),
                "{what}: the README should say {limit}: {}",
                row(what)
            );
        }
        assert!(row("page size").contains(&format!("default {DEFAULT_PAGE_SIZE}")));
        assert!(row("page size").contains(&format!("at most {MAX_PAGE_SIZE} items")));
    }
}
