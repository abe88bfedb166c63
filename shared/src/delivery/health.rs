//! Endpoint health counted in memory per warm instance, and added to DynamoDB in one ADD of
//! attempts and failures together.
//!
//! Each attempt used to cost an UpdateItem on the endpoint's window item. Now a warm instance
//! keeps a tally per endpoint and window and adds it once it has waited
//! `PolicySettings::health_flush_every` (5 s) or its window ends: at most one write per
//! endpoint per 5 s per instance, whatever the traffic. The check runs on each attempt and at
//! the end of every batch (`Deliverer::flush_health`), because once the handler returns Lambda
//! freezes the instance and no timer runs: a younger tally waits in memory for the next batch.
//! If the instance is reclaimed first, that tally's attempts and failures are lost together
//! (at most 5 s of one instance's attempts on each endpoint).
//!
//! A tally holds an instance's successes and failures for one window and is added in one
//! UpdateItem (`ADD attempts :a, failures :f`), so a reader of the window item never sees one
//! without the other, and the failure ratio the breaker reads is the ratio of whole tallies:
//! delaying or losing a tally changes how many attempts it is judged on, never their share of
//! failures. (Counting only some attempts is what skewed it in the chaos run.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::decide::WindowCounts;
use crate::domain::{Endpoint, EndpointHealth};
use crate::ids::{EndpointId, TenantId};

/// One instance's not-yet-added attempts on one endpoint in one window.
#[derive(Clone, Debug)]
pub struct Tally {
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    /// The window's number (Unix time / window length).
    pub window: i64,
    pub counts: WindowCounts,
    /// The endpoint's health as last read, which decides whether the window's totals open
    /// the circuit.
    pub health: EndpointHealth,
    /// When the first of these attempts was counted.
    since: Instant,
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        self.counts.attempts = self.counts.attempts.saturating_add(other.counts.attempts);
        self.counts.failures = self.counts.failures.saturating_add(other.counts.failures);
        self.since = self.since.min(other.since);
    }
}

type Key = (TenantId, EndpointId);

/// The endpoint an attempt went to, as the tally needs it.
#[derive(Clone, Copy, Debug)]
pub struct EndpointRef<'a> {
    pub tenant_id: &'a TenantId,
    pub id: &'a EndpointId,
    pub health: &'a EndpointHealth,
}

impl<'a> From<&'a Endpoint> for EndpointRef<'a> {
    fn from(ep: &'a Endpoint) -> Self {
        Self { tenant_id: &ep.tenant_id, id: &ep.id, health: &ep.health }
    }
}

/// The tallies of one warm instance.
#[derive(Debug, Default)]
pub struct HealthBook {
    tallies: Mutex<HashMap<Key, Tally>>,
}

impl HealthBook {
    /// Counts one attempt made at `now` in `window`, and hands back what must be added now: a
    /// tally of an earlier window (it is over), and this one once it has waited `every`.
    pub fn count(
        &self,
        endpoint: EndpointRef<'_>,
        window: i64,
        failed: bool,
        now: Instant,
        every: Duration,
    ) -> Vec<Tally> {
        let Ok(mut tallies) = self.tallies.lock() else { return Vec::new() };
        let key = (endpoint.tenant_id.clone(), endpoint.id.clone());
        let mut due = Vec::new();
        if tallies.get(&key).is_some_and(|t| t.window != window)
            && let Some(old) = tallies.remove(&key)
        {
            due.push(old);
        }
        let tally = tallies.entry(key.clone()).or_insert_with(|| Tally {
            tenant_id: endpoint.tenant_id.clone(),
            endpoint_id: endpoint.id.clone(),
            window,
            counts: WindowCounts::default(),
            health: endpoint.health.clone(),
            since: now,
        });
        tally.counts.attempts = tally.counts.attempts.saturating_add(1);
        tally.counts.failures = tally.counts.failures.saturating_add(u32::from(failed));
        tally.health = endpoint.health.clone();
        if now.duration_since(tally.since) >= every
            && let Some(ready) = tallies.remove(&key)
        {
            due.push(ready);
        }
        due
    }

    /// Every tally, to be added now.
    pub fn take_all(&self) -> Vec<Tally> {
        self.tallies.lock().map(|mut tallies| tallies.drain().map(|(_, t)| t).collect()).unwrap_or_default()
    }

    /// The tallies that have waited `every` by `now` (the end of a batch); the rest stay.
    pub fn take_due(&self, now: Instant, every: Duration) -> Vec<Tally> {
        let Ok(mut tallies) = self.tallies.lock() else { return Vec::new() };
        let due: Vec<Key> =
            tallies.iter().filter(|(_, t)| now.duration_since(t.since) >= every).map(|(k, _)| k.clone()).collect();
        due.into_iter().filter_map(|key| tallies.remove(&key)).collect()
    }

    /// Keeps a tally whose ADD failed, for the next flush (merged with what came since).
    pub fn put_back(&self, tally: Tally) {
        let Ok(mut tallies) = self.tallies.lock() else { return };
        let key = (tally.tenant_id.clone(), tally.endpoint_id.clone());
        match tallies.get_mut(&key) {
            Some(current) if current.window == tally.window => current.merge(&tally),
            // A newer window's tally is there: the old one goes back at the next count.
            Some(_) => {}
            None => {
                tallies.insert(key, tally);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ep(TenantId, EndpointId, EndpointHealth);

    fn endpoint() -> Ep {
        Ep(TenantId::generate(), EndpointId::generate(), EndpointHealth::default())
    }

    impl Ep {
        fn r(&self) -> EndpointRef<'_> {
            EndpointRef { tenant_id: &self.0, id: &self.1, health: &self.2 }
        }
    }

    const EVERY: Duration = Duration::from_secs(5);

    #[test]
    fn attempts_wait_in_memory_until_the_flush_interval() {
        let (book, ep, start) = (HealthBook::default(), endpoint(), Instant::now());
        for i in 0..9 {
            assert!(book.count(ep.r(), 1, i % 3 != 0, start + Duration::from_millis(i * 500), EVERY).is_empty());
        }
        let due = book.count(ep.r(), 1, true, start + EVERY, EVERY);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].counts, WindowCounts { attempts: 10, failures: 7 }, "successes and failures together");
        assert!(book.take_all().is_empty(), "the flushed tally is gone");
    }

    #[test]
    fn the_end_of_a_batch_adds_only_tallies_that_waited_the_interval() {
        let (book, young, old, start) = (HealthBook::default(), endpoint(), endpoint(), Instant::now());
        book.count(old.r(), 1, true, start, EVERY);
        book.count(young.r(), 1, false, start + Duration::from_secs(4), EVERY);
        let due = book.take_due(start + EVERY, EVERY);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].endpoint_id, old.1);
        let rest = book.take_all();
        assert_eq!((rest.len(), &rest[0].endpoint_id), (1, &young.1), "the younger tally waits for the next batch");
    }

    #[test]
    fn a_new_window_hands_over_the_last_ones_tally() {
        let (book, ep, now) = (HealthBook::default(), endpoint(), Instant::now());
        assert!(book.count(ep.r(), 1, true, now, EVERY).is_empty());
        let due = book.count(ep.r(), 2, false, now, EVERY);
        assert_eq!((due.len(), due[0].window, due[0].counts.failures), (1, 1, 1));
        let rest = book.take_all();
        assert_eq!((rest.len(), rest[0].window, rest[0].counts), (1, 2, WindowCounts { attempts: 1, failures: 0 }));
    }

    #[test]
    fn a_tally_that_could_not_be_added_is_kept_whole() {
        let (book, ep, now) = (HealthBook::default(), endpoint(), Instant::now());
        book.count(ep.r(), 1, true, now, EVERY);
        let failed = book.take_all().remove(0);
        book.count(ep.r(), 1, false, now, EVERY);
        book.put_back(failed);
        assert_eq!(book.take_all()[0].counts, WindowCounts { attempts: 2, failures: 1 });
    }
}
