//! Typing plain scalars the way serde_yaml 0.9 types them, for the fast
//! parser in [`super`]: null and boolean words, integers in four bases,
//! floats, and strings for everything else.

use serde_yaml::Value;

/// A plain (unquoted) scalar as serde_yaml 0.9 reads it into a `Value`
/// (`de.rs`, `visit_untagged_scalar`): empty or a null word is null, the
/// true/false words are booleans, then decimal/`0x`/`0o`/`0b` integers,
/// then floats (with `.inf` and `.nan`), and anything else is a string.
/// None for an integer past 64 bits, which serde_yaml refuses.
pub(crate) fn plain_scalar(text: String) -> Option<Value> {
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
