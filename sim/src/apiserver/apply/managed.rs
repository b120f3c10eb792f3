//! `metadata.managedFields` entries: decoding and encoding them as kube-apiserver does
//! (`fieldsType: FieldsV1`, entries sorted Apply first, then by time and manager), recording
//! which fields an update, patch or create changed ([`record_update`]), and the default manager
//! name derived from the User-Agent.
//!
//! This module must not merge objects or detect apply conflicts (see `super::server_side_apply`);
//! it only keeps the ownership bookkeeping of non-apply writes.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, FieldSetError};
use super::merge::{compare, strip_server_fields, Markers};
use crate::apiserver::schema::typenode::TypeNode;

/// `managedFields[].operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    /// RFC 3339 (`2024-01-02T03:04:05Z`); empty when the entry has none.
    pub time: String,
    pub fields: FieldSet,
    pub subresource: Option<String>,
}

impl ManagedEntry {
    /// True when `self` and `other` are the same manager for kube-apiserver: same name,
    /// operation and subresource, and for updates the same apiVersion (an applier keeps one
    /// entry whatever version it applies with).
    pub fn same_manager(&self, other: &ManagedEntry) -> bool {
        self.is(&other.manager, other.operation, &other.api_version, other.subresource.as_deref())
    }

    /// True when this entry belongs to the manager described.
    pub fn is(&self, manager: &str, operation: Operation, api_version: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref().unwrap_or("") == subresource.unwrap_or("")
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    /// How kube-apiserver names this manager in conflict messages: `"kubectl"`,
    /// `"kube-controller-manager" using apps/v1`, `"m" with subresource "status" using v1`.
    pub fn describe(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    /// The manager identifier kube-apiserver sorts conflicts by (the entry's JSON without time
    /// and fields, and without apiVersion for appliers).
    pub fn identifier(&self) -> String {
        let mut map = Map::new();
        map.insert("manager".to_string(), Value::String(self.manager.clone()));
        map.insert("operation".to_string(), Value::String(self.operation.as_str().to_string()));
        if self.operation == Operation::Update && !self.api_version.is_empty() {
            map.insert("apiVersion".to_string(), Value::String(self.api_version.clone()));
        }
        if let Some(sub) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            map.insert("subresource".to_string(), Value::String(sub.to_string()));
        }
        Value::Object(map).to_string()
    }
}

/// Why `metadata.managedFields` could not be decoded (wording as kube-apiserver's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagedFieldsError {
    #[error("managedFields must be a list")]
    NotAList,
    #[error("managed fields entry {0} must be an object")]
    NotAnObject(usize),
    #[error("operation must be `Apply` or `Update`")]
    BadOperation,
    #[error("apiVersion must not be empty")]
    MissingApiVersion,
    #[error("missing fieldsType in managed fields entry {0}")]
    MissingFieldsType(usize),
    #[error("invalid fieldsType {1:?} in managed fields entry {0}")]
    BadFieldsType(usize, String),
    #[error("field {field:?} of managed fields entry {index} must be a string")]
    NotAString { index: usize, field: &'static str },
    #[error("error decoding versioned set of managed fields entry {0}: {1}")]
    Fields(usize, FieldSetError),
}

fn string_field(entry: &Map<String, Value>, index: usize, field: &'static str) -> Result<String, ManagedFieldsError> {
    match entry.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ManagedFieldsError::NotAString { index, field }),
    }
}

/// Decodes the `metadata.managedFields` array (`null` or absent: no entries). When two
/// entries name the same manager the later one wins, as in kube-apiserver.
pub fn decode_managed_fields(value: &Value) -> Result<Vec<ManagedEntry>, ManagedFieldsError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(ManagedFieldsError::NotAList),
    };
    let mut out: Vec<ManagedEntry> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(entry) = item else {
            return Err(ManagedFieldsError::NotAnObject(i));
        };
        let operation = match string_field(entry, i, "operation")?.as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err(ManagedFieldsError::BadOperation),
        };
        let api_version = string_field(entry, i, "apiVersion")?;
        if api_version.is_empty() {
            return Err(ManagedFieldsError::MissingApiVersion);
        }
        match string_field(entry, i, "fieldsType")?.as_str() {
            "FieldsV1" => {}
            "" => return Err(ManagedFieldsError::MissingFieldsType(i)),
            other => return Err(ManagedFieldsError::BadFieldsType(i, other.to_string())),
        }
        let fields = match entry.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v).map_err(|e| ManagedFieldsError::Fields(i, e))?,
        };
        let subresource = Some(string_field(entry, i, "subresource")?).filter(|s| !s.is_empty());
        let decoded = ManagedEntry {
            manager: string_field(entry, i, "manager")?,
            operation,
            api_version,
            time: string_field(entry, i, "time")?,
            fields,
            subresource,
        };
        out.retain(|e| !e.same_manager(&decoded));
        out.push(decoded);
    }
    Ok(out)
}

fn seconds(time: &str) -> i64 {
    time.parse::<jiff::Timestamp>().map(|t| t.as_second()).unwrap_or(0)
}

/// kube-apiserver's order of managedFields entries: Apply before Update, then older first,
/// then by manager, apiVersion and subresource.
pub fn sort_entries(entries: &mut [ManagedEntry]) {
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| seconds(&p.time).cmp(&seconds(&q.time)))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.as_deref().unwrap_or("").cmp(q.subresource.as_deref().unwrap_or("")))
    });
}

/// Encodes entries as the `metadata.managedFields` array, sorted as kube-apiserver sorts them;
/// entries with an empty set are left out.
pub fn encode_managed_fields(entries: &[ManagedEntry]) -> Value {
    let mut sorted: Vec<ManagedEntry> = entries.iter().filter(|e| !e.fields.is_empty()).cloned().collect();
    sort_entries(&mut sorted);
    Value::Array(
        sorted
            .iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("manager".to_string(), Value::String(e.manager.clone()));
                m.insert("operation".to_string(), Value::String(e.operation.as_str().to_string()));
                m.insert("apiVersion".to_string(), Value::String(e.api_version.clone()));
                if !e.time.is_empty() {
                    m.insert("time".to_string(), Value::String(e.time.clone()));
                }
                m.insert("fieldsType".to_string(), Value::String("FieldsV1".to_string()));
                m.insert("fieldsV1".to_string(), e.fields.to_fields_v1());
                if let Some(sub) = e.subresource.as_deref().filter(|s| !s.is_empty()) {
                    m.insert("subresource".to_string(), Value::String(sub.to_string()));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// The object without `metadata.managedFields`: itself when it has none, else a copy.
pub(crate) fn without_managed_fields(obj: &Value) -> Cow<'_, Value> {
    if obj.pointer("/metadata/managedFields").is_none() {
        return Cow::Borrowed(obj);
    }
    let mut copy = obj.clone();
    remove_managed_fields(&mut copy);
    Cow::Owned(copy)
}

/// Removes `metadata.managedFields` in place.
pub(crate) fn remove_managed_fields(obj: &mut Value) {
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        meta.remove("managedFields");
    }
}

/// Records a create, update or patch by `manager` (operation Update): the fields that changed
/// (on create, every field) become owned by it and are taken from every other manager; fields
/// that no longer exist leave every set. Updates never conflict. A manager that changed
/// nothing gets no entry and its existing entry keeps its time. Entries come back sorted.
#[allow(clippy::too_many_arguments)]
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    managed: Vec<ManagedEntry>,
    manager: &str,
    api_version: &str,
    shape: &TypeNode,
    now: &str,
    subresource: Option<&str>,
) -> Vec<ManagedEntry> {
    let old = old.map(without_managed_fields).unwrap_or_else(|| Cow::Owned(Value::Object(Map::new())));
    let new = without_managed_fields(new);
    let cmp = compare(&old, &new, shape, Markers::Recorded);
    let taken = strip_server_fields(&cmp.added.union(&cmp.modified));
    let mut entries: Vec<ManagedEntry> = managed
        .into_iter()
        .map(|mut e| {
            e.fields = e.fields.difference(&taken).difference(&cmp.removed);
            e
        })
        .collect();
    if !taken.is_empty() {
        let subresource = subresource.filter(|s| !s.is_empty());
        match entries.iter_mut().find(|e| e.is(manager, Operation::Update, api_version, subresource)) {
            Some(entry) => {
                entry.fields = entry.fields.union(&taken);
                entry.time = now.to_string();
            }
            None => entries.push(ManagedEntry {
                manager: manager.to_string(),
                operation: Operation::Update,
                api_version: api_version.to_string(),
                time: now.to_string(),
                fields: taken,
                subresource: subresource.map(str::to_string),
            }),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    cap_update_managers(&mut entries, MAX_UPDATE_MANAGERS);
    sort_entries(&mut entries);
    entries
}

/// How many Update entries kube-apiserver keeps before merging the oldest.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager the oldest updates are merged into, one entry per apiVersion.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// Merges the oldest Update entries into `ancient-changes` entries (one per apiVersion) until
/// at most `max` Update entries remain, as kube-apiserver does after every update.
pub fn cap_update_managers(entries: &mut Vec<ManagedEntry>, max: usize) {
    let mut updaters: Vec<usize> =
        (0..entries.len()).filter(|&i| entries.get(i).is_some_and(|e| e.operation == Operation::Update)).collect();
    if updaters.len() <= max {
        return;
    }
    let key = |i: &usize| entries.get(*i).map(|e| (seconds(&e.time), e.identifier()));
    updaters.sort_by_key(key);
    let mut slots: Vec<Option<ManagedEntry>> = std::mem::take(entries).into_iter().map(Some).collect();
    let mut first_of_version: std::collections::BTreeMap<String, usize> = Default::default();
    let mut remaining = updaters.len();
    for i in updaters {
        if remaining <= max {
            break;
        }
        let Some(Some(current)) = slots.get(i).cloned() else {
            continue;
        };
        let version = current.api_version.clone();
        let Some(&first) = first_of_version.get(&version) else {
            first_of_version.insert(version, i);
            continue;
        };
        let is_bucket = |e: &ManagedEntry| e.is(ANCIENT_CHANGES, Operation::Update, &version, None);
        let bucket = match slots.iter().position(|s| s.as_ref().is_some_and(is_bucket)) {
            Some(b) => b,
            None => {
                if let Some(Some(e)) = slots.get_mut(first) {
                    e.manager = ANCIENT_CHANGES.to_string();
                    e.subresource = None;
                }
                first
            }
        };
        if bucket == i {
            // The bucket itself is among the oldest: nothing to merge it into.
            continue;
        }
        if let Some(Some(b)) = slots.get_mut(bucket) {
            b.fields = current.fields.union(&b.fields);
            b.time = current.time.clone();
        }
        if let Some(slot) = slots.get_mut(i) {
            *slot = None;
        }
        remaining -= 1;
    }
    *entries = slots.into_iter().flatten().collect();
}

/// The manager name kube-apiserver uses when a request gives no `fieldManager`: the
/// User-Agent up to its first `/`, without unprintable characters, at most 128 bytes
/// (`kubectl/v1.30.0 (linux/amd64) kubernetes/7c48c2b` gives `kubectl`).
pub fn manager_from_user_agent(ua: &str) -> String {
    let prefix = ua.split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in prefix.chars() {
        let printable = c == ' ' || !(c.is_control() || c.is_whitespace() || is_format_char(c));
        if !printable {
            continue;
        }
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(c);
    }
    out
}

/// A few Unicode format characters Go's `unicode.IsPrint` rejects (zero-width and bidi marks).
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}
