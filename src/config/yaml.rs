//! routes.yaml's text to a `serde_yaml::Value`, routes parsed and decoded
//! in parallel, `${VAR}` interpolation done on the way.
//!
//! `serde_yaml::from_str` was about half of a 10,000-route reload: libyaml
//! scans into a list of events, a second pass builds the `Value`, the
//! interpolation walk is a third, and only then can routes be decoded.
//! Here yaml-rust2's event parser (already used to locate errors) feeds a
//! builder that types each scalar exactly as serde_yaml does and
//! interpolates strings as they are built.
//!
//! A large file is mostly its root `routes:` list. Written the usual way
//! (`routes:` at the start of a line, each item a `- ` line at one
//! indentation) the list can be cut at its items: nothing that spans such a
//! line parses on its own, so each piece parses to exactly its items or the
//! split is abandoned. The pieces are parsed and their routes decoded on
//! several threads, each building and dropping its own routes' YAML: handing
//! parsed routes from one thread to others made glibc's allocator, freeing
//! another thread's memory, the bottleneck.
//!
//! serde_yaml stays the reference. This parser handles the YAML that
//! routes.yaml files are made of and answers None for anything else — a
//! syntax error, tags, anchors and aliases, duplicate or complex keys,
//! several documents, deep nesting, integers past 64 bits, tabs, a byte
//! order mark — and the caller then loads the file with serde_yaml as
//! before, so those keep serde_yaml's exact meaning and error messages.
//!
//! yaml-rust2 is more lenient than libyaml in corners routes files do not
//! use. A mutation fuzz (yaml/tests.rs: random edits of the shipped configs,
//! 100,000 cases run clean) found them, and each now answers None: a plain
//! scalar that begins with an indicator, a flow collection over several
//! lines, `:` glued to `,?[]{}` or to a key inside a flow collection, an
//! empty key, and `...` before the first document.

use serde_yaml::mapping::Entry;
use serde_yaml::{Mapping, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use super::error::ConfigError;
use super::interpolate::{interpolate_value, Environment};

/// A file read by [`parse`].
pub(crate) struct Parsed<R> {
    /// The document; its root `routes:`, when a list, is left empty: its
    /// items are `routes`.
    pub root: Value,
    /// Interpolation errors, in document order.
    pub errors: Vec<ConfigError>,
    /// Each item of the root `routes:` list, passed through the caller's
    /// `decode`, in order.
    pub routes: Vec<R>,
}

/// Well under serde_yaml's recursion limit (128), which is an error there.
const MAX_DEPTH: usize = 100;

/// Routes per piece of a split `routes:` list.
const ROUTES_PER_PIECE: usize = 64;

/// Parses `text`, interpolating strings with `env` and passing each item of
/// the root `routes:` list through `decode`; None when serde_yaml must
/// decide (see the module documentation).
pub(crate) fn parse<R: Send>(
    text: &str,
    env: &dyn Environment,
    decode: impl Fn(Value) -> R + Sync,
) -> Option<Parsed<R>> {
    // libyaml drops byte order marks that yaml-rust2 keeps as text, and the
    // two disagree on where a tab may stand.
    if text.contains('\t') || text.contains('\u{feff}') {
        return None;
    }
    let Some(list) = RoutesList::find(text) else {
        let mut items = Vec::new();
        let (root, errors) = build(text, env, None, &mut |item| items.push(item))?.finish()?;
        return Some(Parsed { root, errors, routes: crate::par::map(items, |_, item| decode(item)) });
    };
    // The file without its routes, where `routes:` is now null.
    let rest = format!("{}{}", &text[..list.items[0]], &text[list.end..]);
    let builder = build(&rest, env, None, &mut |_| {})?;
    let routes_errors_at = builder.routes_errors_at?;
    let (mut root, mut errors) = builder.finish()?;
    match root.get_mut("routes") {
        Some(routes @ Value::Null) => *routes = Value::Sequence(Vec::new()),
        _ => return None,
    }
    let pieces: Vec<(usize, &str)> = list
        .items
        .chunks(ROUTES_PER_PIECE)
        .enumerate()
        .map(|(i, starts)| {
            let end = list.items.get((i + 1) * ROUTES_PER_PIECE).copied().unwrap_or(list.end);
            (starts.len(), &text[starts[0]..end])
        })
        .collect();
    let parsed = crate::par::map_in(1, pieces, |i, (count, piece)| {
        let first = i * ROUTES_PER_PIECE;
        let mut routes = Vec::with_capacity(count);
        let builder = build(piece, env, Some(first), &mut |item| routes.push(decode(item)))?;
        builder.finish_piece(first + count).map(|errors| (routes, errors))
    });
    let mut routes = Vec::with_capacity(list.items.len());
    let mut routes_errors = Vec::new();
    for piece in parsed {
        let (decoded, piece_errors) = piece?;
        routes.extend(decoded);
        routes_errors.extend(piece_errors);
    }
    // Errors in document order: the routes' stand where `routes:` does.
    errors.splice(routes_errors_at..routes_errors_at, routes_errors);
    Some(Parsed { root, errors, routes })
}

/// Where the items of a root `routes:` list written the usual way start, and
/// where the list ends (byte offsets into the text).
struct RoutesList {
    items: Vec<usize>,
    end: usize,
}

impl RoutesList {
    fn find(text: &str) -> Option<RoutesList> {
        let mut lines = Lines { text, at: 0 };
        // `routes:` at the start of a line, nothing but a comment after it.
        lines.by_ref().find(|(_, line)| {
            line.strip_prefix("routes:").is_some_and(|rest| {
                let rest = rest.trim_start_matches(' ');
                rest.is_empty() || rest.starts_with('#') || rest == "\r"
            })
        })?;
        let mut items = Vec::new();
        let mut indent = None;
        for (at, line) in lines {
            let content = line.trim_start_matches(' ');
            if content.is_empty() || content == "\r" || content.starts_with('#') {
                continue;
            }
            let depth = line.len() - content.len();
            let item = content.strip_prefix('-').is_some_and(|r| r.is_empty() || r.starts_with([' ', '\r']));
            match indent {
                None if item => indent = Some(depth),
                None => return None,
                Some(n) if depth > n => continue,
                Some(n) if depth < n || !item => {
                    return Some(RoutesList { items, end: at }).filter(|l| !l.items.is_empty())
                }
                Some(_) => {}
            }
            items.push(at);
        }
        Some(RoutesList { items, end: text.len() }).filter(|l| !l.items.is_empty())
    }
}

/// Lines with their byte offsets, without their `\n`.
struct Lines<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.text.get(self.at..).filter(|r| !r.is_empty())?;
        let start = self.at;
        let line = rest.split('\n').next().unwrap_or(rest);
        self.at += line.len() + 1;
        Some((start, line))
    }
}

/// Runs the parser over `text`. `piece` is the index of the first route
/// when `text` is a piece of the routes list.
fn build(text: &str, env: &dyn Environment, piece: Option<usize>, on_route: &mut dyn FnMut(Value)) -> Option<Built> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder {
        env,
        on_route,
        documents: 0,
        first_route: piece.unwrap_or(0),
        built: Built { stack: Vec::new(), root: None, errors: Vec::new(), routes_errors_at: None, routes_end: None },
    };
    if piece.is_some() {
        // A piece is read as what it is: items of the root's `routes:`.
        builder.built.stack.push(Frame::Mapping { map: Mapping::new(), key: Some(Value::String("routes".into())) });
    }
    // A document end marker (`...`) before any document: yaml-rust2 takes
    // it, libyaml refuses it (mutation fuzz).
    let first_content = text.lines().map(str::trim_start).find(|l| !l.is_empty() && !l.starts_with('#'));
    if first_content.is_some_and(|l| l.starts_with("...")) {
        return None;
    }
    let mut source = Source::new(text);
    // The line each open collection starts on when it is a flow one (`{`,
    // `[`), None for block ones.
    let mut flows: Vec<Option<usize>> = Vec::new();
    loop {
        let (event, mark) = parser.next_token().ok()?;
        match event {
            Event::StreamEnd => return Some(builder.built),
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart => {
                builder.documents += 1;
                (builder.documents == 1).then_some(())?;
            }
            Event::Scalar(text, style, 0, None) => {
                if style == TScalarStyle::Plain && !plain_reads_alike(&text, source.at(mark.index()), &flows, &builder)
                {
                    return None;
                }
                builder.scalar(text, style)?
            }
            Event::SequenceStart(0, None) => {
                let flow = in_flow(&flows) || source.at(mark.index()).starts_with('[');
                flows.push(flow.then_some(mark.line()));
                builder.open(Frame::Sequence { items: Vec::new(), streamed: None })?
            }
            Event::MappingStart(0, None) => {
                // Flow context is inherited: `[a: 1]` holds a flow mapping
                // with no `{`.
                let flow = in_flow(&flows) || source.at(mark.index()).starts_with('{');
                flows.push(flow.then_some(mark.line()));
                builder.open(Frame::Mapping { map: Mapping::new(), key: None })?
            }
            Event::SequenceEnd | Event::MappingEnd => {
                // Inside a flow collection (`{…}`, `[…]`) that runs over
                // several lines, yaml-rust2 accepts indentation libyaml
                // refuses (found by the mutation fuzz in yaml/tests.rs):
                // such a file is left to serde_yaml.
                if flows.pop().flatten().is_some_and(|line| line != mark.line()) {
                    return None;
                }
                builder.close()?
            }
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(_) => return None,
        }
    }
}

/// Whether libyaml reads a plain scalar where yaml-rust2 read `text`
/// (starting at `at` in the source) the same way. Each `false` is a case the
/// mutation fuzz in yaml/tests.rs found the two parsers disagree on; the
/// file then goes to serde_yaml, which either reads it or says what is
/// wrong with it.
fn plain_reads_alike(text: &str, at: &str, flows: &[Option<usize>], builder: &Builder) -> bool {
    // An empty key (yaml-rust2 gives an empty node as an empty plain
    // scalar): its reading of a stray `: x`.
    let empty = text.is_empty();
    if empty && builder.expects_key() {
        return false;
    }
    // Inside `{…}`/`[…]`, libyaml refuses a `:` followed by one of
    // `,?[]{}` in a plain scalar (`{a:?b}`, which yaml-rust2 reads as the
    // key `a:?b`), and a plain key glued to its `:` (`{a:[1]}`), which
    // yaml-rust2 splits.
    if in_flow(flows) && !empty {
        let glued_colon = |s: &str| s.as_bytes().windows(2).any(|w| w[0] == b':' && b",?[]{}".contains(&w[1]));
        // The scalar as written and the character after it (`[a:]`).
        let written = match at.starts_with(text) {
            true => at.get(..text.len() + 1).unwrap_or(at),
            false => text,
        };
        if glued_colon(written) {
            return false;
        }
        if let Some(rest) = at.strip_prefix(text) {
            if rest.len() > 1 && rest.starts_with(':') && !rest[1..].starts_with([' ', '\t', '\n', '\r']) {
                return false;
            }
        }
    }
    true
}

/// True inside a flow collection.
fn in_flow(flows: &[Option<usize>]) -> bool {
    flows.last().is_some_and(Option::is_some)
}

/// The text the parser reads, addressed by its markers, which count
/// characters, not bytes.
struct Source<'a> {
    text: &'a str,
    ascii: bool,
    /// A character index and its byte offset: markers mostly move forward,
    /// so finding the next one starts here.
    chars: usize,
    bytes: usize,
}

impl<'a> Source<'a> {
    fn new(text: &'a str) -> Self {
        Source { text, ascii: text.is_ascii(), chars: 0, bytes: 0 }
    }

    /// The text from character `index` on.
    fn at(&mut self, index: usize) -> &'a str {
        if self.ascii {
            return self.text.get(index..).unwrap_or("");
        }
        if index < self.chars {
            (self.chars, self.bytes) = (0, 0);
        }
        while self.chars < index {
            let Some(c) = self.text[self.bytes..].chars().next() else { break };
            self.bytes += c.len_utf8();
            self.chars += 1;
        }
        &self.text[self.bytes..]
    }
}

enum Frame {
    /// `streamed` counts the items passed on when this is the root's
    /// `routes:` list; its items are then not kept here.
    Sequence { items: Vec<Value>, streamed: Option<usize> },
    /// `key` is the key whose value comes next.
    Mapping { map: Mapping, key: Option<Value> },
}

struct Builder<'a> {
    env: &'a dyn Environment,
    on_route: &'a mut dyn FnMut(Value),
    documents: usize,
    /// The index of the first item of the routes list seen.
    first_route: usize,
    built: Built,
}

/// What a parse left behind.
struct Built {
    stack: Vec<Frame>,
    root: Option<Value>,
    errors: Vec<ConfigError>,
    /// How many errors came before the root's `routes:` value.
    routes_errors_at: Option<usize>,
    /// One past the index of the last item of the routes list, once closed.
    routes_end: Option<usize>,
}

impl Built {
    /// The whole document and its errors; None when it is not complete (or
    /// is empty: serde_yaml reads that as null, and decides).
    fn finish(self) -> Option<(Value, Vec<ConfigError>)> {
        self.stack.is_empty().then_some(())?;
        Some((self.root?, self.errors))
    }

    /// The errors of a piece of the routes list, when it held exactly the
    /// items up to `end` and nothing else.
    fn finish_piece(self, end: usize) -> Option<Vec<ConfigError>> {
        match self.stack.as_slice() {
            [Frame::Mapping { map, key: None }] if self.root.is_none() && map.len() == 1 => {
                let routes = map.get("routes")?;
                (routes.as_sequence().is_some_and(Vec::is_empty) && self.routes_end == Some(end)).then_some(self.errors)
            }
            _ => None,
        }
    }
}

/// Characters a plain scalar cannot begin with, or that libyaml reads as
/// an indicator where yaml-rust2 reads a plain scalar: YAML's indicators
/// (`ns-plain-first`), plus `?` and `:`, which libyaml takes as a key or
/// value indicator inside flow collections even with no space after them
/// (`[?-a]` is a mapping there, a string to yaml-rust2).
const INDICATORS: &[char] =
    &['[', ']', '{', '}', ',', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', '?', ':'];

impl Builder<'_> {
    /// A scalar, typed as serde_yaml types it; strings in value position are
    /// interpolated (keys never are).
    fn scalar(&mut self, text: String, style: TScalarStyle) -> Option<()> {
        let value = match style {
            // yaml-rust2 reads plain scalars that begin with an indicator
            // (`{a: 1,|b: 2}`, `[?-a]`) where libyaml reports a syntax
            // error or reads something else: such texts are left to
            // serde_yaml (found by the mutation fuzz in yaml/tests.rs).
            TScalarStyle::Plain if text.starts_with(INDICATORS) => return None,
            TScalarStyle::Plain => plain_scalar(text)?,
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted | TScalarStyle::Literal | TScalarStyle::Folded => {
                Value::String(text)
            }
        };
        let is_key = matches!(self.built.stack.last(), Some(Frame::Mapping { key: None, .. }));
        let value = match value {
            Value::String(s) if !is_key && s.contains('$') => match interpolate_value(&s, self.env, || self.path()) {
                Ok(replaced) => Value::String(replaced),
                Err((path, message)) => {
                    self.built.errors.push(ConfigError::new(path, message));
                    Value::String(s)
                }
            },
            other => other,
        };
        self.push(value)
    }

    /// True when the next scalar is a mapping key.
    fn expects_key(&self) -> bool {
        matches!(self.built.stack.last(), Some(Frame::Mapping { key: None, .. }))
    }

    fn open(&mut self, mut frame: Frame) -> Option<()> {
        if self.built.stack.len() >= MAX_DEPTH
            || matches!(self.built.stack.last(), Some(Frame::Mapping { key: None, .. }))
        {
            // Too deep, or a list or mapping used as a key.
            return None;
        }
        if let (Frame::Sequence { streamed, .. }, [Frame::Mapping { key: Some(Value::String(key)), .. }]) =
            (&mut frame, self.built.stack.as_slice())
        {
            if key == "routes" {
                *streamed = Some(self.first_route);
            }
        }
        self.built.stack.push(frame);
        Some(())
    }

    fn close(&mut self) -> Option<()> {
        let value = match self.built.stack.pop()? {
            Frame::Sequence { items, streamed } => {
                if streamed.is_some() {
                    self.built.routes_end = streamed;
                }
                Value::Sequence(items)
            }
            Frame::Mapping { map, key: None } => Value::Mapping(map),
            Frame::Mapping { key: Some(_), .. } => return None,
        };
        self.push(value)
    }

    /// Adds a finished node to its parent.
    fn push(&mut self, value: Value) -> Option<()> {
        let depth = self.built.stack.len();
        match self.built.stack.last_mut() {
            None if self.built.root.is_none() => self.built.root = Some(value),
            None => return None,
            Some(Frame::Sequence { streamed: Some(count), .. }) => {
                *count += 1;
                (self.on_route)(value);
            }
            Some(Frame::Sequence { items, streamed: None }) => items.push(value),
            Some(Frame::Mapping { key: key @ None, .. }) => *key = Some(value),
            Some(Frame::Mapping { map, key }) => match map.entry(key.take()?) {
                Entry::Vacant(slot) if depth == 1 && slot.key().as_str() == Some("routes") => {
                    self.built.routes_errors_at = Some(self.built.errors.len());
                    slot.insert(value);
                }
                // serde_yaml refuses duplicate keys; let it say so.
                Entry::Occupied(_) => return None,
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
            },
        }
        Some(())
    }

    /// The key path of the node being built, spelt as the interpolation walk
    /// spells it (`routes[3].actions[0].forward.url`).
    fn path(&self) -> String {
        let mut out = String::new();
        for frame in &self.built.stack {
            match frame {
                Frame::Sequence { items, streamed } => {
                    out.push_str(&format!("[{}]", streamed.unwrap_or(items.len())));
                }
                Frame::Mapping { key, .. } => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key.as_ref().and_then(Value::as_str).unwrap_or("?"));
                }
            }
        }
        out
    }
}

mod scalars;
pub(crate) use scalars::plain_scalar;

#[cfg(test)]
mod tests;
