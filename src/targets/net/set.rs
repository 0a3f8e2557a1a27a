//! Request sets: many different requests in one run (`--requests FILE`).
//!
//! The file holds JSON lines, one request per line (blank lines and lines starting with `#`
//! are skipped):
//!
//! ```text
//! {"name": "login", "method": "POST", "url": "/login", "body": "{\"user\": \"u{{seq}}\"}", "weight": 1}
//! {"name": "item", "url": "/item/{{rand_int 1 1000}}", "headers": {"Accept": "application/json"}, "weight": 8}
//! {"name": "set", "command": "SET key:{{seq}} {{rand_hex 16}}"}
//! ```
//!
//! HTTP lines take `method`, `url` (a path, or a full URL on the target's own scheme, host and
//! port), `headers` (added to the target's), `body` or `body_file`; Redis and memcached lines
//! take `command`. Every line may have a `name` (lines with the same name share their results)
//! and a `weight` (a whole number, default 1). Which request the request `seq` sends is a pure
//! function of `seq` (and the seed), so it needs no shared state and repeats with the seed:
//!
//! - `round-robin` (the default): the lines in turn, each repeated `weight` times in the
//!   cycle: weights 3, 1, 1 send line 1, 1, 1, 2, 3, 1, 1, 1, 2, 3, ...;
//! - `random`: a line drawn per request with probability weight / total (SplitMix64 of the
//!   seed and `seq`).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::base::{GOLDEN_GAMMA, mix64};

/// How the lines of a set are taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// In turn, each line `weight` times.
    #[default]
    RoundRobin,
    /// At random, by weight.
    Random,
}

impl Order {
    /// Parses `round-robin` or `random`.
    pub fn parse(text: &str) -> Result<Order, String> {
        match text {
            "round-robin" | "round_robin" | "in-order" => Ok(Order::RoundRobin),
            "random" => Ok(Order::Random),
            other => Err(format!("`{other}` is not an order: round-robin or random")),
        }
    }
}

/// The most lines a set may hold, and the most names.
pub const MAX_LINES: usize = 4096;
/// The most distinct names (each has its own histograms in every worker).
pub const MAX_NAMES: usize = 64;
/// The largest request set file read.
const MAX_SET_BYTES: u64 = crate::base::input::MAX_INPUT_BYTES;
/// The largest weight of one line: weights are ratios, and 4,096 lines of this much still
/// add up without overflow.
pub const MAX_WEIGHT: u64 = 1 << 32;
/// The largest total weight (the round-robin cycle's length).
const MAX_CYCLE: u64 = 1 << 20;

/// One line of a request set, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The line number in the file, for messages.
    pub number: usize,
    /// Its fields other than `name` and `weight`.
    pub fields: Map<String, Value>,
}

/// Which line a request sends, and the names results are kept under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picker {
    order: Order,
    /// Round-robin: the line of each place in the cycle.
    cycle: Vec<u16>,
    /// Random: the cumulative weights.
    cumulative: Vec<u64>,
    /// The name slot of each line (`None`: unnamed).
    slot_of_line: Vec<Option<u16>>,
    /// The names, in order of first appearance.
    pub names: Arc<Vec<String>>,
}

impl Picker {
    /// The line request `seq` sends.
    #[inline]
    pub fn pick(&self, seq: u64, seed: u64) -> usize {
        match self.order {
            Order::RoundRobin => self.cycle[(seq % self.cycle.len() as u64) as usize] as usize,
            Order::Random => {
                let total = *self.cumulative.last().unwrap_or(&1);
                let r = mix64((seed ^ 0x5e75_e7ed).wrapping_add(seq.wrapping_mul(GOLDEN_GAMMA)))
                    % total;
                self.cumulative.partition_point(|&c| c <= r)
            }
        }
    }

    /// The name slot of line `line`.
    #[inline]
    pub fn slot(&self, line: usize) -> Option<u16> {
        self.slot_of_line[line]
    }
}

/// Reads a request set: its lines and how they are picked.
pub fn read(path: &str, order: Order) -> Result<(Vec<Line>, Picker), String> {
    #[cfg(fuzzing)]
    return Err(format!("requests {path} is not read while fuzzing"));
    let text = crate::base::input::read_text(std::path::Path::new(path), MAX_SET_BYTES)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    parse(&text, order).map_err(|e| format!("{path}: {e}"))
}

/// A line's `weight`: 1 when it has none.
fn weight(value: Option<Value>) -> Result<u64, String> {
    match value {
        None => Ok(1),
        Some(v) => v
            .as_u64()
            .filter(|w| (1..=MAX_WEIGHT).contains(w))
            .ok_or_else(|| {
                format!("`weight` must be a whole number from 1 to {MAX_WEIGHT}, not {v}")
            }),
    }
}

/// Parses a request set's text; see the module doc.
pub fn parse(text: &str, order: Order) -> Result<(Vec<Line>, Picker), String> {
    let mut lines = Vec::new();
    let mut weights = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut slot_of_line = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let mut fields = match crate::base::json::strict_json(raw) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err(format!("line {number} is not a JSON object")),
            Err(e) => return Err(format!("line {number} is not JSON: {e}")),
        };
        let weight = weight(fields.remove("weight")).map_err(|e| format!("line {number}: {e}"))?;
        let slot = match fields.remove("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) if !name.is_empty() && name.len() <= 64 => {
                let at = names.iter().position(|n| *n == name).unwrap_or_else(|| {
                    names.push(name);
                    names.len() - 1
                });
                Some(at as u16)
            }
            Some(v) => {
                return Err(format!(
                    "line {number}: `name` must be a string of 1 to 64 characters, not {v}"
                ));
            }
        };
        lines.push(Line { number, fields });
        weights.push(weight);
        slot_of_line.push(slot);
    }
    if lines.is_empty() {
        return Err("no request in the set (one JSON object per line)".into());
    }
    if lines.len() > MAX_LINES || names.len() > MAX_NAMES {
        return Err(format!(
            "{} lines and {} names; a set holds at most {MAX_LINES} lines and {MAX_NAMES} names",
            lines.len(),
            names.len()
        ));
    }
    // At most 4,096 weights of at most 2^32: the sum fits in 45 bits.
    let total: u64 = weights.iter().sum();
    if order == Order::RoundRobin && total > MAX_CYCLE {
        return Err(format!(
            "the weights add up to {total}; round-robin takes at most {MAX_CYCLE}"
        ));
    }
    let cycle = match order {
        Order::RoundRobin => weights
            .iter()
            .enumerate()
            .flat_map(|(i, &w)| std::iter::repeat_n(i as u16, w as usize))
            .collect(),
        Order::Random => Vec::new(),
    };
    let cumulative = weights
        .iter()
        .scan(0u64, |sum, &w| {
            *sum += w;
            Some(*sum)
        })
        .collect();
    let picker = Picker {
        order,
        cycle,
        cumulative,
        slot_of_line,
        names: Arc::new(names),
    };
    Ok((lines, picker))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &str = r#"
# a comment
{"name": "login", "method": "POST", "url": "/login", "weight": 3}
{"name": "item", "url": "/item"}

{"url": "/health"}
"#;

    #[test]
    fn round_robin_repeats_each_line_by_its_weight() {
        let (lines, p) = parse(SET, Order::RoundRobin).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].number, 3);
        assert!(!lines[0].fields.contains_key("weight") && !lines[0].fields.contains_key("name"));
        let picks: Vec<usize> = (0..10).map(|s| p.pick(s, 1)).collect();
        assert_eq!(picks, [0, 0, 0, 1, 2, 0, 0, 0, 1, 2]);
        assert_eq!(*p.names, ["login", "item"]);
        assert_eq!((p.slot(0), p.slot(1), p.slot(2)), (Some(0), Some(1), None));
    }

    #[test]
    fn random_follows_the_weights_and_repeats_with_the_seed() {
        let (_, p) = parse(SET, Order::Random).unwrap();
        let mut counts = [0u32; 3];
        for seq in 0..50_000 {
            counts[p.pick(seq, 9)] += 1;
        }
        // 3/5, 1/5, 1/5 of 50,000 within 2%.
        for (count, want) in counts.iter().zip([30_000.0, 10_000.0, 10_000.0]) {
            assert!(
                (f64::from(*count) - want).abs() < 0.02 * 50_000.0,
                "{counts:?}"
            );
        }
        assert_eq!(p.pick(123, 9), p.pick(123, 9));
    }

    #[test]
    fn bad_sets_say_which_line() {
        for (text, needle) in [
            ("", "no request"),
            ("{\"url\": \"/\"}\n[1]", "line 2 is not a JSON object"),
            ("{\"url\": \"/\", \"weight\": 0}", "line 1: `weight`"),
            ("{\"url\": \"/\", \"name\": 7}", "line 1: `name`"),
            ("{nope", "line 1 is not JSON"),
        ] {
            let e = parse(text, Order::RoundRobin).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        assert!(Order::parse("sequential").is_err());
    }
}
