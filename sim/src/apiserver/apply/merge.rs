//! Walks of objects along a [`TypeNode`] for server-side apply: the field set an object sets
//! ([`fields_of`]), the comparison of two objects (added, modified, removed paths), the merge of
//! an apply configuration into a live object, and the pruning of fields an applier dropped.
//!
//! These follow structured-merge-diff's rules (lists merged per list type, atomic maps and
//! lists as leaves, empty maps and lists promoted to leaves). This module must not decide
//! ownership or conflicts and must not panic on ill-shaped input: values that do not fit the
//! shape are treated as leaves.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement};
use crate::apiserver::schema::typenode::{ListType, TypeNode};

/// A key no Kubernetes field uses, to ask a shape what it says about undeclared keys.
const UNDECLARED: &str = "\u{0}undeclared";

/// Metadata kube-apiserver sets itself and never tracks in managedFields.
const STRIPPED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// True when `key` is a declared field of the object shape (not a map entry).
fn declared(shape: &TypeNode, key: &str) -> bool {
    if !matches!(shape, TypeNode::Object { .. }) {
        return false;
    }
    let field = shape.field(key);
    let other = shape.field(UNDECLARED);
    if std::ptr::eq(field, other) {
        return false;
    }
    !(matches!(field, TypeNode::Unknown) && matches!(other, TypeNode::Unknown))
}

/// True for a map shape (an object whose undeclared keys have a known shape), as opposed to a
/// struct or an unknown object.
fn map_like(shape: &TypeNode) -> bool {
    matches!(shape, TypeNode::Object { .. }) && !matches!(shape.field(UNDECLARED), TypeNode::Unknown)
}

/// How a value is walked.
enum Node<'a> {
    /// Scalars, atomic maps and lists, and anything that does not fit its shape.
    Leaf,
    /// An object merged key by key.
    Object(&'a Map<String, Value>),
    /// A list merged item by item.
    List(&'a [Value], &'a ListType),
}

fn node<'a>(value: &'a Value, shape: &'a TypeNode) -> Node<'a> {
    match value {
        Value::Object(map) => match shape {
            TypeNode::Unknown | TypeNode::Object { .. } if !shape.is_atomic_map() => Node::Object(map),
            _ => Node::Leaf,
        },
        Value::Array(items) => match shape.list_type() {
            ListType::Atomic => Node::Leaf,
            lt if matches!(shape, TypeNode::List { .. }) => Node::List(items, lt),
            _ => Node::Leaf,
        },
        _ => Node::Leaf,
    }
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// The path element identifying a list item.
pub fn item_element(item: &Value, list_type: &ListType, index: usize) -> PathElement {
    match (list_type, item) {
        (ListType::Map(keys), Value::Object(map)) => {
            let mut fields = Vec::new();
            for key in keys {
                match map.get(key) {
                    Some(v) => fields.push((key.clone(), v.clone())),
                    // The only defaulted list-map key of the built-in kinds (ports).
                    None if key == "protocol" => fields.push((key.clone(), Value::String("TCP".to_string()))),
                    None => {}
                }
            }
            if fields.is_empty() {
                PathElement::Index(index as i64)
            } else {
                PathElement::key(fields)
            }
        }
        (ListType::Set, v) => PathElement::Value(v.clone()),
        _ => PathElement::Index(index as i64),
    }
}

/// The items of a list with their path elements; later duplicates are reported separately.
fn index_items<'a>(items: &'a [Value], lt: &ListType) -> (Vec<(PathElement, &'a Value)>, BTreeSet<PathElement>) {
    let mut seen = BTreeSet::new();
    let mut dups = BTreeSet::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let pe = item_element(item, lt, i);
        if seen.contains(&pe) {
            dups.insert(pe);
        } else {
            seen.insert(pe.clone());
            out.push((pe, item));
        }
    }
    (out, dups)
}

/// The fields a value sets, without removing server-set metadata.
pub fn raw_fields_of(value: &Value, shape: &TypeNode) -> FieldSet {
    let mut set = FieldSet::new();
    collect_fields(value, shape, &mut Vec::new(), &mut set);
    set
}

fn collect_fields(value: &Value, shape: &TypeNode, path: &mut Path, out: &mut FieldSet) {
    match node(value, shape) {
        Node::Leaf => out.insert(path),
        Node::Object(map) => {
            for (key, child) in map {
                let child_shape = shape.field(key);
                path.push(PathElement::Field(key.clone()));
                collect_fields(child, child_shape, path, out);
                let empty_map = matches!(child, Value::Object(m) if m.is_empty());
                if child.is_null() || empty_map || !declared(shape, key) {
                    out.insert(path);
                }
                path.pop();
            }
        }
        Node::List(items, lt) => {
            let (unique, dups) = index_items(items, lt);
            for (pe, item) in unique {
                path.push(pe.clone());
                if !dups.contains(&pe) {
                    collect_fields(item, shape.items(), path, out);
                }
                out.insert(path);
                path.pop();
            }
        }
    }
}

/// Removes the metadata kube-apiserver never tracks (and `metadata` itself as a member).
pub fn strip_server_fields(set: &FieldSet) -> FieldSet {
    let meta = PathElement::field("metadata");
    let mut top = FieldSet::new();
    top.insert(&[PathElement::field("apiVersion")]);
    top.insert(&[PathElement::field("kind")]);
    let mut below = FieldSet::new();
    for name in STRIPPED_METADATA {
        below.insert(&[meta.clone(), PathElement::field(name)]);
    }
    let mut just_meta = FieldSet::new();
    just_meta.insert(&[meta]);
    set.difference(&just_meta).recursive_difference(&top).recursive_difference(&below)
}

/// The set of fields an object (or an apply configuration) sets, per structured-merge-diff:
/// leaves, list items and empty or null values, map entries; server-set metadata
/// (`apiVersion`, `kind`, `metadata.name`, `metadata.uid`, `metadata.managedFields`, ...) is
/// not tracked.
pub fn fields_of(value: &Value, shape: &TypeNode) -> FieldSet {
    strip_server_fields(&raw_fields_of(value, shape))
}

/// What changed between two objects.
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

/// Which paths of added objects count as added (the object itself, besides its content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markers {
    /// Every added object and list item (what conflict detection uses).
    All,
    /// As kube-apiserver records an update: list items, lists, maps (labels, annotations and
    /// other objects with a value shape) and objects of unknown shape, not structs (whose zero
    /// value already exists on a typed server, so kube-apiserver never sees them added).
    Recorded,
}

/// Compares two objects along the shape.
pub fn compare(old: &Value, new: &Value, shape: &TypeNode, markers: Markers) -> Comparison {
    let mut cmp = Comparison::default();
    compare_at(Some(old), Some(new), shape, &mut Vec::new(), &mut cmp, markers);
    cmp
}

fn wants_marker(shape: &TypeNode, path: &[PathElement], markers: Markers) -> bool {
    if markers == Markers::All || map_like(shape) || matches!(shape, TypeNode::Unknown) {
        return true;
    }
    match path.last() {
        Some(PathElement::Field(_)) => {
            let meta_map = matches!(path, [PathElement::Field(m), PathElement::Field(f)]
                if m == "metadata" && (f == "labels" || f == "annotations"));
            meta_map
        }
        Some(_) => true,
        None => false,
    }
}

fn compare_at(
    old: Option<&Value>,
    new: Option<&Value>,
    shape: &TypeNode,
    path: &mut Path,
    cmp: &mut Comparison,
    markers: Markers,
) {
    let (lnode, rnode) = (old.map(|v| node(v, shape)), new.map(|v| node(v, shape)));
    let leaf = |cmp: &mut Comparison, path: &Path| match (old, new) {
        (None, Some(_)) => cmp.added.insert(path),
        (Some(_), None) => cmp.removed.insert(path),
        (Some(a), Some(b)) if a != b => cmp.modified.insert(path),
        _ => {}
    };
    let promote = is_empty_container(old) && is_empty_container(new);
    match (lnode, rnode) {
        (Some(Node::Object(a)), Some(Node::Object(b))) if !promote => {
            compare_objects(Some(a), Some(b), shape, path, cmp, markers);
        }
        (None, Some(Node::Object(b))) if !promote => {
            compare_objects(None, Some(b), shape, path, cmp, markers);
            if wants_marker(shape, path, markers) {
                cmp.added.insert(path);
            }
        }
        (Some(Node::Object(a)), None) if !promote => {
            compare_objects(Some(a), None, shape, path, cmp, markers);
            cmp.removed.insert(path);
        }
        (Some(Node::List(a, lt)), Some(Node::List(b, _))) if !promote => {
            compare_lists(a, b, lt, shape, path, cmp, markers);
        }
        (None, Some(Node::List(b, lt))) if !promote => {
            compare_lists(&[], b, lt, shape, path, cmp, markers);
            cmp.added.insert(path);
        }
        (Some(Node::List(a, lt)), None) if !promote => {
            compare_lists(a, &[], lt, shape, path, cmp, markers);
            cmp.removed.insert(path);
        }
        (Some(Node::Leaf), _) | (_, Some(Node::Leaf)) | (None, None) => leaf(cmp, path),
        _ if promote => leaf(cmp, path),
        // Both present with different kinds: the old content goes, the new content comes.
        _ => {
            compare_at(old, None, shape, path, cmp, markers);
            compare_at(None, new, shape, path, cmp, markers);
            cmp.modified.insert(path);
        }
    }
}

fn compare_objects(
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    shape: &TypeNode,
    path: &mut Path,
    cmp: &mut Comparison,
    markers: Markers,
) {
    let mut keys: BTreeSet<&String> = BTreeSet::new();
    keys.extend(old.into_iter().flat_map(|m| m.keys()));
    keys.extend(new.into_iter().flat_map(|m| m.keys()));
    for key in keys {
        let (l, r) = (old.and_then(|m| m.get(key)), new.and_then(|m| m.get(key)));
        path.push(PathElement::Field(key.clone()));
        compare_at(l, r, shape.field(key), path, cmp, markers);
        path.pop();
    }
}

fn compare_lists(
    old: &[Value],
    new: &[Value],
    lt: &ListType,
    shape: &TypeNode,
    path: &mut Path,
    cmp: &mut Comparison,
    markers: Markers,
) {
    let (l_items, _) = index_items(old, lt);
    let (r_items, _) = index_items(new, lt);
    let l_map: BTreeMap<&PathElement, &Value> = l_items.iter().map(|(pe, v)| (pe, *v)).collect();
    let r_map: BTreeMap<&PathElement, &Value> = r_items.iter().map(|(pe, v)| (pe, *v)).collect();
    for (pe, r) in &r_items {
        path.push(pe.clone());
        compare_at(l_map.get(pe).copied(), Some(r), shape.items(), path, cmp, markers);
        path.pop();
    }
    for (pe, l) in &l_items {
        if !r_map.contains_key(pe) {
            path.push(pe.clone());
            compare_at(Some(l), None, shape.items(), path, cmp, markers);
            path.pop();
        }
    }
}

/// Merges an apply configuration into a live value: objects key by key, list-maps by key,
/// sets by value, everything else replaced. A `null` in the configuration removes the key.
pub fn merge(live: Option<&Value>, config: &Value, shape: &TypeNode) -> Value {
    let Some(live) = live else {
        return merge_absent(config, shape);
    };
    match (node(live, shape), node(config, shape)) {
        (Node::Object(l), Node::Object(c)) => {
            let mut out = l.clone();
            for (key, cv) in c {
                if cv.is_null() {
                    out.remove(key);
                    continue;
                }
                let merged = merge(l.get(key), cv, shape.field(key));
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (Node::List(l, lt), Node::List(c, _)) => Value::Array(merge_lists(l, c, lt, shape.items())),
        _ => merge_absent(config, shape),
    }
}

/// A configuration value with nothing live under it (nulls inside objects dropped).
fn merge_absent(config: &Value, shape: &TypeNode) -> Value {
    match node(config, shape) {
        Node::Object(c) => Value::Object(
            c.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), merge_absent(v, shape.field(k)))).collect(),
        ),
        Node::List(items, _) => Value::Array(items.iter().map(|i| merge_absent(i, shape.items())).collect()),
        Node::Leaf => config.clone(),
    }
}

/// Merges list items, keeping the relative order of both lists where they agree (the same
/// interleaving structured-merge-diff produces).
fn merge_lists(live: &[Value], config: &[Value], lt: &ListType, item_shape: &TypeNode) -> Vec<Value> {
    let l_pes: Vec<PathElement> = live.iter().enumerate().map(|(i, v)| item_element(v, lt, i)).collect();
    let (r_items, _) = index_items(config, lt);
    let r_set: BTreeSet<&PathElement> = r_items.iter().map(|(pe, _)| pe).collect();
    let mut l_first: BTreeMap<&PathElement, &Value> = BTreeMap::new();
    for (pe, v) in l_pes.iter().zip(live.iter()) {
        l_first.entry(pe).or_insert(v);
    }
    let mut shared: std::collections::VecDeque<&PathElement> =
        r_items.iter().map(|(pe, _)| pe).filter(|pe| l_first.contains_key(pe)).collect();
    let mut next_shared = shared.pop_front();
    let mut merged_r: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(live.len().max(config.len()));
    let (mut li, mut ri) = (0usize, 0usize);
    while li < live.len() || ri < r_items.len() {
        if let (Some(lpe), Some((rpe, rv))) = (l_pes.get(li), r_items.get(ri)) {
            if lpe == rpe {
                merged_r.insert(rpe);
                out.push(merge(live.get(li), rv, item_shape));
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if r_set.contains(lpe) && next_shared.is_some_and(|n| n != lpe) {
                li += 1;
                continue;
            }
        }
        if let Some(lpe) = l_pes.get(li) {
            if !r_set.contains(lpe) {
                if let Some(v) = live.get(li) {
                    out.push(v.clone());
                }
                li += 1;
                continue;
            } else if merged_r.contains(lpe) {
                li += 1;
            }
        }
        if let Some((rpe, rv)) = r_items.get(ri) {
            merged_r.insert(rpe);
            out.push(merge(l_first.get(rpe).copied(), rv, item_shape));
            ri += 1;
            if next_shared == Some(rpe) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

/// True when `pe` counts as in `set` at this level: a member, or a declared field with owned
/// descendants (structured-merge-diff's "named fields are members" rule).
fn counts(set: &FieldSet, pe: &PathElement, is_declared: bool) -> bool {
    set.has_member(pe) || (is_declared && !set.child(pe).is_empty())
}

/// Removes from `value` what the applier owned before (`last`) and nobody owns now (`owned`).
pub fn prune(value: &mut Value, shape: &TypeNode, last: &FieldSet, owned: &FieldSet) {
    if last.is_empty() {
        return;
    }
    let list_type = shape.list_type().clone();
    let is_list = matches!(node(value, shape), Node::List(..));
    let is_object = matches!(node(value, shape), Node::Object(_));
    if is_object {
        if let Value::Object(map) = value {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let pe = PathElement::Field(key.clone());
                let decl = declared(shape, &key);
                if counts(last, &pe, decl) && !counts(owned, &pe, decl) {
                    map.remove(&key);
                } else if let Some(child) = map.get_mut(&key) {
                    prune(child, shape.field(&key), last.child(&pe), owned.child(&pe));
                }
            }
        }
    } else if is_list {
        if let Value::Array(items) = value {
            let mut kept = Vec::with_capacity(items.len());
            for (i, mut item) in std::mem::take(items).into_iter().enumerate() {
                let pe = item_element(&item, &list_type, i);
                if last.has_member(&pe) && !owned.has_member(&pe) {
                    continue;
                }
                prune(&mut item, shape.items(), last.child(&pe), owned.child(&pe));
                kept.push(item);
            }
            *items = kept;
        }
    }
}

/// Checks that a configuration can be applied: list-map items are objects carrying at least
/// one key field, set members are scalars, and no item appears twice. The error reads as
/// structured-merge-diff's (`.spec.containers: element 0: associative list with keys has an
/// element that omits all key fields ["name"] (and doesn't have default values for any key
/// fields)`); kube-apiserver prefixes it with `failed to create typed patch object (<gvk>): `.
pub fn validate_apply_config(config: &Value, shape: &TypeNode) -> Result<(), String> {
    let mut errors = Vec::new();
    validate_at(config, shape, &mut Vec::new(), &mut errors);
    match errors.as_slice() {
        [] => Ok(()),
        [one] => Err(one.clone()),
        many => Err(format!("errors:\n  {}", many.join("\n  "))),
    }
}

fn validate_at(value: &Value, shape: &TypeNode, path: &mut Path, errors: &mut Vec<String>) {
    match node(value, shape) {
        Node::Leaf => {}
        Node::Object(map) => {
            for (key, child) in map {
                path.push(PathElement::Field(key.clone()));
                validate_at(child, shape.field(key), path, errors);
                path.pop();
            }
        }
        Node::List(items, lt) => {
            let at = super::fieldset::path_string(path);
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let problem = match (lt, item) {
                    (ListType::Map(_), Value::Null) => {
                        Some("associative list with keys may not have a null element".to_string())
                    }
                    (ListType::Map(_), v) if !v.is_object() => {
                        Some("associative list with keys may not have non-map elements".to_string())
                    }
                    (ListType::Map(keys), _) => match item_element(item, lt, i) {
                        PathElement::Index(_) => Some(format!(
                            "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                            keys.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(" ")
                        )),
                        _ => None,
                    },
                    (ListType::Set, Value::Object(_)) => {
                        Some("associative list without keys has an element that's a map type".to_string())
                    }
                    (ListType::Set, Value::Array(_)) => {
                        Some("not supported: associative list with lists as elements".to_string())
                    }
                    (ListType::Set, Value::Null) => Some(
                        "associative list without keys has an element that's an explicit null".to_string(),
                    ),
                    _ => None,
                };
                if let Some(problem) = problem {
                    errors.push(format!("{at}: element {i}: {problem}"));
                    continue;
                }
                let pe = item_element(item, lt, i);
                if !seen.insert(pe.clone()) {
                    errors.push(format!("{at}: duplicate entries for key {pe}"));
                    continue;
                }
                path.push(pe);
                validate_at(item, shape.items(), path, errors);
                path.pop();
            }
        }
    }
}
