//! What one client can hold of the server: file descriptors, connections, requests in flight.
//!
//! A client that completes its headers and then sends its body a byte every few seconds
//! holds a connection, a descriptor and a worker's attention for as long as it likes. Three
//! bounds keep that from reaching anyone else:
//! - a deadline on the whole body (`Body`, 408);
//! - a cap on one address's connections: a connection past it is shut down the moment it
//!   is accepted, before it costs more than its accept. Peers that are trusted proxies are
//!   not capped by connection; their requests are counted instead, by the client address
//!   `net::client_ip` reads from X-Forwarded-For (`middleware::limit_in_flight`);
//! - a cap on connections per worker derived from the descriptor limit, so the process
//!   stops accepting before it runs out of descriptors ("Too many open files").

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Descriptors kept back from connections: database files and pool connections, the
/// listener, logs, the change-log connection, the data-directory lock.
const RESERVED_DESCRIPTORS: u64 = 64;

/// Raises the soft descriptor limit to the hard one (a shell or systemd's default soft 1024
/// is what made the observed attack cheap). Returns the limit in force.
pub fn raise_descriptor_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(err) => {
                tracing::warn!(%err, soft, hard, "cannot raise the file-descriptor limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(err) => {
            tracing::warn!(%err, "cannot read the file-descriptor limit");
            1024
        }
    }
}

/// Connections one worker may hold so that all of them together stay inside `descriptors`.
pub fn connections_per_worker(descriptors: u64, workers: usize) -> usize {
    let usable = descriptors.saturating_sub(RESERVED_DESCRIPTORS).max(16);
    let per_worker = usable / u64::try_from(workers.max(1)).unwrap_or(1);
    usize::try_from(per_worker.max(8)).unwrap_or(usize::MAX)
}

/// Connections (or, behind a trusted proxy, requests) in progress per client address, in shards so that heartbeats on different
/// workers rarely meet on one lock.
pub struct InFlight {
    limit: u32,
    shards: Box<[Mutex<HashMap<IpAddr, u32>>]>,
}

const SHARDS: usize = 16;

impl InFlight {
    /// `limit` 0: no cap.
    pub fn new(limit: u32) -> Arc<Self> {
        Arc::new(Self {
            limit,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        })
    }

    fn shard(&self, ip: &IpAddr) -> &Mutex<HashMap<IpAddr, u32>> {
        let byte = match ip {
            IpAddr::V4(v4) => v4.octets()[3],
            IpAddr::V6(v6) => v6.octets()[15],
        };
        &self.shards[usize::from(byte) % SHARDS]
    }

    /// A slot for one request from `ip`, or `None` when it already has `limit` in flight.
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        if self.limit == 0 {
            return Some(Slot { owner: None, ip });
        }
        let mut shard = self.shard(&ip).lock().unwrap_or_else(|p| p.into_inner());
        let count = shard.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            owner: Some(self.clone()),
            ip,
        })
    }

    fn leave(&self, ip: IpAddr) {
        let mut shard = self.shard(&ip).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = shard.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                shard.remove(&ip);
            }
        }
    }

    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> u32 {
        let shard = self.shard(&ip).lock().unwrap_or_else(|p| p.into_inner());
        shard.get(&ip).copied().unwrap_or(0)
    }
}

/// One request's place; given back when dropped, however the request ends (a client that
/// disconnects drops it too).
pub struct Slot {
    owner: Option<Arc<InFlight>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(owner) = &self.owner {
            owner.leave(self.ip);
        }
    }
}

/// Admits a new connection: its place among its peer address's connections (none for a
/// trusted proxy, whose clients are counted per request instead), or, when the address has
/// no place left, the connection shut down at once.
pub fn admit(
    stream: &actix_web::rt::net::TcpStream,
    in_flight: &Arc<InFlight>,
    trusted_proxies: &[IpAddr],
) -> Option<Slot> {
    let peer = stream.peer_addr().ok()?;
    if trusted_proxies.contains(&peer.ip()) {
        return None;
    }
    let slot = in_flight.enter(peer.ip());
    if slot.is_none() {
        use std::os::fd::AsRawFd as _;
        // Reads see the end at once: the HTTP layer drops the connection and its descriptor.
        let _ = nix::sys::socket::shutdown(stream.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        tracing::debug!(%peer, "connection refused: its address has no connections left");
    }
    slot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_limit_and_no_more_and_slots_come_back() {
        let in_flight = InFlight::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = in_flight.enter(a).unwrap();
        let _second = in_flight.enter(a).unwrap();
        assert!(in_flight.enter(a).is_none());
        assert!(
            in_flight.enter(b).is_some(),
            "another address is not affected"
        );
        drop(first);
        assert!(in_flight.enter(a).is_some());
        assert_eq!(in_flight.count(b), 0);
    }

    #[test]
    fn no_limit_counts_nothing() {
        let in_flight = InFlight::new(0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..1000).filter_map(|_| in_flight.enter(ip)).collect();
        assert_eq!(slots.len(), 1000);
        assert_eq!(in_flight.count(ip), 0);
    }

    #[test]
    fn connections_fit_in_the_descriptor_limit() {
        assert_eq!(connections_per_worker(1024, 2), 480);
        assert_eq!(connections_per_worker(256, 2), 96);
        assert!(connections_per_worker(10, 4) >= 8);
        assert_eq!(connections_per_worker(1_048_576, 2), 524_256);
    }
}
