//! Small line charts as inline SVG, for the HTML report.
//!
//! Hand-written rather than drawn with a plotting crate: the charts need lines, shaded bands,
//! threshold lines, a legend and a logarithmic "nines" axis, and nothing that needs fonts or
//! files, so the page opens anywhere with no network. Coordinates are computed here; the
//! browser draws. A chart scales to its container's width (its `viewBox`), its tick labels
//! carry the decimals their step needs and no more, and a chart of times can pick the unit
//! that reads best (`Chart::in_time_unit`: µs, ms or s). A chart of latencies has a
//! logarithmic y axis (`Chart::log_y`): a p50 of 40 µs and a max of 4 ms both stay readable,
//! as HdrHistogram's plots keep them.

use std::fmt::Write;

/// One line of a chart.
pub struct Series {
    /// Legend label.
    pub name: String,
    /// CSS colour.
    pub color: &'static str,
    /// (x, y) points in data units, in x order.
    pub points: Vec<(f64, f64)>,
    /// (x, low, high) of a confidence band drawn under the line, in x order; empty: none.
    pub band: Vec<(f64, f64, f64)>,
    /// Drawn thin and dashed, under the others (a max, which would hide a p99 beneath it).
    pub dashed: bool,
}

impl Series {
    /// Multiplies every y value, the band's included, by `k` (a change of unit).
    pub fn scale(&mut self, k: f64) {
        self.points.iter_mut().for_each(|p| p.1 *= k);
        self.band
            .iter_mut()
            .for_each(|b| (b.1, b.2) = (b.1 * k, b.2 * k));
    }

    /// A solid line with no band.
    pub fn line(name: impl Into<String>, color: &'static str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            color,
            points,
            band: Vec::new(),
            dashed: false,
        }
    }
}

/// What a shaded x range marks; each kind has its legend entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShadeKind {
    /// An interval whose figures openpace flagged as suspect.
    Suspect,
    /// The warmup, before the measured window.
    Warmup,
}

impl ShadeKind {
    fn class(self) -> &'static str {
        match self {
            ShadeKind::Suspect => "band",
            ShadeKind::Warmup => "warm",
        }
    }

    fn legend(self) -> &'static str {
        match self {
            ShadeKind::Suspect => "suspect interval",
            ShadeKind::Warmup => "warmup (not measured)",
        }
    }
}

/// A shaded x range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shade {
    /// Where it starts.
    pub from: f64,
    /// Where it ends.
    pub to: f64,
    /// What it marks.
    pub kind: ShadeKind,
}

/// A horizontal line at a y value (a threshold).
pub struct HLine {
    /// Where.
    pub y: f64,
    /// Label drawn at its right end.
    pub label: String,
    /// CSS colour.
    pub color: &'static str,
}

/// How the x axis is labelled.
pub enum XAxis {
    /// Linear, with "nice" ticks.
    Linear,
    /// The percentile axis: x is -log10(1 - q), labelled 0%, 90%, 99%, 99.9%, ...
    Nines,
}

/// A chart; see the module doc.
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Threshold lines.
    pub hlines: Vec<HLine>,
    /// Shaded x ranges: suspect intervals, the warmup.
    pub shades: Vec<Shade>,
    /// Kind of x axis.
    pub x_axis: XAxis,
    /// The x range drawn, so that charts of one run share their time axis; `None`: the
    /// data's own.
    pub x_range: Option<(f64, f64)>,
    /// A logarithmic y axis, from the decade below the lowest positive value to the one
    /// above the highest (values at or below 0 sit on the bottom edge).
    pub y_log: bool,
}

impl Chart {
    /// A chart of `series` with no limits, shades or fixed range.
    pub fn new(
        title: impl Into<String>,
        x_label: &str,
        y_label: &str,
        x_axis: XAxis,
        series: Vec<Series>,
    ) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series,
            hlines: Vec::new(),
            shades: Vec::new(),
            x_axis,
            x_range: None,
            y_log: false,
        }
    }

    /// The same chart with a logarithmic y axis.
    pub fn log_y(mut self) -> Chart {
        self.y_log = true;
        self
    }

    /// The chart of times whose y values are in units of `ns_per_unit` nanoseconds, moved
    /// to the unit that reads best for its highest value (µs below a millisecond, ms below a
    /// second, s above), with the unit as its y label.
    pub fn in_time_unit(mut self, ns_per_unit: f64) -> Chart {
        let top = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(self.hlines.iter().map(|h| h.y))
            .filter(|y| y.is_finite())
            .fold(0.0f64, f64::max)
            * ns_per_unit;
        let (unit_ns, unit) = if top >= 1e9 {
            (1e9, "s")
        } else if top >= 1e6 {
            (1e6, "ms")
        } else {
            (1e3, "µs")
        };
        let k = ns_per_unit / unit_ns;
        self.series.iter_mut().for_each(|s| s.scale(k));
        self.hlines.iter_mut().for_each(|h| h.y *= k);
        self.y_label = unit.to_string();
        self
    }
}

/// The coordinate system of every chart: the `viewBox` is this wide and high, and the page
/// scales it to its width.
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 48.0;
/// Height of a legend entry.
const LEGEND_STEP: f64 = 20.0;

/// "Nice" tick positions covering `lo..=hi`: steps of 1, 2 or 5 times a power of ten.
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if hi <= lo || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// A tick's label with the decimals its axis's `step` needs, the same for every tick of
/// the axis: 0.5, 1.0, 1.5 (step 0.5); 0, 20, 40 (step 20).
fn label(v: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step < 1.0 {
        (-step.log10() - 1e-9).ceil().clamp(0.0, 9.0) as usize
    } else {
        0
    };
    let text = format!("{v:.decimals$}");
    // No "-0.0": a tick at zero reads 0.
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        text.trim_start_matches('-').to_string()
    } else {
        text
    }
}

/// The step between consecutive ticks (1 for a single tick).
fn step_of(ticks: &[f64]) -> f64 {
    match ticks {
        [a, b, ..] => b - a,
        _ => 1.0,
    }
}

/// Where data lands on the page: the data ranges and the plot area.
struct Frame {
    x0: f64,
    x1: f64,
    /// The y axis's bottom (0 on a linear axis) and top.
    y_bottom: f64,
    y_top: f64,
    y_log: bool,
    plot_w: f64,
    plot_h: f64,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * self.plot_w
    }

    fn py(&self, y: f64) -> f64 {
        let share = if self.y_log {
            let (bottom, top) = (self.y_bottom.log10(), self.y_top.log10());
            (y.max(self.y_bottom).log10() - bottom) / (top - bottom)
        } else {
            y / self.y_top
        };
        TOP + self.plot_h - share.clamp(0.0, 1.0) * self.plot_h
    }
}

/// The chart as an `<svg>` element.
pub fn render(chart: &Chart) -> String {
    let (frame, y_ticks, drawn, off_scale) = scale(chart);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" preserveAspectRatio=\"xMidYMid meet\" \
         role=\"img\" class=\"chart{}\"><title>{}</title>",
        if chart.y_log { " logy" } else { "" },
        esc(&chart.title)
    );
    let _ = write!(
        s,
        "<text x=\"{LEFT}\" y=\"18\" class=\"t\">{}</text>",
        esc(&chart.title)
    );
    for shade in &chart.shades {
        let (a, b) = (
            frame.px(shade.from.max(frame.x0)),
            frame.px(shade.to.min(frame.x1)),
        );
        if b > a {
            let _ = write!(
                s,
                "<rect x=\"{a:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{}\" class=\"{}\"/>",
                b - a,
                frame.plot_h,
                shade.kind.class()
            );
        }
    }
    draw_axes(&mut s, chart, &frame, &y_ticks);
    draw_limits(&mut s, &frame, &drawn, &off_scale);
    let entries = draw_series(&mut s, chart, &frame);
    draw_shade_legend(&mut s, chart, &frame, entries);
    s.push_str("</svg>");
    s
}

/// The frame of `chart`, its y ticks, and its threshold lines split into those drawn and
/// those so far above the data that they are only named.
fn scale(chart: &Chart) -> (Frame, Vec<f64>, Vec<&HLine>, Vec<&HLine>) {
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    // A limit far above the data would flatten it; such limits are named, not drawn.
    let data_top = if y1 > 0.0 { y1 } else { 1.0 };
    let (drawn, off_scale): (Vec<&HLine>, Vec<&HLine>) =
        chart.hlines.iter().partition(|h| h.y <= 2.0 * data_top);
    for h in &drawn {
        y1 = y1.max(h.y);
    }
    if let Some((lo, hi)) = chart.x_range {
        (x0, x1) = (lo, hi);
    }
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if chart.y_log {
        let (y_bottom, y_top, y_ticks) = log_ticks(chart, y1, &drawn);
        let frame = Frame {
            x0,
            x1,
            y_bottom,
            y_top,
            y_log: true,
            plot_w: WIDTH - LEFT - RIGHT,
            plot_h: HEIGHT - TOP - BOTTOM,
        };
        return (frame, y_ticks, drawn, off_scale);
    }
    let mut y_ticks = ticks(0.0, if y1 > 0.0 { y1 * 1.05 } else { 1.0 }, 5);
    // The axis ends on a tick at or above the highest value, never below it.
    let step = match y_ticks.as_slice() {
        [.., a, b] => b - a,
        _ => 1.0,
    };
    while y_ticks.last().is_some_and(|&t| t < y1) {
        let next = y_ticks.last().copied().unwrap_or(0.0) + step;
        y_ticks.push(next);
    }
    let y_top = y_ticks
        .last()
        .copied()
        .unwrap_or(1.0)
        .max(f64::MIN_POSITIVE);
    let frame = Frame {
        x0,
        x1,
        y_bottom: 0.0,
        y_top,
        y_log: false,
        plot_w: WIDTH - LEFT - RIGHT,
        plot_h: HEIGHT - TOP - BOTTOM,
    };
    (frame, y_ticks, drawn, off_scale)
}

/// A logarithmic y axis for `chart` whose highest value (limits included) is `y1` and whose
/// drawn limits are `limits`: from the 1-2-5 step at or below its lowest positive value
/// (points, bands, limits) to the one at or above `y1`, with ticks at 1, 2 and 5 times each
/// power of ten when it spans three decades or fewer, at the powers alone when more.
fn log_ticks(chart: &Chart, y1: f64, limits: &[&HLine]) -> (f64, f64, Vec<f64>) {
    let values = chart.series.iter().flat_map(|s| {
        let points = s.points.iter().map(|p| p.1);
        points.chain(s.band.iter().flat_map(|b| [b.1, b.2]))
    });
    let low = values
        .chain(limits.iter().map(|h| h.y))
        .filter(|y| y.is_finite() && *y > 0.0)
        .fold(f64::INFINITY, f64::min);
    let top = if y1 > 0.0 { y1 } else { 1.0 };
    let low = if low.is_finite() {
        low.min(top)
    } else {
        top / 10.0
    };
    let (from, to) = (low.log10().floor() as i32, top.log10().ceil() as i32);
    let steps: &[f64] = if to - from <= 3 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let candidates: Vec<f64> = (from..=to)
        .flat_map(|power| steps.iter().map(move |m| m * 10f64.powi(power)))
        .collect();
    let bottom = candidates
        .iter()
        .copied()
        .filter(|t| *t <= low * (1.0 + 1e-9))
        .fold(candidates[0], f64::max);
    let mut top_tick = candidates
        .iter()
        .copied()
        .find(|t| *t >= top * (1.0 - 1e-9))
        .unwrap_or(10f64.powi(to));
    if top_tick <= bottom {
        top_tick = bottom * 10.0;
    }
    let ticks = candidates
        .into_iter()
        .filter(|t| *t >= bottom * (1.0 - 1e-9) && *t <= top_tick * (1.0 + 1e-9))
        .collect();
    (bottom, top_tick, ticks)
}

/// A log axis tick's label: its value with the digits it has (0.05, 2, 500, 1000).
fn log_label(v: f64) -> String {
    let decimals = if v < 1.0 {
        (-v.log10() - 1e-9).ceil().clamp(0.0, 9.0) as usize
    } else {
        0
    };
    format!("{v:.decimals$}")
}

/// Grid lines, tick labels, the frame and the axis titles.
fn draw_axes(s: &mut String, chart: &Chart, frame: &Frame, y_ticks: &[f64]) {
    let (plot_w, plot_h) = (frame.plot_w, frame.plot_h);
    let y_step = step_of(y_ticks);
    for t in y_ticks {
        let y = frame.py(*t);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" class=\"grid\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"yl\">{}</text>",
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            if frame.y_log {
                log_label(*t)
            } else {
                label(*t, y_step)
            }
        );
    }
    for (t, text) in &x_ticks(chart, frame) {
        let x = frame.px(*t);
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" class=\"grid\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" class=\"xl\">{}</text>",
            TOP + plot_h,
            TOP + plot_h + 18.0,
            esc(text)
        );
    }
    let _ = write!(
        s,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" class=\"frame\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" class=\"xt\">{}</text>\
         <text x=\"14\" y=\"{:.1}\" class=\"yt\" transform=\"rotate(-90 14 {:.1})\">{}</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0,
        esc(&chart.x_label),
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        esc(&chart.y_label)
    );
}

/// The x ticks with their labels: "nice" numbers, or 0%, 90%, 99%, 99.9%, ... on the
/// nines axis.
fn x_ticks(chart: &Chart, frame: &Frame) -> Vec<(f64, String)> {
    let (x0, x1) = (frame.x0, frame.x1);
    match chart.x_axis {
        XAxis::Linear => {
            let ticks = ticks(x0, x1, 8);
            let step = step_of(&ticks);
            ticks.into_iter().map(|t| (t, label(t, step))).collect()
        }
        XAxis::Nines => (0..=(x1.ceil() as i32).max(1))
            .map(|n| {
                let pct = 100.0 * (1.0 - 10f64.powi(-n));
                let text = if n <= 2 {
                    format!("{pct:.0}%")
                } else {
                    format!("{pct:.*}%", (n - 2) as usize)
                };
                (n as f64, text)
            })
            .filter(|(x, _)| *x <= x1 + 1e-9)
            .collect(),
    }
}

/// Threshold lines with their labels, and the names of those above the chart.
fn draw_limits(s: &mut String, frame: &Frame, drawn: &[&HLine], off_scale: &[&HLine]) {
    let plot_w = frame.plot_w;
    for h in drawn {
        let y = frame.py(h.y);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{}\" \
             class=\"limit\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"ll\" fill=\"{}\">{}</text>",
            LEFT + plot_w,
            h.color,
            LEFT + plot_w - 4.0,
            y - 4.0,
            h.color,
            esc(&h.label)
        );
    }
    if !off_scale.is_empty() {
        let names: Vec<String> = off_scale.iter().map(|h| h.label.clone()).collect();
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"ll\" fill=\"{}\">limits above the chart: {}\
             </text>",
            LEFT + plot_w - 6.0,
            TOP + 18.0,
            off_scale[0].color,
            esc(&names.join(", "))
        );
    }
}

/// Each series as a line, the dashed ones first (underneath), with its legend entry in the
/// given order; returns the number of legend entries drawn.
fn draw_series(s: &mut String, chart: &Chart, frame: &Frame) -> usize {
    let under = chart.series.iter().filter(|x| x.dashed);
    for series in under.chain(chart.series.iter().filter(|x| !x.dashed)) {
        draw_band(s, series, frame);
        let path: Vec<String> = series
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", frame.px(x), frame.py(y)))
            .collect();
        if !path.is_empty() {
            let _ = write!(
                s,
                "<polyline points=\"{}\" stroke=\"{}\" class=\"{}\"/>",
                path.join(" "),
                series.color,
                line_class(series)
            );
        }
    }
    for (i, series) in chart.series.iter().enumerate() {
        let ly = TOP + 14.0 + LEGEND_STEP * i as f64;
        let lx = LEFT + frame.plot_w + 10.0;
        let _ = write!(
            s,
            "<line x1=\"{lx:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" \
             class=\"{}\"/><text x=\"{:.1}\" y=\"{ly:.1}\" class=\"lg\">{}</text>",
            ly - 4.0,
            lx + 18.0,
            ly - 4.0,
            series.color,
            line_class(series),
            lx + 24.0,
            esc(&series.name)
        );
    }
    chart.series.len()
}

fn line_class(series: &Series) -> &'static str {
    if series.dashed { "line dash" } else { "line" }
}

/// A legend entry, below the series', for each kind of shade the chart has.
fn draw_shade_legend(s: &mut String, chart: &Chart, frame: &Frame, after: usize) {
    let mut kinds: Vec<ShadeKind> = Vec::new();
    for shade in &chart.shades {
        if !kinds.contains(&shade.kind) {
            kinds.push(shade.kind);
        }
    }
    for (i, kind) in kinds.into_iter().enumerate() {
        let ly = TOP + 14.0 + LEGEND_STEP * (after + i) as f64;
        let lx = LEFT + frame.plot_w + 10.0;
        let _ = write!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"18\" height=\"12\" class=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{ly:.1}\" class=\"lg\">{}</text>",
            ly - 10.0,
            kind.class(),
            lx + 24.0,
            kind.legend()
        );
    }
}

/// A series' confidence band: a translucent polygon along the highs, back along the lows.
fn draw_band(s: &mut String, series: &Series, frame: &Frame) {
    let finite = |(x, lo, hi): &&(f64, f64, f64)| x.is_finite() && lo.is_finite() && hi.is_finite();
    let band: Vec<&(f64, f64, f64)> = series.band.iter().filter(finite).collect();
    if band.len() < 2 {
        return;
    }
    let upper = band.iter().map(|&&(x, _, hi)| (x, hi));
    let lower = band.iter().rev().map(|&&(x, lo, _)| (x, lo));
    let points: Vec<String> = upper
        .chain(lower)
        .map(|(x, y)| format!("{:.1},{:.1}", frame.px(x), frame.py(y)))
        .collect();
    let _ = write!(
        s,
        "<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.15\" stroke=\"none\"/>",
        points.join(" "),
        series.color
    );
}

fn esc(text: &str) -> String {
    super::junit::escape(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(0.0, 0.9, 3), vec![0.0, 0.5]);
        let t = ticks(3.0, 1234.0, 5);
        assert_eq!(t, vec![500.0, 1000.0]);
    }

    #[test]
    fn tick_labels_carry_the_decimals_of_their_step() {
        let labels = |t: Vec<f64>| {
            let step = step_of(&t);
            t.iter().map(|v| label(*v, step)).collect::<Vec<_>>()
        };
        assert_eq!(labels(ticks(0.5, 2.0, 3)), ["0.5", "1.0", "1.5", "2.0"]);
        assert_eq!(
            labels(ticks(0.0, 100.0, 5)),
            ["0", "20", "40", "60", "80", "100"]
        );
        assert_eq!(
            labels(ticks(0.0, 0.25, 5)),
            ["0.00", "0.05", "0.10", "0.15", "0.20", "0.25"]
        );
        assert_eq!(labels(ticks(-2.0, 1.0, 3)), ["-2", "-1", "0", "1"]);
    }

    /// Issue 29 point 11: a latency chart's y axis is logarithmic, so a low median and a high
    /// maximum both read: decades with 1-2-5 ticks, a value 10x another sits a decade above.
    #[test]
    fn a_log_axis_spans_the_decades_of_its_data() {
        let series = vec![
            Series::line("p50", "#000", vec![(0.0, 0.04), (1.0, 0.05)]),
            Series::line("max", "#777", vec![(0.0, 4.0), (1.0, 3.0)]),
        ];
        let chart = Chart::new("t", "s", "ms", XAxis::Linear, series).log_y();
        let (frame, ticks, _, _) = scale(&chart);
        assert_eq!((frame.y_bottom, frame.y_top), (0.02, 5.0));
        let labels: Vec<String> = ticks.iter().map(|t| log_label(*t)).collect();
        assert_eq!(labels, ["0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "5"]);
        // Equal ratios, equal distances.
        let (a, b, c) = (frame.py(0.04), frame.py(0.4), frame.py(4.0));
        assert!((a - b - (b - c)).abs() < 1e-6 && a > b && b > c);
        assert_eq!(frame.py(0.0), frame.py(0.02), "0 sits on the bottom edge");
        let svg = render(&chart);
        assert!(
            svg.contains(">0.05</text>") && svg.contains(">5</text>"),
            "{svg}"
        );
        // A limit below the data widens the axis down to it.
        let mut chart = chart;
        chart.hlines.push(HLine {
            y: 0.004,
            label: "p50 < 4 us".into(),
            color: "#900",
        });
        let (frame, _, drawn, _) = scale(&chart);
        assert_eq!(
            (frame.y_bottom, drawn.len()),
            (0.001, 1),
            "four decades: powers alone"
        );
    }

    #[test]
    fn a_chart_of_times_picks_its_unit() {
        let chart = |top_ms: f64| {
            let series = vec![Series::line(
                "p99",
                "#000",
                vec![(0.0, top_ms / 2.0), (1.0, top_ms)],
            )];
            Chart::new("t", "s", "ms", XAxis::Linear, series).in_time_unit(1e6)
        };
        let small = chart(0.4);
        assert_eq!(
            (small.y_label.as_str(), small.series[0].points[1].1),
            ("µs", 400.0)
        );
        let middle = chart(25.0);
        assert_eq!(
            (middle.y_label.as_str(), middle.series[0].points[1].1),
            ("ms", 25.0)
        );
        let large = chart(2500.0);
        assert_eq!(
            (large.y_label.as_str(), large.series[0].points[1].1),
            ("s", 2.5)
        );
    }

    #[test]
    fn a_chart_is_one_svg_with_its_lines_bands_and_limits() {
        let chart = Chart {
            title: "Response <ms>".into(),
            x_label: "s".into(),
            y_label: "ms".into(),
            series: vec![Series {
                name: "p99".into(),
                color: "#c00",
                points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
                band: vec![(0.0, 0.5, 1.5), (1.0, 2.5, 3.5), (2.0, 1.5, 2.5)],
                dashed: false,
            }],
            hlines: vec![HLine {
                y: 2.5,
                label: "p99 < 2.5".into(),
                color: "#900",
            }],
            shades: vec![Shade {
                from: 1.0,
                to: 2.0,
                kind: ShadeKind::Suspect,
            }],
            x_axis: XAxis::Linear,
            x_range: None,
            y_log: false,
        };
        let svg = render(&chart);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        // The p99 line's 95% band: highs left to right, then lows back.
        assert_eq!(svg.matches("<polygon").count(), 1);
        assert!(svg.contains("fill-opacity=\"0.15\""));
        assert!(svg.contains("class=\"band\"") && svg.contains("p99 &lt; 2.5"));
        // The shading has its legend entry.
        assert!(svg.contains(">suspect interval</text>"));
        assert!(svg.contains("Response &lt;ms&gt;"));
        assert!(!svg.contains("http"));
    }
}
