//! Field sets in the `FieldsV1` encoding that `metadata.managedFields` carries.
//!
//! A [`FieldSet`] is a tree of [`PathElement`]s (`f:` field names, `k:` list-map keys, `v:` set
//! members, `i:` indexes); a node that is itself owned is a *member* (`"."` in the encoding).
//! This module parses and writes the encoding byte for byte as kube-apiserver does (children in
//! structured-merge-diff order, `k:` keys as compact JSON with sorted, HTML-escaped fields), does
//! set algebra, and renders paths for conflict messages (`.spec.containers[name="web"].image`).
//! It must not know about objects, schemas or managers: it only handles sets of paths, and it
//! must never panic on malformed input.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a path into an object.
#[derive(Debug, Clone)]
pub enum PathElement {
    /// A field of an object or a key of a map (`f:name`).
    Field(String),
    /// An item of a list-map, identified by its key fields, sorted by name (`k:{"name":"web"}`).
    Key(Vec<(String, Value)>),
    /// A member of a set list (`v:"foo"`).
    Value(Value),
    /// An item of a list by position (`i:0`); not produced for Kubernetes objects.
    Index(i64),
}

/// A path from the object root.
pub type Path = Vec<PathElement>;

impl PathElement {
    /// A field element.
    pub fn field(name: &str) -> PathElement {
        PathElement::Field(name.to_string())
    }

    /// A key element; the fields are sorted by name as structured-merge-diff keeps them.
    pub fn key(mut fields: Vec<(String, Value)>) -> PathElement {
        fields.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| compare_values(&a.1, &b.1)));
        PathElement::Key(fields)
    }

    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `FieldsV1` object key for this element (`f:replicas`, `k:{"name":"web"}`).
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let mut out = String::from("k:{");
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_go_string(&mut out, name);
                    out.push(':');
                    write_go_json(&mut out, value);
                }
                out.push('}');
                out
            }
            PathElement::Value(value) => {
                let mut out = String::from("v:");
                write_go_json(&mut out, value);
                out
            }
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses one `FieldsV1` object key. `Ok(None)` for an unknown element type, which
    /// kube-apiserver drops silently (a newer server may know it).
    pub fn decode(s: &str) -> Result<Option<PathElement>, FieldSetError> {
        let bad = |why: String| FieldSetError::BadPathElement { element: s.to_string(), why };
        let mut chars = s.chars();
        let (Some(kind), Some(sep)) = (chars.next(), chars.next()) else {
            return Err(bad("must be at least 2 characters long".to_string()));
        };
        if sep != ':' {
            return Err(bad("missing colon after the element type".to_string()));
        }
        let rest = chars.as_str();
        match kind {
            'f' => Ok(Some(PathElement::Field(rest.to_string()))),
            'v' => {
                let value: Value = serde_json::from_str(rest).map_err(|e| bad(format!("invalid JSON value: {e}")))?;
                Ok(Some(PathElement::Value(value)))
            }
            'k' => {
                let value: Value = serde_json::from_str(rest).map_err(|e| bad(format!("invalid JSON key: {e}")))?;
                match value {
                    Value::Object(map) => Ok(Some(PathElement::key(map.into_iter().collect()))),
                    _ => Err(bad("a key must be a JSON object".to_string())),
                }
            }
            'i' => {
                rest.parse::<i64>().map(|i| Some(PathElement::Index(i))).map_err(|e| bad(format!("invalid index: {e}")))
            }
            _ => Ok(None),
        }
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
                    let c = an.cmp(bn).then_with(|| compare_values(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl fmt::Display for PathElement {
    /// As structured-merge-diff prints a path element in conflict messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields.iter().map(|(n, v)| format!("{n}={}", value_to_string(v))).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Renders a path as kube-apiserver does in apply conflicts: `.spec.replicas`,
/// `.spec.template.spec.containers[name="web"].image`, `.metadata.finalizers[="a"]`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(|pe| pe.to_string()).collect()
}

/// Values inside path elements as structured-merge-diff prints them: strings quoted, numbers
/// and booleans bare.
fn value_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => go_quote(s),
        Value::Array(items) => format!("[{}]", items.iter().map(value_to_string).collect::<Vec<_>>().join(",")),
        Value::Object(map) => map.iter().map(|(k, v)| format!("{k}={}", value_to_string(v))).collect(),
    }
}

/// Orders values as structured-merge-diff does: numbers, then strings, booleans, lists, maps,
/// and null last.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let int = |n: &serde_json::Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
            match (int(x), int(y)) {
                (Some(i), Some(j)) => i.cmp(&j),
                _ => {
                    let (fx, fy) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                    fx.partial_cmp(&fy).unwrap_or(Ordering::Equal)
                }
            }
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (i, j) in x.iter().zip(y.iter()) {
                let c = compare_values(i, j);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<(&String, &Value)> = x.iter().collect();
            let mut ys: Vec<(&String, &Value)> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            for ((xk, xv), (yk, yv)) in xs.iter().zip(ys.iter()) {
                let c = xk.cmp(yk).then_with(|| compare_values(xv, yv));
                if c != Ordering::Equal {
                    return c;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

pub use super::super::gofmt::{go_json, go_quote, write_go_json, write_go_string};

/// Why a `FieldsV1` document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSetError {
    #[error("invalid FieldsV1: expected a JSON object at {at}")]
    NotAnObject { at: String },
    #[error("invalid FieldsV1: bad path element {element:?}: {why}")]
    BadPathElement { element: String, why: String },
    #[error("invalid FieldsV1: {0}")]
    Json(String),
}

/// A set of paths, stored as a tree: `members` are the elements owned at this level,
/// `children` the sets below elements that have owned descendants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// A set holding exactly these paths.
    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a [PathElement]>) -> FieldSet {
        let mut set = FieldSet::new();
        for p in paths {
            set.insert(p);
        }
        set
    }

    /// Adds a path (the empty path is ignored: the root is never a member).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// True when the path is a member.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// True when the element is a member at this level.
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// The subset below `pe` (empty when none).
    pub fn child(&self, pe: &PathElement) -> &FieldSet {
        static EMPTY: FieldSet = FieldSet { members: BTreeSet::new(), children: BTreeMap::new() };
        self.children.get(pe).unwrap_or(&EMPTY)
    }

    /// True when the set has no members at any depth.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// Number of member paths.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// Every member path, in structured-merge-diff's iteration order (at each level the members,
    /// then the sets below each child).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    /// Member paths with no members below them (the owned leaves).
    pub fn leaf_paths(&self) -> Vec<Path> {
        self.paths().into_iter().filter(|p| self.below(p).is_empty()).collect()
    }

    fn below(&self, path: &[PathElement]) -> &FieldSet {
        let mut node = self;
        for pe in path {
            node = node.child(pe);
        }
        node
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for pe in &self.members {
            prefix.push(pe.clone());
            out.push(prefix.clone());
            prefix.pop();
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    fn normalized(mut self) -> FieldSet {
        self.children.retain(|_, c| !c.is_empty());
        self
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out.normalized()
    }

    /// Paths in `self` that are not in `other` (members only: descendants of a removed member
    /// stay unless they are in `other` too).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.iter().filter(|pe| !other.members.contains(*pe)).cloned().collect();
        let children = self
            .children
            .iter()
            .map(|(pe, child)| (pe.clone(), child.difference(other.child(pe))))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        FieldSet { members, children }
    }

    /// Paths in `self` that are neither in `other` nor below a member of `other`.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.iter().filter(|pe| !other.members.contains(*pe)).cloned().collect();
        let children = self
            .children
            .iter()
            .filter(|(pe, _)| !other.members.contains(*pe))
            .map(|(pe, child)| (pe.clone(), child.recursive_difference(other.child(pe))))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        FieldSet { members, children }
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| other.children.get(pe).map(|o| (pe.clone(), child.intersection(o))))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        FieldSet { members, children }
    }

    /// Parses the `fieldsV1` JSON value.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldSetError> {
        match value {
            Value::Object(map) => Ok(read_node(map, &mut Vec::new())?.0),
            _ => Err(FieldSetError::NotAnObject { at: "the root".to_string() }),
        }
    }

    /// Parses `fieldsV1` from JSON text.
    pub fn from_json_str(text: &str) -> Result<FieldSet, FieldSetError> {
        let value: Value = serde_json::from_str(text).map_err(|e| FieldSetError::Json(e.to_string()))?;
        FieldSet::from_fields_v1(&value)
    }

    /// The `fieldsV1` JSON value, keys in the order kube-apiserver writes them.
    pub fn to_fields_v1(&self) -> Value {
        write_node(self, false)
    }

    /// Compact JSON text of the `fieldsV1` value, as kube-apiserver writes it.
    pub fn to_json_string(&self) -> String {
        self.to_fields_v1().to_string()
    }
}

/// Reads one object of the encoding; returns the set below it and whether the node itself is
/// a member (`"."`, or no children at all).
fn read_node(map: &Map<String, Value>, at: &mut Vec<String>) -> Result<(FieldSet, bool), FieldSetError> {
    let mut set = FieldSet::new();
    let mut is_member = false;
    for (key, value) in map {
        if key == "." {
            is_member = true;
            continue;
        }
        let Some(pe) = PathElement::decode(key)? else {
            continue;
        };
        let Value::Object(inner) = value else {
            at.push(key.clone());
            let err = FieldSetError::NotAnObject { at: at.join(" ") };
            at.pop();
            return Err(err);
        };
        at.push(key.clone());
        let (child, child_is_member) = read_node(inner, at)?;
        at.pop();
        if child_is_member {
            set.members.insert(pe.clone());
        }
        if !child.is_empty() {
            let merged = match set.children.remove(&pe) {
                Some(prev) => prev.union(&child),
                None => child,
            };
            set.children.insert(pe, merged);
        }
    }
    if set.is_empty() {
        is_member = true;
    }
    Ok((set, is_member))
}

fn write_node(set: &FieldSet, include_self: bool) -> Value {
    let mut out = Map::new();
    if include_self && !set.is_empty() {
        out.insert(".".to_string(), Value::Object(Map::new()));
    }
    let mut keys: BTreeSet<&PathElement> = set.members.iter().collect();
    keys.extend(set.children.iter().filter(|(_, c)| !c.is_empty()).map(|(pe, _)| pe));
    for pe in keys {
        let member = set.members.contains(pe);
        let value = match set.children.get(pe).filter(|c| !c.is_empty()) {
            Some(child) => write_node(child, member),
            None => Value::Object(Map::new()),
        };
        out.insert(pe.encode(), value);
    }
    Value::Object(out)
}
