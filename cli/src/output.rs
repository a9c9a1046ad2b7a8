//! Rendering for people (aligned tables, key-value blocks) and for scripts
//! (the canonical protobuf JSON mapping, as YAML on request). Times are
//! RFC 3339 in UTC.

use chrono::{DateTime, SecondsFormat, Utc};
use model_registry_client::prost_types::Timestamp;
use model_registry_client::proto as pb;
use model_registry_client::{Error, json};
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
    // Events carry the version they concern; their own identity is the id.
    let key = if item.get("occurredAt").is_some() {
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
pub fn canonical_list<M: prost::Name>(messages: &[M]) -> Result<Value, Error> {
    messages
        .iter()
        .map(canonical)
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// A time as RFC 3339 (UTC), or empty.
pub fn time(ts: Option<&Timestamp>) -> String {
    ts.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

fn status_name(status: i32) -> &'static str {
    pb::ModelStatus::try_from(status)
        .map(|s| s.as_str_name().trim_start_matches("MODEL_STATUS_"))
        .unwrap_or("UNKNOWN")
}

fn event_name(kind: i32) -> &'static str {
    pb::EventType::try_from(kind)
        .map(|k| k.as_str_name().trim_start_matches("EVENT_TYPE_"))
        .unwrap_or("UNKNOWN")
}

fn sorted<V: Clone>(
    map: &std::collections::HashMap<String, V>,
) -> std::collections::BTreeMap<String, V> {
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
fn metrics_text(v: &pb::ModelVersion) -> String {
    sorted(&v.metrics)
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Versions as a table.
pub fn versions_table(versions: &[pb::ModelVersion]) -> String {
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            vec![
                v.model_name.clone(),
                v.version.to_string(),
                status_name(v.status).to_owned(),
                v.aliases.join(","),
                v.algorithm.clone(),
                metrics_text(v),
                time(v.training.as_ref().and_then(|t| t.finished_at.as_ref())),
                time(v.created_at.as_ref()),
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

/// One version as `key: value` lines.
pub fn version_details(v: &pb::ModelVersion) -> String {
    let artifact = v.artifact.clone().unwrap_or_default();
    let training = v.training.clone().unwrap_or_default();
    let rows = [
        ("model", v.model_name.clone()),
        ("version", v.version.to_string()),
        ("id", v.id.clone()),
        ("algorithm", v.algorithm.clone()),
        ("status", status_name(v.status).to_owned()),
        ("aliases", v.aliases.join(", ")),
        ("artifact", artifact.uri),
        ("metadata file", artifact.metadata_uri),
        ("sha256", artifact.sha256),
        ("size bytes", artifact.size_bytes.to_string()),
        ("metrics", metrics_text(v)),
        ("params", pairs(&v.params)),
        ("tags", pairs(&v.tags)),
        ("trained", trained_text(&training)),
        ("samples", samples_text(&training)),
        ("features", features_text(&training)),
        ("description", v.description.clone()),
        (
            "created",
            format!("{} by {}", time(v.created_at.as_ref()), v.created_by),
        ),
        ("updated", time(v.updated_at.as_ref())),
    ];
    rows.iter()
        .map(|(k, v)| format!("{:<15}{v}", format!("{k}:")).trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// When and how long a version trained; blank when the job did not say
/// (an unknown fact is left out, not shown as zero).
fn trained_text(training: &pb::TrainingInfo) -> String {
    let (started, finished) = (
        time(training.started_at.as_ref()),
        time(training.finished_at.as_ref()),
    );
    let mut text = match (started.is_empty(), finished.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!("from {started}"),
        (true, false) => format!("until {finished}"),
        (false, false) => format!("{started} .. {finished}"),
    };
    if training.duration_seconds > 0.0 {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!("({} s)", training.duration_seconds));
    }
    text
}

/// Train and test sample counts, each only when known.
fn samples_text(training: &pb::TrainingInfo) -> String {
    let known = |label: &str, count: i64| (count > 0).then(|| format!("{label} {count}"));
    [
        known("train", training.train_samples),
        known("test", training.test_samples),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" / ")
}

/// The feature count (and names, when few), or blank when unknown.
fn features_text(training: &pb::TrainingInfo) -> String {
    let count = if training.feature_count > 0 {
        training.feature_count
    } else {
        i64::try_from(training.feature_names.len()).unwrap_or(i64::MAX)
    };
    match (count, training.feature_names.len()) {
        (0, _) => String::new(),
        (count, 1..=8) => format!("{count} ({})", training.feature_names.join(", ")),
        (count, _) => count.to_string(),
    }
}

/// Models as a table.
pub fn models_table(models: &[pb::Model]) -> String {
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.version_count.to_string(),
                m.production_version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                aliases_text(&m.aliases),
                time(m.updated_at.as_ref()),
            ]
        })
        .collect();
    table(
        &["NAME", "VERSIONS", "PRODUCTION", "ALIASES", "UPDATED_AT"],
        &rows,
    )
}

/// A model's aliases as `alias=version`, sorted.
fn aliases_text(aliases: &std::collections::HashMap<String, i64>) -> String {
    sorted(aliases)
        .iter()
        .map(|(alias, version)| format!("{alias}={version}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A model's aliases as a table.
pub fn aliases_table(model: &pb::Model) -> String {
    let rows: Vec<Vec<String>> = sorted(&model.aliases)
        .into_iter()
        .map(|(alias, version)| vec![alias, version.to_string()])
        .collect();
    table(&["ALIAS", "VERSION"], &rows)
}

/// Tags or params as `k=v` pairs, sorted by key.
fn pairs(map: &std::collections::HashMap<String, String>) -> String {
    sorted(map)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One model for people: its facts, then its aliases.
pub fn model_details(model: &pb::Model) -> String {
    let rows = [
        ("name", model.name.clone()),
        ("description", model.description.clone()),
        ("tags", pairs(&model.tags)),
        ("versions", model.version_count.to_string()),
        (
            "latest",
            model
                .latest_version
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ),
        ("created", time(model.created_at.as_ref())),
    ];
    let facts = rows
        .iter()
        .map(|(k, v)| format!("{:<15}{v}", format!("{k}:")).trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    if model.aliases.is_empty() {
        format!("{facts}\naliases:       none")
    } else {
        format!("{facts}\n\n{}", aliases_table(model))
    }
}

/// Events as a table.
pub fn events_table(events: &[pb::Event]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let describe = |v: Option<i64>| v.map_or("none".to_owned(), |v| v.to_string());
            let change = match (e.previous_version, e.new_version) {
                _ if !e.alias.is_empty() => format!(
                    "{} {} -> {}",
                    e.alias,
                    describe(e.previous_version),
                    describe(e.new_version)
                ),
                _ if e.previous_status != 0 => {
                    format!(
                        "{} -> {}",
                        status_name(e.previous_status),
                        status_name(e.new_status)
                    )
                }
                _ => String::new(),
            };
            vec![
                e.id.to_string(),
                time(e.occurred_at.as_ref()),
                event_name(e.r#type).to_owned(),
                e.model_name.clone(),
                e.version.map(|v| v.to_string()).unwrap_or_default(),
                change,
                e.actor.clone(),
                e.reason.clone(),
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
pub fn alias_update_line(update: &pb::AliasUpdate) -> String {
    let target = match &update.model_version {
        Some(version) => format!("version {}", version.version),
        None => "no version".to_owned(),
    };
    let name = format!("{}@{}", update.model_name, update.alias);
    match &update.event {
        Some(event) => format!(
            "{}  {name} -> {target}  ({} by {}: {:?}; event {})",
            time(event.occurred_at.as_ref()),
            event_name(event.r#type),
            event.actor,
            event.reason,
            event.id
        ),
        None if update.skipped_changes => {
            format!(
                "{name} is {target} (some changes skipped; event {})",
                update.event_id
            )
        }
        None => format!("{name} is {target} (event {})", update.event_id),
    }
}
