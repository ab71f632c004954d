//! The event log (issue #15) through the real server, a real upstream and
//! the admin API: every request that reached the router is listed with
//! what became of it and why, can be replayed, and a changed config can be
//! previewed against it.

mod common;
#[path = "common/nats.rs"]
mod nats;

use std::time::Instant;

use common::*;
use serde_json::{json, Value};

/// Routes for each outcome: `push` takes only `X-GitHub-Event: push`;
/// `signed` needs a GitHub signature; `once` deduplicates on `$.id`;
/// `dead` forwards to an upstream that fails, once.
fn config(up: &Upstream, extra: &str) -> String {
    format!(
        "{extra}routes:
  - name: push
    path: /gh
    when: {{ header: X-GitHub-Event, equals: push }}
    actions: [ {{ forward: {{ url: {push} }} }} ]
  - name: signed
    path: /signed
    verify: {{ github: {{ secret: not-a-real-secret }} }}
    actions: [ {{ log: {{}} }} ]
  - name: once
    path: /once
    dedup: {{ json: $.id, window: 1h }}
    actions: [ {{ log: {{}} }} ]
  - name: dead
    path: /dead
    actions:
      - forward:
          url: {dead}
          retry: {{ max_attempts: 1 }}
",
        push = up.url("/push"),
        dead = up.url("/fail"),
    )
}

async fn events(server: &hookroute::app::RunningServer, query: &str) -> Value {
    let answer = send(client().get(admin_url(server, &format!("/-/events{query}")))).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

async fn event(server: &hookroute::app::RunningServer, id: &str) -> Value {
    let answer = send(client().get(admin_url(server, &format!("/-/events/{id}")))).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

async fn gh(server: &hookroute::app::RunningServer, kind: &str, body: Value) -> Answer {
    send(
        client()
            .post(url(server, "/gh"))
            .header("x-github-event", kind)
            .header("authorization", "Bearer hush")
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn each_outcome_is_listed_with_what_became_of_it_and_why() {
    let up = Upstream::start().await;
    let (server, _dir) = start(&config(&up, "")).await;

    let taken = gh(&server, "push", json!({"ref": "main"})).await;
    assert_eq!(taken.status, 202);
    let taken_id = taken.json()["id"].as_str().unwrap().to_string();
    let ignored = gh(&server, "issues", json!({"action": "opened"})).await;
    assert_eq!(ignored.status, 202);
    let ignored_id = ignored.json()["id"].as_str().unwrap().to_string();
    let forged =
        send(client().post(url(&server, "/signed")).header("x-hub-signature-256", "sha256=00").body("{}")).await;
    assert_eq!(forged.status, 401);
    let first = post_json(&url(&server, "/once"), &json!({"id": "evt_1"})).await;
    let again = post_json(&url(&server, "/once"), &json!({"id": "evt_1"})).await;
    assert_eq!(first.json()["id"], again.json()["id"]);
    up.wait_for(1).await;

    let list = events(&server, "").await;
    let rows = list["events"].as_array().unwrap();
    let kinds: Vec<&str> = rows.iter().map(|e| e["outcome"]["kind"].as_str().unwrap()).collect();
    // Newest first.
    assert_eq!(kinds, ["deduplicated", "taken", "rejected", "ignored", "taken"], "{list:#}");
    assert_eq!(rows[0]["outcome"]["original"], first.json()["id"]);
    assert_eq!(rows[2]["outcome"]["status"], 401);
    assert_eq!(rows[2]["status"], 401);
    assert_eq!(rows[4]["id"], taken_id.as_str());
    assert_eq!(rows[4]["routes"], json!(["push"]));

    // The ignored one says which condition was false and what it saw.
    let detail = event(&server, &ignored_id).await;
    let candidate = &detail["event"]["decision"][0];
    assert_eq!(candidate["route"], "push");
    assert_eq!(candidate["taken"], false);
    let leaf = &candidate["conditions"][0];
    assert_eq!(leaf["result"], false);
    assert_eq!(leaf["subject"], "header x-github-event");
    assert_eq!(leaf["values"][0]["value"], "issues");
    // Credentials hidden, the body kept.
    let headers = detail["event"]["headers"].as_array().unwrap();
    assert!(headers.contains(&json!(["authorization", "***"])), "{headers:?}");
    assert!(detail["event"]["body"]["data"].as_str().unwrap().contains("opened"));

    // The taken one shows its forward and the job's attempt.
    let detail = event(&server, &taken_id).await;
    assert_eq!(detail["event"]["actions"][0]["result"], "queued");
    assert_eq!(detail["event"]["actions"][0]["rendered"]["url"], up.url("/push"));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let detail = event(&server, &taken_id).await;
        if detail["jobs"][0]["status"] == "succeeded" {
            assert_eq!(detail["jobs"][0]["attempts"][0]["status"], 200);
            break;
        }
        assert!(Instant::now() < deadline, "the job never succeeded: {detail:#}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_dead_lettered_event_shows_its_dead_job() {
    let up = Upstream::start_with(UpstreamReply::status(500)).await;
    let (server, _dir) = start(&config(&up, "")).await;
    let answer = post_json(&url(&server, "/dead"), &json!({"n": 1})).await;
    assert_eq!(answer.status, 202);
    let id = answer.json()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let detail = event(&server, &id).await;
        assert_eq!(detail["event"]["outcome"]["kind"], "taken");
        if detail["jobs"][0]["status"] == "dead" {
            assert_eq!(detail["jobs"][0]["attempts"][0]["status"], 500);
            break;
        }
        assert!(Instant::now() < deadline, "the job never died: {detail:#}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bodies_false_keeps_metadata_only() {
    let up = Upstream::start().await;
    let (server, _dir) = start(&config(&up, "event_log: { bodies: false }\n")).await;
    let answer = gh(&server, "push", json!({"secret-ish": "payload"})).await;
    let id = answer.json()["id"].as_str().unwrap().to_string();
    let detail = event(&server, &id).await;
    assert!(detail["event"].get("body").is_none(), "{detail:#}");
    assert_eq!(detail["event"]["path"], "/gh");
    // Without its body it cannot be sent again as received.
    let replay = send(client().post(admin_url(&server, &format!("/-/events/{id}/replay")))).await;
    assert_eq!(replay.status, 409, "{}", replay.text());
}

#[tokio::test]
async fn the_log_is_pruned_to_max_events_and_filters_and_pages() {
    let up = Upstream::start().await;
    let (server, _dir) = start(&config(&up, "event_log: { max_events: 5 }\n")).await;
    for n in 0..8 {
        let kind = if n % 2 == 0 { "push" } else { "issues" };
        gh(&server, kind, json!({"n": n, "marker": format!("m{n}")})).await;
    }
    let all = events(&server, "?limit=100").await;
    assert_eq!(all["events"].as_array().unwrap().len(), 5, "{all:#}");
    let ignored = events(&server, "?outcome=ignored").await;
    assert!(ignored["events"].as_array().unwrap().iter().all(|e| e["outcome"]["kind"] == "ignored"));
    let text = events(&server, "?text=m7").await;
    assert_eq!(text["events"].as_array().unwrap().len(), 1, "{text:#}");
    let routed = events(&server, "?route=push").await;
    assert!(routed["events"].as_array().unwrap().iter().all(|e| e["routes"] == json!(["push"])));

    // Pages of two, newest first, through the cursor.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let page = events(&server, &query).await;
        seen.extend(page["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=2&cursor={c}"),
            None => break,
        }
    }
    let ids: Vec<String> =
        all["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(seen, ids);
    let bad = send(client().get(admin_url(&server, "/-/events?outcome=lost"))).await;
    assert_eq!(bad.status, 400);
    assert!(bad.error().contains("outcome"), "{}", bad.text());
}

#[tokio::test]
async fn a_replay_is_a_new_linked_event_and_reaches_the_upstream_again() {
    let up = Upstream::start().await;
    let (server, _dir) = start(&config(&up, "")).await;
    let answer = gh(&server, "push", json!({"ref": "main"})).await;
    let id = answer.json()["id"].as_str().unwrap().to_string();
    up.wait_for(1).await;
    let replay = send(client().post(admin_url(&server, &format!("/-/events/{id}/replay")))).await;
    assert_eq!(replay.status, 200, "{}", replay.text());
    let replayed = replay.json();
    assert_eq!(replayed["replay_of"], id.as_str());
    assert_eq!(replayed["status"], 202);
    assert_ne!(replayed["id"], id.as_str());
    let got = up.wait_for(2).await;
    assert_eq!(got[1].json(), json!({"ref": "main"}));
    let linked = events(&server, &format!("?replay_of={id}")).await;
    assert_eq!(linked["events"][0]["id"], replayed["id"], "{linked:#}");
    let missing = send(client().post(admin_url(&server, "/-/events/01ARZ3NDEKTSV4RRFFQ69G5FAV/replay"))).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn preview_shows_a_changed_route_and_refuses_a_broken_config_with_its_line() {
    let up = Upstream::start().await;
    let (server, dir) = start(&config(&up, "")).await;
    gh(&server, "push", json!({"ref": "main"})).await;
    gh(&server, "issues", json!({"action": "opened"})).await;

    // The new config takes `issues` too.
    let changed = config(&up, "").replace("equals: push", "in: [push, issues]");
    let answer = send(client().post(admin_url(&server, "/-/preview?events=10")).body(changed.clone())).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let report = answer.json();
    assert_eq!(report["compared"], 2, "{report:#}");
    assert_eq!(report["changed"], 1, "{report:#}");
    let change = &report["events"][0];
    // The 202 names the routes taken, so the reply changes too.
    assert_eq!(change["changes"], json!(["routes", "reply", "actions"]), "{report:#}");
    assert_eq!(change["live"]["routes"], json!([]));
    assert_eq!(change["new"]["routes"], json!(["push"]));

    let broken = "routes:\n  - name: x\n    path: /x\n    actions: [ { forward: { url: 12 } } ]\n";
    let answer = send(client().post(admin_url(&server, "/-/preview")).body(broken)).await;
    assert_eq!(answer.status, 422, "{}", answer.text());
    let errors = answer.json()["errors"].to_string();
    assert!(errors.contains(":4:"), "the problem is located on line 4: {errors}");

    // The CLI: 0 unchanged, 3 when anything changes, 1 when it does not compile.
    let admin = server.admin_addr.to_string();
    let same = dir.path().join("same.yaml");
    std::fs::write(&same, config(&up, "")).unwrap();
    let new = dir.path().join("new.yaml");
    std::fs::write(&new, &changed).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, broken).unwrap();
    let run = |file: std::path::PathBuf| {
        let (admin, cwd) = (admin.clone(), dir.path().to_path_buf());
        tokio::task::spawn_blocking(move || {
            run_binary(&["preview", "-c", file.to_str().unwrap(), "--admin", &admin], &cwd)
        })
    };
    let (code, out, err) = run(same).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(new).await.unwrap();
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("push"), "{out}");
    let (code, out, err) = run(bad).await.unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains(":4:"), "{err}");
}

/// With `store: jetstream:` the log is one stream: two servers sharing a
/// nats-server each list the other's events, and prune to `max_events`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_jetstream_see_each_others_events() {
    let Some(bin) = nats::nats_server("two_servers_on_one_jetstream_see_each_others_events") else { return };
    let nats = nats::Nats::single(&bin);
    let up = Upstream::start().await;
    let store = format!("store:\n  jetstream:\n    servers: [{}]\n    stream: evlog\n", nats.url());
    let yaml = config(&up, &format!("{store}event_log: {{ max_events: 3 }}\n"));
    let (a, _da) = start(&yaml).await;
    let (b, _db) = start(&yaml).await;
    let on_a = gh(&a, "push", json!({"from": "a"})).await.json()["id"].as_str().unwrap().to_string();
    let on_b = gh(&b, "issues", json!({"from": "b"})).await.json()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (la, lb) = (events(&a, "").await, events(&b, "").await);
        let ids = |l: &Value| -> Vec<String> {
            l["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
        };
        if [&la, &lb].iter().all(|l| ids(l).contains(&on_a) && ids(l).contains(&on_b)) {
            break;
        }
        assert!(Instant::now() < deadline, "each server should list both events: {la:#} {lb:#}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let detail = event(&a, &on_b).await;
    assert_eq!(detail["event"]["outcome"]["kind"], "ignored");
    for n in 0..5 {
        gh(&a, "push", json!({"n": n})).await;
    }
    let deadline = Instant::now() + DEADLINE;
    loop {
        let all = events(&b, "?limit=100").await;
        if all["events"].as_array().unwrap().len() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the stream keeps max_events: {all:#}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
