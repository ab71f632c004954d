//! A real browser for the console tests: Debian's headless Chromium,
//! driven over WebDriver by `chromedriver` (package `chromium-driver`),
//! started on a free loopback port with a throwaway profile directory.
//!
//! Without `chromium` or `chromedriver` a test is skipped with one line
//! naming the packages — unless `HOOKROUTE_REQUIRE_SERVERS=1` (set by
//! `.ci/run`), which makes the skip a failure. Include it with
//! `#[path = "common/browser.rs"] mod browser;` beside `mod common;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use tempfile::TempDir;

use crate::common::DEADLINE;

/// Where screenshots go (a test artifact); good ones are copied to
/// `docs/console/` by hand for the README.
pub const SCREENSHOTS: &str = "target/console-screenshots";

/// The first of `names` found on PATH (or in /usr/bin, /usr/lib/chromium).
fn find(names: &[&str]) -> Option<PathBuf> {
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")])
        .collect();
    names.iter().flat_map(|n| dirs.iter().map(move |d| d.join(n))).find(|p| p.is_file())
}

/// chromium and chromedriver, or None (after printing the skip line).
pub fn chromium(test: &str) -> Option<(PathBuf, PathBuf)> {
    let found = find(&["chromium", "chromium-browser"]).zip(find(&["chromedriver"]));
    if found.is_none() {
        let line = format!("skipped {test}: chromium is not installed (apt-get install chromium chromium-driver)");
        if std::env::var("HOOKROUTE_REQUIRE_SERVERS").is_ok_and(|v| v == "1") {
            panic!("{line}, and HOOKROUTE_REQUIRE_SERVERS=1 requires it");
        }
        eprintln!("{line}");
    }
    found
}

/// A free loopback port (bound, read, released: chromedriver takes it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A chromedriver process and one headless Chromium session; both are
/// ended when dropped (call [`Browser::close`] first to end the session
/// cleanly).
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session.
    pub async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("a profile directory");
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium.display().to_string(), "args": args }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + DEADLINE;
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = loop {
            match ClientBuilder::new(connector.clone()).capabilities(caps.clone()).connect(&webdriver).await {
                Ok(client) => break client,
                Err(e) => {
                    assert!(Instant::now() < deadline, "no WebDriver session within {DEADLINE:?}: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        Browser { client, driver, _profile: profile }
    }

    /// Goes to `url` and waits for the page.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => return element,
                Err(e) => {
                    assert!(Instant::now() < deadline, "no {css} within {DEADLINE:?}: {e}\n{}", self.source().await);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Every element matching `css` now (maybe none).
    pub async fn all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap_or_default()
    }

    /// The text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// The page's HTML as the browser holds it now.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap_or_default()
    }

    /// Saves a PNG of the window as `target/console-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        // The whole page, not the first screenful: the window is made as
        // tall as the document first.
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .ok()
            .and_then(|h| h.as_u64())
            .unwrap_or(900)
            .clamp(600, 4000);
        let _ = self.client.set_window_size(1280, height as u32).await;
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let _ = self.client.set_window_size(1280, 900).await;
        std::fs::create_dir_all(SCREENSHOTS).expect("create the screenshot directory");
        std::fs::write(Path::new(SCREENSHOTS).join(format!("{name}.png")), png).expect("write the screenshot");
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
