//! A delivery rate as written in routes.yaml: `50/s`, `300/min`, `1000/h`.
//!
//! One value type for every place a downstream's pace is set
//! (`destinations: { host:port: { rate_limit } }`, a forward's
//! `rate_limit:`, and a publish's once it takes one), so they read and fail
//! alike. It parses and nothing more; `crate::delivery::rate` gives it
//! meaning.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// So many deliveries per second, minute or hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateSpec {
    /// Deliveries per `per`; at least 1.
    pub count: u32,
    /// The unit: one second, minute or hour.
    pub per: Duration,
}

impl RateSpec {
    /// Parses `N/s`, `N/min` or `N/h` (also `sec`, `second`, `m`, `minute`,
    /// `hour`); the message says what to write instead.
    pub fn parse(text: &str) -> Result<RateSpec, String> {
        let hint = "write a rate such as 50/s, 300/min or 1000/h";
        let Some((count, unit)) = text.split_once('/') else {
            return Err(format!("invalid rate {text:?}: {hint}"));
        };
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("invalid rate {text:?}: unknown unit {other:?} ({hint})")),
        };
        match count.trim().parse::<u32>() {
            Ok(0) => Err(format!("invalid rate {text:?}: must be at least 1 per unit")),
            Ok(count) => Ok(RateSpec { count, per }),
            Err(_) => Err(format!("invalid rate {text:?}: the count must be a whole number ({hint})")),
        }
    }
}

impl fmt::Display for RateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl<'de> Deserialize<'de> for RateSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RateVisitor;
        impl Visitor<'_> for RateVisitor {
            type Value = RateSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate such as 50/s")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<RateSpec, E> {
                RateSpec::parse(text).map_err(E::custom)
            }
            // `rate_limit: 50` is the likely mistake: name the unit.
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<RateSpec, E> {
                Err(E::custom(format!("a rate needs a unit: write `{n}/s` (or {n}/min, {n}/h)")))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<RateSpec, E> {
                Err(E::custom(format!(
                    "a rate needs a unit and cannot be negative: write e.g. `{}/s`",
                    n.unsigned_abs()
                )))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<RateSpec, E> {
                Err(E::custom(format!("a rate is a whole count per unit: write e.g. `{}/min`", (n * 60.0).round())))
            }
        }
        d.deserialize_any(RateVisitor)
    }
}

impl JsonSchema for RateSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^\\s*[0-9]+\\s*/\\s*(s|sec|second|m|min|minute|h|hour)\\s*$",
            "description": "Deliveries per second, minute or hour: `50/s`, `300/min`, `1000/h`.",
            "examples": ["50/s", "300/min"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit_and_refuses_the_rest() {
        assert_eq!(RateSpec::parse("50/s"), Ok(RateSpec { count: 50, per: Duration::from_secs(1) }));
        assert_eq!(RateSpec::parse("300/min").map(|r| r.per), Ok(Duration::from_secs(60)));
        assert_eq!(RateSpec::parse("1000/h").map(|r| r.to_string()), Ok("1000/h".to_string()));
        for bad in ["50", "0/s", "-1/s", "5/day", "1.5/s", "/s"] {
            assert!(RateSpec::parse(bad).is_err(), "{bad}");
        }
        let err = serde_yaml::from_str::<RateSpec>("50").unwrap_err().to_string();
        assert!(err.contains("50/s"), "{err}");
    }
}
