//! Exact comparison of numbers, for conditions.
//!
//! 64-bit ids are common (Twitter/X, Discord, Shopify), and an f64 holds
//! only 53 bits: compared as floats, 7615917337495251231 equals
//! 7615917337495251230. RFC 8259 §6 warns that such numbers are not
//! interoperable, yet senders send them; so integers compare as integers
//! at any size (serde_json keeps a number's text, `arbitrary_precision`),
//! and an integer against a float compares without rounding either.

use std::cmp::Ordering;

use serde_json::Number;

/// A number in a form that compares exactly: integers as integers (never
/// through an f64, which holds only 53 bits and would make
/// 7615917337495251231 equal 7615917337495251230), fractions as f64.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Exact<'a> {
    Int(i128),
    /// An integer beyond i128: its sign and its digits, without leading
    /// zeros. Compared by sign, then digit count, then digits.
    Big {
        negative: bool,
        digits: &'a str,
    },
    Float(f64),
}

impl<'a> Exact<'a> {
    pub(crate) fn of(n: &'a Number) -> Option<Exact<'a>> {
        if let Some(u) = n.as_u64() {
            return Some(Exact::Int(i128::from(u)));
        }
        if let Some(i) = n.as_i64() {
            return Some(Exact::Int(i128::from(i)));
        }
        match integer(n.as_str()) {
            Some(exact) => Some(exact),
            None => n.as_f64().map(Exact::Float),
        }
    }

    /// A header, query or path value read as a number (`42`, `-7`, `1.5`,
    /// `1e3`, an integer of any length); surrounding spaces are ignored.
    pub(crate) fn parse(text: &'a str) -> Option<Exact<'a>> {
        let text = text.trim();
        match integer(text) {
            Some(exact) => Some(exact),
            None => text.parse::<f64>().ok().filter(|f| !f.is_nan()).map(Exact::Float),
        }
    }

    pub(crate) fn cmp(self, other: Exact) -> Option<Ordering> {
        match (self, other) {
            (Exact::Int(a), Exact::Int(b)) => Some(a.cmp(&b)),
            (Exact::Float(a), Exact::Float(b)) => a.partial_cmp(&b),
            (Exact::Int(a), Exact::Float(b)) => int_vs_float(a, b),
            (Exact::Float(a), Exact::Int(b)) => int_vs_float(b, a).map(Ordering::reverse),
            // A big integer is beyond i128 either way, so its sign decides.
            (Exact::Big { negative, .. }, Exact::Int(_)) => Some(sign_order(negative)),
            (Exact::Int(_), Exact::Big { negative, .. }) => Some(sign_order(negative).reverse()),
            (Exact::Big { negative: a, digits: x }, Exact::Big { negative: b, digits: y }) => {
                Some(signed_magnitudes(a, x, b, y))
            }
            (Exact::Big { negative, digits }, Exact::Float(f)) => big_vs_float(negative, digits, f),
            (Exact::Float(f), Exact::Big { negative, digits }) => {
                big_vs_float(negative, digits, f).map(Ordering::reverse)
            }
        }
    }
}

/// `text` as an integer (an optional sign, then only digits): an i128 when
/// it fits, else a big integer. None for anything else (`1.5`, `1e3`).
fn integer(text: &str) -> Option<Exact<'_>> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(i) = text.parse::<i128>() {
        return Some(Exact::Int(i));
    }
    Some(Exact::Big { negative, digits: digits.trim_start_matches('0') })
}

/// How a number of this sign, larger in magnitude than the other, orders.
fn sign_order(negative: bool) -> Ordering {
    match negative {
        true => Ordering::Less,
        false => Ordering::Greater,
    }
}

/// Orders two integers given by sign and digits (no leading zeros).
fn signed_magnitudes(a_negative: bool, a: &str, b_negative: bool, b: &str) -> Ordering {
    if a_negative != b_negative {
        return sign_order(a_negative);
    }
    let magnitude = a.len().cmp(&b.len()).then_with(|| a.cmp(b));
    match a_negative {
        true => magnitude.reverse(),
        false => magnitude,
    }
}

/// Compares a big integer with a float exactly. Below 2^127 in magnitude
/// the float is nearer zero than any big integer; at or above it every
/// f64 is an integer, whose exact digits `{:.0}` prints.
fn big_vs_float(negative: bool, digits: &str, float: f64) -> Option<Ordering> {
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if float.is_nan() {
        return None;
    }
    if float.is_infinite() {
        // Every integer is below +inf and above -inf.
        return Some(sign_order(float > 0.0));
    }
    if float.abs() < LIMIT {
        return Some(sign_order(negative));
    }
    let float_digits = format!("{:.0}", float.abs());
    Some(signed_magnitudes(negative, digits, float < 0.0, &float_digits))
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

/// Orders two JSON numbers by value, exactly: integers of any size compare
/// as integers, and an integer against a float compares without rounding.
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

    #[test]
    fn integers_beyond_128_bits_compare_exactly() {
        let num = |s: &str| match serde_json::from_str::<Value>(s) {
            Ok(Value::Number(n)) => n,
            other => panic!("{s}: {other:?}"),
        };
        let cmp = |a: &str, b: &str| compare_numbers(&num(a), &num(b));
        let big = "123456789012345678901234567890123456789012";
        let one_above = "123456789012345678901234567890123456789013";
        assert_eq!(cmp(big, one_above), Some(Ordering::Less));
        assert_eq!(cmp(one_above, big), Some(Ordering::Greater));
        assert_eq!(cmp(big, big), Some(Ordering::Equal));
        assert_eq!(cmp(&format!("-{big}"), &format!("-{one_above}")), Some(Ordering::Greater));
        assert_eq!(cmp(&format!("-{big}"), big), Some(Ordering::Less));
        assert_eq!(cmp(big, "12345678901234567890123456789012345678901"), Some(Ordering::Greater));
        assert_eq!(cmp(big, &i128::MAX.to_string()), Some(Ordering::Greater));
        assert_eq!(cmp(&format!("-{big}"), &i128::MIN.to_string()), Some(Ordering::Less));
        // Floats: below 2^127 the sign decides; above, the float's exact digits.
        assert_eq!(cmp(big, "1.5"), Some(Ordering::Greater));
        assert_eq!(cmp(&format!("-{big}"), "-1e20"), Some(Ordering::Less));
        assert_eq!(cmp(big, "1.2e41"), Some(Ordering::Greater));
        assert_eq!(cmp(big, "1.3e41"), Some(Ordering::Less));
        assert_eq!(cmp("1e300", big), Some(Ordering::Greater));
        // 2^140 exactly, as an integer and as a float.
        let two_140 = "1393796574908163946345982392040522594123776";
        assert_eq!(cmp(two_140, "1393796574908163946345982392040522594123776.0"), Some(Ordering::Equal));
        assert_eq!(
            cmp("1393796574908163946345982392040522594123777", "1.393796574908163946345982392040522594123776e42"),
            Some(Ordering::Greater)
        );
        // Header and query text: any length, leading zeros and a `+` allowed.
        assert_eq!(
            Exact::parse(&format!(" 000{one_above} ")).and_then(|e| e.cmp(Exact::of(&num(big))?)),
            Some(Ordering::Greater)
        );
        assert_eq!(Exact::parse("inf").and_then(|e| e.cmp(Exact::of(&num(big))?)), Some(Ordering::Greater));
    }
}
