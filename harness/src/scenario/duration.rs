//! `Duration`: how scenarios write time spans (`500ms`, `10s`, `2m`, `1h30m`).
//!
//! Parsing only; what a duration means (a timeout, a "consistently" window) is the runner's.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A time span written as a number with a unit (`ms`, `s`, `m`, `h`), units combinable (`1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    pub fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// Parses `500ms`, `10s`, `2m`, `1h30m`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty duration: write a number with a unit, e.g. 10s".into());
        }
        let mut total = std::time::Duration::ZERO;
        let mut rest = t;
        while !rest.is_empty() {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            if digits.is_empty() {
                return Err(format!(
                    "invalid duration {s:?}: expected a number at {rest:?} (e.g. 500ms, 10s, 2m, 1h30m)"
                ));
            }
            rest = &rest[digits.len()..];
            let n: u64 = digits.parse().map_err(|_| format!("invalid duration {s:?}: number too large"))?;
            let unit: String = rest.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            rest = &rest[unit.len()..];
            let part = match unit.as_str() {
                "ms" => std::time::Duration::from_millis(n),
                "s" => std::time::Duration::from_secs(n),
                "m" => std::time::Duration::from_secs(n.saturating_mul(60)),
                "h" => std::time::Duration::from_secs(n.saturating_mul(3600)),
                "" => return Err(format!("invalid duration {s:?}: missing unit after {n} (use ms, s, m or h)")),
                other => return Err(format!("invalid duration {s:?}: unknown unit {other:?} (use ms, s, m or h)")),
            };
            total = total.saturating_add(part);
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 3_600_000 == 0 && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h))+$",
            "description": "A time span: a number with a unit (ms, s, m, h), e.g. 500ms, 10s, 2m, 1h30m.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(Duration::parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(Duration::parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(Duration::parse("2h").map(|d| d.to_string()), Ok("2h".to_string()));
        assert!(Duration::parse("10").is_err_and(|e| e.contains("missing unit")));
        assert!(Duration::parse("5d").is_err_and(|e| e.contains("unknown unit \"d\"")));
    }
}
