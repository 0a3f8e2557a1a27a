//! Plain TCP: send a payload, read a response until a delimiter or a byte count.

use std::time::Duration;

use super::{Exchange, Parse, Peer};

/// When a TCP response is complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Until {
    /// When these bytes have been read (they end the response).
    Delimiter(Vec<u8>),
    /// When this many bytes have been read.
    Bytes(usize),
}

/// Everything a TCP target sends and expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSpec {
    /// host:port.
    pub address: String,
    /// Bytes sent per request.
    pub payload: Vec<u8>,
    /// When the response is complete.
    pub until: Until,
    /// Connections, spread over the workers (0: one per worker).
    pub connections: super::Connections,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// The largest response read; one that has not ended by then is `response_too_large`.
    pub max_response_bytes: u64,
}

impl TcpSpec {
    /// Checks the spec and that its host resolves (a Unix socket's path is taken as it is).
    pub fn validate(&self) -> Result<(), String> {
        if self.payload.is_empty() {
            return Err("the payload is empty: a tcp:// target must send something".into());
        }
        if self.payload.len() > super::MAX_BODY {
            return Err(format!(
                "a payload of {} bytes; the largest is {} MiB",
                self.payload.len(),
                super::MAX_BODY >> 20
            ));
        }
        if let Until::Delimiter(d) = &self.until {
            if d.is_empty() {
                return Err("the delimiter is empty".into());
            }
        }
        if self.until == Until::Bytes(0) {
            return Err("a response of 0 bytes".into());
        }
        if let Until::Bytes(n) = self.until {
            if n as u64 > self.max_response_bytes {
                return Err(format!(
                    "`read_bytes` {n} is above max_response_bytes ({}); raise \
                     --max-response-bytes",
                    self.max_response_bytes
                ));
            }
        }
        Peer::resolve(&self.address).map(|_| ())
    }
}

/// Decodes `payload` text: `hex:0a0b...`, or text with `\r`, `\n`, `\t`, `\\` and `\xHH`
/// escapes.
pub fn decode_bytes(text: &str) -> Result<Vec<u8>, String> {
    if let Some(hex) = text.strip_prefix("hex:") {
        let clean: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if clean.len() % 2 != 0 {
            return Err("hex needs an even number of digits".into());
        }
        return clean
            .chunks(2)
            .map(|pair| {
                u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("zz"), 16)
                    .map_err(|_| format!("`{}` is not hex", String::from_utf8_lossy(pair)))
            })
            .collect();
    }
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(
                    u8::from_str_radix(&hex, 16)
                        .map_err(|_| format!("`\\x{hex}` is not a byte"))?,
                );
            }
            other => return Err(format!("`\\{}` is not an escape", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

/// One TCP exchange at a time on a connection; every connection shares the spec.
pub struct TcpExchange {
    spec: std::sync::Arc<TcpSpec>,
    seen: usize,
}

impl TcpExchange {
    /// An exchange sending `spec`'s payload.
    pub fn new(spec: std::sync::Arc<TcpSpec>) -> TcpExchange {
        TcpExchange { spec, seen: 0 }
    }
}

impl Exchange for TcpExchange {
    fn request(&self) -> &[u8] {
        &self.spec.payload
    }

    fn reset(&mut self) {
        self.seen = 0;
    }

    fn parse(&mut self, buf: &mut Vec<u8>) -> Parse {
        match &self.spec.until {
            Until::Bytes(n) => {
                let take = buf.len().min(n - self.seen);
                buf.drain(..take);
                self.seen += take;
                if self.seen == *n {
                    self.seen = 0;
                    Parse::Done {
                        error: None,
                        close: false,
                    }
                } else {
                    Parse::NeedMore
                }
            }
            Until::Delimiter(d) => match buf.windows(d.len()).position(|w| w == d.as_slice()) {
                Some(i) => {
                    buf.drain(..i + d.len());
                    Parse::Done {
                        error: None,
                        close: false,
                    }
                }
                None => {
                    // Keep only what could still be the start of the delimiter.
                    let keep = (d.len() - 1).min(buf.len());
                    buf.drain(..buf.len() - keep);
                    Parse::NeedMore
                }
            },
        }
    }

    fn at_close(&mut self) -> Parse {
        Parse::Failed(super::kinds::CLOSED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_decode() {
        assert_eq!(decode_bytes("PING\\r\\n").unwrap(), b"PING\r\n");
        assert_eq!(decode_bytes("hex:0a ff").unwrap(), vec![0x0a, 0xff]);
        assert_eq!(decode_bytes("a\\x41").unwrap(), b"aA");
        assert!(decode_bytes("hex:0").is_err());
        assert!(decode_bytes("\\q").is_err());
    }

    #[test]
    fn responses_end_at_the_delimiter_or_the_count() {
        let spec = |until| {
            std::sync::Arc::new(TcpSpec {
                address: "127.0.0.1:1".into(),
                payload: b"x".to_vec(),
                until,
                connections: crate::targets::net::Connections::Exactly(1),
                connect_timeout: Duration::from_secs(1),
                max_response_bytes: 1 << 20,
            })
        };
        let mut e = TcpExchange::new(spec(Until::Delimiter(b"\r\n".to_vec())));
        let mut buf = b"PO".to_vec();
        assert_eq!(e.parse(&mut buf), Parse::NeedMore);
        buf.extend_from_slice(b"NG\r");
        assert_eq!(e.parse(&mut buf), Parse::NeedMore);
        buf.extend_from_slice(b"\n");
        assert_eq!(
            e.parse(&mut buf),
            Parse::Done {
                error: None,
                close: false
            }
        );
        let mut e = TcpExchange::new(spec(Until::Bytes(4)));
        let mut buf = b"abc".to_vec();
        assert_eq!(e.parse(&mut buf), Parse::NeedMore);
        buf.extend_from_slice(b"d");
        assert_eq!(
            e.parse(&mut buf),
            Parse::Done {
                error: None,
                close: false
            }
        );
    }
}
