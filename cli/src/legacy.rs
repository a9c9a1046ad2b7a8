//! Reads the metadata JSON file the old training scripts wrote beside each
//! model, so a shell training job can register with `--from-json FILE`.
//! Recognised keys (all optional, first match wins):
//!
//! | registration field | keys |
//! |---|---|
//! | algorithm | `algorithm`, `model_name`, `model_type` |
//! | artifact | `model_file_path`, `model_path`, `artifact_uri` |
//! | metrics | a `metrics` object, and top-level `auc`/`auc_score`, `accuracy`, `precision`, `recall`, `f1`/`f1_score` |
//! | params | `params`, `hyperparameters` |
//! | training end | `training_date`, `trained_at`, `finished_at` (RFC 3339 or `YYYY-MM-DD HH:MM:SS`, UTC) |
//! | duration | `training_duration_seconds`, `training_duration` |
//! | samples | `train_samples`, `training_samples`; `test_samples` |
//! | features | `feature_names`, `features` (a list); `feature_count`, `n_features` |
//!
//! The whole document is stored as the version's `metadata`, and the file's
//! path as `artifact.metadata_uri`.

use std::path::Path;

use chrono::{NaiveDateTime, TimeZone, Utc};
use model_registry_client::{Error, RegisterModel};
use serde_json::{Map, Value};

/// What the metadata file supplies, before command-line flags override it.
pub struct LegacyMetadata {
    pub algorithm: Option<String>,
    pub artifact_path: Option<String>,
    apply: Box<dyn FnOnce(RegisterModel) -> Result<RegisterModel, Error>>,
}

impl LegacyMetadata {
    /// Reads and interprets the file at `path`.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::File {
            path: path.display().to_string(),
            source,
        })?;
        let document: Value = serde_json::from_str(&text).map_err(|e| {
            Error::InvalidInput(format!("{} is not valid JSON: {e}", path.display()))
        })?;
        let Value::Object(object) = document else {
            return Err(Error::InvalidInput(format!(
                "{} must hold a JSON object",
                path.display()
            )));
        };
        let text_of = |keys: &[&str]| {
            first(&object, keys)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let algorithm = text_of(&["algorithm", "model_name", "model_type"]);
        let artifact_path = text_of(&["model_file_path", "model_path", "artifact_uri"]);
        let metadata_uri = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let apply = move |mut registration: RegisterModel| {
            if let Some(Value::Object(metrics)) = object.get("metrics") {
                for (name, value) in metrics {
                    if let Some(value) = value.as_f64() {
                        registration = registration.metric(name.to_lowercase(), value);
                    }
                }
            }
            for (metric, keys) in [
                ("auc", &["auc", "auc_score"][..]),
                ("accuracy", &["accuracy", "accuracy_score"][..]),
                ("precision", &["precision", "precision_score"][..]),
                ("recall", &["recall", "recall_score"][..]),
                ("f1", &["f1", "f1_score"][..]),
            ] {
                if let Some(value) = first(&object, keys).and_then(Value::as_f64) {
                    registration = registration.metric(metric, value);
                }
            }
            if let Some(Value::Object(params)) = first(&object, &["params", "hyperparameters"]) {
                for (name, value) in params {
                    let text = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    registration = registration.param(name.clone(), text);
                }
            }
            let number = |keys: &[&str]| first(&object, keys).and_then(Value::as_f64);
            if let Some(seconds) = number(&["training_duration_seconds", "training_duration"]) {
                registration = registration.duration_seconds(seconds);
            }
            if let Some(count) = number(&["train_samples", "training_samples"]) {
                registration = registration.train_samples(count as i64);
            }
            if let Some(count) = number(&["test_samples"]) {
                registration = registration.test_samples(count as i64);
            }
            if let Some(Value::Array(names)) = first(&object, &["feature_names", "features"]) {
                registration = registration.feature_names(names.iter().filter_map(Value::as_str));
            } else if let Some(count) = number(&["feature_count", "n_features"]) {
                registration = registration.feature_count(count as i64);
            }
            if let Some(finished) = first(&object, &["training_date", "trained_at", "finished_at"])
                .and_then(Value::as_str)
                .and_then(parse_time)
            {
                registration = registration.finished_at(finished);
            }
            registration
                .metadata_uri(model_registry_client::file_uri(&metadata_uri))
                .metadata(Value::Object(object))
        };
        Ok(Self {
            algorithm,
            artifact_path,
            apply: Box::new(apply),
        })
    }

    /// Applies the file's facts to `registration`.
    pub fn apply(self, registration: RegisterModel) -> Result<RegisterModel, Error> {
        (self.apply)(registration)
    }
}

fn first<'a>(object: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|key| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Parses RFC 3339, or a naive time taken as UTC in the forms the old
/// scripts and Oracle exports wrote: `YYYY-MM-DD HH:MM:SS[.f]`,
/// `YYYY-MM-DDTHH:MM:SS[.f]`, `YYYYMMDD_HHMMSS` (the old MODEL_ID),
/// `DD-MON-YY[YY] [HH.MI.SS[.f] AM|PM]` and the bare dates of each.
pub fn parse_time(text: &str) -> Option<std::time::SystemTime> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc).into());
    }
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y%m%d_%H%M%S",
        "%d-%b-%y %I.%M.%S%.f %p",
        "%d-%b-%Y %I.%M.%S%.f %p",
        "%d-%b-%y %H:%M:%S",
        "%d-%b-%Y %H:%M:%S",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%d-%b-%y", "%d-%b-%Y"]
            .iter()
            .find_map(|format| chrono::NaiveDate::parse_from_str(text, format).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
    .map(|naive| Utc.from_utc_datetime(&naive).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> std::time::SystemTime {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc).into())
            .unwrap()
    }

    #[test]
    fn the_old_scripts_and_oracle_date_forms_parse_as_utc() {
        let expected = utc("2026-01-18T18:44:59Z");
        for text in [
            "2026-01-18T18:44:59Z",
            "2026-01-18 18:44:59",
            "2026-01-18T18:44:59",
            "20260118_184459",
            "18-JAN-26 06.44.59.000000 PM",
            "18-Jan-2026 18:44:59",
        ] {
            assert_eq!(parse_time(text), Some(expected), "{text}");
        }
        assert_eq!(parse_time("18-JAN-26"), Some(utc("2026-01-18T00:00:00Z")));
        assert_eq!(parse_time("2026-01-18"), Some(utc("2026-01-18T00:00:00Z")));
        assert_eq!(parse_time("yesterday"), None);
    }
}
