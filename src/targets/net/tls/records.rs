//! TLS records after the handshake: sealed and opened in the connection's own buffers.
//!
//! rustls encrypts every record into a fresh allocation and copies every decrypted one into
//! another; at tens of thousands of requests per second that is two allocations per request
//! on the hot path. Once rustls has completed a handshake, [`Direction`] takes over the
//! record layer with the keys rustls hands out for kTLS (`dangerous_into_kernel_connection`),
//! as the kernel would: a record is sealed in place at the end of the caller's outgoing buffer
//! and opened in place in its incoming one, with ring's AEADs (the ones rustls itself uses).
//!
//! The framing follows RFC 8446 section 5 (TLS 1.3: an inner content type, the record header
//! as the additional data, the nonce the IV xor the sequence number) and RFC 5246 / 5288 /
//! 7905 (TLS 1.2: the real content type outside, the sequence number, type, version and length
//! as additional data; AES-GCM carries an 8-byte explicit nonce in the record, ChaCha20 none).

use std::ops::Range;

use ring::aead::{
    AES_128_GCM, AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey,
};
use rustls::ConnectionTrafficSecrets;

/// Content types of the record layer.
pub mod content {
    /// An alert.
    pub const ALERT: u8 = 21;
    /// A handshake message (after the handshake: a session ticket, a key update).
    pub const HANDSHAKE: u8 = 22;
    /// Application data.
    pub const APPLICATION_DATA: u8 = 23;
}

/// The most plaintext one record carries.
pub const MAX_FRAGMENT: usize = 1 << 14;
/// The most a record's body may hold: TLS 1.2 allows 2,048 bytes of expansion (TLS 1.3 only
/// 256), so this bounds both.
pub const MAX_BODY: usize = MAX_FRAGMENT + 2048;
/// A record's header: type, version, length.
pub const HEADER: usize = 5;
/// The most a record adds to its plaintext: header, explicit nonce (TLS 1.2 GCM) or inner
/// content type (TLS 1.3), tag.
pub const OVERHEAD: usize = HEADER + 8 + 16;

const TAG: usize = 16;
const EXPLICIT_NONCE: usize = 8;
/// Every record says TLS 1.2 in its header, also under TLS 1.3.
const LEGACY_VERSION: [u8; 2] = [3, 3];

/// How records are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// TLS 1.3.
    Tls13,
    /// TLS 1.2 with AES-GCM (an explicit nonce in each record).
    Tls12Gcm,
    /// TLS 1.2 with ChaCha20-Poly1305.
    Tls12Chacha,
}

/// A record could not be opened or sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Its tag did not verify: corrupted, or not from the peer.
    Decrypt,
    /// Longer than any record may be.
    Oversized,
    /// A TLS 1.3 record whose outer type is not application data, or whose plaintext is only
    /// padding.
    Malformed,
    /// The AEAD refused to seal (a plaintext past its limits).
    Seal,
}

/// One direction of a connection: its key, IV and sequence number.
pub struct Direction {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
    framing: Framing,
}

impl Direction {
    /// The direction rustls handed over: `secrets` at sequence number `seq`, framed as
    /// `tls13` says. `None` for a cipher ring has no AEAD for (rustls's ring provider
    /// negotiates none).
    pub fn new(tls13: bool, seq: u64, secrets: &ConnectionTrafficSecrets) -> Option<Direction> {
        let (algorithm, key, iv, framing) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => {
                (&AES_128_GCM, key, iv, Framing::Tls12Gcm)
            }
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => {
                (&AES_256_GCM, key, iv, Framing::Tls12Gcm)
            }
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&CHACHA20_POLY1305, key, iv, Framing::Tls12Chacha)
            }
            _ => return None,
        };
        let framing = if tls13 { Framing::Tls13 } else { framing };
        Direction::from_parts(algorithm, key.as_ref(), iv.as_ref(), seq, framing)
    }

    fn from_parts(
        algorithm: &'static ring::aead::Algorithm,
        key: &[u8],
        iv: &[u8],
        seq: u64,
        framing: Framing,
    ) -> Option<Direction> {
        let key = UnboundKey::new(algorithm, key).ok()?;
        Some(Direction {
            key: LessSafeKey::new(key),
            iv: iv.try_into().ok()?,
            seq,
            framing,
        })
    }

    /// Records this direction has sealed or opened since its keys were set.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    fn nonce(&self) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    /// TLS 1.2's additional data: sequence number, type, version, plaintext length.
    fn tls12_aad(&self, typ: u8, len: usize) -> [u8; 13] {
        let mut aad = [0; 13];
        aad[..8].copy_from_slice(&self.seq.to_be_bytes());
        aad[8] = typ;
        aad[9..11].copy_from_slice(&LEGACY_VERSION);
        aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
        aad
    }

    /// Appends one record of `typ` carrying `plain` (at most [`MAX_FRAGMENT`] bytes) to
    /// `out`; allocates only when `out` lacks `plain.len() + OVERHEAD` bytes of room.
    pub fn seal(&mut self, typ: u8, plain: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        debug_assert!(plain.len() <= MAX_FRAGMENT);
        let nonce = self.nonce();
        let (outer, extra) = match self.framing {
            Framing::Tls13 => (content::APPLICATION_DATA, 1),
            Framing::Tls12Gcm => (typ, EXPLICIT_NONCE),
            Framing::Tls12Chacha => (typ, 0),
        };
        let at = out.len();
        let body = plain.len() + extra + TAG;
        let mut header = [outer, LEGACY_VERSION[0], LEGACY_VERSION[1], 0, 0];
        header[3..].copy_from_slice(&(body as u16).to_be_bytes());
        out.extend_from_slice(&header);
        if self.framing == Framing::Tls12Gcm {
            out.extend_from_slice(&nonce[4..]);
        }
        let from = out.len();
        out.extend_from_slice(plain);
        let aad = match self.framing {
            Framing::Tls13 => {
                out.push(typ);
                let mut aad = [0; 13];
                aad[..HEADER].copy_from_slice(&header);
                (aad, HEADER)
            }
            _ => (self.tls12_aad(typ, plain.len()), 13),
        };
        let sealed = self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad.0[..aad.1]),
            &mut out[from..],
        );
        let Ok(tag) = sealed else {
            out.truncate(at);
            return Err(RecordError::Seal);
        };
        out.extend_from_slice(tag.as_ref());
        self.seq += 1;
        Ok(())
    }

    /// Opens the record whose `header` is given and whose body is `body`, in place: its content
    /// type and where in `body` its plaintext now lies.
    pub fn open(
        &mut self,
        header: [u8; HEADER],
        body: &mut [u8],
    ) -> Result<(u8, Range<usize>), RecordError> {
        if body.len() > MAX_BODY {
            return Err(RecordError::Oversized);
        }
        let nonce = self.nonce();
        let opened = match self.framing {
            Framing::Tls13 => {
                if header[0] != content::APPLICATION_DATA {
                    return Err(RecordError::Malformed);
                }
                let aad = Aad::from(header);
                let n = self.open_in(Nonce::assume_unique_for_key(nonce), aad, body, 0)?;
                // The inner type is the last byte that is not padding.
                let end = body[..n]
                    .iter()
                    .rposition(|&b| b != 0)
                    .ok_or(RecordError::Malformed)?;
                (body[end], 0..end)
            }
            Framing::Tls12Gcm => {
                if body.len() < EXPLICIT_NONCE + TAG {
                    return Err(RecordError::Decrypt);
                }
                let mut nonce = nonce;
                nonce[4..].copy_from_slice(&body[..EXPLICIT_NONCE]);
                let aad = self.tls12_aad(header[0], body.len() - EXPLICIT_NONCE - TAG);
                let nonce = Nonce::assume_unique_for_key(nonce);
                let n = self.open_in(nonce, Aad::from(aad), body, EXPLICIT_NONCE)?;
                (header[0], 0..n)
            }
            Framing::Tls12Chacha => {
                let aad = self.tls12_aad(header[0], body.len().saturating_sub(TAG));
                let nonce = Nonce::assume_unique_for_key(nonce);
                let n = self.open_in(nonce, Aad::from(aad), body, 0)?;
                (header[0], 0..n)
            }
        };
        if opened.1.len() > MAX_FRAGMENT {
            return Err(RecordError::Oversized);
        }
        self.seq += 1;
        Ok(opened)
    }

    /// Opens `body[skip..]` (ciphertext and tag) to its start: the plaintext's length.
    fn open_in<A: AsRef<[u8]>>(
        &self,
        nonce: Nonce,
        aad: Aad<A>,
        body: &mut [u8],
        skip: usize,
    ) -> Result<usize, RecordError> {
        self.key
            .open_within(nonce, aad, body, skip..)
            .map(|plain| plain.len())
            .map_err(|_| RecordError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(framing: Framing, algorithm: &'static ring::aead::Algorithm) -> (Direction, Direction) {
        let key = vec![7u8; algorithm.key_len()];
        let iv = [3u8; 12];
        let make = || Direction::from_parts(algorithm, &key, &iv, 5, framing).unwrap();
        (make(), make())
    }

    fn split(record: &mut [u8]) -> ([u8; HEADER], &mut [u8]) {
        let (header, body) = record.split_at_mut(HEADER);
        let len = u16::from_be_bytes([header[3], header[4]]) as usize;
        assert_eq!(body.len(), len, "the header's length is the body's");
        (header.try_into().unwrap(), body)
    }

    #[test]
    fn every_framing_opens_what_it_sealed_with_the_next_sequence_numbers() {
        for (framing, algorithm) in [
            (Framing::Tls13, &AES_128_GCM),
            (Framing::Tls13, &CHACHA20_POLY1305),
            (Framing::Tls12Gcm, &AES_256_GCM),
            (Framing::Tls12Chacha, &CHACHA20_POLY1305),
        ] {
            let (mut tx, mut rx) = pair(framing, algorithm);
            for (i, text) in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"", &[b'x'; MAX_FRAGMENT]]
                .into_iter()
                .enumerate()
            {
                let mut out = Vec::with_capacity(text.len() + OVERHEAD);
                let capacity = out.capacity();
                tx.seal(content::APPLICATION_DATA, text, &mut out).unwrap();
                assert_eq!(out.capacity(), capacity, "{framing:?}: sealed in place");
                assert!(out.len() <= text.len() + OVERHEAD);
                let (header, body) = split(&mut out);
                let (typ, plain) = rx.open(header, body).unwrap_or_else(|e| {
                    panic!("{framing:?} record {i}: {e:?}");
                });
                assert_eq!(typ, content::APPLICATION_DATA);
                assert_eq!(&body[plain], text, "{framing:?} record {i}");
            }
            assert_eq!((tx.seq(), rx.seq()), (8, 8));
        }
    }

    #[test]
    fn tls13_hides_the_content_type_and_tls12_shows_it() {
        let (mut tx, mut rx) = pair(Framing::Tls13, &AES_256_GCM);
        let mut out = Vec::new();
        tx.seal(content::ALERT, &[1, 0], &mut out).unwrap();
        assert_eq!(out[0], content::APPLICATION_DATA);
        let (header, body) = split(&mut out);
        assert_eq!(rx.open(header, body).unwrap().0, content::ALERT);
        let (mut tx, mut rx) = pair(Framing::Tls12Gcm, &AES_128_GCM);
        let mut out = Vec::new();
        tx.seal(content::ALERT, &[1, 0], &mut out).unwrap();
        assert_eq!(out[0], content::ALERT);
        let (header, body) = split(&mut out);
        assert_eq!(rx.open(header, body).unwrap(), (content::ALERT, 0..2));
    }

    #[test]
    fn a_changed_byte_a_replayed_record_or_an_oversized_one_is_refused() {
        let (mut tx, mut rx) = pair(Framing::Tls13, &AES_128_GCM);
        let mut out = Vec::new();
        tx.seal(content::APPLICATION_DATA, b"hello", &mut out)
            .unwrap();
        let mut flipped = out.clone();
        flipped[HEADER + 2] ^= 1;
        let (header, body) = split(&mut flipped);
        assert_eq!(rx.open(header, body), Err(RecordError::Decrypt));
        // A failed open does not advance the sequence number: the intact record still opens.
        let mut intact = out.clone();
        let (header, body) = split(&mut intact);
        assert!(rx.open(header, body).is_ok());
        // The same record again is out of sequence.
        let (header, body) = split(&mut out);
        assert_eq!(rx.open(header, body), Err(RecordError::Decrypt));
        let mut huge = vec![0u8; MAX_BODY + 1];
        assert_eq!(
            rx.open([23, 3, 3, 0, 0], &mut huge),
            Err(RecordError::Oversized)
        );
        assert_eq!(
            rx.open([22, 3, 3, 0, 20], &mut [0; 20]),
            Err(RecordError::Malformed)
        );
    }
}
