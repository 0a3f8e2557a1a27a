//! Histograms as text: HdrHistogram's V2 compressed encoding in base64.
//!
//! This is the encoding of HdrHistogram interval logs (`HISTFAA...`), so a histogram saved in
//! a JSON report can be read by other HdrHistogram tools and merged exactly with others.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Encodes a histogram as base64 of its V2 + DEFLATE serialization.
pub fn encode(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("serializing into memory cannot fail");
    STANDARD.encode(bytes)
}

/// The compressed V2 encoding's cookie, and the plain V2 encoding's inside it (8-byte words).
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9304 | 0x10;
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
/// Bytes of a plain V2 header: cookie, payload length, offset, digits, low, high, ratio.
const V2_HEADER: usize = 40;
/// The largest decompressed histogram accepted: openpace's layout needs at most ~300 KB, and
/// a hostile one could otherwise ask for gigabytes.
const MAX_DECODED: u64 = 16 << 20;
/// The most significant digits accepted (HdrHistogram's own limit).
const MAX_DIGITS: u32 = 5;

/// Decodes a histogram written by [`encode`] (or any HdrHistogram V2 log entry).
///
/// The header is checked before hdrhistogram sees it: the library allocates a payload buffer
/// of the length a header claims (up to 4 GiB for a few bytes of input, found by fuzzing), so
/// the stream is inflated here with a ceiling, and its claimed length must match what is
/// really there.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    use std::io::Read;
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let word = |b: &[u8], at: usize| -> Option<u32> {
        b.get(at..at + 4)
            .map(|w| u32::from_be_bytes(w.try_into().expect("four bytes")))
    };
    let plain = match word(&bytes, 0) {
        Some(V2_COMPRESSED_COOKIE) => {
            let compressed = bytes.get(8..).ok_or("a header without a body")?;
            let mut plain = Vec::new();
            flate2::read::ZlibDecoder::new(compressed)
                .take(MAX_DECODED + 1)
                .read_to_end(&mut plain)
                .map_err(|e| format!("not a compressed HdrHistogram: {e}"))?;
            if plain.len() as u64 > MAX_DECODED {
                return Err(format!("a histogram larger than {} MiB", MAX_DECODED >> 20));
            }
            plain
        }
        Some(V2_COOKIE) => bytes,
        _ => return Err("not an HdrHistogram V2 encoding (unknown cookie)".into()),
    };
    if word(&plain, 0) != Some(V2_COOKIE) || plain.len() < V2_HEADER {
        return Err("not an HdrHistogram V2 encoding (no header)".into());
    }
    let claimed = word(&plain, 4).unwrap_or(0) as usize;
    if claimed > plain.len() - V2_HEADER {
        return Err(format!(
            "an HdrHistogram that claims {claimed} bytes of counts and holds {}",
            plain.len() - V2_HEADER
        ));
    }
    let digits = word(&plain, 12).unwrap_or(0);
    if digits > MAX_DIGITS {
        return Err(format!(
            "an HdrHistogram of {digits} significant digits (at most {MAX_DIGITS})"
        ));
    }
    Deserializer::new()
        .deserialize(&mut plain.as_slice())
        .map_err(|e| format!("not an HdrHistogram V2 encoding: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::atomic_hist::new_histogram;

    #[test]
    fn round_trip_keeps_every_count() {
        let mut h = new_histogram();
        for v in [1u64, 999, 1_000_000, 20_000_000, 3_000_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let text = encode(&h);
        assert!(text.starts_with("HISTF"), "{text}");
        let back = decode(&text).unwrap();
        assert_eq!(back, h);
        assert!(decode("not a histogram").is_err());
    }

    #[test]
    fn a_header_claiming_gigabytes_is_refused_without_allocating_them() {
        // Found by fuzzing: a short encoding whose inner header claims a payload of ~4 GiB;
        // the library would allocate (and zero) all of it before reading.
        let text = "HISTFAAAAFt4nC2IsQ1AQBRA/38SiUIUoiIxglMrdIwgN4BNbGABO1yjNcDVahvotCTnNe/lVcuar4iR\
                    QPRbvxzMvkl/h3FYzhkX0DlHiZRSTFAAAAgFt4nC2IsKPLwtkg0j";
        assert!(decode(text).is_err());
    }
}
