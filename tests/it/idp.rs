//! The tests' OpenID provider: panva's `oidc-provider` (npm, OpenID Certified) run by node
//! from `tests/support/oidc-provider.mjs`, one per test on a free port, and a walker that
//! goes through its sign-in and consent pages the way a person's browser would.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const CLIENT_ID: &str = "soporte";
pub const CLIENT_SECRET: &str = "secreto-de-soporte-en-el-idp";
pub const DOVECOT_CLIENT: &str = "dovecot";
pub const DOVECOT_SECRET: &str = "secreto-de-dovecot-en-el-idp";

/// One person the provider knows: their login on its page and their claims.
pub struct Person<'a> {
    pub login: &'a str,
    pub email: &'a str,
    pub verified: bool,
    pub name: &'a str,
    pub groups: &'a [&'a str],
}

pub struct Idp {
    pub issuer: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why the provider cannot run here, if it cannot.
fn missing() -> Option<String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    if !root()
        .join("node_modules/oidc-provider/package.json")
        .exists()
    {
        return Some("oidc-provider is not installed (npm ci)".into());
    }
    None
}

impl Idp {
    /// Starts a provider; `None` (with the reason printed) only outside CI when node or the
    /// package is missing. `ttl` sets token lifetimes in seconds (`AccessToken`, …).
    pub fn start(people: &[Person<'_>], ttl: Value, mailbox: &str) -> Option<Idp> {
        if let Some(reason) = missing() {
            if std::env::var("CI").is_ok() {
                panic!("the OpenID provider is required in CI: {reason}");
            }
            eprintln!("SKIPPED ({reason}; CI unset)");
            return None;
        }
        let accounts: serde_json::Map<String, Value> = people
            .iter()
            .map(|p| {
                (
                    p.login.to_string(),
                    json!({"email": p.email, "email_verified": p.verified, "name": p.name, "groups": p.groups}),
                )
            })
            .collect();
        let config = json!({
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    // A native client: loopback redirects match on any port (RFC 8252), so
                    // each test's app on its own port is accepted.
                    "application_type": "native",
                    "redirect_uris": ["http://127.0.0.1/login/oidc/callback", "http://127.0.0.1/admin/mail/callback"],
                    "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                    "response_types": ["code"],
                    "scope": "openid email profile groups offline_access mail",
                    "token_endpoint_auth_method": "client_secret_basic"
                },
                {
                    "client_id": DOVECOT_CLIENT,
                    "client_secret": DOVECOT_SECRET,
                    "redirect_uris": [],
                    "grant_types": [],
                    "response_types": []
                }
            ],
            "accounts": accounts,
            "ttl": ttl,
            "mailbox": mailbox,
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idp.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let mut child = Command::new("node")
            .arg(root().join("tests/support/oidc-provider.mjs"))
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with('{') {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("the OpenID provider did not start within 30 s");
            }
        };
        let issuer = serde_json::from_str::<Value>(&line).unwrap()["issuer"]
            .as_str()
            .unwrap()
            .to_string();
        Some(Idp {
            issuer,
            child,
            _dir: dir,
        })
    }

    pub fn host_port(&self) -> String {
        self.issuer.trim_start_matches("http://").to_string()
    }

    /// Uses a refresh token directly: the provider's answer (status, JSON).
    pub async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn location(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

fn absolute(base: &str, loc: &str) -> String {
    if loc.starts_with("http") {
        loc.to_string()
    } else {
        format!("{base}{loc}")
    }
}

fn form_action(html: &str) -> Option<String> {
    let start = html.find("<form")?;
    let tag = &html[start..start + html[start..].find('>')?];
    let a = tag.find("action=\"")? + "action=\"".len();
    let end = tag[a..].find('"')? + a;
    Some(tag[a..end].replace("&amp;", "&"))
}

/// The `name`/`value` of every input of the page's first form.
fn inputs(html: &str) -> Vec<(String, String)> {
    let start = html.find("<form").unwrap_or(0);
    let end = html[start..]
        .find("</form>")
        .map(|e| e + start)
        .unwrap_or(html.len());
    let form = &html[start..end];
    let attr = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).and_then(|a| {
            let a = a + key.len();
            tag[a..].find('"').map(|e| tag[a..a + e].to_string())
        })
    };
    form.split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
            Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default()))
        })
        .collect()
}

/// Follows `url` through the provider's pages — the sign-in form (any password: the dev
/// login page checks none) and the consent form — until a redirect leaves the provider.
/// Returns that redirect (soporte's callback with `code` and `state`).
pub async fn walk(client: &reqwest::Client, idp: &Idp, url: &str, login: &str) -> String {
    let mut url = url.to_string();
    for _ in 0..20 {
        if !url.starts_with(&idp.issuer) {
            return url;
        }
        let r = client.get(&url).send().await.unwrap();
        if let Some(loc) = location(&r) {
            url = absolute(&idp.issuer, &loc);
            continue;
        }
        let html = r.text().await.unwrap();
        let action = form_action(&html)
            .unwrap_or_else(|| panic!("the provider's page has no form:\n{html}"));
        let fields: Vec<(String, String)> = inputs(&html)
            .into_iter()
            .map(|(name, value)| match name.as_str() {
                "login" => (name, login.to_string()),
                "password" => (name, "cualquiera".to_string()),
                _ => (name, value),
            })
            .collect();
        let r = client
            .post(absolute(&idp.issuer, &action))
            .form(&fields)
            .send()
            .await
            .unwrap();
        url = absolute(
            &idp.issuer,
            &location(&r).unwrap_or_else(|| panic!("the provider's form did not redirect")),
        );
    }
    panic!("the provider kept redirecting");
}
