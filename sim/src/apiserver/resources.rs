//! The resource registry: which group/version/resources the server serves, their kinds, scope,
//! short names, subresources, printer columns and how their objects are checked.
//!
//! Built-in resources come from [`builtin_resources`]; CRDs add and remove entries at run time.
//! The registry only describes; it holds no objects and must not do I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::schema::TypeNode;

/// A group and resource, the key objects are stored under (all versions share it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource { group: group.to_string(), resource: resource.to_string() }
    }
}

impl std::fmt::Display for GroupResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&super::error::qualified(&self.group, &self.resource))
    }
}

/// Where `.spec.replicas` and friends live for the scale subresource.
#[derive(Debug, Clone)]
pub struct ScaleSpec {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

/// One `additionalPrinterColumns` entry (or a built-in column).
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    /// JSONPath (CRDs) or the name of a built-in cell function.
    pub json_path: String,
}

/// How objects of a resource are decoded and checked.
#[derive(Clone)]
pub enum Codec {
    /// A built-in type: decoded through its k8s-openapi type (wrong types are rejected, unknown
    /// fields dropped), then checked by a hand-written validator.
    Builtin(&'static BuiltinCodec),
    /// A custom resource: checked against the CRD's structural schema of this version.
    Custom(Arc<CustomCodec>),
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Codec::Builtin(_) => f.write_str("Builtin"),
            Codec::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Decoding of a built-in type: returns the object as the typed struct serializes it.
pub struct BuiltinCodec {
    pub roundtrip: fn(&Value) -> Result<Value, DecodeError>,
    /// Adds the type's OpenAPI schema (and those it references) to the generator's definitions.
    pub schema: fn(&mut schemars::SchemaGenerator),
    /// The type's schema name as kube-apiserver spells it (`io.k8s.api.apps.v1.Deployment`).
    pub schema_name: fn() -> String,
}

/// Why a built-in object did not decode: where (`spec.template.spec.containers[0].image`)
/// and serde's words (`invalid type: integer `5`, expected a string`).
#[derive(Debug, Clone)]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

/// The per-version schema of a custom resource.
#[derive(Debug)]
pub struct CustomCodec {
    /// The `openAPIV3Schema`, when the version has one.
    pub schema: Option<Value>,
    /// Its parsed structural form (None when absent or not structural).
    pub structural: Option<Arc<super::schema::structural::Structural>>,
}

/// Where a resource's objects live when another resource stores them (events.k8s.io/v1 Events
/// are stored as core v1 Events, as kube-apiserver does): the group/resource of the store and
/// the conversions between the served shape and the stored one.
///
/// The verbs work on the served shape (decode, defaults, validation, admission, managedFields
/// and patches all see it); the store, lifecycle and watch matching see the stored shape. Field
/// selectors are converted to the stored resource's labels by the served resource's rules
/// (`selectors::convert_field_label`) and evaluated on stored objects, as kube-apiserver
/// evaluates them on the internal object. managedFields are stored verbatim, each entry in the
/// names of the apiVersion it was written through. Conversions are
/// total: they never fail and must round-trip (`to_storage(from_storage(x)) == x` for every
/// stored `x` the served shape can express), so a no-op write stays a no-op.
#[derive(Clone)]
pub struct StorageMapping {
    /// Where the objects are stored.
    pub gr: GroupResource,
    /// Served shape → stored shape (on create, update, patch and apply).
    pub to_storage: fn(&Value) -> Value,
    /// Stored shape → served shape (on every read, list item and watch event).
    pub from_storage: fn(&Value) -> Value,
}

impl std::fmt::Debug for StorageMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StorageMapping({})", self.gr)
    }
}

/// Everything the server knows about one group/version/resource.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status: bool,
    pub scale: Option<ScaleSpec>,
    /// `metadata.generation` is kept and bumped on spec changes.
    pub generation: bool,
    pub printer_columns: Vec<PrinterColumn>,
    /// Deprecation warning sent with every request to this version.
    pub deprecation_warning: Option<String>,
    /// True for the storage version of a CRD (built-ins have one version).
    pub storage: bool,
    pub codec: Codec,
    pub shape: Arc<TypeNode>,
    /// Verbs advertised in discovery.
    pub verbs: &'static [&'static str],
    /// Set when the objects are stored under another resource, in its shape.
    pub stored_as: Option<StorageMapping>,
}

pub const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The key objects are stored under: the resource itself, or the resource it is stored as.
    pub fn group_resource(&self) -> GroupResource {
        match &self.stored_as {
            Some(m) => m.gr.clone(),
            None => GroupResource::new(&self.group, &self.plural),
        }
    }

    /// An object in the served shape, converted for the store.
    pub fn to_storage(&self, served: Value) -> Value {
        match &self.stored_as {
            Some(m) => (m.to_storage)(&served),
            None => served,
        }
    }

    /// A stored object in the served shape (without setting `apiVersion`/`kind`; see
    /// `objects::present`).
    pub fn from_storage(&self, stored: &Value) -> Value {
        match &self.stored_as {
            Some(m) => (m.from_storage)(stored),
            None => stored.clone(),
        }
    }

    /// `deployments.apps`.
    pub fn qualified(&self) -> String {
        super::error::qualified(&self.group, &self.plural)
    }
}

/// The set of served resources. Cheap to read; written when CRDs change.
#[derive(Debug, Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default, Clone)]
struct Inner {
    /// (group, version, plural) → definition.
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceDef>>,
    /// Group order as discovery lists them (built-ins first, then CRD groups by name).
    group_order: Vec<String>,
    /// Version order per group (preferred first).
    versions: BTreeMap<String, Vec<String>>,
}

/// A copy of a registry's definitions (see [`Registry::image`]).
#[derive(Debug, Clone)]
pub struct RegistryImage(Inner);

impl Registry {
    /// The definitions served now.
    pub fn image(&self) -> RegistryImage {
        RegistryImage(self.read().clone())
    }

    /// A registry serving what `image` does.
    pub fn from_image(image: &RegistryImage) -> Self {
        Registry { inner: RwLock::new(image.0.clone()) }
    }

    pub fn with_builtins() -> Self {
        let reg = Registry::default();
        for def in super::builtin_resources::all() {
            reg.insert(def);
        }
        reg
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces one definition.
    pub fn insert(&self, def: ResourceDef) {
        let mut inner = self.write();
        if !inner.group_order.contains(&def.group) {
            inner.group_order.push(def.group.clone());
        }
        let versions = inner.versions.entry(def.group.clone()).or_default();
        if !versions.contains(&def.version) {
            versions.push(def.version.clone());
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        inner.by_gvr.insert((def.group.clone(), def.version.clone(), def.plural.clone()), Arc::new(def));
    }

    /// Replaces every definition of `group`/`plural` (all versions) with `defs`; with an empty
    /// `defs` the resource is no longer served.
    pub fn replace_resource(&self, group: &str, plural: &str, defs: Vec<ResourceDef>) {
        {
            let mut inner = self.write();
            inner.by_gvr.retain(|(g, _, p), _| !(g == group && p == plural));
            let still: Vec<String> =
                inner.by_gvr.keys().filter(|(g, _, _)| g == group).map(|(_, v, _)| v.clone()).collect();
            if let Some(versions) = inner.versions.get_mut(group) {
                versions.retain(|v| still.contains(v));
                if versions.is_empty() {
                    inner.versions.remove(group);
                    inner.group_order.retain(|g| g != group);
                }
            }
        }
        for def in defs {
            self.insert(def);
        }
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.read().by_gvr.get(&(group.to_string(), version.to_string(), plural.to_string())).cloned()
    }

    /// The definition for a kind in a group/version.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        self.read().by_gvr.values().find(|d| d.group == group && d.version == version && d.kind == kind).cloned()
    }

    /// Any served version of a group/resource (the storage version first).
    pub fn any_version(&self, group: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        let inner = self.read();
        let mut found: Vec<&Arc<ResourceDef>> =
            inner.by_gvr.values().filter(|d| d.group == group && d.plural == plural).collect();
        found.sort_by_key(|d| !d.storage);
        found.first().map(|d| (*d).clone())
    }

    /// Whether the group/version is served at all.
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.read().versions.get(group).is_some_and(|vs| vs.iter().any(|v| v == version))
    }

    /// Served resources of one group/version, sorted by plural.
    pub fn resources(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.read().by_gvr.values().filter(|d| d.group == group && d.version == version).cloned().collect()
    }

    /// Groups (excluding the core group) with their versions, preferred first, in discovery order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let inner = self.read();
        inner.group_order.iter().filter_map(|g| inner.versions.get(g).map(|vs| (g.clone(), vs.clone()))).collect()
    }

    /// Every served definition.
    pub fn all(&self) -> Vec<Arc<ResourceDef>> {
        self.read().by_gvr.values().cloned().collect()
    }
}

/// Orders versions as Kubernetes does: GA > beta > alpha, higher numbers first; others last
/// (alphabetically).
pub fn version_priority(v: &str) -> (u8, u32, u32, std::cmp::Reverse<String>) {
    let parse = |s: &str| -> Option<(u32, u8, u32)> {
        let rest = s.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let major: u32 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((major, 3, 0));
        }
        let (stage, num) = if let Some(n) = tail.strip_prefix("beta") {
            (2, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (1, n)
        } else {
            return None;
        };
        Some((major, stage, num.parse().ok()?))
    };
    match parse(v) {
        Some((major, stage, minor)) => (stage, major, minor, std::cmp::Reverse(String::new())),
        None => (0, 0, 0, std::cmp::Reverse(v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut vs = vec!["v1alpha1", "v1", "v2beta1", "v1beta2", "foo", "v2"];
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(vs, vec!["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }

    #[test]
    fn builtins_are_served() {
        let reg = Registry::with_builtins();
        let d = reg.get("apps", "v1", "deployments").expect("deployments served");
        assert_eq!(d.kind, "Deployment");
        assert!(d.namespaced && d.status && d.scale.is_some());
        assert!(reg.get("", "v1", "namespaces").is_some_and(|n| !n.namespaced));
        assert!(reg.groups().iter().any(|(g, _)| g == "apiextensions.k8s.io"));
    }
}
