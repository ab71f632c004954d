//! `exec` actions with real processes: the server runs small scripts the
//! tests write into their temporary directory, and the tests look at what
//! those scripts saw (argv, env, stdin), what they left behind (pid files,
//! run logs) and what the sender and the admin API are told. No shell ever
//! stands between hookroute and the command, so the hostile payloads below
//! must arrive as plain bytes of one argument each.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use hookroute::app::RunningServer;
use serde_json::{json, Value};

/// Writes an executable script `name` with `text` into `dir`.
fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// python3 prints argv, env and stdin as JSON; it is what the Debian CI
/// image has anyway (tests/docs.rs uses it too), and printing argv exactly
/// is awkward in sh.
const ARGV_JSON: &str = "#!/usr/bin/python3\nimport json, os, sys\nprint(json.dumps({'argv': sys.argv[1:], 'greeting': os.environ.get('GREETING'), 'home': os.environ.get('HOME'), 'event': os.environ.get('HOOKROUTE_EVENT_ID'), 'stdin': sys.stdin.read()}))\n";

fn python_missing() -> bool {
    if Path::new("/usr/bin/python3").exists() {
        return false;
    }
    assert!(
        std::env::var("HOOKROUTE_REQUIRE_SERVERS").as_deref() != Ok("1"),
        "python3 is required (Debian package python3)"
    );
    eprintln!("skipped: /usr/bin/python3 not found (Debian package python3)");
    true
}

/// Waits until `pred` holds, failing the test after [`DEADLINE`].
async fn eventually(what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !pred() {
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// True while `pid` is a live process (a zombie waiting for its parent to
/// reap it has exited: it counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

async fn admin_get(server: &RunningServer, path: &str) -> Value {
    send(client().get(admin_url(server, path))).await.json()
}

// ---------------------------------------------------------------------------
// respond: {from: exec}: the command runs at once and its output is the reply.

#[tokio::test]
async fn hostile_payload_values_arrive_as_single_literal_arguments_and_stdout_is_the_reply() {
    if python_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let argv = script(dir.path(), "argv.py", ARGV_JSON);
    let yaml = format!(
        r#"routes:
  - name: deploy
    path: /hooks/deploy
    respond: {{ from: exec }}
    actions:
      - exec:
          command: [{argv}, "{{{{ json.a }}}}", "{{{{ json.b }}}}", "{{{{ json.c }}}}", "{{{{ json.d }}}}", "{{{{ json.e }}}}", "{{{{ json.f }}}}", "--literal"]
          env: {{ GREETING: "hello {{{{ json.name }}}}" }}
          stdin: body
"#,
        argv = argv.display()
    );
    let (server, _config_dir) = start(&yaml).await;
    let hostile = json!({
        "a": "; rm -rf /",
        "b": "$(touch /tmp/pwned) `id`",
        "c": "line one\nline two",
        "d": "-rf",
        "e": "two words  and\ttabs",
        "f": "",
        "name": "o'brien \"$HOME\"",
    });
    let body = hostile.to_string();
    let answer = post(&url(&server, "/hooks/deploy"), "application/json", body.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), Some("text/plain; charset=utf-8"));
    let seen: Value = serde_json::from_str(answer.text().trim()).unwrap();
    assert_eq!(
        seen["argv"],
        json!([
            "; rm -rf /",
            "$(touch /tmp/pwned) `id`",
            "line one\nline two",
            "-rf",
            "two words  and\ttabs",
            "",
            "--literal"
        ])
    );
    assert_eq!(seen["greeting"], "hello o'brien \"$HOME\"");
    // hookroute's own environment is not passed on.
    assert_eq!(seen["home"], Value::Null);
    assert_eq!(seen["event"].as_str(), answer.header("x-hookroute-event-id"));
    assert_eq!(seen["stdin"], body);
}

#[tokio::test]
async fn a_timeout_kills_the_command_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // The child keeps the output pipe open, as a forgotten background job
    // in a deploy script would.
    let slow = script(
        dir.path(),
        "slow.sh",
        &format!("#!/bin/sh\necho $$ > {d}/leader.pid\nsleep 300 &\necho $! > {d}/child.pid\nwait\n"),
    );
    let yaml = format!(
        "routes:\n  - name: slow\n    path: /hooks/slow\n    respond: {{ from: exec }}\n    actions:\n      - exec: {{ command: [{}], timeout: 500ms }}\n",
        slow.display()
    );
    let (server, _config_dir) = start(&yaml).await;
    let answer = post(&url(&server, "/hooks/slow"), "application/json", "{}").await;
    assert_eq!(answer.status, 504, "{}", answer.text());
    assert!(answer.error().contains("timed out"), "{}", answer.error());
    let pid = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap().trim().parse::<u32>().unwrap();
    let (leader, child) = (pid("leader.pid"), pid("child.pid"));
    eventually("the command's process group is gone", || !alive(leader) && !alive(child)).await;
}

#[tokio::test]
async fn a_failing_command_answers_502_without_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let fail = script(dir.path(), "fail.sh", "#!/bin/sh\necho partial\necho 'secret detail' >&2\nexit 3\n");
    let yaml = format!(
        "routes:\n  - name: f\n    path: /hooks/f\n    respond: {{ from: exec }}\n    actions:\n      - exec: {{ command: [{}] }}\n",
        fail.display()
    );
    let (server, _config_dir) = start(&yaml).await;
    let answer = post(&url(&server, "/hooks/f"), "application/json", "{}").await;
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert!(answer.error().contains("exit status 3"), "{}", answer.error());
    assert!(!answer.text().contains("secret detail"), "{}", answer.text());
}

#[tokio::test]
async fn max_concurrent_one_never_overlaps_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // `mkdir` is atomic: it fails when another run holds the lock.
    let one = script(
        dir.path(),
        "one.sh",
        &format!("#!/bin/sh\nmkdir {d}/lock || echo overlap >> {d}/overlaps\nsleep 0.2\nrmdir {d}/lock\necho run >> {d}/runs\n"),
    );
    let yaml = format!(
        "routes:\n  - name: one\n    path: /hooks/one\n    respond: {{ from: exec }}\n    actions:\n      - exec: {{ command: [{}], max_concurrent: 1 }}\n",
        one.display()
    );
    let (server, _config_dir) = start(&yaml).await;
    let target = url(&server, "/hooks/one");
    let sends = (0..4).map(|_| post(&target, "application/json", "{}"));
    for answer in futures_util::future::join_all(sends).await {
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("runs")).unwrap().lines().count(), 4);
    assert!(!dir.path().join("overlaps").exists(), "two runs overlapped");
}

// ---------------------------------------------------------------------------
// check and explain: the config's mistakes located, the command shown.

#[test]
fn check_rejects_a_relative_or_templated_program_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "routes:\n  - name: d\n    path: /hooks/d\n    actions:\n      - exec: { command: [deploy.sh, x] }\n      - exec: { command: ['/bin/{{ json.x }}'] }\n      - exec: { command: [/bin/true], env: { 'BAD-NAME': x } }\n";
    std::fs::write(dir.path().join("routes.yaml"), yaml).unwrap();
    let (code, _out, err) = run_binary(&["check", "-c", "routes.yaml"], dir.path());
    assert_ne!(code, 0);
    assert!(
        err.contains("routes.yaml:5:") && err.contains("actions[0].exec.command[0]") && err.contains("absolute path"),
        "{err}"
    );
    assert!(err.contains("actions[1].exec.command[0]") && err.contains("not a template"), "{err}");
    assert!(err.contains("actions[2].exec.env.BAD-NAME"), "{err}");
}

#[test]
fn explain_shows_the_argv_env_and_stdin_without_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let yaml = format!(
        "routes:\n  - name: d\n    path: /hooks/d\n    actions:\n      - exec:\n          command: [/usr/bin/touch, {}, \"{{{{ json.ref }}}}\"]\n          env: {{ REF: \"{{{{ json.ref }}}}\" }}\n          stdin: body\n",
        marker.display()
    );
    std::fs::write(dir.path().join("routes.yaml"), yaml).unwrap();
    std::fs::write(dir.path().join("body.json"), r#"{"ref": "; rm -rf / $(id)"}"#).unwrap();
    let (code, out, err) =
        run_binary(&["explain", "-c", "routes.yaml", "--path", "/hooks/d", "--body", "body.json"], dir.path());
    assert_eq!(code, 0, "{err}");
    let argv = format!(r#"argv: ["/usr/bin/touch","{}","; rm -rf / $(id)"]"#, marker.display());
    assert!(out.contains(&argv), "{out}");
    assert!(out.contains("env REF=; rm -rf / $(id)"), "{out}");
    assert!(out.contains("stdin: the request's body"), "{out}");
    assert!(!marker.exists(), "explain ran the command");
}

// ---------------------------------------------------------------------------
// Queued runs: through delivery, with retries and dead letters.

/// Waits until a job of `event` has `status`; returns its full record.
async fn wait_job(server: &RunningServer, event: &str, status: &str) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let list = admin_get(server, "/-/deliveries?limit=500").await;
        let jobs = list["deliveries"].as_array().unwrap().clone();
        if let Some(job) = jobs.iter().find(|j| j["event_id"] == event && j["status"] == status) {
            let id = job["id"].as_str().unwrap();
            return admin_get(server, &format!("/-/deliveries/{id}")).await;
        }
        assert!(Instant::now() < deadline, "event {event}: no job became {status} within {DEADLINE:?}: {jobs:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_queued_run_gets_its_arguments_and_the_body_and_succeeds() {
    if python_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let argv = script(dir.path(), "argv.py", ARGV_JSON);
    let save = script(dir.path(), "save.sh", &format!("#!/bin/sh\n{} \"$@\" > {d}/seen.json\n", argv.display()));
    let yaml = format!(
        "routes:\n  - name: q\n    path: /hooks/q\n    actions:\n      - exec:\n          command: [{}, \"{{{{ json.a }}}}\", \"{{{{ json.b }}}}\"]\n          stdin: body\n",
        save.display()
    );
    let (server, _config_dir) = start(&yaml).await;
    let body = json!({"a": "$(reboot)", "b": "-- --help"}).to_string();
    let answer = post(&url(&server, "/hooks/q"), "application/json", body.clone()).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let id = answer.json()["id"].as_str().unwrap().to_string();
    let job = wait_job(&server, &id, "succeeded").await;
    assert_eq!(job["request"]["kind"], "exec", "{job:#}");
    assert_eq!(job["attempts"][0]["exec"]["exit_code"], 0, "{job:#}");
    let seen: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("seen.json")).unwrap()).unwrap();
    assert_eq!(seen["argv"], json!(["$(reboot)", "-- --help"]));
    assert_eq!(seen["stdin"], body);
    assert_eq!(seen["event"], id.as_str());
}

#[tokio::test]
async fn exit_3_is_retried_then_dead_lettered_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let fail = script(
        dir.path(),
        "fail.sh",
        &format!("#!/bin/sh\necho attempt >> {d}/attempts\necho 'deploy: no such ref' >&2\nexit 3\n"),
    );
    let yaml = format!(
        "routes:\n  - name: f\n    path: /hooks/f\n    actions:\n      - exec:\n          command: [{}]\n          retry: {{ max_attempts: 3, initial_backoff: 20ms, max_backoff: 50ms }}\n",
        fail.display()
    );
    let (server, config_dir) = start(&yaml).await;
    let answer = post(&url(&server, "/hooks/f"), "application/json", "{}").await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let id = answer.json()["id"].as_str().unwrap().to_string();
    let job = wait_job(&server, &id, "dead").await;
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{job:#}");
    for attempt in attempts {
        assert_eq!(attempt["exec"]["exit_code"], 3, "{job:#}");
        assert_eq!(attempt["exec"]["stderr"], "deploy: no such ref\n", "{job:#}");
        assert!(attempt["error"].as_str().unwrap().contains("exit status 3"), "{job:#}");
    }
    assert!(job["dead_reason"].as_str().unwrap().contains("gave up after 3 attempt(s)"), "{job:#}");
    assert_eq!(std::fs::read_to_string(dir.path().join("attempts")).unwrap().lines().count(), 3);

    // The CLI shows the same, for whoever reads the dead letter.
    let admin = server.admin_addr.to_string();
    let job_id = job["id"].as_str().unwrap().to_string();
    let cwd = config_dir.path().to_path_buf();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || run_binary(&["deliveries", "--admin", &admin, "show", &job_id], &cwd))
            .await
            .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("exit code: 3") && out.contains("deploy: no such ref"), "{out}");
}

#[tokio::test]
async fn queued_runs_of_one_action_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let one = script(
        dir.path(),
        "one.sh",
        &format!("#!/bin/sh\nmkdir {d}/lock || echo overlap >> {d}/overlaps\nsleep 0.1\nrmdir {d}/lock\necho run >> {d}/runs\n"),
    );
    let yaml = format!(
        "routes:\n  - name: one\n    path: /hooks/one\n    actions:\n      - exec: {{ command: [{}], max_concurrent: 1 }}\n",
        one.display()
    );
    let (server, _config_dir) = start(&yaml).await;
    let target = url(&server, "/hooks/one");
    let sends = (0..5).map(|i| post(&target, "application/json", format!("{{\"n\": {i}}}")));
    for answer in futures_util::future::join_all(sends).await {
        assert_eq!(answer.status, 202, "{}", answer.text());
    }
    let runs = dir.path().join("runs");
    eventually("five runs", || std::fs::read_to_string(&runs).is_ok_and(|r| r.lines().count() == 5)).await;
    assert!(!dir.path().join("overlaps").exists(), "two runs overlapped");
}

#[tokio::test]
async fn user_runs_the_command_as_that_user_when_hookroute_is_root() {
    if !nix_is_root() {
        eprintln!("skipped: `user:` needs hookroute to run as root (check refuses it otherwise)");
        return;
    }
    let yaml = "routes:\n  - name: who\n    path: /hooks/who\n    respond: { from: exec }\n    actions:\n      - exec: { command: [/usr/bin/id, -u], user: nobody, working_dir: / }\n";
    let (server, _config_dir) = start(yaml).await;
    let answer = post(&url(&server, "/hooks/who"), "application/json", "{}").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.text().trim(), "65534");
}

/// Whether this test process runs as root (hookroute, in the same process,
/// then does too).
fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}
