//! The docs cannot drift from the code: every ```yaml block in README.md and
//! docs/*.md goes through the real `hookroute check` (and its `tests:`
//! through `hookroute test`), and every ```console block marked
//! `<!-- check: run -->` is run and must print what it shows.
//!
//! A block is a whole config unless an HTML comment on the line before it
//! says otherwise; the markers are described in ARCHITECTURE.md ("How the
//! docs are tested"). A failure names the file and line of the block.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::binary;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The documents whose snippets are checked, relative to the repository.
fn documents() -> Vec<String> {
    let mut docs = vec!["README.md".to_string(), "ARCHITECTURE.md".to_string()];
    let mut reference: Vec<String> = std::fs::read_dir(repo("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    reference.sort();
    docs.extend(reference);
    docs
}

/// One fenced block: where it starts (1-based line of the opening fence),
/// its info string, the marker comment just above it, and its text.
struct Block {
    line: usize,
    lang: String,
    marker: Option<String>,
    body: String,
}

fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            let indent = lines[i].len() - trimmed.len();
            let marker = i
                .checked_sub(1)
                .map(|p| lines[p].trim())
                .and_then(|l| l.strip_prefix("<!-- check:"))
                .and_then(|l| l.strip_suffix("-->"))
                .map(|l| l.trim().to_string());
            let start = i;
            let mut body = String::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                // Blocks inside list items are indented with the item.
                let line = lines[i];
                body.push_str(line.get(indent.min(line.len() - line.trim_start().len())..).unwrap_or(""));
                body.push('\n');
                i += 1;
            }
            found.push(Block { line: start + 1, lang: info.trim().to_string(), marker, body });
        }
        i += 1;
    }
    found
}

/// What a marker asks for. `kind` says how a yaml block becomes a config:
/// `config` (the default: a whole file), `fails` (a whole file `check`
/// must refuse), `top` (top-level keys; a route is added), `routes` (items
/// of `routes:`), `route` (keys of one route; a name, path and, if absent,
/// actions are added), `actions` (items of a route's `actions:`), `forward`
/// (keys of a `forward:` besides its `url`), `skip (reason)`, and, on a
/// console block, `run`.
#[derive(Default)]
struct Directive {
    kind: String,
    file: Option<String>,
    tests: Option<String>,
    per_line: bool,
}

fn directive(marker: Option<&str>) -> Result<Directive, String> {
    let Some(marker) = marker else {
        return Ok(Directive { kind: "config".into(), ..Directive::default() });
    };
    let mut parts = marker.split(';');
    let kind = parts.next().unwrap_or_default().trim().to_string();
    if let Some(reason) = kind.strip_prefix("skip") {
        let reason = reason.trim();
        if !(reason.starts_with('(') && reason.ends_with(')') && reason.len() > 2) {
            return Err(format!("`{marker}`: a skip needs a reason: `skip (why)`"));
        }
        return Ok(Directive { kind: "skip".into(), ..Directive::default() });
    }
    let known = ["config", "fails", "top", "routes", "route", "actions", "forward", "run"];
    if !known.contains(&kind.as_str()) {
        return Err(format!("`{marker}`: unknown kind `{kind}` (known: {}, skip (reason))", known.join(", ")));
    }
    let mut d = Directive { kind, ..Directive::default() };
    for part in parts.map(str::trim) {
        if let Some(name) = part.strip_prefix("file ") {
            d.file = Some(name.trim().to_string());
        } else if let Some(summary) = part.strip_prefix("tests ") {
            d.tests = Some(summary.trim().to_string());
        } else if part == "one per line" {
            d.per_line = true;
        } else {
            return Err(format!("`{marker}`: unknown option `{part}` (known: file NAME, tests SUMMARY, one per line)"));
        }
    }
    Ok(d)
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| if l.trim().is_empty() { "\n".to_string() } else { format!("{pad}{l}\n") }).collect()
}

const ROUTE_HEAD: &str = "routes:\n  - name: snippet\n    path: /snippet\n";
const SOME_ACTION: &str = "    actions: [ { log: { message: snippet } } ]\n";

/// The config a yaml block stands for, by its kind.
fn wrap(kind: &str, body: &str) -> String {
    match kind {
        "top" => format!("{body}\n{ROUTE_HEAD}{SOME_ACTION}"),
        "routes" => format!("routes:\n{}", indent(body, 2)),
        "route" => {
            let has_actions = body.lines().any(|l| l.starts_with("actions:"));
            format!("{ROUTE_HEAD}{}{}", indent(body, 4), if has_actions { "" } else { SOME_ACTION })
        }
        "actions" => format!("{ROUTE_HEAD}    actions:\n{}", indent(body, 6)),
        "forward" => format!(
            "{ROUTE_HEAD}    actions:\n      - forward:\n          url: http://snippet.internal/\n{}",
            indent(body, 10)
        ),
        _ => body.to_string(),
    }
}

/// A placeholder for every `${VAR}` without a default, as a deployment
/// would set them (secrets mostly); `${VAR:-x}` and `${file:...}` are left
/// to the config. The placeholder is a Standard Webhooks secret from its
/// reference tests (`whsec_` and base64), which every scheme accepts.
fn placeholders(config: &str) -> Vec<(String, String)> {
    let var = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}").unwrap();
    var.captures_iter(config)
        .map(|c| (c[1].to_string(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string()))
        .collect()
}

fn run(dir: &Path, args: &[String], env: &[(String, String)]) -> Output {
    binary().args(args).envs(env.iter().cloned()).current_dir(dir).output().expect("run hookroute")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Runs one yaml block; returns a problem, if any.
fn check_yaml(dir: &Path, block: &Block, d: &Directive) -> Option<String> {
    let pieces: Vec<String> = if d.per_line {
        block
            .body
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(String::from)
            .collect()
    } else {
        vec![block.body.clone()]
    };
    for piece in pieces {
        let config = wrap(&d.kind, &piece);
        let name = d.file.clone().unwrap_or_else(|| format!("snippet-{}.yaml", block.line));
        std::fs::write(dir.join(&name), &config).unwrap();
        let env = placeholders(&config);
        let checked = run(dir, &["check".into(), "-c".into(), name.clone()], &env);
        let refused = !checked.status.success();
        if d.kind == "fails" {
            if !refused {
                return Some(format!("`check` accepted a config marked `fails`:\n{}", text(&checked)));
            }
            continue;
        }
        if refused {
            return Some(format!("`hookroute check` refused it:\n{}\nas checked:\n{config}", text(&checked)));
        }
        let has_tests = config.lines().any(|l| l.starts_with("tests:"));
        if !has_tests {
            continue;
        }
        let tested = run(dir, &["test".into(), "-c".into(), name], &env);
        let out = text(&tested);
        match &d.tests {
            Some(summary) if out.lines().rev().find(|l| !l.trim().is_empty()) != Some(summary.as_str()) => {
                return Some(format!("`hookroute test` should end with `{summary}`:\n{out}"));
            }
            None if !tested.status.success() => return Some(format!("`hookroute test` failed:\n{out}")),
            _ => {}
        }
    }
    None
}

/// `expected` with `...` matching any text within a line, and a line that
/// is only `...` matching any number of lines.
fn matches_shown(expected: &str, actual: &str) -> bool {
    let mut pattern = String::from("^");
    for line in expected.trim_end().lines() {
        if line.trim() == "..." {
            pattern.push_str(r"(?:[^\n]*\n)*?");
        } else {
            pattern.push_str(&regex::escape(line.trim_end()).replace(r"\.\.\.", r"[^\n]*"));
            pattern.push('\n');
        }
    }
    pattern.push('$');
    let actual: String = actual.trim_end().lines().map(|l| format!("{}\n", l.trim_end())).collect();
    regex::Regex::new(&pattern).unwrap().is_match(&actual)
}

/// Runs each `$ hookroute ...` in a console block and compares its output
/// with the lines shown under it.
fn check_console(dir: &Path, block: &Block) -> Option<String> {
    let mut commands: Vec<(String, String)> = Vec::new();
    let mut lines = block.body.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(mut command) = line.strip_prefix("$ ").map(String::from) {
            while command.ends_with('\\') {
                command.pop();
                command.push_str(lines.next().unwrap_or_default());
            }
            commands.push((command, String::new()));
        } else if let Some((_, shown)) = commands.last_mut() {
            shown.push_str(line);
            shown.push('\n');
        }
    }
    if commands.is_empty() {
        return Some("a `run` block shows no `$ hookroute ...` command".into());
    }
    for (command, shown) in commands {
        let Some(words) = shlex::split(&command) else {
            return Some(format!("cannot split `{command}` into words"));
        };
        let (env, rest): (Vec<&String>, Vec<&String>) = {
            let n = words.iter().take_while(|w| w.contains('=') && !w.starts_with('-')).count();
            (words[..n].iter().collect(), words[n..].iter().collect())
        };
        if rest.first().map(|w| w.as_str()) != Some("hookroute") {
            return Some(format!("`{command}`: only `hookroute` commands are run"));
        }
        let env: Vec<(String, String)> =
            env.iter().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let args: Vec<String> = rest[1..].iter().map(|w| w.to_string()).collect();
        let out = text(&run(dir, &args, &env));
        if !matches_shown(&shown, &out) {
            return Some(format!("`{command}` printed:\n{out}\nbut the docs show:\n{shown}"));
        }
    }
    None
}

/// The directory snippets and commands run in: like the repository's root
/// (the shipped routes.yaml, and examples/ for configs and fixtures).
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo("examples"), dir.path().join("examples")).unwrap();
    std::fs::copy(repo("routes.yaml"), dir.path().join("routes.yaml")).unwrap();
    dir
}

/// Every problem in one document, each as `file:line: message`.
fn problems_in(doc: &str, text: &str, dir: &Path, counts: &mut (usize, usize, usize)) -> Vec<String> {
    let mut problems = Vec::new();
    let blocks = blocks(text);
    // Config blocks first: `run` blocks may use the files they write.
    let mut runs = Vec::new();
    for block in &blocks {
        let d = match directive(block.marker.as_deref()) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{doc}:{}: {e}", block.line));
                continue;
            }
        };
        let problem = match (block.lang.as_str(), d.kind.as_str()) {
            (_, "skip") => {
                counts.2 += 1;
                None
            }
            ("yaml", "run") => Some("`run` is for console blocks".to_string()),
            ("yaml", _) => {
                counts.0 += 1;
                check_yaml(dir, block, &d)
            }
            ("console", "run") => {
                runs.push(block);
                None
            }
            (_, "config") => None,
            (lang, kind) => Some(format!("a `{kind}` marker on a ```{lang} block means nothing")),
        };
        if let Some(p) = problem {
            problems.push(format!("{doc}:{}: {p}", block.line));
        }
    }
    for block in runs {
        counts.1 += 1;
        if let Some(p) = check_console(dir, block) {
            problems.push(format!("{doc}:{}: {p}", block.line));
        }
    }
    problems
}

#[test]
fn every_config_snippet_and_shown_command_in_the_docs_works() {
    let dir = workdir();
    let mut counts = (0, 0, 0);
    let mut problems = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(repo(&doc)).unwrap();
        problems.extend(problems_in(&doc, &text, dir.path(), &mut counts));
    }
    let (yaml, runs, skipped) = counts;
    assert!(problems.is_empty(), "{} snippet(s) do not work as shown:\n\n{}", problems.len(), problems.join("\n\n"));
    // A parser that found nothing would pass everything.
    assert!(yaml >= 20 && runs >= 4, "only {yaml} yaml and {runs} console blocks found");
    assert!(skipped * 10 <= yaml, "{skipped} skipped of {yaml}: skipping must stay the exception");
}

/// The checker itself: a broken snippet is reported with its file and line.
#[test]
fn a_broken_snippet_is_reported_with_its_file_and_line() {
    let dir = workdir();
    let doc = "intro\n\n<!-- check: route -->\n```yaml\nwhen: { json: $.a, equals: 1 }\nactions: [ { forward: { url: ci.internal/x } } ]\n```\n\n\
               <!-- check: run -->\n```console\n$ hookroute test -c routes.yaml\nPASS  something else\n```\n\n\
               <!-- check: tpyo -->\n```yaml\nroutes: []\n```\n";
    let problems = problems_in("docs/x.md", doc, dir.path(), &mut (0, 0, 0));
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("docs/x.md:4: `hookroute check` refused it:"), "{}", problems[0]);
    assert!(problems[0].contains("\"ci.internal/x\""), "{}", problems[0]);
    assert!(problems[1].starts_with("docs/x.md:16: `tpyo`: unknown kind"), "{}", problems[1]);
    assert!(problems[2].starts_with("docs/x.md:10: `hookroute test -c routes.yaml` printed:"), "{}", problems[2]);
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// to dashes.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut fence = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        } else if !fence && line.starts_with('#') {
            found.push(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// The docs link into each other by file and heading; a moved section or a
/// renamed heading must not leave a dead link behind.
#[test]
fn links_between_the_docs_point_at_files_and_headings_that_exist() {
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let mut dead = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(repo(&doc)).unwrap();
        let base = Path::new(&doc).parent().unwrap_or(Path::new(""));
        for (n, line) in text.lines().enumerate() {
            for target in link.captures_iter(line).map(|c| c[1].to_string()) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, fragment) = target.split_once('#').unwrap_or((&target, ""));
                let path = if file.is_empty() { repo(&doc) } else { repo(&base.join(file).to_string_lossy()) };
                if !path.exists() {
                    dead.push(format!("{doc}:{}: {target}: no such file", n + 1));
                } else if !fragment.is_empty() {
                    let heads = anchors(&std::fs::read_to_string(&path).unwrap_or_default());
                    if !heads.iter().any(|a| a == fragment) {
                        dead.push(format!("{doc}:{}: {target}: no heading with anchor `{fragment}`", n + 1));
                    }
                }
            }
        }
    }
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}
