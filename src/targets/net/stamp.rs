//! Kernel TX stamps matched to requests by byte offset, one connection at a time (see
//! [`crate::base::tstamp`]): the kernel keys each send call's stamp by the offset of its last
//! byte, counted from when stamping was enabled on the socket, in 32 bits that wrap.
//!
//! A [`TxMatcher`] counts the bytes the connection sends (TLS handshakes and records included),
//! notes where each request's last byte fell, and gives a request the first `SND` stamp whose
//! send reached that byte: several requests in one send (one packet) share its stamp. A request
//! whose stamp never came is given none ([`TxMatcher::take`] says so, and the caller counts it
//! as missing, never guessed). A new socket starts the offsets again ([`TxMatcher::reset`]).
//! Nothing allocates once the matcher is built: pending requests live in a ring of fixed size.

use std::collections::VecDeque;

use crate::base::tstamp::{TSTAMP_SND, TxStamp};

/// Requests one connection may have waiting for their stamps (one per stream in flight).
const RING: usize = 64;

/// One connection's offsets and the requests waiting for a stamp; see the module doc.
#[derive(Debug)]
pub struct TxMatcher {
    /// Bytes sent since stamping was enabled.
    sent: u64,
    /// `(request, offset of its last byte, its stamp once one came)`, oldest first.
    pending: VecDeque<(u64, u64, Option<u64>)>,
}

impl Default for TxMatcher {
    fn default() -> Self {
        TxMatcher {
            sent: 0,
            pending: VecDeque::with_capacity(RING),
        }
    }
}

impl TxMatcher {
    /// A new socket (stamping just enabled): offsets start again, and what waited on the old
    /// socket will get no stamp.
    pub fn reset(&mut self) {
        self.sent = 0;
        self.pending.clear();
    }

    /// `bytes` more went out on the socket.
    pub fn sent(&mut self, bytes: usize) {
        self.sent += bytes as u64;
    }

    /// The byte just sent was request `id`'s last.
    pub fn request_written(&mut self, id: u64) {
        if self.sent == 0 {
            return;
        }
        if self.pending.len() == RING {
            // The oldest has waited for RING later requests: its stamp is not coming.
            self.pending.pop_front();
        }
        self.pending.push_back((id, self.sent - 1, None));
    }

    /// A stamp from the error queue: every waiting request whose last byte it covers gets it.
    pub fn stamp(&mut self, stamp: TxStamp) {
        if stamp.kind != TSTAMP_SND || self.sent == 0 {
            return;
        }
        // The full offset: the latest one at or before the last byte sent with these low bits.
        let last = self.sent - 1;
        let back = u64::from((last as u32).wrapping_sub(stamp.key));
        let Some(offset) = last.checked_sub(back) else {
            return;
        };
        for entry in self.pending.iter_mut() {
            if entry.1 > offset {
                break;
            }
            entry.2.get_or_insert(stamp.realtime_ns);
        }
    }

    /// Whether request `id` has its stamp.
    pub fn has(&self, id: u64) -> bool {
        self.pending.iter().any(|e| e.0 == id && e.2.is_some())
    }

    /// Request `id`'s stamp (`CLOCK_REALTIME` ns), if one came; it stops waiting either way,
    /// and so does every request sent before it.
    pub fn take(&mut self, id: u64) -> Option<u64> {
        let at = self.pending.iter().position(|e| e.0 == id)?;
        let stamp = self.pending[at].2;
        self.pending.drain(..=at);
        stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snd(key: u64, at: u64) -> TxStamp {
        TxStamp {
            key: key as u32,
            realtime_ns: at,
            kind: TSTAMP_SND,
        }
    }

    #[test]
    fn requests_sharing_one_send_share_its_stamp() {
        let mut m = TxMatcher::default();
        m.sent(517); // a TLS handshake's bytes count too
        m.stamp(snd(516, 10));
        m.sent(100);
        m.request_written(1);
        m.sent(100);
        m.request_written(2);
        // One send carried both requests: one stamp, for its last byte.
        m.stamp(snd(716, 20));
        assert_eq!(m.take(1), Some(20));
        assert_eq!(m.take(2), Some(20));
    }

    #[test]
    fn a_request_split_over_two_sends_takes_the_stamp_of_the_one_with_its_last_byte() {
        let mut m = TxMatcher::default();
        m.sent(60);
        m.stamp(snd(59, 5));
        m.sent(40);
        m.request_written(7);
        m.stamp(snd(99, 9));
        assert_eq!(m.take(7), Some(9));
    }

    #[test]
    fn a_stamp_that_never_comes_is_none_and_does_not_shift_the_next() {
        let mut m = TxMatcher::default();
        m.sent(50);
        m.request_written(1);
        // Request 1's stamp is lost; request 2's comes.
        m.sent(50);
        m.request_written(2);
        assert_eq!(m.take(1), None);
        m.stamp(snd(99, 30));
        assert_eq!(m.take(2), Some(30));
        assert_eq!(m.take(3), None, "never sent");
    }

    #[test]
    fn a_reconnect_starts_the_offsets_again() {
        let mut m = TxMatcher::default();
        m.sent(1_000);
        m.request_written(1);
        m.reset();
        m.sent(80);
        m.request_written(2);
        m.stamp(snd(79, 44));
        assert_eq!(m.take(1), None, "it waited on the old socket");
        assert_eq!(m.take(2), Some(44));
    }

    #[test]
    fn keys_wrap_at_four_gibibytes() {
        let mut m = TxMatcher::default();
        m.sent((1 << 32) - 10);
        m.request_written(1);
        m.sent(20);
        m.request_written(2);
        m.stamp(snd((1 << 32) - 11, 1));
        m.stamp(snd(9, 2));
        assert_eq!(m.take(1), Some(1));
        assert_eq!(m.take(2), Some(2));
    }

    #[test]
    fn only_the_driver_stamp_counts() {
        let mut m = TxMatcher::default();
        m.sent(10);
        m.request_written(1);
        m.stamp(TxStamp {
            kind: 2, // ACK
            ..snd(9, 3)
        });
        assert_eq!(m.take(1), None);
    }
}
