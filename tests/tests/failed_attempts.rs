//! An endpoint's failed attempts come from one Query of the sparse `FailedAttempts` index:
//! failed first attempts (recorded in their round and, for the index, as items of their own)
//! and failed retries, oldest first, paged; a round whose attempts all succeed stays one write.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hookline_shared::store::FAILED_ATTEMPTS_INDEX;
use hookline_tests::dynamo_calls::DynamoCalls;
use hookline_tests::{Hookline, Receiver, percent_encode as encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// A receiver that fails the first `plan[event]` requests of each event (by `webhook-id`).
async fn failing_by_plan(plan: Arc<Mutex<HashMap<String, u32>>>) -> Receiver {
    Receiver::judging(move |request| {
        let mut plan = plan.lock().unwrap();
        match plan.get_mut(request.header("webhook-id")) {
            Some(left) if *left > 0 => {
                *left -= 1;
                500
            }
            _ => 200,
        }
    })
    .await
}

/// Every page of `path` (which has a `?`), following the cursors.
async fn pages(hookline: &Hookline, key: &str, path: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut next = path.to_owned();
    loop {
        let (status, page) = hookline.get(&next, key).await;
        assert_eq!(status, StatusCode::OK, "{next}: {page}");
        pages.push(page["data"].as_array().unwrap().clone());
        assert!(pages.len() <= 10, "the cursors never end");
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("{path}&cursor={}", encode(cursor)),
            None => return pages,
        }
    }
}

fn at(attempt: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(attempt["at"].as_str().unwrap(), &Rfc3339).unwrap()
}

#[tokio::test]
async fn failed_attempts_come_from_one_query_of_the_index_oldest_first_and_paged() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let plan = Arc::new(Mutex::new(HashMap::new()));
    let receiver = failing_by_plan(plan.clone()).await;
    // Two attempts at most: the first, and a retry a second later.
    let endpoint =
        id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1]}})).await);
    // Another endpoint of the same events, failing one of them: its failure is not this one's.
    let other_plan = Arc::new(Mutex::new(HashMap::new()));
    let other_receiver = failing_by_plan(other_plan.clone()).await;
    let other = id(&hookline
        .create_endpoint(&tenant, json!({"url": other_receiver.url, "retry": {"schedule_seconds": [3600]}}))
        .await);

    // Failures per event at `endpoint`: none, the first attempt, both, none, the first.
    let failures = [0u32, 1, 2, 0, 1];
    let mut events = Vec::new();
    for (n, fail) in failures.iter().enumerate() {
        let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"n": n}})).await);
        plan.lock().unwrap().insert(event.clone(), *fail);
        events.push(event);
    }
    other_plan.lock().unwrap().insert(events[3].clone(), u32::MAX);
    // Every delivery to `endpoint` finished: 5 + 3 retries; one first attempt to `other` failed.
    hookline.deliver_until(|| async { receiver.count() == 8 && other_receiver.count() == 5 }).await;
    hookline.drain().await;

    // Writes: one per round; one more item per failed first attempt (three at `endpoint`, one
    // at `other`); one per retry.
    assert_eq!(hookline.deliver_calls.count("PutItem", "ROUND"), 5);
    assert_eq!(hookline.deliver_calls.count("PutItem", "ATT"), 4 + 3);
    // The failed first attempt's own item and its round entry read as one attempt.
    let shown = hookline.attempts(&tenant, &events[2]).await;
    let numbers: Vec<(&str, u64)> =
        shown.iter().map(|a| (a["endpoint_id"].as_str().unwrap(), a["number"].as_u64().unwrap())).collect();
    let mut expected = vec![(endpoint.as_str(), 1), (endpoint.as_str(), 2), (other.as_str(), 1)];
    expected.sort();
    assert_eq!(numbers, expected, "{shown:?}");

    // Exactly the failed attempts, oldest first, two a page.
    let path = format!("/v1/endpoints/{endpoint}/attempts?status=failed&limit=2");
    let got = pages(&hookline, &tenant.key, &path).await;
    assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2], "{got:?}");
    let failed: Vec<Value> = got.into_iter().flatten().collect();
    let mut seen: Vec<(String, u64)> =
        failed.iter().map(|a| (a["event_id"].as_str().unwrap().to_owned(), a["number"].as_u64().unwrap())).collect();
    for attempt in &failed {
        assert_eq!(attempt["endpoint_id"], endpoint.as_str());
        assert_eq!(attempt["succeeded"], false);
        assert_eq!(attempt["response_status"], 500);
    }
    assert!(failed.windows(2).all(|pair| at(&pair[0]) <= at(&pair[1])), "oldest first: {failed:?}");
    assert_eq!(seen.last().unwrap(), &(events[2].clone(), 2), "the failed retry came a second after the rest");
    seen.sort();
    let mut expected =
        vec![(events[1].clone(), 1), (events[2].clone(), 1), (events[2].clone(), 2), (events[4].clone(), 1)];
    expected.sort();
    assert_eq!(seen, expected);

    // The window is by attempt time, both ends inclusive.
    let retry_at = failed.last().unwrap()["at"].as_str().unwrap().to_owned();
    let (status, page) = hookline
        .get(&format!("/v1/endpoints/{endpoint}/attempts?status=failed&since={}", encode(&retry_at)), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["data"][0]["number"], 2);
    let first_at = failed[0]["at"].as_str().unwrap().to_owned();
    let (_, page) = hookline
        .get(&format!("/v1/endpoints/{endpoint}/attempts?status=failed&until={}", encode(&first_at)), &tenant.key)
        .await;
    let early: Vec<(&str, u64)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["event_id"].as_str().unwrap(), a["number"].as_u64().unwrap()))
        .collect();
    assert!(early.contains(&(failed[0]["event_id"].as_str().unwrap(), 1)), "{page}");
    assert!(!early.contains(&(events[2].as_str(), 2)), "the retry came after: {page}");

    // The other endpoint sees only its own failure.
    let (_, page) = hookline.get(&format!("/v1/endpoints/{other}/attempts?status=failed"), &tenant.key).await;
    let theirs: Vec<&str> = page["data"].as_array().unwrap().iter().map(|a| a["event_id"].as_str().unwrap()).collect();
    assert_eq!(theirs, [events[3].as_str()]);

    // The other statuses keep the listing by event.
    let succeeded: Vec<Value> =
        pages(&hookline, &tenant.key, &format!("/v1/endpoints/{endpoint}/attempts?status=succeeded&limit=2"))
            .await
            .into_iter()
            .flatten()
            .collect();
    let ids: Vec<&str> = succeeded.iter().map(|a| a["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [&events[0], &events[1], &events[3], &events[4]].map(String::as_str));

    // A cursor of the listing by event does not open the failures' list.
    let (_, by_event) = hookline.get(&format!("/v1/endpoints/{endpoint}/attempts?limit=1"), &tenant.key).await;
    let cursor = by_event["next_cursor"].as_str().unwrap();
    let (status, refused) = hookline
        .get(&format!("/v1/endpoints/{endpoint}/attempts?status=failed&cursor={}", encode(cursor)), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

    // One Query, of the index, in the endpoint's partition; no read of any event's attempts.
    let calls = DynamoCalls::default();
    let watched = hookline.serve_watched(&calls).await;
    let response = hookline.http.get(format!("{watched}{path}")).bearer_auth(&tenant.key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let made = calls.take();
    let queries: Vec<_> = made.iter().filter(|c| c.operation == "Query").collect();
    assert_eq!(queries.len(), 1, "{made:?}");
    assert_eq!(queries[0].index.as_deref(), Some(FAILED_ATTEMPTS_INDEX));
    assert_eq!(queries[0].key, format!("TEN#{}#EP#{endpoint}", tenant.id));
    assert!(!made.iter().any(|c| c.key.starts_with("ATT#") || c.key.starts_with("ROUND#")), "{made:?}");
}

#[tokio::test]
async fn a_round_whose_attempts_all_succeed_is_one_put_and_indexes_nothing() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let mut endpoints = Vec::new();
    for n in 0..3 {
        endpoints.push(id(&hookline
            .create_endpoint(&tenant, json!({"url": format!("{}?endpoint={n}", receiver.url)}))
            .await));
    }
    hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;
    hookline.deliver_until(|| async { receiver.count() == 3 }).await;
    assert_eq!(hookline.deliver_calls.count("PutItem", "ROUND"), 1, "three attempts, one write");
    assert_eq!(hookline.deliver_calls.count("PutItem", "ATT"), 0);
    for endpoint in &endpoints {
        let (status, page) =
            hookline.get(&format!("/v1/endpoints/{endpoint}/attempts?status=failed"), &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["data"], json!([]));
        assert_eq!(page["next_cursor"], Value::Null);
    }
}
