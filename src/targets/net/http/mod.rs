//! HTTP/1.1: the request a target sends, and a streaming parser for the response.
//!
//! The request is built once (method, path, Host, headers, Content-Length, body), shared by
//! every connection of the run ([`HttpShared`]: a 10 MB body costs 10 MB, not 10 MB per
//! connection) and sent as the same bytes every time. Nothing reaches the wire unchecked: the
//! URL's path and query are percent-encoded where they hold bytes a request line may not, and
//! refused when they hold control characters (a CR LF in a URL would start a header or a second
//! request); header names must be tokens and values free of control characters; a
//! `Content-Length` given by hand must match the body, `Transfer-Encoding` is refused (the body
//! is sent as is), and a `Host` given by hand replaces the default one.
//!
//! The response parser reads the head with `httparse`, then counts the body without keeping
//! it: by Content-Length, chunk by chunk, or until the server closes. Interim 1xx responses are
//! skipped. Faults map to error kinds of their own.
//!
//! One concern per file: `url.rs` (parsing and encoding a URL), `request.rs` (building what is
//! sent, from a spec, a template or a request set), `response.rs` (an exchange: sending it and
//! parsing what comes back), `checks.rs` (what a body must be). This file holds the limits and
//! error kinds they share.

mod checks;
mod request;
mod response;
mod url;

pub use checks::{BodyChecks, JsonCheck, MAX_JSON_BODY};
pub use request::{DEFAULT_STREAMS, HttpSet, HttpSpec, HttpTemplate};
pub use response::{HttpExchange, HttpShared};
pub use url::{HttpUrl, percent_encode};

/// The largest response head accepted, in bytes, however many header lines it holds.
pub const MAX_HEAD: usize = 64 * 1024;
/// Header lines parsed without allocating; a head with more is parsed again with room for as
/// many as [`MAX_HEAD`] bytes can hold (a rare, slow path).
const FAST_HEADERS: usize = 64;

/// Error kinds of HTTP faults.
pub mod kinds {
    use crate::targets::ErrorKind;
    /// The status line is not HTTP/1.x.
    pub const MALFORMED_STATUS: ErrorKind = ErrorKind::new("malformed_status");
    /// A header line is not a header.
    pub const MALFORMED_HEADERS: ErrorKind = ErrorKind::new("malformed_headers");
    /// The head is larger than 64 KiB.
    pub const HEADERS_TOO_LARGE: ErrorKind = ErrorKind::new("headers_too_large");
    /// A chunk-size line is not hexadecimal, or a chunk is not followed by CRLF.
    pub const MALFORMED_BODY: ErrorKind = ErrorKind::new("malformed_body");
    /// The response's status was expected but its body failed a check (`--expect-body-...`,
    /// `--expect-json`).
    pub const CHECK: ErrorKind = ErrorKind::new("check");
}

#[cfg(test)]
mod tests {
    use super::super::{Exchange, Parse};
    use super::*;
    use crate::targets::ErrorKind;

    fn exchange() -> HttpExchange {
        HttpExchange::new(HttpShared::new(&HttpSpec::get(
            HttpUrl::parse("http://127.0.0.1:8080/x").unwrap(),
        )))
    }

    fn feed(e: &mut HttpExchange, parts: &[&[u8]]) -> Parse {
        let mut buf = Vec::new();
        let mut last = Parse::NeedMore;
        for part in parts {
            buf.extend_from_slice(part);
            last = e.parse(&mut buf);
        }
        last
    }

    fn checked(checks: BodyChecks) -> HttpExchange {
        let mut spec = HttpSpec::get(HttpUrl::parse("http://127.0.0.1:8080/x").unwrap());
        spec.checks = checks;
        HttpExchange::new(HttpShared::new(&spec))
    }

    #[test]
    fn body_checks_see_the_whole_body_across_pieces_and_chunks() {
        let contains = |t: &str| BodyChecks {
            contains: Some(t.as_bytes().to_vec()),
            ..BodyChecks::default()
        };
        let ok = Parse::Done {
            error: None,
            close: false,
        };
        let check = Parse::Done {
            error: Some(kinds::CHECK),
            close: false,
        };
        // The text straddles two reads and, chunked, two chunks.
        let mut e = checked(contains("needle"));
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
        assert_eq!(feed(&mut e, &[head, b"hay ne", b"edle!"]), Parse::NeedMore);
        let mut e = checked(contains("needle"));
        assert_eq!(feed(&mut e, &[head, b"hay ne", b"edle!!"]), ok);
        let chunked: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"4\r\nxnee\r\n",
            b"3\r\ndle\r\n0\r\n\r\n",
        ];
        assert_eq!(feed(&mut checked(contains("needle")), chunked), ok);
        assert_eq!(feed(&mut checked(contains("needles")), chunked), check);
        // A status not expected stays a status error, whatever the body.
        let mut e = checked(contains("x"));
        let r = feed(&mut e, &[b"HTTP/1.1 500 No\r\nContent-Length: 1\r\n\r\nx"]);
        assert_eq!(
            r,
            Parse::Done {
                error: Some(ErrorKind::new("status_5xx")),
                close: false
            }
        );
        // Sizes and JSON.
        let sized = |n| BodyChecks {
            size: Some(n),
            ..BodyChecks::default()
        };
        let body: &[&[u8]] =
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n{\"a\":{\"b\":[1,\"x\"]}}"];
        assert_eq!(feed(&mut checked(sized(19)), body), ok);
        assert_eq!(feed(&mut checked(sized(18)), body), check);
        let json = |t: &str| BodyChecks {
            json: vec![JsonCheck::parse(t).unwrap()],
            ..BodyChecks::default()
        };
        assert_eq!(feed(&mut checked(json("/a/b/1=x")), body), ok);
        assert_eq!(feed(&mut checked(json("/a/b/0=1")), body), ok);
        assert_eq!(feed(&mut checked(json("/a/b/0=2")), body), check);
        assert_eq!(feed(&mut checked(json("/a/c=1")), body), check);
        assert!(JsonCheck::parse("a=1").is_err());
        // The state starts afresh: a passing response after a failing one passes.
        let mut e = checked(sized(1));
        let mut buf = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab".to_vec();
        assert_eq!(e.parse(&mut buf), check);
        buf.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
        assert_eq!(e.parse(&mut buf), ok);
    }

    #[test]
    fn urls_parse_with_ports_paths_and_ipv6() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/a/b?c=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/a/b?c=1")
        );
        let u = HttpUrl::parse("http://[::1]:9000").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("[::1]", 9000, "/")
        );
        assert_eq!(u.host_header(), "[::1]:9000");
        assert_eq!(HttpUrl::parse("http://example.com").unwrap().port, 80);
        let u = HttpUrl::parse("https://example.com/a").unwrap();
        assert_eq!(
            (u.tls, u.port, u.host_header().as_str()),
            (true, 443, "example.com")
        );
        assert_eq!(
            HttpUrl::parse("https://h:80/").unwrap().host_header(),
            "h:80"
        );
        assert!(HttpUrl::parse("ftp://x/").is_err());
        assert!(HttpUrl::parse("http://x:port/").is_err());
        assert!(HttpUrl::parse("http:///").is_err());
    }

    #[test]
    fn urls_never_carry_raw_bytes_to_the_request_line() {
        // Issue 11: this URL put a header and a second request on the wire.
        let smuggling = "http://127.0.0.1:18083/a\r\nX-Injected: 1\r\n\r\nGET /smuggled";
        assert!(
            HttpUrl::parse(smuggling)
                .unwrap_err()
                .contains("control character")
        );
        assert!(HttpUrl::parse("http://h/\u{7f}").is_err());
        let u = HttpUrl::parse("http://h/a b/\u{e9}?x=<1>&y=%zz&z=%2F#top").unwrap();
        assert_eq!(u.path, "/a%20b/%C3%A9?x=%3C1%3E&y=%25zz&z=%2F");
        assert_eq!(HttpUrl::parse("http://h?q=1").unwrap().path, "/?q=1");
        assert!(HttpUrl::parse("http://u@h/").is_err());
        assert!(HttpUrl::parse("http://h%0d/").is_err());
        assert!(HttpUrl::parse("http://a b/").is_err());
    }

    #[test]
    fn headers_and_framing_are_checked() {
        let mut spec = HttpSpec::get(HttpUrl::parse("http://127.0.0.1:81/p").unwrap());
        for (name, value) in [
            ("X-A", "1\r\nX-B: 2"),
            ("X-A", "a\u{0}b"),
            ("X A", "1"),
            ("X:A", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "5"),
        ] {
            spec.headers = vec![(name.into(), value.into())];
            assert!(spec.validate().is_err(), "{name}: {value:?}");
        }
        spec.headers = vec![("Content-Length".into(), "0".into())];
        spec.validate().unwrap();
        spec.headers = vec![
            ("Host".into(), "other:1".into()),
            ("X-T".into(), "a\tb".into()),
        ];
        spec.validate().unwrap();
        let text = String::from_utf8(spec.request_bytes()).unwrap();
        assert_eq!(text.matches("Host:").count(), 1, "{text}");
        assert!(text.contains("Host: other:1\r\n"), "{text}");
    }

    #[test]
    fn a_head_is_limited_by_bytes_not_by_lines() {
        // Issue 11: more than 64 header lines (about 11 KB) was `headers_too_large`.
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..300 {
            head.extend_from_slice(format!("X-Header-{i}: value\r\n").as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let mut e = exchange();
        assert_eq!(
            feed(&mut e, &[&head]),
            Parse::Done {
                error: None,
                close: false
            }
        );
    }

    #[test]
    fn the_request_is_built_once_with_host_and_length() {
        let mut spec = HttpSpec::get(HttpUrl::parse("http://h:81/p").unwrap());
        spec.method = "POST".into();
        spec.body = b"{}".to_vec();
        spec.headers.push(("X-A".into(), "1".into()));
        let text = String::from_utf8(spec.request_bytes()).unwrap();
        assert!(text.starts_with("POST /p HTTP/1.1\r\nHost: h:81\r\nX-A: 1\r\n"));
        assert!(text.contains("Content-Length: 2\r\n") && text.ends_with("\r\n\r\n{}"));
    }

    #[test]
    fn content_length_bodies_split_anywhere() {
        let mut e = exchange();
        let r = feed(
            &mut e,
            &[
                b"HTTP/1.1 200 OK\r\nContent-Le",
                b"ngth: 5\r\n\r\nhel",
                b"lo",
            ],
        );
        assert_eq!(
            r,
            Parse::Done {
                error: None,
                close: false
            }
        );
    }

    #[test]
    fn chunked_bodies_and_trailers() {
        let mut e = exchange();
        let body: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n",
            b"0\r\nX-Trailer: 1\r\n\r\n",
        ];
        assert_eq!(
            feed(&mut e, body),
            Parse::Done {
                error: None,
                close: false
            }
        );
        let mut e = exchange();
        assert_eq!(
            feed(
                &mut e,
                &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]
            ),
            Parse::Failed(kinds::MALFORMED_BODY)
        );
    }

    #[test]
    fn status_close_interim_and_faults() {
        let mut e = exchange();
        assert_eq!(
            feed(
                &mut e,
                &[b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"]
            ),
            Parse::Done {
                error: Some(ErrorKind::new("status_5xx")),
                close: true
            }
        );
        let mut e = exchange();
        assert_eq!(
            feed(
                &mut e,
                &[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"]
            ),
            Parse::Done {
                error: None,
                close: false
            }
        );
        let mut e = exchange();
        assert_eq!(
            feed(&mut e, &[b"garbage\r\n\r\n"]),
            Parse::Failed(kinds::MALFORMED_STATUS)
        );
        let mut e = exchange();
        assert_eq!(
            feed(&mut e, &[b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"]),
            Parse::Failed(kinds::MALFORMED_HEADERS)
        );
        let mut e = exchange();
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert_eq!(
            feed(&mut e, &[&huge]),
            Parse::Failed(kinds::HEADERS_TOO_LARGE)
        );
        // No length: the body runs until the server closes.
        let mut e = exchange();
        assert_eq!(
            feed(&mut e, &[b"HTTP/1.0 200 OK\r\n\r\nabc"]),
            Parse::NeedMore
        );
        assert_eq!(
            e.at_close(),
            Parse::Done {
                error: None,
                close: true
            }
        );
    }
}
