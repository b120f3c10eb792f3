//! The CRDs of `source.toolkit.fluxcd.io`: GitRepository, HelmRepository, OCIRepository,
//! Bucket and HelmChart, written from the documented API fields of source-controller v1.8
//! (`api/v1/*_types.go`: field names, required fields, enums, validation patterns, printer
//! columns and short names).
//!
//! `v1` is the storage version. Flux 2.7 and earlier also serve `v1beta2`, deprecated with the
//! warning of its `+kubebuilder:deprecatedversion` marker (`v1beta2 GitRepository is
//! deprecated, upgrade to v1`, source-controller v1.7 `api/v1beta2/gitrepository_types.go`);
//! Flux 2.8 (source-controller v1.8) removed `v1beta2`. This module only describes the
//! schemas; it must not reconcile anything.

use serde_json::{json, Value};

use crate::crds::{
    array, boolean, conditions, crd, enum_of, object, open_object, pattern, resource, string, string_map, strings,
    Version,
};
use crate::flux::FluxVersion;

pub const GROUP: &str = "source.toolkit.fluxcd.io";

/// `metav1.Duration` fields with the `interval` pattern (`ms`, `s`, `m`, `h`).
pub(crate) fn interval() -> Value {
    pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
}

/// `timeout` fields (no hours).
pub(crate) fn timeout() -> Value {
    pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$")
}

/// `meta.LocalObjectReference`.
pub(crate) fn local_ref() -> Value {
    object(&[("name", string())], &["name"])
}

/// `meta.Artifact` (fluxcd/pkg `apis/meta`).
fn artifact() -> Value {
    object(
        &[
            ("path", string()),
            ("url", string()),
            ("revision", string()),
            ("digest", pattern("^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")),
            ("lastUpdateTime", json!({"type": "string", "format": "date-time"})),
            ("size", json!({"type": "integer", "format": "int64"})),
            ("metadata", string_map()),
        ],
        &["lastUpdateTime", "path", "revision", "url"],
    )
}

/// Fields every source status has.
fn status(extra: &[(&str, Value)]) -> Value {
    let mut props: Vec<(&str, Value)> = vec![
        ("observedGeneration", json!({"type": "integer", "format": "int64"})),
        ("conditions", conditions()),
        ("artifact", artifact()),
        ("lastHandledReconcileAt", string()),
    ];
    props.extend(extra.iter().cloned());
    object(&props, &[])
}

fn ready_columns<'a>(v: Version<'a>, first: &[(&str, &str)], age_last: bool) -> Version<'a> {
    let mut v = v;
    for (name, path) in first {
        v = v.column(name, "string", path);
    }
    if !age_last {
        v = v.column("Age", "date", ".metadata.creationTimestamp");
    }
    v = v.column("Ready", "string", r#".status.conditions[?(@.type=="Ready")].status"#).column(
        "Status",
        "string",
        r#".status.conditions[?(@.type=="Ready")].message"#,
    );
    if age_last {
        v = v.column("Age", "date", ".metadata.creationTimestamp");
    }
    v
}

/// The served versions of one kind: `v1`, plus deprecated `v1beta2` when the version serves it.
fn versions<'a>(flux: FluxVersion, warning: &'a str, first: &[(&str, &str)], age_last: bool) -> Vec<Version<'a>> {
    let mut out = vec![ready_columns(Version::storage("v1"), first, age_last)];
    if flux.serves_v1beta2() {
        out.push(ready_columns(Version::served("v1beta2").deprecated(warning), first, age_last));
    }
    out
}

fn git_repository(flux: FluxVersion) -> Value {
    let include = object(&[("repository", local_ref()), ("fromPath", string()), ("toPath", string())], &["repository"]);
    let spec = object(
        &[
            ("url", pattern("^(http|https|ssh)://.*$")),
            ("secretRef", local_ref()),
            ("provider", enum_of(&["generic", "azure", "github"])),
            ("serviceAccountName", string()),
            ("interval", interval()),
            ("timeout", fetch_timeout()),
            (
                "ref",
                object(
                    &[
                        ("branch", string()),
                        ("tag", string()),
                        ("semver", string()),
                        ("name", string()),
                        ("commit", string()),
                    ],
                    &[],
                ),
            ),
            (
                "verify",
                object(
                    &[
                        (
                            "mode",
                            json!({"type": "string", "enum": ["head", "HEAD", "Tag", "TagAndHEAD"], "default": "HEAD"}),
                        ),
                        ("secretRef", local_ref()),
                    ],
                    &["secretRef"],
                ),
            ),
            ("proxySecretRef", local_ref()),
            ("ignore", string()),
            ("suspend", boolean()),
            ("recurseSubmodules", boolean()),
            ("include", array(include.clone())),
            ("sparseCheckout", strings()),
        ],
        &["interval", "url"],
    );
    let status = status(&[
        ("includedArtifacts", array(artifact())),
        ("observedIgnore", string()),
        ("observedRecurseSubmodules", boolean()),
        ("observedInclude", array(include)),
        ("observedSparseCheckout", strings()),
        ("sourceVerificationMode", string()),
    ]);
    crd(
        GROUP,
        "GitRepository",
        "gitrepositories",
        "Namespaced",
        &["gitrepo"],
        &versions(flux, "v1beta2 GitRepository is deprecated, upgrade to v1", &[("URL", ".spec.url")], false),
        &resource(spec, status),
    )
}

fn helm_repository(flux: FluxVersion) -> Value {
    let spec = object(
        &[
            ("url", pattern("^(http|https|oci)://.*$")),
            ("secretRef", local_ref()),
            ("certSecretRef", local_ref()),
            ("passCredentials", boolean()),
            ("interval", interval()),
            ("insecure", boolean()),
            ("timeout", timeout()),
            ("suspend", boolean()),
            ("accessFrom", open_object()),
            ("type", enum_of(&["default", "oci"])),
            ("provider", json!({"type": "string", "enum": ["generic", "aws", "azure", "gcp"], "default": "generic"})),
        ],
        &["url"],
    );
    crd(
        GROUP,
        "HelmRepository",
        "helmrepositories",
        "Namespaced",
        &["helmrepo"],
        &versions(flux, "v1beta2 HelmRepository is deprecated, upgrade to v1", &[("URL", ".spec.url")], false),
        &resource(spec, status(&[("url", string())])),
    )
}

fn oci_repository(flux: FluxVersion) -> Value {
    let verify = object(
        &[
            ("provider", json!({"type": "string", "enum": ["cosign", "notation"], "default": "cosign"})),
            ("secretRef", local_ref()),
            ("matchOIDCIdentity", array(open_object())),
        ],
        &["provider"],
    );
    let layer = object(&[("mediaType", string()), ("operation", enum_of(&["extract", "copy"]))], &[]);
    let spec = object(
        &[
            ("url", pattern("^oci://.*$")),
            (
                "ref",
                object(
                    &[("digest", string()), ("semver", string()), ("semverFilter", string()), ("tag", string())],
                    &[],
                ),
            ),
            ("layerSelector", layer.clone()),
            ("provider", json!({"type": "string", "enum": ["generic", "aws", "azure", "gcp"], "default": "generic"})),
            ("secretRef", local_ref()),
            ("verify", verify),
            ("serviceAccountName", string()),
            ("certSecretRef", local_ref()),
            ("proxySecretRef", local_ref()),
            ("interval", interval()),
            ("timeout", fetch_timeout()),
            ("ignore", string()),
            ("insecure", boolean()),
            ("suspend", boolean()),
        ],
        &["interval", "url"],
    );
    crd(
        GROUP,
        "OCIRepository",
        "ocirepositories",
        "Namespaced",
        &["ocirepo"],
        &versions(flux, "v1beta2 OCIRepository is deprecated, upgrade to v1", &[("URL", ".spec.url")], true),
        &resource(spec, status(&[("url", string()), ("observedIgnore", string()), ("observedLayerSelector", layer)])),
    )
}

fn bucket(flux: FluxVersion) -> Value {
    let sts = object(
        &[
            ("provider", enum_of(&["aws", "ldap"])),
            ("endpoint", pattern("^(http|https)://.*$")),
            ("secretRef", local_ref()),
            ("certSecretRef", local_ref()),
        ],
        &["endpoint", "provider"],
    );
    let spec = object(
        &[
            ("provider", json!({"type": "string", "enum": ["generic", "aws", "gcp", "azure"], "default": "generic"})),
            ("bucketName", string()),
            ("endpoint", string()),
            ("sts", sts),
            ("insecure", boolean()),
            ("region", string()),
            ("prefix", string()),
            ("secretRef", local_ref()),
            ("serviceAccountName", string()),
            ("certSecretRef", local_ref()),
            ("proxySecretRef", local_ref()),
            ("interval", interval()),
            ("timeout", fetch_timeout()),
            ("ignore", string()),
            ("suspend", boolean()),
        ],
        &["bucketName", "endpoint", "interval"],
    );
    crd(
        GROUP,
        "Bucket",
        "buckets",
        "Namespaced",
        &[],
        &versions(flux, "v1beta2 Bucket is deprecated, upgrade to v1", &[("Endpoint", ".spec.endpoint")], false),
        &resource(spec, status(&[("url", string()), ("observedIgnore", string())])),
    )
}

fn helm_chart(flux: FluxVersion) -> Value {
    let spec = object(
        &[
            ("chart", string()),
            ("version", json!({"type": "string", "default": "*"})),
            (
                "sourceRef",
                object(
                    &[
                        ("apiVersion", string()),
                        ("kind", enum_of(&["HelmRepository", "GitRepository", "Bucket"])),
                        ("name", string()),
                    ],
                    &["kind", "name"],
                ),
            ),
            ("interval", interval()),
            (
                "reconcileStrategy",
                json!({"type": "string", "enum": ["ChartVersion", "Revision"], "default": "ChartVersion"}),
            ),
            ("valuesFiles", strings()),
            ("ignoreMissingValuesFiles", boolean()),
            ("suspend", boolean()),
            ("verify", open_object()),
        ],
        &["chart", "interval", "sourceRef"],
    );
    let status = status(&[
        ("observedSourceArtifactRevision", string()),
        ("observedChartName", string()),
        ("observedValuesFiles", strings()),
        ("url", string()),
    ]);
    crd(
        GROUP,
        "HelmChart",
        "helmcharts",
        "Namespaced",
        &["hc"],
        &versions(
            flux,
            "v1beta2 HelmChart is deprecated, upgrade to v1",
            &[
                ("Chart", ".spec.chart"),
                ("Version", ".spec.version"),
                ("Source Kind", ".spec.sourceRef.kind"),
                ("Source Name", ".spec.sourceRef.name"),
            ],
            false,
        ),
        &resource(spec, status),
    )
}

/// Every source-controller CRD for this Flux version.
pub fn crds(flux: FluxVersion) -> Vec<Value> {
    vec![git_repository(flux), helm_repository(flux), oci_repository(flux), bucket(flux), helm_chart(flux)]
}

/// `spec.timeout` of the fetching sources: a Go duration of ms, s and m, default 60s.
fn fetch_timeout() -> Value {
    json!({"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$", "default": "60s"})
}
