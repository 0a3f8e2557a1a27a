//! Small line charts as inline SVG, for the HTML report.
//!
//! Hand-written rather than drawn with a plotting crate: the charts need lines, shaded bands,
//! threshold lines, a legend and a logarithmic "nines" axis, and nothing that needs fonts or
//! files, so the page opens anywhere with no network. Coordinates are computed here; the
//! browser draws.

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
    /// Shaded x ranges (flagged intervals).
    pub bands: Vec<(f64, f64)>,
    /// Kind of x axis.
    pub x_axis: XAxis,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 44.0;

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

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Where data lands on the page: the data ranges and the plot area.
struct Frame {
    x0: f64,
    x1: f64,
    y_top: f64,
    plot_w: f64,
    plot_h: f64,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * self.plot_w
    }

    fn py(&self, y: f64) -> f64 {
        TOP + self.plot_h - (y / self.y_top).clamp(0.0, 1.0) * self.plot_h
    }
}

/// The chart as an `<svg>` element.
pub fn render(chart: &Chart) -> String {
    let (frame, y_ticks, drawn, off_scale) = scale(chart);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         role=\"img\" class=\"chart\"><title>{}</title>",
        esc(&chart.title)
    );
    let _ = write!(
        s,
        "<text x=\"{LEFT}\" y=\"18\" class=\"t\">{}</text>",
        esc(&chart.title)
    );
    for &(a, b) in &chart.bands {
        let (a, b) = (frame.px(a.max(frame.x0)), frame.px(b.min(frame.x1)));
        if b > a {
            let _ = write!(
                s,
                "<rect x=\"{a:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{}\" class=\"band\"/>",
                b - a,
                frame.plot_h
            );
        }
    }
    draw_axes(&mut s, chart, &frame, &y_ticks);
    draw_limits(&mut s, &frame, &drawn, &off_scale);
    draw_series(&mut s, chart, &frame);
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
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
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
        y_top,
        plot_w: WIDTH - LEFT - RIGHT,
        plot_h: HEIGHT - TOP - BOTTOM,
    };
    (frame, y_ticks, drawn, off_scale)
}

/// Grid lines, tick labels, the frame and the axis titles.
fn draw_axes(s: &mut String, chart: &Chart, frame: &Frame, y_ticks: &[f64]) {
    let (plot_w, plot_h) = (frame.plot_w, frame.plot_h);
    for t in y_ticks {
        let y = frame.py(*t);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" class=\"grid\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"yl\">{}</text>",
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            label(*t)
        );
    }
    for (t, text) in &x_ticks(chart, frame) {
        let x = frame.px(*t);
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" class=\"grid\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" class=\"xl\">{}</text>",
            TOP + plot_h,
            TOP + plot_h + 16.0,
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
        XAxis::Linear => ticks(x0, x1, 8)
            .into_iter()
            .map(|t| (t, label(t)))
            .collect(),
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
            "<text x=\"{:.1}\" y=\"18\" class=\"ll\" fill=\"{}\">limits above the chart: {}</text>",
            LEFT + plot_w - 4.0,
            off_scale[0].color,
            esc(&names.join(", "))
        );
    }
}

/// Each series as a line, with its legend entry.
fn draw_series(s: &mut String, chart: &Chart, frame: &Frame) {
    for (i, series) in chart.series.iter().enumerate() {
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
                "<polyline points=\"{}\" stroke=\"{}\" class=\"line\"/>",
                path.join(" "),
                series.color
            );
        }
        let ly = TOP + 14.0 + 18.0 * i as f64;
        let lx = LEFT + frame.plot_w + 10.0;
        let _ = write!(
            s,
            "<line x1=\"{lx:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" \
             class=\"line\"/><text x=\"{:.1}\" y=\"{ly:.1}\" class=\"lg\">{}</text>",
            ly - 4.0,
            lx + 18.0,
            ly - 4.0,
            series.color,
            lx + 24.0,
            esc(&series.name)
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
            }],
            hlines: vec![HLine {
                y: 2.5,
                label: "p99 < 2.5".into(),
                color: "#900",
            }],
            bands: vec![(1.0, 2.0)],
            x_axis: XAxis::Linear,
        };
        let svg = render(&chart);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        // The p99 line's 95% band: highs left to right, then lows back.
        assert_eq!(svg.matches("<polygon").count(), 1);
        assert!(svg.contains("fill-opacity=\"0.15\""));
        assert!(svg.contains("class=\"band\"") && svg.contains("p99 &lt; 2.5"));
        assert!(svg.contains("Response &lt;ms&gt;"));
        assert!(!svg.contains("http"));
    }
}
