//! The request context of an IAM evaluation: condition keys (names case-insensitive) and their
//! values (strings, numbers, booleans, dates, IP addresses; one value or a list).
//!
//! This module only stores and converts values; it must not decide anything about policies.
//! Conversions that fail (a string that is not a number, say) yield `None`, never a panic.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use jiff::Timestamp;

/// One context value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Date(Timestamp),
    Ip(IpAddr),
}

impl Value {
    /// The value as IAM's string operators see it.
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Value::Str(s) => Cow::Borrowed(s),
            Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => Cow::Owned(format!("{}", *n as i64)),
            Value::Num(n) => Cow::Owned(n.to_string()),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Date(t) => Cow::Owned(t.to_string()),
            Value::Ip(ip) => Cow::Owned(ip.to_string()),
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    pub(crate) fn as_timestamp(&self) -> Option<Timestamp> {
        match self {
            Value::Date(t) => Some(*t),
            Value::Num(n) if n.fract() == 0.0 => Timestamp::from_second(*n as i64).ok(),
            Value::Str(s) => parse_date(s),
            _ => None,
        }
    }

    pub(crate) fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Value::Ip(ip) => Some(*ip),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Parses an IAM date: ISO 8601 (with an offset, or UTC when it has none; a bare date is
/// midnight UTC) or whole epoch seconds.
pub(crate) fn parse_date(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_datetime(jiff::civil::Time::midnight())
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    s.parse::<i64>().ok().and_then(|n| Timestamp::from_second(n).ok())
}

/// A context key's value: one value or a list (multivalued keys such as `aws:TagKeys`).
#[derive(Debug, Clone, PartialEq)]
pub enum ContextValue {
    One(Value),
    Many(Vec<Value>),
}

impl ContextValue {
    pub(crate) fn values(&self) -> &[Value] {
        match self {
            ContextValue::One(v) => std::slice::from_ref(v),
            ContextValue::Many(vs) => vs,
        }
    }

    /// The single value, for policy variables (a list cannot be substituted).
    pub(crate) fn single(&self) -> Option<&Value> {
        match self {
            ContextValue::One(v) => Some(v),
            ContextValue::Many(_) => None,
        }
    }
}

impl From<Value> for ContextValue {
    fn from(v: Value) -> Self {
        ContextValue::One(v)
    }
}
impl From<&str> for ContextValue {
    fn from(v: &str) -> Self {
        ContextValue::One(Value::Str(v.to_owned()))
    }
}
impl From<String> for ContextValue {
    fn from(v: String) -> Self {
        ContextValue::One(Value::Str(v))
    }
}
impl From<bool> for ContextValue {
    fn from(v: bool) -> Self {
        ContextValue::One(Value::Bool(v))
    }
}
impl From<f64> for ContextValue {
    fn from(v: f64) -> Self {
        ContextValue::One(Value::Num(v))
    }
}
impl From<i64> for ContextValue {
    fn from(v: i64) -> Self {
        ContextValue::One(Value::Num(v as f64))
    }
}
impl From<Timestamp> for ContextValue {
    fn from(v: Timestamp) -> Self {
        ContextValue::One(Value::Date(v))
    }
}
impl From<IpAddr> for ContextValue {
    fn from(v: IpAddr) -> Self {
        ContextValue::One(Value::Ip(v))
    }
}
impl From<Vec<&str>> for ContextValue {
    fn from(v: Vec<&str>) -> Self {
        ContextValue::Many(v.into_iter().map(|s| Value::Str(s.to_owned())).collect())
    }
}
impl From<Vec<String>> for ContextValue {
    fn from(v: Vec<String>) -> Self {
        ContextValue::Many(v.into_iter().map(Value::Str).collect())
    }
}
impl From<&[&str]> for ContextValue {
    fn from(v: &[&str]) -> Self {
        ContextValue::Many(v.iter().map(|s| Value::Str((*s).to_owned())).collect())
    }
}

/// Condition keys of a request. Key names are case-insensitive (stored ASCII-lowercased).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    map: HashMap<Box<str>, ContextValue>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets a key (replacing any earlier value).
    pub fn insert(&mut self, key: &str, value: impl Into<ContextValue>) {
        self.map.insert(key.to_ascii_lowercase().into_boxed_str(), value.into());
    }

    /// Builder form of [`Context::insert`].
    pub fn with(mut self, key: &str, value: impl Into<ContextValue>) -> Context {
        self.insert(key, value);
        self
    }

    /// Looks a key up, ignoring case.
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.map.get(key.to_ascii_lowercase().as_str())
        } else {
            self.map.get(key)
        }
    }

    /// Looks up a key already lowercased (the policy compiler lowercases keys once).
    pub(crate) fn get_lower(&self, key: &str) -> Option<&ContextValue> {
        self.map.get(key)
    }

    /// Copies every key of `other` into this context.
    pub fn extend(&mut self, other: &Context) {
        for (k, v) in &other.map {
            self.map.insert(k.clone(), v.clone());
        }
    }
}
