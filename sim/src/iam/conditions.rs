//! IAM condition operators: parsing an operator name (`ForAnyValue:StringLikeIfExists`, ...)
//! and its values at policy-parse time, and evaluating one condition entry against a request
//! context.
//!
//! Semantics follow the IAM documentation: values of one key are ORed (negated operators are
//! NOR over them); a missing key makes a positive operator false and a negated one true, except
//! `...IfExists` (true) and `Null` (tests presence); `ForAllValues` is true on a missing or empty
//! key, `ForAnyValue` false. This module must not look at actions, resources or principals.

use std::net::IpAddr;

use jiff::Timestamp;

use super::context::{parse_date, Context, Value};
use super::matching::{ArnPattern, Template};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// The operator family, without negation, `IfExists` or set qualifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SetQualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Operator {
    pub base: Base,
    pub negated: bool,
    pub if_exists: bool,
    pub qualifier: SetQualifier,
}

const OPERATORS: &[(&str, Base, bool)] = &[
    ("StringEquals", Base::StringEquals, false),
    ("StringNotEquals", Base::StringEquals, true),
    ("StringEqualsIgnoreCase", Base::StringEqualsIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Base::StringEqualsIgnoreCase, true),
    ("StringLike", Base::StringLike, false),
    ("StringNotLike", Base::StringLike, true),
    ("NumericEquals", Base::Numeric(Cmp::Eq), false),
    ("NumericNotEquals", Base::Numeric(Cmp::Eq), true),
    ("NumericLessThan", Base::Numeric(Cmp::Lt), false),
    ("NumericLessThanEquals", Base::Numeric(Cmp::Le), false),
    ("NumericGreaterThan", Base::Numeric(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Base::Numeric(Cmp::Ge), false),
    ("DateEquals", Base::Date(Cmp::Eq), false),
    ("DateNotEquals", Base::Date(Cmp::Eq), true),
    ("DateLessThan", Base::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Base::Date(Cmp::Le), false),
    ("DateGreaterThan", Base::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Base::Date(Cmp::Ge), false),
    ("Bool", Base::Bool, false),
    ("BinaryEquals", Base::Binary, false),
    ("IpAddress", Base::Ip, false),
    ("NotIpAddress", Base::Ip, true),
    ("ArnEquals", Base::Arn, false),
    ("ArnLike", Base::Arn, false),
    ("ArnNotEquals", Base::Arn, true),
    ("ArnNotLike", Base::Arn, true),
    ("Null", Base::Null, false),
];

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

impl Operator {
    /// Parses an operator name; `None` when it is not one IAM knows.
    pub(crate) fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::None, name)
        };
        let (if_exists, rest) = match strip_suffix_ci(rest, "IfExists") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let &(_, base, negated) = OPERATORS.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(rest))?;
        if base == Base::Null && (if_exists || qualifier != SetQualifier::None) {
            return None;
        }
        Some(Operator { base, negated, if_exists, qualifier })
    }
}

/// A CIDR block (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A policy value compiled for its operator. `None` inside: the text does not parse as the
/// operator's type, so the value matches nothing.
#[derive(Debug, Clone)]
pub(crate) enum PolicyValue {
    Str(Template),
    Num(Option<f64>),
    Date(Option<Timestamp>),
    Bool(Option<bool>),
    Binary(Box<str>),
    Cidr(Option<Cidr>),
    Arn(ArnPattern),
    Null(Option<bool>),
}

impl PolicyValue {
    pub(crate) fn compile(base: Base, raw: &str, variables: bool) -> PolicyValue {
        match base {
            Base::StringEquals | Base::StringEqualsIgnoreCase => PolicyValue::Str(Template::new(raw, false, variables)),
            Base::StringLike => PolicyValue::Str(Template::new(raw, true, variables)),
            Base::Numeric(_) => PolicyValue::Num(raw.trim().parse().ok()),
            Base::Date(_) => PolicyValue::Date(parse_date(raw)),
            Base::Bool => PolicyValue::Bool(bool_text(raw)),
            Base::Binary => PolicyValue::Binary(raw.into()),
            Base::Ip => PolicyValue::Cidr(Cidr::parse(raw)),
            Base::Arn => PolicyValue::Arn(ArnPattern::new(raw, variables)),
            Base::Null => PolicyValue::Null(bool_text(raw)),
        }
    }
}

fn bool_text(raw: &str) -> Option<bool> {
    if raw.eq_ignore_ascii_case("true") {
        Some(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// One `operator: { key: values }` pair of a Condition block.
#[derive(Debug, Clone)]
pub(crate) struct ConditionEntry {
    pub op: Operator,
    /// The operator as written in the policy, for messages.
    pub op_name: Box<str>,
    /// The key lowercased, for lookups.
    pub key: Box<str>,
    /// The key as written, for messages.
    pub key_name: Box<str>,
    pub values: Vec<PolicyValue>,
    /// The values as written, for messages.
    pub raw_values: Vec<Box<str>>,
}

impl ConditionEntry {
    /// Whether one request value matches one policy value (before negation).
    fn value_matches(&self, pv: &PolicyValue, v: &Value, ctx: &Context) -> bool {
        match (self.op.base, pv) {
            (Base::StringEqualsIgnoreCase, PolicyValue::Str(t)) => t.matches(&v.as_str(), true, ctx),
            (_, PolicyValue::Str(t)) => t.matches(&v.as_str(), false, ctx),
            (Base::Numeric(cmp), PolicyValue::Num(Some(p))) => v.as_f64().is_some_and(|r| cmp.holds(r, *p)),
            (Base::Date(cmp), PolicyValue::Date(Some(p))) => v.as_timestamp().is_some_and(|r| cmp.holds(r, *p)),
            (_, PolicyValue::Bool(Some(p))) => v.as_bool() == Some(*p),
            (_, PolicyValue::Binary(p)) => *v.as_str() == **p,
            (_, PolicyValue::Cidr(Some(c))) => v.as_ip().is_some_and(|ip| c.contains(ip)),
            (_, PolicyValue::Arn(a)) => a.matches(&v.as_str(), ctx),
            _ => false,
        }
    }

    /// Whether one request value satisfies the operator (OR over policy values, negated: NOR).
    fn holds_for(&self, v: &Value, ctx: &Context) -> bool {
        let any = self.values.iter().any(|pv| self.value_matches(pv, v, ctx));
        any != self.op.negated
    }

    /// Evaluates this entry against the request context.
    pub(crate) fn evaluate(&self, ctx: &Context) -> bool {
        let present = ctx.get_lower(&self.key).filter(|cv| !cv.values().is_empty());
        if self.op.base == Base::Null {
            // "true": the key must be absent; "false": it must be present.
            return self
                .values
                .iter()
                .any(|pv| matches!(pv, PolicyValue::Null(Some(want_absent)) if *want_absent == present.is_none()));
        }
        let Some(cv) = present else {
            return match self.op.qualifier {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => false,
                SetQualifier::None => self.op.if_exists || self.op.negated,
            };
        };
        let values = cv.values();
        match self.op.qualifier {
            SetQualifier::ForAllValues => values.iter().all(|v| self.holds_for(v, ctx)),
            // A single-valued operator over a list behaves as "any value".
            SetQualifier::ForAnyValue | SetQualifier::None => values.iter().any(|v| self.holds_for(v, ctx)),
        }
    }

    /// The request's value for this key, as text, for messages.
    pub(crate) fn actual(&self, ctx: &Context) -> Option<String> {
        let cv = ctx.get_lower(&self.key)?;
        let texts: Vec<String> = cv.values().iter().map(|v| v.as_str().into_owned()).collect();
        Some(match texts.as_slice() {
            [one] => one.clone(),
            _ => format!("[{}]", texts.join(", ")),
        })
    }
}
