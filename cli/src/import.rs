//! `modelreg import-legacy FILE.csv --model NAME`: registers every row of a
//! CSV export of the old `MODEL_REGISTRY` table as a version of one model,
//! in training-date order, keeping each row's status and the production
//! flag.
//!
//! Columns are matched by name, case-insensitively (the old table's names or
//! the `model_registry` view's): `MODEL_ID`, `MODEL_NAME` (the algorithm),
//! `MODEL_VERSION`, `MODEL_FILE_PATH`, `METADATA_FILE_PATH`, `AUC_SCORE`,
//! `ACCURACY_SCORE`, `PRECISION_SCORE`, `RECALL_SCORE`, `F1_SCORE` (or the
//! bare metric names), `TRAINING_DATE`, `TRAINING_DURATION_SECONDS`,
//! `TRAINING_SAMPLES`, `TEST_SAMPLES`, `FEATURE_COUNT`, `STATUS`,
//! `IS_PRODUCTION`. Every column of a row, known or not, is kept in the
//! version's metadata.
//!
//! Each row is registered with a request id derived from its `MODEL_ID`
//! and `MODEL_NAME`, so running the import again creates nothing. Every row
//! is checked (locally and by the server, without writing) before anything
//! is imported: bad rows are reported with their line numbers, and nothing
//! is imported unless `--skip-bad-rows` says to import the rest.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use model_registry_client::{Error, ModelStatus, RegisterModel, RegistryClient};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::legacy::parse_time;

/// The reason recorded on the status changes and promotion an import makes.
const REASON: &str = "imported from the legacy MODEL_REGISTRY table";

/// One usable row of the export.
#[derive(Debug, Clone)]
struct LegacyRow {
    line: u64,
    model_id: String,
    algorithm: String,
    registration: RegisterModel,
    trained_at: SystemTime,
    status: ModelStatus,
    is_production: bool,
}

/// A row that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// (line, version number, old MODEL_ID) of every imported row.
    pub imported: Vec<(u64, i64, String)>,
    /// Rows left out (only with `--skip-bad-rows`).
    pub skipped: Vec<BadRow>,
    /// The version now production, if a row carried the flag.
    pub production_version: Option<i64>,
    /// Warnings about the export as a whole.
    pub warnings: Vec<String>,
}

impl ImportReport {
    /// The report for scripts.
    pub fn to_json(&self, model: &str) -> Value {
        json!({
            "modelName": model,
            "imported": self.imported.iter().map(|(line, version, model_id)| json!({
                "line": line, "version": version, "legacyModelId": model_id,
            })).collect::<Vec<_>>(),
            "skipped": self.skipped.iter().map(|bad| json!({
                "line": bad.line, "reason": bad.reason,
            })).collect::<Vec<_>>(),
            "productionVersion": self.production_version,
            "warnings": self.warnings,
        })
    }

    /// The report for people.
    pub fn to_text(&self, model: &str) -> String {
        let mut lines: Vec<String> = self
            .skipped
            .iter()
            .map(|bad| format!("line {}: skipped: {}", bad.line, bad.reason))
            .chain(self.warnings.iter().map(|w| format!("warning: {w}")))
            .collect();
        let versions = match (self.imported.first(), self.imported.last()) {
            (Some(first), Some(last)) if first.1 == last.1 => format!(" (version {})", first.1),
            (Some(first), Some(last)) => format!(" (versions {} to {})", first.1, last.1),
            _ => String::new(),
        };
        lines.push(format!(
            "imported {} rows into {model}{versions}; {}",
            self.imported.len(),
            match self.production_version {
                Some(version) => format!("production is version {version}"),
                None => "no row was production".to_owned(),
            }
        ));
        lines.join("\n")
    }
}

/// Imports `path` into `model`.
pub async fn import(
    client: &RegistryClient,
    path: &Path,
    model: &str,
    skip_bad_rows: bool,
) -> Result<ImportReport, Error> {
    let (mut rows, mut bad) = read_rows(path, model)?;

    // The server checks each row against every rule without writing, so a
    // row it would refuse is reported before anything is imported.
    let mut accepted = Vec::with_capacity(rows.len());
    for row in rows.drain(..) {
        match client
            .register_model(row.registration.clone().validate_only())
            .await
        {
            Ok(_) => accepted.push(row),
            Err(error) if error.is_invalid_argument() => bad.push(BadRow {
                line: row.line,
                reason: error.to_string(),
            }),
            Err(error) => return Err(error),
        }
    }
    let mut rows = accepted;
    let mut report = ImportReport::default();
    let flagged: Vec<&LegacyRow> = rows.iter().filter(|r| r.is_production).collect();
    let production_line = flagged
        .iter()
        .max_by_key(|r| (r.trained_at, r.line))
        .map(|r| r.line);
    if flagged.len() > 1 {
        let lines = flagged
            .iter()
            .map(|r| r.line.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let problem = format!(
            "IS_PRODUCTION is set on lines {lines}, but one version can be production; the \
             newest (line {}) keeps it",
            production_line.unwrap_or_default()
        );
        if !skip_bad_rows {
            bad.push(BadRow {
                line: flagged[0].line,
                reason: problem,
            });
        } else {
            report.warnings.push(problem);
        }
    }
    bad.sort_by_key(|b| b.line);
    if !bad.is_empty() && !skip_bad_rows {
        let listing = bad
            .iter()
            .map(|b| format!("  line {}: {}", b.line, b.reason))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Error::InvalidInput(format!(
            "{} has {} bad rows; nothing was imported (fix them, or pass --skip-bad-rows to \
             import the others):\n{listing}",
            path.display(),
            bad.len()
        )));
    }
    report.skipped = bad;

    rows.sort_by_key(|r| (r.trained_at, r.line));
    let mut numbers = BTreeMap::new();
    for row in &rows {
        let version = client.register_model(row.registration.clone()).await?;
        numbers.insert(row.line, version.clone());
        report
            .imported
            .push((row.line, version.version(), row.model_id.clone()));
    }
    if let Some(line) = production_line {
        let version = numbers[&line].version();
        client
            .set_alias(model, "production", version)
            .reason(REASON)
            .send()
            .await?;
        report.production_version = Some(version);
    }
    for row in &rows {
        let version = &numbers[&row.line];
        // A re-run finds the status already applied and changes nothing.
        if version.status() != row.status {
            client
                .update_model_version_status(model, version.version(), row.status)
                .reason(REASON)
                .await?;
        }
    }
    Ok(report)
}

fn read_rows(path: &Path, model: &str) -> Result<(Vec<LegacyRow>, Vec<BadRow>), Error> {
    let file_error = |e: csv::Error| Error::InvalidInput(format!("{}: {e}", path.display()));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| match e.kind() {
            csv::ErrorKind::Io(_) => match e.into_kind() {
                csv::ErrorKind::Io(source) => Error::File {
                    path: path.display().to_string(),
                    source,
                },
                _ => Error::InvalidInput(path.display().to_string()),
            },
            _ => file_error(e),
        })?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(file_error)?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let index_of = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let required = |names: &[&str]| {
        index_of(names).ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} has no {} column; its header is: {}",
                path.display(),
                names[0],
                headers.join(",")
            ))
        })
    };
    let columns = Columns {
        model_id: required(&["MODEL_ID"])?,
        algorithm: required(&["MODEL_NAME", "ALGORITHM"])?,
        file_path: required(&["MODEL_FILE_PATH"])?,
        training_date: required(&["TRAINING_DATE"])?,
        version_label: index_of(&["MODEL_VERSION"]),
        metadata_path: index_of(&["METADATA_FILE_PATH"]),
        metrics: [
            ("auc", &["AUC_SCORE", "AUC"][..]),
            ("accuracy", &["ACCURACY_SCORE", "ACCURACY"][..]),
            ("precision", &["PRECISION_SCORE", "PRECISION"][..]),
            ("recall", &["RECALL_SCORE", "RECALL"][..]),
            ("f1", &["F1_SCORE", "F1"][..]),
        ]
        .into_iter()
        .filter_map(|(metric, names)| index_of(names).map(|i| (metric, i)))
        .collect(),
        duration: index_of(&["TRAINING_DURATION_SECONDS", "TRAINING_DURATION"]),
        train_samples: index_of(&["TRAINING_SAMPLES", "TRAIN_SAMPLES"]),
        test_samples: index_of(&["TEST_SAMPLES"]),
        feature_count: index_of(&["FEATURE_COUNT"]),
        status: index_of(&["STATUS"]),
        is_production: index_of(&["IS_PRODUCTION"]),
    };

    let mut rows = Vec::new();
    let mut bad = Vec::new();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(file_error)?;
        let line = record.position().map_or(0, |p| p.line());
        match columns.row(&headers, &record, model, line) {
            Ok(row) => {
                let key = format!("{}/{}", row.model_id, row.algorithm);
                if let Some(first) = seen.insert(key, line) {
                    bad.push(BadRow {
                        line,
                        reason: format!(
                            "repeats MODEL_ID {} and MODEL_NAME {} of line {first}",
                            row.model_id, row.algorithm
                        ),
                    });
                } else {
                    rows.push(row);
                }
            }
            Err(reason) => bad.push(BadRow { line, reason }),
        }
    }
    Ok((rows, bad))
}

/// Where each known column is.
struct Columns {
    model_id: usize,
    algorithm: usize,
    file_path: usize,
    training_date: usize,
    version_label: Option<usize>,
    metadata_path: Option<usize>,
    metrics: Vec<(&'static str, usize)>,
    duration: Option<usize>,
    train_samples: Option<usize>,
    test_samples: Option<usize>,
    feature_count: Option<usize>,
    status: Option<usize>,
    is_production: Option<usize>,
}

impl Columns {
    fn row(
        &self,
        headers: &[String],
        record: &csv::StringRecord,
        model: &str,
        line: u64,
    ) -> Result<LegacyRow, String> {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let optional = |i: Option<usize>| i.map(cell).filter(|v| !v.is_empty());
        let required = |i: usize| {
            let value = cell(i);
            if value.is_empty() {
                Err(format!("{} is empty", headers[i]))
            } else {
                Ok(value)
            }
        };
        let number = |i: Option<usize>| -> Result<Option<f64>, String> {
            optional(i)
                .map(|text| {
                    text.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| {
                            format!(
                                "{} is {text:?}, not a number",
                                headers[i.unwrap_or_default()]
                            )
                        })
                })
                .transpose()
        };
        let count = |i: Option<usize>| -> Result<Option<i64>, String> {
            match number(i)? {
                Some(v) if v.fract() == 0.0 && v >= 0.0 => Ok(Some(v as i64)),
                Some(v) => Err(format!(
                    "{} is {v}, not a count",
                    headers[i.unwrap_or_default()]
                )),
                None => Ok(None),
            }
        };

        let model_id = required(self.model_id)?.to_owned();
        let algorithm = required(self.algorithm)?.to_owned();
        let date = required(self.training_date)?;
        let trained_at = parse_time(date).ok_or_else(|| {
            format!(
                "{} {date:?} is not a date (2026-01-18 18:44:59, 2026-01-18T18:44:59Z, \
                 20260118_184459 or 18-JAN-26 are)",
                headers[self.training_date]
            )
        })?;
        let status = match optional(self.status)
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("ACTIVE") => ModelStatus::Active,
            Some("DEPRECATED") => ModelStatus::Deprecated,
            Some("ARCHIVED") => ModelStatus::Archived,
            Some(other) => {
                return Err(format!(
                    "STATUS {other:?} is not ACTIVE, DEPRECATED or ARCHIVED"
                ));
            }
        };
        let is_production = match optional(self.is_production)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("0" | "n" | "no" | "false" | "f") => false,
            Some("1" | "y" | "yes" | "true" | "t") => true,
            Some(other) => return Err(format!("IS_PRODUCTION {other:?} is not 1 or 0")),
        };
        if is_production && status != ModelStatus::Active {
            return Err(format!(
                "is production but {status}; only ACTIVE versions can be production"
            ));
        }

        let mut registration = RegisterModel::new(model)
            .algorithm(&algorithm)
            .artifact_uri(required(self.file_path)?)
            .finished_at(trained_at)
            .request_id(request_id(model, &model_id, &algorithm))
            .tag("legacy.model_id", &model_id);
        if let Some(label) = optional(self.version_label) {
            registration = registration.tag("legacy.model_version", label);
        }
        if let Some(path) = optional(self.metadata_path) {
            registration = registration.metadata_uri(path);
        }
        for (metric, i) in &self.metrics {
            if let Some(value) = number(Some(*i))? {
                registration = registration.metric(*metric, value);
            }
        }
        if let Some(seconds) = number(self.duration)? {
            registration = registration.duration_seconds(seconds);
        }
        if let Some(n) = count(self.train_samples)? {
            registration = registration.train_samples(n);
        }
        if let Some(n) = count(self.test_samples)? {
            registration = registration.test_samples(n);
        }
        if let Some(n) = count(self.feature_count)? {
            registration = registration.feature_count(n);
        }
        let original: Map<String, Value> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), Value::String(cell(i).to_owned())))
            .collect();
        let registration = registration
            .metadata(json!({ "legacy_row": original }))
            .map_err(|e| e.to_string())?;
        Ok(LegacyRow {
            line,
            model_id,
            algorithm,
            registration,
            trained_at,
            status,
            is_production,
        })
    }
}

/// The request id of a row: readable while it fits the server's 128
/// characters, a digest of the same key beyond.
fn request_id(model: &str, model_id: &str, algorithm: &str) -> String {
    let readable = format!("legacy-import:{model}:{model_id}:{algorithm}");
    if readable.len() <= 128 {
        return readable;
    }
    let digest = Sha256::digest(readable.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("legacy-import:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_stable_and_fit_the_server_limit() {
        assert_eq!(
            request_id("churn", "20260118_184459", "XGBoost"),
            "legacy-import:churn:20260118_184459:XGBoost"
        );
        let long = request_id("churn", &"9".repeat(200), "XGBoost");
        assert!(long.len() <= 128);
        assert_eq!(long, request_id("churn", &"9".repeat(200), "XGBoost"));
    }
}
