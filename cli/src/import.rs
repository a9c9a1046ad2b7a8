//! `modelreg import-legacy FILE.csv --model NAME`: registers every row of a
//! CSV export of the old `MODEL_REGISTRY` table as a version of one model,
//! in training-date order, keeping each row's status and the production
//! flag.
//!
//! Columns are matched by name, case-insensitively (the old table's names or
//! the `model_registry` view's): see [`AFTER_HELP`]. Every column of a
//! row, known or not, is kept in the version's metadata.
//!
//! Each row is registered with a request id derived from its `MODEL_ID`
//! and `MODEL_NAME`, so running the import again creates nothing; rows
//! found already imported (by their `legacy.model_id` tag) are reported as
//! such and left as they are. Every row is checked (locally and by the
//! server, without writing) before anything is imported: bad rows are
//! reported with their line numbers and every problem they have, and
//! nothing is imported unless `--skip-bad-rows` says to import the rest.
//! A model that already has a production version keeps it unless
//! `--set-production` says to move it to the row flagged IS_PRODUCTION.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use model_registry_client::{Error, ModelStatus, RegisterModel, RegistryClient};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::legacy::parse_time;

/// What `modelreg import-legacy --help` says after the options: examples,
/// the columns and the date forms.
pub const AFTER_HELP: &str = "Examples:\n  \
modelreg import-legacy examples/legacy_model_registry.csv --model churn --dry-run\n  \
modelreg import-legacy examples/legacy_model_registry.csv --model churn\n\n\
Rows are imported in TRAINING_DATE order. Bad rows are reported with their line\n\
numbers and every problem, and nothing is imported unless --skip-bad-rows. A\n\
re-run creates nothing (rows are known by MODEL_ID and MODEL_NAME) and says so.\n\
A model that already has a production version keeps it unless --set-production.\n\n\
Columns (a header row, matched by name, case-insensitively; order free):\n  \
MODEL_ID            required: the old identifier (kept as the tag legacy.model_id)\n  \
MODEL_NAME          required: the algorithm (XGBoost, CatBoost ...); ALGORITHM also works\n  \
MODEL_FILE_PATH     required: the artifact, recorded as given\n  \
TRAINING_DATE       required: when training finished\n  \
MODEL_VERSION       the old label (kept as the tag legacy.model_version)\n  \
METADATA_FILE_PATH  the metadata file, recorded as given\n  \
AUC_SCORE, ACCURACY_SCORE, PRECISION_SCORE, RECALL_SCORE, F1_SCORE\n                      \
(or AUC, ACCURACY, PRECISION, RECALL, F1): metrics in [0, 1]\n  \
TRAINING_DURATION_SECONDS, TRAINING_SAMPLES, TEST_SAMPLES, FEATURE_COUNT\n  \
STATUS              ACTIVE (default), DEPRECATED or ARCHIVED\n  \
IS_PRODUCTION       1/0, true/false, yes/no, y/n, t/f (one row at most)\n\
Every other column is kept in the version's metadata (legacy_row).\n\n\
Dates (UTC unless they say otherwise): 2026-01-18 18:44:59, 2026-01-18T18:44:59Z,\n\
2026-01-18T18:44:59+02:00, 2026-01-18, 20260118_184459 (the old MODEL_ID form),\n\
18-JAN-26 06.44.59.000000 PM (Oracle's default), 18-JAN-26.";

/// The reason recorded on the status changes and promotion an import makes.
const REASON: &str = "imported from the legacy MODEL_REGISTRY table";

/// The tag that names a version's old `MODEL_ID`.
const MODEL_ID_TAG: &str = "legacy.model_id";

/// How to run an import.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Import the good rows even when some are bad.
    pub skip_bad_rows: bool,
    /// Check everything and say what would happen, writing nothing.
    pub dry_run: bool,
    /// Move an existing production alias to the row flagged IS_PRODUCTION.
    pub set_production: bool,
}

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
    /// What is wrong with it: every problem found, `; `-separated.
    pub reason: String,
}

/// A row of the file and the version it is (or would be).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedRow {
    /// Line number in the file.
    pub line: u64,
    /// The version number; `None` in a dry run for a row not yet imported.
    pub version: Option<i64>,
    /// The old MODEL_ID.
    pub model_id: String,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Rows registered now (in a dry run: rows that would be).
    pub imported: Vec<ImportedRow>,
    /// Rows an earlier import registered; left as they are.
    pub already_imported: Vec<ImportedRow>,
    /// Rows left out (only with `--skip-bad-rows`).
    pub skipped: Vec<BadRow>,
    /// The version production points at after the import (`None` when the
    /// model has none).
    pub production_version: Option<i64>,
    /// What the import did to production, in words.
    pub production: String,
    /// Warnings about the export as a whole.
    pub warnings: Vec<String>,
}

impl ImportReport {
    /// The report for scripts.
    pub fn to_json(&self, model: &str) -> Value {
        let rows = |rows: &[ImportedRow]| {
            rows.iter()
                .map(|row| json!({"line": row.line, "version": row.version, "legacyModelId": row.model_id}))
                .collect::<Vec<_>>()
        };
        json!({
            "modelName": model,
            "dryRun": self.dry_run,
            "imported": rows(&self.imported),
            "alreadyImported": rows(&self.already_imported),
            "skipped": self.skipped.iter().map(|bad| json!({
                "line": bad.line, "reason": bad.reason,
            })).collect::<Vec<_>>(),
            "productionVersion": self.production_version,
            "production": self.production,
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
        let numbers: Vec<i64> = self.imported.iter().filter_map(|r| r.version).collect();
        let versions = match (numbers.first(), numbers.last()) {
            (Some(first), Some(last)) if first == last => format!(" (version {first})"),
            (Some(first), Some(last)) => format!(" (versions {first} to {last})"),
            _ => String::new(),
        };
        let (verb, ending) = if self.dry_run {
            ("would import", "; dry run: nothing was written")
        } else {
            ("imported", "")
        };
        lines.push(format!(
            "{model}: {verb} {} new rows{versions}, {} already imported; {}{ending}",
            self.imported.len(),
            self.already_imported.len(),
            self.production,
        ));
        lines.join("\n")
    }
}

/// What the model held before the import.
struct Before {
    /// Versions an earlier import registered, by (MODEL_ID, algorithm).
    imported: BTreeMap<(String, String), i64>,
    /// Its production version, if any.
    production: Option<i64>,
}

async fn before(client: &RegistryClient, model: &str) -> Result<Before, Error> {
    let production = match client.get_model(model).await {
        Ok(found) => found.production_version(),
        Err(error) if error.is_not_found() => {
            return Ok(Before {
                imported: BTreeMap::new(),
                production: None,
            });
        }
        Err(error) => return Err(error),
    };
    let imported = client
        .list_model_versions(model)
        .await?
        .iter()
        .filter_map(|v| {
            v.tags()
                .get(MODEL_ID_TAG)
                .map(|id| ((id.clone(), v.algorithm().to_owned()), v.version()))
        })
        .collect();
    Ok(Before {
        imported,
        production,
    })
}

/// Imports `path` into `model` (or, with `dry_run`, says what it would do).
pub async fn import(
    client: &RegistryClient,
    path: &Path,
    model: &str,
    options: ImportOptions,
) -> Result<ImportReport, Error> {
    let (parsed, mut bad) = read_rows(path, model)?;
    let before = before(client, model).await?;
    let known = |row: &LegacyRow| {
        before
            .imported
            .get(&(row.model_id.clone(), row.algorithm.clone()))
            .copied()
    };

    // The server checks each new row against every rule without writing,
    // so a row it would refuse is reported (with the problems found
    // locally) before anything is imported.
    let mut rows = Vec::with_capacity(parsed.len());
    for (row, mut problems) in parsed {
        if known(&row).is_none() {
            match client
                .register_model(row.registration.clone().validate_only())
                .await
            {
                Ok(_) => {}
                Err(error) if error.is_invalid_argument() => problems.push(error.to_string()),
                Err(error) => return Err(error),
            }
        }
        if problems.is_empty() {
            rows.push(row);
        } else {
            bad.push(BadRow {
                line: row.line,
                reason: problems.join("; "),
            });
        }
    }
    let mut report = ImportReport {
        dry_run: options.dry_run,
        ..ImportReport::default()
    };
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
        if !options.skip_bad_rows {
            bad.push(BadRow {
                line: flagged[0].line,
                reason: problem,
            });
        } else {
            report.warnings.push(problem);
        }
    }
    bad.sort_by_key(|b| b.line);
    if !bad.is_empty() && !options.skip_bad_rows {
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
    let mut numbers: BTreeMap<u64, Option<i64>> = BTreeMap::new();
    let mut created = Vec::new();
    for row in &rows {
        let version = match known(row) {
            Some(version) => {
                report.already_imported.push(ImportedRow {
                    line: row.line,
                    version: Some(version),
                    model_id: row.model_id.clone(),
                });
                Some(version)
            }
            None => {
                let version = if options.dry_run {
                    None
                } else {
                    let version = client.register_model(row.registration.clone()).await?;
                    created.push((row, version.clone()));
                    Some(version.version())
                };
                report.imported.push(ImportedRow {
                    line: row.line,
                    version,
                    model_id: row.model_id.clone(),
                });
                version
            }
        };
        numbers.insert(row.line, version);
    }
    report.production_version = before.production;
    report.production = match (production_line, before.production) {
        (None, None) => "no row is production".to_owned(),
        (None, Some(current)) => format!("production stays version {current}"),
        (Some(line), current) => {
            let target = numbers.get(&line).copied().flatten();
            let moving = current.is_none() || options.set_production;
            match (target, current) {
                (Some(target), Some(current)) if target == current => {
                    format!("production is version {current} (line {line}) already")
                }
                _ if !moving => format!(
                    "production stays version {} (the model had it before; pass \
                     --set-production to move it to line {line}'s version)",
                    current.unwrap_or_default()
                ),
                (None, _) => format!("production would move to line {line}'s version"),
                (Some(target), _) if options.dry_run => {
                    format!("production would move to version {target} (line {line})")
                }
                (Some(target), current) => {
                    client
                        .set_alias(model, "production", target)
                        .expect_current(current.unwrap_or(0))
                        .reason(REASON)
                        .send()
                        .await?;
                    report.production_version = Some(target);
                    format!("production is version {target} (line {line})")
                }
            }
        }
    };
    // Statuses only on versions registered now: an earlier import's
    // versions may have moved on since, and a re-run must not undo that.
    for (row, version) in created {
        if version.status() != row.status {
            client
                .update_model_version_status(model, version.version(), row.status)
                .reason(REASON)
                .await?;
        }
    }
    Ok(report)
}

/// Every row read, with the problems found in it (none for a good row), and
/// the rows that repeat an earlier one.
type ReadRows = (Vec<(LegacyRow, Vec<String>)>, Vec<BadRow>);

fn read_rows(path: &Path, model: &str) -> Result<ReadRows, Error> {
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
        let (row, problems) = columns.row(&headers, &record, model, line);
        let key = format!("{}/{}", row.model_id, row.algorithm);
        match seen.get(&key) {
            Some(first) if problems.is_empty() => bad.push(BadRow {
                line,
                reason: format!(
                    "repeats MODEL_ID {} and MODEL_NAME {} of line {first}",
                    row.model_id, row.algorithm
                ),
            }),
            _ => {
                seen.entry(key).or_insert(line);
                rows.push((row, problems));
            }
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
    /// The row as it will be registered, and every problem found in it
    /// (a row with problems is reported, never registered).
    fn row(
        &self,
        headers: &[String],
        record: &csv::StringRecord,
        model: &str,
        line: u64,
    ) -> (LegacyRow, Vec<String>) {
        let mut problems = Vec::new();
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let optional = |i: Option<usize>| i.map(cell).filter(|v| !v.is_empty());
        let required = |i: usize, problems: &mut Vec<String>| {
            let value = cell(i);
            if value.is_empty() {
                problems.push(format!("{} is empty", headers[i]));
            }
            value
        };
        let number = |i: Option<usize>, problems: &mut Vec<String>| -> Option<f64> {
            let text = optional(i)?;
            let parsed = text.parse::<f64>().ok().filter(|v| v.is_finite());
            if parsed.is_none() {
                problems.push(format!(
                    "{} is {text:?}, not a number",
                    headers[i.unwrap_or_default()]
                ));
            }
            parsed
        };
        let count = |i: Option<usize>, problems: &mut Vec<String>| -> Option<i64> {
            match number(i, problems)? {
                v if v.fract() == 0.0 && v >= 0.0 => Some(v as i64),
                v => {
                    problems.push(format!(
                        "{} is {v}, not a count",
                        headers[i.unwrap_or_default()]
                    ));
                    None
                }
            }
        };

        let model_id = required(self.model_id, &mut problems).to_owned();
        let algorithm = required(self.algorithm, &mut problems).to_owned();
        let file_path = required(self.file_path, &mut problems);
        let date = required(self.training_date, &mut problems);
        let trained_at = parse_time(date);
        if trained_at.is_none() && !date.is_empty() {
            problems.push(format!(
                "{} {date:?} is not a date (2026-01-18 18:44:59, 2026-01-18T18:44:59Z, \
                 20260118_184459 or 18-JAN-26 are)",
                headers[self.training_date]
            ));
        }
        let status = match optional(self.status)
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("ACTIVE") => ModelStatus::Active,
            Some("DEPRECATED") => ModelStatus::Deprecated,
            Some("ARCHIVED") => ModelStatus::Archived,
            Some(other) => {
                problems.push(format!(
                    "STATUS {other:?} is not ACTIVE, DEPRECATED or ARCHIVED"
                ));
                ModelStatus::Active
            }
        };
        let is_production = match optional(self.is_production)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("0" | "n" | "no" | "false" | "f") => false,
            Some("1" | "y" | "yes" | "true" | "t") => true,
            Some(other) => {
                problems.push(format!("IS_PRODUCTION {other:?} is not 1 or 0"));
                false
            }
        };
        if is_production && status != ModelStatus::Active {
            problems.push(format!(
                "is production but {status}; only ACTIVE versions can be production"
            ));
        }

        let mut registration = RegisterModel::new(model)
            .algorithm(&algorithm)
            .artifact_uri(file_path)
            .request_id(request_id(model, &model_id, &algorithm))
            .tag(MODEL_ID_TAG, &model_id);
        if let Some(trained_at) = trained_at {
            registration = registration.finished_at(trained_at);
        }
        if let Some(label) = optional(self.version_label) {
            registration = registration.tag("legacy.model_version", label);
        }
        if let Some(path) = optional(self.metadata_path) {
            registration = registration.metadata_uri(path);
        }
        for (metric, i) in &self.metrics {
            if let Some(value) = number(Some(*i), &mut problems) {
                registration = registration.metric(*metric, value);
            }
        }
        if let Some(seconds) = number(self.duration, &mut problems) {
            registration = registration.duration_seconds(seconds);
        }
        if let Some(n) = count(self.train_samples, &mut problems) {
            registration = registration.train_samples(n);
        }
        if let Some(n) = count(self.test_samples, &mut problems) {
            registration = registration.test_samples(n);
        }
        if let Some(n) = count(self.feature_count, &mut problems) {
            registration = registration.feature_count(n);
        }
        let original: Map<String, Value> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), Value::String(cell(i).to_owned())))
            .collect();
        let registration = match registration
            .clone()
            .metadata(json!({ "legacy_row": original }))
        {
            Ok(with_metadata) => with_metadata,
            Err(error) => {
                problems.push(error.to_string());
                registration
            }
        };
        let row = LegacyRow {
            line,
            model_id,
            algorithm,
            registration,
            trained_at: trained_at.unwrap_or(SystemTime::UNIX_EPOCH),
            status,
            is_production,
        };
        (row, problems)
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
    fn every_date_form_the_help_lists_is_accepted() {
        for form in [
            "2026-01-18 18:44:59",
            "2026-01-18T18:44:59Z",
            "2026-01-18T18:44:59+02:00",
            "2026-01-18",
            "20260118_184459",
            "18-JAN-26 06.44.59.000000 PM",
            "18-JAN-26",
        ] {
            assert!(AFTER_HELP.contains(form), "{form} is listed");
            assert!(parse_time(form).is_some(), "{form} parses");
        }
    }

    #[test]
    fn a_row_reports_every_problem_it_has() {
        let headers: Vec<String> =
            "MODEL_ID,MODEL_NAME,MODEL_FILE_PATH,TRAINING_DATE,AUC,STATUS,TEST_SAMPLES"
                .split(',')
                .map(str::to_owned)
                .collect();
        let columns = Columns {
            model_id: 0,
            algorithm: 1,
            file_path: 2,
            training_date: 3,
            version_label: None,
            metadata_path: None,
            metrics: vec![("auc", 4)],
            duration: None,
            train_samples: None,
            test_samples: Some(6),
            feature_count: None,
            status: Some(5),
            is_production: None,
        };
        let record = csv::StringRecord::from(vec![
            "7",
            "XGBoost",
            "",
            "last tuesday",
            "high",
            "RETIRED",
            "2.5",
        ]);
        let (_, problems) = columns.row(&headers, &record, "churn", 2);
        assert_eq!(problems.len(), 5, "{problems:?}");
        for expected in [
            "MODEL_FILE_PATH is empty",
            "last tuesday",
            "AUC",
            "RETIRED",
            "TEST_SAMPLES",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }

    /// The export's header with every column the import knows.
    const FULL_HEADER: &str = "MODEL_ID,MODEL_NAME,MODEL_VERSION,MODEL_FILE_PATH,METADATA_FILE_PATH,\
        TRAINING_DATE,AUC_SCORE,ACCURACY_SCORE,PRECISION_SCORE,RECALL_SCORE,F1_SCORE,\
        TRAINING_DURATION_SECONDS,TRAINING_SAMPLES,TEST_SAMPLES,FEATURE_COUNT,STATUS,IS_PRODUCTION";

    fn quoted(cell: &str) -> String {
        format!("\"{}\"", cell.replace('"', "\"\""))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever bytes the file holds, reading it ends in rows or a
        /// refusal, never a panic.
        #[test]
        fn any_file_is_read_or_refused(
            header in proptest::sample::select(vec![FULL_HEADER, "MODEL_ID,MODEL_NAME", ""]),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..1024),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("export.csv");
            let mut bytes = format!("{header}\n").into_bytes();
            bytes.extend(body);
            std::fs::write(&path, bytes).unwrap();
            let _ = read_rows(&path, "churn");
        }

        /// Any text in any cell gives either a row that can be registered
        /// (its identity, file and training date present) or the problems
        /// that keep it out, each naming its column or value.
        #[test]
        fn any_cells_give_a_registrable_row_or_name_their_problems(
            cells in proptest::collection::vec("\\PC{0,24}|[0-9.eE+-]{0,12}|2026-01-18( 18:44:59)?", 17),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("export.csv");
            let line: Vec<String> = cells.iter().map(|c| quoted(c)).collect();
            std::fs::write(&path, format!("{FULL_HEADER}\n{}\n", line.join(","))).unwrap();
            let (rows, bad) = read_rows(&path, "churn").unwrap();
            proptest::prop_assert!(bad.is_empty());
            proptest::prop_assert_eq!(rows.len(), 1);
            let (row, problems) = &rows[0];
            if problems.is_empty() {
                proptest::prop_assert!(!row.model_id.is_empty() && !row.algorithm.is_empty());
                proptest::prop_assert!(!cells[3].trim().is_empty(), "the file path is required");
                proptest::prop_assert!(parse_time(cells[5].trim()).is_some());
            } else {
                for problem in problems {
                    proptest::prop_assert!(!problem.is_empty());
                }
            }
        }
    }

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
