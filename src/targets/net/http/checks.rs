//! What a response's body must be for it to count as a success (`--expect-body-contains`,
//! `--expect-body-size`, `--expect-json`), checked as the body streams past without keeping it.

/// The largest body `--expect-json` reads; a longer one fails the check.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// What a response's body must be for the response to count as a success.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyChecks {
    /// `--expect-body-contains`: these bytes somewhere in the body.
    pub contains: Option<Vec<u8>>,
    /// `--expect-body-size`: exactly this many bytes.
    pub size: Option<u64>,
    /// `--expect-json /pointer=value` (repeatable): the body is JSON with these values.
    pub json: Vec<JsonCheck>,
}

/// One `--expect-json POINTER=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonCheck {
    /// An RFC 6901 JSON pointer, e.g. `/status` or `/items/0/id`.
    pub pointer: String,
    /// The value: a string's text, or any other value's JSON (`true`, `3`, `null`).
    pub expected: String,
}

impl JsonCheck {
    /// Parses `/pointer=value`.
    pub fn parse(text: &str) -> Result<JsonCheck, String> {
        match text.split_once('=') {
            Some((pointer, _)) if pointer.starts_with('/') && bad_escape(pointer) => Err(format!(
                "`{text}`: in a JSON pointer `~` is written ~0 and `/` inside a key ~1 (RFC \
                 6901); `~` followed by anything else points nowhere"
            )),
            Some((pointer, expected)) if pointer.starts_with('/') => Ok(JsonCheck {
                pointer: pointer.to_string(),
                expected: expected.to_string(),
            }),
            _ => Err(format!(
                "`{text}` is not POINTER=VALUE with a JSON pointer starting with / (e.g. \
                 /status=ok, /items/0/id=7)"
            )),
        }
    }

    fn holds(&self, body: &serde_json::Value) -> bool {
        match body.pointer(&self.pointer) {
            Some(serde_json::Value::String(s)) => *s == self.expected,
            Some(other) => {
                serde_json::from_str::<serde_json::Value>(&self.expected).is_ok_and(|v| v == *other)
            }
            None => false,
        }
    }
}

/// Whether a JSON pointer holds a `~` not followed by `0` or `1`.
fn bad_escape(pointer: &str) -> bool {
    let b = pointer.as_bytes();
    b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'~' && !matches!(b.get(i + 1), Some(b'0' | b'1')))
}

impl BodyChecks {
    /// Whether any check is asked for.
    pub fn any(&self) -> bool {
        self.contains.is_some() || self.size.is_some() || !self.json.is_empty()
    }
}

/// A response's progress through the checks, kept across its body's pieces.
#[derive(Default)]
pub(super) struct CheckState {
    seen: u64,
    found: bool,
    /// The end of the body so far that could still begin the searched bytes.
    window: Vec<u8>,
    /// The body, for the JSON checks (up to [`MAX_JSON_BODY`]).
    kept: Vec<u8>,
    too_large: bool,
}

impl CheckState {
    pub(super) fn feed(&mut self, checks: &BodyChecks, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        if let Some(needle) = checks.contains.as_deref() {
            if !self.found && !needle.is_empty() {
                self.window.extend_from_slice(bytes);
                if self.window.windows(needle.len()).any(|w| w == needle) {
                    self.found = true;
                    self.window.clear();
                } else {
                    let keep = (needle.len() - 1).min(self.window.len());
                    self.window.drain(..self.window.len() - keep);
                }
            }
        }
        if !checks.json.is_empty() && !self.too_large {
            if self.kept.len() + bytes.len() > MAX_JSON_BODY {
                self.too_large = true;
            } else {
                self.kept.extend_from_slice(bytes);
            }
        }
    }

    /// Whether the whole body passed; forgets it for the next response.
    pub(super) fn passed(&mut self, checks: &BodyChecks) -> bool {
        let contains = checks
            .contains
            .as_ref()
            .is_none_or(|n| self.found || n.is_empty());
        let size = checks.size.is_none_or(|n| n == self.seen);
        let json = checks.json.is_empty()
            || (!self.too_large
                && serde_json::from_slice::<serde_json::Value>(&self.kept)
                    .is_ok_and(|body| checks.json.iter().all(|c| c.holds(&body))));
        self.clear();
        contains && size && json
    }

    pub(super) fn clear(&mut self) {
        self.seen = 0;
        self.found = false;
        self.too_large = false;
        self.window.clear();
        self.kept.clear();
    }
}
