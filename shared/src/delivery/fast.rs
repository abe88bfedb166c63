//! Endpoints this warm instance has just seen answer fast, which it sends to without a
//! fleet-wide in-flight lease (two UpdateItems per delivery saved).
//!
//! The lease exists to keep a hanging endpoint from holding the fleet's function instances.
//! An endpoint that answered within `PolicySettings::fast_answer` (1 s) in the last
//! `lease_free_trust` (10 s) is not hanging now, as far as this instance can tell: it answered
//! fast a moment ago. Deliveries to it skip the lease, at most `cap` at once per instance, and
//! none while one of the instance's requests to it has been running for 1 s or more. Any
//! attempt that is not fast (slower than 1 s, or timed out) ends the trust, and a slow one
//! still marks the endpoint slow fleet-wide when its request ends.
//!
//! The bound this keeps: an endpoint that hangs from the start never earns trust, so it is
//! served exactly as before (at most `cap` main-lane requests fleet-wide, then the slow lane);
//! `make fairness` floods such endpoints. An endpoint that turns from fast to hanging can hold,
//! on each instance that trusted it, the requests that instance started within its trust
//! (at most `cap`, and in Lambda one batch: an instance runs one batch at a time, so its next
//! batch starts after the hanging requests timed out and dropped the trust), each until its
//! timeout, once: after that every delivery to it takes a lease, which sees the slow mark.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ids::{EndpointId, TenantId};

type Key = (TenantId, EndpointId);

#[derive(Debug, Default)]
struct Seen {
    /// Trusted to answer fast until then.
    fast_until: Option<Instant>,
    /// Whether an answer from it was ever judged here (fast or not).
    judged: bool,
    /// Requests this instance has running to it without a lease.
    unleased: u32,
    /// When each of this instance's requests to it (leased or not) started: one running longer
    /// than a fast answer suspends the trust, before its end says how slow it was.
    running: HashMap<u64, Instant>,
    next_id: u64,
}

impl Seen {
    fn start(&mut self, now: Instant, unleased: bool) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.running.insert(id, now);
        self.unleased += u32::from(unleased);
        id
    }
}

/// What one warm instance knows about how fast its endpoints answer.
#[derive(Debug, Default)]
pub struct FastEndpoints {
    seen: Mutex<HashMap<Key, Seen>>,
}

impl FastEndpoints {
    /// A pass to send without a lease, if the endpoint is trusted at `now`, none of this
    /// instance's requests to it has been running for `fast` or longer, and fewer than `cap` of
    /// its unleased requests to it are running.
    pub fn pass(
        self: &Arc<Self>,
        tenant: &TenantId,
        endpoint: &EndpointId,
        now: Instant,
        fast: Duration,
        cap: u32,
    ) -> Option<FastPass> {
        let mut seen = self.seen.lock().ok()?;
        let key = (tenant.clone(), endpoint.clone());
        let entry = seen.get_mut(&key)?;
        let trusted = entry.fast_until.is_some_and(|until| until > now);
        let none_slow = entry.running.values().all(|started| now.saturating_duration_since(*started) < fast);
        if !trusted || !none_slow || entry.unleased >= cap {
            return None;
        }
        let id = entry.start(now, true);
        Some(FastPass { book: Arc::clone(self), key: Some(key), id, unleased: true })
    }

    /// Notes a leased request to the endpoint starting at `now`, so that while it runs longer
    /// than a fast answer, no unleased one starts.
    pub fn track(self: &Arc<Self>, tenant: &TenantId, endpoint: &EndpointId, now: Instant) -> Option<FastPass> {
        let mut seen = self.seen.lock().ok()?;
        let key = (tenant.clone(), endpoint.clone());
        let id = seen.entry(key.clone()).or_default().start(now, false);
        Some(FastPass { book: Arc::clone(self), key: Some(key), id, unleased: false })
    }

    /// For a delivery that got no pass: whether it becomes the instance's probe of an endpoint
    /// it never judged an answer from (tracked from now, before its lease is even taken), waits
    /// for the probe already running (started less than `fast` ago), or just takes a lease.
    pub fn probe(self: &Arc<Self>, tenant: &TenantId, endpoint: &EndpointId, now: Instant, fast: Duration) -> Probe {
        let Ok(mut seen) = self.seen.lock() else { return Probe::No };
        let key = (tenant.clone(), endpoint.clone());
        let entry = seen.entry(key.clone()).or_default();
        if entry.judged {
            return Probe::No;
        }
        if entry.running.values().any(|started| now.saturating_duration_since(*started) < fast) {
            return Probe::Wait;
        }
        let id = entry.start(now, false);
        Probe::Mine(FastPass { book: Arc::clone(self), key: Some(key), id, unleased: false })
    }

    /// Learns from an attempt's answer at `now`: a fast one trusts the endpoint for `trust`,
    /// anything else ends the trust.
    pub fn answered(&self, tenant: &TenantId, endpoint: &EndpointId, fast: bool, now: Instant, trust: Duration) {
        let Ok(mut seen) = self.seen.lock() else { return };
        if seen.len() > 10_000 {
            // An instance that has seen many endpoints forgets the idle, untrusted ones.
            seen.retain(|_, s| !s.running.is_empty() || s.fast_until.is_some_and(|until| until > now));
        }
        let entry = seen.entry((tenant.clone(), endpoint.clone())).or_default();
        entry.fast_until = fast.then(|| now + trust);
        entry.judged = true;
    }
}

/// What a delivery without a pass does about an endpoint's probe ([`FastEndpoints::probe`]).
#[derive(Debug)]
pub enum Probe {
    /// It is the probe: it takes a lease, tracked by this pass.
    Mine(FastPass),
    /// Another delivery probes the endpoint now: wait for its answer.
    Wait,
    /// The endpoint was judged before: take a lease.
    No,
}

/// One request in flight (unleased, or leased and tracked); forgotten when dropped.
#[derive(Debug)]
pub struct FastPass {
    book: Arc<FastEndpoints>,
    key: Option<Key>,
    id: u64,
    unleased: bool,
}

impl Drop for FastPass {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        if let Ok(mut seen) = self.book.seen.lock()
            && let Some(entry) = seen.get_mut(&key)
        {
            entry.running.remove(&self.id);
            if self.unleased {
                entry.unleased = entry.unleased.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUST: Duration = Duration::from_secs(10);
    const FAST: Duration = Duration::from_secs(1);

    fn ids() -> (TenantId, EndpointId) {
        (TenantId::generate(), EndpointId::generate())
    }

    #[test]
    fn a_first_request_probes_an_endpoint_until_its_answer_is_judged() {
        let (book, (t, e), now) = (Arc::new(FastEndpoints::default()), ids(), Instant::now());
        let probe = match book.probe(&t, &e, now, FAST) {
            Probe::Mine(pass) => pass,
            other => panic!("the first delivery probes: {other:?}"),
        };
        assert!(matches!(book.probe(&t, &e, now + Duration::from_millis(500), FAST), Probe::Wait));
        // A probe running a fast answer's time is no answer to wait for: the next one probes too.
        assert!(matches!(book.probe(&t, &e, now + FAST, FAST), Probe::Mine(_)));
        book.answered(&t, &e, true, now + Duration::from_millis(20), TRUST);
        drop(probe);
        assert!(
            book.pass(&t, &e, now + Duration::from_millis(30), FAST, 10).is_some(),
            "fast: the waiters go unleased"
        );
        // Judged once, an endpoint is not probed again: a slow one's deliveries take leases at once.
        let (t2, e2) = ids();
        book.answered(&t2, &e2, false, now, TRUST);
        assert!(matches!(book.probe(&t2, &e2, now, FAST), Probe::No));
    }

    #[test]
    fn an_endpoint_never_seen_or_not_fast_takes_a_lease() {
        let (book, (t, e), now) = (Arc::new(FastEndpoints::default()), ids(), Instant::now());
        assert!(book.pass(&t, &e, now, FAST, 10).is_none(), "never seen");
        book.answered(&t, &e, false, now, TRUST);
        assert!(book.pass(&t, &e, now, FAST, 10).is_none(), "slow");
    }

    #[test]
    fn a_fast_answer_is_trusted_for_a_while_and_a_slow_one_ends_it() {
        let (book, (t, e), now) = (Arc::new(FastEndpoints::default()), ids(), Instant::now());
        book.answered(&t, &e, true, now, TRUST);
        assert!(book.pass(&t, &e, now + TRUST - Duration::from_millis(1), FAST, 10).is_some());
        assert!(book.pass(&t, &e, now + TRUST, FAST, 10).is_none(), "the trust ran out");
        book.answered(&t, &e, false, now, TRUST);
        assert!(book.pass(&t, &e, now, FAST, 10).is_none(), "a slow answer ends it");
    }

    #[test]
    fn at_most_cap_unleased_requests_run_at_once() {
        let (book, (t, e), now) = (Arc::new(FastEndpoints::default()), ids(), Instant::now());
        book.answered(&t, &e, true, now, TRUST);
        let first = book.pass(&t, &e, now, FAST, 2).unwrap();
        let _second = book.pass(&t, &e, now, FAST, 2).unwrap();
        assert!(book.pass(&t, &e, now, FAST, 2).is_none());
        drop(first);
        assert!(book.pass(&t, &e, now, FAST, 2).is_some(), "a finished request gives its place back");
    }

    #[test]
    fn a_request_running_longer_than_a_fast_answer_suspends_the_trust() {
        let (book, (t, e), now) = (Arc::new(FastEndpoints::default()), ids(), Instant::now());
        book.answered(&t, &e, true, now, TRUST);
        let hanging = book.track(&t, &e, now).unwrap();
        assert!(book.pass(&t, &e, now + FAST - Duration::from_millis(1), FAST, 10).is_some());
        assert!(book.pass(&t, &e, now + FAST, FAST, 10).is_none(), "a leased request has run 1 s");
        drop(hanging);
        let unleased = book.pass(&t, &e, now + FAST, FAST, 10).unwrap();
        assert!(book.pass(&t, &e, now + FAST * 2, FAST, 10).is_none(), "an unleased one has run 1 s");
        drop(unleased);
        assert!(book.pass(&t, &e, now + FAST * 2, FAST, 10).is_some());
    }
}
