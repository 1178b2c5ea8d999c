//! Debian's Chromium through Debian's chromedriver. One chromedriver per test binary, started
//! on first use on a port it picks itself (`--port=0`) and watched by a small shell that ends
//! it once this process is gone; one headless Chromium with a fresh profile per `Browser`.
//! Every wait is bounded (`WAIT`). Without the browser the tests print `SKIPPED (reason)` and
//! return, except under CI, where a missing browser fails the run.

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The longest any single wait may take.
pub const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// Prints past libtest's output capture, so `SKIPPED` and the screenshot folder are seen.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

struct Driver {
    port: u16,
    chromium: PathBuf,
}

static DRIVER: OnceLock<Result<Driver, String>> = OnceLock::new();

fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() {
            if p.is_file() {
                return Some(p.to_path_buf());
            }
            continue;
        }
        let path = std::env::var_os("PATH")?;
        if let Some(found) = std::env::split_paths(&path)
            .map(|dir| dir.join(c))
            .find(|f| f.is_file())
        {
            return Some(found);
        }
    }
    None
}

fn start_driver() -> Result<Driver, String> {
    // Debian's /usr/bin/chromium is a wrapper script; the real binary avoids its noise.
    let chromium = find_program(&["/usr/lib/chromium/chromium", "chromium", "chromium-browser"])
        .ok_or("chromium is not installed: apt-get install -y chromium chromium-driver")?;
    let chromedriver = find_program(&["/usr/bin/chromedriver", "chromedriver"])
        .ok_or("chromedriver is not installed: apt-get install -y chromium-driver")?;
    // The shell starts chromedriver and ends it when this test process has gone, so it
    // never outlives the tests, even when one of them panics.
    let watchdog = r#"
"$1" --port=0 &
driver=$!
trap 'kill "$driver" 2>/dev/null' EXIT
while kill -0 "$2" 2>/dev/null && kill -0 "$driver" 2>/dev/null; do sleep 1; done
"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(watchdog)
        .arg("sh")
        .arg(&chromedriver)
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("failed to start chromedriver: {e}"))?;
    let stdout = child.stdout.take().ok_or("no chromedriver stdout")?;
    let (tx, rx) = std::sync::mpsc::channel::<u16>();
    // Reads the port from "ChromeDriver was started successfully on port N.", then keeps
    // draining the pipe so chromedriver never blocks on a write.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line
                .split("successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
            {
                let _ = tx.send(port);
            }
        }
    });
    let port = rx
        .recv_timeout(WAIT)
        .map_err(|_| "chromedriver did not report its port within 10 s".to_string())?;
    Ok(Driver { port, chromium })
}

/// The shared chromedriver, or `None` (after printing why) when the browser is missing
/// outside CI.
fn driver() -> Option<&'static Driver> {
    match DRIVER.get_or_init(start_driver) {
        Ok(d) => Some(d),
        Err(reason) => {
            if in_ci() {
                panic!("the browser tests need Chromium and chromedriver under CI: {reason}");
            }
            say(&format!("SKIPPED ({reason}; CI unset)"));
            None
        }
    }
}

/// Ends a WebDriver session with a plain blocking request: used from `Drop`, where the async
/// client cannot run (a panicking test's runtime is being torn down).
fn delete_session(port: u16, session: &str) {
    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
        let _ = s.set_read_timeout(Some(WAIT));
        let _ = write!(
            s,
            "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
}

/// One person at one headless Chromium, pointed at one app.
pub struct Browser {
    pub client: Client,
    base: String,
    session: String,
    driver_port: u16,
    closed: bool,
    downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.closed {
            delete_session(self.driver_port, &self.session);
        }
    }
}

impl Browser {
    /// A fresh headless Chromium at `width` × 900 px, or `None` when the browser is missing
    /// outside CI.
    pub async fn open(base: &str, width: u32) -> Option<Browser> {
        let driver = driver()?;
        // fantoccini's rustls connector needs a process-wide crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = tempfile::tempdir().expect("downloads dir");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": driver.chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-quic",
                    "--disable-extensions",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--password-store=basic",
                    "--lang=es-PE",
                    format!("--window-size={width},900"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "safebrowsing.enabled": false,
                    "intl.accept_languages": "es-PE,es",
                },
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!("capabilities are an object")
        };
        let client = ClientBuilder::rustls()
            .expect("rustls connector")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a new Chromium session");
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let browser = Browser {
            client,
            base: base.to_string(),
            session,
            driver_port: driver.port,
            closed: false,
            downloads,
            _profile: profile,
        };
        browser
            .client
            // Scripts (axe) and page loads get a wider bound than the polls: on a machine
            // busy compiling, a debug build's page can take seconds. Never an implicit wait.
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(30)),
                Some(Duration::from_secs(30)),
                Some(Duration::ZERO),
            ))
            .await
            .expect("timeouts");
        browser.resize(width, 900).await;
        Some(browser)
    }

    /// Ends the session (and its Chromium) now.
    pub async fn close(mut self) {
        self.closed = true;
        let _ = self.client.clone().close().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sets the viewport (not the window) to `width` × `height` CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        // The window includes whatever the browser draws around the page; measure it once.
        self.client
            .set_window_size(width, height)
            .await
            .expect("window size");
        let inner = self
            .js("return [window.innerWidth, window.innerHeight]")
            .await;
        let iw = inner[0].as_u64().unwrap_or(width as u64) as u32;
        let ih = inner[1].as_u64().unwrap_or(height as u64) as u32;
        if iw != width || ih != height {
            self.client
                .set_window_size(
                    width + width.saturating_sub(iw),
                    height + height.saturating_sub(ih),
                )
                .await
                .expect("window size");
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client.goto(&self.url(path)).await.expect("navigate");
    }

    /// The current path and query, e.g. `/tickets/3`.
    pub async fn path(&self) -> String {
        let u = self.client.current_url().await.expect("current url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// What a person reads on the page.
    pub async fn text(&self) -> String {
        self.js("return document.body ? document.body.innerText : ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits (up to `WAIT`) until the page shows `needle`.
    pub async fn wait_text(&self, needle: &str) {
        let start = Instant::now();
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "waited 10 s for {needle:?} on {}; the page reads:\n{text}",
                    self.path().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits (up to `WAIT`) until the path is `path`.
    pub async fn wait_path(&self, path: &str) {
        let start = Instant::now();
        loop {
            let now = self.path().await;
            if now == path {
                return;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "waited 10 s to reach {path}, still on {now}:\n{}",
                    self.text().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits (up to `WAIT`) for an element.
    pub async fn find(&self, css: &str) -> Element {
        let start = Instant::now();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "waited 10 s for `{css}` on {}:\n{}",
                    self.path().await,
                    self.text().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Empties a field and types into it, key by key.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        // WebDriver's "send keys" focuses the field first, as a click would.
        field.clear().await.expect("clear field");
        field.send_keys(text).await.expect("type");
    }

    /// Picks an option of a `<select>` by its visible text.
    pub async fn choose(&self, css: &str, label: &str) {
        self.find(css)
            .await
            .select_by_label(label)
            .await
            .unwrap_or_else(|e| panic!("no option {label:?} in `{css}`: {e}"));
    }

    /// Clicks a link or button whose visible text is exactly `label`, inside `scope`.
    pub async fn click_text(&self, scope: &str, label: &str) {
        let xpath = format!(
            "//{scope}//*[self::a or self::button or self::summary][normalize-space(.)='{label}']"
        );
        let start = Instant::now();
        let el = loop {
            if let Ok(e) = self.client.find(Locator::XPath(&xpath)).await {
                break e;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "no link or button {label:?} in <{scope}> on {}:\n{}",
                    self.path().await,
                    self.text().await
                );
            }
            tokio::time::sleep(POLL).await;
        };
        el.click().await.expect("click");
    }

    /// Same as `click_text`, for a link or button that loads a new page.
    pub async fn follow(&self, scope: &str, label: &str) {
        self.mark_page().await;
        self.click_text(scope, label).await;
        self.wait_new_page().await;
    }

    async fn mark_page(&self) {
        self.js("window.__soporteOldPage = true; return null").await;
    }

    /// Waits until the page marked by `mark_page` is gone and the next one has loaded.
    pub async fn wait_new_page(&self) {
        let start = Instant::now();
        loop {
            let v = self
                .client
                .execute(
                    "return !window.__soporteOldPage && document.readyState === 'complete'",
                    Vec::new(),
                )
                .await;
            if matches!(v, Ok(Value::Bool(true))) {
                return;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "no new page within 10 s; still on {}:\n{}",
                    self.path().await,
                    self.text().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Presses keys (characters, or `Key::Tab`/`Key::Enter` as chars) on whatever has focus,
    /// through WebDriver's keyboard input source.
    pub async fn keys(&self, keys: &str) {
        let mut seq = KeyActions::new("keyboard".to_string());
        for c in keys.chars() {
            seq = seq
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.client
            .perform_actions(seq)
            .await
            .expect("keyboard input");
    }

    /// Presses Tab until the focused element matches `css` (at most 40 times).
    pub async fn tab_to(&self, css: &str) {
        let check = format!(
            "return document.activeElement !== null && document.activeElement.matches({})",
            json!(css)
        );
        for _ in 0..40 {
            self.keys(&char::from(Key::Tab).to_string()).await;
            if self.js(&check).await == Value::Bool(true) {
                return;
            }
        }
        panic!(
            "40 presses of Tab never reached `{css}` on {}",
            self.path().await
        );
    }

    /// Writes a screenshot of the whole page (not only the viewport) to `file`.
    pub async fn screenshot_full_page(&self, file: &Path, width: u32) {
        let height = self
            .js("return Math.ceil(document.documentElement.scrollHeight)")
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(300, 6000) as u32;
        self.resize(width, height).await;
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(file, png).expect("write screenshot");
        self.resize(width, 900).await;
    }

    /// Waits (up to `WAIT`) for a finished download and returns its path.
    /// Chromium reserves the final name with an empty file when a download starts and
    /// writes to `….crdownload` until it is done, so a file counts once it has bytes and no
    /// partial download is left beside it.
    pub async fn downloaded(&self, suffix: &str) -> PathBuf {
        let start = Instant::now();
        loop {
            if let Ok(entries) = std::fs::read_dir(self.downloads.path()) {
                let paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                let partial = paths
                    .iter()
                    .any(|p| p.to_string_lossy().ends_with(".crdownload"));
                for p in &paths {
                    let name = p.to_string_lossy().to_string();
                    let written = std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
                    if name.ends_with(suffix) && written && !partial {
                        return p.clone();
                    }
                }
            }
            if start.elapsed() > WAIT {
                panic!("no *{suffix} download within 10 s");
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The folder the screenshots go to: `$SOPORTE_SCREENSHOTS`, else `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("SOPORTE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots"));
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}
