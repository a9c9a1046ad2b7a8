//! Rendering for people (aligned tables, key-value blocks) and for scripts
//! (the canonical protobuf JSON mapping, as YAML on request). Times are
//! RFC 3339 in UTC.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use model_registry_client::proto as pb;
use model_registry_client::{AliasUpdate, Error, Event, Model, ModelVersion, Training, json};
use serde_json::Value;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document for scripts.
    Json,
    /// The JSON document as YAML.
    Yaml,
}

/// A JSON document as YAML (same fields, same values).
pub fn yaml(document: &Value) -> String {
    yaml_serde::to_string(document)
        .unwrap_or_else(|error| format!("# cannot render as YAML: {error}\n"))
        .trim_end()
        .to_owned()
}

/// What `--quiet` prints: one identifier per line (a version's number, an
/// event's id, a model's name), ready for `xargs`. Reads the canonical JSON
/// of a message or of a list of them.
pub fn identities(document: &Value) -> String {
    let items: Vec<&Value> = match document {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    items
        .into_iter()
        .filter_map(identity)
        .collect::<Vec<_>>()
        .join("\n")
}

fn identity(item: &Value) -> Option<String> {
    // Responses that carry a version (alias moves, the best version, watch
    // updates) are identified by it.
    if let Some(version) = item.get("modelVersion") {
        return identity(version);
    }
    // Events carry the version they concern, change requests the version
    // they ask for; the identity of either is its id.
    let key = if item.get("occurredAt").is_some() || item.get("requester").is_some() {
        "id"
    } else if item.get("modelName").is_some() {
        "version"
    } else {
        "name"
    };
    match item.get(key)? {
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        _ => None,
    }
}

/// `message` as a script sees it: the canonical protobuf JSON mapping, the
/// same document grpcurl and the Python client's `to_dict()` give.
pub fn canonical<M: prost::Name>(message: &M) -> Result<Value, Error> {
    json::to_json(message)
        .map_err(|error| Error::InvalidInput(format!("{} {error}", M::full_name())))
}

/// Messages as a JSON array of their canonical mappings.
pub fn canonical_list<'a, M: prost::Name + 'a>(
    messages: impl IntoIterator<Item = &'a M>,
) -> Result<Value, Error> {
    messages
        .into_iter()
        .map(canonical)
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// A time as RFC 3339 (UTC), or empty when unknown.
pub fn time(at: Option<SystemTime>) -> String {
    at.map(|t| DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

fn sorted<V: Clone>(map: &HashMap<String, V>) -> BTreeMap<String, V> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Aligns `rows` under `headers`, two spaces apart (comfy-table), wrapped to
/// the terminal's width when there is one.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    use comfy_table::{ContentArrangement, Table, presets};
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_header(headers);
    // On a terminal, long cells wrap to fit its width; piped output keeps
    // one line per row for scripts and `grep`.
    match terminal_size::terminal_size_of(std::io::stdout()) {
        Some((terminal_size::Width(width), _)) => {
            table
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(width);
        }
        None => {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    for row in rows {
        table.add_row(row);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
        .lines()
        .map(|line| line.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The metrics of a version as `name=value`, sorted.
fn metrics_text(v: &ModelVersion) -> String {
    sorted(v.metrics())
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Versions as a table.
pub fn versions_table(versions: &[ModelVersion]) -> String {
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            vec![
                v.model_name().to_owned(),
                v.version().to_string(),
                v.status().to_string(),
                v.aliases().join(","),
                v.algorithm().to_owned(),
                metrics_text(v),
                time(v.training().finished_at()),
                time(v.created_at()),
            ]
        })
        .collect();
    table(
        &[
            "MODEL",
            "VERSION",
            "STATUS",
            "ALIASES",
            "ALGORITHM",
            "METRICS",
            "TRAINED_AT",
            "CREATED_AT",
        ],
        &rows,
    )
}

/// Labelled lines, values aligned after the labels; a label with no value
/// (a fact nobody reported) is left out.
fn labelled(rows: &[(&str, String)]) -> String {
    rows.iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{:<15}{v}", format!("{k}:")).trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One version as `key: value` lines.
pub fn version_details(v: &ModelVersion) -> String {
    let artifact = v.artifact();
    let training = v.training();
    labelled(&[
        ("model", v.model_name().to_owned()),
        ("version", v.version().to_string()),
        ("id", v.id().to_owned()),
        ("algorithm", v.algorithm().to_owned()),
        ("status", v.status().to_string()),
        ("aliases", v.aliases().join(", ")),
        ("artifact", artifact.uri.clone()),
        ("metadata file", artifact.metadata_uri.clone()),
        ("sha256", artifact.sha256.clone()),
        (
            "size bytes",
            Some(artifact.size_bytes)
                .filter(|size| *size > 0)
                .map(|size| size.to_string())
                .unwrap_or_default(),
        ),
        ("metrics", metrics_text(v)),
        ("params", pairs(v.params())),
        ("tags", pairs(v.tags())),
        ("trained", trained_text(training)),
        ("samples", samples_text(training)),
        ("features", features_text(training)),
        ("description", v.description().to_owned()),
        (
            "created",
            format!("{} by {}", time(v.created_at()), v.created_by()),
        ),
        ("updated", time(v.updated_at())),
    ])
}

/// A signature method's name (`key`, `certificate`).
pub fn signature_method(method: i32) -> &'static str {
    match pb::SignatureMethod::try_from(method) {
        Ok(pb::SignatureMethod::Key) => "key",
        Ok(pb::SignatureMethod::Certificate) => "certificate",
        _ => "unknown",
    }
}

/// A version's signature for people: who signed how, whether it verifies
/// now, and every file with its digest.
pub fn signature_details(signature: &pb::GetVersionSignatureResponse) -> String {
    let summary = signature
        .model_version
        .as_ref()
        .and_then(|v| v.signature.as_ref());
    let Some(summary) = summary else {
        return String::new();
    };
    let trusted = if signature.trusted_now {
        "verifies against the trust file now".to_owned()
    } else {
        format!("NO LONGER VERIFIES: {}", signature.untrusted_reason)
    };
    let mut text = labelled(&[
        (
            "signature",
            format!(
                "verified {} ({} method, signed by {}, trusted by {}); {trusted}",
                summary
                    .verified_at
                    .as_ref()
                    .map(|t| time(std::time::SystemTime::try_from(*t).ok()))
                    .unwrap_or_default(),
                signature_method(summary.method),
                summary.signer,
                summary.trusted_by
            ),
        ),
        ("manifest", summary.manifest_sha256.clone()),
    ]);
    for file in &signature.files {
        text.push_str(&format!("\n  {}  sha256 {}", file.name, file.sha256));
    }
    text
}

/// When and how long a version trained; blank when the job did not say
/// (an unknown fact is left out, not shown as zero).
fn trained_text(training: Training<'_>) -> String {
    let (started, finished) = (time(training.started_at()), time(training.finished_at()));
    let mut text = match (started.is_empty(), finished.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!("from {started}"),
        (true, false) => format!("until {finished}"),
        (false, false) => format!("{started} .. {finished}"),
    };
    if let Some(duration) = training.duration() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!("({} s)", duration.as_secs_f64()));
    }
    text
}

/// Train and test sample counts, each only when known.
fn samples_text(training: Training<'_>) -> String {
    let known = |label: &str, count: Option<i64>| count.map(|count| format!("{label} {count}"));
    [
        known("train", training.train_samples()),
        known("test", training.test_samples()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" / ")
}

/// The feature count (and names, when few), or blank when unknown.
fn features_text(training: Training<'_>) -> String {
    let names = training.feature_names();
    match (training.feature_count(), names.len()) {
        (None, _) => String::new(),
        (Some(count), 1..=8) => format!("{count} ({})", names.join(", ")),
        (Some(count), _) => count.to_string(),
    }
}

/// Models as a table.
pub fn models_table(models: &[Model]) -> String {
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                m.name().to_owned(),
                m.version_count().to_string(),
                m.production_version()
                    .map_or_else(|| "-".into(), |v| v.to_string()),
                aliases_text(m.aliases()),
                time(m.updated_at()),
            ]
        })
        .collect();
    table(
        &["NAME", "VERSIONS", "PRODUCTION", "ALIASES", "UPDATED_AT"],
        &rows,
    )
}

/// A model's aliases as `alias=version`, sorted.
fn aliases_text(aliases: &HashMap<String, i64>) -> String {
    sorted(aliases)
        .iter()
        .map(|(alias, version)| format!("{alias}={version}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A model's aliases as a table.
pub fn aliases_table(model: &Model) -> String {
    let rows: Vec<Vec<String>> = sorted(model.aliases())
        .into_iter()
        .map(|(alias, version)| vec![alias, version.to_string()])
        .collect();
    table(&["ALIAS", "VERSION"], &rows)
}

/// Tags or params as `k=v` pairs, sorted by key.
fn pairs(map: &HashMap<String, String>) -> String {
    sorted(map)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One model for people: its facts, then its aliases.
pub fn model_details(model: &Model) -> String {
    let facts = labelled(&[
        ("name", model.name().to_owned()),
        ("description", model.description().to_owned()),
        ("tags", pairs(model.tags())),
        ("versions", model.version_count().to_string()),
        (
            "latest",
            model
                .latest_version()
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ),
        ("created", time(model.created_at())),
    ]);
    if model.aliases().is_empty() {
        format!("{facts}\naliases:       none")
    } else {
        format!("{facts}\n\n{}", aliases_table(model))
    }
}

/// What an event changed, in a few words.
fn change_text(e: &Event) -> String {
    let describe = |v: Option<i64>| v.map_or("none".to_owned(), |v| v.to_string());
    match (e.alias(), e.previous_status(), e.new_status()) {
        (Some(alias), _, _) => format!(
            "{alias} {} -> {}",
            describe(e.previous_version()),
            describe(e.new_version())
        ),
        (None, Some(before), Some(after)) => format!("{before} -> {after}"),
        _ => String::new(),
    }
}

/// Events as a table.
pub fn events_table(events: &[Event]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.id().to_string(),
                time(e.occurred_at()),
                e.event_type().to_string(),
                e.model_name().to_owned(),
                e.version().map(|v| v.to_string()).unwrap_or_default(),
                change_text(e),
                e.actor().to_owned(),
                e.reason().to_owned(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "TIME", "TYPE", "MODEL", "VERSION", "CHANGE", "ACTOR", "REASON",
        ],
        &rows,
    )
}

/// An alias watch update as one line for people.
pub fn alias_update_line(update: &AliasUpdate) -> String {
    let target = match update.version() {
        Some(version) => format!("version {version}"),
        None => "no version".to_owned(),
    };
    let name = format!("{}@{}", update.model_name(), update.alias());
    match update.event() {
        Some(event) => format!(
            "{}  {name} -> {target}  ({} by {}: {:?}; event {})",
            time(event.occurred_at()),
            event.event_type(),
            event.actor(),
            event.reason(),
            event.id()
        ),
        None if update.skipped_changes() => {
            format!(
                "{name} is {target} (some changes skipped; event {})",
                update.event_id()
            )
        }
        None => format!("{name} is {target} (event {})", update.event_id()),
    }
}
