//! The table: every figure from one run, with how it was measured and what was assumed.

use std::fmt::Write;
use std::time::Duration;

use crate::counter::{Counts, OpCount};
use crate::measure::{COLD_STARTS, CPU_EVENTS, ENDPOINTS, MEMORY_BATCH, Measured, PAYLOAD_BYTES, RAW_CALLS};
use crate::prices::*;
use crate::scenarios::{EVENT_INTERVAL, FLAKY_INTERVAL, QUIET_INTERVAL, Run};
use crate::window::{BATCH_SIZE, BATCHING_WINDOW, LONG_POLL};

/// Issue 12's targets per delivery, by scenario: WRU, RRU, SQS requests, $ per million
/// (`None`: the issue asks only for the figure).
const TARGETS: [(&str, [Option<f64>; 4]); 3] = [
    ("a", [Some(0.75), Some(0.40), Some(0.45), Some(0.75)]),
    ("b", [Some(0.75), Some(0.40), Some(0.15), Some(0.50)]),
    ("c", [Some(2.1), Some(1.05), Some(1.25), None]),
];

pub fn render(m: &Measured) -> String {
    let mut t = Table::default();
    let handler_cpu_per_delivery = m.handler_cpu.as_secs_f64() / m.handler_deliveries.max(1) as f64;
    let scenario_table = scenarios(m);

    // 1. Requests per delivery, by API, in scenario (a).
    if let Some(a) = m.scenarios.iter().find(|r| r.spec.key == "a") {
        by_api(&mut t, a);
        costs(&mut t, a);
    }

    // 2. CPU.
    let bare_per_post = m.bare_cpu.as_secs_f64() / m.bare_posts.max(1) as f64;
    t.section(
        "2. Deliver handler CPU time per delivery",
        "Process CPU time (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`, all threads) around the loop; host release build; JSON \
         logs on (to /dev/null). moto's and the sink's CPU are other processes and not counted.",
    );
    t.row(
        "deliver handler",
        &format!("{:.3} ms", handler_cpu_per_delivery * 1e3),
        &format!(
            "`Handler::handle` on {} batches of first rounds, each handled as soon as received ({} deliveries of \
             {CPU_EVENTS} events to {ENDPOINTS} endpoints, published ten at a time, after a warm-up of ten; {} kept \
             on the queue): signs + POSTs + records over HTTP to moto; CPU summed over the handle calls only; \
             {:.0} ms CPU in {:.0} ms wall",
            m.handler_batches,
            m.handler_deliveries,
            m.handler_failures,
            m.handler_cpu.as_secs_f64() * 1e3,
            m.handler_wall.as_secs_f64() * 1e3,
        ),
    );
    t.row(
        "bare reqwest POST",
        &format!("{:.3} ms", bare_per_post * 1e3),
        &format!(
            "{} POSTs ({} passes of {}) of the same {} B body to the same sink, 10 concurrent (as the handler's \
             batch), one pooled client; {:.0} ms CPU",
            m.bare_posts,
            m.bare_posts / m.handler_deliveries.max(1),
            m.handler_deliveries,
            m.body_bytes,
            m.bare_cpu.as_secs_f64() * 1e3
        ),
    );
    t.row(
        "**ratio handler / bare POST**",
        &format!("**{}**", ratio(handler_cpu_per_delivery, bare_per_post)),
        "the handler's overhead over sending the webhook itself (mostly its DynamoDB calls: SigV4, JSON, HTTP)",
    );

    // 3. Cold starts, sizes, memory.
    t.section(
        "3. Cold start, binary size, peak memory",
        &format!(
            "Each function's host release binary started {COLD_STARTS} times against a local Lambda Runtime API on \
             127.0.0.1 (AWS_LAMBDA_RUNTIME_API, 256 MB, Hookline env, moto as AWS_ENDPOINT_URL); cold start = spawn → \
             its first GET /2018-06-01/runtime/invocation/next. No Firecracker VM, no code download: Lambda adds those."
        ),
    );
    for cold in &m.cold_starts {
        let mut samples = cold.samples.clone();
        samples.sort();
        let median = samples.get(samples.len() / 2).copied().unwrap_or_default();
        t.row(
            &format!("cold start: {}", cold.function),
            &format!("{:.1} ms", ms(median)),
            &format!(
                "median of {} (min {:.1}, max {:.1} ms); VmHWM at ready {:.1} MiB",
                samples.len(),
                ms(samples.first().copied().unwrap_or_default()),
                ms(samples.last().copied().unwrap_or_default()),
                cold.ready_peak_kib as f64 / 1024.0
            ),
        );
    }
    for size in &m.sizes {
        let host = mib(size.host_bytes);
        match size.arm64_bytes {
            Some(arm) => t.row(
                &format!("binary size: {}", size.function),
                &format!("{:.2} MiB (arm64)", mib(arm)),
                &format!(
                    "`cargo lambda build --release --arm64` bootstrap (strip, thin LTO, 1 codegen unit); host x86_64 \
                     release: {host:.2} MiB"
                ),
            ),
            None => t.row(
                &format!("binary size: {}", size.function),
                &format!("{host:.2} MiB (**x86_64**, not arm64)"),
                &format!("x86_64 release build; the arm64 build was {}", m.arm64_build),
            ),
        }
    }
    t.row(
        "peak memory: deliver, batch of 10",
        &format!("{:.1} MiB", m.deliver_batch_peak_kib as f64 / 1024.0),
        &format!(
            "VmHWM of the deliver process (host release) after it answered one SQS event of {MEMORY_BATCH} first \
             rounds of {ENDPOINTS} deliveries each in moto (all delivered to the sink); the function has 256 MB"
        ),
    );

    // 4. Throughput.
    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    let send_rate = rate(RAW_CALLS, m.raw_send_message);
    let put_rate = rate(RAW_CALLS, m.raw_put_item);
    t.section(
        "4. Local end-to-end throughput",
        "Against moto on this machine (one Python process): absolute numbers say nothing about AWS. Each \
         scenario publishes at a fixed rate while the emulated event source mapping feeds one deliver instance; the \
         lag is from the last event's 202 to its last delivery's arrival, so it includes the batching window (up to \
         1 s) and in (d) the failed first attempts' 1 s retry delay.",
    );
    for run in &m.scenarios {
        t.row(
            &format!("scenario {}", run.spec.title),
            &format!("{:.1} events/s", rate(run.spec.events, run.publish_wall)),
            &format!(
                "{} events in {:.1} s ({} POSTs), {} deliveries; lag after the last publish {:.1} s",
                run.spec.events,
                run.publish_wall.as_secs_f64(),
                run.posts,
                run.deliveries,
                run.drain_wall.as_secs_f64()
            ),
        );
    }
    t.row(
        "raw SendMessage",
        &format!("{send_rate:.0}/s"),
        &format!("{RAW_CALLS} sequential calls with the SDK, {:.2} s", m.raw_send_message.as_secs_f64()),
    );
    t.row(
        "raw PutItem",
        &format!("{put_rate:.0}/s"),
        &format!(
            "{RAW_CALLS} sequential calls with the SDK ({PAYLOAD_BYTES} B item), {:.2} s",
            m.raw_put_item.as_secs_f64()
        ),
    );

    format!(
        "# Hookline benchmark\n\n\
         `make bench`, {date}. Machine: {cpus} CPUs (`nproc`), {model}. Local AWS server: moto (scripts/with-moto).\n\n\
         {scenario_table}\n\
         {table}\n",
        date = m.date,
        cpus = m.cpus,
        model = m.cpu_model,
        table = t.text
    )
}

/// The scenarios side by side: requests per delivery by API, units, dollars, EventBridge.
fn scenarios(m: &Measured) -> String {
    let mut text = format!(
        "## Cost per delivery, by scenario (list prices of {PRICES_DATE}, us-east-1)\n\n\
         Events of {PAYLOAD_BYTES} B with an idempotency key arrive at a steady {:.0} events/s (one every {} ms; a \
         batched POST of 10 every {} ms); (d) at {:.0} events/s (at 20 its retries took more of the local moto than \
         it could give: its publisher fell behind), and the quiet-queue line at {:.0} event/s. The event source \
         mapping is emulated as `template.yaml` sets it (`BatchSize` {BATCH_SIZE}, `MaximumBatchingWindowInSeconds` \
         {}; the bench checks the template still says so): ReceiveMessage long polls ({} s, up to 10 messages each) gather a \
         batch until it holds {BATCH_SIZE} messages or {} s have passed since its first message was received, then \
         one deliver invocation gets the whole batch and DeleteMessageBatch removes what it did not report as \
         failed; a receive still running when a batch closes goes on, and what it brings opens the next batch. One \
         function instance runs one batch at a time. All to a local sink that answers 200 (or fails 30 % of first \
         attempts in (d), retried 1 s later). $ per million deliveries = SQS + DynamoDB on-demand + Lambda \
         (invocations: one per batch and one per POST; duration: each invocation's wall time rounded up to 1 ms, at \
         0.25 GB: ingest's POSTs and deliver's batches as they ran here, against moto and a local sink that answers \
         at once; real receivers' response times add to deliver's). API Gateway is shown apart. EventBridge: \
         PutEvents $1.00/M per event + API destinations $0.20/M per invocation, retries being invocations. \
         Provisioned: the same units on a provisioned table, auto scaling holding 70 % utilisation: ${:.4}/WCU-h, \
         ${:.4}/RCU-h (us-east-1 list prices, unchanged by the 2024-11-01 cut) = ${:.3}/M WRU, ${:.3}/M RRU.\n\n\
         | scenario | requests per delivery, by API | WRU | RRU | SQS requests | batch fill | $/M on-demand | $/M provisioned | API Gateway $/M | EventBridge $/M |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        1.0 / EVENT_INTERVAL.as_secs_f64(),
        EVENT_INTERVAL.as_millis(),
        EVENT_INTERVAL.as_millis() * 10,
        1.0 / FLAKY_INTERVAL.as_secs_f64(),
        1.0 / QUIET_INTERVAL.as_secs_f64(),
        BATCHING_WINDOW.as_secs(),
        LONG_POLL.as_secs(),
        BATCHING_WINDOW.as_secs_f64(),
        DYNAMODB_PER_WCU_HOUR,
        DYNAMODB_PER_RCU_HOUR,
        provisioned_per_wru() * 1e6,
        provisioned_per_rru() * 1e6,
    );
    for run in &m.scenarios {
        let cost = run.cost();
        let d = run.deliveries.max(1) as f64;
        let mut apis: Counts = run.ingest.clone();
        for (key, count) in &run.deliver {
            apis.entry(key.clone()).or_default().add(count);
        }
        let mut apis: Vec<_> = apis.into_iter().collect();
        apis.sort_by_key(|a| std::cmp::Reverse(a.1.requests));
        let list: Vec<String> = apis.iter().map(|((_, op), c)| format!("{op} {:.3}", c.requests as f64 / d)).collect();
        let _ = writeln!(
            text,
            "| {} | {:.3}: {} | {:.3} | {:.3} | {:.3} | {:.1} of {BATCH_SIZE} ({} batches; {} receives, {} empty) | **{}** | {} | {} | {} |",
            run.spec.title,
            cost.requests,
            list.join(", "),
            cost.wru,
            cost.rru,
            cost.sqs_requests,
            run.batch_fill(),
            run.batches,
            run.receives,
            run.empty_receives,
            dollars(cost.total),
            dollars(cost.total_provisioned),
            dollars(cost.api_gateway),
            dollars(cost.eventbridge),
        );
    }
    let a = m.scenarios.iter().find(|r| r.spec.key == "a");
    if let (Some(a), Some(d)) = (a, m.scenarios.iter().find(|r| r.spec.key == "d")) {
        let (per_a, cost_d) = (a.cost().total, d.cost());
        let extra = (cost_d.total - per_a) * d.deliveries as f64 / d.failed_first.max(1) as f64;
        let _ = writeln!(
            text,
            "\n(d): {} of {} first attempts failed and were retried; **{} per million deliveries**, and each retried \
             attempt costs about **{} per million retries** over (a)'s per-delivery bill (d's bill less (a)'s per \
             delivery, divided by the retries); EventBridge would bill a retry as one more invocation, $0.200/M.",
            d.failed_first,
            d.deliveries,
            dollars(cost_d.total),
            dollars(extra),
        );
    }
    batches_note(&mut text, m);
    text
}

/// What the batching window did: how full the batches were, what the SQS share per delivery is
/// made of, and what a quieter or busier queue changes.
fn batches_note(text: &mut String, m: &Measured) {
    let find = |key: &str| m.scenarios.iter().find(|r| r.spec.key == key);
    let sqs_of = |run: &Run| {
        let d = run.deliveries.max(1) as f64;
        let per = |op: &str| {
            let n = |c: &Counts| c.get(&("SQS".to_owned(), op.to_owned())).map_or(0, |c| c.requests);
            (n(&run.ingest) + n(&run.deliver)) as f64 / d
        };
        format!(
            "SendMessageBatch {:.3} + ReceiveMessage {:.3} + DeleteMessageBatch {:.3}",
            per("SendMessageBatch"),
            per("ReceiveMessage"),
            per("DeleteMessageBatch")
        )
    };
    let mut lines = Vec::new();
    for run in &m.scenarios {
        lines.push(format!(
            "{}: {:.1} messages per batch, {:.1} per receive; SQS per delivery {}",
            run.spec.key,
            run.batch_fill(),
            run.messages as f64 / (run.receives - run.empty_receives).max(1) as f64,
            sqs_of(run)
        ));
    }
    let _ = writeln!(
        text,
        "\nBatches ({}). A long poll returns as soon as a message is there, so while events trickle in one at a \
         time each receive brings about one; the window then fills the batch from several receives: it cuts \
         invocations and deletes to one per batch, not receives. Receives bring several messages each only when \
         messages wait on the queue: a batched POST queues ten at once, and messages queue up while the function \
         runs a batch. A quieter queue (the 1 event/s line) closes its batches on the window with one or two \
         messages: an invocation, a delete and about one receive per message, and every message waits up to the \
         window (1 s) before it is sent. A busier one fills batches to {BATCH_SIZE} and its receives bring more \
         messages each, down to the floor of one receive and one delete per {BATCH_SIZE} messages (SQS per \
         delivery: 0.40 for single POSTs at fan-out 3, 0.10 for batched POSTs). Lambda runs several pollers and \
         concurrent invocations where this emulation has one of each, so on AWS the receives per message at a given \
         rate may differ; what a message costs once received does not.",
        lines.join("; ")
    );
    if let (Some(a), Some(quiet)) = (find("a"), find("a_quiet")) {
        let reads = |run: &Run, op: &str| {
            let d = run.deliveries.max(1) as f64;
            run.deliver.get(&("DynamoDB".to_owned(), op.to_owned())).map_or(0.0, |c| c.requests as f64 / d)
        };
        let (ca, cq) = (a.cost(), quiet.cost());
        let _ = writeln!(
            text,
            "\nA quiet queue costs DynamoDB more per delivery too ({:.2} WRU and {:.3} RRU against (a)'s {:.2} and \
             {:.3}): what a warm instance reads or adds once per few seconds is shared by fewer deliveries (the \
             deliver side's endpoint and tenant reads, whose caches last 2 s: GetItem {:.3} against {:.3} per \
             delivery; its health flush, once per 5 s per endpoint, and ingest's quota count, once a second per \
             tenant; UpdateItem {:.3} against {:.3} with ingest's). A run's first batch takes an in-flight lease per \
             delivery (no endpoint has answered this instance yet; `UpdateItem INFLIGHT` below), a one-off that \
             weighs more in a short run.",
            cq.wru,
            cq.rru,
            ca.wru,
            ca.rru,
            reads(quiet, "GetItem"),
            reads(a, "GetItem"),
            quiet.all_op("UpdateItem"),
            a.all_op("UpdateItem"),
        );
    }
    let mut verdicts = Vec::new();
    for (key, targets) in TARGETS {
        let Some(run) = find(key) else { continue };
        let cost = run.cost();
        let measured = [cost.wru, cost.rru, cost.sqs_requests, cost.total];
        let parts: Vec<String> = ["WRU", "RRU", "SQS requests", "$/M"]
            .iter()
            .zip(targets.iter().zip(measured))
            .filter_map(|(name, (target, x))| {
                let target = (*target)?;
                Some(format!("{name} {x:.3} ≤ {target}: {}", if x <= target { "met" } else { "**not met**" }))
            })
            .collect();
        verdicts.push(format!("({key}) {}", parts.join(", ")));
    }
    if !verdicts.is_empty() {
        let _ = writeln!(text, "\nIssue 12's targets, per delivery: {}.", verdicts.join("; "));
    }
    let mut reads = Vec::new();
    for run in &m.scenarios {
        let d = run.deliveries.max(1) as f64;
        let mut items = Vec::new();
        for ((service, op), count) in &run.deliver {
            if service != "DynamoDB" {
                continue;
            }
            for (item, n) in &count.items {
                items.push(format!("{op} {item} {:.3}", *n as f64 / d));
            }
        }
        reads.push(format!("{}: {}", run.spec.key, items.join(", ")));
    }
    let _ = writeln!(text, "\nThe deliver side's DynamoDB requests per delivery, by item: {}.", reads.join("; "));
}

/// Section 1: requests per delivery by API in one scenario, split by function and item kind.
fn by_api(t: &mut Table, run: &Run) {
    let per = |x: f64| x / run.deliveries.max(1) as f64;
    let mut apis: Vec<(String, String)> = run.ingest.keys().chain(run.deliver.keys()).cloned().collect();
    apis.sort();
    apis.dedup();
    let count = |counts: &Counts, key: &(String, String)| counts.get(key).cloned().unwrap_or_default();
    let mut total = OpCount::default();
    let (mut ingest_requests, mut deliver_requests) = (0, 0);
    let mut rows = Vec::new();
    for key in &apis {
        let (i, d) = (count(&run.ingest, key), count(&run.deliver, key));
        let mut sum = i.clone();
        sum.add(&d);
        ingest_requests += i.requests;
        deliver_requests += d.requests;
        total.add(&sum);
        let mut result = format!("{:.3}", per(sum.requests as f64));
        if sum.wru > 0.0 {
            let _ = write!(result, " · {:.2} WRU", per(sum.wru));
        }
        if sum.rru > 0.0 {
            let _ = write!(result, " · {:.2} RRU", per(sum.rru));
        }
        let mut how = format!(
            "ingest {:.3} + deliver {:.3} ({} calls)",
            per(i.requests as f64),
            per(d.requests as f64),
            sum.requests
        );
        let by_item = |phase: &str, c: &OpCount| {
            let mut items: Vec<_> = c.items.iter().collect();
            items.sort_by(|a, b| b.1.cmp(a.1));
            let list: Vec<String> = items.iter().map(|(k, v)| format!("{k} {:.3}", per(**v as f64))).collect();
            if list.is_empty() { String::new() } else { format!("; {phase} by item: {}", list.join(", ")) }
        };
        how.push_str(&by_item("ingest", &i));
        how.push_str(&by_item("deliver", &d));
        rows.push((sum.requests, format!("{} {}", key.0, key.1), result, how));
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    t.section(
        "1. AWS requests per delivered message, by API (scenario (a))",
        &format!(
            "Counted by SDK interceptors (`Intercept::read_before_transmit`, operation from `Metadata` in the config \
             bag; every attempt counts), one on ingest's clients and one on the poller's and deliver handler's (items: \
             the sort key's first segment): 1 tenant, {} endpoints on a local sink, {} events of {PAYLOAD_BYTES} B \
             with an idempotency key published one per {} ms to the in-process ingest routes while the emulated event \
             source mapping (`window.rs`; its ReceiveMessage + DeleteMessageBatch are billed to the account too) ran, \
             until all {} deliveries arrived ({} messages handled in {} batches gathered by {} receives, {} POSTs at \
             the sink). Divided by deliveries. Units estimated from the JSON bodies.",
            run.spec.fan_out,
            run.spec.events,
            run.spec.interval.as_millis(),
            run.deliveries,
            run.messages,
            run.batches,
            run.receives,
            run.sink_posts,
        ),
    );
    for (_, api, result, how) in rows {
        t.row(&api, &result, &how);
    }
    t.row(
        "**all AWS requests**",
        &format!("**{:.3}**", per(total.requests as f64)),
        &format!("ingest {:.3} + deliver {:.3}", per(ingest_requests as f64), per(deliver_requests as f64)),
    );
}

/// The bill of one scenario, line by line.
fn costs(t: &mut Table, run: &Run) {
    let cost = run.cost();
    let d = run.deliveries.max(1) as f64;
    let all = run.all();
    t.section(
        &format!("List-price cost per million deliveries, scenario (a) (us-east-1, prices of {PRICES_DATE})"),
        &format!(
            "From the counts above; batches held {:.1} messages on average, gathered by {} receives ({} returned \
             nothing).",
            run.batch_fill(),
            run.receives,
            run.empty_receives
        ),
    );
    t.row(
        "SQS standard",
        &dollars(cost.sqs),
        &format!(
            "{:.3} billed requests/delivery × $0.40/M (a batch call is one request; each started 64 KB counts)",
            cost.sqs_requests
        ),
    );
    t.row(
        "DynamoDB on-demand",
        &dollars(cost.dynamodb),
        &format!(
            "{:.3} WRU × $0.625/M + {:.3} RRU × $0.125/M per delivery (1 WRU per started KB per item written, 2 per \
             item in TransactWriteItems; UpdateItem/DeleteItem/ConditionCheck items taken as ≤ 1 KB; 1 RRU per \
             started 4 KB read strongly consistent, 0.5 eventually consistent)",
            all.wru / d,
            all.rru / d
        ),
    );
    t.row(
        "DynamoDB provisioned, auto scaling at 70 %",
        &dollars(cost.dynamodb_provisioned),
        &format!(
            "the same units at ${DYNAMODB_PER_WCU_HOUR}/WCU-h and ${DYNAMODB_PER_RCU_HOUR}/RCU-h bought at 1/0.7 of \
             use (a steady load; bursts above the provisioned rate are throttled until scaling catches up)"
        ),
    );
    t.row(
        "Lambda arm64",
        &dollars(cost.lambda_invocations + cost.lambda_duration),
        &format!(
            "{} invocations ({} deliver batches + {} ingest POSTs) × $0.20/M = {} + billed duration (wall time \
             rounded up to 1 ms: ingest {:.1} ms per POST, deliver {:.1} ms per batch; {:.2} ms per delivery) × 0.25 \
             GB × $0.0000133334/GB-s = {}. Measured against moto and a local sink that answers at once: on AWS, \
             DynamoDB's and SQS's latencies replace moto's, and deliver waits as long as the slowest receiver of its \
             batch (at 300 ms a batch, {} more)",
            run.batches + run.posts,
            run.batches,
            run.posts,
            dollars(cost.lambda_invocations),
            run.ingest_ms_per_post(),
            run.deliver_ms_per_batch(),
            (run.ingest_billed + run.deliver_billed).as_secs_f64() * 1e3 / d,
            dollars(cost.lambda_duration),
            dollars(
                1e6 * (0.3 * run.batches as f64 - run.deliver_billed.as_secs_f64()).max(0.0) / d
                    * LAMBDA_MEMORY_GB
                    * LAMBDA_ARM_PER_GB_SECOND
            ),
        ),
    );
    t.row(
        "**Hookline total**",
        &format!("**{}** (provisioned: {})", dollars(cost.total), dollars(cost.total_provisioned)),
        "SQS + DynamoDB + Lambda (API Gateway below, CloudWatch Logs and data transfer not included)",
    );
    t.row(
        "API Gateway HTTP API (separately)",
        &dollars(cost.api_gateway),
        &format!("1 request per POST = {:.3}/delivery × $1.00/M", run.posts as f64 / d),
    );
    t.row(
        "EventBridge, same fan-out",
        &dollars(cost.eventbridge),
        &format!(
            "PutEvents $1.00/M per event over {} targets + API destinations $0.20/M per invocation; at fan-out 1: {}",
            run.spec.fan_out,
            dollars(eventbridge_per_million(1, 1.0))
        ),
    );
}

#[derive(Default)]
struct Table {
    text: String,
}

impl Table {
    fn row(&mut self, what: &str, result: &str, how: &str) {
        if self.text.is_empty() {
            self.text.push_str("| measure | result | method and assumptions |\n|---|---|---|\n");
        }
        let _ = writeln!(self.text, "| {what} | {result} | {how} |");
    }

    fn section(&mut self, title: &str, how: &str) {
        self.row(&format!("**{title}**"), "", how);
    }
}

fn dollars(x: f64) -> String {
    format!("${x:.3}")
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 { format!("{:.2}×", a / b) } else { "n/a".to_owned() }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
