//! JUnit XML: one test suite per scenario, one test case per threshold, for CI systems.

use std::fmt::Write;

use crate::metrics::RunResult;

/// The JUnit XML report of a run.
pub fn junit(result: &RunResult) -> String {
    let cases: usize = result
        .scenarios
        .iter()
        .map(|s| s.verdict.thresholds.len())
        .sum();
    let failures: usize = result
        .scenarios
        .iter()
        .map(|s| s.verdict.thresholds.iter().filter(|t| !t.passed).count())
        .sum();
    let skipped = result.inconclusive();
    let skipped = if skipped > 0 {
        format!(" skipped=\"{skipped}\"")
    } else {
        String::new()
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"openpace\" tests=\"{cases}\" failures=\"{failures}\"{skipped} time=\"{:.3}\">",
        result.wall_seconds
    );
    for s in &result.scenarios {
        let failed = s.verdict.thresholds.iter().filter(|t| !t.passed).count();
        let skipped = match s.verdict.inconclusive() {
            0 => String::new(),
            n => format!(" skipped=\"{n}\""),
        };
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\"{skipped} time=\"{:.3}\">",
            escape(&s.name),
            s.verdict.thresholds.len(),
            s.send_window_s
        );
        for note in &s.verdict.notes {
            let _ = writeln!(out, "    <system-out>{}</system-out>", escape(note));
        }
        for t in &s.verdict.thresholds {
            let name = format!("{} {} {} {}", t.metric, t.comparison, t.limit, t.unit);
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&s.name),
                escape(&name)
            );
            if t.inconclusive {
                let message = format!(
                    "inconclusive: {} was {} {}, its 95% interval {} lies on neither side of the limit {} {} {} alone",
                    t.metric,
                    t.value,
                    t.unit,
                    interval_text(t.ci95),
                    t.comparison,
                    t.limit,
                    t.unit
                );
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(&message)
                );
            } else if t.passed {
                let _ = writeln!(out, "/>");
            } else {
                let message = format!(
                    "{} was {} {}, limit {} {} {}",
                    t.metric, t.value, t.unit, t.comparison, t.limit, t.unit
                );
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"threshold\"/>\n    </testcase>",
                    escape(&message)
                );
            }
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

/// A threshold's interval as `[lo, hi]`, `?` for an end the run could not bound.
fn interval_text(ci: Option<[Option<f64>; 2]>) -> String {
    let [lo, hi] = ci.unwrap_or([None, None]);
    let end = |v: Option<f64>| v.map_or("?".to_string(), |v| v.to_string());
    format!("[{}, {}]", end(lo), end(hi))
}

/// Escapes text for an XML attribute or element.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_the_five_entities() {
        assert_eq!(escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
