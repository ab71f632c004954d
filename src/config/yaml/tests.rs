//! The fast parser against serde_yaml: wherever it answers, it must answer
//! what serde_yaml answers.

use proptest::prelude::*;
use serde_yaml::Value;

use super::{parse, plain_scalar, Parsed};
use crate::config::interpolate::interpolate_tree;

fn no_env(_: &str) -> Option<String> {
    None
}

/// The fast parser's document with its routes put back, or None when it
/// leaves the text to serde_yaml.
fn fast(text: &str) -> Option<(Value, Vec<String>)> {
    let Parsed { mut root, errors, routes } = parse(text, &no_env, |route| route)?;
    if let Some(Value::Sequence(items)) = root.get_mut("routes") {
        assert!(items.is_empty(), "routes are not also kept in the document");
        *items = routes;
    } else {
        assert!(routes.is_empty());
    }
    Some((root, errors.iter().map(|e| format!("{}: {}", e.key_path, e.message)).collect()))
}

/// serde_yaml's reading, interpolated as `config::load` does.
fn reference(text: &str) -> Result<(Value, Vec<String>), String> {
    let mut root: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut errors = Vec::new();
    interpolate_tree(&mut root, "", &no_env, &mut errors);
    Ok((root, errors.iter().map(|e| format!("{}: {}", e.key_path, e.message)).collect()))
}

/// Asserts the fast parser agrees with serde_yaml, and returns whether it
/// answered at all.
fn agrees(text: &str) -> bool {
    match (fast(text), reference(text)) {
        (None, _) => false,
        (Some(got), Ok(want)) => {
            assert_eq!(got, want, "{text:?}");
            true
        }
        (Some(got), Err(e)) => panic!("serde_yaml refuses {text:?} ({e}), the fast parser read {got:?}"),
    }
}

#[test]
fn reads_what_routes_files_are_made_of_as_serde_yaml_does() {
    let answered = [
        "listen: 127.0.0.1:0\nroutes:\n  - name: a\n    path: /hooks/{provider}\n    when:\n      - header: X-Event\n        equals: push\n      - json: $.ref\n        matches: '^refs/heads/(main|release/.+)$'\n    actions:\n      - forward: { url: 'http://x/build', timeout: 5s, headers: { X-Source: github } }\n      - log: { message: push 1 }\n",
        "routes: []\nversion: 1\n",
        "routes:\n- name: b\n  methods: [GET, post]\n  continue: true\n",
        "a: \"double \\\"quoted\\\" \\t \\u00e9 \\x41\"\nb: 'single ''quoted'''\nc: plain # comment\n",
        "a: |\n  literal\n   block\n\nb: >\n  folded\n  lines\n\n  kept\nc: |-\n  strip\nd: >+\n  keep\n\n",
        "a: multi\n  line\n  plain\nb: \"multi\n  line quoted\"\n",
        "a:\nb: ~\nc: null\nd: NULL\ne: Null\nf: ''\n",
        "a: [1, -2, +3, 0x1F, 0o17, 0b101, -0x10, 007, 1.5, -0.5, 1e3, .5, +.inf, -.INF, .nan, 1_000]\n",
        "a: [true, True, TRUE, false, FALSE, yes, no, on, off, y, n, tRUE]\n",
        "a: [inf, nan, infinity, NaN, .Nan, 0x, 0o, +-1, --1, 1.2.3, 1e, '1', \"2\"]\n",
        "? plain key\n: value\n1: one\n1.5: float key\ntrue: bool key\n~: null key\n",
        "a: {b: {c: [d, {e: f}]}, g: []}\nh: {}\n",
        "---\na: 1\n...\n",
        "a: b\r\nc:\r\n  - d\r\n",
        "url: http://host:80/a?b=c#d\nhash: a#b\ncolon: a:b\n",
        "s: \"\\u263A \\U0001F600 \\N \\_ \\L \\P \\e \\0 \\a \\/ \\ \"\n",
        "a: 18446744073709551615\nb: -9223372036854775808\n",
        "- top\n- level\n- list\n",
        "just a string\n",
        "routes:\n  - name: x\n    actions:\n      - log: {message: \"${NOT_SET}\"}\n  - name: y\n    path: $${literal} and ${ALSO:-default}\n",
        "a: ${MISSING}\nroutes: [{name: '${NOPE}', x: [1, '${X}']}]\nb: [{c: '${Y}'}]\n",
    ];
    for text in answered {
        assert!(agrees(text), "the fast parser should read {text:?}");
    }
}

#[test]
fn the_shipped_configs_are_read_as_serde_yaml_reads_them() {
    for (file, text) in shipped_configs() {
        assert!(agrees(&text), "{file} should be read by the fast parser");
    }
}

const SHIPPED_CONFIGS: [&str; 6] = [
    "routes.yaml",
    "examples/github.yaml",
    "examples/fanout.yaml",
    "examples/templates.yaml",
    "examples/data-sync.yaml",
    "examples/compose/routes.yaml",
];

fn shipped_configs() -> Vec<(&'static str, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    SHIPPED_CONFIGS
        .iter()
        .map(|file| (*file, std::fs::read_to_string(root.join(file)).expect("shipped config")))
        .collect()
}

/// What the mutation fuzz below inserts: YAML's punctuation, indentation,
/// tags, anchors, comments, and scalars with more than one reading.
const PIECES: &[&str] = &[
    ":", ": ", " ", "  ", "\n", "\n  ", "- ", "-", "[", "]", "{", "}", ",", "'", "\"", "#", " #c", "&a ", "*a", "!",
    "!!str ", "|", ">", "|-\n  ", "\t", "?", "%", "@", "`", "\\", "0x1F", "0o17", "1e3", ".5", "-.inf", "~", "null",
    "yes", "No", "${X}", "${X:-d}", "$${Y}", "\u{e9}", "\r\n", "---\n", "...\n",
];

/// Applies `edits` (position, operation, piece) to `text`: 0 inserts the
/// piece, 1 deletes a character, 2 replaces one with the piece.
fn edited(text: &str, edits: &[(prop::sample::Index, usize, usize)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, op, piece) in edits {
        let at = at.index(chars.len() + 1);
        let piece: Vec<char> = PIECES[*piece % PIECES.len()].chars().collect();
        match op {
            0 => drop(chars.splice(at..at, piece)),
            1 if at < chars.len() => drop(chars.remove(at)),
            _ if at < chars.len() => drop(chars.splice(at..=at, piece)),
            _ => chars.extend(piece),
        }
    }
    chars.into_iter().collect()
}

/// Each a disagreement the mutation fuzz below found between yaml-rust2 and
/// libyaml; the fast parser now leaves them all to serde_yaml.
#[test]
fn what_the_fuzz_found_is_left_to_serde_yaml() {
    for text in [
        // A plain scalar that begins with an indicator.
        "request: { path: /x,|body: 1 }\n",
        // A flow mapping over lines, less indented than its block.
        "routes:\n  - request: { path: /x, h|-\n  eaders: 1 }\n",
        // `?` glued to a scalar inside a flow collection: a key to libyaml.
        "headers: [?-GitHub-Delivery]\n",
        // A stray `:` (an empty key).
        "when:\n  - json: x\n:   matches: y\n",
        // `:` glued to `?` or `]` inside a flow collection.
        "k: { url:?\"http://x\" }\n",
        "k: [queued:]\n",
        // A document end marker before any document.
        "...\nk: v\n",
    ] {
        assert!(fast(text).is_none(), "{text:?} should be left to serde_yaml, which reads {:?}", reference(text));
    }
}

#[test]
fn odd_layouts_are_read_as_serde_yaml_reads_them_or_left_to_it() {
    for text in [
        "\u{feff}a: 1\n",
        "a:\tb\n",
        "a:\n\t- b\n",
        "\ta: 1\n",
        "- - nested\n  - list\n- x\n",
        "a: - b\n",
        "a:\n- b\n- c\n",
        "a: 'multi\n\n  line'\n",
        "a: \"trailing \\\n  escape\"\n",
        "a: b # c\n# d\n  # e\nf: g\n",
        "a: {b: c,}\n",
        "a: [b, c,]\n",
        "a: {? b}\n",
        "a: [b: c]\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: \u{e9}t\u{e9}\n\u{1F600}: x\n",
        "a: |2\n    indented\n",
        "a: >-\n\n  folded\n  \n  text\n",
        "a: b\n  c: d\n",
        "a:\n  b\n  c\n",
        "-1: x\n",
        "'a': \"b\"\n\"c d\": e\n",
    ] {
        agrees(text);
    }
}

#[test]
fn tabs_and_byte_order_marks_are_left_to_serde_yaml() {
    for text in ["\u{feff}a: 1\n", "a:\tb\n", "\ta: 1\n", "a: 'x\ty'\n", "a: 1 #\tcomment\n"] {
        assert!(fast(text).is_none(), "{text:?}");
    }
}

#[test]
fn leaves_to_serde_yaml_what_it_does_not_vouch_for() {
    for text in [
        "a: !tag b\n",
        "a: !!str 5\n",
        "a: &x 1\nb: *x\n",
        "a: 1\na: 2\n",
        "routes: 1\nroutes: 2\n",
        "? [complex]\n: key\n",
        "? {complex: key}\n: v\n",
        "a: 1\n---\nb: 2\n",
        "a: [unclosed\n",
        "routes:\n  - a\n - b\n",
        "key: value: with colon\n",
        "a: 18446744073709551616\n",
        "a: -9223372036854775809\n",
        "",
        "# only a comment\n",
        &format!("{}1{}", "[".repeat(120), "]".repeat(120)),
    ] {
        assert!(fast(text).is_none(), "{text:?} should be left to serde_yaml");
    }
}

#[test]
fn routes_come_decoded_in_order_and_interpolated() {
    let env = |name: &str| (name == "HOST").then(|| "ci".to_string());
    let text = "x: 1\nroutes:\n  - name: a\n    url: http://${HOST}/\n  - name: b\n    url: ${NOPE}\ny: [routes]\n";
    let Parsed { root, errors, routes } = parse(text, &env, |r| r["url"].clone()).expect("read");
    assert_eq!(routes, vec![Value::String("http://ci/".into()), Value::String("${NOPE}".into())]);
    assert_eq!(root["routes"], Value::Sequence(Vec::new()));
    assert_eq!(root["y"][0], Value::String("routes".into()));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key_path, "routes[1].url");
    // Only the root mapping's `routes:` is taken apart.
    let Parsed { root, routes, .. } = parse("a:\n  routes: [1, 2]\n", &env, |r| r).expect("read");
    assert!(routes.is_empty());
    assert_eq!(root["a"]["routes"], Value::Sequence(vec![Value::from(1), Value::from(2)]));
}

/// A routes list long enough to be split, with `${VAR}` errors around and
/// inside it, read in pieces exactly as serde_yaml reads it whole.
#[test]
fn a_split_routes_list_reads_as_the_whole() {
    for layout in ["routes:\n", "routes:   # the routes\n\n# first\n", "routes:\r\n"] {
        let mut text = format!("a: ${{A}}\n{layout}");
        for i in 0..300 {
            let indent = if layout.ends_with("\r\n") { "" } else { "  " };
            text.push_str(&format!(
                "{indent}- name: r{i}\n{indent}  when: {{header: X, equals: '${{E{i}}}'}}\n{indent}  message: |\n{indent}    line {i}\n{indent}    - not an item\n\n{indent}  # note\n"
            ));
        }
        text.push_str("tests: [{a: '${B}'}]\nz: 1\n");
        assert!(agrees(&text), "{layout:?}");
    }
}

#[test]
fn a_routes_list_that_does_not_cut_cleanly_is_left_to_serde_yaml() {
    let mut text = String::from("routes:\n");
    for i in 0..200 {
        text.push_str(&format!("  - name: r{i}\n    message: \"multi\n  - line\"\n"));
    }
    assert!(fast(&text).is_none());
    text.push_str("routes: again\n");
    assert!(fast(&text).is_none());
}

#[test]
fn plain_scalars_are_typed_as_serde_yaml_types_them() {
    let words = [
        "0",
        "-0",
        "+0",
        "00",
        "01",
        "-01",
        "+01",
        "0.0",
        "00.5",
        "1.",
        ".1",
        "-.5",
        "+.5",
        "1e5",
        "1E-5",
        "-1e+5",
        "0x0",
        "0xff",
        "0XFF",
        "-0xff",
        "+0xff",
        "0x-1",
        "0o7",
        "0o8",
        "-0o7",
        "0b1",
        "0b2",
        "-0b1",
        "0b",
        "1_0",
        "inf",
        "-inf",
        "+inf",
        ".inf",
        "+.inf",
        "-.inf",
        ".Inf",
        ".INF",
        ".nan",
        ".NaN",
        ".NAN",
        "nan",
        "NaN",
        "-.nan",
        "+.nan",
        "~",
        "null",
        "nULL",
        "true",
        "tRue",
        "FALSE",
        "y",
        "Yes",
        "off",
        "12:30",
        "1,000",
        "1 2",
        "+",
        ".",
        "..",
        "1.2.3",
        "0x1.8",
        "1e400",
        "-1e400",
        "4294967296",
        "-2147483649",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "18446744073709551615",
    ];
    for word in words {
        let want: Value = serde_yaml::from_str(word).expect("serde_yaml reads every word");
        match plain_scalar(word.to_string()) {
            Some(got) => assert_eq!(got, want, "{word:?}"),
            None => panic!("{word:?} left to serde_yaml"),
        }
    }
}

proptest! {
    /// Any plain scalar made of number-ish characters: the fast typing and
    /// serde_yaml agree whenever both answer.
    #[test]
    fn plain_scalar_typing_matches(word in "[-+.0-9a-fA-FxobinNIT_~eE]{1,12}") {
        let text = format!("k: {word}\n");
        if let (Ok(want), Some((got, _))) = (serde_yaml::from_str::<Value>(&text), fast(&text)) {
            prop_assert_eq!(got, want);
        }
    }

    /// Documents built from pieces routes files are made of, with some
    /// quoting and layout variety: wherever the fast parser answers, it
    /// answers what serde_yaml answers, and it never reads a document
    /// serde_yaml refuses.
    #[test]
    fn documents_match(
        entries in proptest::collection::vec((0usize..6, 0usize..8, 0usize..7), 1..8),
    ) {
        let keys = ["name", "path", "routes", "when", "a b", "1"];
        let scalars = ["x", "'q'", "\"d\\n\"", "12", "-3.5", "~", "${V:-v}", "true"];
        let mut text = String::new();
        for (k, v, shape) in entries {
            let (key, scalar) = (keys[k], scalars[v]);
            text.push_str(&match shape {
                0 => format!("{key}: {scalar}\n"),
                1 => format!("{key}: [{scalar}, {scalar}]\n"),
                2 => format!("{key}:\n  - {scalar}\n  - {{k: {scalar}}}\n"),
                3 => format!("{key}:\n  - k: {scalar}\n    j: [{scalar}]\n"),
                4 => format!("{key}: {{k: {scalar}, j: {{m: {scalar}}}}}\n"),
                5 => format!("{key}: |\n  {scalar}\n  more\n"),
                _ => format!("{key}:\n  {scalar}: {scalar}\n"),
            });
        }
        match (fast(&text), reference(&text)) {
            (Some(got), Ok(want)) => prop_assert_eq!(got, want, "{:?}", text),
            (Some(got), Err(e)) => prop_assert!(false, "serde_yaml refuses {:?} ({}), fast read {:?}", text, e, got),
            (None, _) => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Mutation fuzz from the shipped configs: a few random edits of
    /// YAML's punctuation, indentation, tags, anchors and ambiguous
    /// scalars. Wherever the fast parser answers, it answers what serde_yaml
    /// answers, and it never reads a text serde_yaml refuses. (Run with
    /// `PROPTEST_CASES=100000` for a longer fuzz.)
    #[test]
    fn edited_shipped_configs_match(
        file in 0usize..SHIPPED_CONFIGS.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..3, 0usize..64), 1..5),
    ) {
        let (_, base) = &shipped_configs()[file];
        let text = edited(base, &edits);
        match (fast(&text), reference(&text)) {
            (Some(got), Ok(want)) => prop_assert_eq!(got, want, "{:?}", text),
            (Some(got), Err(e)) => prop_assert!(false, "serde_yaml refuses {:?} ({}), fast read {:?}", text, e, got),
            (None, _) => {}
        }
    }
}
