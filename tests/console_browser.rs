//! The web console in a real browser (issue #15): headless Chromium driven
//! over WebDriver against the real server, a real upstream and real
//! webhooks. What an operator does — log in, find the four requests in the
//! list, read why one was ignored, retry a dead letter, preview a config
//! change — and what an attacker tries: a body and a header carrying
//! markup, shown as text and never run.
//!
//! Screenshots of each page go to `target/console-screenshots/`. Skipped
//! with one line when chromium or chromedriver is missing (see
//! `common/browser.rs`).

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::{Duration, Instant};

use browser::Browser;
use common::*;
use hookroute::app::RunningServer;
use serde_json::{json, Value};

const TOKEN: &str = "console-test-token";

/// `orders` forwards opened orders (one attempt, so a failure is a dead
/// letter at once); `signed` wants a bearer token.
fn config(upstream: &str, wanted: &str) -> String {
    format!(
        "admin_token: {TOKEN}\nroutes:\n  - name: orders\n    path: /hooks/orders\n    when: {{ json: $.action, equals: {wanted} }}\n    actions:\n      - forward:\n          url: {upstream}\n          retry: {{ max_attempts: 1 }}\n  - name: signed\n    path: /hooks/signed\n    verify: {{ bearer: {{ tokens: [s3cret] }} }}\n    actions: [ {{ log: {{}} }} ]\n"
    )
}

/// An admin API GET with the token.
async fn admin_get(server: &RunningServer, path: &str) -> Value {
    send(client().get(admin_url(server, path)).bearer_auth(TOKEN)).await.json()
}

/// Waits until the event log lists `n` events (it is written in the
/// background); returns them, newest first.
async fn wait_events(server: &RunningServer, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let page = admin_get(server, "/-/events").await;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.len() >= n {
            return events;
        }
        assert!(Instant::now() < deadline, "the event log did not list {n} events within {DEADLINE:?}: {page:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until event `id` has a dead delivery.
async fn wait_dead(server: &RunningServer, id: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let list = admin_get(server, &format!("/-/deliveries?status=dead&event={id}")).await;
        if list["deliveries"].as_array().is_some_and(|d| !d.is_empty()) {
            return;
        }
        assert!(Instant::now() < deadline, "event {id} has no dead delivery within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Logs in through the form.
async fn log_in(b: &Browser, server: &RunningServer, token: &str) {
    b.goto(&admin_url(server, "/login")).await;
    let field = b.find("#token").await;
    field.send_keys(token).await.expect("type the token");
    b.find("#login button[type=submit]").await.click().await.expect("press log in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_every_outcome_reads_why_retries_and_previews() {
    let Some((chromium, chromedriver)) = browser::chromium("console_browser") else { return };
    let up = Upstream::start().await;
    let (server, _dir) = start(&config(&up.url("/orders"), "opened")).await;

    // Four webhooks: taken, ignored, refused by its signature, dead-lettered.
    let taken = post_json(&url(&server, "/hooks/orders"), &json!({"action": "opened", "n": 1})).await;
    assert_eq!(taken.status, 202, "{}", taken.text());
    up.wait_for(1).await;
    let ignored = post_json(&url(&server, "/hooks/orders"), &json!({"action": "closed", "n": 2})).await;
    assert_eq!(ignored.status, 202, "{}", ignored.text());
    let ignored_id = ignored.json()["id"].as_str().expect("an event id").to_string();
    let rejected = post_json(&url(&server, "/hooks/signed"), &json!({"n": 3})).await;
    assert_eq!(rejected.status, 401, "{}", rejected.text());
    up.set_reply(UpstreamReply::status(500));
    let dead = post_json(&url(&server, "/hooks/orders"), &json!({"action": "opened", "n": 4})).await;
    assert_eq!(dead.status, 202, "{}", dead.text());
    let dead_id = dead.json()["id"].as_str().expect("an event id").to_string();
    wait_dead(&server, &dead_id).await;
    wait_events(&server, 4).await;

    let b = Browser::start(&chromium, &chromedriver).await;

    // Refused without the token, and with a wrong one.
    b.goto(&admin_url(&server, "/events")).await;
    b.find("#login").await;
    assert!(b.all("#events").await.is_empty(), "the list was shown without logging in");
    b.screenshot("login").await;
    log_in(&b, &server, "not-the-token").await;
    assert!(b.text("#login-problem").await.contains("not the admin token"));
    assert!(b.all("#events").await.is_empty());

    // In with the token: a cookie the page's scripts cannot read.
    log_in(&b, &server, TOKEN).await;
    b.find("#events").await;
    let cookies = b.client.get_all_cookies().await.expect("read cookies");
    let cookie = cookies.iter().find(|c| c.name() == "hookroute_console").expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    assert!(!cookie.value().contains(TOKEN), "the cookie must not be the token");

    // All four, each with its outcome.
    let mut outcomes = Vec::new();
    for row in b.all("#events tbody tr[data-event]").await {
        let class = row.attr("class").await.ok().flatten().unwrap_or_default();
        let id = row.attr("data-event").await.ok().flatten().unwrap_or_default();
        outcomes.push((id, class));
    }
    let outcome_of = |id: &str| outcomes.iter().find(|(i, _)| i == id).map(|(_, c)| c.clone());
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert_eq!(outcome_of(&ignored_id).as_deref(), Some("outcome-ignored"));
    assert_eq!(outcome_of(&dead_id).as_deref(), Some("outcome-taken"));
    assert_eq!(outcomes.iter().filter(|(_, c)| c == "outcome-taken").count(), 2, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|(_, c)| c == "outcome-rejected").count(), 1, "{outcomes:?}");
    b.screenshot("events").await;

    // The ignored one: the condition that was false, and the value it saw.
    b.find(&format!("#events a[href='/events/{ignored_id}']")).await.click().await.expect("open the event");
    let row = b.text(".candidate.not-taken table.conditions tr.false").await;
    assert!(row.contains("$.action"), "{row}");
    assert!(row.contains("\"closed\""), "the value seen: {row}");
    assert!(b.text("#body").await.contains("\"closed\""));
    b.screenshot("event-ignored").await;

    // The deliveries page counts the dead letter; a bulk retry says how
    // many jobs it will touch before it runs (cancelled here).
    b.goto(&admin_url(&server, "/deliveries")).await;
    let group = b.text("#groups tbody tr").await;
    assert!(group.contains("orders") && group.contains(&up.addr.to_string()), "{group}");
    assert!(b.text("#dead").await.contains(&dead_id));
    b.screenshot("deliveries").await;
    b.find("#retry-all").await.click().await.expect("press retry all");
    assert!(b.text("#confirm-count").await.contains("give 1 dead delivery"), "{}", b.source().await);
    b.screenshot("retry-confirm").await;
    b.find("#confirm-count + form a").await.click().await.expect("cancel");
    b.find("#groups").await;
    assert_eq!(up.count(), 2, "nothing was retried before the confirmation");

    // The dead letter, retried from its event with the upstream healthy again.
    up.set_reply(UpstreamReply::status(200));
    b.goto(&admin_url(&server, &format!("/events/{dead_id}"))).await;
    assert!(b.text(".job").await.contains("dead"));
    b.screenshot("event-dead").await;
    b.find("#retry-dead").await.click().await.expect("press retry");
    assert!(b.text("#notice").await.contains("1 dead delivery was given a new round"));
    let received = up.wait_for(3).await;
    assert_eq!(received.last().expect("the retried request").json(), json!({"action": "opened", "n": 4}));

    // The routes page with the counts of what happened.
    b.goto(&admin_url(&server, "/routes")).await;
    assert!(b.text("#routes").await.contains("orders"));
    b.screenshot("routes").await;

    // A changed config previewed against those events: closed orders now
    // taken, opened ones not.
    b.goto(&admin_url(&server, "/preview")).await;
    let text = b.find("#config").await;
    text.clear().await.expect("clear the text box");
    text.send_keys(&config(&up.url("/orders"), "closed")).await.expect("paste the config");
    b.find("#run-preview").await.click().await.expect("press preview");
    let summary = b.text("#summary").await;
    assert!(summary.starts_with("3 of "), "{summary}");
    let changed = b.text(&format!("#changes tr[data-event='{ignored_id}']")).await;
    assert!(changed.contains("routes"), "{changed}");
    assert_eq!(b.text(&format!("#changes tr[data-event='{ignored_id}'] .new-routes")).await, "orders");
    b.screenshot("preview").await;
    let before = up.count();

    // A config that does not compile: its problems, with their lines.
    let text = b.find("#config").await;
    text.clear().await.expect("clear the text box");
    text.send_keys("routes:\n  - name: x\n    path: /x\n    actions: [ { nope: {} } ]\n").await.expect("paste");
    b.find("#run-preview").await.click().await.expect("press preview");
    let errors = b.text("#config-errors").await;
    assert!(errors.contains("routes.yaml:4:18") && errors.contains("unknown key `nope`"), "{errors}");
    b.screenshot("preview-errors").await;
    assert_eq!(up.count(), before, "a preview sends nothing");

    // Logging out ends the session.
    b.find(".logout button").await.click().await.expect("log out");
    b.find("#login").await;
    b.goto(&admin_url(&server, "/events")).await;
    b.find("#login").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_body_or_header_is_shown_as_text_and_runs_nothing() {
    let Some((chromium, chromedriver)) = browser::chromium("console_browser") else { return };
    let up = Upstream::start().await;
    let (server, _dir) = start(&config(&up.url("/orders"), "opened")).await;
    let script = "<script>document.title='pwned'; document.body.dataset.pwned = 1</script>";
    let header = "\"><img src=x onerror=\"document.title='pwned'; document.body.dataset.pwned = 1\">";
    let answer = send(
        client()
            .post(url(&server, "/hooks/orders"))
            .header("content-type", "application/json")
            .header("x-note", header)
            .body(json!({"action": script}).to_string()),
    )
    .await;
    let id = answer.json()["id"].as_str().expect("an event id").to_string();
    wait_events(&server, 1).await;

    let b = Browser::start(&chromium, &chromedriver).await;
    log_in(&b, &server, TOKEN).await;
    b.find("#events").await;
    b.goto(&admin_url(&server, &format!("/events/{id}"))).await;
    assert!(b.text("#body").await.contains(script), "the body is shown as its text");
    assert!(b.text("#headers").await.contains(header), "the header is shown as its text");
    assert!(b.all("#headers img, #body script, main img").await.is_empty(), "markup became elements");
    let title = b.client.title().await.expect("the title");
    assert!(!title.contains("pwned"), "a script ran: {title}");
    let marker = b.client.execute("return document.body.dataset.pwned || null", vec![]).await.expect("run");
    assert_eq!(marker, Value::Null, "a script ran");
    // The list and the preview show the same text without running it.
    b.goto(&admin_url(&server, &format!("/events?text={}", "document.title"))).await;
    b.find("#events").await;
    assert!(!b.client.title().await.expect("the title").contains("pwned"));
    b.goto(&admin_url(&server, "/preview")).await;
    let text = b.find("#config").await;
    text.clear().await.expect("clear");
    text.send_keys(&format!("routes: []\n# </textarea>{script}\n")).await.expect("paste");
    b.find("#run-preview").await.click().await.expect("press preview");
    b.find("#summary, #config-errors").await;
    assert!(!b.client.title().await.expect("the title").contains("pwned"));
    assert_eq!(b.client.execute("return document.body.dataset.pwned || null", vec![]).await.expect("run"), Value::Null);
    b.screenshot("xss").await;
    b.close().await;
}
