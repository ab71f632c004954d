//! Path patterns and the index that finds a request's candidate routes.
//!
//! Patterns are `/literal`, `/{param}` (one whole segment) and a trailing
//! `/{*rest}` (one or more characters). A request's candidates are *all*
//! routes whose pattern matches, in file order — not just the most specific
//! one — because routes on overlapping patterns are tried in order like any
//! others.
//!
//! Lookup must not scan the routes: patterns with the same shape share a
//! group, groups live in a radix tree (matchit), and each group knows, from
//! load time, which other groups could also match the same path (only
//! patterns with parameters can). Groups matchit refuses to hold side by side
//! (a `{param}` and a `{*rest}` at the same position) are checked directly;
//! that is rare and costs only those configs.
//!
//! Trailing slashes: providers' webhook URL fields are filled in by hand, so
//! `/hooks/github/` and `/hooks/github` are the same route unless the route
//! says `strict_slash: true`. A redirect is no answer (many senders do not
//! follow one for a POST, and a 301 turns a POST into a GET), so both
//! spellings are matched directly: a lenient pattern is stored without its
//! trailing slash, and a request path ending in `/` is looked up without it
//! for lenient routes and as sent for strict ones. A path without a trailing
//! slash, the usual case, costs one lookup as before.

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Literal(String),
    Param(String),
    CatchAll(String),
}

impl Segment {
    fn len(&self) -> usize {
        match self {
            Segment::Literal(s) | Segment::Param(s) | Segment::CatchAll(s) => s.len(),
        }
    }
}

/// A parsed, validated path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathPattern {
    segments: Vec<Segment>,
    /// `strict_slash: true`: a trailing slash in the request must be as
    /// written here. Otherwise the pattern holds no trailing slash and
    /// matches the path with or without one.
    strict_slash: bool,
}

/// Why a route's `path:` is not a path pattern; each message names the
/// pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathError {
    #[error("path {pattern:?} must start with `/`")]
    NoLeadingSlash { pattern: String },
    #[error("invalid parameter name {name:?} in path {pattern:?} (use letters, digits and _)")]
    ParamName { name: String, pattern: String },
    #[error("parameter {{{name}}} appears twice in path {pattern:?}")]
    DuplicateParam { name: String, pattern: String },
    #[error("{{*{name}}} must be the last segment of path {pattern:?}")]
    CatchAllNotLast { name: String, pattern: String },
    #[error("in path {pattern:?}, a parameter must be a whole segment like /{{id}}")]
    PartialSegment { pattern: String },
    #[error("path {pattern:?} has an empty segment (`//`)")]
    EmptySegment { pattern: String },
}

impl PathPattern {
    /// Parses a route's `path:` with the default rule: a trailing slash is
    /// insignificant.
    #[cfg(test)]
    pub(crate) fn parse(pattern: &str) -> Result<Self, PathError> {
        Self::with_slash_rule(pattern, false)
    }

    /// Parses a route's `path:`; `strict_slash` makes a trailing slash part
    /// of the path (`/a/` then never matches `/a`, nor `/a` `/a/`).
    pub(crate) fn with_slash_rule(pattern: &str, strict_slash: bool) -> Result<Self, PathError> {
        let mut parsed = Self::parse_segments(pattern)?;
        if !strict_slash && parsed.segments.last() == Some(&Segment::Literal(String::new())) {
            parsed.segments.pop();
        }
        parsed.strict_slash = strict_slash;
        Ok(parsed)
    }

    fn parse_segments(pattern: &str) -> Result<Self, PathError> {
        let owned = || pattern.to_string();
        let rest = pattern.strip_prefix('/').ok_or_else(|| PathError::NoLeadingSlash { pattern: owned() })?;
        let mut segments = Vec::new();
        let parts: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split('/').collect() };
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let (catch_all, name) = match inner.strip_prefix('*') {
                    Some(name) => (true, name),
                    None => (false, inner),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(PathError::ParamName { name: name.to_string(), pattern: owned() });
                }
                if segments.iter().any(|s| matches!(s, Segment::Param(n) | Segment::CatchAll(n) if n == name)) {
                    return Err(PathError::DuplicateParam { name: name.to_string(), pattern: owned() });
                }
                if catch_all && !last {
                    return Err(PathError::CatchAllNotLast { name: name.to_string(), pattern: owned() });
                }
                segments.push(if catch_all {
                    Segment::CatchAll(name.to_string())
                } else {
                    Segment::Param(name.to_string())
                });
            } else if part.contains(['{', '}']) {
                return Err(PathError::PartialSegment { pattern: owned() });
            } else if part.is_empty() && !last {
                return Err(PathError::EmptySegment { pattern: owned() });
            } else {
                segments.push(Segment::Literal(part.to_string()));
            }
        }
        Ok(PathPattern { segments, strict_slash: false })
    }

    /// Parameter names in order.
    pub(crate) fn param_names(&self) -> Vec<String> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(n) | Segment::CatchAll(n) => Some(n.clone()),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    fn is_dynamic(&self) -> bool {
        self.segments.iter().any(|s| !matches!(s, Segment::Literal(_)))
    }

    /// The pattern with parameters renamed by position, so patterns of the
    /// same shape share one entry in the tree.
    fn shape(&self) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(self.segments.iter().map(|s| s.len() + 6).sum());
        for (i, seg) in self.segments.iter().enumerate() {
            out.push('/');
            match seg {
                // parse() keeps braces out of literals; escape them anyway
                // should that change, without a copy when there are none.
                Segment::Literal(l) if l.contains(['{', '}']) => out.push_str(&l.replace('{', "{{").replace('}', "}}")),
                Segment::Literal(l) => out.push_str(l),
                Segment::Param(_) => {
                    let _ = write!(out, "{{p{i}}}");
                }
                Segment::CatchAll(_) => {
                    let _ = write!(out, "{{*p{i}}}");
                }
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }

    /// Matches `path` directly, returning the raw parameter values in order.
    fn match_path<'p>(&self, path: &'p str) -> Option<Vec<&'p str>> {
        let mut rest = path.strip_prefix('/')?;
        let mut values = Vec::new();
        if self.segments.is_empty() {
            return rest.is_empty().then_some(values);
        }
        for (i, seg) in self.segments.iter().enumerate() {
            let last = i + 1 == self.segments.len();
            if let Segment::CatchAll(_) = seg {
                if rest.is_empty() {
                    return None;
                }
                values.push(rest);
                return Some(values);
            }
            let (part, tail) = match rest.split_once('/') {
                Some((p, t)) if !last => (p, Some(t)),
                Some(_) => return None,
                None if last => (rest, None),
                None => return None,
            };
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Param(_) if !part.is_empty() => values.push(part),
                _ => return None,
            }
            rest = tail.unwrap_or("");
        }
        Some(values)
    }
}

/// The dynamic patterns, by segment, to find which may match the same paths
/// as a given pattern. Errs on the side of "may": the answer only decides
/// which groups are checked directly at lookup.
#[derive(Default)]
struct DynamicTrie<'p> {
    /// Keys borrow the patterns' segments: the trie lives only while the
    /// index is built.
    literal: std::collections::HashMap<&'p str, DynamicTrie<'p>>,
    param: Option<Box<DynamicTrie<'p>>>,
    /// Groups whose pattern ends here.
    end: Vec<usize>,
    /// Groups whose pattern ends with a catch-all at this position.
    catch_all: Vec<usize>,
}

impl<'p> DynamicTrie<'p> {
    fn insert(&mut self, segments: &'p [Segment], group: usize) {
        match segments.split_first() {
            None => self.end.push(group),
            Some((Segment::CatchAll(_), _)) => self.catch_all.push(group),
            Some((Segment::Literal(l), rest)) => self.literal.entry(l.as_str()).or_default().insert(rest, group),
            Some((Segment::Param(_), rest)) => self.param.get_or_insert_with(Default::default).insert(rest, group),
        }
    }

    fn overlapping(&self, segments: &[Segment], out: &mut Vec<usize>) {
        out.extend_from_slice(&self.catch_all);
        match segments.split_first() {
            None => out.extend_from_slice(&self.end),
            Some((Segment::CatchAll(_), _)) => self.all(out),
            Some((Segment::Literal(l), rest)) => {
                if let Some(child) = self.literal.get(l.as_str()) {
                    child.overlapping(rest, out);
                }
                if let Some(child) = &self.param {
                    child.overlapping(rest, out);
                }
            }
            Some((Segment::Param(_), rest)) => {
                for child in self.literal.values() {
                    child.overlapping(rest, out);
                }
                if let Some(child) = &self.param {
                    child.overlapping(rest, out);
                }
            }
        }
    }

    fn all(&self, out: &mut Vec<usize>) {
        out.extend_from_slice(&self.end);
        out.extend_from_slice(&self.catch_all);
        for child in self.literal.values().chain(self.param.as_deref()) {
            child.all(out);
        }
    }
}

/// A route found for a request path, with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub route: usize,
    pub params: Vec<(String, String)>,
}

struct Group {
    pattern: PathPattern,
    /// (route index, that route's parameter names, its `strict_slash`), in
    /// file order. Strict and lenient patterns of one shape share a group.
    routes: Vec<(usize, Vec<String>, bool)>,
    /// Other groups that may match the same paths.
    overlaps: Vec<usize>,
}

/// Finds candidate routes by path without scanning all routes.
pub(crate) struct PathIndex {
    tree: matchit::Router<usize>,
    groups: Vec<Group>,
    /// Groups matchit would not hold; always checked directly.
    unindexed: Vec<usize>,
    /// Some route has `strict_slash: true`: a path ending in `/` is then
    /// also looked up as sent.
    any_strict: bool,
}

/// Which routes a lookup keeps, by their trailing-slash rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    All,
    Lenient,
    Strict,
}

impl Keep {
    fn keeps(self, strict: bool) -> bool {
        match self {
            Keep::All => true,
            Keep::Lenient => !strict,
            Keep::Strict => strict,
        }
    }
}

impl PathIndex {
    /// Builds the index from each route's pattern, in route order.
    #[cfg(test)]
    pub(crate) fn build(patterns: &[PathPattern]) -> Self {
        Self::from_patterns(patterns.to_vec())
    }

    /// Builds the index from each route's pattern, in route order, taking
    /// the patterns instead of copying them: a 10,000-route reload builds
    /// this index on one thread.
    pub(crate) fn from_patterns(patterns: Vec<PathPattern>) -> Self {
        let mut by_shape: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(patterns.len());
        let mut groups: Vec<Group> = Vec::new();
        let any_strict = patterns.iter().any(|p| p.strict_slash);
        for (route, pattern) in patterns.into_iter().enumerate() {
            let names = pattern.param_names();
            let strict = pattern.strict_slash;
            match by_shape.entry(pattern.shape()) {
                std::collections::hash_map::Entry::Occupied(g) => groups[*g.get()].routes.push((route, names, strict)),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(groups.len());
                    groups.push(Group { pattern, routes: vec![(route, names, strict)], overlaps: Vec::new() });
                }
            }
        }
        // Each group's shape, for the tree, in group order.
        let mut shapes = vec![String::new(); groups.len()];
        for (shape, g) in by_shape {
            shapes[g] = shape;
        }
        // When the tree answers with a group, any *other* group matching the
        // same path has parameters: a fully literal group matching the path
        // would have been the tree's answer. So only dynamic patterns need to
        // be found, and a trie over them finds them in O(depth) per group for
        // ordinary configs instead of O(groups).
        let mut trie = DynamicTrie::default();
        for (g, group) in groups.iter().enumerate() {
            if group.pattern.is_dynamic() {
                trie.insert(&group.pattern.segments, g);
            }
        }
        let overlaps: Vec<Vec<usize>> = groups
            .iter()
            .enumerate()
            .map(|(g, group)| {
                let mut found = Vec::new();
                trie.overlapping(&group.pattern.segments, &mut found);
                found.retain(|o| *o != g);
                found.sort_unstable();
                found.dedup();
                found
            })
            .collect();
        drop(trie);
        for (group, found) in groups.iter_mut().zip(overlaps) {
            group.overlaps = found;
        }
        let mut tree = matchit::Router::new();
        let mut unindexed = Vec::new();
        for (g, shape) in shapes.into_iter().enumerate() {
            if tree.insert(shape, g).is_err() {
                unindexed.push(g);
            }
        }
        PathIndex { tree, groups, unindexed, any_strict }
    }

    /// All routes whose pattern matches `path`, in file order. A trailing
    /// slash is ignored for lenient routes and kept for strict ones (see
    /// the module documentation); `/` itself is never trimmed.
    pub(crate) fn lookup(&self, path: &str) -> Vec<Candidate> {
        let Some(trimmed) = path.strip_suffix('/').filter(|t| !t.is_empty()) else {
            return self.lookup_keeping(path, Keep::All);
        };
        let mut out = self.lookup_keeping(trimmed, Keep::Lenient);
        if self.any_strict {
            out.extend(self.lookup_keeping(path, Keep::Strict));
            out.sort_by_key(|c| c.route);
        }
        out
    }

    fn lookup_keeping(&self, path: &str, keep: Keep) -> Vec<Candidate> {
        let mut out = Vec::new();
        let mut seen_groups: Vec<usize> = Vec::new();
        if let Ok(m) = self.tree.at(path) {
            let g = *m.value;
            let values: Vec<&str> = m.params.iter().map(|(_, v)| v).collect();
            self.push_group(g, &values, keep, &mut out);
            seen_groups.push(g);
            for &o in &self.groups[g].overlaps {
                self.try_group(o, path, keep, &mut out, &mut seen_groups);
            }
        }
        for &g in &self.unindexed {
            self.try_group(g, path, keep, &mut out, &mut seen_groups);
        }
        if seen_groups.len() > 1 {
            out.sort_by_key(|c| c.route);
        }
        out
    }

    fn try_group(&self, g: usize, path: &str, keep: Keep, out: &mut Vec<Candidate>, seen: &mut Vec<usize>) {
        if seen.contains(&g) {
            return;
        }
        if let Some(values) = self.groups[g].pattern.match_path(path) {
            self.push_group(g, &values, keep, out);
            seen.push(g);
        }
    }

    fn push_group(&self, g: usize, values: &[&str], keep: Keep, out: &mut Vec<Candidate>) {
        for (route, names, _) in self.groups[g].routes.iter().filter(|(_, _, strict)| keep.keeps(*strict)) {
            let params = names
                .iter()
                .zip(values)
                .map(|(n, v)| (n.clone(), percent_decode_str(v).decode_utf8_lossy().into_owned()))
                .collect();
            out.push(Candidate { route: *route, params });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(patterns: &[&str]) -> PathIndex {
        PathIndex::build(&patterns.iter().map(|p| PathPattern::parse(p).unwrap()).collect::<Vec<_>>())
    }

    fn routes(idx: &PathIndex, path: &str) -> Vec<usize> {
        idx.lookup(path).into_iter().map(|c| c.route).collect()
    }

    #[test]
    fn overlapping_patterns_all_match_in_file_order() {
        let idx = index(&["/hooks/{provider}", "/hooks/github", "/{*rest}", "/hooks/github", "/other"]);
        assert_eq!(routes(&idx, "/hooks/github"), vec![0, 1, 2, 3]);
        assert_eq!(routes(&idx, "/hooks/stripe"), vec![0, 2]);
        assert_eq!(routes(&idx, "/other"), vec![2, 4]);
        assert_eq!(routes(&idx, "/"), Vec::<usize>::new());
    }

    #[test]
    fn conflicting_shapes_are_still_found() {
        let idx = index(&["/a/{x}", "/a/{*rest}"]);
        assert_eq!(routes(&idx, "/a/b"), vec![0, 1]);
        assert_eq!(routes(&idx, "/a/b/c"), vec![1]);
        let c = idx.lookup("/a/b%20c/d");
        assert_eq!(c[0].params, vec![("rest".to_string(), "b c/d".to_string())]);
    }

    #[test]
    fn params_use_each_routes_names() {
        let idx = index(&["/r/{a}", "/r/{b}"]);
        let c = idx.lookup("/r/x");
        assert_eq!(c[0].params, vec![("a".to_string(), "x".to_string())]);
        assert_eq!(c[1].params, vec![("b".to_string(), "x".to_string())]);
    }

    #[test]
    fn rejects_bad_patterns() {
        assert!(PathPattern::parse("hooks").unwrap_err().to_string().contains("must start with"));
        assert!(PathPattern::parse("/a/{*r}/b").unwrap_err().to_string().contains("last segment"));
        assert!(PathPattern::parse("/a/x{id}").unwrap_err().to_string().contains("whole segment"));
        assert!(PathPattern::parse("/a//b").unwrap_err().to_string().contains("empty segment"));
        assert!(PathPattern::parse("/{a}/{a}").unwrap_err().to_string().contains("twice"));
    }

    proptest::proptest! {
        /// The index finds exactly the routes a scan of every pattern finds.
        #[test]
        fn lookup_agrees_with_a_full_scan(
            raw in proptest::collection::vec(proptest::collection::vec(0usize..5, 0..4), 1..12),
            paths in proptest::collection::vec(proptest::collection::vec(0usize..3, 0..5), 1..20),
        ) {
            let seg = ["a", "b", "{p}", "{q}", "{*r}"];
            let patterns: Vec<PathPattern> = raw
                .iter()
                .filter_map(|segs| PathPattern::parse(&format!("/{}", segs.iter().map(|i| seg[*i]).collect::<Vec<_>>().join("/"))).ok())
                .collect();
            proptest::prop_assume!(!patterns.is_empty());
            let idx = PathIndex::build(&patterns);
            for p in &paths {
                let path = format!("/{}", p.iter().map(|i| ["a", "b", "c"][*i]).collect::<Vec<_>>().join("/"));
                let expected: Vec<usize> = (0..patterns.len()).filter(|i| patterns[*i].match_path(&path).is_some()).collect();
                proptest::prop_assert_eq!(routes(&idx, &path), expected, "path {}", path);
            }
        }
    }

    #[test]
    fn a_trailing_slash_is_insignificant_unless_strict() {
        let idx = index(&["/a", "/b/", "/f/{*rest}", "/"]);
        assert_eq!(routes(&idx, "/a"), vec![0]);
        assert_eq!(routes(&idx, "/a/"), vec![0]);
        assert_eq!(routes(&idx, "/b/"), vec![1]);
        assert_eq!(routes(&idx, "/b"), vec![1]);
        assert_eq!(routes(&idx, "/"), vec![3]);
        assert_eq!(idx.lookup("/f/x/y/")[0].params, vec![("rest".to_string(), "x/y".to_string())]);

        let strict = |p: &str| PathPattern::with_slash_rule(p, true).unwrap();
        let lenient = |p: &str| PathPattern::parse(p).unwrap();
        let idx = PathIndex::build(&[strict("/a"), strict("/b/"), lenient("/a"), strict("/f/{*rest}")]);
        assert_eq!(routes(&idx, "/a"), vec![0, 2]);
        assert_eq!(routes(&idx, "/a/"), vec![2]);
        assert_eq!(routes(&idx, "/b/"), vec![1]);
        assert_eq!(routes(&idx, "/b"), Vec::<usize>::new());
        assert_eq!(idx.lookup("/f/x/")[0].params, vec![("rest".to_string(), "x/".to_string())]);
    }
}
