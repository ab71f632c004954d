//! Unit tests of rendering and the safety rules; the end-to-end ones (bytes
//! at a real upstream) are in tests/operator_tooling.rs.

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::json;

use super::*;
use crate::event::Event;

fn event(body: serde_json::Value) -> Event {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("X-GitHub-Event", "push".parse().unwrap());
    Event::new(
        Method::POST,
        "/hooks/github".into(),
        Some("a=1&b=x%20y".into()),
        headers,
        Bytes::from(body.to_string()),
        None,
    )
    .unwrap()
}

fn text(source: &str, escape: Escape) -> Text {
    let mut errors = Vec::new();
    let t = Text::compile(source, escape, "t", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    t.unwrap()
}

fn render(source: &str, escape: Escape, ev: &Event) -> Result<String, RenderError> {
    let params = vec![("provider".to_string(), "github".to_string())];
    let scope = Scope::new(ev, "gh", &params);
    text(source, escape).render(&scope).map(|c| c.into_owned())
}

#[test]
fn plain_strings_are_not_templates() {
    let t = text("push to main {# not a comment #}", Escape::None);
    assert!(t.is_plain());
    let ev = event(json!({}));
    assert_eq!(t.render(&Scope::new(&ev, "r", &[])).unwrap(), "push to main {# not a comment #}");
}

#[test]
fn context_has_every_documented_name() {
    let ev = event(json!({"pusher": {"name": "octo"}}));
    let out = render(
        "{{ json.pusher.name }} {{ headers['x-github-event'] }} {{ query.b }} {{ path_params.provider }} {{ route }} {{ event.method }} {{ event.path }} {{ event.id == event.id }}",
        Escape::None,
        &ev,
    )
    .unwrap();
    assert_eq!(out, "octo push x y github gh POST /hooks/github True");
    assert!(render("{{ event.received_at }}", Escape::None, &ev).unwrap().ends_with('Z'));
}

#[test]
fn missing_values_are_errors_but_can_be_tested() {
    let ev = event(json!({"a": 1}));
    let err = render("x {{ json.missing }}", Escape::None, &ev).unwrap_err();
    assert!(err.0.contains("undefined"), "{err}");
    let err = render("{{ json.missing.deeper }}", Escape::None, &ev).unwrap_err();
    assert!(err.0.contains("undefined"), "{err}");
    assert_eq!(render("{% if json.missing %}y{% else %}n{% endif %}", Escape::None, &ev).unwrap(), "n");
    assert_eq!(render("{{ json.missing | default('-') }}", Escape::None, &ev).unwrap(), "-");
}

#[test]
fn json_string_escaping_keeps_documents_valid() {
    let ev = event(json!({"title": "say \"hi\"\n", "n": 3, "obj": {"k": [1, 2]}}));
    let out = render(
        r#"{"t": "{{ json.title }}", "n": {{ json.n }}, "o": {{ json.obj | tojson }}}"#,
        Escape::JsonString,
        &ev,
    )
    .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed, json!({"t": "say \"hi\"\n", "n": 3, "o": {"k": [1, 2]}}));
}

#[test]
fn url_values_are_one_component() {
    let ev = event(json!({"id": "a/b?c#d"}));
    assert_eq!(render("/x/{{ json.id }}", Escape::UrlComponent, &ev).unwrap(), "/x/a%2Fb%3Fc%23d");
}

#[test]
fn syntax_errors_are_config_errors() {
    let mut errors = Vec::new();
    assert!(Text::compile("{{ json.a ", Escape::None, "actions[0].log.message", &mut errors).is_none());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key_path, "actions[0].log.message");
    assert!(errors[0].message.starts_with("invalid template: syntax error"), "{}", errors[0].message);
}

#[test]
fn runaway_templates_run_out_of_fuel() {
    let ev = event(json!({}));
    let err =
        render("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", Escape::None, &ev)
            .unwrap_err();
    assert!(err.0.contains("fuel"), "{err}");
}

#[test]
fn structured_bodies_keep_types() {
    let ev = event(json!({"commits": [1, 2], "who": "o\"k"}));
    let mut errors = Vec::new();
    let body = Body::compile(
        &json!({"count": "{{ json.commits | length }}", "text": "by {{ json.who }}", "who": "{{ json.who }}", "fixed": [1, true]}),
        None,
        "body",
        &mut errors,
    )
    .unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let scope = Scope::new(&ev, "r", &[]);
    let bytes = body.render(&scope).unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parsed, json!({"count": 2, "text": "by o\"k", "who": "o\"k", "fixed": [1, true]}));
    assert_eq!(body.content_type(), body::JSON);
}

#[test]
fn text_bodies_meant_as_json_must_render_json() {
    let ev = event(json!({"obj": {"a": 1}}));
    let mut errors = Vec::new();
    let body =
        Body::compile(&json!("{\"o\": \"{{ json.obj }}\"}"), Some("application/json"), "body", &mut errors).unwrap();
    let err = body.render(&Scope::new(&ev, "r", &[])).unwrap_err();
    assert!(err.0.contains("not valid JSON"), "{err}");
}

#[test]
fn url_templates_keep_origin_and_path() {
    let mut errors = Vec::new();
    for bad in
        ["http://{{ json.host }}/x", "{{ json.scheme }}://h/x", "http://h:80{{ json.port }}/x", "http://h{{ x }}"]
    {
        assert!(UrlTemplate::compile(bad, "url", &mut errors).is_none(), "{bad}");
    }
    assert_eq!(errors.len(), 4, "{errors:?}");
    let t = UrlTemplate::compile("http://ci.internal:8001/builds/{{ json.id }}?r={{ json.r }}", "url", &mut errors)
        .unwrap();
    let ev = event(json!({"id": "..", "r": "x&y=1"}));
    let err = t.render(&Scope::new(&ev, "r", &[])).unwrap_err();
    assert!(err.0.contains("leaves the path /builds/"), "{err}");
    let ev = event(json!({"id": "42", "r": "x&y=1"}));
    let url = t.render(&Scope::new(&ev, "r", &[])).unwrap();
    assert_eq!(url.as_str(), "http://ci.internal:8001/builds/42?r=x%26y%3D1");
}

#[test]
fn file_paths_stay_under_their_directory() {
    let mut errors = Vec::new();
    assert!(PathTemplate::compile("{{ json.name }}.jsonl", "path", &mut errors).is_none());
    assert!(PathTemplate::compile("/{{ json.name }}.jsonl", "path", &mut errors).is_none());
    assert_eq!(errors.len(), 2);
    let t = PathTemplate::compile("data/events/{{ json.name }}.jsonl", "path", &mut errors).unwrap();
    for (name, why) in [("../../etc/x", "`..`"), ("/etc/passwd", "absolute"), ("a\0b", "NUL")] {
        let ev = event(json!({ "name": name }));
        let err = t.render(&Scope::new(&ev, "r", &[])).unwrap_err();
        assert!(err.0.contains(why), "{name}: {err}");
    }
    let ev = event(json!({"name": "acme/api"}));
    assert_eq!(t.render(&Scope::new(&ev, "r", &[])).unwrap(), std::path::PathBuf::from("data/events/acme/api.jsonl"));
}

#[test]
fn misspelt_filters_are_config_errors() {
    let mut errors = Vec::new();
    assert!(Text::compile("{{ json | tojosn }}", Escape::None, "k", &mut errors).is_none());
    assert!(errors[0].message.contains("unknown filter"), "{errors:?}");
}

#[test]
fn undefined_errors_name_the_expression() {
    let ev = event(json!({"a": 1}));
    let err = render("x {{ json.pusher.name }}", Escape::None, &ev).unwrap_err();
    assert!(err.0.contains("`json.pusher.name`"), "{err}");
}

#[test]
fn a_string_body_is_text_unless_json_is_declared() {
    let ev = event(json!({"challenge": "3eZbrw1aB", "n": 5, "t": "a\"b"}));
    let scope = Scope::new(&ev, "r", &[]);
    let render = |body: serde_json::Value, ct: Option<&str>| {
        let mut errors = Vec::new();
        let b = Body::compile(&body, ct, "body", &mut errors).unwrap();
        (b.render(&scope).map(|bytes| String::from_utf8(bytes.to_vec()).unwrap()), b.content_type())
    };
    // The echo that used to be a 500: a template starts with `{` too.
    assert_eq!(render(json!("{{ json.challenge }}"), None), (Ok("3eZbrw1aB".into()), body::TEXT));
    assert_eq!(render(json!("{{ json.challenge }}"), Some("text/plain")).0, Ok("3eZbrw1aB".into()));
    // Declared JSON: one expression is the value as JSON; text around values
    // escapes them as string content.
    assert_eq!(render(json!("{{ json.challenge }}"), Some("application/json")).0, Ok("\"3eZbrw1aB\"".into()));
    assert_eq!(
        render(json!("{\"t\": \"{{ json.t }}\"}"), Some("application/json; charset=utf-8")).0,
        Ok("{\"t\": \"a\\\"b\"}".into())
    );
    // Undeclared JSON-looking text is text, sent as rendered.
    assert_eq!(render(json!("{\"n\": {{ json.n }}}"), None), (Ok("{\"n\": 5}".into()), body::TEXT));
    assert_eq!(render(json!("{\"ok\": true}"), None).1, body::TEXT);
    assert_eq!(render(json!("{\"ok\": true}"), Some("application/json")).1, body::JSON);
}

#[test]
fn bodies_that_can_only_fail_are_found_at_load() {
    use crate::template::body::static_warning;
    let json = Some("application/json");
    assert!(static_warning(&json!("challenge={{ json.c }}"), json).unwrap().contains("can only fail"));
    assert!(static_warning(&json!("{\"a\": 1} {{ json.c }}!"), json).unwrap().contains("(`!`)"));
    assert!(static_warning(&json!("{not json"), json).unwrap().contains("not valid JSON"));
    assert_eq!(static_warning(&json!("{\"a\": \"{{ json.c }}\"}"), json), None);
    assert_eq!(static_warning(&json!("{{ json.c }}"), json), None);
    assert_eq!(static_warning(&json!("[{{ json.n }}, 2]"), json), None);
    assert_eq!(static_warning(&json!("{{ json.challenge }}"), None), None);
    assert_eq!(static_warning(&json!("{\"a\": \"{{ json.c }}\"}"), Some("text/plain")), None);
    assert!(static_warning(&json!("{\"a\": \"{{ json.c }}\"}"), None).unwrap().contains("sent as `text/plain"));
    assert!(static_warning(&json!("{\"ok\": true}"), None).is_some());
    assert_eq!(static_warning(&json!({"a": "{{ json.c }}"}), json), None);
}
