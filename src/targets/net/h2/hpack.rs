//! Response header blocks (HPACK, RFC 7541), decoded without allocating.
//!
//! Requests are encoded by `loona-hpack`'s encoder, which allocates nothing once its table
//! holds a run's fields. Its decoder does not fit a hot path: it builds its Huffman table anew
//! for every Huffman-coded string, and keeps each indexed field as two new vectors (198
//! allocations per nginx response, which Huffman-codes and indexes its four fields; measured
//! in `tests/allocation.rs`). So responses are decoded here, by the same rules, into buffers
//! that grow once: the dynamic table is one byte buffer with its entries' places, Huffman
//! strings are decoded by `httlib-huffman` (its tables) into scratch buffers, and the static
//! table is read once from `loona-hpack` itself. The fuzz harness `h2_frames` decodes every
//! block with `loona-hpack` too and requires the same fields and the same verdict.

use std::collections::VecDeque;
use std::sync::OnceLock;

use httlib_huffman::{DecoderSpeed, decode as huffman};

/// A block that breaks HPACK: an integer or string past its end, Huffman code that does not
/// decode, an index outside the tables, a table size above the limit or after a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// The 61 entries of the static table (RFC 7541, appendix A), as `loona-hpack` holds them.
fn static_table() -> &'static [(Vec<u8>, Vec<u8>)] {
    static TABLE: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut decoder = loona_hpack::Decoder::new();
        (1..=61u8)
            .map(|i| {
                let fields = decoder.decode(&[0x80 | i]).expect("a static index");
                fields.into_iter().next().expect("one field")
            })
            .collect()
    })
}

/// One entry of the dynamic table: where its name starts in the table's bytes (counting from
/// the first byte ever stored), and the lengths of its name and value.
#[derive(Clone, Copy, Debug)]
struct Entry {
    at: usize,
    name: usize,
    value: usize,
}

impl Entry {
    /// Its size as the table counts it (RFC 7541, 4.1).
    fn size(self) -> usize {
        self.name + self.value + 32
    }
}

/// The dynamic table (RFC 7541, 2.3.2).
struct Dynamic {
    /// The entries' bytes, oldest first, from `base` on.
    bytes: Vec<u8>,
    /// Bytes dropped from the front of `bytes` so far (an entry's `at` counts them).
    base: usize,
    /// The entries, oldest first.
    entries: VecDeque<Entry>,
    size: usize,
    max: usize,
}

/// A connection's response header decoder; see the module doc.
pub struct HeaderDecoder {
    table: Dynamic,
    /// The largest table size a size update may ask for (this side's SETTINGS).
    limit: usize,
    name: Vec<u8>,
    value: Vec<u8>,
}

impl HeaderDecoder {
    /// A decoder whose dynamic table may grow to `limit` bytes (this side's
    /// SETTINGS_HEADER_TABLE_SIZE).
    pub fn new(limit: usize) -> HeaderDecoder {
        static_table();
        HeaderDecoder {
            table: Dynamic {
                bytes: Vec::with_capacity(2 * limit),
                base: 0,
                entries: VecDeque::with_capacity(limit / 32 + 1),
                size: 0,
                max: limit,
            },
            limit,
            name: Vec::new(),
            value: Vec::new(),
        }
    }

    /// Decodes `block`, passing each field to `field` in order.
    pub fn decode(
        &mut self,
        mut block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), Malformed> {
        let mut fields_seen = false;
        while let Some(&first) = block.first() {
            if first & 0x80 != 0 {
                let (index, used) = integer(block, 7)?;
                let (name, value) = self.table.entry(index)?;
                field(name, value);
                block = &block[used..];
            } else if first & 0x20 != 0 && first & 0x40 == 0 {
                // A size update: only before the block's first field.
                let (size, used) = integer(block, 5)?;
                if fields_seen || size > self.limit {
                    return Err(Malformed);
                }
                self.table.max = size;
                self.table.evict(0);
                block = &block[used..];
                continue;
            } else {
                let indexing = first & 0x40 != 0;
                let prefix = if indexing { 6 } else { 4 };
                let (index, used) = integer(block, prefix)?;
                block = &block[used..];
                self.name.clear();
                if index == 0 {
                    block = string(block, &mut self.name)?;
                } else {
                    self.name.extend_from_slice(self.table.entry(index)?.0);
                }
                self.value.clear();
                block = string(block, &mut self.value)?;
                field(&self.name, &self.value);
                if indexing {
                    self.table.insert(&self.name, &self.value);
                }
            }
            fields_seen = true;
        }
        Ok(())
    }
}

impl Dynamic {
    /// Field `index` (from 1) of the static table, then the dynamic one, newest first.
    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), Malformed> {
        let table = static_table();
        if let Some((name, value)) = index.checked_sub(1).and_then(|i| table.get(i)) {
            return Ok((name, value));
        }
        let from_newest = index.checked_sub(table.len() + 1).ok_or(Malformed)?;
        let i = self
            .entries
            .len()
            .checked_sub(from_newest + 1)
            .ok_or(Malformed)?;
        let e = self.entries[i];
        let at = e.at - self.base;
        let name = &self.bytes[at..at + e.name];
        Ok((name, &self.bytes[at + e.name..at + e.name + e.value]))
    }

    /// Adds a field to the table, evicting what it must; a field larger than the whole table
    /// empties it and is not added (RFC 7541, 4.4).
    fn insert(&mut self, name: &[u8], value: &[u8]) {
        self.evict(name.len() + value.len() + 32);
        let entry = Entry {
            at: self.base + self.bytes.len(),
            name: name.len(),
            value: value.len(),
        };
        if entry.size() > self.max {
            return;
        }
        self.bytes.extend_from_slice(name);
        self.bytes.extend_from_slice(value);
        self.entries.push_back(entry);
        self.size += entry.size();
    }

    /// Evicts the oldest entries until `room` more bytes fit, then drops their bytes once
    /// they are half the buffer (so the buffer stays within twice the table).
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.size -= old.size();
        }
        let start = self
            .entries
            .front()
            .map_or(self.base + self.bytes.len(), |e| e.at);
        let dead = start - self.base;
        if dead > 0 && (dead >= self.bytes.len() / 2 || self.entries.is_empty()) {
            self.bytes.copy_within(dead.., 0);
            self.bytes.truncate(self.bytes.len() - dead);
            self.base = start;
        }
    }
}

/// Reads an HPACK integer with a `prefix`-bit prefix (RFC 7541, 5.1) from the front of
/// `buf`: its value and the bytes it took.
fn integer(buf: &[u8], prefix: u8) -> Result<(usize, usize), Malformed> {
    let mask = (1usize << prefix) - 1;
    let mut value = usize::from(*buf.first().ok_or(Malformed)?) & mask;
    if value < mask {
        return Ok((value, 1));
    }
    // At most 4 more bytes: no index, length or table size comes near 2^28.
    for (i, &b) in buf.iter().enumerate().skip(1).take(4) {
        value += usize::from(b & 0x7f) << (7 * (i - 1));
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(Malformed)
}

/// Reads a string literal (RFC 7541, 5.2) from the front of `block` into `out` (Huffman code
/// decoded); returns the rest of the block.
fn string<'a>(block: &'a [u8], out: &mut Vec<u8>) -> Result<&'a [u8], Malformed> {
    let coded = block.first().ok_or(Malformed)? & 0x80 != 0;
    let (length, used) = integer(block, 7)?;
    let end = used.checked_add(length).ok_or(Malformed)?;
    let body = block.get(used..end).ok_or(Malformed)?;
    if coded {
        huffman(body, out, DecoderSpeed::FourBits).map_err(|_| Malformed)?;
    } else {
        out.extend_from_slice(body);
    }
    Ok(&block[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &[&str]) -> Vec<u8> {
        let digits: String = text.concat().split_whitespace().collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
            .collect()
    }

    fn fields(decoder: &mut HeaderDecoder, block: &[u8]) -> Vec<String> {
        let mut seen = Vec::new();
        decoder
            .decode(block, |n, v| {
                let (n, v) = (String::from_utf8_lossy(n), String::from_utf8_lossy(v));
                seen.push(format!("{n}: {v}"));
            })
            .unwrap();
        seen
    }

    /// RFC 7541, C.6: three responses with Huffman-coded strings and a 256-byte table, so
    /// that entries are evicted; each decodes as the RFC says.
    #[test]
    fn the_rfcs_responses_decode_with_eviction() {
        let mut d = HeaderDecoder::new(256);
        let first = hex(&[
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe",
            "9410 54d4 44a8 2005 9504 0b81 66e0 82a6",
            "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8",
            "e9ae 82ae 43d3",
        ]);
        assert_eq!(
            fields(&mut d, &first),
            [
                ":status: 302",
                "cache-control: private",
                "date: Mon, 21 Oct 2013 20:13:21 GMT",
                "location: https://www.example.com"
            ]
        );
        assert_eq!(d.table.size, 222);
        let second = hex(&["4883 640e ffc1 c0bf"]);
        assert_eq!(
            fields(&mut d, &second),
            [
                ":status: 307",
                "cache-control: private",
                "date: Mon, 21 Oct 2013 20:13:21 GMT",
                "location: https://www.example.com"
            ]
        );
        assert_eq!(d.table.size, 222);
        let third = hex(&[
            "88c1 6196 d07a be94 1054 d444 a820 0595",
            "040b 8166 e084 a62d 1bff c05a 839b d9ab",
            "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b",
            "3960 d5af 2708 7f36 72c1 ab27 0fb5 291f",
            "9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ]);
        assert_eq!(
            fields(&mut d, &third),
            [
                ":status: 200",
                "cache-control: private",
                "date: Mon, 21 Oct 2013 20:13:22 GMT",
                "location: https://www.example.com",
                "content-encoding: gzip",
                "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
            ]
        );
        assert_eq!(d.table.size, 215);
        assert_eq!(d.table.entries.len(), 3);
    }

    #[test]
    fn broken_blocks_are_refused() {
        let mut d = HeaderDecoder::new(4096);
        for block in [
            &[0x80][..],                           // index 0
            &[0xbe],                               // index 62, an empty dynamic table
            &[0x88, 0x3f, 0xe1, 0x1f],             // a size update after a field
            &[0x3f, 0xe2, 0x1f],                   // a size update above the limit
            &[0x40, 0x05, b'a'],                   // a name past the block's end
            &[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff], // an integer without end
            &[0x00, 0x81, 0xff, 0x00],             // Huffman code that does not decode
        ] {
            assert_eq!(d.decode(block, |_, _| {}), Err(Malformed), "{block:02x?}");
        }
        // A field larger than the table empties it and is not added.
        let mut d = HeaderDecoder::new(40);
        d.decode(&[0x40, 0x01, b'a', 0x01, b'b'], |_, _| {})
            .unwrap();
        assert_eq!(d.table.entries.len(), 1);
        let big = [&[0x40, 0x01, b'n', 0x10][..], &[b'x'; 16]].concat();
        d.decode(&big, |_, _| {}).unwrap();
        assert_eq!((d.table.entries.len(), d.table.size), (0, 0));
        assert_eq!(static_table()[7], (b":status".to_vec(), b"200".to_vec()));
    }
}
