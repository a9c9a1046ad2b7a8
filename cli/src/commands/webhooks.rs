//! `modelreg webhook`: subscriptions that POST the trail's events to a
//! receiver (admin), and what was delivered to them.

use std::time::SystemTime;

use clap::Subcommand;
use model_registry_client::proto as pb;
use model_registry_client::{Error, EventType, RegistryClient, ReplayFrom};

use crate::output;
use crate::printer::Printer;

/// `modelreg webhook` and its subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a URL; prints the signing secret, once.
    #[command(
        after_help = "Examples:\n  modelreg webhook create https://deploy.example.com/hooks/registry --model-prefix fraud- --event-type alias_set\n  modelreg webhook create https://ci.example.com/hook --alias production --description \"roll out\""
    )]
    Create {
        /// Where to POST (https://).
        #[arg(value_name = "URL")]
        destination: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Only events of models whose name starts with this.
        #[arg(long, default_value = "")]
        model_prefix: String,
        /// Only events about this alias (repeat for several).
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// Only events of this type, e.g. alias_set (repeat for several).
        #[arg(long = "event-type", value_parser = parse_event_type)]
        event_types: Vec<EventType>,
        /// A failing event is set aside and retried on its own while later
        /// events go on (by default it holds them up).
        #[arg(long)]
        unordered: bool,
    },
    /// List the subscriptions, their state and progress.
    #[command(after_help = "Example:\n  modelreg webhook list")]
    List,
    /// Show one subscription.
    #[command(after_help = "Example:\n  modelreg webhook show 1")]
    Show {
        /// The subscription's id.
        id: i64,
    },
    /// The latest delivery attempts of a subscription, newest first.
    #[command(after_help = "Example:\n  modelreg webhook deliveries 1 --limit 20")]
    Deliveries {
        /// The subscription's id.
        id: i64,
        /// How many attempts (at most 500).
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// Send events again, from an event or a time on, with the ids they had.
    #[command(
        after_help = "Examples:\n  modelreg webhook replay 1 --from-event 4200\n  modelreg webhook replay 1 --since 2026-12-01T00:00:00Z"
    )]
    Replay {
        /// The subscription's id.
        id: i64,
        /// From this event on.
        #[arg(long, conflicts_with = "since", required_unless_present = "since")]
        from_event: Option<i64>,
        /// From the first event at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
    },
    /// Resume a FAILING subscription at the event it failed on (or after it).
    #[command(after_help = "Example:\n  modelreg webhook resume 1 --skip-failed-event")]
    Resume {
        /// The subscription's id.
        id: i64,
        /// Never deliver the event it failed on.
        #[arg(long)]
        skip_failed_event: bool,
    },
    /// Give a subscription a new secret; prints it, once.
    #[command(after_help = "Example:\n  modelreg webhook rotate-secret 1 --overlap 24h")]
    RotateSecret {
        /// The subscription's id.
        id: i64,
        /// How long the previous secret keeps signing, e.g. 24h (0: not at all).
        #[arg(long, value_parser = super::governance::parse_duration)]
        overlap: Option<i64>,
    },
    /// End a subscription.
    #[command(after_help = "Example:\n  modelreg webhook delete 1")]
    Delete {
        /// The subscription's id.
        id: i64,
    },
}

fn parse_event_type(text: &str) -> Result<EventType, String> {
    let name = format!("EVENT_TYPE_{}", text.to_ascii_uppercase());
    match pb::EventType::from_str_name(&name) {
        Some(known) if known != pb::EventType::Unspecified => {
            Ok(EventType::from_proto(known as i32))
        }
        _ => Err(format!(
            "{text:?} is not an event type (e.g. alias_set, version_registered)"
        )),
    }
}

/// Runs a `modelreg webhook` subcommand.
pub async fn webhook_command(
    client: &RegistryClient,
    command: WebhookCommand,
    printer: &Printer,
) -> Result<(), Error> {
    match command {
        WebhookCommand::Create {
            destination,
            description,
            model_prefix,
            aliases,
            event_types,
            unordered,
        } => {
            let mut builder = client
                .create_webhook(destination)
                .description(description)
                .model_prefix(model_prefix)
                .ordered(!unordered);
            for alias in aliases {
                builder = builder.alias(alias);
            }
            for event_type in event_types {
                builder = builder.event_type(event_type);
            }
            let created = builder.await?;
            print_with_secret(&created.webhook, &created.secret, printer)
        }
        WebhookCommand::List => {
            let webhooks = client.webhooks().await?;
            let rows = webhooks
                .iter()
                .map(|w| {
                    vec![
                        w.id.to_string(),
                        state(w).to_owned(),
                        w.url.clone(),
                        filter_text(w),
                        w.delivered_through_event_id.to_string(),
                        w.failure.clone(),
                    ]
                })
                .collect::<Vec<_>>();
            printer.print(
                output::canonical_list(&webhooks)?,
                output::table(
                    &[
                        "ID",
                        "STATE",
                        "URL",
                        "EVENTS",
                        "DELIVERED THROUGH",
                        "FAILURE",
                    ],
                    &rows,
                ),
            );
            Ok(())
        }
        WebhookCommand::Show { id } => print_webhook(&client.webhook(id).await?, printer),
        WebhookCommand::Deliveries { id, limit } => {
            let deliveries = client.webhook_deliveries(id, limit).await?;
            let rows = deliveries
                .iter()
                .map(|d| {
                    vec![
                        output::time(time(d.attempted_at.as_ref())),
                        d.event_id.to_string(),
                        d.attempt.to_string(),
                        d.http_status
                            .map_or_else(|| "-".to_owned(), |s| s.to_string()),
                        format!("{} ms", d.latency_ms),
                        if d.delivered {
                            "delivered".to_owned()
                        } else {
                            d.error.clone()
                        },
                    ]
                })
                .collect::<Vec<_>>();
            printer.print(
                output::canonical_list(&deliveries)?,
                output::table(
                    &[
                        "ATTEMPTED",
                        "EVENT",
                        "ATTEMPT",
                        "STATUS",
                        "LATENCY",
                        "OUTCOME",
                    ],
                    &rows,
                ),
            );
            Ok(())
        }
        WebhookCommand::Replay {
            id,
            from_event,
            since,
        } => {
            let from = match (from_event, since) {
                (Some(event), None) => ReplayFrom::Event(event),
                (None, Some(since)) => ReplayFrom::Since(parse_time(&since)?),
                _ => {
                    return Err(Error::InvalidInput(
                        "give --from-event or --since".to_owned(),
                    ));
                }
            };
            print_webhook(&client.replay_webhook(id, from).await?, printer)
        }
        WebhookCommand::Resume {
            id,
            skip_failed_event,
        } => print_webhook(
            &client.resume_webhook(id, skip_failed_event).await?,
            printer,
        ),
        WebhookCommand::RotateSecret { id, overlap } => {
            let rotated = client.rotate_webhook_secret(id, overlap).await?;
            print_with_secret(&rotated.webhook, &rotated.secret, printer)
        }
        WebhookCommand::Delete { id } => {
            client.delete_webhook(id).await?;
            printer.print(
                serde_json::json!({ "id": id.to_string(), "deleted": true }),
                format!("webhook {id} deleted"),
            );
            Ok(())
        }
    }
}

fn parse_time(text: &str) -> Result<SystemTime, Error> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| SystemTime::from(at.with_timezone(&chrono::Utc)))
        .map_err(|e| Error::InvalidInput(format!("--since {text:?} is not an RFC 3339 time: {e}")))
}

fn time(timestamp: Option<&model_registry_client::prost_types::Timestamp>) -> Option<SystemTime> {
    timestamp.and_then(|t| SystemTime::try_from(*t).ok())
}

fn state(webhook: &pb::Webhook) -> &'static str {
    match pb::WebhookState::try_from(webhook.state) {
        Ok(pb::WebhookState::Active) => "ACTIVE",
        Ok(pb::WebhookState::Failing) => "FAILING",
        _ => "UNKNOWN",
    }
}

/// Which events it receives, in a few words.
fn filter_text(webhook: &pb::Webhook) -> String {
    let mut parts = Vec::new();
    if !webhook.model_prefix.is_empty() {
        parts.push(format!("{}*", webhook.model_prefix));
    }
    if !webhook.aliases.is_empty() {
        parts.push(format!("@{}", webhook.aliases.join(",@")));
    }
    if !webhook.event_types.is_empty() {
        let names: Vec<&str> = webhook
            .event_types
            .iter()
            .map(|t| EventType::from_proto(*t).as_str())
            .collect();
        parts.push(names.join(","));
    }
    if parts.is_empty() {
        "every event".to_owned()
    } else {
        parts.join(" ")
    }
}

fn details(webhook: &pb::Webhook) -> String {
    let mut lines = vec![
        format!("webhook {}: {}", webhook.id, state(webhook)),
        format!("url: {}", webhook.url),
        format!("events: {}", filter_text(webhook)),
        format!(
            "order: {}",
            if webhook.ordered {
                "in order (a failing event holds up the later ones)"
            } else {
                "unordered (a failing event is set aside and retried on its own)"
            }
        ),
        format!(
            "delivered through event: {}",
            webhook.delivered_through_event_id
        ),
    ];
    if !webhook.description.is_empty() {
        lines.push(format!("description: {}", webhook.description));
    }
    if let Some(event) = webhook.retrying_event_id {
        lines.push(format!("waiting on event {event}: {}", webhook.failure));
    }
    if let Some(at) = time(webhook.last_delivered_at.as_ref()) {
        lines.push(format!("last delivered: {}", output::time(Some(at))));
    }
    if let Some(until) = time(webhook.previous_secret_expires_at.as_ref()) {
        lines.push(format!(
            "previous secret signs until: {}",
            output::time(Some(until))
        ));
    }
    lines.push(format!(
        "created: {} by {}",
        output::time(time(webhook.created_at.as_ref())),
        webhook.created_by
    ));
    lines.join("\n")
}

fn print_webhook(webhook: &pb::Webhook, printer: &Printer) -> Result<(), Error> {
    printer.print(output::canonical(webhook)?, details(webhook));
    Ok(())
}

/// A subscription with its secret: the one time the secret is printed.
fn print_with_secret(webhook: &pb::Webhook, secret: &str, printer: &Printer) -> Result<(), Error> {
    let mut document = output::canonical(webhook)?;
    document["secret"] = serde_json::Value::from(secret);
    let text = format!(
        "{}\nsecret: {secret}\n(shown once: give it to the receiver, which verifies each request's webhook-signature with it)",
        details(webhook)
    );
    printer.print(document, text);
    Ok(())
}
