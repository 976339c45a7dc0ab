//! The admin server's connection table: which connections are open, from whom, whether a
//! request is in flight, and which one to close when the table is full.
//!
//! The accept loop never waits for a free slot (waiting let a flood of slow clients keep
//! everyone else, the kubelet's `/healthz` probe included, in the listen backlog). It admits
//! every new connection and, when full, closes one open connection instead: one of the peer
//! that holds the most connections, preferring connections without a request in flight, and
//! among those the one idle longest. A flood from one source so only ever displaces itself,
//! and a probe that sends its request at once is never the connection chosen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// Identifies one admitted connection.
pub(crate) type ConnId = u64;

/// Where connections come from, for counting: an IPv4 address or an IPv6 /64 prefix (a host
/// is usually given a whole /64, so counting single IPv6 addresses would count nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PeerKey {
    /// An IPv4 peer (IPv4-mapped IPv6 addresses included).
    V4(u32),
    /// An IPv6 peer's /64 prefix.
    V6(u64),
}

impl From<IpAddr> for PeerKey {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => PeerKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => PeerKey::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

struct Entry {
    peer: PeerKey,
    busy: bool,
    /// The table's clock when the connection was admitted or last started/finished a request.
    last_activity: u64,
    close: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    /// A counter that orders events; also hands out connection ids.
    clock: u64,
    conns: HashMap<ConnId, Entry>,
    per_peer: HashMap<PeerKey, usize>,
}

impl Inner {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn remove(&mut self, id: ConnId) -> Option<Entry> {
        let entry = self.conns.remove(&id)?;
        if let Some(n) = self.per_peer.get_mut(&entry.peer) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&entry.peer);
            }
        }
        Some(entry)
    }

    /// The connection to close to make room: most connections of its peer first, then idle
    /// before busy, then the least recent activity.
    fn victim(&self) -> Option<ConnId> {
        self.conns
            .iter()
            .min_by_key(|(_, e)| {
                let peer_conns = self.per_peer.get(&e.peer).copied().unwrap_or(0);
                (std::cmp::Reverse(peer_conns), e.busy, e.last_activity)
            })
            .map(|(id, _)| *id)
    }
}

/// The open connections of one admin server, shared by its accept loop and connection tasks.
#[derive(Clone)]
pub(crate) struct ConnTable {
    max: usize,
    inner: Arc<Mutex<Inner>>,
}

/// A newly admitted connection: its id, and what tells its task to close it.
pub(crate) struct Admitted {
    /// The id for [`ConnTable::request_started`], [`ConnTable::request_finished`] and
    /// [`ConnTable::closed`].
    pub id: ConnId,
    /// Notified when the table chose this connection to make room for another.
    pub close: Arc<Notify>,
}

impl ConnTable {
    /// A table of at most `max` connections (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The table stays consistent between statements, so a panic elsewhere cannot leave it
        // half-updated; keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `peer`; when the table is full, first closes the connection
    /// [`Inner::victim`] picks. Returns the new connection and whether one was closed.
    pub(crate) fn admit(&self, peer: IpAddr) -> (Admitted, bool) {
        let mut inner = self.lock();
        let mut evicted = false;
        while inner.conns.len() >= self.max {
            let Some(victim) = inner.victim() else { break };
            if let Some(entry) = inner.remove(victim) {
                entry.close.notify_one();
                evicted = true;
            }
        }
        let id = inner.tick();
        let peer = PeerKey::from(peer);
        let close = Arc::new(Notify::new());
        inner.conns.insert(
            id,
            Entry {
                peer,
                busy: false,
                last_activity: id,
                close: Arc::clone(&close),
            },
        );
        *inner.per_peer.entry(peer).or_default() += 1;
        (Admitted { id, close }, evicted)
    }

    /// Marks a request of `id` as in flight (its headers have arrived).
    pub(crate) fn request_started(&self, id: ConnId) {
        self.set_busy(id, true);
    }

    /// Marks the request of `id` as answered; the connection is idle again.
    pub(crate) fn request_finished(&self, id: ConnId) {
        self.set_busy(id, false);
    }

    fn set_busy(&self, id: ConnId, busy: bool) {
        let mut inner = self.lock();
        let now = inner.tick();
        if let Some(entry) = inner.conns.get_mut(&id) {
            entry.busy = busy;
            entry.last_activity = now;
        }
    }

    /// Forgets `id` once its connection has ended (a no-op when it was evicted).
    pub(crate) fn closed(&self, id: ConnId) {
        self.lock().remove(id);
    }

    /// How many connections are open.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().conns.len()
    }

    #[cfg(test)]
    fn contains(&self, id: ConnId) -> bool {
        self.lock().conns.contains_key(&id)
    }
}

#[cfg(test)]
#[path = "conns_tests.rs"]
mod tests;
