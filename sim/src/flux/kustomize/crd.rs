//! The `kustomizations.kustomize.toolkit.fluxcd.io` CRD, written from the documented API of
//! kustomize-controller (`api/v1/kustomization_types.go`): field names, enums, patterns and
//! printer columns; and the typed view of a Kustomization's spec the controller works with.
//!
//! This module only describes the resource; it must not reconcile anything. Served versions
//! follow the Flux version: `v1` always, `v1beta2` (deprecated, same schema here) up to 2.7.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::crds::{
    array, boolean, conditions, crd, enum_of, integer, object, open_object, pattern, resource, string, string_map,
    strings, Version,
};
use crate::flux::FluxVersion;

pub const GROUP: &str = "kustomize.toolkit.fluxcd.io";
pub const PLURAL: &str = "kustomizations";
pub const KIND: &str = "Kustomization";
/// The warning every request to `v1beta2` got (kubebuilder `deprecatedversion` marker of
/// `api/v1beta2/kustomization_types.go` before its removal in Flux 2.8).
pub const V1BETA2_WARNING: &str = "v1beta2 Kustomization is deprecated, upgrade to v1";
/// `metav1.Duration` as the CRD constrains it.
const DURATION: &str = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$";

fn bounded(min: u32, max: u32) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max})
}

fn selector() -> Value {
    object(
        &[
            ("group", string()),
            ("version", string()),
            ("kind", string()),
            ("name", string()),
            ("namespace", string()),
            ("labelSelector", string()),
            ("annotationSelector", string()),
        ],
        &[],
    )
}

fn spec_schema() -> Value {
    let dependency = object(&[("name", string()), ("namespace", string()), ("readyExpr", string())], &["name"]);
    let source_ref = object(
        &[
            ("apiVersion", string()),
            ("kind", enum_of(&["OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"])),
            ("name", string()),
            ("namespace", string()),
        ],
        &["kind", "name"],
    );
    let substitute_ref = object(
        &[("kind", enum_of(&["Secret", "ConfigMap"])), ("name", bounded(1, 253)), ("optional", boolean())],
        &["kind", "name"],
    );
    let post_build = object(
        &[
            ("substituteStrategy", enum_of(&["WithVariables", "Always"])),
            ("substitute", string_map()),
            ("substituteFrom", array(substitute_ref)),
        ],
        &[],
    );
    let patch = object(&[("patch", string()), ("target", selector())], &["patch"]);
    let image =
        object(&[("name", string()), ("newName", string()), ("newTag", string()), ("digest", string())], &["name"]);
    let health_check = object(
        &[("apiVersion", string()), ("kind", string()), ("name", string()), ("namespace", string())],
        &["kind", "name"],
    );
    let health_expr = object(
        &[
            ("apiVersion", string()),
            ("kind", string()),
            ("current", string()),
            ("inProgress", string()),
            ("failed", string()),
        ],
        &["apiVersion", "kind", "current"],
    );
    let secret_ref = object(&[("name", string()), ("key", string())], &["name"]);
    let kube_config =
        object(&[("secretRef", secret_ref.clone()), ("configMapRef", object(&[("name", string())], &["name"]))], &[]);
    let decryption = object(
        &[
            ("provider", enum_of(&["sops"])),
            ("serviceAccountName", string()),
            ("secretRef", object(&[("name", string())], &["name"])),
        ],
        &["provider"],
    );
    let ignore = object(&[("paths", strings()), ("target", selector())], &["paths"]);
    object(
        &[
            ("commonMetadata", object(&[("annotations", string_map()), ("labels", string_map())], &[])),
            ("dependsOn", array(dependency)),
            ("decryption", decryption),
            ("interval", pattern(DURATION)),
            ("retryInterval", pattern(DURATION)),
            ("kubeConfig", kube_config),
            ("path", string()),
            ("postBuild", post_build),
            ("prune", boolean()),
            ("deletionPolicy", enum_of(&["MirrorPrune", "Delete", "WaitForTermination", "Orphan"])),
            ("healthChecks", array(health_check)),
            ("namePrefix", bounded(1, 200)),
            ("nameSuffix", bounded(1, 200)),
            ("patches", array(patch)),
            ("images", array(image)),
            ("serviceAccountName", string()),
            ("sourceRef", source_ref),
            ("suspend", boolean()),
            ("targetNamespace", bounded(1, 63)),
            ("timeout", pattern(DURATION)),
            ("force", json!({"type": "boolean", "default": false})),
            ("wait", boolean()),
            ("buildMetadata", array(enum_of(&["originAnnotations", "transformerAnnotations"]))),
            ("components", strings()),
            ("ignoreMissingComponents", boolean()),
            ("healthCheckExprs", array(health_expr)),
            ("ignore", array(ignore)),
        ],
        &["interval", "prune", "sourceRef"],
    )
}

fn status_schema() -> Value {
    let entry = object(&[("id", string()), ("v", string())], &["id", "v"]);
    let history = array(open_object());
    object(
        &[
            ("lastHandledReconcileAt", string()),
            ("observedGeneration", integer()),
            ("conditions", conditions()),
            ("lastAppliedRevision", string()),
            ("lastAppliedOriginRevision", string()),
            ("lastAttemptedRevision", string()),
            ("inventory", object(&[("entries", array(entry))], &["entries"])),
            ("history", history),
        ],
        &[],
    )
}

/// The Kustomization CRD as the Flux version serves it.
pub fn kustomization_crd(version: FluxVersion) -> Value {
    let columns = |v: Version<'static>| {
        v.column("Age", "date", ".metadata.creationTimestamp")
            .column("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")
            .column("Status", "string", ".status.conditions[?(@.type==\"Ready\")].message")
    };
    let mut versions = vec![columns(Version::storage("v1"))];
    if version.serves_v1beta2() {
        versions.push(columns(Version::served("v1beta2").deprecated(V1BETA2_WARNING)));
    }
    let mut status = status_schema();
    status["default"] = json!({"observedGeneration": -1});
    let mut out = crd(GROUP, KIND, PLURAL, "Namespaced", &["ks"], &versions, &resource(spec_schema(), status));
    out["spec"]["names"]["categories"] = json!(["all", "fluxcd", "fluxcd-appliers"]);
    out["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/substitute": "disabled"});
    out
}

/// `spec.sourceRef`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

/// `spec.dependsOn[]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

/// `spec.postBuild.substituteFrom[]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SubstituteRef {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub optional: bool,
}

/// `spec.postBuild`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    #[serde(default)]
    pub substitute_strategy: String,
    #[serde(default)]
    pub substitute: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub substitute_from: Vec<SubstituteRef>,
}

/// `spec.healthChecks[]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckRef {
    #[serde(default)]
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

/// `spec.commonMetadata`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
pub struct CommonMetadata {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The spec fields the controller reads. Build inputs (`patches`, `images`, ...) stay JSON:
/// they go into the kustomization file as they are.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub interval: String,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub prune: bool,
    #[serde(default)]
    pub deletion_policy: String,
    #[serde(default)]
    pub source_ref: SourceRef,
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
    #[serde(default)]
    pub post_build: Option<PostBuild>,
    #[serde(default)]
    pub health_checks: Vec<HealthCheckRef>,
    #[serde(default)]
    pub common_metadata: Option<CommonMetadata>,
    #[serde(default)]
    pub suspend: bool,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub wait: bool,
    #[serde(default)]
    pub target_namespace: Option<String>,
    #[serde(default)]
    pub name_prefix: Option<String>,
    #[serde(default)]
    pub name_suffix: Option<String>,
    #[serde(default)]
    pub patches: Vec<Value>,
    #[serde(default)]
    pub images: Vec<Value>,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub ignore_missing_components: bool,
    #[serde(default)]
    pub build_metadata: Vec<String>,
}

impl Spec {
    /// `GetTimeout`: `spec.timeout`, else the interval minus 30 s; never under 30 s.
    pub fn timeout(&self) -> std::time::Duration {
        let thirty = std::time::Duration::from_secs(30);
        let d = match self.timeout.as_deref().and_then(parse_duration) {
            Some(t) => t,
            None => parse_duration(&self.interval).unwrap_or_default().saturating_sub(thirty),
        };
        d.max(thirty)
    }
}

/// Parses a Go duration (`1m30s`, `1.5h`, `500ms`).
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(std::time::Duration::from_secs_f64(total))
}

/// Formats a duration as Go's `time.Duration.String` does (`5m0s`, `1h0m0s`, `30s`, `1.5s`).
pub fn go_duration(d: std::time::Duration) -> String {
    let total_ns = d.as_nanos();
    if total_ns == 0 {
        return "0s".into();
    }
    if total_ns < 1_000_000_000 {
        let (v, unit) = if total_ns < 1_000 {
            return format!("{total_ns}ns");
        } else if total_ns < 1_000_000 {
            (total_ns as f64 / 1e3, "µs")
        } else {
            (total_ns as f64 / 1e6, "ms")
        };
        return format!("{}{unit}", trim_float(v));
    }
    let secs_total = total_ns / 1_000_000_000;
    let frac = total_ns % 1_000_000_000;
    let h = secs_total / 3600;
    let m = (secs_total % 3600) / 60;
    let s = secs_total % 60;
    let secs = if frac == 0 {
        format!("{s}")
    } else {
        let f = format!("{frac:09}");
        format!("{s}.{}", f.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
