//! The table: every figure from one run, with how it was measured and what was assumed.

use std::fmt::Write;
use std::time::Duration;

use crate::counter::OpCount;
use crate::measure::{COLD_STARTS, CPU_EVENTS, ENDPOINTS, EVENTS, MEMORY_BATCH, Measured, PAYLOAD_BYTES, RAW_CALLS};

/// us-east-1 list prices, in dollars.
const SQS_PER_REQUEST: f64 = 0.40 / 1e6;
const DYNAMODB_PER_WRU: f64 = 1.25 / 1e6;
const DYNAMODB_PER_RRU: f64 = 0.25 / 1e6;
const LAMBDA_ARM_PER_GB_SECOND: f64 = 0.000_013_333_4;
const LAMBDA_PER_REQUEST: f64 = 0.20 / 1e6;
const API_GATEWAY_HTTP_PER_REQUEST: f64 = 1.00 / 1e6;
const EVENTBRIDGE_API_DESTINATIONS_PER_MILLION: f64 = 1.20;
const LAMBDA_MEMORY_GB: f64 = 0.25;
/// The deliver function's SQS batch size (`template.yaml`).
const BATCH_SIZE: f64 = 10.0;

pub fn render(m: &Measured) -> String {
    let mut t = Table::default();
    let deliveries = m.deliveries as f64;
    let per = |x: f64| x / deliveries;

    // 1. Requests per delivery, by API.
    let mut apis: Vec<(String, String)> = m.ingest_counts.keys().chain(m.deliver_counts.keys()).cloned().collect();
    apis.sort();
    apis.dedup();
    let count = |counts: &crate::counter::Counts, key: &(String, String)| counts.get(key).cloned().unwrap_or_default();
    let mut total = OpCount::default();
    let (mut ingest_requests, mut deliver_requests) = (0, 0);
    let mut rows = Vec::new();
    for key in &apis {
        let (i, d) = (count(&m.ingest_counts, key), count(&m.deliver_counts, key));
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
        "1. AWS requests per delivered message, by API",
        &format!(
            "Counted by an SDK interceptor (`Intercept::read_before_transmit`, operation from `Metadata` in the config \
             bag; every attempt counts) on the clients of Hookline's code (items: the sort key's first segment), in one run: 1 tenant, {ENDPOINTS} endpoints \
             on a local sink (own process, answers 200), {EVENTS} events of {PAYLOAD_BYTES} B with an idempotency key \
             published one at a time to the in-process ingest routes, then `Poller::poll_once` (the event source \
             mapping: its ReceiveMessage + DeleteMessageBatch are billed to the account too) until all {} deliveries arrived ({} messages handled, {} \
             POSTs at the sink). Divided by deliveries. Units estimated from the JSON bodies.",
            m.deliveries, m.messages_handled, m.sink_posts
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

    // Cost per million deliveries.
    let handler_cpu_per_delivery = m.handler_cpu.as_secs_f64() / m.handler_deliveries.max(1) as f64;
    let handler_wall_per_delivery = m.handler_wall.as_secs_f64() / m.handler_deliveries.max(1) as f64;
    let million = 1e6;
    let sqs = million * per(total.sqs_chunks as f64) * SQS_PER_REQUEST;
    let writes = million * per(total.wru) * DYNAMODB_PER_WRU;
    let reads = million * per(total.rru) * DYNAMODB_PER_RRU;
    let deliver_requests_cost = million / BATCH_SIZE * LAMBDA_PER_REQUEST;
    let deliver_duration = |seconds: f64| million * seconds * LAMBDA_MEMORY_GB * LAMBDA_ARM_PER_GB_SECOND;
    let events_per_delivery = EVENTS as f64 / deliveries;
    let ingest_requests_cost = million * events_per_delivery * LAMBDA_PER_REQUEST;
    let total_cost = sqs
        + writes
        + reads
        + deliver_requests_cost
        + deliver_duration(handler_cpu_per_delivery)
        + ingest_requests_cost;
    let api_gateway = million * events_per_delivery * API_GATEWAY_HTTP_PER_REQUEST;
    t.section(
        "List-price cost per million deliveries (us-east-1)",
        &format!(
            "From the counts above; {ENDPOINTS} endpoints per event, full batches of {BATCH_SIZE} (the queue was filled \
             first; a quiet queue gets smaller batches and empty long polls, which cost more per delivery)."
        ),
    );
    t.row(
        "SQS standard",
        &dollars(sqs),
        &format!(
            "{:.3} billed requests/delivery × $0.40/M (a batch call is one request; each started 64 KB of request \
             counts, all were < 64 KB)",
            per(total.sqs_chunks as f64)
        ),
    );
    t.row(
        "DynamoDB on-demand writes",
        &dollars(writes),
        &format!(
            "{:.2} WRU/delivery × $1.25/M (1 WRU per started KB per item written, 2 per item in TransactWriteItems; \
             UpdateItem/DeleteItem/ConditionCheck items taken as ≤ 1 KB)",
            per(total.wru)
        ),
    );
    t.row(
        "DynamoDB on-demand reads",
        &dollars(reads),
        &format!(
            "{:.2} RRU/delivery × $0.25/M (1 RRU per started 4 KB read strongly consistent, 0.5 eventually consistent; \
             sizes from the responses)",
            per(total.rru)
        ),
    );
    t.row(
        "Lambda arm64, deliver",
        &dollars(deliver_requests_cost + deliver_duration(handler_cpu_per_delivery)),
        &format!(
            "1 invocation per batch of 10 × $0.20/M = {} + {:.3} ms CPU/delivery (section 2) as billed duration × \
             0.25 GB × $0.0000133334/GB-s = {}. CPU time is a floor: Lambda bills wall time; at this run's wall time \
             against moto ({:.2} ms/delivery with 10 in flight) the duration would be {}",
            dollars(deliver_requests_cost),
            handler_cpu_per_delivery * 1e3,
            dollars(deliver_duration(handler_cpu_per_delivery)),
            handler_wall_per_delivery * 1e3,
            dollars(deliver_duration(handler_wall_per_delivery)),
        ),
    );
    t.row(
        "Lambda arm64, ingest",
        &dollars(ingest_requests_cost),
        &format!(
            "1 invocation per event = {events_per_delivery:.3}/delivery × $0.20/M; ingest's duration is not measured \
             and not included"
        ),
    );
    t.row(
        "**Hookline total**",
        &format!("**{}**", dollars(total_cost)),
        "SQS + DynamoDB + Lambda (API Gateway below, CloudWatch Logs and data transfer not included)",
    );
    t.row(
        "API Gateway HTTP API (separately)",
        &dollars(api_gateway),
        &format!("1 request per event = {events_per_delivery:.3}/delivery × $1.00/M"),
    );
    t.row(
        "EventBridge API destinations",
        &dollars(EVENTBRIDGE_API_DESTINATIONS_PER_MILLION),
        &format!(
            "$1.00/M events + $0.20/M invocations, one event per delivery; an event fanned out by rules to \
             {ENDPOINTS} targets would be {} per M deliveries",
            dollars(1.00 / ENDPOINTS as f64 + 0.20)
        ),
    );

    // 2. CPU.
    let bare_per_post = m.bare_cpu.as_secs_f64() / m.bare_posts.max(1) as f64;
    t.section(
        "2. Deliver handler CPU time per delivery",
        "Process CPU time (utime + stime from /proc/self/stat, 10 ms ticks) around the loop; host release build; JSON \
         logs on (to /dev/null). moto's and the sink's CPU are other processes and not counted.",
    );
    t.row(
        "deliver handler",
        &format!("{:.3} ms", handler_cpu_per_delivery * 1e3),
        &format!(
            "`Handler::handle` on {} batches of ~10 received beforehand ({} deliveries of {CPU_EVENTS} events to \
             {ENDPOINTS} endpoints, after a warm-up batch; {} kept on the queue): reads + signs + POSTs + records over \
             HTTP to moto; {:.0} ms CPU in {:.0} ms wall",
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
            "VmHWM of the deliver process (host release) after it answered one SQS event of {MEMORY_BATCH} records \
             for deliveries in moto (all delivered to the sink); the function has 256 MB"
        ),
    );

    // 4. Throughput.
    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    let send_rate = rate(RAW_CALLS, m.raw_send_message);
    let put_rate = rate(RAW_CALLS, m.raw_put_item);
    let ingest_rate = rate(EVENTS, m.ingest_wall);
    let deliver_rate = rate(m.deliveries, m.deliver_wall);
    t.section(
        "4. Local end-to-end throughput",
        "Against moto on this machine (one Python process): a ratio to moto's own raw rates says how many raw calls' \
         time one event or delivery takes; absolute numbers say nothing about AWS. Measured with the counting \
         interceptor on.",
    );
    t.row(
        "events ingested",
        &format!("{ingest_rate:.0}/s"),
        &format!(
            "{EVENTS} POST /v1/events one at a time in {:.2} s = {} of raw SendMessage, {} of raw PutItem",
            m.ingest_wall.as_secs_f64(),
            ratio(ingest_rate, send_rate),
            ratio(ingest_rate, put_rate)
        ),
    );
    t.row(
        "deliveries completed",
        &format!("{deliver_rate:.0}/s"),
        &format!(
            "{} deliveries by one poller (batches of 10, 10 in flight) in {:.2} s = {} of raw SendMessage, {} of raw \
             PutItem",
            m.deliveries,
            m.deliver_wall.as_secs_f64(),
            ratio(deliver_rate, send_rate),
            ratio(deliver_rate, put_rate)
        ),
    );
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
         {table}\n",
        date = m.date,
        cpus = m.cpus,
        model = m.cpu_model,
        table = t.text
    )
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
