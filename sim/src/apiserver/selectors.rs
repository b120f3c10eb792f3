//! Label and field selectors as kube-apiserver reads them from `?labelSelector=` and
//! `?fieldSelector=`, and the `metav1.LabelSelector` object form used inside resources.
//!
//! Parsing, validation and error wording follow apimachinery's `labels.Parse`,
//! `metav1.LabelSelectorAsSelector` and `fields.ParseSelector`; the supported field labels per
//! resource follow kube-apiserver's field label conversion functions. This module is pure: it
//! must not look at the store, decide authorization, or panic on any input.

use serde_json::{Map, Value};
use std::fmt;

use super::error::{go_value, ApiError};

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// A requirement operator (`selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One `key op values` term of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted and de-duplicated for parsed selectors.
    pub values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement, validating key, value count and values as `labels.NewRequirement`
    /// does. The error is the aggregated message (`key: Invalid value: ...`).
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Requirement, String> {
        let mut errs: Vec<String> = Vec::new();
        let key_errs = super::validation::names::label_key_messages(key);
        if !key_errs.is_empty() {
            errs.push(format!("key: Invalid value: {}: {}", quote(key), key_errs.join("; ")));
        }
        let values_json = if values.is_empty() { "null".to_string() } else { Value::from(values.clone()).to_string() };
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(format!(
                        "values: Invalid value: {values_json}: for 'in', 'notin' operators, values set can't be empty"
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {values_json}: exact-match compatibility requires one single value"
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(format!(
                        "values: Invalid value: {values_json}: values set must be empty for exists and does not exist"
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {values_json}: for 'Gt', 'Lt' operators, exactly one value is required"
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(format!(
                            "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                            quote(v)
                        ));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = super::validation::names::label_value_messages(v);
            if !msgs.is_empty() {
                errs.push(format!("values[{i}][{key}]: Invalid value: {}: {}", quote(v), msgs.join("; ")));
            }
        }
        if errs.is_empty() {
            Ok(Requirement { key: key.to_string(), operator, values })
        } else {
            Err(aggregate(errs))
        }
    }

    /// Whether a label set satisfies this requirement (`Requirement.Matches`).
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let got = labels.and_then(|m| m.get(&self.key)).and_then(Value::as_str);
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => got.is_some_and(has),
            Operator::NotIn | Operator::NotEquals => !got.is_some_and(has),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(lv) = got.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [rv] = self.values.as_slice() else {
                    return false;
                };
                let Ok(rv) = rv.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    lv > rv
                } else {
                    lv < rv
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// The canonical string form, as `Requirement.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.values.first().map(String::as_str).unwrap_or("");
        match self.operator {
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::Equals => write!(f, "{}={first}", self.key),
            Operator::DoubleEquals => write!(f, "{}=={first}", self.key),
            Operator::NotEquals => write!(f, "{}!={first}", self.key),
            Operator::GreaterThan => write!(f, "{}>{first}", self.key),
            Operator::LessThan => write!(f, "{}<{first}", self.key),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
        }
    }
}

/// A parsed label selector: the AND of its requirements.
///
/// `LabelSelector::everything()` (no requirements) matches every object;
/// `LabelSelector::nothing()` matches none (what a null `metav1.LabelSelector` becomes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches everything (empty query parameter, `{}` object).
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    /// The selector that matches nothing (`labels.Nothing()`).
    pub fn nothing() -> Self {
        LabelSelector { requirements: Vec::new(), nothing: true }
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True for the match-everything selector.
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for the match-nothing selector.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// Whether an object's `metadata.labels` (absent = no labels) satisfy every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Converts the `metav1.LabelSelector` object form as `metav1.LabelSelectorAsSelector`:
    ///
    /// * `null` (or a missing selector passed as `Value::Null`) → [`LabelSelector::nothing`];
    ///   call sites where upstream treats a nil selector as "everything" (for example
    ///   PodDisruptionBudget or NetworkPolicy peers) must special-case `null` themselves.
    /// * `{}` or both lists empty → [`LabelSelector::everything`].
    /// * otherwise every `matchLabels` entry becomes `key=value` and every `matchExpressions`
    ///   entry `In`/`NotIn`/`Exists`/`DoesNotExist`; an unknown operator gives
    ///   `"Foo" is not a valid label selector operator`. Errors are 400 BadRequest with the
    ///   upstream text; callers that validate objects should wrap them as they need.
    pub fn from_object(v: &Value) -> Result<LabelSelector, ApiError> {
        let obj = match v {
            Value::Null => return Ok(LabelSelector::nothing()),
            Value::Object(o) => o,
            other => {
                return Err(ApiError::bad_request(format!("label selector must be an object, got {}", go_value(other))))
            }
        };
        let empty = Map::new();
        let match_labels = match obj.get("matchLabels") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(m)) => m,
            Some(_) => return Err(ApiError::bad_request("matchLabels must be an object")),
        };
        let no_exprs = Vec::new();
        let exprs = match obj.get("matchExpressions") {
            None | Some(Value::Null) => &no_exprs,
            Some(Value::Array(a)) => a,
            Some(_) => return Err(ApiError::bad_request("matchExpressions must be an array")),
        };
        if match_labels.is_empty() && exprs.is_empty() {
            return Ok(LabelSelector::everything());
        }
        let mut reqs = Vec::new();
        for (k, val) in match_labels {
            let Some(s) = val.as_str() else {
                return Err(ApiError::bad_request(format!("matchLabels[{k}] must be a string")));
            };
            reqs.push(Requirement::new(k, Operator::Equals, vec![s.to_string()]).map_err(ApiError::bad_request)?);
        }
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let op_str = e.get("operator").and_then(Value::as_str).unwrap_or("");
            let op = match op_str {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "{} is not a valid label selector operator",
                        quote(other)
                    )))
                }
            };
            let values: Vec<String> = match e.get("values") {
                Some(Value::Array(a)) => a.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect(),
                _ => Vec::new(),
            };
            reqs.push(Requirement::new(key, op, values).map_err(ApiError::bad_request)?);
        }
        Ok(LabelSelector { requirements: reqs, nothing: false })
    }
}

impl fmt::Display for LabelSelector {
    /// The canonical query-string form (`Selector.String()`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join(","))
    }
}

/// Parses `?labelSelector=` as `labels.Parse`. Errors are 400 BadRequest carrying the
/// apimachinery text, e.g. `unable to parse requirement: found '', expected: identifier`.
pub fn parse_label_selector(s: &str) -> Result<LabelSelector, ApiError> {
    parse_label_selector_text(s).map_err(ApiError::bad_request)
}

fn parse_label_selector_text(s: &str) -> Result<LabelSelector, String> {
    let mut p = Parser { items: lex_all(s), pos: 0 };
    let mut reqs = p.parse()?;
    reqs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(LabelSelector { requirements: reqs, nothing: false })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    End,
    ClosedPar,
    Comma,
    Bang,
    DoubleEquals,
    Equals,
    Greater,
    Ident,
    In,
    Less,
    NotEquals,
    NotIn,
    OpenPar,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn lex_all(s: &str) -> Vec<(Tok, String)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && is_ws(bytes[i]) {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else {
            out.push((Tok::End, String::new()));
            return out;
        };
        if is_special(b) {
            let two = s.get(i..i + 2).unwrap_or("");
            let (tok, len) = match two {
                "==" => (Tok::DoubleEquals, 2),
                "!=" => (Tok::NotEquals, 2),
                _ => (
                    match b {
                        b'=' => Tok::Equals,
                        b'!' => Tok::Bang,
                        b'(' => Tok::OpenPar,
                        b')' => Tok::ClosedPar,
                        b',' => Tok::Comma,
                        b'>' => Tok::Greater,
                        _ => Tok::Less,
                    },
                    1,
                ),
            };
            out.push((tok, s.get(i..i + len).unwrap_or("").to_string()));
            i += len;
        } else {
            let start = i;
            while i < bytes.len() && !is_special(bytes[i]) && !is_ws(bytes[i]) {
                i += 1;
            }
            // Splits happen only at ASCII bytes, so these are char boundaries.
            let lit = s.get(start..i).unwrap_or("").to_string();
            let tok = match lit.as_str() {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Ident,
            };
            out.push((tok, lit));
        }
    }
}

struct Parser {
    items: Vec<(Tok, String)>,
    pos: usize,
}

const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

impl Parser {
    fn item(&self, at: usize, values: bool) -> (Tok, String) {
        let (tok, lit) = self.items.get(at).or_else(|| self.items.last()).cloned().unwrap_or((Tok::End, String::new()));
        let tok = if values && matches!(tok, Tok::In | Tok::NotIn) { Tok::Ident } else { tok };
        (tok, lit)
    }

    fn lookahead(&self, values: bool) -> (Tok, String) {
        self.item(self.pos, values)
    }

    fn consume(&mut self, values: bool) -> (Tok, String) {
        let r = self.item(self.pos, values);
        self.pos += 1;
        r
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut reqs = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(true);
            match tok {
                Tok::Ident | Tok::Bang => {
                    let r = self.parse_requirement().map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    let (t, l) = self.consume(true);
                    match t {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(true);
                            if t2 != Tok::Ident && t2 != Tok::Bang {
                                return Err(format!("found '{l2}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Tok::End => return Ok(reqs),
                _ => return Err(format!("found '{lit}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(op) = inferred {
            return Requirement::new(&key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, values)
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(true);
        if tok == Tok::Bang {
            op = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(true);
        }
        if tok != Tok::Ident {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let msgs = super::validation::names::label_key_messages(&lit);
        if !msgs.is_empty() {
            return Err(format!("<nil>: Invalid value: {}: {}", quote(&lit), msgs.join("; ")));
        }
        let (t, _) = self.lookahead(true);
        if (t == Tok::End || t == Tok::Comma) && op.is_none() {
            op = Some(Operator::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(false);
        Ok(match tok {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::Greater => Operator::GreaterThan,
            Tok::Less => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            _ => return Err(format!("found '{lit}', expected: {BINARY_OPERATORS}")),
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(true);
        if tok != Tok::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(true);
        match tok {
            Tok::Ident | Tok::Comma => {
                let set = self.parse_identifiers_list()?;
                let (t, _) = self.consume(true);
                if t != Tok::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(set)
            }
            Tok::ClosedPar => {
                self.consume(true);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut set: Vec<String> = Vec::new();
        let insert = |set: &mut Vec<String>, v: String| {
            if let Err(at) = set.binary_search(&v) {
                set.insert(at, v);
            }
        };
        loop {
            let (tok, lit) = self.consume(true);
            match tok {
                Tok::Ident => {
                    insert(&mut set, lit);
                    let (t2, l2) = self.lookahead(true);
                    match t2 {
                        Tok::Comma => continue,
                        Tok::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if set.is_empty() {
                        insert(&mut set, String::new());
                    }
                    let (t2, _) = self.lookahead(true);
                    if t2 == Tok::ClosedPar {
                        insert(&mut set, String::new());
                        return Ok(set);
                    }
                    if t2 == Tok::Comma {
                        insert(&mut set, String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(true);
        if tok == Tok::End || tok == Tok::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(true);
        if tok == Tok::Ident {
            return Ok(vec![lit]);
        }
        Err(format!("found '{lit}', expected: identifier"))
    }
}

/// Go's `%q` for a string, as apimachinery prints bad values.
fn quote(s: &str) -> String {
    go_value(&Value::String(s.to_string()))
}

/// `utilerrors.NewAggregate(...).Error()`: one message as is, several in brackets, duplicates
/// dropped.
fn aggregate(msgs: Vec<String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for m in msgs {
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    match seen.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/// A field selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Equals,
    DoubleEquals,
    NotEquals,
}

/// One `field op value` term; `value` is unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

/// A parsed field selector: the AND of its terms. Empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// True when there are no terms.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object matches; `get` returns a field's value, `None` counting as `""` as in
    /// `fields.Set.Get`.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let v = get(&r.field).unwrap_or_default();
            match r.op {
                FieldOp::Equals | FieldOp::DoubleEquals => v == r.value,
                FieldOp::NotEquals => v != r.value,
            }
        })
    }

    /// The value a term requires for `field` with `=`/`==`, if any (`RequiresExactMatch`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == field && r.op != FieldOp::NotEquals).map(|r| r.value.as_str())
    }

    /// Converts every field label as the resource's field label conversion function does
    /// (aliases such as the pods' `spec.host` become `spec.nodeName`; events.k8s.io
    /// `regarding.*` become `involvedObject.*`), failing with 400 on the first unsupported
    /// label. `namespaced` matters only for custom resources, whose cluster-scoped kinds reject
    /// `metadata.namespace`; `selectable` lists a CRD version's `selectableFields` json paths
    /// (e.g. `.spec.color`).
    pub fn convert_for(
        &self,
        group: &str,
        plural: &str,
        namespaced: bool,
        selectable: &[String],
    ) -> Result<FieldSelector, ApiError> {
        let mut out = Vec::new();
        for r in &self.requirements {
            let field = convert_field_label(group, plural, namespaced, selectable, &r.field)?;
            out.push(FieldRequirement { field, op: r.op, value: r.value.clone() });
        }
        Ok(FieldSelector { requirements: out })
    }
}

/// Parses `?fieldSelector=` as `fields.ParseSelector`: comma-separated `f=v`, `f==v`, `f!=v`;
/// `\`, `,` and `=` in values escaped with a backslash; no whitespace trimming. Field names are
/// not checked here (see [`FieldSelector::convert_for`]).
pub fn parse_field_selector(s: &str) -> Result<FieldSelector, ApiError> {
    let mut terms = split_terms(s);
    terms.sort();
    let mut reqs = Vec::new();
    for part in terms {
        if part.is_empty() {
            continue;
        }
        let Some((lhs, op, rhs)) = split_term(part) else {
            return Err(ApiError::bad_request(format!("invalid selector: '{s}'; can't understand '{part}'")));
        };
        let value = unescape_value(rhs).map_err(ApiError::bad_request)?;
        reqs.push(FieldRequirement { field: lhs.to_string(), op, value });
    }
    Ok(FieldSelector { requirements: reqs })
}

/// Escapes a value for use in a field selector (`fields.EscapeValue`).
pub fn escape_field_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(s.get(start..i).unwrap_or(""));
            start = i + 1;
        }
    }
    terms.push(s.get(start..).unwrap_or(""));
    terms
}

fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = term.get(i..).unwrap_or("");
        for (op, kind) in [("!=", FieldOp::NotEquals), ("==", FieldOp::DoubleEquals), ("=", FieldOp::Equals)] {
            if rest.starts_with(op) {
                return Some((term.get(..i).unwrap_or(""), kind, rest.get(op.len()..).unwrap_or("")));
            }
        }
    }
    None
}

fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if matches!(c, '\\' | ',' | '=') {
                out.push(c);
            } else {
                return Err(format!("invalid field selector: invalid escape sequence: \\{c}"));
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(format!("invalid field selector: unescaped character in value: {}", c as u32)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

/// How a resource's field label conversion function behaves.
enum LabelRules {
    /// Listed labels (plus aliases) accepted; others rejected with the given formatter.
    Listed {
        accepted: &'static [&'static str],
        aliases: &'static [(&'static str, &'static str)],
        reject: fn(&str) -> String,
    },
    /// `runtime.DefaultMetaV1FieldSelectorConversion`.
    Default,
    /// Custom resources: metadata.name, metadata.namespace when namespaced, selectable fields.
    Custom,
}

fn not_supported(label: &str) -> String {
    format!("field label not supported: {label}")
}

fn not_supported_job(label: &str) -> String {
    format!("field label {} not supported for batchv1.Job", quote(label))
}

fn rules_for(group: &str, plural: &str) -> LabelRules {
    const NO_ALIASES: &[(&str, &str)] = &[];
    let listed =
        |accepted: &'static [&'static str]| LabelRules::Listed { accepted, aliases: NO_ALIASES, reject: not_supported };
    match (group, plural) {
        ("", "pods") => LabelRules::Listed {
            accepted: &[
                "metadata.name",
                "metadata.namespace",
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
            ],
            aliases: &[("spec.host", "spec.nodeName")],
            reject: not_supported,
        },
        ("", "nodes") => listed(&["metadata.name", "spec.unschedulable"]),
        ("", "replicationcontrollers") => listed(&["metadata.name", "metadata.namespace", "status.replicas"]),
        ("", "events") => listed(&[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "metadata.namespace",
            "metadata.name",
        ]),
        ("events.k8s.io", "events") => LabelRules::Listed {
            accepted: &["reason", "source", "type", "metadata.namespace", "metadata.name"],
            aliases: &[
                ("regarding.kind", "involvedObject.kind"),
                ("regarding.namespace", "involvedObject.namespace"),
                ("regarding.name", "involvedObject.name"),
                ("regarding.uid", "involvedObject.uid"),
                ("regarding.apiVersion", "involvedObject.apiVersion"),
                ("regarding.resourceVersion", "involvedObject.resourceVersion"),
                ("regarding.fieldPath", "involvedObject.fieldPath"),
                ("reportingController", "reportingComponent"),
            ],
            reject: not_supported,
        },
        ("", "namespaces") => listed(&["status.phase", "metadata.name"]),
        ("", "secrets") => listed(&["type", "metadata.namespace", "metadata.name"]),
        ("", "services") => listed(&["metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"]),
        ("apps", "replicasets") => listed(&["metadata.name", "metadata.namespace", "status.replicas"]),
        ("batch", "jobs") => LabelRules::Listed {
            accepted: &["metadata.name", "metadata.namespace", "status.successful"],
            aliases: NO_ALIASES,
            reject: not_supported_job,
        },
        ("certificates.k8s.io", "certificatesigningrequests") => listed(&["metadata.name", "spec.signerName"]),
        (g, _) if is_builtin_group(g) => LabelRules::Default,
        _ => LabelRules::Custom,
    }
}

/// API groups served by kube-apiserver itself (everything else is a custom resource here).
pub fn is_builtin_group(group: &str) -> bool {
    matches!(
        group,
        "" | "apps"
            | "batch"
            | "autoscaling"
            | "policy"
            | "networking.k8s.io"
            | "rbac.authorization.k8s.io"
            | "storage.k8s.io"
            | "scheduling.k8s.io"
            | "coordination.k8s.io"
            | "node.k8s.io"
            | "discovery.k8s.io"
            | "events.k8s.io"
            | "certificates.k8s.io"
            | "admissionregistration.k8s.io"
            | "apiextensions.k8s.io"
            | "apiregistration.k8s.io"
            | "authentication.k8s.io"
            | "authorization.k8s.io"
            | "flowcontrol.apiserver.k8s.io"
            | "resource.k8s.io"
            | "internal.apiserver.k8s.io"
            | "storagemigration.k8s.io"
    )
}

/// The canonical field label for `label` on a resource, or the 400 kube-apiserver returns.
pub fn convert_field_label(
    group: &str,
    plural: &str,
    namespaced: bool,
    selectable: &[String],
    label: &str,
) -> Result<String, ApiError> {
    match rules_for(group, plural) {
        LabelRules::Listed { accepted, aliases, reject } => {
            if accepted.contains(&label) {
                return Ok(label.to_string());
            }
            if let Some((_, to)) = aliases.iter().find(|(from, _)| *from == label) {
                return Ok((*to).to_string());
            }
            Err(ApiError::bad_request(reject(label)))
        }
        LabelRules::Default => match label {
            "metadata.name" | "metadata.namespace" => Ok(label.to_string()),
            _ => Err(ApiError::bad_request(format!(
                "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                quote(label)
            ))),
        },
        LabelRules::Custom => {
            if label == "metadata.name" || (namespaced && label == "metadata.namespace") {
                return Ok(label.to_string());
            }
            if selectable.iter().any(|p| p.strip_prefix('.').unwrap_or(p) == label) {
                return Ok(label.to_string());
            }
            Err(ApiError::bad_request(not_supported(label)))
        }
    }
}

/// The value of a field label on a stored object, as the resource's `GetAttrs` field set has
/// it. `field` may be a served name or an alias; it is converted first, so an unsupported label
/// is the same 400 as on a list. `Ok(None)` means the label is supported but absent from the
/// field set (matching treats it as `""`), e.g. `metadata.namespace` on cluster-scoped objects
/// or `status.podIPs` on pods (accepted by the conversion but never set upstream). For custom
/// resources the scope is taken from the object (a `metadata.namespace` means namespaced)
/// and any other label is read as a dotted path (CRD `selectableFields`).
pub fn field_value(group: &str, plural: &str, obj: &Value, field: &str) -> Result<Option<String>, ApiError> {
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).filter(|s| !s.is_empty());
    let custom = matches!(rules_for(group, plural), LabelRules::Custom);
    let selectable: Vec<String> = if custom && field != "metadata.name" && field != "metadata.namespace" {
        vec![field.to_string()]
    } else {
        Vec::new()
    };
    let label = convert_field_label(group, plural, ns.is_some(), &selectable, field)?;
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let core_events = group.is_empty();
    let io = if core_events { "/involvedObject" } else { "/regarding" };
    let v = match label.as_str() {
        "metadata.name" => s("/metadata/name"),
        "metadata.namespace" => match ns {
            Some(n) => n.to_string(),
            None => return Ok(None),
        },
        "spec.hostNetwork" => obj.pointer("/spec/hostNetwork").and_then(Value::as_bool).unwrap_or(false).to_string(),
        "status.podIP" => {
            let first = obj.pointer("/status/podIPs/0/ip").and_then(Value::as_str);
            first.or_else(|| obj.pointer("/status/podIP").and_then(Value::as_str)).unwrap_or("").to_string()
        }
        "status.podIPs" => return Ok(None),
        "spec.unschedulable" => {
            obj.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false).to_string()
        }
        "status.replicas" => obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0).to_string(),
        "status.successful" => obj.pointer("/status/succeeded").and_then(Value::as_i64).unwrap_or(0).to_string(),
        l if l.starts_with("involvedObject.") => {
            let sub = l.trim_start_matches("involvedObject.");
            s(&format!("{io}/{sub}"))
        }
        "reportingComponent" => {
            if core_events {
                s("/reportingComponent")
            } else {
                s("/reportingController")
            }
        }
        "source" => {
            let comp = if core_events { s("/source/component") } else { s("/deprecatedSource/component") };
            if comp.is_empty() {
                if core_events {
                    s("/reportingComponent")
                } else {
                    s("/reportingController")
                }
            } else {
                comp
            }
        }
        other if custom => {
            let ptr = format!("/{}", other.replace('.', "/"));
            match obj.pointer(&ptr) {
                Some(Value::String(x)) => x.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Ok(None),
            }
        }
        other => {
            let ptr = format!("/{}", other.replace('.', "/"));
            s(&ptr)
        }
    };
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn err(s: &str) -> String {
        match parse_label_selector(s) {
            Ok(sel) => panic!("{s:?} parsed as {sel:?}"),
            Err(e) => {
                assert_eq!(e.code, 400);
                assert_eq!(e.reason, "BadRequest");
                e.message
            }
        }
    }

    fn ok(s: &str) -> LabelSelector {
        match parse_label_selector(s) {
            Ok(sel) => sel,
            Err(e) => panic!("{s:?}: {}", e.message),
        }
    }

    #[test]
    fn equality_and_set_forms_parse_and_match() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        for (s, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web,db)", true),
            ("app notin (web)", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("missing!=x", true),
            ("missing notin (x)", true),
            ("missing in (x)", false),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("  app = web ,  tier in ( front ) ", true),
            ("n>4", true),
            ("n<5", false),
            ("app>4", false),
            ("", true),
        ] {
            assert_eq!(ok(s).matches(Some(&l)), want, "{s}");
        }
        assert!(ok("!a").matches(None));
        assert!(!ok("a").matches(None));
        assert!(ok("").is_empty());
    }

    #[test]
    fn parsed_requirements_are_sorted_and_values_deduplicated() {
        let sel = ok("z=1,a in (y,x,y)");
        assert_eq!(sel.requirements()[0].key, "a");
        assert_eq!(sel.requirements()[0].values, vec!["x", "y"]);
        assert_eq!(sel.to_string(), "a in (x,y),z=1");
        assert_eq!(ok("x in (,a)").requirements()[0].values, vec!["", "a"]);
        assert_eq!(ok("x in ()").requirements()[0].values, vec![""]);
        assert_eq!(ok("x=").requirements()[0].values, vec![""]);
        // `in` is a value inside a value list.
        assert_eq!(ok("x in (in,notin)").requirements()[0].values, vec!["in", "notin"]);
    }

    #[test]
    fn syntax_errors_read_like_apimachinery() {
        assert_eq!(err("a b"), "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
        assert_eq!(err("a in"), "unable to parse requirement: found '' expected: '('");
        assert_eq!(err("a in (x"), "unable to parse requirement: found '', expected: ',' or ')'");
        assert_eq!(err("a=b,"), "found '', expected: identifier after ','");
        assert_eq!(err(",a"), "found ',', expected: !, identifier, or 'end of string'");
        assert_eq!(err("!"), "unable to parse requirement: found '', expected: identifier");
        assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(err("a=(b"), "unable to parse requirement: found '(', expected: identifier");
        assert_eq!(err("a in (x y)"), "unable to parse requirement: found 'y', expected: ',' or ')'");
    }

    #[test]
    fn invalid_keys_and_values_use_the_validation_wording() {
        assert_eq!(
            err("-a=b"),
            "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(
            err("a=-b"),
            "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        assert_eq!(
            err("a>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
    }

    #[test]
    fn object_form_converts_as_label_selector_as_selector() {
        let l = labels(json!({"app": "web", "env": "prod"}));
        assert!(LabelSelector::from_object(&json!({})).map(|s| s.matches(Some(&l))).unwrap_or(false));
        assert!(!LabelSelector::from_object(&Value::Null).map(|s| s.matches(Some(&l))).unwrap_or(true));
        let sel = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "stage"]},
                {"key": "gone", "operator": "DoesNotExist"},
                {"key": "env", "operator": "Exists"},
                {"key": "env", "operator": "NotIn", "values": ["dev"]}
            ]
        }));
        assert!(sel.map(|s| s.matches(Some(&l))).unwrap_or(false));
        let bad =
            LabelSelector::from_object(&json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}));
        assert_eq!(bad.map_err(|e| e.message).err().as_deref(), Some("\"Gt\" is not a valid label selector operator"));
        let empty_in = LabelSelector::from_object(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]}));
        assert_eq!(
            empty_in.map_err(|e| e.message).err().as_deref(),
            Some("values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty")
        );
        let exists_vals = LabelSelector::from_object(
            &json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
        );
        assert_eq!(
            exists_vals.map_err(|e| e.message).err().as_deref(),
            Some("values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist")
        );
    }

    #[test]
    fn field_selectors_parse_with_escapes() {
        let sel = parse_field_selector("metadata.name=a\\,b,status.phase!=Running").map_err(|e| e.message);
        let sel = sel.unwrap_or_default();
        assert_eq!(sel.requirements.len(), 2);
        assert_eq!(sel.requirements[0].value, "a,b");
        assert_eq!(sel.requirements[1].op, FieldOp::NotEquals);
        let get = |f: &str| match f {
            "metadata.name" => Some("a,b".to_string()),
            "status.phase" => Some("Pending".to_string()),
            _ => None,
        };
        assert!(sel.matches(get));
        assert!(parse_field_selector("").map(|s| s.is_empty()).unwrap_or(false));
        assert!(parse_field_selector("x==").map(|s| s.matches(|_| None)).unwrap_or(false));
        assert_eq!(escape_field_value("a=b,c\\"), "a\\=b\\,c\\\\");
    }

    #[test]
    fn field_selector_errors_read_like_apimachinery() {
        let e = |s: &str| parse_field_selector(s).err().map(|e| e.message);
        assert_eq!(e("foo").as_deref(), Some("invalid selector: 'foo'; can't understand 'foo'"));
        assert_eq!(e("a=b=c").as_deref(), Some("invalid field selector: unescaped character in value: 61"));
        assert_eq!(e("a=b\\x").as_deref(), Some("invalid field selector: invalid escape sequence: \\x"));
        assert_eq!(e("a=b\\").as_deref(), Some("invalid field selector: invalid escape sequence: \\"));
    }

    #[test]
    fn field_labels_per_resource() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]}});
        let fv = |g: &str, p: &str, o: &Value, f: &str| field_value(g, p, o, f).map_err(|e| e.message);
        assert_eq!(fv("", "pods", &pod, "spec.nodeName"), Ok(Some("n1".into())));
        assert_eq!(fv("", "pods", &pod, "spec.host"), Ok(Some("n1".into())));
        assert_eq!(fv("", "pods", &pod, "spec.hostNetwork"), Ok(Some("false".into())));
        assert_eq!(fv("", "pods", &pod, "status.podIP"), Ok(Some("10.0.0.1".into())));
        assert_eq!(fv("", "pods", &pod, "metadata.namespace"), Ok(Some("ns".into())));
        assert_eq!(fv("", "pods", &pod, "spec.foo"), Err("field label not supported: spec.foo".into()));
        let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
        assert_eq!(fv("", "nodes", &node, "spec.unschedulable"), Ok(Some("true".into())));
        assert_eq!(
            fv("", "nodes", &node, "metadata.namespace"),
            Err("field label not supported: metadata.namespace".into())
        );
        let cm = json!({"metadata": {"name": "c", "namespace": "d"}});
        assert_eq!(
            fv("", "configmaps", &cm, "data.x"),
            Err("\"data.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"".into())
        );
        let cr = json!({"metadata": {"name": "r"}});
        assert_eq!(fv("rbac.authorization.k8s.io", "clusterroles", &cr, "metadata.namespace"), Ok(None));
        let job = json!({"metadata": {"name": "j", "namespace": "d"}, "status": {"succeeded": 2}});
        assert_eq!(fv("batch", "jobs", &job, "status.successful"), Ok(Some("2".into())));
        assert_eq!(fv("batch", "jobs", &job, "x"), Err("field label \"x\" not supported for batchv1.Job".into()));
        let ev = json!({"metadata": {"name": "e", "namespace": "d"}, "regarding": {"kind": "Pod"}, "reportingController": "kubelet"});
        assert_eq!(fv("events.k8s.io", "events", &ev, "regarding.kind"), Ok(Some("Pod".into())));
        assert_eq!(fv("events.k8s.io", "events", &ev, "reportingController"), Ok(Some("kubelet".into())));
        assert_eq!(fv("events.k8s.io", "events", &ev, "source"), Ok(Some("kubelet".into())));
        let cev = json!({"metadata": {"name": "e"}, "involvedObject": {"name": "p"}, "source": {"component": "sched"}});
        assert_eq!(fv("", "events", &cev, "involvedObject.name"), Ok(Some("p".into())));
        assert_eq!(fv("", "events", &cev, "source"), Ok(Some("sched".into())));
    }

    #[test]
    fn custom_resource_field_labels_follow_scope_and_selectable_fields() {
        let sel = parse_field_selector("metadata.namespace=x").unwrap_or_default();
        assert!(sel.convert_for("example.com", "widgets", true, &[]).is_ok());
        assert_eq!(
            sel.convert_for("example.com", "gizmos", false, &[]).err().map(|e| e.message).as_deref(),
            Some("field label not supported: metadata.namespace")
        );
        let sel = parse_field_selector("spec.color=red").unwrap_or_default();
        assert!(sel.convert_for("example.com", "widgets", true, &[".spec.color".into()]).is_ok());
        let pods = parse_field_selector("spec.host=n1").unwrap_or_default().convert_for("", "pods", true, &[]);
        assert_eq!(pods.ok().map(|s| s.requirements[0].field.clone()).as_deref(), Some("spec.nodeName"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn parsers_never_panic(s in ".{0,40}") {
            let _ = parse_label_selector(&s);
            let _ = parse_field_selector(&s);
        }

        #[test]
        fn selector_like_strings_never_panic(s in "[a-z!=(), <>in\\\\]{0,30}") {
            if let Ok(sel) = parse_label_selector(&s) {
                let _ = sel.matches(None);
                // The canonical form parses again to the same selector.
                prop_assert_eq!(parse_label_selector(&sel.to_string()).ok(), Some(sel));
            }
            let _ = parse_field_selector(&s);
        }
    }
}
