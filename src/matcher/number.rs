//! Exact comparison of numbers, for conditions.
//!
//! 64-bit ids are common (Twitter/X, Discord, Shopify), and an f64 holds
//! only 53 bits: compared as floats, 7615917337495251231 equals
//! 7615917337495251230. RFC 8259 §6 warns that such numbers are not
//! interoperable, yet senders send them; so integers compare as integers,
//! and an integer against a float compares without rounding either.

use std::cmp::Ordering;

use serde_json::Number;

/// A number in a form that compares exactly: integers as integers (never
/// through an f64, which holds only 53 bits and would make
/// 7615917337495251231 equal 7615917337495251230), fractions as f64.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Exact {
    Int(i128),
    Float(f64),
}

impl Exact {
    pub(crate) fn of(n: &Number) -> Option<Exact> {
        if let Some(u) = n.as_u64() {
            return Some(Exact::Int(i128::from(u)));
        }
        if let Some(i) = n.as_i64() {
            return Some(Exact::Int(i128::from(i)));
        }
        n.as_f64().map(Exact::Float)
    }

    /// A header, query or path value read as a number (`42`, `-7`, `1.5`,
    /// `1e3`); surrounding spaces are ignored.
    pub(crate) fn parse(text: &str) -> Option<Exact> {
        let text = text.trim();
        match text.parse::<i128>() {
            Ok(i) => Some(Exact::Int(i)),
            Err(_) => text.parse::<f64>().ok().filter(|f| !f.is_nan()).map(Exact::Float),
        }
    }

    pub(crate) fn cmp(self, other: Exact) -> Option<Ordering> {
        match (self, other) {
            (Exact::Int(a), Exact::Int(b)) => Some(a.cmp(&b)),
            (Exact::Float(a), Exact::Float(b)) => a.partial_cmp(&b),
            (Exact::Int(a), Exact::Float(b)) => int_vs_float(a, b),
            (Exact::Float(a), Exact::Int(b)) => int_vs_float(b, a).map(Ordering::reverse),
        }
    }
}

/// Compares an integer with a float exactly, without rounding the integer
/// to the float's 53 bits: the float's integer part is exact as an i128
/// whenever it is in range, and its fraction breaks a tie.
fn int_vs_float(int: i128, float: f64) -> Option<Ordering> {
    // 2^127, exactly representable as an f64.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if float.is_nan() {
        return None;
    }
    if float >= LIMIT {
        return Some(Ordering::Less);
    }
    if float < -LIMIT {
        return Some(Ordering::Greater);
    }
    let whole = float.trunc();
    // In range and integral, so the cast is exact.
    match int.cmp(&(whole as i128)) {
        Ordering::Equal => 0.0_f64.partial_cmp(&(float - whole)),
        other => Some(other),
    }
}

/// Orders two JSON numbers by value, exactly: integers (serde_json holds
/// up to 64 bits as integers; larger ones arrive as floats) compare as
/// integers, and an integer against a float compares without rounding.
/// None only when a number is not comparable (NaN).
pub(crate) fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    Exact::of(a)?.cmp(Exact::of(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn integers_and_floats_compare_exactly() {
        let n = |v: Value| match v {
            Value::Number(n) => n,
            _ => unreachable!(),
        };
        let cmp = |a: Value, b: Value| compare_numbers(&n(a), &n(b));
        let id = serde_json::json!(7_615_917_337_495_251_231_u64);
        assert_eq!(cmp(id.clone(), serde_json::json!(7_615_917_337_495_251_230_u64)), Some(Ordering::Greater));
        // The bound's nearest double is 7615917337495250944.0: below the id.
        assert_eq!(cmp(id.clone(), serde_json::json!(7_615_917_337_495_251_230_u64 as f64)), Some(Ordering::Greater));
        assert_eq!(cmp(serde_json::json!(-3), serde_json::json!(-2.5)), Some(Ordering::Less));
        assert_eq!(cmp(serde_json::json!(10), serde_json::json!(10.0)), Some(Ordering::Equal));
        assert_eq!(cmp(serde_json::json!(u64::MAX), serde_json::json!(1e300)), Some(Ordering::Less));
        assert_eq!(int_vs_float(0, f64::NAN), None);
        assert!(matches!(Exact::parse(" 7615917337495251231 "), Some(Exact::Int(7_615_917_337_495_251_231))));
    }
}
