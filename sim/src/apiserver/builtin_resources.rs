//! The built-in resources the simulator serves, as kube-apiserver 1.37 lists them in discovery:
//! kinds, scope, short names, categories, subresources and the k8s-openapi type that decodes
//! them.
//!
//! Only data lives here; behaviour (defaulting, validation) is in `builtin_validation`.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use super::conversion;
use super::resources::{
    BuiltinCodec, Codec, DecodeError, GroupResource, PrinterColumn, ResourceDef, ScaleSpec, StorageMapping, ALL_VERBS,
};
use k8s_openapi::api as k;

/// Decodes `v` as the typed struct `K` and encodes it back: wrong types fail with the field
/// path; unknown fields disappear.
fn roundtrip<K: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, DecodeError> {
    let typed: K = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        DecodeError { path: if path == "." { String::new() } else { path }, message: e.into_inner().to_string() }
    })?;
    serde_json::to_value(&typed).map_err(|e| DecodeError { path: String::new(), message: e.to_string() })
}

/// Registers the schema of `K` (and of every type it references) with the generator.
fn schema_of<K: schemars::JsonSchema>(generator: &mut schemars::SchemaGenerator) {
    generator.subschema_for::<K>();
}

fn schema_name_of<K: schemars::JsonSchema>() -> String {
    K::schema_name().into_owned()
}

macro_rules! codec {
    ($t:ty) => {{
        static C: BuiltinCodec =
            BuiltinCodec { roundtrip: roundtrip::<$t>, schema: schema_of::<$t>, schema_name: schema_name_of::<$t> };
        &C
    }};
}

struct B {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
    codec: &'static BuiltinCodec,
    verbs: &'static [&'static str],
    stored_as: Option<StorageMapping>,
}

const CREATE_ONLY: &[&str] = &["create"];

/// Every built-in resource definition.
pub fn all() -> Vec<ResourceDef> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
    let t = |group, version, kind, plural, namespaced, codec| B {
        group,
        version,
        kind,
        plural,
        namespaced,
        short: &[],
        categories: &[],
        status: false,
        scale: false,
        generation: false,
        codec,
        verbs: ALL_VERBS,
        stored_as: None,
    };
    let all = &["all"][..];
    let table = vec![
        B {
            short: &["ns"],
            status: true,
            ..t("", "v1", "Namespace", "namespaces", false, codec!(k::core::v1::Namespace))
        },
        B {
            short: &["po"],
            categories: all,
            status: true,
            generation: true,
            ..t("", "v1", "Pod", "pods", true, codec!(k::core::v1::Pod))
        },
        B {
            short: &["svc"],
            categories: all,
            status: true,
            ..t("", "v1", "Service", "services", true, codec!(k::core::v1::Service))
        },
        B {
            short: &["sa"],
            ..t("", "v1", "ServiceAccount", "serviceaccounts", true, codec!(k::core::v1::ServiceAccount))
        },
        B { short: &["cm"], ..t("", "v1", "ConfigMap", "configmaps", true, codec!(k::core::v1::ConfigMap)) },
        t("", "v1", "Secret", "secrets", true, codec!(k::core::v1::Secret)),
        B { short: &["ev"], ..t("", "v1", "Event", "events", true, codec!(k::core::v1::Event)) },
        B { short: &["no"], status: true, ..t("", "v1", "Node", "nodes", false, codec!(k::core::v1::Node)) },
        B { short: &["ep"], ..t("", "v1", "Endpoints", "endpoints", true, codec!(k::core::v1::Endpoints)) },
        B {
            short: &["pvc"],
            status: true,
            ..t(
                "",
                "v1",
                "PersistentVolumeClaim",
                "persistentvolumeclaims",
                true,
                codec!(k::core::v1::PersistentVolumeClaim),
            )
        },
        B {
            short: &["quota"],
            status: true,
            ..t("", "v1", "ResourceQuota", "resourcequotas", true, codec!(k::core::v1::ResourceQuota))
        },
        B { short: &["limits"], ..t("", "v1", "LimitRange", "limitranges", true, codec!(k::core::v1::LimitRange)) },
        B {
            short: &["deploy"],
            categories: all,
            status: true,
            scale: true,
            generation: true,
            ..t("apps", "v1", "Deployment", "deployments", true, codec!(k::apps::v1::Deployment))
        },
        B {
            short: &["rs"],
            categories: all,
            status: true,
            scale: true,
            generation: true,
            ..t("apps", "v1", "ReplicaSet", "replicasets", true, codec!(k::apps::v1::ReplicaSet))
        },
        B {
            short: &["sts"],
            categories: all,
            status: true,
            scale: true,
            generation: true,
            ..t("apps", "v1", "StatefulSet", "statefulsets", true, codec!(k::apps::v1::StatefulSet))
        },
        B {
            short: &["ds"],
            categories: all,
            status: true,
            generation: true,
            ..t("apps", "v1", "DaemonSet", "daemonsets", true, codec!(k::apps::v1::DaemonSet))
        },
        B {
            generation: true,
            ..t(
                "apps",
                "v1",
                "ControllerRevision",
                "controllerrevisions",
                true,
                codec!(k::apps::v1::ControllerRevision),
            )
        },
        B {
            categories: all,
            status: true,
            generation: true,
            ..t("batch", "v1", "Job", "jobs", true, codec!(k::batch::v1::Job))
        },
        B {
            short: &["cj"],
            categories: all,
            status: true,
            generation: true,
            ..t("batch", "v1", "CronJob", "cronjobs", true, codec!(k::batch::v1::CronJob))
        },
        t("coordination.k8s.io", "v1", "Lease", "leases", true, codec!(k::coordination::v1::Lease)),
        t("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, codec!(k::discovery::v1::EndpointSlice)),
        B {
            short: &["ev"],
            // One resource seen through two APIs: stored as core v1 Events.
            stored_as: Some(StorageMapping {
                gr: GroupResource::new("", "events"),
                to_storage: conversion::events_v1_to_core,
                from_storage: conversion::core_to_events_v1,
            }),
            ..t("events.k8s.io", "v1", "Event", "events", true, codec!(k::events::v1::Event))
        },
        t("rbac.authorization.k8s.io", "v1", "Role", "roles", true, codec!(k::rbac::v1::Role)),
        t("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, codec!(k::rbac::v1::RoleBinding)),
        t("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, codec!(k::rbac::v1::ClusterRole)),
        t(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            codec!(k::rbac::v1::ClusterRoleBinding),
        ),
        B {
            generation: true,
            ..t(
                "admissionregistration.k8s.io",
                "v1",
                "ValidatingWebhookConfiguration",
                "validatingwebhookconfigurations",
                false,
                codec!(k::admissionregistration::v1::ValidatingWebhookConfiguration),
            )
        },
        B {
            generation: true,
            ..t(
                "admissionregistration.k8s.io",
                "v1",
                "MutatingWebhookConfiguration",
                "mutatingwebhookconfigurations",
                false,
                codec!(k::admissionregistration::v1::MutatingWebhookConfiguration),
            )
        },
        B {
            short: &["crd", "crds"],
            categories: &["api-extensions"],
            status: true,
            generation: true,
            ..t(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                false,
                codec!(apiext::CustomResourceDefinition),
            )
        },
        B {
            short: &["netpol"],
            generation: true,
            ..t(
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                "networkpolicies",
                true,
                codec!(k::networking::v1::NetworkPolicy),
            )
        },
        B {
            short: &["ing"],
            status: true,
            generation: true,
            ..t("networking.k8s.io", "v1", "Ingress", "ingresses", true, codec!(k::networking::v1::Ingress))
        },
        B {
            short: &["pdb"],
            status: true,
            generation: true,
            ..t(
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
                true,
                codec!(k::policy::v1::PodDisruptionBudget),
            )
        },
        B {
            short: &["sc"],
            ..t("storage.k8s.io", "v1", "StorageClass", "storageclasses", false, codec!(k::storage::v1::StorageClass))
        },
        B {
            verbs: CREATE_ONLY,
            ..t(
                "authorization.k8s.io",
                "v1",
                "SelfSubjectAccessReview",
                "selfsubjectaccessreviews",
                false,
                codec!(k::authorization::v1::SelfSubjectAccessReview),
            )
        },
    ];
    table.into_iter().map(to_def).collect()
}

fn to_def(b: B) -> ResourceDef {
    let scale = b.scale.then(|| ScaleSpec {
        spec_replicas_path: ".spec.replicas".into(),
        status_replicas_path: ".status.replicas".into(),
        label_selector_path: Some(".status.selector".into()),
    });
    ResourceDef {
        group: b.group.into(),
        version: b.version.into(),
        kind: b.kind.into(),
        list_kind: format!("{}List", b.kind),
        plural: b.plural.into(),
        singular: b.kind.to_lowercase(),
        namespaced: b.namespaced,
        short_names: b.short.iter().map(|s| s.to_string()).collect(),
        categories: b.categories.iter().map(|s| s.to_string()).collect(),
        status: b.status,
        scale,
        generation: b.generation,
        printer_columns: builtin_columns(b.kind),
        deprecation_warning: None,
        storage: true,
        codec: Codec::Builtin(b.codec),
        shape: super::schema::builtin_type(b.group, b.kind),
        verbs: b.verbs,
        stored_as: b.stored_as,
    }
}

/// Columns `kubectl get` shows for built-in kinds (server-side printing). `json_path` names a
/// cell function in `table.rs` when it starts with `builtin:`.
fn builtin_columns(kind: &str) -> Vec<PrinterColumn> {
    let col = |name: &str, type_: &str, path: &str, priority: i64| PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: String::new(),
        priority,
        json_path: path.into(),
    };
    let age = col("Age", "string", "builtin:age", 0);
    let mut cols = match kind {
        "Namespace" => vec![col("Status", "string", ".status.phase", 0)],
        "Pod" => vec![
            col("Ready", "string", "builtin:pod-ready", 0),
            col("Status", "string", "builtin:pod-status", 0),
            col("Restarts", "string", "builtin:pod-restarts", 0),
        ],
        "Deployment" => vec![
            col("Ready", "string", "builtin:ready-of-replicas", 0),
            col("Up-to-date", "integer", "builtin:updated", 0),
            col("Available", "integer", "builtin:available", 0),
        ],
        "ReplicaSet" => vec![
            col("Desired", "integer", ".spec.replicas", 0),
            col("Current", "integer", "builtin:status-replicas", 0),
            col("Ready", "integer", "builtin:ready", 0),
        ],
        "StatefulSet" => vec![col("Ready", "string", "builtin:ready-of-replicas", 0)],
        "DaemonSet" => vec![
            col("Desired", "integer", ".status.desiredNumberScheduled", 0),
            col("Current", "integer", ".status.currentNumberScheduled", 0),
            col("Ready", "integer", ".status.numberReady", 0),
            col("Up-to-date", "integer", ".status.updatedNumberScheduled", 0),
            col("Available", "integer", ".status.numberAvailable", 0),
        ],
        "Job" => vec![
            col("Status", "string", "builtin:job-status", 0),
            col("Completions", "string", "builtin:job-completions", 0),
        ],
        "CronJob" => vec![
            col("Schedule", "string", ".spec.schedule", 0),
            col("Suspend", "boolean", ".spec.suspend", 0),
            col("Active", "integer", "builtin:cronjob-active", 0),
            col("Last Schedule", "string", ".status.lastScheduleTime", 0),
        ],
        "Service" => vec![
            col("Type", "string", ".spec.type", 0),
            col("Cluster-IP", "string", ".spec.clusterIP", 0),
            col("External-IP", "string", "builtin:external-ip", 0),
            col("Port(s)", "string", "builtin:service-ports", 0),
        ],
        "ConfigMap" => vec![col("Data", "integer", "builtin:data-count", 0)],
        "Secret" => vec![col("Type", "string", ".type", 0), col("Data", "integer", "builtin:data-count", 0)],
        "ServiceAccount" => vec![col("Secrets", "integer", "builtin:secrets-count", 0)],
        "Node" => {
            vec![col("Status", "string", "builtin:node-status", 0), col("Roles", "string", "builtin:node-roles", 0)]
        }
        "Event" => {
            return vec![
                col("Last Seen", "string", "builtin:event-last-seen", 0),
                col("Type", "string", ".type", 0),
                col("Reason", "string", ".reason", 0),
                col("Object", "string", "builtin:event-object", 0),
                col("Message", "string", "builtin:event-message", 0),
            ]
        }
        "Lease" => vec![col("Holder", "string", ".spec.holderIdentity", 0)],
        "CustomResourceDefinition" => vec![col("Created At", "date", ".metadata.creationTimestamp", 0)],
        _ => vec![],
    };
    if kind != "CustomResourceDefinition" {
        cols.push(age);
    } else {
        return cols;
    }
    cols
}
