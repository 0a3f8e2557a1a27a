//! Kernel timestamps on a TCP socket (`SO_TIMESTAMPING`, `--timestamps kernel`): the instant a
//! request's last byte left the stack for the driver, and the instant the response's last
//! segment entered the receive path, both stamped by the kernel in software.
//!
//! Enabled right after the connection is established, with `OPT_ID`: every send call then
//! gets a stamp on the socket's error queue, keyed by the offset of its last byte counted from
//! that moment (a u32 that wraps), with `OPT_TSONLY` so the packet is not looped back with it.
//! A receive stamp comes with each `recvmsg` as a control message: for TCP, the stamp of the
//! last segment the call read. The kernel stamps on `CLOCK_REALTIME`; [`to_monotonic`] moves a
//! stamp onto the monotonic clock the run measures with. See the kernel's
//! `Documentation/networking/timestamping.rst`.
//!
//! The first socket of a host to ask for RX stamps turns them on in a deferred work item:
//! segments received in the first moments after may come without a stamp. Nothing here guesses
//! a missing stamp; the caller counts it.

use std::io;
use std::os::fd::RawFd;

/// `SO_TIMESTAMPING` (the 64-bit `time_t` ABI's, `SO_TIMESTAMPING_OLD`, which Linux keeps on
/// every 64-bit architecture); its control messages have the same number.
const SO_TIMESTAMPING: libc::c_int = 37;
const SCM_TIMESTAMPING: libc::c_int = SO_TIMESTAMPING;
/// `ee_info` of a stamp taken when the packet left the stack for the driver.
pub const TSTAMP_SND: u32 = 0;

/// What the error queue said: the send call whose last byte is `key` left at `realtime_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxStamp {
    /// Offset of the send call's last byte since timestamping was enabled, wrapping at 2^32.
    pub key: u32,
    /// When (`CLOCK_REALTIME`, ns).
    pub realtime_ns: u64,
    /// Which point of the path: [`TSTAMP_SND`] (0), `SCHED` (1), `ACK` (2).
    pub kind: u32,
}

/// Turns on software TX and RX stamps, keyed by byte offset, on a connected TCP socket.
pub fn enable(fd: RawFd) -> io::Result<()> {
    let flags: libc::c_uint = libc::SOF_TIMESTAMPING_TX_SOFTWARE
        | libc::SOF_TIMESTAMPING_RX_SOFTWARE
        | libc::SOF_TIMESTAMPING_SOFTWARE
        | libc::SOF_TIMESTAMPING_OPT_ID
        | libc::SOF_TIMESTAMPING_OPT_TSONLY;
    // SAFETY: a valid pointer to a c_uint of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_TIMESTAMPING,
            (&raw const flags).cast(),
            size_of::<libc::c_uint>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether this kernel stamps a TCP socket: tried on a connection over loopback, which then
/// closes.
pub fn may_stamp() -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    enable(client.as_raw_fd())
}

/// Room for the control messages of one `recvmsg`, aligned for `cmsghdr`.
type Control = [u64; 32];

/// `scm_timestamping`'s first timespec (the software stamp) in ns, from a control message's
/// data; 0 when it is empty.
///
/// # Safety
/// `data` points at the data of an `SCM_TIMESTAMPING` message (three timespecs).
unsafe fn software_stamp(data: *const u8) -> u64 {
    // SAFETY: the caller's promise; read unaligned, as control data need not be aligned.
    let ts: libc::timespec = unsafe { std::ptr::read_unaligned(data.cast()) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// Reads like `read(2)`, and returns with the byte count the RX stamp of the last segment read
/// (`CLOCK_REALTIME` ns; 0 when none came).
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, u64)> {
    let mut control: Control = [0; 32];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; its pointers are set to live buffers below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<Control>();
    // SAFETY: msg points at live buffers of the sizes it states.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = 0;
    // SAFETY: filled by the recvmsg above; `control` is alive.
    unsafe {
        each_control(&msg, |level, kind, data| {
            if level == libc::SOL_SOCKET && kind == SCM_TIMESTAMPING {
                // SAFETY: an SCM_TIMESTAMPING message's data.
                stamp = software_stamp(data);
            }
        });
    }
    Ok((n as usize, stamp))
}

/// Calls `f(level, type, data)` for each control message in `msg`.
///
/// # Safety
/// `msg` was filled by a successful `recvmsg` and its control buffer is still alive: the CMSG
/// macros walk it within `msg_controllen`.
unsafe fn each_control(msg: &libc::msghdr, mut f: impl FnMut(libc::c_int, libc::c_int, *const u8)) {
    // SAFETY: the caller's promise.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            f((*c).cmsg_level, (*c).cmsg_type, libc::CMSG_DATA(c));
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
}

/// Takes the stamps waiting on the socket's error queue, oldest first, without blocking, until
/// there are none or `each` returns `false`.
pub fn tx_stamps(fd: RawFd, mut each: impl FnMut(TxStamp) -> bool) -> io::Result<()> {
    loop {
        let mut control: Control = [0; 32];
        // SAFETY: as in `recv`; no data buffer (OPT_TSONLY sends none).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<Control>();
        // SAFETY: msg points at a live control buffer of the size it states.
        let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(()),
                io::ErrorKind::Interrupted => continue,
                _ => Err(e),
            };
        }
        let (mut realtime_ns, mut found) = (0, None);
        // SAFETY: filled by the recvmsg above; `control` is alive.
        unsafe {
            each_control(&msg, |level, kind, data| {
                if level == libc::SOL_SOCKET && kind == SCM_TIMESTAMPING {
                    // SAFETY: an SCM_TIMESTAMPING message's data.
                    realtime_ns = software_stamp(data);
                } else if (level == libc::SOL_IP && kind == libc::IP_RECVERR)
                    || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR)
                {
                    // SAFETY: an IP(V6)_RECVERR message's data is a sock_extended_err.
                    let err: libc::sock_extended_err = std::ptr::read_unaligned(data.cast());
                    if err.ee_errno == libc::ENOMSG as u32
                        && err.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING
                    {
                        found = Some((err.ee_data, err.ee_info));
                    }
                }
            });
        }
        if let (Some((key, kind)), true) = (found, realtime_ns > 0) {
            let more = each(TxStamp {
                key,
                realtime_ns,
                kind,
            });
            if !more {
                return Ok(());
            }
        }
    }
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC` now, in ns: a realtime stamp minus it is on the monotonic
/// clock (the two differ only by steps of the realtime clock, which NTP slews rather than
/// steps). Read as a realtime reading between two monotonic ones, the tightest of eight: a
/// thread preempted between the readings would otherwise be off by as long as it waited.
pub fn realtime_offset_ns() -> i64 {
    let now = |clock| {
        // SAFETY: a valid clock id and a live timespec.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        unsafe { libc::clock_gettime(clock, &raw mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    };
    let mut best = (i64::MAX, 0);
    for _ in 0..8 {
        let mono_before = now(libc::CLOCK_MONOTONIC);
        let real = now(libc::CLOCK_REALTIME);
        let mono_after = now(libc::CLOCK_MONOTONIC);
        let window = mono_after - mono_before;
        if window < best.0 {
            best = (window, real - (mono_before + window / 2));
        }
    }
    best.1
}

/// A realtime stamp on the monotonic clock, given [`realtime_offset_ns`].
pub fn to_monotonic(realtime_ns: u64, offset_ns: i64) -> u64 {
    (realtime_ns as i64).saturating_sub(offset_ns).max(0) as u64
}

/// What the network device that reaches a peer can stamp: ethtool's time stamping
/// capabilities (`ethtool -T DEVICE`), read with `SIOCETHTOOL` / `ETHTOOL_GET_TS_INFO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceStamps {
    /// The device (`lo`, `eth0`).
    pub device: String,
    /// Its `SOF_TIMESTAMPING_*` capabilities.
    pub capabilities: u32,
    /// Its PTP hardware clock, if it has one (`/dev/ptpN`).
    pub phc_index: Option<u32>,
}

/// The `SOF_TIMESTAMPING_*` capabilities ethtool names, in its words.
const CAPABILITIES: [(u32, &str); 7] = [
    (libc::SOF_TIMESTAMPING_TX_HARDWARE, "hardware-transmit"),
    (libc::SOF_TIMESTAMPING_TX_SOFTWARE, "software-transmit"),
    (libc::SOF_TIMESTAMPING_RX_HARDWARE, "hardware-receive"),
    (libc::SOF_TIMESTAMPING_RX_SOFTWARE, "software-receive"),
    (libc::SOF_TIMESTAMPING_SOFTWARE, "software-system-clock"),
    (libc::SOF_TIMESTAMPING_SYS_HARDWARE, "hardware-legacy-clock"),
    (libc::SOF_TIMESTAMPING_RAW_HARDWARE, "hardware-raw-clock"),
];

impl DeviceStamps {
    /// Whether it stamps sent and received packets in hardware, on its own clock.
    pub fn hardware(&self) -> bool {
        let needs = libc::SOF_TIMESTAMPING_TX_HARDWARE
            | libc::SOF_TIMESTAMPING_RX_HARDWARE
            | libc::SOF_TIMESTAMPING_RAW_HARDWARE;
        self.capabilities & needs == needs
    }

    /// Its capabilities in ethtool's words, and its PTP clock.
    pub fn describe(&self) -> String {
        let named: Vec<&str> = CAPABILITIES
            .iter()
            .filter(|(bit, _)| self.capabilities & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        let clock = match self.phc_index {
            Some(i) => format!("PTP hardware clock /dev/ptp{i}"),
            None => "no PTP hardware clock".into(),
        };
        match named.is_empty() {
            true => format!("no time stamping capabilities, {clock}"),
            false => format!("{}; {clock}", named.join(", ")),
        }
    }
}

/// `struct ethtool_ts_info` (linux/ethtool.h).
#[repr(C)]
#[derive(Default)]
struct EthtoolTsInfo {
    cmd: u32,
    so_timestamping: u32,
    phc_index: i32,
    tx_types: u32,
    tx_reserved: [u32; 3],
    rx_filters: u32,
    rx_reserved: [u32; 3],
}

/// `ETHTOOL_GET_TS_INFO`.
const ETHTOOL_GET_TS_INFO: u32 = 0x41;

/// The device that reaches `peer` (the one holding the local address the kernel would send
/// from) and what it can stamp.
pub fn device_stamps(peer: std::net::SocketAddr) -> io::Result<DeviceStamps> {
    let any: std::net::SocketAddr = match peer {
        std::net::SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("an address"),
        std::net::SocketAddr::V6(_) => "[::]:0".parse().expect("an address"),
    };
    let probe = std::net::UdpSocket::bind(any)?;
    probe.connect(peer)?;
    let local = probe.local_addr()?.ip();
    let device = device_of(local)?;
    let mut info = EthtoolTsInfo {
        cmd: ETHTOOL_GET_TS_INFO,
        ..EthtoolTsInfo::default()
    };
    // SAFETY: an ifreq is 40 bytes: the name, then (here) a pointer to the request, which
    // lives across the call; the socket is closed after it.
    unsafe {
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in ifr.ifr_name.iter_mut().zip(device.bytes().take(15)) {
            *slot = byte as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = (&raw mut info).cast();
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let rc = libc::ioctl(fd, libc::SIOCETHTOOL, &raw mut ifr);
        let error = io::Error::last_os_error();
        libc::close(fd);
        if rc < 0 {
            return Err(error);
        }
    }
    Ok(DeviceStamps {
        device,
        capabilities: info.so_timestamping,
        phc_index: u32::try_from(info.phc_index).ok(),
    })
}

/// The name of the device holding address `ip` (`getifaddrs`).
fn device_of(ip: std::net::IpAddr) -> io::Result<String> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below; each entry is read while it lives.
    unsafe {
        if libc::getifaddrs(&raw mut list) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut found = None;
        let mut at = list;
        while !at.is_null() && found.is_none() {
            let entry = &*at;
            if !entry.ifa_addr.is_null() && address_of(entry.ifa_addr) == Some(ip) {
                let name = std::ffi::CStr::from_ptr(entry.ifa_name);
                found = Some(name.to_string_lossy().into_owned());
            }
            at = entry.ifa_next;
        }
        libc::freeifaddrs(list);
        found.ok_or_else(|| io::Error::other(format!("no device holds the address {ip}")))
    }
}

/// The IP address a `sockaddr` holds, for IPv4 and IPv6.
///
/// # Safety
/// `addr` points at a valid `sockaddr` of the size its family says.
unsafe fn address_of(addr: *const libc::sockaddr) -> Option<std::net::IpAddr> {
    // SAFETY: the caller's promise; the family says which struct it is.
    unsafe {
        match i32::from((*addr).sa_family) {
            libc::AF_INET => {
                let v4 = &*addr.cast::<libc::sockaddr_in>();
                Some(std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)).into())
            }
            libc::AF_INET6 => {
                let v6 = &*addr.cast::<libc::sockaddr_in6>();
                Some(std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr).into())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    #[test]
    fn loopback_stamps_a_send_by_its_last_byte_and_a_receive_on_the_realtime_clock() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.set_nodelay(true).unwrap();
        enable(client.as_raw_fd()).unwrap();
        // The first socket to ask for RX stamps turns them on for the host, in a deferred
        // work item: packets in the next moments may come unstamped (counted as missing in a
        // run).
        std::thread::sleep(std::time::Duration::from_millis(20));
        let before = realtime_offset_ns() + crate::base::clock::monotonic_ns() as i64;
        client.write_all(b"hello").unwrap();
        client.write_all(b", world").unwrap();
        let mut got = [0u8; 12];
        server.read_exact(&mut got).unwrap();
        server.write_all(b"back").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut stamps = Vec::new();
        tx_stamps(client.as_raw_fd(), |s| {
            stamps.push(s);
            true
        })
        .unwrap();
        let sent: Vec<u32> = stamps
            .iter()
            .filter(|s| s.kind == TSTAMP_SND)
            .map(|s| s.key)
            .collect();
        assert_eq!(sent, [4, 11], "keyed by each send's last byte: {stamps:?}");
        assert!(
            stamps
                .iter()
                .all(|s| s.realtime_ns as i64 >= before - 1_000_000)
        );
        let mut buf = [0u8; 16];
        let (n, rx) = recv(client.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"back");
        assert!(
            rx as i64 >= before,
            "an RX stamp after the send: {rx} vs {before}"
        );
        let tx = stamps.iter().map(|s| s.realtime_ns).max().unwrap();
        assert!(rx >= tx, "received after sent");
        let mono = to_monotonic(rx, realtime_offset_ns());
        let now = crate::base::clock::monotonic_ns();
        assert!(mono <= now && now - mono < 1_000_000_000, "{mono} vs {now}");
    }

    #[test]
    fn loopback_is_named_with_software_stamps_only() {
        let d = device_stamps("127.0.0.1:9".parse().unwrap()).unwrap();
        assert_eq!(d.device, "lo");
        assert!(!d.hardware(), "{d:?}");
        assert!(
            d.describe()
                .starts_with("software-transmit, software-receive"),
            "{}",
            d.describe()
        );
        let nic = DeviceStamps {
            device: "eth0".into(),
            capabilities: libc::SOF_TIMESTAMPING_TX_HARDWARE
                | libc::SOF_TIMESTAMPING_RX_HARDWARE
                | libc::SOF_TIMESTAMPING_RAW_HARDWARE,
            phc_index: Some(0),
        };
        assert!(nic.hardware());
        assert_eq!(
            nic.describe(),
            "hardware-transmit, hardware-receive, hardware-raw-clock; PTP hardware clock /dev/ptp0"
        );
    }
}
