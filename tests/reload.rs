//! Hot reload, driven the way operators change routes.yaml: in-place writes,
//! editors' write-then-rename, Kubernetes' `..data` symlink swap, SIGHUP and
//! the admin API. Each test observes the new routing through real requests.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hookroute::app::ServeOptions;
use serde_json::{json, Value};

/// Two configs that answer `/hooks/x` differently, so every response says
/// which one routed it.
fn version(v: u8) -> String {
    format!(
        "routes:\n  - name: v{v}\n    path: /hooks/x\n    actions: [{{ log: {{ level: debug }} }}]\n    respond: {{ status: {}, body: v{v} }}\n  - name: only-v{v}\n    path: /only/v{v}\n    actions: [{{ log: {{ level: debug }} }}]\n",
        199 + v
    )
}

async fn start_watching(yaml: &str) -> (hookroute::app::RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), yaml);
    let server = start_with(ServeOptions { config_path: path, watch: true, ..serve_options() }).await.unwrap();
    (server, dir)
}

/// Polls `/hooks/x` until it answers with `body`; fails after 2 seconds,
/// the bound the issue sets for a reload to be observed.
async fn wait_for_version(url: &str, body: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let answer = post(url, "text/plain", "x").await;
        if answer.text() == body {
            return;
        }
        assert!(Instant::now() < deadline, "still answering {:?} 2 s after the change; wanted {body:?}", answer.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn in_place_write_is_picked_up() {
    let (server, dir) = start_watching(&version(1)).await;
    let url = url(&server, "/hooks/x");
    assert_eq!(post(&url, "text/plain", "x").await.text(), "v1");
    // Truncate and rewrite the same inode, as `cat > routes.yaml` does.
    std::fs::write(config_path(dir.path()), version(2)).unwrap();
    wait_for_version(&url, "v2").await;
}

#[tokio::test]
async fn write_temp_then_rename_is_picked_up() {
    let (server, dir) = start_watching(&version(1)).await;
    let url = url(&server, "/hooks/x");
    let tmp = dir.path().join(".routes.yaml.swp");
    std::fs::write(&tmp, version(2)).unwrap();
    std::fs::rename(&tmp, config_path(dir.path())).unwrap();
    wait_for_version(&url, "v2").await;
}

/// Lays out a directory exactly as the kubelet does for a ConfigMap volume:
/// `routes.yaml -> ..data/routes.yaml`, `..data -> ..<timestamp>/`.
fn kubelet_publish(dir: &Path, stamp: &str, yaml: &str) {
    let data_dir = dir.join(format!("..{stamp}"));
    std::fs::create_dir(&data_dir).unwrap();
    std::fs::write(data_dir.join("routes.yaml"), yaml).unwrap();
    let tmp_link = dir.join("..data_tmp");
    std::os::unix::fs::symlink(format!("..{stamp}"), &tmp_link).unwrap();
    // The atomic step: rename the new symlink over `..data`.
    std::fs::rename(&tmp_link, dir.join("..data")).unwrap();
    if !dir.join("routes.yaml").exists() {
        std::os::unix::fs::symlink("..data/routes.yaml", dir.join("routes.yaml")).unwrap();
    }
}

#[tokio::test]
async fn kubernetes_configmap_symlink_swap_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    kubelet_publish(dir.path(), "2026_11_22_18_00_00.000000001", &version(1));
    let options = ServeOptions { config_path: dir.path().join("routes.yaml"), watch: true, ..serve_options() };
    let server = start_with(options).await.unwrap();
    let url = url(&server, "/hooks/x");
    assert_eq!(post(&url, "text/plain", "x").await.text(), "v1");
    kubelet_publish(dir.path(), "2026_11_22_18_05_00.000000002", &version(2));
    // The kubelet then removes the old data directory.
    std::fs::remove_dir_all(dir.path().join("..2026_11_22_18_00_00.000000001")).unwrap();
    wait_for_version(&url, "v2").await;
}

#[tokio::test]
async fn sighup_reloads_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &version(1));
    let server = BinaryServer::start(&path, dir.path(), &[]);
    let url = server.url("/hooks/x");
    assert_eq!(post(&url, "text/plain", "x").await.text(), "v1");
    // Without the watcher's help: write, then signal.
    std::fs::write(&path, version(2)).unwrap();
    let status = std::process::Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    wait_for_version(&url, "v2").await;
    let line = server.wait_for_log(|l| l["message"].as_str().is_some_and(|m| m.starts_with("config reloaded:"))).await;
    let message = line["message"].as_str().unwrap();
    assert!(message.starts_with("config reloaded: 2 routes (+2 added, -2 removed, ~0 changed) in "), "{message}");
    assert_eq!(line["trigger"], "SIGHUP");
}

#[tokio::test]
async fn admin_reload_answers_with_the_outcome() {
    let (server, dir) = start(&version(1)).await;
    let reload_url = admin_url(&server, "/-/reload");
    // Unchanged file: nothing swapped.
    let answer = send(client().post(&reload_url)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["changed"], false);

    let changed = version(1).replace("body: v1", "body: v1-changed")
        + &version(2).split("routes:\n").nth(1).unwrap().replace("path: /hooks/x", "path: /hooks/y");
    write_config(dir.path(), &changed);
    let answer = send(client().post(&reload_url)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["changed"], true);
    assert_eq!(body["added"], json!(["only-v2", "v2"]));
    assert_eq!(body["removed"], json!([]));
    assert_eq!(body["modified"], json!(["v1"]));
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("config reloaded: 4 routes (+2 added, -0 removed, ~1 changed) in "));
    assert_eq!(post(&url(&server, "/hooks/x"), "text/plain", "x").await.text(), "v1-changed");
    assert_eq!(post(&url(&server, "/hooks/y"), "text/plain", "x").await.text(), "v2");
}

#[tokio::test]
async fn a_broken_config_keeps_the_old_routes_serving() {
    let (server, dir) = start_watching(&version(1)).await;
    let url = url(&server, "/hooks/x");
    let config = || async { send(client().get(admin_url(&server, "/-/config"))).await.json() };
    let before = config().await;
    assert_eq!(before["last_reload_error"], Value::Null);
    assert_eq!(before["routes"], 2);

    // 1. A YAML syntax error.
    std::fs::write(config_path(dir.path()), "routes:\n  - name: [broken\n").unwrap();
    let error = wait_for_reload_error(&config).await;
    assert!(error[0].as_str().unwrap().contains("invalid YAML"), "{error:?}");
    assert_eq!(post(&url, "text/plain", "x").await.text(), "v1");
    assert_eq!(config().await["hash"], before["hash"]);

    // 2. Valid YAML, invalid regex: located, and still the old routes.
    let bad_regex = version(2).replace(
        "    actions: [{ log: { level: debug } }]\n    respond",
        "    when: { header: X-A, matches: '(unclosed' }\n    actions: [{ log: { level: debug } }]\n    respond",
    );
    std::fs::write(config_path(dir.path()), &bad_regex).unwrap();
    let error = loop {
        let e = wait_for_reload_error(&config).await;
        if e[0].as_str().unwrap().contains("regex") {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let line = error[0].as_str().unwrap();
    assert!(
        line.contains("routes.yaml:4:") && line.contains("route \"v2\": when[0].matches: invalid regex \"(unclosed\""),
        "{line}"
    );
    assert_eq!(post(&url, "text/plain", "x").await.text(), "v1");
    // The admin API reports the same problem with 422.
    let answer = send(client().post(admin_url(&server, "/-/reload"))).await;
    assert_eq!(answer.status, 422);
    assert!(answer.json()["errors"][0].as_str().unwrap().contains("invalid regex"));

    // 3. Fixing the file recovers, and the error is cleared.
    std::fs::write(config_path(dir.path()), version(2)).unwrap();
    wait_for_version(&url, "v2").await;
    assert_eq!(config().await["last_reload_error"], Value::Null);
}

async fn wait_for_reload_error<F, Fut>(config: &F) -> Vec<Value>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(errors) = config().await["last_reload_error"]["errors"].as_array() {
            return errors.clone();
        }
        assert!(Instant::now() < deadline, "no reload error reported within 2 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn changed_start_only_settings_are_warnings_not_failures() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, moved) = (dir.path().join("queue"), dir.path().join("moved"));
    let yaml = |listen: &str, data_dir: &Path| {
        format!("listen: {listen}\nadmin_listen: 127.0.0.1:0\ndata_dir: {}\n{}", data_dir.display(), version(1))
    };
    let path = write_config(dir.path(), &yaml("127.0.0.1:0", &queue));
    let server = start_with(ServeOptions { config_path: path, ..Default::default() }).await.unwrap();
    let reload = || async { send(client().post(admin_url(&server, "/-/reload"))).await };

    write_config(dir.path(), &yaml("127.0.0.1:1", &moved));
    let answer = reload().await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json()["restart_required"],
        json!([
            format!("listen changed to 127.0.0.1:1 but requires a restart; still listening on {}", server.addr),
            format!("data_dir changed to {} but requires a restart; still using {}", moved.display(), queue.display()),
        ])
    );
    assert_eq!(post(&url(&server, "/hooks/x"), "text/plain", "x").await.text(), "v1");
    assert!(queue.exists() && !moved.exists(), "the queue moved without a restart");

    // Back to the directory in use: nothing left to warn about.
    write_config(dir.path(), &yaml("127.0.0.1:1", &queue));
    assert_eq!(reload().await.json()["restart_required"], json!([]));
}

#[tokio::test]
async fn in_flight_requests_finish_on_the_snapshot_they_started_with() {
    let upstream = Upstream::start_with(
        UpstreamReply::status(200).body("text/plain", "from upstream").delay(Duration::from_millis(600)),
    )
    .await;
    let yaml = format!(
        "routes:\n  - name: slow\n    path: /slow\n    actions: [{{ forward: {{ url: '{}' }} }}]\n    respond: {{ from: forward }}\n",
        upstream.url("/slow")
    );
    let (server, dir) = start(&yaml).await;
    let slow_url = url(&server, "/slow");
    let slow = tokio::spawn(async move { post(&slow_url, "text/plain", "x").await });
    upstream.wait_for(1).await;
    // The route disappears while its request is running.
    write_config(dir.path(), &version(1));
    assert_eq!(send(client().post(admin_url(&server, "/-/reload"))).await.status, 200);
    assert_eq!(post(&url(&server, "/slow"), "text/plain", "x").await.status, 404);
    let answer = slow.await.unwrap();
    assert_eq!((answer.status.as_u16(), answer.text()), (200, "from upstream".to_string()));
}

/// Thousands of requests from concurrent clients while the config flips
/// between two versions at least 20 times: none fails, and each answer is
/// exactly one version's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_load_across_twenty_swaps_loses_nothing() {
    let (server, dir) = start(&version(1)).await;
    let url = Arc::new(url(&server, "/hooks/x"));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (url, stop, counts) = (url.clone(), stop.clone(), counts.clone());
        clients.push(tokio::spawn(async move {
            let http = client();
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match http.post(url.as_str()).body("x").send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body = resp.text().await.unwrap_or_default();
                        match (status, body.as_str()) {
                            (200, "v1") => counts[0].fetch_add(1, Ordering::Relaxed),
                            (201, "v2") => counts[1].fetch_add(1, Ordering::Relaxed),
                            other => {
                                failures.push(format!("{other:?}"));
                                0
                            }
                        };
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
            failures
        }));
    }
    let reload = admin_url(&server, "/-/reload");
    let http = client();
    for swap in 0..24 {
        write_config(dir.path(), &version(if swap % 2 == 0 { 2 } else { 1 }));
        let answer = send(http.post(&reload)).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["changed"], true);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // Keep the load on until several thousand requests have been answered.
    let deadline = Instant::now() + DEADLINE;
    while counts[0].load(Ordering::Relaxed) + counts[1].load(Ordering::Relaxed) < 3000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for c in clients {
        failures.extend(c.await.unwrap());
    }
    let (v1, v2) = (counts[0].load(Ordering::Relaxed), counts[1].load(Ordering::Relaxed));
    assert!(failures.is_empty(), "{} requests failed, e.g. {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert!(v1 + v2 >= 3000, "only {} requests answered", v1 + v2);
    assert!(v1 > 0 && v2 > 0, "both versions must have served: v1={v1} v2={v2}");
}
