//! `hookroute test` without the production secrets (issue 21, item 6):
//! route tests skip verification, so an unset secret must not stop them,
//! while anything else that is missing still does.

mod common;

use common::run_binary;

const ROUTES: &str = r#"admin_token: "${HOOKROUTE_T6_ADMIN_TOKEN}"
routes:
  - name: gh
    path: /hooks/github
    verify: { github: { secret: "${HOOKROUTE_T6_UNSET_SECRET}" } }
    actions:
      - forward: { url: "${FORWARD_URL_T6}/ci" }
  - name: gitlab
    path: /hooks/gitlab
    verify: { gitlab: { tokens: ["${file:/nonexistent/hookroute-t6/token}"] } }
    actions: [ { log: {} } ]
tests:
  - name: pushes reach CI
    request: { path: /hooks/github, body: {} }
    expect: { routes: [gh], forward: { url: "http://ci.internal/ci" } }
  - name: gitlab is taken
    request: { path: /hooks/gitlab, body: {} }
    expect: { routes: [gitlab] }
"#;

#[test]
fn tests_run_without_secrets_but_not_without_other_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.yaml"), ROUTES).unwrap();
    // The forward URL's variable is missing: a clear error, no tests run.
    let (code, out, err) = run_binary(&["test", "-c", "routes.yaml"], dir.path());
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("FORWARD_URL_T6 is not set"), "{err}");
    assert!(!err.contains("HOOKROUTE_T6_UNSET_SECRET") && !err.contains("/nonexistent/"), "{err}");
    // With it, the tests run although no secret is there.
    let (code, out, err) = common::binary()
        .args(["test", "-c", "routes.yaml"])
        .current_dir(dir.path())
        .env("FORWARD_URL_T6", "http://ci.internal")
        .output()
        .map(|o| {
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out, "PASS  pushes reach CI\nPASS  gitlab is taken\n\n2 passed, 0 failed\n");
    // `check` still wants the secrets, and says how to give one.
    let (code, _, err) = run_binary(&["check", "-c", "routes.yaml"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("HOOKROUTE_T6_UNSET_SECRET is not set (a secret takes no default"), "{err}");
    assert!(!err.contains("${HOOKROUTE_T6_UNSET_SECRET:-"), "a default suggested for a secret:\n{err}");
}
