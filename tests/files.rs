//! `file` actions on a real filesystem, the way operators rotate and break
//! them: logrotate's rename (`create` mode), the delete its `compress` does,
//! `copytruncate`, SIGHUP from `postrotate`, the built-in `rotate:`, a path
//! that stops being writable, and a symlink that tries to lead a templated
//! path out of its directory. Each test runs the real server and reads the
//! files it left.

mod common;

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const AUDIT: &str = r#"
routes:
  - name: audit
    path: /audit
    actions: [{ file: { path: "@DIR@/events/audit.jsonl" } }]
"#;

/// The `seq` of each line of a JSON-lines file.
fn seqs(path: &Path) -> Vec<i64> {
    json_lines(path).iter().map(|l| l["body"]["seq"].as_i64().expect("seq")).collect()
}

async fn send_seq(url: &str, seq: i64) -> Answer {
    post_json(url, &json!({ "seq": seq })).await
}

async fn accepted(url: &str, seq: i64) {
    let answer = send_seq(url, seq).await;
    assert_eq!(answer.status, 202, "event {seq}: {}", answer.text());
}

/// Waits until `cond` holds, failing the test with `what` after [`DEADLINE`].
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {DEADLINE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn logrotate_rename_sends_later_lines_to_a_new_file() {
    let (server, dir) = start(AUDIT).await;
    let url = url(&server, "/audit");
    let file = dir.path().join("events/audit.jsonl");
    let rotated = dir.path().join("events/audit.jsonl.1");
    accepted(&url, 1).await;
    accepted(&url, 2).await;
    // logrotate, `create` mode, without any signal afterwards.
    std::fs::rename(&file, &rotated).unwrap();
    accepted(&url, 3).await;
    accepted(&url, 4).await;
    assert_eq!(seqs(&rotated), [1, 2], "the rotated file holds only what came before the rename");
    assert_eq!(seqs(&file), [3, 4], "later events go to a new file at the path");
}

#[tokio::test]
async fn a_deleted_file_is_created_again_and_no_event_is_lost() {
    let (server, dir) = start(AUDIT).await;
    let url = url(&server, "/audit");
    let file = dir.path().join("events/audit.jsonl");
    accepted(&url, 1).await;
    // What logrotate's `compress` does to the renamed file, or a person
    // cleaning up: the file the writer holds is gone.
    std::fs::remove_file(&file).unwrap();
    accepted(&url, 2).await;
    accepted(&url, 3).await;
    assert_eq!(seqs(&file), [2, 3]);
    let routes = send(client().get(admin_url(&server, "/-/routes"))).await.json();
    assert_eq!(routes["routes"][0]["action_counts"], json!({"file": {"ok": 3}}));
}

#[tokio::test]
async fn copytruncate_keeps_appending_at_the_start() {
    let (server, dir) = start(AUDIT).await;
    let url = url(&server, "/audit");
    let file = dir.path().join("events/audit.jsonl");
    accepted(&url, 1).await;
    accepted(&url, 2).await;
    // logrotate `copytruncate`: copy, then empty the file in place.
    std::fs::copy(&file, dir.path().join("events/audit.jsonl.1")).unwrap();
    std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(0).unwrap();
    accepted(&url, 3).await;
    let bytes = std::fs::read(&file).unwrap();
    assert!(!bytes.contains(&0), "no hole of NULs where the old lines were (writes are O_APPEND)");
    assert_eq!(seqs(&file), [3]);
    assert_eq!(seqs(&dir.path().join("events/audit.jsonl.1")), [1, 2]);
}

/// The files the process `pid` holds open, as their paths.
fn open_files(pid: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    entries.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()).map(|p| p.display().to_string()).collect()
}

#[tokio::test]
async fn sighup_reopens_files_as_logrotate_postrotate_expects() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), AUDIT);
    let server = BinaryServer::start(&config, dir.path(), &[]);
    let pid = server.child.id();
    let url = server.url("/audit");
    let file = dir.path().join("events/audit.jsonl");
    let name = file.display().to_string();
    let hup = || {
        let status = std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap();
        assert!(status.success());
    };
    accepted(&url, 1).await;
    assert!(open_files(pid).contains(&name), "the writer keeps its file open between events");
    // A SIGHUP lets go of every file, even one still at its path.
    hup();
    eventually("the file is closed after SIGHUP", || !open_files(pid).contains(&name)).await;
    accepted(&url, 2).await;
    assert_eq!(seqs(&file), [1, 2]);

    // logrotate: rename, then `postrotate kill -HUP`.
    std::fs::rename(&file, dir.path().join("events/audit.jsonl.1")).unwrap();
    hup();
    accepted(&url, 3).await;
    assert_eq!(seqs(&dir.path().join("events/audit.jsonl.1")), [1, 2]);
    assert_eq!(seqs(&file), [3]);
    let rotated = dir.path().join("events/audit.jsonl.1").display().to_string();
    eventually("the rotated file is let go", || !open_files(pid).iter().any(|f| f.starts_with(&rotated))).await;
}

fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).unwrap();
    text
}

fn seqs_of(text: &str) -> Vec<i64> {
    text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["body"]["seq"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn built_in_rotation_by_size_keeps_and_compresses() {
    let (server, dir) = start(
        r#"
routes:
  - name: audit
    path: /audit
    actions:
      - file:
          path: "@DIR@/events/audit.jsonl"
          rotate: { max_size: 2KiB, keep: 2, compress: true }
"#,
    )
    .await;
    let url = url(&server, "/audit");
    // Each line is a little under 1 KiB (the pad plus the record's id,
    // time and headers): two fit in a file, the third starts a new one.
    let pad = "p".repeat(600);
    for seq in 1..=7 {
        let answer = post_json(&url, &json!({ "seq": seq, "pad": pad })).await;
        assert_eq!(answer.status, 202, "{}", answer.text());
    }
    let events = dir.path().join("events");
    let name = |suffix: &str| events.join(format!("audit.jsonl{suffix}"));
    eventually("the last rotated file is compressed", || !name(".1").exists() && name(".1.gz").exists()).await;
    assert_eq!(seqs(&name("")), [7]);
    assert_eq!(seqs_of(&gunzip(&name(".1.gz"))), [5, 6]);
    assert_eq!(seqs_of(&gunzip(&name(".2.gz"))), [3, 4]);
    let mut left: Vec<String> =
        std::fs::read_dir(&events).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["audit.jsonl", "audit.jsonl.1.gz", "audit.jsonl.2.gz"], "keep: 2 deletes the oldest");
    for path in [name(""), name(".1.gz"), name(".2.gz")] {
        assert!(std::fs::metadata(&path).unwrap().len() <= 2048, "{} is over max_size", path.display());
    }
}

#[tokio::test]
async fn built_in_rotation_by_age() {
    let (server, dir) = start(
        r#"
routes:
  - name: audit
    path: /audit
    actions: [{ file: { path: "@DIR@/audit.jsonl", rotate: { max_age: 1s } } }]
"#,
    )
    .await;
    let url = url(&server, "/audit");
    accepted(&url, 1).await;
    // Only the lower bound matters: a slower machine waits longer, same result.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    accepted(&url, 2).await;
    assert_eq!(seqs(&dir.path().join("audit.jsonl.1")), [1]);
    assert_eq!(seqs(&dir.path().join("audit.jsonl")), [2]);
}

#[test]
fn check_locates_bad_rotation_settings() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"routes:
  - name: a
    path: /a
    actions:
      - file: { path: a.jsonl, rotate: { compress: true } }
      - file: { path: b.jsonl, rotate: { max_size: 0, keep: 0 } }
"#,
    );
    let (code, _out, err) = run_binary(&["check", "-c", &config.display().to_string()], dir.path());
    assert_ne!(code, 0, "{err}");
    for expected in [
        ":5:",
        "actions[0].file.rotate: rotate needs max_size, max_age or both",
        "actions[1].file.rotate.max_size: max_size must be more than 0 bytes",
        "actions[1].file.rotate.keep: keep must be at least 1",
    ] {
        assert!(err.contains(expected), "{expected:?} not in:\n{err}");
    }
}

#[test]
fn check_refuses_a_size_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "routes:\n  - name: a\n    path: /a\n    actions:\n      - file: { path: c.jsonl, rotate: { max_size: lots } }\n",
    );
    let (code, _out, err) = run_binary(&["check", "-c", &config.display().to_string()], dir.path());
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("invalid size \"lots\""), "{err}");
}

#[tokio::test]
async fn a_path_that_cannot_be_written_answers_500_and_queues_nothing() {
    let upstream = Upstream::start().await;
    let (server, dir) = start(&format!(
        r#"
routes:
  - name: audit
    path: /audit
    actions:
      - file: {{ path: "@DIR@/events/audit.jsonl" }}
      - forward: {{ url: "{}" }}
"#,
        upstream.url("/in")
    ))
    .await;
    let url = url(&server, "/audit");
    let file = dir.path().join("events/audit.jsonl");
    accepted(&url, 1).await;
    upstream.wait_for(1).await;
    // The path becomes a directory (root cannot write through that either).
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let failed = send_seq(&url, 2).await;
    assert_eq!(failed.status, 500, "{}", failed.text());
    assert!(failed.error().starts_with("route audit: could not record the event: cannot open"), "{}", failed.error());
    let routes = send(client().get(admin_url(&server, "/-/routes"))).await.json();
    assert_eq!(routes["routes"][0]["action_counts"]["file"], json!({"ok": 1, "error": 1}));

    // Fixed; the provider sends event 2 again: recorded once, forwarded once.
    std::fs::remove_dir(&file).unwrap();
    accepted(&url, 2).await;
    let got = upstream.wait_for(2).await;
    assert_eq!(got.iter().map(|r| r.json()["seq"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    upstream.expect_exactly(2).await;
    assert_eq!(seqs(&file), [2]);
}

#[tokio::test]
async fn a_symlink_cannot_lead_a_templated_path_out_of_its_directory() {
    let (server, dir) = start(
        r#"
routes:
  - name: by-provider
    path: /hooks/{provider}
    actions: [{ file: { path: "@DIR@/events/{{ path_params.provider }}/events.jsonl" } }]
"#,
    )
    .await;
    let events = dir.path().join("events");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(events.join("github")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    // Placed inside the directory by someone who can write there.
    std::os::unix::fs::symlink(&outside, events.join("evil")).unwrap();
    std::os::unix::fs::symlink("../outside/new", events.join("dangling")).unwrap();
    // A symlink that stays inside is followed.
    std::os::unix::fs::symlink("github", events.join("gh")).unwrap();

    for provider in ["evil", "dangling"] {
        let refused = send_seq(&url(&server, &format!("/hooks/{provider}")), 1).await;
        assert_eq!(refused.status, 500, "{}", refused.text());
        let error = refused.error();
        assert!(error.contains("leads outside") && error.contains("refused, nothing written"), "{error}");
    }
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing created or written outside");

    accepted(&url(&server, "/hooks/github"), 2).await;
    accepted(&url(&server, "/hooks/gh"), 3).await;
    assert_eq!(seqs(&events.join("github/events.jsonl")), [2, 3]);

    // An absolute link is not followed even when it points inside, and the
    // answer says which link to make relative.
    std::os::unix::fs::symlink(events.join("github"), events.join("abs")).unwrap();
    let refused = send_seq(&url(&server, "/hooks/abs"), 4).await;
    assert_eq!(refused.status, 500, "{}", refused.text());
    let error = refused.error();
    assert!(error.contains("absolute symlink") && error.contains("make it relative"), "{error}");
    assert_eq!(seqs(&events.join("github/events.jsonl")), [2, 3]);
}

/// Whether `program` can be run; when it cannot, the test is skipped with
/// one line naming the Debian package, or fails under
/// `HOOKROUTE_REQUIRE_SERVERS=1` (CI installs it).
fn have(program: &str, package: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("HOOKROUTE_REQUIRE_SERVERS").as_deref() != Ok("1"),
            "{program} is required (HOOKROUTE_REQUIRE_SERVERS=1): apt-get install {package}"
        );
        eprintln!("skipped: {program} not found (Debian package `{package}`)");
    }
    found
}

/// The real logrotate, default `create` mode with `compress` (which deletes
/// the renamed file right after the rename) and a `postrotate` SIGHUP.
#[tokio::test]
async fn real_logrotate_with_compress_and_sighup() {
    if !have("logrotate", "logrotate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), AUDIT);
    let server = BinaryServer::start(&config, dir.path(), &[]);
    let url = server.url("/audit");
    let file = dir.path().join("events/audit.jsonl");
    accepted(&url, 1).await;
    accepted(&url, 2).await;
    let conf = dir.path().join("logrotate.conf");
    let rules = format!(
        "{} {{\n    rotate 3\n    compress\n    postrotate\n        kill -HUP {}\n    endscript\n}}\n",
        file.display(),
        server.child.id()
    );
    std::fs::write(&conf, rules).unwrap();
    let out = std::process::Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(dir.path().join("logrotate.state"))
        .arg(&conf)
        .output()
        .unwrap();
    assert!(out.status.success(), "logrotate failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!file.exists(), "logrotate moved the file away");
    accepted(&url, 3).await;
    accepted(&url, 4).await;
    assert_eq!(seqs_of(&gunzip(&dir.path().join("events/audit.jsonl.1.gz"))), [1, 2]);
    assert_eq!(seqs(&file), [3, 4], "events after the rotation are in a new file at the path");
}
