//! Decoding only the parts of a JSON body that routing reads.
//!
//! Building a whole `serde_json::Value` for a 7 KiB GitHub push costs a few
//! hundred allocations and was most of a request's CPU time, while the
//! routes usually read two or three fields (`$.ref`,
//! `$.repository.full_name`). A [`Projection`] is the set of member chains
//! the active config's conditions can read, compiled with the snapshot;
//! [`decode`] walks the whole body once — so it is still validated, and an
//! invalid body is still a 400 — but builds values only along those chains
//! and skips everything else without allocating.
//!
//! The result is a pruned document: every object on a projected chain keeps
//! only the projected keys, and the value at the end of a chain is kept
//! whole. A member-chain path therefore selects exactly what it selects in
//! the full document (property-tested below). Anything richer than a member
//! chain (wildcards, filters, indices into arrays, `$` itself) makes the
//! projection [`Projection::full`]. Actions that want the whole document
//! (templates, file records, dedup and ordering keys) get it from
//! [`super::Event::document`], parsed on first use.
//!
//! serde_json keeps each number's text (`arbitrary_precision`, so an
//! integer of any size keeps its digits) and hands it to a visitor as a
//! one-entry map under a private key; [`number`] turns that back into a
//! `Number` and checks its range, which serde_json then no longer does.
//! The whole document is built by the same visitors, so a full decode and
//! a projected one refuse the same bodies.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Which parts of a JSON body to build.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Projection {
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Build this value whole.
    Full,
    /// If this value is an object, build only these members (none: validate
    /// only); any other value is built whole. A list, not a hash map: there
    /// are a handful of members, and every key of the document is looked up
    /// here, where comparing a few short strings beats hashing each key.
    Members(Vec<(Box<str>, Node)>),
}

impl Projection {
    /// Build the whole document.
    pub(crate) fn full() -> Self {
        Projection { root: Node::Full }
    }

    /// Build nothing: validate the body only.
    pub(crate) fn nothing() -> Self {
        Projection { root: Node::Members(Vec::new()) }
    }

    /// True when decoding builds the whole document.
    pub(crate) fn is_full(&self) -> bool {
        self.root == Node::Full
    }

    /// Adds a member chain (`["repository", "full_name"]` for
    /// `$.repository.full_name`) whose value must be built; None means a
    /// path that may read anything, which makes the projection full.
    pub(crate) fn add(&mut self, chain: Option<&[&str]>) {
        let Some(chain) = chain else {
            self.root = Node::Full;
            return;
        };
        let mut node = &mut self.root;
        for key in chain {
            match node {
                Node::Full => return,
                Node::Members(members) => {
                    let at = match members.iter().position(|(k, _)| **k == **key) {
                        Some(at) => at,
                        None => {
                            members.push((Box::from(*key), Node::nothing()));
                            members.len() - 1
                        }
                    };
                    node = &mut members[at].1;
                }
            }
        }
        *node = Node::Full;
    }
}

impl Node {
    fn nothing() -> Node {
        Node::Members(Vec::new())
    }
}

/// Decodes `text` as JSON, building only what `projection` names. Fails
/// exactly when the text is not one valid JSON value.
pub(crate) fn decode(text: &str, projection: &Projection) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Project(&projection.root).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A value decoded under one projection node.
struct Project<'p>(&'p Node);

impl<'de> DeserializeSeed<'de> for Project<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(Pruned(self.0))
    }
}

/// Every member of a value built whole.
static FULL: Node = Node::Full;

/// The key under which serde_json (with `arbitrary_precision`) hands a
/// number's text to a visitor, as a one-entry map. Private to serde_json,
/// so a serde_json upgrade that renamed it would fail the tests below.
const NUMBER_KEY: &str = "$serde_json::private::Number";

/// A number's text as serde_json scanned it, as a `Number`. serde_json
/// keeps the text without converting it, so the check a conversion made
/// is made here: a number that is not an integer must be a finite f64
/// (`1e400` is refused as it was before, with serde_json's message).
/// Integers are exact at any size.
fn number<E: serde::de::Error>(text: String) -> Result<Value, E> {
    let integral = !text.contains(['.', 'e', 'E']);
    if !integral && !text.parse::<f64>().is_ok_and(f64::is_finite) {
        return Err(E::custom("number out of range"));
    }
    text.parse::<Number>().map(Value::Number).map_err(E::custom)
}

/// Builds an object with only the projected members (all of them under
/// [`Node::Full`]); other shapes whole.
struct Pruned<'p>(&'p Node);

impl<'de> Visitor<'de> for Pruned<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(wanted) = map.next_key_seed(Key(self.0))? {
            match wanted {
                // As in serde_json's own Value: a repeated key keeps its
                // first position and its last value.
                Wanted::Member(key, node) => {
                    let value = map.next_value_seed(Project(node))?;
                    out.insert(key, value);
                }
                Wanted::Not => {
                    map.next_value::<Skip>()?;
                }
                Wanted::Number => return number(map.next_value::<String>()?),
            }
        }
        Ok(Value::Object(out))
    }

    // A member chain selects nothing inside an array, but a projection
    // node can meet one when a document does not have the expected shape;
    // it is built whole, as a full decode would build it.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Project(&FULL))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// A value that is checked as a full decode would check it, and dropped.
///
/// Not serde's `IgnoredAny`: serde_json skips an ignored value with a fast
/// scanner that does not count nesting depth, check `\u` escapes or the
/// range of numbers, so a body a full decode rejects (200 levels deep,
/// `"\ud800"`, `1e400`) would pass when the bad part sat outside the
/// projected chains — routed as JSON, with no document for templates.
/// Through `deserialize_any` serde_json applies its usual checks and
/// recursion limit, and still builds nothing but each number's text
/// (serde_json scans it into a short string to keep every digit): strings
/// without escapes are borrowed from the body.
struct Skip;

impl<'de> serde::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Skip, D::Error> {
        deserializer.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        const NOTHING: &Node = &Node::Members(Vec::new());
        while let Some(wanted) = map.next_key_seed(Key(NOTHING))? {
            match wanted {
                Wanted::Number => {
                    number::<A::Error>(map.next_value::<String>()?)?;
                }
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
}

/// An object key: the key and its projection node when it is wanted, Not
/// (without allocating) when it is not, Number when the "object" is
/// serde_json's wrapping of a number (see [`NUMBER_KEY`]).
struct Key<'p>(&'p Node);

enum Wanted<'p> {
    Member(String, &'p Node),
    Not,
    Number,
}

impl<'de, 'p> DeserializeSeed<'de> for Key<'p> {
    type Value = Wanted<'p>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'p> Visitor<'de> for Key<'p> {
    type Value = Wanted<'p>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        if key == NUMBER_KEY {
            return Ok(Wanted::Number);
        }
        Ok(match self.0 {
            Node::Full => Wanted::Member(key.to_string(), &FULL),
            Node::Members(members) => match members.iter().find(|(k, _)| **k == *key) {
                Some((k, node)) => Wanted::Member(k.to_string(), node),
                None => Wanted::Not,
            },
        })
    }

    fn visit_string<E: serde::de::Error>(self, key: String) -> Result<Self::Value, E> {
        match self.0 {
            Node::Full if key != NUMBER_KEY => Ok(Wanted::Member(key, &FULL)),
            _ => self.visit_str(&key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn projection(paths: &[&[&str]]) -> Projection {
        let mut p = Projection::nothing();
        for path in paths {
            p.add(Some(path));
        }
        p
    }

    #[test]
    fn builds_only_projected_chains() {
        let text =
            r#"{"ref":"refs/heads/main","repository":{"full_name":"a/b","owner":{"login":"x"}},"commits":[1,2]}"#;
        let p = projection(&[&["ref"], &["repository", "full_name"]]);
        assert_eq!(decode(text, &p).unwrap(), json!({"ref": "refs/heads/main", "repository": {"full_name": "a/b"}}));
        assert_eq!(decode(text, &Projection::nothing()).unwrap(), json!({}));
        assert_eq!(decode(text, &Projection::full()).unwrap(), serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn a_shorter_chain_keeps_the_whole_subtree() {
        let mut p = projection(&[&["repository", "full_name"]]);
        p.add(Some(&["repository"]));
        let text = r#"{"repository":{"full_name":"a/b","id":7}}"#;
        assert_eq!(decode(text, &p).unwrap(), json!({"repository": {"full_name": "a/b", "id": 7}}));
        p.add(Some(&["repository", "owner"]));
        assert_eq!(decode(text, &p).unwrap(), json!({"repository": {"full_name": "a/b", "id": 7}}));
        p.add(None);
        assert!(p.is_full());
    }

    #[test]
    fn skipped_parts_are_still_validated() {
        let p = projection(&[&["ref"]]);
        for bad in
            [r#"{"ref":"x","other":[1,}"#, r#"{"ref":"x","n":01}"#, r#"{"ref":"x"} trailing"#, r#"{"a":"\q"}"#, ""]
        {
            assert!(decode(bad, &p).is_err(), "{bad}");
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn skipped_parts_are_checked_as_strictly_as_a_full_decode() {
        let deep = format!(r#"{{"ref":"x","other":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        let p = projection(&[&["ref"]]);
        for bad in [
            deep.as_str(),
            r#"{"ref":"x","other":"\ud800"}"#,
            r#"{"ref":"x","other":"\udc00"}"#,
            r#"{"ref":"x","other":1e400}"#,
            r#"{"ref":"x","other":{"\ud800":1}}"#,
        ] {
            let full = decode(bad, &Projection::full()).unwrap_err().to_string();
            let projected = decode(bad, &p).unwrap_err().to_string();
            assert_eq!(projected, full, "{bad}");
        }
        // serde_json keeps a number's text unchecked; the range check is ours.
        let huge = decode(r#"{"ref":"x","other":1e400}"#, &p).unwrap_err().to_string();
        assert_eq!(huge, "number out of range at line 1 column 24");
        // Depth inside the limit is fine, as in a full decode.
        let nested = format!(r#"{{"ref":"x","other":{}1{}}}"#, "[".repeat(100), "]".repeat(100));
        assert_eq!(decode(&nested, &p).unwrap(), json!({"ref": "x"}));
    }

    #[test]
    fn integers_keep_every_digit_and_fractions_their_range() {
        let text = r#"{"id":123456789012345678901234567890,"n":-98765432109876543210987654321,"f":1.5,"tiny":1e-400,"deep":{"id":123456789012345678901234567890}}"#;
        for p in [projection(&[&["id"], &["n"], &["f"], &["tiny"]]), Projection::full()] {
            let doc = decode(text, &p).unwrap();
            assert_eq!(doc["id"].to_string(), "123456789012345678901234567890");
            assert_eq!(doc["n"].to_string(), "-98765432109876543210987654321");
            assert_eq!(doc["f"].as_f64(), Some(1.5));
            assert_eq!(doc["tiny"].as_f64(), Some(0.0));
        }
        let doc = decode(text, &Projection::full()).unwrap();
        assert_eq!(doc["deep"]["id"].to_string(), "123456789012345678901234567890");
        for bad in [r#"[1e400]"#, r#"{"a":-1.5e309}"#, "1E400"] {
            assert!(decode(bad, &Projection::full()).is_err(), "{bad}");
            assert!(decode(bad, &Projection::nothing()).is_err(), "{bad}");
        }
    }

    #[test]
    fn repeated_keys_behave_as_in_a_full_decode() {
        let p = projection(&[&["a"]]);
        assert_eq!(decode(r#"{"a":1,"b":2,"a":3}"#, &p).unwrap(), json!({"a": 3}));
        let escaped = r#"{"\u0061":"escaped key"}"#;
        assert_eq!(decode(escaped, &p).unwrap(), json!({"a": "escaped key"}));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-c]{0,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-c]{1,2}", inner), 0..5)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    fn walk<'a>(doc: &'a Value, chain: &[String]) -> Option<&'a Value> {
        chain.iter().try_fold(doc, |node, key| node.as_object()?.get(key))
    }

    proptest! {
        /// Every projected chain selects in the pruned document exactly
        /// what it selects in the full one.
        #[test]
        fn pruned_selects_what_full_selects(
            doc in json_value(),
            chains in prop::collection::vec(prop::collection::vec("[a-c]{1,2}", 0..4), 1..4),
        ) {
            let text = doc.to_string();
            let mut p = Projection::nothing();
            for chain in &chains {
                let keys: Vec<&str> = chain.iter().map(String::as_str).collect();
                p.add(Some(&keys));
            }
            let pruned = decode(&text, &p).unwrap();
            let full: Value = serde_json::from_str(&text).unwrap();
            for chain in &chains {
                prop_assert_eq!(walk(&pruned, chain), walk(&full, chain), "chain {:?} in {}", chain, text);
            }
        }
    }
}
