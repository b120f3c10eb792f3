//! Strategic merge patch, applied the way `k8s.io/apimachinery/pkg/util/strategicpatch` applies
//! it server-side (`StrategicMergeMapPatch`): maps merge recursively and `null` deletes, lists
//! merge according to the shape's strategy (by merge key, as a union of scalars, or replaced),
//! and the directives `$patch`, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
//! `$setElementOrder/<field>` behave as upstream, including the order of merged lists and the
//! wording of errors.
//!
//! This module must not validate or default the result, must not know about kinds (it only
//! walks the `TypeNode` it is given), and must never panic on any input. Directive keys never
//! reach the result: kube-apiserver drops them when it decodes the patched map into a typed
//! object, and this module drops them itself.

use serde_json::{Map, Value};

use super::{json_kind, PatchError};
use crate::apiserver::schema::{SmpStrategy, TypeNode};

const DIRECTIVE_MARKER: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

const ERR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";
const ERR_LIST_OF_LISTS: &str = "lists of lists are not supported";

type JsonMap = Map<String, Value>;

/// Applies strategic merge patch `patch` to `original`, whose merge shape is `shape`.
/// `TypeNode::Unknown` parts behave like a JSON merge patch (maps merge, lists are replaced).
pub fn strategic_merge_patch(original: &Value, patch: &Value, shape: &TypeNode) -> Result<Value, PatchError> {
    let patch = match patch {
        Value::Object(m) => m.clone(),
        // Go decodes `null` into an empty map.
        Value::Null => JsonMap::new(),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(other)
            )))
        }
    };
    let original = match original {
        Value::Object(m) => m.clone(),
        _ => JsonMap::new(),
    };
    merge_map(original, patch, shape).map(Value::Object)
}

/// The value kinds Go's reflection tells apart in a decoded JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoKind {
    Nil,
    Map,
    Slice,
    String,
    Int,
    Float,
    Bool,
}

fn go_kind(v: &Value) -> GoKind {
    match v {
        Value::Null => GoKind::Nil,
        Value::Object(_) => GoKind::Map,
        Value::Array(_) => GoKind::Slice,
        Value::String(_) => GoKind::String,
        Value::Bool(_) => GoKind::Bool,
        Value::Number(n) if n.is_i64() || n.is_u64() => GoKind::Int,
        Value::Number(_) => GoKind::Float,
    }
}

/// Go's `reflect.TypeOf(v)` as `%s` prints it.
fn go_type(v: &Value) -> &'static str {
    match go_kind(v) {
        GoKind::Nil => "%!s(<nil>)",
        GoKind::Map => "map[string]interface {}",
        GoKind::Slice => "[]interface {}",
        GoKind::String => "string",
        GoKind::Int => "int64",
        GoKind::Float => "float64",
        GoKind::Bool => "bool",
    }
}

/// A value as Go's `%v` prints a decoded JSON document (`map[k:v]` with sorted keys, `[a b]`).
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => go_fmt_list(items),
        Value::Object(m) => go_fmt_map(m),
    }
}

fn go_fmt_list(items: &[Value]) -> String {
    format!("[{}]", items.iter().map(go_fmt).collect::<Vec<_>>().join(" "))
}

fn go_fmt_map(m: &JsonMap) -> String {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let parts: Vec<String> = entries.iter().map(|(k, v)| format!("{k}:{}", go_fmt(v))).collect();
    format!("map[{}]", parts.join(" "))
}

/// A value as Go's `%s` prints it.
fn go_fmt_s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "%!s(<nil>)".to_string(),
        Value::Bool(_) | Value::Number(_) => format!("%!s({}={})", go_type(v), go_fmt(v)),
        other => go_fmt(other),
    }
}

fn err_no_merge_key(m: &JsonMap, key: &str) -> PatchError {
    PatchError::Strategic(format!("map: {} does not contain declared merge key: {key}", go_fmt_map(m)))
}

fn err_bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Strategic(format!("expected a {expected}, but received a {}", go_type(actual)))
}

fn err_bad_patch_type(t: &Value, m: &JsonMap) -> PatchError {
    PatchError::Strategic(format!("unknown patch type: {} in map: {}", go_fmt_s(t), go_fmt_map(m)))
}

const MAP_TYPE: &str = "map[string]interface {}";
const SLICE_TYPE: &str = "[]interface {}";

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE_MARKER
        || k == RETAIN_KEYS
        || k.starts_with("$setElementOrder/")
        || k.starts_with("$deleteFromPrimitiveList/")
}

/// A patch value about to be stored as is: maps carrying `$patch` are dropped (as upstream's
/// `removeDirectives`), `null` map values are dropped (`discardNullValuesFromPatch`), and other
/// directive keys are dropped (as typed decoding would). `None`: drop the value altogether.
fn clean(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            Some(Value::Object(clean_map(m)))
        }
        Value::Array(items) => Some(Value::Array(clean_list(items))),
        other => Some(other),
    }
}

fn clean_map(m: JsonMap) -> JsonMap {
    m.into_iter()
        .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
        .filter_map(|(k, v)| clean(v).map(|v| (k, v)))
        .collect()
}

fn clean_list(items: Vec<Value>) -> Vec<Value> {
    items.into_iter().filter_map(clean).collect()
}

/// The list strategy of `shape` (lists of unknown shape are replaced).
fn list_strategy(shape: &TypeNode) -> SmpStrategy {
    match shape {
        TypeNode::SmpOverride { .. } | TypeNode::List { .. } => shape.smp_strategy(),
        _ => SmpStrategy::Replace,
    }
}

fn merge_key_of(strategy: &SmpStrategy) -> &str {
    match strategy {
        SmpStrategy::MergeKey(k) => k,
        _ => "",
    }
}

/// `extractKey`: the field a `$prefix/field` directive key names.
fn extract_key(key: &str, prefix: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ => Err(PatchError::BadRequest(
            if prefix == DELETE_FROM_PRIMITIVE_LIST { ERR_PRIMITIVE_LIST } else { ERR_SET_ELEMENT_ORDER }.to_string(),
        )),
    }
}

/// `mergeMap`.
fn merge_map(mut original: JsonMap, mut patch: JsonMap, shape: &TypeNode) -> Result<JsonMap, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        return match directive.as_str() {
            Some("replace") => {
                patch.shift_remove(DIRECTIVE_MARKER);
                Ok(clean_map(patch))
            }
            Some("delete") => Ok(JsonMap::new()),
            _ => Err(err_bad_patch_type(directive, &patch)),
        };
    }

    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, shape)?;

    for (key, patch_v) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST)?, true)
        } else {
            (key, false)
        };

        if patch_v.is_null() {
            original.shift_remove(&key);
            continue;
        }

        let field_shape = shape.field(&key);
        let Some(slot) = original.get_mut(&key) else {
            if !is_delete_list {
                if let Some(v) = clean(patch_v) {
                    original.insert(key, v);
                }
            }
            continue;
        };

        if go_kind(slot) != go_kind(&patch_v) {
            if !is_delete_list {
                match clean(patch_v) {
                    Some(v) => *slot = v,
                    None => {
                        original.shift_remove(&key);
                    }
                }
            }
            continue;
        }

        match (std::mem::take(slot), patch_v) {
            (Value::Object(o), Value::Object(p)) => {
                *slot = if field_shape.smp_strategy() == SmpStrategy::Replace {
                    Value::Object(clean_map(p))
                } else {
                    Value::Object(merge_map(o, p, field_shape)?)
                };
            }
            (Value::Array(o), Value::Array(p)) => {
                *slot = Value::Array(merge_slice_handler(o, p, field_shape, &key, is_delete_list)?.0);
            }
            (_, p) => match clean(p) {
                Some(v) => *slot = v,
                None => {
                    original.shift_remove(&key);
                }
            },
        }
    }
    Ok(original)
}

/// `mergeSliceHandler`: merge when the field merges (or for a deletion list), else replace.
/// Also returns what the caller's view of `original` reads afterwards (see [`merge_slice`]).
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    shape: &TypeNode,
    name: &str,
    is_delete_list: bool,
) -> Result<(Vec<Value>, Option<Vec<Value>>), PatchError> {
    let strategy = list_strategy(shape);
    if strategy == SmpStrategy::Replace && !is_delete_list {
        return Ok((clean_list(patch), None));
    }
    merge_slice(original, patch, shape.items(), merge_key_of(&strategy), name, is_delete_list)
}

/// `applyRetainKeysDirective`.
fn apply_retain_keys(original: &mut JsonMap, patch: &mut JsonMap) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRequest(ERR_RETAIN_KEYS.to_string()));
    };
    let retained = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_FROM_PRIMITIVE_LIST) || k.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if !retained(k) {
            return Err(PatchError::BadRequest(ERR_RETAIN_KEYS.to_string()));
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

fn as_list(v: Option<&Value>) -> Result<Option<&Vec<Value>>, PatchError> {
    match v {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(err_bad_arg_type(SLICE_TYPE, other)),
    }
}

/// `mergePatchIntoOriginal`: handles every `$setElementOrder/<field>` directive together with
/// the patch's `<field>` list.
fn merge_set_element_order(original: &mut JsonMap, patch: &mut JsonMap, shape: &TypeNode) -> Result<(), PatchError> {
    let directive_keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ELEMENT_ORDER)).cloned().collect();
    for directive_key in directive_keys {
        let Some(order) = patch.shift_remove(&directive_key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(err_bad_arg_type(SLICE_TYPE, &order));
        };
        let field = extract_key(&directive_key, SET_ELEMENT_ORDER)?;
        let original_list = as_list(original.get(&field))?.cloned();
        let patch_list = as_list(patch.get(&field))?.cloned();
        let field_shape = shape.field(&field);
        let strategy = list_strategy(field_shape);
        let merge_key = merge_key_of(&strategy).to_string();

        validate_patch_with_set_order(patch_list.as_deref().unwrap_or(&[]), &order, &merge_key)?;

        let mut server_order = original_list.clone().unwrap_or_default();
        let merged = match (&original_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => clean_list(p.clone()),
            (Some(o), Some(p)) => {
                let (merged, view) = merge_slice_handler(o.clone(), p.clone(), field_shape, &field, false)?;
                if let Some(view) = view {
                    server_order = view;
                }
                merged
            }
            (None, None) => continue,
        };

        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives(merged, &order)
        } else {
            partition_maps(merged, &order, &merge_key)?
        };
        let original_list = original_list.unwrap_or_default();
        let kind = slice_element_type(&[&original_list, patch_list.as_deref().unwrap_or(&[])])?;
        let both = normalize_element_order(patch_items, server_only, &order, &server_order, &merge_key, kind)?;
        original.insert(field.clone(), Value::Array(both));
        patch.shift_remove(&field);
    }
    Ok(())
}

fn contains_directive_marker(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
}

/// `mergeKeyValueEqual`.
fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, PatchError> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let l = left.as_object().ok_or_else(|| err_bad_arg_type(MAP_TYPE, left))?;
    let r = right.as_object().ok_or_else(|| err_bad_arg_type(MAP_TYPE, right))?;
    let lv = l.get(merge_key).ok_or_else(|| err_no_merge_key(l, merge_key))?;
    let rv = r.get(merge_key).ok_or_else(|| err_no_merge_key(r, merge_key))?;
    Ok(lv == rv)
}

/// `validatePatchWithSetOrderList`: the patch list's items (deletions aside) must appear in the
/// `$setElementOrder` list, in the same relative order.
fn validate_patch_with_set_order(patch_list: &[Value], order: &[Value], merge_key: &str) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete =
        if merge_key.is_empty() { patch_list.to_vec() } else { extract_to_delete_items(patch_list.to_vec())?.0 };
    let (mut pi, mut si) = (0usize, 0usize);
    while let (Some(p), Some(o)) = (non_delete.get(pi), order.get(si)) {
        if contains_directive_marker(p) {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(p, o, merge_key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(PatchError::Strategic(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_fmt_list(patch_list),
            go_fmt_list(order)
        )));
    }
    Ok(())
}

/// `extractToDeleteItems`: (items to keep, items with `$patch: delete`).
fn extract_to_delete_items(list: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut keep = Vec::new();
    let mut delete = Vec::new();
    for v in list {
        let Some(m) = v.as_object() else {
            return Err(err_bad_arg_type(MAP_TYPE, &v));
        };
        if m.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some("delete") {
            delete.push(v);
        } else {
            keep.push(v);
        }
    }
    Ok((keep, delete))
}

/// `sliceElementType`: whether the (common) element type of the lists is a map.
fn slice_element_type(lists: &[&[Value]]) -> Result<bool, PatchError> {
    let mut prev: Option<GoKind> = None;
    for list in lists {
        for v in list.iter() {
            let kind = go_kind(v);
            match prev {
                None => {
                    if kind == GoKind::Slice {
                        return Err(PatchError::Unprocessable(ERR_LIST_OF_LISTS.to_string()));
                    }
                    prev = Some(kind);
                }
                Some(p) if p != kind => {
                    let all: Vec<String> = lists.iter().map(|l| go_fmt_list(l)).collect();
                    return Err(PatchError::Strategic(format!(
                        "list element types are not identical: [{}]",
                        all.join(" ")
                    )));
                }
                Some(_) => {}
            }
        }
    }
    match prev {
        Some(kind) => Ok(kind == GoKind::Map),
        None => Err(PatchError::Strategic("no elements in any of the given slices".to_string())),
    }
}

/// `mergeSlice`. Besides the merged list, returns what the caller's view of `original` reads
/// afterwards when that differs: upstream deletes and appends in place, so the caller's slice
/// (which `$setElementOrder` handling then uses as the live order) sees those writes. This is
/// emulated assuming the live list's capacity is the next power of two of its length, as Go's
/// decoders leave it.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    item_shape: &TypeNode,
    merge_key: &str,
    name: &str,
    is_delete_list: bool,
) -> Result<(Vec<Value>, Option<Vec<Value>>), PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok((original, None));
    }
    let is_map = slice_element_type(&[&original, &patch])?;

    let (merged, original, patch, view) = if !is_map {
        if is_delete_list {
            return Ok((original.into_iter().filter(|v| !patch.contains(v)).collect(), None));
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        (deduplicate_scalars(both), original, patch, None)
    } else {
        if merge_key.is_empty() {
            return Err(PatchError::Strategic(format!("cannot merge lists without merge key for {name}")));
        }
        let mut view = AliasedView::new(&original);
        let (original, patch, replaced) = merge_slice_with_special_elements(original, patch, merge_key, &mut view)?;
        let merged = merge_slice_without_special_elements(
            original.clone(),
            &patch,
            merge_key,
            item_shape,
            if replaced { None } else { Some(&mut view) },
        )?;
        (merged, original, patch, Some(view.into_view()))
    };

    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives(merged, &patch)
    } else {
        partition_maps(merged, &patch, merge_key)?
    };
    let out = normalize_element_order(patch_items, server_only, &patch, &original, merge_key, is_map)?;
    Ok((out, view))
}

/// The backing array of a Go slice shared between the caller's view (the first `view_len`
/// slots) and the slice being edited in place (the first `len` slots).
struct AliasedView {
    backing: Vec<Value>,
    view_len: usize,
    len: usize,
    cap: usize,
    /// False once an append outgrew the capacity (Go reallocated: no more shared writes).
    shared: bool,
}

impl AliasedView {
    fn new(original: &[Value]) -> Self {
        let len = original.len();
        let cap = if len == 0 { 0 } else { len.next_power_of_two() };
        AliasedView { backing: original.to_vec(), view_len: len, len, cap, shared: true }
    }

    /// `append(s[:k], s[k+1:]...)`: shifts the tail down; the old last slot keeps its value.
    fn remove(&mut self, k: usize) {
        if !self.shared || k >= self.len {
            return;
        }
        for i in k..self.len - 1 {
            let next = self.backing.get(i + 1).cloned();
            if let (Some(next), Some(slot)) = (next, self.backing.get_mut(i)) {
                *slot = next;
            }
        }
        self.len -= 1;
    }

    /// `s = append(s, v)`.
    fn push(&mut self, v: &Value) {
        if !self.shared {
            return;
        }
        if self.len < self.cap {
            match self.backing.get_mut(self.len) {
                Some(slot) => *slot = v.clone(),
                None => self.backing.push(v.clone()),
            }
            self.len += 1;
        } else {
            self.shared = false;
        }
    }

    fn into_view(mut self) -> Vec<Value> {
        self.backing.truncate(self.view_len);
        self.backing
    }
}

/// `deduplicateScalars`, including the order it leaves behind (a duplicate's slot is filled
/// with the last element).
fn deduplicate_scalars(mut s: Vec<Value>) -> Vec<Value> {
    let mut i = 0usize;
    while i + 1 < s.len() {
        let mut j = i + 1;
        while j < s.len() {
            if s.get(i) == s.get(j) {
                s.swap_remove(j);
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    s
}

/// `mergeSliceWithSpecialElements`: applies `$patch: delete` / `$patch: replace` items.
/// Returns the new original and the patch without special items.
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    view: &mut AliasedView,
) -> Result<(Vec<Value>, Vec<Value>, bool), PatchError> {
    let mut plain = Vec::new();
    let mut replace = false;
    for v in patch {
        let Some(m) = v.as_object() else {
            return Err(err_bad_arg_type(MAP_TYPE, &v));
        };
        match m.get(DIRECTIVE_MARKER) {
            None => plain.push(v),
            Some(directive) => match directive.as_str() {
                Some("delete") => {
                    let Some(value) = m.get(merge_key) else {
                        return Err(err_no_merge_key(m, merge_key));
                    };
                    if let Some(idx) = original.iter().position(|o| !o.is_object()) {
                        return Err(PatchError::Strategic(format!("value for key {idx} is not a map")));
                    }
                    while let Some(k) = original.iter().position(|o| o.get(merge_key) == Some(value)) {
                        original.remove(k);
                        view.remove(k);
                    }
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    return Err(PatchError::Strategic("merging lists cannot yet be specified in the patch".to_string()))
                }
                _ => return Err(err_bad_patch_type(directive, m)),
            },
        }
    }
    if replace {
        Ok((plain, Vec::new(), true))
    } else {
        Ok((original, plain, false))
    }
}

/// `findMapInSliceBasedOnKeyValue`.
fn find_by_key(list: &[Value], merge_key: &str, value: &Value) -> Result<Option<usize>, PatchError> {
    for (idx, v) in list.iter().enumerate() {
        let Some(m) = v.as_object() else {
            return Err(PatchError::Strategic(format!("value for key {idx} is not a map")));
        };
        if m.get(merge_key) == Some(value) {
            return Ok(Some(idx));
        }
    }
    Ok(None)
}

/// `mergeSliceWithoutSpecialElements`: merges items with the same key, appends the others.
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    item_shape: &TypeNode,
    mut view: Option<&mut AliasedView>,
) -> Result<Vec<Value>, PatchError> {
    for v in patch {
        let Some(m) = v.as_object() else {
            return Err(err_bad_arg_type(MAP_TYPE, v));
        };
        let Some(value) = m.get(merge_key) else {
            return Err(err_no_merge_key(m, merge_key));
        };
        match find_by_key(&original, merge_key, value)? {
            Some(idx) => {
                if let Some(slot) = original.get_mut(idx) {
                    let Value::Object(o) = std::mem::take(slot) else {
                        return Err(PatchError::Strategic(format!("value for key {idx} is not a map")));
                    };
                    *slot = Value::Object(merge_map(o, m.clone(), item_shape)?);
                }
            }
            None => {
                if let Some(view) = view.as_deref_mut() {
                    view.push(v);
                }
                if let Some(item) = clean(v.clone()) {
                    original.push(item);
                }
            }
        }
    }
    Ok(original)
}

/// `partitionPrimitivesByPresentInList`: (items present in `by`, the others).
fn partition_primitives(list: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    list.into_iter().partition(|v| by.contains(v))
}

/// `partitionMapsByPresentInList`: (items whose key is present in `by`, the others).
fn partition_maps(list: Vec<Value>, by: &[Value], merge_key: &str) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for v in list {
        let Some(m) = v.as_object() else {
            return Err(err_bad_arg_type(MAP_TYPE, &v));
        };
        let Some(value) = m.get(merge_key) else {
            return Err(err_no_merge_key(m, merge_key));
        };
        if find_by_key(by, merge_key, value)?.is_some() {
            present.push(v);
        } else {
            absent.push(v);
        }
    }
    Ok((present, absent))
}

/// `index`: position of `item` in `list`, comparing merge-key values for maps.
fn index_of(list: &[Value], item: &Value, merge_key: &str, is_map: bool) -> Option<usize> {
    let key_of = |v: &Value| -> Option<Value> {
        if is_map {
            v.as_object().and_then(|m| m.get(merge_key)).cloned()
        } else {
            Some(v.clone())
        }
    };
    let wanted = key_of(item);
    list.iter().position(|v| key_of(v) == wanted)
}

/// `normalizeElementOrder`: sorts patch items by the patch order and server-only items by the
/// live order, then interleaves them.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    is_map: bool,
) -> Result<Vec<Value>, PatchError> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, is_map)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, is_map)?;
    Ok(merge_sorted_slice(server_only, patch, server_order, merge_key, is_map))
}

/// `normalizeSliceOrder`.
fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    is_map: bool,
) -> Result<Vec<Value>, PatchError> {
    let (mut to_sort, to_delete) = if is_map {
        for v in to_sort.iter().chain(order.iter()) {
            let Some(m) = v.as_object() else {
                return Err(err_bad_arg_type(MAP_TYPE, v));
            };
            if !m.contains_key(merge_key) {
                return Err(err_no_merge_key(m, merge_key));
            }
        }
        extract_to_delete_items(to_sort)?
    } else {
        (to_sort, Vec::new())
    };
    let less =
        |a: &Value, b: &Value| match (index_of(order, a, merge_key, is_map), index_of(order, b, merge_key, is_map)) {
            (Some(ia), Some(ib)) => ia < ib,
            _ => true,
        };
    go_stable_sort(&mut to_sort, &less);
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// `mergeSortedSlice`: inserts the sorted `left` items into the sorted `right` items, using
/// the positions in `server_order` where both are known.
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    is_map: bool,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (index_of(server_order, l, merge_key, is_map), index_of(server_order, r, merge_key, is_map)) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some(v) = next {
            out.push(v);
        }
    }
    out
}

/// Go's `sort.SliceStable` (insertion sort on blocks of 20, then `symMerge`), reproduced step
/// by step so that the inconsistent comparator upstream uses yields the same order here.
fn go_stable_sort(data: &mut [Value], less: &dyn Fn(&Value, &Value) -> bool) {
    let n = data.len();
    let lt = |d: &[Value], i: usize, j: usize| match (d.get(i), d.get(j)) {
        (Some(a), Some(b)) => less(a, b),
        _ => false,
    };
    let mut block = 20usize;
    let (mut a, mut b) = (0usize, block);
    while b <= n {
        insertion_sort(data, a, b, &lt);
        a = b;
        b += block;
    }
    insertion_sort(data, a, n, &lt);
    while block < n {
        a = 0;
        b = 2 * block;
        while b <= n {
            sym_merge(data, a, a + block, b, &lt);
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(data, a, m, n, &lt);
        }
        block *= 2;
    }
}

type Less<'a> = dyn Fn(&[Value], usize, usize) -> bool + 'a;

fn insertion_sort(data: &mut [Value], a: usize, b: usize, less: &Less) {
    let mut i = a + 1;
    while i < b {
        let mut j = i;
        while j > a && less(data, j, j - 1) {
            data.swap(j, j - 1);
            j -= 1;
        }
        i += 1;
    }
}

fn sym_merge(data: &mut [Value], a: usize, m: usize, b: usize, less: &Less) {
    if m - a == 1 {
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(data, h, a) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = a;
        while k + 1 < i {
            data.swap(k, k + 1);
            k += 1;
        }
        return;
    }
    if b - m == 1 {
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(data, m, h) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            data.swap(k, k - 1);
            k -= 1;
        }
        return;
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(data, p - c, c) {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        rotate(data, start, m, end);
    }
    if a < start && start < mid {
        sym_merge(data, a, start, mid, less);
    }
    if mid < end && end < b {
        sym_merge(data, mid, end, b, less);
    }
}

fn rotate(data: &mut [Value], a: usize, m: usize, b: usize) {
    let (mut i, mut j) = (m - a, b - m);
    while i != j {
        if i > j {
            swap_range(data, m - i, m, j);
            i -= j;
        } else {
            swap_range(data, m - i, m + j - i, i);
            j -= i;
        }
    }
    swap_range(data, m - i, m, i);
}

fn swap_range(data: &mut [Value], a: usize, b: usize, n: usize) {
    for k in 0..n {
        if a + k < data.len() && b + k < data.len() {
            data.swap(a + k, b + k);
        }
    }
}

/// Exposes the Go stable sort to the tests.
#[cfg(test)]
pub(crate) fn go_stable_sort_for_tests(data: &mut [Value], less: &dyn Fn(&Value, &Value) -> bool) {
    go_stable_sort(data, less)
}
