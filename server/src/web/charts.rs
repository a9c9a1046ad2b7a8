//! The console's two charts, as inline SVG drawn on the server: which
//! version each alias held over time (a step chart, each move a point whose
//! tooltip says who moved it and why), and one metric across versions with
//! the versions that held `production` marked. Both have axis labels and a
//! legend, and read without JavaScript. Drawn here rather than with a
//! plotting crate: a plotting crate's text layout needs a font file in the
//! binary, while the browser lays out SVG text itself.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

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
                @let colour = PALETTE[index % PALETTE.len()];
                @let own: Vec<&AliasMove> = moves.iter().filter(|m| m.alias == *alias).collect();
                path.series stroke=(colour) fill="none" d=(step_path(&own, end, &x, &y)) {}
                @for m in &own {
                    @if let Some(version) = m.version {
                        circle.move cx=(x(m.at)) cy=(y(version)) r="4" fill=(colour) {
                            title { (format!("{alias} → version {version} at {} UTC, by {}: {}",
                                m.at.format("%Y-%m-%d %H:%M:%S"), m.actor, m.reason)) }
                        }
                    } @else {
                        circle.move.deleted cx=(x(m.at)) cy=(y(0)) r="4" stroke=(colour) fill="none" {
                            title { (format!("{alias} deleted at {} UTC, by {}: {}",
                                m.at.format("%Y-%m-%d %H:%M:%S"), m.actor, m.reason)) }
                        }
                    }
                }
            }
            g.legend {
                @for (index, alias) in aliases.iter().enumerate() {
                    @let left = LEFT + 8.0 + index as f64 * 110.0;
                    rect x=(left) y="8" width="12" height="12" fill=(PALETTE[index % PALETTE.len()]) {}
                    text x=(left + 16.0) y="18" { (alias) }
                }
            }
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
}

/// `metric` across versions (in version order), production holders marked.
pub fn metric_chart(metric: &str, points: &[MetricPoint]) -> Markup {
    if points.is_empty() {
        return html! { p.empty { "No version has the metric " code { (metric) } "." } };
    }
    let (first, last) = (points[0].version, points[points.len() - 1].version);
    let (mut low, mut high) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.value), hi.max(p.value))
    });
    if (high - low).abs() < f64::EPSILON {
        (low, high) = (low - 0.5, high + 0.5);
    }
    let pad = (high - low) * 0.08;
    let (low, high) = (low - pad, high + pad);
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
    let value_ticks: Vec<f64> = (0..=4)
        .map(|i| low + (high - low) * f64::from(i) / 4.0)
        .collect();
    let version_ticks = version_ticks(first, last);
    html! {
        svg.chart.metric role="img" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            aria-label=(format!("{metric} by version")) {
            (axes("version", metric))
            @for tick in &value_ticks {
                line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(*tick)) y2=(y(*tick)) {}
                text.tick x=(LEFT - 6.0) y=(y(*tick) + 4.0) text-anchor="end" { (format!("{tick:.3}")) }
            }
            @for tick in &version_ticks {
                text.tick x=(x(*tick)) y=(HEIGHT - BOTTOM + 16.0) text-anchor="middle" { (tick) }
            }
            polyline.series stroke=(PALETTE[0]) fill="none" points=(line.join(" ")) {}
            @for p in points {
                @if p.held_production {
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

/// Up to five evenly spaced moments from `start` to `end`.
fn ticks_between(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let span = end - start;
    (0..=3).map(|i| start + span * i / 3).collect()
}

/// Tick labels precise enough to differ across `span`.
fn time_format(span: chrono::Duration) -> &'static str {
    if span < chrono::Duration::minutes(10) {
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
        assert_eq!(svg.matches("<circle class=\"move").count(), 4);
        assert!(svg.contains("canary deleted at"));
        assert!(
            svg.contains("&lt;b&gt;why&lt;/b&gt;"),
            "reasons are escaped"
        );
        assert!(svg.contains(">version</text>") && svg.contains(">time (UTC)</text>"));
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
            },
            MetricPoint {
                version: 2,
                value: 0.9,
                held_production: false,
            },
        ];
        let svg = metric_chart("auc", &points).into_string();
        assert_eq!(svg.matches("<circle class=\"production\"").count(), 1);
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 1);
        assert!(svg.contains("held production"));
        let flat = metric_chart("auc", &points[..1]).into_string();
        assert!(flat.contains("<polyline"), "one point still draws");
    }
}
