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

use serde_yaml::mapping::Entry;
use serde_yaml::{Mapping, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use super::error::ConfigError;
use super::interpolate::{interpolate_str, Environment};

/// A file read by [`parse`].
pub struct Parsed<R> {
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
pub fn parse<R: Send>(text: &str, env: &dyn Environment, decode: impl Fn(Value) -> R + Sync) -> Option<Parsed<R>> {
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
    loop {
        let (event, _) = parser.next_token().ok()?;
        match event {
            Event::StreamEnd => return Some(builder.built),
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart => {
                builder.documents += 1;
                (builder.documents == 1).then_some(())?;
            }
            Event::Scalar(text, style, 0, None) => builder.scalar(text, style)?,
            Event::SequenceStart(0, None) => builder.open(Frame::Sequence { items: Vec::new(), streamed: None })?,
            Event::MappingStart(0, None) => builder.open(Frame::Mapping { map: Mapping::new(), key: None })?,
            Event::SequenceEnd | Event::MappingEnd => builder.close()?,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(_) => return None,
        }
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

impl Builder<'_> {
    /// A scalar, typed as serde_yaml types it; strings in value position are
    /// interpolated (keys never are).
    fn scalar(&mut self, text: String, style: TScalarStyle) -> Option<()> {
        let value = match style {
            TScalarStyle::Plain => plain_scalar(text)?,
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted | TScalarStyle::Literal | TScalarStyle::Folded => {
                Value::String(text)
            }
        };
        let is_key = matches!(self.built.stack.last(), Some(Frame::Mapping { key: None, .. }));
        let value = match value {
            Value::String(s) if !is_key && s.contains('$') => match interpolate_str(&s, self.env) {
                Ok(replaced) => Value::String(replaced),
                Err(message) => {
                    self.built.errors.push(ConfigError::new(self.path(), message));
                    Value::String(s)
                }
            },
            other => other,
        };
        self.push(value)
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

/// A plain (unquoted) scalar as serde_yaml 0.9 reads it into a `Value`
/// (`de.rs`, `visit_untagged_scalar`): empty or a null word is null, the
/// true/false words are booleans, then decimal/`0x`/`0o`/`0b` integers,
/// then floats (with `.inf` and `.nan`), and anything else is a string.
/// None for an integer past 64 bits, which serde_yaml refuses.
pub fn plain_scalar(text: String) -> Option<Value> {
    // Every non-string reading starts with one of these; most scalars in a
    // config (names, paths, URLs) do not and are settled here.
    let first = text.bytes().next();
    if first.is_some_and(|b| {
        !matches!(b, b'0'..=b'9' | b'+' | b'-' | b'.' | b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'i' | b'I')
    }) {
        return Some(Value::String(text));
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    if let Some(n) = parse_unsigned_int(&text, u64::from_str_radix) {
        return Some(Value::Number(n.into()));
    }
    if let Some(n) = parse_negative_int(&text, i64::from_str_radix) {
        return Some(Value::Number(n.into()));
    }
    if parse_unsigned_int(&text, u128::from_str_radix).is_some()
        || parse_negative_int(&text, i128::from_str_radix).is_some()
    {
        return None;
    }
    if !digits_but_not_number(&text) {
        if let Some(f) = parse_f64(&text) {
            return Some(Value::Number(f.into()));
        }
    }
    Some(Value::String(text))
}

// The rest is serde_yaml 0.9.34's scalar resolution (`de.rs`), kept to the
// letter: a plain scalar must mean here what it meant there.

type FromStrRadix<T> = fn(&str, u32) -> Result<T, std::num::ParseIntError>;

fn parse_unsigned_int<T>(scalar: &str, from_str_radix: FromStrRadix<T>) -> Option<T> {
    let unpositive = scalar.strip_prefix('+').unwrap_or(scalar);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(int) = from_str_radix(rest, radix) {
                return Some(int);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(unpositive, 10).ok()
}

fn parse_negative_int<T>(scalar: &str, from_str_radix: FromStrRadix<T>) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = scalar.strip_prefix(prefix) {
            if let Ok(int) = from_str_radix(&format!("-{rest}"), radix) {
                return Some(int);
            }
        }
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(scalar, 10).ok()
}

fn parse_f64(scalar: &str) -> Option<f64> {
    let unpositive = match scalar.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => scalar,
    };
    if let ".inf" | ".Inf" | ".INF" = unpositive {
        return Some(f64::INFINITY);
    }
    if let "-.inf" | "-.Inf" | "-.INF" = scalar {
        return Some(f64::NEG_INFINITY);
    }
    if let ".nan" | ".NaN" | ".NAN" = scalar {
        return Some(f64::NAN.copysign(1.0));
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Leading zeros followed by digits are a string in YAML 1.2.
fn digits_but_not_number(scalar: &str) -> bool {
    let scalar = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    scalar.len() > 1 && scalar.starts_with('0') && scalar[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
