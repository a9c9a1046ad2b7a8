//! The console's two charts, as inline SVG drawn on the server: which
//! version each alias held over time (a step chart, each move a point whose
//! tooltip says who moved it and why; aliases on the same version stay
//! apart by a small offset, their own dash and their own marker), and one
//! metric across versions with the versions that held `production` and the
//! retired (deprecated, archived) ones marked, on round tick values. Both
//! have axis labels and a legend, and read without JavaScript. Drawn here rather than with a
//! plotting crate: a plotting crate's text layout needs a font file in the
//! binary, while the browser lays out SVG text itself. Which metric and
//! which columns a model page shows are chosen here too.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::domain::{AliasName, ModelVersion, VersionStatus};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;

/// Line colours, distinguishable in light and dark themes.
const PALETTE: [&str; 8] = [
    "#2f6fdf", "#d9480f", "#2b8a3e", "#ae3ec9", "#e8590c", "#0c8599", "#c2255c", "#5c940d",
];

/// Dash patterns, one per alias, so lines on the same version stay apart.
const DASHES: [&str; 4] = ["none", "7 3", "2 3", "9 3 2 3"];

/// Pixels between the lines of two aliases that hold the same version.
const ALIAS_OFFSET: f64 = 3.0;

/// The marker of each alias's moves: a shape per alias, as the dash.
#[derive(Debug, Clone, Copy)]
enum Marker {
    Circle,
    Square,
    Diamond,
    Triangle,
}

const MARKERS: [Marker; 4] = [
    Marker::Circle,
    Marker::Square,
    Marker::Diamond,
    Marker::Triangle,
];

/// Where a marker is drawn: a move on the chart, or its sample in the legend.
#[derive(Debug, Clone, Copy)]
enum Role {
    Move,
    Legend,
}

/// A marker of `kind` centred on (`x`, `y`), filled or hollow, with a tooltip.
fn marker(
    kind: Marker,
    role: Role,
    (x, y): (f64, f64),
    colour: &str,
    filled: bool,
    tooltip: &str,
) -> Markup {
    let class = match role {
        Role::Move => "move",
        Role::Legend => "key",
    };
    let fill = if filled { colour } else { "none" };
    let points = |corners: &[(f64, f64)]| {
        corners
            .iter()
            .map(|(dx, dy)| format!("{:.1},{:.1}", x + dx, y + dy))
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        @match kind {
            Marker::Circle => circle class=(class) cx=(x) cy=(y) r="4" fill=(fill) stroke=(colour) { title { (tooltip) } },
            Marker::Square => rect class=(class) x=(tenth(x - 3.5)) y=(tenth(y - 3.5)) width="7" height="7" fill=(fill) stroke=(colour) { title { (tooltip) } },
            Marker::Diamond => polygon class=(class) points=(points(&[(0.0, -5.0), (5.0, 0.0), (0.0, 5.0), (-5.0, 0.0)])) fill=(fill) stroke=(colour) { title { (tooltip) } },
            Marker::Triangle => polygon class=(class) points=(points(&[(0.0, -5.0), (4.5, 4.0), (-4.5, 4.0)])) fill=(fill) stroke=(colour) { title { (tooltip) } },
        }
    }
}

/// One move of one alias: where it pointed from `at` on (`None`: deleted).
#[derive(Debug, Clone)]
pub struct AliasMove {
    /// When.
    pub at: DateTime<Utc>,
    /// Which alias.
    pub alias: String,
    /// The version it pointed at from then on.
    pub version: Option<i64>,
    /// Who moved it.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// An admin's break-glass move past the alias's policy.
    pub emergency: bool,
}

/// The alias timeline: for each alias, which version held it over time, up
/// to `now`. `moves` are in time order.
pub fn alias_timeline(moves: &[AliasMove], now: DateTime<Utc>) -> Markup {
    let mut aliases: Vec<&str> = moves.iter().map(|m| m.alias.as_str()).collect();
    aliases.sort_unstable();
    aliases.dedup();
    let Some(first) = moves.first() else {
        return html! { p.empty { "No alias has moved yet." } };
    };
    let start = first.at;
    let end = now.max(start + chrono::Duration::seconds(1));
    let top_version = moves.iter().filter_map(|m| m.version).max().unwrap_or(1);
    let x = |at: DateTime<Utc>| {
        let span = (end - start).num_milliseconds().max(1) as f64;
        tenth(LEFT + (at - start).num_milliseconds() as f64 / span * (WIDTH - LEFT - RIGHT))
    };
    let y = |version: i64| {
        let span = (top_version as f64).max(1.0);
        tenth(HEIGHT - BOTTOM - (version as f64 / span) * (HEIGHT - TOP - BOTTOM))
    };
    let time_ticks = ticks_between(start, end);
    let tick_format = time_format(end - start);
    let version_ticks = integer_ticks(top_version);
    html! {
        svg.chart.timeline role="img" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            aria-label="Which version each alias pointed at over time" {
            (axes("time (UTC)", "version"))
            @for tick in &version_ticks {
                line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(*tick)) y2=(y(*tick)) {}
                text.tick x=(LEFT - 6.0) y=(y(*tick) + 4.0) text-anchor="end" { (tick) }
            }
            @for (index, tick) in time_ticks.iter().enumerate() {
                // The outer labels align inwards so they stay inside the frame.
                @let anchor = match index {
                    0 => "start",
                    i if i + 1 == time_ticks.len() => "end",
                    _ => "middle",
                };
                text.tick x=(x(*tick)) y=(HEIGHT - BOTTOM + 16.0) text-anchor=(anchor) {
                    (tick.format(tick_format))
                }
            }
            @for (index, alias) in aliases.iter().enumerate() {
                @let style = AliasStyle::of(index, aliases.len());
                @let own: Vec<&AliasMove> = moves.iter().filter(|m| m.alias == *alias).collect();
                @let shifted = |version: i64| tenth(y(version) + style.offset);
                path.series stroke=(style.colour) stroke-dasharray=(style.dash) fill="none"
                    d=(step_path(&own, end, &x, &shifted)) {}
                @for m in &own {
                    @if let Some(version) = m.version {
                        (marker(style.marker, Role::Move, (x(m.at), shifted(version)), style.colour, true,
                            &format!("{alias} → version {version} at {}, by {}: {}",
                                m.at.format("%Y-%m-%dT%H:%M:%SZ"), m.actor, m.reason)))
                    } @else {
                        (marker(style.marker, Role::Move, (x(m.at), shifted(0)), style.colour, false,
                            &format!("{alias} deleted at {}, by {}: {}",
                                m.at.format("%Y-%m-%dT%H:%M:%SZ"), m.actor, m.reason)))
                    }
                }
            }
            g.legend {
                @for (index, alias) in aliases.iter().enumerate() {
                    @let style = AliasStyle::of(index, aliases.len());
                    @let left = LEFT + 8.0 + index as f64 * 110.0;
                    line x1=(left) x2=(left + 22.0) y1="14" y2="14" stroke=(style.colour)
                        stroke-width="2" stroke-dasharray=(style.dash) {}
                    (marker(style.marker, Role::Legend, (left + 11.0, 14.0), style.colour, true, alias))
                    text x=(left + 26.0) y="18" { (alias) }
                }
            }
        }
    }
}

/// How one alias's line is drawn: colour, dash, marker and a vertical
/// offset, all by its place among the chart's aliases.
struct AliasStyle {
    colour: &'static str,
    dash: &'static str,
    marker: Marker,
    offset: f64,
}

impl AliasStyle {
    fn of(index: usize, count: usize) -> Self {
        Self {
            colour: PALETTE[index % PALETTE.len()],
            dash: DASHES[index % DASHES.len()],
            marker: MARKERS[index % MARKERS.len()],
            // Centred on the version's line: -1.5, +1.5 for two aliases …
            offset: (index as f64 - (count as f64 - 1.0) / 2.0) * ALIAS_OFFSET,
        }
    }
}

/// An alias's steps: flat while it holds a version, a jump at each move, a
/// gap while it is deleted; the last step runs to `end`.
fn step_path(
    moves: &[&AliasMove],
    end: DateTime<Utc>,
    x: &impl Fn(DateTime<Utc>) -> f64,
    y: &impl Fn(i64) -> f64,
) -> String {
    let mut path = String::new();
    for (index, m) in moves.iter().enumerate() {
        let Some(version) = m.version else { continue };
        let until = moves.get(index + 1).map_or(end, |next| next.at);
        // Jump from the previous step when it held a version, else start anew.
        let joined = index > 0 && moves[index - 1].version.is_some();
        let command = if joined { 'L' } else { 'M' };
        path.push_str(&format!(
            "{command}{:.1},{:.1} H{:.1} ",
            x(m.at),
            y(version),
            x(until)
        ));
    }
    path.trim_end().to_owned()
}

/// One metric's value by version, with the versions that held production.
#[derive(Debug, Clone, Copy)]
pub struct MetricPoint {
    /// The version.
    pub version: i64,
    /// Its value of the metric.
    pub value: f64,
    /// Whether it ever held `production`.
    pub held_production: bool,
    /// Its status now: deprecated and archived versions are marked.
    pub status: VersionStatus,
}

/// `metric` across versions (in version order), production holders marked.
pub fn metric_chart(metric: &str, points: &[MetricPoint]) -> Markup {
    if points.is_empty() {
        return html! { p.empty { "No version has the metric " code { (metric) } "." } };
    }
    let (first, last) = (points[0].version, points[points.len() - 1].version);
    let (low, high) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.value), hi.max(p.value))
    });
    let value_ticks = RoundTicks::covering(low, high);
    let (low, high) = (value_ticks.low(), value_ticks.high());
    let x = |version: i64| {
        let span = ((last - first) as f64).max(1.0);
        tenth(LEFT + (version - first) as f64 / span * (WIDTH - LEFT - RIGHT))
    };
    let y = |value: f64| {
        tenth(HEIGHT - BOTTOM - (value - low) / (high - low) * (HEIGHT - TOP - BOTTOM))
    };
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.version), y(p.value)))
        .collect();
    let version_ticks = version_ticks(first, last);
    html! {
        svg.chart.metric role="img" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            aria-label=(format!("{metric} by version")) {
            (axes("version", metric))
            @for tick in value_ticks.values() {
                line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(tick)) y2=(y(tick)) {}
                text.tick x=(LEFT - 6.0) y=(y(tick) + 4.0) text-anchor="end" { (value_ticks.label(tick)) }
            }
            @for tick in &version_ticks {
                text.tick x=(x(*tick)) y=(HEIGHT - BOTTOM + 16.0) text-anchor="middle" { (tick) }
            }
            polyline.series stroke=(PALETTE[0]) fill="none" points=(line.join(" ")) {}
            @for p in points {
                @if p.status != VersionStatus::Active {
                    rect.retired x=(tenth(x(p.version) - 4.0)) y=(tenth(y(p.value) - 4.0)) width="8" height="8"
                        fill="var(--bg)" stroke="var(--archived)" stroke-width="1.5" {
                        title { (format!("version {}: {metric} = {} ({}{})", p.version, p.value,
                            p.status.as_str(), if p.held_production { "; held production" } else { "" })) }
                    }
                } @else if p.held_production {
                    circle.production cx=(x(p.version)) cy=(y(p.value)) r="6" fill="none" stroke=(PALETTE[1]) stroke-width="2.5" {
                        title { (format!("version {}: {metric} = {} (held production)", p.version, p.value)) }
                    }
                } @else {
                    circle.point cx=(x(p.version)) cy=(y(p.value)) r="3" fill=(PALETTE[0]) {
                        title { (format!("version {}: {metric} = {}", p.version, p.value)) }
                    }
                }
            }
            g.legend {
                rect x=(LEFT + 8.0) y="8" width="12" height="12" fill=(PALETTE[0]) {}
                text x=(LEFT + 24.0) y="18" { (metric) }
                circle cx=(LEFT + 150.0) cy="14" r="6" fill="none" stroke=(PALETTE[1]) stroke-width="2.5" {}
                text x=(LEFT + 162.0) y="18" { "held production" }
                @if points.iter().any(|p| p.status != VersionStatus::Active) {
                    rect x=(LEFT + 286.0) y="10" width="8" height="8" fill="none" stroke="var(--archived)" stroke-width="1.5" {}
                    text x=(LEFT + 300.0) y="18" { "deprecated or archived" }
                }
            }
        }
    }
}

/// A coordinate to a tenth of a pixel: precise enough, and a tenth of the
/// page weight of every digit a float prints.
fn tenth(coordinate: f64) -> f64 {
    (coordinate * 10.0).round() / 10.0
}

/// The frame: both axes and their labels.
fn axes(x_label: &str, y_label: &str) -> Markup {
    html! {
        line.axis x1=(LEFT) x2=(WIDTH - RIGHT) y1=(HEIGHT - BOTTOM) y2=(HEIGHT - BOTTOM) {}
        line.axis x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(HEIGHT - BOTTOM) {}
        text.label x=((LEFT + WIDTH - RIGHT) / 2.0) y=(HEIGHT - 6.0) text-anchor="middle" { (x_label) }
        text.label x="14" y=((TOP + HEIGHT - BOTTOM) / 2.0) text-anchor="middle"
            transform=(format!("rotate(-90 14 {})", (TOP + HEIGHT - BOTTOM) / 2.0)) { (y_label) }
    }
}

/// Round tick values (a step of 1, 2 or 5 times a power of ten) whose
/// first and last enclose the data: the axis reads 0.84, 0.86 … rather
/// than 0.835, 0.870.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RoundTicks {
    /// The first tick, in steps (an integer, so no rounding drifts).
    first: i64,
    /// How many steps to the last tick.
    count: i64,
    step: f64,
}

impl RoundTicks {
    /// At most about six ticks enclosing `low..=high`.
    fn covering(low: f64, high: f64) -> Self {
        let (low, high) = if (high - low).abs() < 1e-12 {
            // One value: a span around it, of its own magnitude.
            let around = if low == 0.0 { 1.0 } else { low.abs() * 0.05 };
            (low - around, high + around)
        } else {
            (low, high)
        };
        let rough = (high - low) / 5.0;
        let magnitude = 10f64.powf(rough.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|step| *step >= rough)
            .unwrap_or(10.0 * magnitude);
        let first = (low / step).floor() as i64;
        let last = (high / step).ceil() as i64;
        Self {
            first,
            count: (last - first).max(1),
            step,
        }
    }

    fn low(&self) -> f64 {
        self.first as f64 * self.step
    }

    fn high(&self) -> f64 {
        (self.first + self.count) as f64 * self.step
    }

    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        (0..=self.count).map(|i| (self.first + i) as f64 * self.step)
    }

    /// A tick's label, with as many decimals as the step needs.
    fn label(&self, value: f64) -> String {
        let decimals = (-self.step.log10().floor()).max(0.0) as usize;
        format!("{value:.decimals$}")
    }
}

/// Up to five evenly spaced moments from `start` to `end`.
fn ticks_between(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let span = end - start;
    (0..=3).map(|i| start + span * i / 3).collect()
}

/// Tick labels precise enough to differ across `span`.
fn time_format(span: chrono::Duration) -> &'static str {
    if span < chrono::Duration::seconds(10) {
        "%H:%M:%S%.3f"
    } else if span < chrono::Duration::minutes(10) {
        "%H:%M:%S"
    } else if span < chrono::Duration::days(2) {
        "%m-%d %H:%M"
    } else {
        "%Y-%m-%d"
    }
}

/// Whole version numbers from 0 to `top`, at most about six of them.
fn integer_ticks(top: i64) -> Vec<i64> {
    let step = (top / 5).max(1);
    (0..=top).step_by(step as usize).collect()
}

/// Version numbers from `first` to `last`, at most about eight of them.
fn version_ticks(first: i64, last: i64) -> Vec<i64> {
    let step = ((last - first) / 7).max(1);
    (first..=last).step_by(step as usize).collect()
}

/// The metric to chart: the one asked for, else `auc`, `accuracy`, `f1` or
/// the first metric of the newest version.
pub(super) fn chosen_metric(versions: &[ModelVersion], asked: &str) -> Option<String> {
    if !asked.trim().is_empty() {
        return Some(asked.trim().to_owned());
    }
    let newest = versions.last()?;
    ["auc", "accuracy", "f1"]
        .into_iter()
        .find(|m| newest.metrics.contains_key(*m))
        .map(str::to_owned)
        .or_else(|| newest.metrics.keys().next().cloned())
}

/// `metric` of each charted version that has it, production holders (now
/// or within the timeline's moves) marked.
pub(super) fn metric_points(
    versions: &[ModelVersion],
    metric: &str,
    moves: &[AliasMove],
) -> Vec<MetricPoint> {
    let held: BTreeSet<i64> = moves
        .iter()
        .filter(|m| m.alias == AliasName::PRODUCTION)
        .filter_map(|m| m.version)
        .collect();
    versions
        .iter()
        .filter_map(|v| {
            v.metrics.get(metric).map(|value| MetricPoint {
                version: v.version,
                value: *value,
                held_production: held.contains(&v.version),
                status: v.status,
            })
        })
        .collect()
}

/// The metrics shown as columns: the sorted-by one first, then the most
/// common on the page, at most six.
pub(super) fn metric_columns(versions: &[ModelVersion], sort: &str) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in versions {
        for m in v.metrics.keys() {
            *counts.entry(m.as_str()).or_default() += 1;
        }
    }
    let mut by_use: Vec<(&str, usize)> = counts.into_iter().collect();
    by_use.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut columns: Vec<String> = Vec::new();
    if !sort.is_empty() && sort != "version" {
        columns.push(sort.to_owned());
    }
    for (m, _) in by_use {
        if columns.len() >= 6 {
            break;
        }
        if !columns.iter().any(|c| c == m) {
            columns.push(m.to_owned());
        }
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(minute)
    }

    fn moved(minute: i64, alias: &str, version: Option<i64>) -> AliasMove {
        AliasMove {
            at: at(minute),
            alias: alias.into(),
            version,
            actor: "ci".into(),
            reason: "<b>why</b>".into(),
            emergency: false,
        }
    }

    #[test]
    fn each_alias_is_a_step_line_with_a_point_per_move() {
        let moves = [
            moved(0, "production", Some(1)),
            moved(10, "canary", Some(2)),
            moved(20, "production", Some(2)),
            moved(30, "canary", None),
        ];
        let svg = alias_timeline(&moves, at(40)).into_string();
        assert_eq!(svg.matches("<path class=\"series\"").count(), 2);
        let plotted = svg.split("<g class=\"legend\"").next().unwrap_or_default();
        assert_eq!(
            plotted.matches("class=\"move\"").count(),
            4,
            "one marker a move"
        );
        assert!(svg.contains("canary deleted at"));
        assert!(
            svg.contains("&lt;b&gt;why&lt;/b&gt;"),
            "reasons are escaped"
        );
        assert!(svg.contains(">version</text>") && svg.contains(">time (UTC)</text>"));
        assert!(
            svg.contains("at 1970-01-01T00:20:00Z, by ci"),
            "ISO 8601 with seconds"
        );
    }

    #[test]
    fn aliases_on_the_same_version_stay_apart() {
        let moves = [
            moved(0, "production", Some(1)),
            moved(0, "staging", Some(1)),
        ];
        let svg = alias_timeline(&moves, at(10)).into_string();
        let paths: Vec<&str> = svg
            .split("<path class=\"series\"")
            .skip(1)
            .map(|p| {
                p.split("d=\"")
                    .nth(1)
                    .and_then(|d| d.split('"').next())
                    .unwrap_or("")
            })
            .collect();
        assert_eq!(paths.len(), 2);
        assert_ne!(paths[0], paths[1], "offset: the lines do not coincide");
        assert!(
            svg.contains("stroke-dasharray=\"none\"") && svg.contains("stroke-dasharray=\"7 3\"")
        );
        assert!(
            svg.contains("<circle class=\"move\"") && svg.contains("<rect class=\"move\""),
            "a marker shape each"
        );
    }

    #[test]
    fn time_ticks_differ_even_over_a_second() {
        let start = at(0);
        let end = start + chrono::Duration::milliseconds(1500);
        let labels: Vec<String> = ticks_between(start, end)
            .iter()
            .map(|t| t.format(time_format(end - start)).to_string())
            .collect();
        let mut distinct = labels.clone();
        distinct.dedup();
        assert_eq!(distinct, labels, "{labels:?}");
    }

    #[test]
    fn value_ticks_are_round_and_enclose_the_data() {
        let ticks = RoundTicks::covering(0.8353, 0.9261);
        let values: Vec<String> = ticks.values().map(|v| ticks.label(v)).collect();
        assert_eq!(
            values,
            ["0.82", "0.84", "0.86", "0.88", "0.90", "0.92", "0.94"]
        );
        assert!(ticks.low() <= 0.8353 && ticks.high() >= 0.9261);
        let wide = RoundTicks::covering(12.0, 480.0);
        assert_eq!(
            wide.values().map(|v| wide.label(v)).collect::<Vec<_>>(),
            ["0", "100", "200", "300", "400", "500"]
        );
        let single = RoundTicks::covering(0.9, 0.9);
        assert!(single.low() < 0.9 && single.high() > 0.9);
        let labels: Vec<String> = single.values().map(|v| single.label(v)).collect();
        assert!(labels.iter().all(|l| l.len() <= 5), "{labels:?}");
    }

    #[test]
    fn a_deleted_alias_leaves_a_gap_and_the_last_step_reaches_now() {
        let moves = [
            moved(0, "canary", Some(1)),
            moved(10, "canary", None),
            moved(20, "canary", Some(2)),
        ];
        let refs: Vec<&AliasMove> = moves.iter().collect();
        let path = step_path(&refs, at(30), &|t| t.timestamp() as f64 / 60.0, &|v| {
            v as f64
        });
        assert_eq!(path, "M0.0,1.0 H10.0 M20.0,2.0 H30.0");
    }

    #[test]
    fn the_metric_chart_marks_production_holders() {
        let points = [
            MetricPoint {
                version: 1,
                value: 0.8,
                held_production: true,
                status: VersionStatus::Active,
            },
            MetricPoint {
                version: 2,
                value: 0.9,
                held_production: false,
                status: VersionStatus::Active,
            },
            MetricPoint {
                version: 3,
                value: 0.85,
                held_production: true,
                status: VersionStatus::Deprecated,
            },
        ];
        let svg = metric_chart("auc", &points).into_string();
        assert_eq!(svg.matches("<circle class=\"production\"").count(), 1);
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 1);
        assert!(svg.contains("held production"));
        assert_eq!(svg.matches("<rect class=\"retired\"").count(), 1);
        assert!(svg.contains("version 3: auc = 0.85 (DEPRECATED; held production)"));
        assert!(
            svg.contains("deprecated or archived"),
            "the legend says what the mark means"
        );
        let flat = metric_chart("auc", &points[..1]).into_string();
        assert!(flat.contains("<polyline"), "one point still draws");
    }
}
