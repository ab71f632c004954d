//! Bodies as real senders send them (issue 19, kind 1; issue 21, item 2):
//! a UTF-8 BOM (SharePoint), `Content-Encoding` gzip/deflate/br, a gzip
//! bomb, an unknown coding, empty test pings, an ISO-8859-1 form, JSON sent
//! as a form (`curl -d`) or as `text/plain` (AWS SNS).
//!
//! Each request goes, with the exact same bytes, to the running server, to
//! `hookroute explain --format json` and to `hookroute test`; the three must
//! agree on the routes taken, the status and the reply. Forwards must carry
//! the bytes received, `Content-Encoding` and all.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// `{"event":"deploy","n":1}` compressed by Node's `zlib.brotliCompressSync`
/// (the brotli crate used only decodes; these are a real encoder's bytes).
const BROTLI_DEPLOY: &str = "8b0b807b226576656e74223a226465706c6f79222c226e223a317d03";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Every route answers with its name and what its template saw, so the
/// reply says which route `serve` took and what `json` held.
fn routes(upstream: &Upstream) -> String {
    let reply = r#"
    respond:
      status: 200
      body: "taken {{ route }}: {% if json is defined %}{{ json.event_type | default(json.event | default(json.Type | default(json.city | default('?')))) }}{% else %}no document{% endif %}""#;
    format!(
        r#"
max_body_bytes: 64 KiB
routes:
  - name: city
    path: /hooks/data
    when: {{ json: $.city, equals: "São Paulo" }}
    actions: [ {{ forward: {{ url: "{up}/city" }} }} ]{reply}
  - name: sns
    path: /hooks/data
    when: {{ json: $.Type, equals: Notification }}
    actions: [ {{ forward: {{ url: "{up}/sns" }} }} ]{reply}
  - name: typed
    path: /hooks/data
    when: {{ any: [ {{ json: $.event_type, exists: true }}, {{ json: $.event, exists: true }} ] }}
    actions: [ {{ forward: {{ url: "{up}/typed" }} }} ]{reply}
  - name: untyped
    path: /hooks/data
    when: {{ json: $.event_type, exists: false }}
    actions: [ {{ forward: {{ url: "{up}/untyped" }} }} ]{reply}
"#,
        up = upstream.url("")
    )
}

/// One delivery as a sender makes it, and what `serve` must answer.
struct Case {
    name: &'static str,
    content_type: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    /// The reply body (for 2xx) or a piece of the JSON `error` (otherwise).
    reply: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |name, content_type, encoding, body: &[u8], status, reply| Case {
        name,
        content_type,
        encoding,
        body: body.to_vec(),
        status,
        reply,
    };
    let deleted = br#"{"event_type":"data_deleted","id":7}"#;
    // 1 MiB of spaces: about 1 KiB gzipped, 16 times the 64 KiB limit.
    let bomb = gzip(&vec![b' '; 1 << 20]);
    assert!(bomb.len() < 4096, "the bomb is small on the wire: {}", bomb.len());
    vec![
        case(
            "bom",
            "application/json",
            None,
            b"\xEF\xBB\xBF{\"event_type\":\"item_updated\",\"value\":{\"resource\":\"lists/1\"}}",
            200,
            "taken typed: item_updated",
        ),
        case("gzip", "application/json", Some("gzip"), &gzip(deleted), 200, "taken typed: data_deleted"),
        case("deflate", "application/json", Some("deflate"), &zlib(deleted), 200, "taken typed: data_deleted"),
        case("br", "application/json", Some("br"), &hex::decode(BROTLI_DEPLOY).unwrap(), 200, "taken typed: deploy"),
        case("gzip-bomb", "application/json", Some("gzip"), &bomb, 413, "exceeds the limit of 65536 bytes"),
        case("unknown-encoding", "application/json", Some("zstd"), deleted, 415, "\"zstd\" is not supported"),
        case("empty-ping", "application/json", None, b"", 200, "taken untyped: no document"),
        case("whitespace-ping", "application/json", None, b" \r\n\t ", 200, "taken untyped: no document"),
        case(
            "latin1-form",
            "application/x-www-form-urlencoded; charset=iso-8859-1",
            None,
            b"city=S%E3o+Paulo&note=caf\xE9",
            200,
            "taken city: São Paulo",
        ),
        case("json-as-form", "application/x-www-form-urlencoded", None, deleted, 200, "taken typed: data_deleted"),
        case(
            "json-as-text",
            "text/plain; charset=UTF-8",
            None,
            br#"{"Type":"Notification","MessageId":"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Message":"hi"}"#,
            200,
            "taken sns: Notification",
        ),
        case("real-form", "application/x-www-form-urlencoded", None, b"event_type=push&x=1", 200, "taken typed: push"),
    ]
}

/// `hookroute explain --format json` on the same bytes.
fn explain(dir: &Path, case: &Case, body_file: &str) -> Value {
    let mut args = vec!["explain", "-c", "routes.yaml", "--path", "/hooks/data", "--format", "json"];
    let ct = format!("Content-Type: {}", case.content_type);
    args.extend(["-H", &ct, "--body", body_file]);
    let ce = case.encoding.map(|e| format!("Content-Encoding: {e}"));
    if let Some(ce) = &ce {
        args.extend(["-H", ce]);
    }
    let (code, out, err) = run_binary(&args, dir);
    assert_eq!(code, 0, "{}: explain failed: {err}", case.name);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{}: explain printed no JSON ({e}):\n{out}", case.name))
}

#[tokio::test]
async fn serve_explain_and_test_agree_on_what_senders_send() {
    let upstream = Upstream::start().await;
    let (server, dir) = start(&routes(&upstream)).await;
    let mut route_tests = Vec::new();
    // Every disagreement of every case, so one run shows them all.
    let mut problems = Vec::new();
    let mut forwarded = 0;
    for case in cases() {
        let ok = (200..300).contains(&case.status);
        let taken: Vec<String> = match case.reply.strip_prefix("taken ").and_then(|r| r.split(':').next()) {
            Some(route) if ok => vec![route.to_string()],
            _ => vec![],
        };
        // serve
        let mut request = client()
            .post(url(&server, "/hooks/data"))
            .header("content-type", case.content_type)
            .body(case.body.clone());
        if let Some(e) = case.encoding {
            request = request.header("content-encoding", e);
        }
        let answer = send(request).await;
        let replied = match ok {
            true => answer.text() == case.reply,
            false => serde_json::from_slice::<Value>(&answer.body)
                .is_ok_and(|v| v["error"].as_str().is_some_and(|e| e.contains(case.reply))),
        };
        if answer.status.as_u16() != case.status || !replied {
            problems.push(format!("{}: serve answered {} {:?}", case.name, answer.status, answer.text()));
        } else if !taken.is_empty() {
            // The forward carries the bytes received, with their coding.
            forwarded += 1;
            let got = upstream.wait_for(forwarded).await.pop().unwrap();
            if got.path != format!("/{}", taken[0])
                || got.body[..] != case.body[..]
                || got.header("content-encoding") != case.encoding
            {
                problems.push(format!("{}: the forward was not the request as received: {got:?}", case.name));
            }
        }
        // explain
        let body_file = format!("{}.body", case.name);
        std::fs::write(dir.path().join(&body_file), &case.body).unwrap();
        let e = explain(dir.path(), &case, &body_file);
        let explained = match ok {
            true => e["reply_body"] == json!(case.reply),
            false => e["problem"].as_str().unwrap_or("").contains(case.reply),
        };
        if e["taken"] != json!(taken) || e["status"] != json!(case.status) || !explained {
            problems.push(format!("{}: explain disagrees: {e:#}", case.name));
        }
        // hookroute test: the same request, expecting what serve answers.
        let mut headers = json!({ "Content-Type": case.content_type });
        if let Some(enc) = case.encoding {
            headers["Content-Encoding"] = json!(enc);
        }
        let mut expect = json!({ "routes": taken, "status": case.status });
        if ok {
            expect["respond"] = json!({ "body": case.reply });
        }
        route_tests.push(json!({
            "name": case.name,
            "request": { "path": "/hooks/data", "headers": headers, "body_file": body_file },
            "expect": expect,
        }));
    }
    // JSON is YAML, so the tests file is written as JSON.
    let tests_file = dir.path().join("bodies.test.yaml");
    std::fs::write(&tests_file, json!({ "tests": route_tests }).to_string()).unwrap();
    let (code, out, err) = run_binary(&["test", "-c", "routes.yaml", "--tests", "bodies.test.yaml"], dir.path());
    if code != 0 || !out.contains(&format!("{} passed, 0 failed", route_tests.len())) {
        problems.push(format!("hookroute test disagrees:\n{out}{err}"));
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[tokio::test]
async fn explain_says_which_reading_was_used() {
    let upstream = Upstream::start().await;
    let (_server, dir) = start(&routes(&upstream)).await;
    for case in cases().into_iter().filter(|c| c.status == 200) {
        let body_file = format!("{}.body", case.name);
        std::fs::write(dir.path().join(&body_file), &case.body).unwrap();
        let body = explain(dir.path(), &case, &body_file)["body"].clone();
        let want = match case.name {
            "bom" => json!({"read_as": "json", "bom_removed": true}),
            "gzip" => json!({"read_as": "json", "content_encoding": ["gzip"]}),
            "deflate" => json!({"read_as": "json", "content_encoding": ["deflate"]}),
            "br" => json!({"read_as": "json", "content_encoding": ["br"]}),
            "empty-ping" | "whitespace-ping" => json!({"read_as": "empty"}),
            "latin1-form" => json!({"read_as": "form", "charset": "windows-1252"}),
            "json-as-form" => json!({"read_as": "json_in_form"}),
            "json-as-text" => json!({"read_as": "json_in_text"}),
            "real-form" => json!({"read_as": "form"}),
            other => panic!("no expectation for {other}"),
        };
        for (key, value) in want.as_object().unwrap() {
            assert_eq!(&body[key], value, "{}: {body:#}", case.name);
        }
        assert_eq!(body["received_bytes"], json!(case.body.len()), "{}", case.name);
    }
    // The text form says it in a line.
    let gzip_case = cases().into_iter().find(|c| c.name == "gzip").unwrap();
    std::fs::write(dir.path().join("gzip.body"), &gzip_case.body).unwrap();
    let (code, out, err) = run_binary(
        &["explain", "-c", "routes.yaml", "--path", "/hooks/data", "--body", "gzip.body"]
            .into_iter()
            .chain(["-H", "Content-Type: application/json", "-H", "Content-Encoding: gzip"])
            .collect::<Vec<_>>(),
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let line = format!("body: read as JSON; gzip decoded; {} bytes received, 36 read", gzip_case.body.len());
    assert!(out.contains(&line), "{out}");
}

#[tokio::test]
async fn a_reshaped_body_drops_the_coding_and_signatures_check_the_received_bytes() {
    let upstream = Upstream::start().await;
    let secret = "It's a Secret to Everybody";
    let yaml = format!(
        r#"
routes:
  - name: signed
    path: /hooks/github
    verify: {{ github: {{ secret: "{secret}" }} }}
    when: {{ json: $.action, equals: opened }}
    actions:
      - forward: {{ url: "{up}/raw" }}
      - forward: {{ url: "{up}/reshaped", body: {{ action: "{{{{ json.action }}}}" }} }}
"#,
        up = upstream.url("")
    );
    let (server, _dir) = start(&yaml).await;
    let body = gzip(br#"{"action":"opened","number":1}"#);
    let sign = |bytes: &[u8]| {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(bytes);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let post = |signature: String| {
        client()
            .post(url(&server, "/hooks/github"))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .header("x-hub-signature-256", signature)
            .body(body.clone())
    };
    // Signed over the decoded JSON, not the bytes sent: refused.
    let answer = send(post(sign(br#"{"action":"opened","number":1}"#))).await;
    assert_eq!(answer.status, 401, "{}", answer.text());
    // Signed over the gzip bytes, as GitHub-style senders sign: taken.
    let answer = send(post(sign(&body))).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let got = upstream.wait_for(2).await;
    let raw = got.iter().find(|r| r.path == "/raw").unwrap();
    assert_eq!((raw.body.as_ref(), raw.header("content-encoding")), (&body[..], Some("gzip")));
    let reshaped = got.iter().find(|r| r.path == "/reshaped").unwrap();
    assert_eq!(reshaped.json(), json!({"action": "opened"}));
    assert_eq!(reshaped.header("content-encoding"), None, "a replaced body is not gzip");
}

#[tokio::test]
async fn corrupt_compressed_data_is_a_400_naming_the_coding() {
    let upstream = Upstream::start().await;
    let (server, _dir) = start(&routes(&upstream)).await;
    let request = client()
        .post(url(&server, "/hooks/data"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(r#"{"event_type":"not compressed"}"#);
    let answer = send(request).await;
    assert_eq!(answer.status, 400);
    assert!(answer.error().contains("not valid gzip data"), "{}", answer.error());
}

#[tokio::test]
async fn a_file_records_the_body_as_read() {
    let yaml = r#"
routes:
  - name: rec
    path: /rec
    actions: [ { file: { path: "@DIR@/events.jsonl" } } ]
"#;
    let (server, dir) = start(yaml).await;
    let gzipped = client()
        .post(url(&server, "/rec"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(br#"{"event_type":"zipped"}"#));
    assert_eq!(send(gzipped).await.status, 202);
    let latin1 = post(&url(&server, "/rec"), "text/plain; charset=windows-1252", &b"caf\xE9 cr\xE8me"[..]).await;
    assert_eq!(latin1.status, 202);
    // The line is written before the sender is answered.
    let lines = json_lines(&dir.path().join("events.jsonl"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["body"], json!({"event_type": "zipped"}));
    assert_eq!(lines[1]["body_text"], json!("café crème"), "{}", lines[1]);
}
