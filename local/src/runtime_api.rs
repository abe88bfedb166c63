//! A local Lambda Runtime API (the part a custom runtime talks to) and a function process
//! started against it, as Lambda starts a `provided.al2023` function: the binary is run with
//! `AWS_LAMBDA_RUNTIME_API` and asks `GET /2018-06-01/runtime/invocation/next` for its first
//! event once its init code is done. The time from spawn to that request is the cold start.
//! The benchmark measures cold starts with it; the functions' binary tests feed events through it.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// What the function answered for one invocation.
#[derive(Debug)]
pub enum Answer {
    Response(Value),
    Error(String),
    InitError(String),
}

struct ApiState {
    function_name: String,
    first_next: Mutex<Option<oneshot::Sender<Instant>>>,
    events: tokio::sync::Mutex<mpsc::Receiver<Value>>,
    answers: mpsc::Sender<Answer>,
}

/// One function process and the Runtime API it is attached to. Dropping it kills the process.
pub struct Function {
    child: tokio::process::Child,
    pid: u32,
    events: mpsc::Sender<Value>,
    answers: mpsc::Receiver<Answer>,
    first_next: Option<oneshot::Receiver<Instant>>,
    spawned_at: Instant,
    server: tokio::task::JoinHandle<()>,
    log: std::path::PathBuf,
}

impl Function {
    /// Serves a fresh Runtime API on 127.0.0.1 and starts `binary` against it with the
    /// Lambda variables plus `env`.
    pub async fn spawn(binary: &Path, function_name: &str, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let (first_tx, first_rx) = oneshot::channel();
        let (events_tx, events_rx) = mpsc::channel(1);
        let (answers_tx, answers_rx) = mpsc::channel(4);
        let state = Arc::new(ApiState {
            function_name: function_name.to_owned(),
            first_next: Mutex::new(Some(first_tx)),
            events: tokio::sync::Mutex::new(events_rx),
            answers: answers_tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let api = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let log = std::env::temp_dir().join(format!(
            "hookline-fn-{function_name}-{}-{:08x}.log",
            std::process::id(),
            rand::rng().random::<u32>()
        ));
        let out = std::fs::File::create(&log)?;
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2025/01/01/[$LATEST]0123456789abcdef")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function_name}"))
            .env("AWS_REGION", crate::clients::LOCAL_REGION)
            .env("AWS_DEFAULT_REGION", crate::clients::LOCAL_REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        let spawned_at = Instant::now();
        let child = command.spawn()?;
        let pid = child.id().ok_or_else(|| anyhow::anyhow!("{function_name} exited at once"))?;
        Ok(Self {
            child,
            pid,
            events: events_tx,
            answers: answers_rx,
            first_next: Some(first_rx),
            spawned_at,
            server,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the first `next` request; returns the time since spawn.
    pub async fn ready(&mut self, patience: Duration) -> anyhow::Result<Duration> {
        let first = self.first_next.take().ok_or_else(|| anyhow::anyhow!("ready() called twice"))?;
        tokio::select! {
            at = first => Ok(at? - self.spawned_at),
            status = self.child.wait() => anyhow::bail!("exited before asking for an event ({}); log: {}", status?, self.log_tail()),
            Some(Answer::InitError(e)) = self.answers.recv() => anyhow::bail!("init error {e}; log: {}", self.log_tail()),
            _ = tokio::time::sleep(patience) => anyhow::bail!("not ready within {patience:?}; log: {}", self.log_tail()),
        }
    }

    /// Hands the function one event and waits for its answer.
    pub async fn invoke(&mut self, event: Value, patience: Duration) -> anyhow::Result<Value> {
        self.events.send(event).await.map_err(|_| anyhow::anyhow!("runtime API gone"))?;
        let answer = tokio::time::timeout(patience, self.answers.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {patience:?}; log: {}", self.log_tail()))?;
        match answer {
            Some(Answer::Response(v)) => Ok(v),
            Some(Answer::Error(e) | Answer::InitError(e)) => anyhow::bail!("invocation failed: {e}"),
            None => anyhow::bail!("runtime API gone"),
        }
    }

    /// Waits for the process to end by itself (a function that refuses to start); returns its
    /// exit status and what it printed.
    pub async fn exit(mut self, patience: Duration) -> anyhow::Result<(std::process::ExitStatus, String)> {
        let status = tokio::time::timeout(patience, self.child.wait())
            .await
            .map_err(|_| anyhow::anyhow!("still running after {patience:?}; log: {}", self.log_tail()))??;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        self.server.abort();
        let _ = std::fs::remove_file(&self.log);
        Ok((status, log))
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_owned()
    }

    /// Kills the process (our own child) and removes its log.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        self.server.abort();
        let _ = std::fs::remove_file(&self.log);
    }
}

async fn next(State(state): State<Arc<ApiState>>) -> Response {
    if let Some(first) = state.first_next.lock().ok().and_then(|mut f| f.take()) {
        let _ = first.send(Instant::now());
    }
    let Some(event) = state.events.lock().await.recv().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let request_id = format!("{:032x}", rand::rng().random::<u128>());
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let deadline_ms = now_ms + 60_000;
    let trace_id = format!("Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0", deadline_ms / 1000, 1u128, 1u64);
    let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{}", state.function_name);
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", request_id),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", arn),
        ("lambda-runtime-trace-id", trace_id),
        ("content-type", "application/json".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, event.to_string()).into_response()
}

async fn response(State(state): State<Arc<ApiState>>, body: Bytes) -> StatusCode {
    let answer = match serde_json::from_slice(&body) {
        Ok(value) => Answer::Response(value),
        Err(e) => Answer::Error(format!("response is not JSON: {e}")),
    };
    let _ = state.answers.send(answer).await;
    StatusCode::ACCEPTED
}

async fn error(State(state): State<Arc<ApiState>>, body: Bytes) -> StatusCode {
    let _ = state.answers.send(Answer::Error(String::from_utf8_lossy(&body).into_owned())).await;
    StatusCode::ACCEPTED
}

async fn init_error(State(state): State<Arc<ApiState>>, body: Bytes) -> StatusCode {
    let _ = state.answers.send(Answer::InitError(String::from_utf8_lossy(&body).into_owned())).await;
    StatusCode::ACCEPTED
}
