//! A headless Chromium driven over W3C WebDriver (Debian's `chromium` and `chromium-driver`),
//! for the dashboard's tests. The protocol is JSON over HTTP, so a few calls through the
//! harness's `reqwest` client are the whole client: no browser download, no extra crate.
//!
//! Each `Browser` has its own chromedriver on a free 127.0.0.1 port and its own profile
//! directory; both go away when it is dropped. At most two run at once, so a test run on a
//! small machine does not start a browser per test thread.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::PATIENCE;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const SPACE: &str = " ";
}

static BROWSERS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`
    session: String,
    driver: tokio::process::Child,
    profile: PathBuf,
    _permit: SemaphorePermit<'static>,
}

#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    pub async fn start() -> Self {
        assert!(
            std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists(),
            "the dashboard tests need {CHROMIUM} and {CHROMEDRIVER}: run `make test` (it installs Debian's chromium and chromium-driver)"
        );
        let permit = BROWSERS.acquire().await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r.text().await.ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()),
                Err(_) => None,
            };
            if ready.is_some_and(|v| v["value"]["ready"] == true) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = std::env::temp_dir().join(format!("hookline-chromium-{port}-{}", std::process::id()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--window-size=1280,1000", format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let created = send(&http, reqwest::Method::POST, &format!("{base}/session"), Some(capabilities)).await;
        let id = created["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {created}")).to_owned();
        Self { http, session: format!("{base}/session/{id}"), driver, profile, _permit: permit }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        send(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; returns its value.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found =
            self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        found.as_array().unwrap().iter().map(|e| Element(e[ELEMENT].as_str().unwrap().to_owned())).collect()
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        self.wait(&format!("{css} to appear"), move || async move { self.find_all(css).await.into_iter().next() }).await
    }

    /// Waits until the text of the first element matching `css` contains `text`; returns it.
    /// Read in one script call, so a page redrawing meanwhile cannot leave a stale reference.
    pub async fn wait_text(&self, css: &str, text: &str) -> String {
        self.wait(&format!("{css} to show {text:?}"), move || async move {
            let shown = self
                .run("const e = document.querySelector(arguments[0]); return e ? e.innerText : null", json!([css]))
                .await;
            shown.as_str().filter(|shown| shown.contains(text)).map(str::to_owned)
        })
        .await
    }

    /// Polls `probe` until it gives a value; fails the test after [`PATIENCE`].
    pub async fn wait<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            if tokio::time::Instant::now() > deadline {
                let page = self.run("return document.body.innerText", json!([])).await;
                panic!("gave up waiting for {what}; the page shows:\n{}", page.as_str().unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn text(&self, element: &Element) -> String {
        let value = self.call(reqwest::Method::GET, &format!("/element/{}/text", element.0), None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    pub async fn property(&self, element: &Element, name: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/element/{}/property/{name}", element.0), None).await
    }

    pub async fn click(&self, element: &Element) {
        self.call(reqwest::Method::POST, &format!("/element/{}/click", element.0), Some(json!({}))).await;
    }

    pub async fn clear(&self, element: &Element) {
        self.call(reqwest::Method::POST, &format!("/element/{}/clear", element.0), Some(json!({}))).await;
    }

    /// Types `text` into `element` (WebDriver focuses it first).
    pub async fn type_into(&self, element: &Element, text: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{}/value", element.0), Some(json!({"text": text}))).await;
    }

    /// Presses keys in whatever has the focus, as a person at the keyboard would.
    pub async fn press(&self, keys: &str) {
        let mut actions = Vec::new();
        for key in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": key.to_string()}));
            actions.push(json!({"type": "keyUp", "value": key.to_string()}));
        }
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        self.call(reqwest::Method::POST, "/actions", Some(body)).await;
    }

    /// Saves a PNG of the viewport as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session ends Chromium; the driver itself is killed with its handle. A new
        // client: the test's own pools belong to the runtime this drop is blocking, so a request
        // over them would wait out its timeout and leave Chromium running.
        let session = self.session.clone();
        let closing = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                let http = reqwest::Client::new();
                let _ = runtime.block_on(async { http.delete(&session).timeout(Duration::from_secs(10)).send().await });
            }
        });
        let _ = closing.join();
        let _ = self.driver.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

async fn send(http: &reqwest::Client, method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
    let mut request = http.request(method, url).timeout(PATIENCE);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("WebDriver {url}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap();
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("WebDriver {url} answered {status}: {e}: {text}"));
    assert!(status.is_success(), "WebDriver {url} answered {status}: {value}");
    value.get("value").cloned().unwrap_or(Value::Null)
}
