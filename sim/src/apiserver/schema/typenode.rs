//! `TypeNode`: the shape of an object as far as merging cares.
//!
//! Built-in kinds get their tree from a hand-kept table of merge keys (what kube-apiserver's Go
//! struct tags say); CRDs get theirs from the structural schema (`x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`). Strategic merge patch and server-side
//! apply both walk this tree. It must not hold values, only shape.
//!
//! Strategic merge patch and server-side apply mostly agree on list semantics (a list-map's first
//! key is the `patchMergeKey`), but not always: `Job.status.conditions` is merged by `type` in a
//! strategic merge patch yet atomic for server-side apply, `resources.claims` is the reverse, and
//! `PodDisruptionBudget.spec.selector` is replaced as a whole by a strategic merge patch. Such
//! nodes are wrapped in [`TypeNode::SmpOverride`]; the accessors (`field`, `items`, `list_type`,
//! `is_atomic_map`) look through the wrapper, and code that matches on variants should match on
//! [`TypeNode::resolved`].

use std::collections::BTreeMap;
use std::sync::Arc;

/// How the elements of a list are identified when merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole (the default for lists without metadata).
    Atomic,
    /// A set of scalars: merged by value.
    Set,
    /// A list of objects identified by these keys (strategic merge uses the first key as the
    /// `patchMergeKey`; server-side apply uses all of them).
    Map(Vec<String>),
}

/// How a strategic merge patch treats a value, when that differs from what its server-side-apply
/// shape implies (see [`TypeNode::smp_strategy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmpStrategy {
    /// No `patchStrategy` on a list (the patch's list replaces the live one), or
    /// `patchStrategy:"replace"` on a map (the patch's map replaces the live one).
    Replace,
    /// `patchStrategy:"merge"` without a key: maps merge key by key, lists of scalars are unioned.
    Merge,
    /// `patchStrategy:"merge"` with this `patchMergeKey`: list items are merged by it.
    MergeKey(String),
}

/// The shape of one value.
#[derive(Debug, Clone, Default)]
pub enum TypeNode {
    /// Nothing known: maps are merged key by key, lists are atomic.
    #[default]
    Unknown,
    /// A scalar (string, number, bool).
    Scalar,
    /// An object with known fields and, optionally, a shape for other keys (a map).
    Object {
        fields: BTreeMap<String, Arc<TypeNode>>,
        /// Shape of values under keys not in `fields` (e.g. labels: a map of scalars).
        additional: Option<Arc<TypeNode>>,
        /// `x-kubernetes-map-type: atomic`: replaced as a whole.
        atomic: bool,
    },
    /// A list.
    List { items: Arc<TypeNode>, list_type: ListType },
    /// `inner`, whose strategic-merge-patch semantics are `strategy` rather than what `inner`'s
    /// server-side-apply shape implies. Server-side apply sees only `inner` (via the accessors or
    /// [`TypeNode::resolved`]).
    SmpOverride { inner: Arc<TypeNode>, strategy: SmpStrategy },
}

impl TypeNode {
    /// This node without any [`TypeNode::SmpOverride`] wrapper: what server-side apply and
    /// schema code should match on.
    pub fn resolved(&self) -> &TypeNode {
        let mut node = self;
        while let TypeNode::SmpOverride { inner, .. } = node {
            node = inner;
        }
        node
    }

    /// How a strategic merge patch merges this value: the override if there is one, otherwise
    /// derived from the shape (a list-map merges by its first key, a set merges scalars, other
    /// lists are replaced, objects and unknown values merge key by key).
    pub fn smp_strategy(&self) -> SmpStrategy {
        match self {
            TypeNode::SmpOverride { strategy, .. } => strategy.clone(),
            TypeNode::List { list_type, .. } => match list_type {
                ListType::Map(keys) => match keys.first() {
                    Some(k) => SmpStrategy::MergeKey(k.clone()),
                    None => SmpStrategy::Replace,
                },
                ListType::Set => SmpStrategy::Merge,
                ListType::Atomic => SmpStrategy::Replace,
            },
            _ => SmpStrategy::Merge,
        }
    }

    /// Wraps this node so that strategic merge patch uses `strategy` for it while server-side
    /// apply keeps seeing this node's own shape.
    pub fn with_smp(self, strategy: SmpStrategy) -> TypeNode {
        TypeNode::SmpOverride { inner: Arc::new(self), strategy }
    }

    /// The shape of field `name` of this object (Unknown when not known).
    pub fn field(&self, name: &str) -> &TypeNode {
        match self.resolved() {
            TypeNode::Object { fields, additional, .. } => {
                fields.get(name).map(|t| t.as_ref()).or(additional.as_deref()).unwrap_or(&TypeNode::Unknown)
            }
            _ => &TypeNode::Unknown,
        }
    }

    /// The shape of list items (Unknown when this is not a list).
    pub fn items(&self) -> &TypeNode {
        match self.resolved() {
            TypeNode::List { items, .. } => items,
            _ => &TypeNode::Unknown,
        }
    }

    /// The list semantics (Atomic when this is not a known list).
    pub fn list_type(&self) -> &ListType {
        match self.resolved() {
            TypeNode::List { list_type, .. } => list_type,
            _ => &ListType::Atomic,
        }
    }

    /// True for `x-kubernetes-map-type: atomic` objects.
    pub fn is_atomic_map(&self) -> bool {
        matches!(self.resolved(), TypeNode::Object { atomic: true, .. })
    }

    /// An object node with the given fields and no additional-properties shape.
    pub fn object(fields: impl IntoIterator<Item = (&'static str, TypeNode)>) -> TypeNode {
        TypeNode::Object {
            fields: fields.into_iter().map(|(k, v)| (k.to_string(), Arc::new(v))).collect(),
            additional: None,
            atomic: false,
        }
    }

    /// A map whose values all have shape `values`.
    pub fn map_of(values: TypeNode) -> TypeNode {
        TypeNode::Object { fields: BTreeMap::new(), additional: Some(Arc::new(values)), atomic: false }
    }

    /// A list of objects merged by `keys`.
    pub fn list_map(keys: &[&str], items: TypeNode) -> TypeNode {
        TypeNode::List {
            items: Arc::new(items),
            list_type: ListType::Map(keys.iter().map(|k| k.to_string()).collect()),
        }
    }

    /// A set of scalars.
    pub fn set() -> TypeNode {
        TypeNode::List { items: Arc::new(TypeNode::Scalar), list_type: ListType::Set }
    }

    /// An atomic list.
    pub fn atomic_list(items: TypeNode) -> TypeNode {
        TypeNode::List { items: Arc::new(items), list_type: ListType::Atomic }
    }
}
