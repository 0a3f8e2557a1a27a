//! Request templates: text with `{{...}}` expressions rendered per request.
//!
//! | expression | value |
//! | --- | --- |
//! | `{{seq}}` | the request's index in the whole schedule (unique across shards) |
//! | `{{shard}}` | this run's shard index (0 without shards) |
//! | `{{rand_int A B}}` | a whole number from A to B, both included |
//! | `{{rand_hex N}}` | N hexadecimal digits (1 to 1024) |
//! | `{{line FILE}}` | a line of FILE, in turn: line `seq mod lines` |
//!
//! Random values are a hash of the run's seed, the request's `seq` and the expression's place
//! in the template (SplitMix64), not a generator's state: a request renders the same bytes
//! whichever worker sends it and however often it is retried, and a run with the same seed
//! sends the same requests. A template is parsed once; [`Template::render`] appends to a
//! buffer the caller keeps, so after the first few requests nothing is allocated (the buffer
//! has grown to the longest rendering). FILEs are read once, when the config is read, and
//! shared.

use std::sync::Arc;

use crate::base::{GOLDEN_GAMMA, mix64};

/// What a rendering needs to know about the request and the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vars {
    /// The request's `seq`.
    pub seq: u64,
    /// The run's seed.
    pub seed: u64,
    /// The shard index.
    pub shard: u32,
}

/// Where a template's values go: what bytes they may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// A URL's path and query: no space, no control character, nothing a request line must
    /// escape.
    Url,
    /// A header value or a command word: no control character.
    Line,
    /// A body: anything.
    Body,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(Vec<u8>),
    Seq,
    Shard,
    RandInt { lo: i64, hi: i64 },
    RandHex(usize),
    Line(Arc<Lines>),
}

/// The lines of a file named in `{{line FILE}}`.
#[derive(Debug, PartialEq, Eq)]
pub struct Lines {
    lines: Vec<Box<[u8]>>,
}

/// A parsed template; see the module doc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// The largest file `{{line FILE}}` reads.
const MAX_LINES_BYTES: u64 = 64 * 1024 * 1024;
/// The most hexadecimal digits `{{rand_hex N}}` makes.
const MAX_HEX: usize = 1024;

/// The expressions, for error messages.
pub const EXPRESSIONS: &str = "{{seq}}, {{shard}}, {{rand_int A B}}, {{rand_hex N}}, {{line FILE}}";

impl Template {
    /// Parses `text`; its values will go where `context` says.
    pub fn parse(text: &str, context: Context) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let close = rest[open..]
                .find("}}")
                .map(|i| open + i)
                .ok_or_else(|| format!("`{}` opens {{{{ without closing }}}}", &rest[open..]))?;
            if open > 0 {
                parts.push(Part::Text(rest.as_bytes()[..open].to_vec()));
            }
            parts.push(expression(rest[open + 2..close].trim(), context)?);
            rest = &rest[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.as_bytes().to_vec()));
        }
        Ok(Template { parts })
    }

    /// One template rendering `pieces` one after the other.
    pub fn join(pieces: impl IntoIterator<Item = Template>) -> Template {
        Template {
            parts: pieces.into_iter().flat_map(|t| t.parts).collect(),
        }
    }

    /// Whether the template has no expression (it renders the same bytes every time).
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The text of a template with no expression.
    pub fn text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.render(&mut out, &Vars::default());
        out
    }

    /// The first byte some rendering of this template could hold that `allowed` refuses, if
    /// any: its text's bytes, and every byte each expression can produce (digits and `-` for
    /// the numbers, hexadecimal digits, every byte of every line of a `{{line FILE}}`). So a
    /// protocol that frames by spaces and line ends can check a word before the run.
    pub fn find_refused(&self, allowed: impl Fn(u8) -> bool) -> Option<u8> {
        let digits = |negative: bool| {
            let sign: &[u8] = if negative { b"-" } else { b"" };
            b"0123456789"
                .iter()
                .chain(sign)
                .copied()
                .find(|&b| !allowed(b))
        };
        self.parts.iter().find_map(|part| match part {
            Part::Text(bytes) => bytes.iter().copied().find(|&b| !allowed(b)),
            Part::Seq | Part::Shard => digits(false),
            Part::RandInt { lo, .. } => digits(*lo < 0),
            Part::RandHex(_) => b"0123456789abcdef".iter().copied().find(|&b| !allowed(b)),
            Part::Line(lines) => lines
                .lines
                .iter()
                .find_map(|l| l.iter().copied().find(|&b| !allowed(b))),
        })
    }

    /// The longest rendering this template can produce, in bytes.
    pub fn max_len(&self) -> usize {
        let decimal = |n: i128| n.to_string().len();
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(bytes) => bytes.len(),
                Part::Seq => decimal(u64::MAX.into()),
                Part::Shard => decimal(u32::MAX.into()),
                Part::RandInt { lo, hi } => decimal((*lo).into()).max(decimal((*hi).into())),
                Part::RandHex(n) => *n,
                Part::Line(lines) => lines.lines.iter().map(|l| l.len()).max().unwrap_or(0),
            })
            .sum()
    }

    /// Appends the rendering for `vars` to `out`.
    pub fn render(&self, out: &mut Vec<u8>, vars: &Vars) {
        for (place, part) in self.parts.iter().enumerate() {
            match part {
                Part::Text(bytes) => out.extend_from_slice(bytes),
                Part::Seq => push_decimal(out, vars.seq as i128),
                Part::Shard => push_decimal(out, i128::from(vars.shard)),
                Part::RandInt { lo, hi } => {
                    let span = (*hi as i128 - *lo as i128 + 1) as u128;
                    let r = u128::from(random(vars, place)) % span;
                    push_decimal(out, *lo as i128 + r as i128);
                }
                Part::RandHex(n) => {
                    let mut left = *n;
                    let mut round = 0u64;
                    while left > 0 {
                        let r = random(vars, place ^ ((round as usize) << 16));
                        for i in 0..left.min(16) {
                            out.push(b"0123456789abcdef"[(r >> (4 * i) & 15) as usize]);
                        }
                        left = left.saturating_sub(16);
                        round += 1;
                    }
                }
                Part::Line(lines) => {
                    let i = (vars.seq % lines.lines.len() as u64) as usize;
                    out.extend_from_slice(&lines.lines[i]);
                }
            }
        }
    }
}

/// One `{{...}}` expression.
fn expression(inner: &str, context: Context) -> Result<Part, String> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    let number = |w: &str| {
        w.parse::<i64>()
            .map_err(|_| format!("`{w}` in {{{{{inner}}}}} is not a whole number"))
    };
    match words.as_slice() {
        ["seq"] => Ok(Part::Seq),
        ["shard"] => Ok(Part::Shard),
        ["rand_int", a, b] => {
            let (lo, hi) = (number(a)?, number(b)?);
            if lo > hi {
                return Err(format!("{{{{{inner}}}}}: {lo} is above {hi}"));
            }
            Ok(Part::RandInt { lo, hi })
        }
        ["rand_hex", n] => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_HEX).contains(&n) => Ok(Part::RandHex(n)),
            _ => Err(format!(
                "{{{{{inner}}}}}: `{n}` is not a digit count from 1 to {MAX_HEX}"
            )),
        },
        ["line", path] => read_lines(path, context).map(|l| Part::Line(Arc::new(l))),
        _ => Err(format!(
            "`{{{{{inner}}}}}` is not a template expression; they are {EXPRESSIONS}"
        )),
    }
}

/// Reads FILE's lines (without their line ends), checking them for `context`.
fn read_lines(path: &str, context: Context) -> Result<Lines, String> {
    #[cfg(fuzzing)]
    return Err(format!("{{{{line {path}}}}} is not read while fuzzing"));
    let bytes = crate::base::input::read_limited(std::path::Path::new(path), MAX_LINES_BYTES)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    let lines: Vec<Box<[u8]>> = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(Box::from)
        .collect();
    if lines.is_empty() {
        return Err(format!("{path} has no line to take values from"));
    }
    for (n, line) in lines.iter().enumerate() {
        let bad = line.iter().find(|&&b| match context {
            Context::Body => false,
            Context::Line => b < b' ' && b != b'\t' || b == 0x7f,
            Context::Url => !b.is_ascii_graphic() || b"\"<>\\^`{|}#".contains(&b),
        });
        if let Some(&b) = bad {
            let allowed = match context {
                Context::Url => "a URL takes printable ASCII without spaces, quotes, <>\\^`{|}#",
                _ => "a header or command takes no control character",
            };
            return Err(format!(
                "line {} of {path} holds the byte {:?}: {allowed}",
                n + 1,
                b as char
            ));
        }
    }
    Ok(Lines { lines })
}

/// SplitMix64 of the seed, the request and the expression's place.
fn random(vars: &Vars, place: usize) -> u64 {
    mix64(
        vars.seed
            .wrapping_add(vars.seq.wrapping_mul(GOLDEN_GAMMA))
            .wrapping_add((place as u64 + 1).wrapping_mul(0xd1b5_4a32_d192_ed03)),
    )
}

/// Appends `n` in decimal without allocating.
pub fn push_decimal(out: &mut Vec<u8>, n: i128) {
    let mut digits = [0u8; 40];
    let mut i = digits.len();
    let mut m = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Template, seq: u64) -> String {
        let mut out = Vec::new();
        let vars = Vars {
            seq,
            seed: 7,
            shard: 2,
        };
        t.render(&mut out, &vars);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn expressions_render_per_request_and_repeat_with_the_seed() {
        let t = Template::parse(
            "SET key:{{seq}}:{{shard}} {{rand_hex 40}} {{ rand_int -5 5 }}",
            Context::Line,
        )
        .unwrap();
        assert!(!t.is_static());
        let a = render(&t, 12);
        assert_eq!(a, render(&t, 12));
        assert_ne!(a, render(&t, 13));
        let words: Vec<&str> = a.split(' ').collect();
        assert_eq!(words[1], "key:12:2");
        assert_eq!(words[2].len(), 40);
        assert!(words[2].bytes().all(|b| b.is_ascii_hexdigit()));
        let mut seen = std::collections::BTreeSet::new();
        for seq in 0..2000 {
            let v: i64 = render(&t, seq).rsplit(' ').next().unwrap().parse().unwrap();
            assert!((-5..=5).contains(&v));
            seen.insert(v);
        }
        assert_eq!(seen.len(), 11, "every value from -5 to 5 comes up");
        assert!(Template::parse("plain", Context::Body).unwrap().is_static());
    }

    #[test]
    fn bad_expressions_name_what_is_allowed() {
        for (text, needle) in [
            ("{{nope}}", "is not a template expression"),
            ("{{seq", "without closing"),
            ("{{rand_int 5 1}}", "above"),
            ("{{rand_int a 1}}", "not a whole number"),
            ("{{rand_hex 0}}", "1 to 1024"),
            ("{{line /no/such/file}}", "cannot read"),
        ] {
            let e = Template::parse(text, Context::Body).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn lines_come_in_turn_and_are_checked_for_where_they_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.txt");
        std::fs::write(&path, "alice\r\nbob\n\ncarol\n").unwrap();
        let t =
            Template::parse(&format!("/u/{{{{line {}}}}}", path.display()), Context::Url).unwrap();
        let got: Vec<String> = (0..4).map(|s| render(&t, s)).collect();
        assert_eq!(got, ["/u/alice", "/u/bob", "/u/carol", "/u/alice"]);
        std::fs::write(&path, "has space\n").unwrap();
        let e = Template::parse(&format!("/{{{{line {}}}}}", path.display()), Context::Url)
            .unwrap_err();
        assert!(e.contains("line 1") && e.contains("' '"), "{e}");
        Template::parse(&format!("{{{{line {}}}}}", path.display()), Context::Line).unwrap();
    }

    #[test]
    fn a_template_says_what_bytes_and_how_many_it_can_render() {
        let t = Template::parse("k:{{seq}}:{{rand_hex 8}}", Context::Body).unwrap();
        assert_eq!(t.max_len(), 2 + 20 + 1 + 8);
        let graphic = |b: u8| b > b' ' && b != 0x7f;
        assert_eq!(t.find_refused(graphic), None);
        assert_eq!(t.find_refused(|b| b != b':'), Some(b':'));
        let digits = |b: u8| b.is_ascii_digit();
        let t = Template::parse("{{rand_int -3 3}}", Context::Body).unwrap();
        assert_eq!(t.find_refused(digits), Some(b'-'));
        assert_eq!(t.max_len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.txt");
        std::fs::write(&path, "a\nb c\n").unwrap();
        let t =
            Template::parse(&format!("{{{{line {}}}}}", path.display()), Context::Body).unwrap();
        assert_eq!(t.find_refused(graphic), Some(b' '));
        assert_eq!(t.max_len(), 3);
    }

    #[test]
    fn decimals_are_written_without_allocating() {
        for n in [
            0i128,
            7,
            -1,
            1234567890123,
            i64::MIN as i128,
            u64::MAX as i128,
        ] {
            let mut out = Vec::with_capacity(64);
            push_decimal(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }
}
