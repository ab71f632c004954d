//! The console's protection, seen over plain HTTP (issue #15): refused
//! without the admin token, a login cookie that is not the token, a CSRF
//! token on every state-changing form, foreign origins refused, and the
//! headers that keep a page from running anything but its own script. The
//! browser tests (`console_browser.rs`) show the same pages in Chromium.

mod common;

use common::*;
use hookroute::app::RunningServer;
use serde_json::json;

const TOKEN: &str = "pages-test-token";

async fn server() -> (RunningServer, tempfile::TempDir) {
    start(&format!("admin_token: {TOKEN}\nroutes:\n  - name: o\n    path: /o\n    actions: [ {{ log: {{}} }} ]\n"))
        .await
}

/// A client with no default headers (the shared one sends the CLI's
/// anti-CSRF header, which a browser's form cannot).
fn browser_like() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(DEADLINE)
        .build()
        .expect("a client")
}

/// `fields` as an `application/x-www-form-urlencoded` body, as a form sends.
fn form(request: reqwest::RequestBuilder, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    request.header("content-type", "application/x-www-form-urlencoded").body(body)
}

/// Logs in; returns the `name=value` of the session cookie.
async fn log_in(server: &RunningServer) -> String {
    let answer = send(form(browser_like().post(admin_url(server, "/login")), &[("token", TOKEN)])).await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    assert_eq!(answer.header("location"), Some("/events"));
    let cookie = answer.header("set-cookie").expect("a session cookie").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(TOKEN), "the cookie holds the token: {cookie}");
    cookie.split(';').next().unwrap_or_default().to_string()
}

/// The CSRF token a page's forms carry.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..].split('"').next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn pages_need_the_token_and_carry_a_strict_policy() {
    let (server, _dir) = server().await;
    for path in ["/events", "/deliveries", "/routes", "/preview", "/events/01ABC", "/"] {
        let answer = send(browser_like().get(admin_url(&server, path))).await;
        assert_eq!(answer.status, 401, "GET {path}: {}", answer.text());
        assert!(answer.text().contains("id=\"login\""), "GET {path} shows the login form");
        assert!(answer.header("content-security-policy").unwrap_or_default().contains("default-src 'none'"));
    }
    let wrong = send(form(browser_like().post(admin_url(&server, "/login")), &[("token", "nope")])).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());

    // The bearer header opens the pages too; the cookie does not open the API.
    let page = send(browser_like().get(admin_url(&server, "/routes")).bearer_auth(TOKEN)).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let csp = page.header("content-security-policy").expect("a policy");
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let cookie = log_in(&server).await;
    let api = send(browser_like().get(admin_url(&server, "/-/events")).header("cookie", &cookie)).await;
    assert_eq!(api.status, 401, "{}", api.text());
    let events = send(browser_like().get(admin_url(&server, "/events")).header("cookie", &cookie)).await;
    assert_eq!(events.status, 200, "{}", events.text());
    // A page whose name was re-pointed at the listener (DNS rebinding) is
    // refused before any session is looked at.
    let rebound = send(
        browser_like().get(admin_url(&server, "/events")).header("cookie", &cookie).header("host", "evil.example"),
    )
    .await;
    assert_eq!(rebound.status, 403, "{}", rebound.text());
    let js = send(browser_like().get(admin_url(&server, "/assets/console.js"))).await;
    assert_eq!(js.status, 200, "assets need no session");
    server.shutdown().await;
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_the_same_origin() {
    let (server, _dir) = server().await;
    let accepted = post_json(&url(&server, "/o"), &json!({"n": 1})).await;
    let id = accepted.json()["id"].as_str().expect("an event id").to_string();
    let cookie = log_in(&server).await;
    let page = send(browser_like().get(admin_url(&server, "/deliveries/retry")).header("cookie", &cookie)).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("no dead deliveries"), "{}", page.text());
    let events = send(browser_like().get(admin_url(&server, "/events")).header("cookie", &cookie)).await;
    let csrf = csrf_of(&events.text());
    let replay = admin_url(&server, &format!("/events/{id}/replay"));

    // No token, a wrong one: refused, nothing replayed.
    for fields in [vec![], vec![("csrf", "0123")]] {
        let answer = send(form(browser_like().post(&replay).header("cookie", &cookie), &fields)).await;
        assert_eq!(answer.status, 403, "{}", answer.text());
    }
    // The right token from a foreign page: refused at the door.
    let foreign = send(form(
        browser_like().post(&replay).header("cookie", &cookie).header("origin", "https://evil.example"),
        &[("csrf", csrf.as_str())],
    ))
    .await;
    assert_eq!(foreign.status, 403, "{}", foreign.text());
    assert!(!csrf.is_empty() && !csrf.contains(TOKEN));

    // The right token, same origin: done, and the new event is shown.
    let origin = format!("http://{}", server.admin_addr);
    let done = send(form(
        browser_like().post(&replay).header("cookie", &cookie).header("origin", &origin),
        &[("csrf", csrf.as_str())],
    ))
    .await;
    assert_eq!(done.status, 303, "{}", done.text());
    let location = done.header("location").expect("where the new event is").to_string();
    assert!(location.starts_with("/events/") && !location.ends_with(&id), "{location}");
    server.shutdown().await;
}
