//! The admin API against a browser on the operator's machine (issue 21,
//! item 8): DNS rebinding (a foreign `Host`), cross-site POSTs (a foreign
//! `Origin`, no `X-Hookroute-Request`), and credentials in forward URLs
//! shown by the admin API and the CLI. The real server on loopback ports.

mod common;

use common::*;
use http::StatusCode;
use serde_json::json;

/// A client as a browser's request arrives: without the anti-CSRF header
/// that [`common::client`] adds.
fn bare_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(DEADLINE).build().unwrap()
}

fn raw(method: &str, path: &str, host: &str, extra: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

const ROUTES: &str = "routes:\n  - name: a\n    path: /a\n    actions: [ { log: {} } ]\n";

#[tokio::test]
async fn cross_site_posts_are_refused_and_the_cli_header_passes() {
    let (server, _dir) = start(ROUTES).await;
    let reload = admin_url(&server, "/-/reload");
    // What a form or a no-cors fetch on any page can send.
    let a = send(bare_client().post(&reload)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    assert!(a.error().contains("X-Hookroute-Request: 1"), "{}", a.error());
    let a = send(bare_client().post(admin_url(&server, "/-/deliveries/retry?status=dead"))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // A foreign Origin is refused even with the header (a non-browser
    // client that copies a page's Origin, or a browser bug).
    let a =
        send(bare_client().post(&reload).header("x-hookroute-request", "1").header("origin", "https://evil.example"))
            .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.error().contains("another origin (https://evil.example)"), "{}", a.error());
    // Reads need no header; the header makes a POST pass.
    assert_eq!(send(bare_client().get(admin_url(&server, "/-/config"))).await.status, StatusCode::OK);
    let a = send(bare_client().post(&reload).header("x-hookroute-request", "1")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let a = send(
        bare_client()
            .post(&reload)
            .header("x-hookroute-request", "1")
            .header("origin", format!("http://{}", server.admin_addr)),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "same origin: {}", a.text());
}

#[tokio::test]
async fn a_foreign_host_is_refused_on_every_admin_endpoint() {
    let yaml = format!("admin_allowed_hosts: [admin.internal]\n{ROUTES}");
    let (server, _dir) = start(&yaml).await;
    let port = server.admin_addr.port();
    // DNS rebinding: evil.example now resolves to 127.0.0.1, the browser
    // still says which name it asked for.
    for path in ["/-/deliveries", "/-/config", "/-/healthz"] {
        let a = raw_http(server.admin_addr, &raw("GET", path, &format!("evil.example:{port}"), "")).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.text());
        assert!(a.text().contains("admin_allowed_hosts"), "{}", a.text());
    }
    let a = raw_http(server.admin_addr, &raw("POST", "/-/reload", "evil.example", "X-Hookroute-Request: 1\r\n")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // The listener's address, loopback names and the allowed name pass.
    for host in [server.admin_addr.to_string(), format!("localhost:{port}"), "admin.internal".into()] {
        let a = raw_http(server.admin_addr, &raw("GET", "/-/config", &host, "")).await;
        assert_eq!(a.status, StatusCode::OK, "{host}: {}", a.text());
    }
}

#[tokio::test]
async fn credentials_in_forward_urls_are_redacted_in_admin_answers_and_cli_output() {
    let up = Upstream::start_with(UpstreamReply::status(400)).await;
    let target = up.url("/x").replace("http://", "http://hook-user:hunter2@") + "?api_key=sekrit-key&v=1";
    let yaml = format!("routes:\n  - name: a\n    path: /a\n    actions:\n      - forward: {{ url: \"{target}\" }}\n");
    let (server, dir) = start(&yaml).await;
    assert_eq!(post_json(&url(&server, "/a"), &json!({})).await.status, StatusCode::ACCEPTED);
    // The credentials still travel to the destination.
    let got = up.wait_for(1).await;
    assert_eq!(got[0].query.as_deref(), Some("api_key=sekrit-key&v=1"));
    assert!(got[0].header("authorization").is_some_and(|a| a.starts_with("Basic ")));
    let list = loop {
        let list = send(client().get(admin_url(&server, "/-/deliveries?status=dead"))).await;
        if list.json()["deliveries"].as_array().is_some_and(|d| !d.is_empty()) {
            break list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let job_id = list.json()["deliveries"][0]["id"].as_str().unwrap().to_string();
    let show = send(client().get(admin_url(&server, &format!("/-/deliveries/{job_id}")))).await;
    let admin = server.admin_addr.to_string();
    let cwd = dir.path().to_path_buf();
    let cli = tokio::task::spawn_blocking(move || {
        let list = run_binary(&["deliveries", "--admin", &admin, "list"], &cwd);
        let show = run_binary(&["deliveries", "--admin", &admin, "show", &job_id], &cwd);
        let retry = run_binary(&["deliveries", "--admin", &admin, "retry", &job_id], &cwd);
        [list, show, retry]
    })
    .await
    .unwrap();
    let shown = [list.text(), show.text(), cli[0].1.clone(), cli[1].1.clone()];
    for text in &shown {
        assert!(!text.contains("hunter2") && !text.contains("sekrit-key"), "a credential is shown:\n{text}");
        assert!(text.contains("hook-user:***@127.0.0.1"), "the URL is still recognisable:\n{text}");
    }
    // The CLI's POST (which carries the anti-CSRF header) still works.
    let (code, out, err) = &cli[2];
    assert_eq!(*code, 0, "{err}");
    assert!(out.starts_with("1 delivery"), "{out}");
    up.wait_for(2).await;
}
