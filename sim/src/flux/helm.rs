//! The simulated helm-controller (Flux helm-controller v1.5): the `helm.toolkit.fluxcd.io`
//! HelmRelease CRD (`v2`; `v2beta2` too, deprecated, on Flux 2.7 and earlier) and its
//! reconciler.
//!
//! Reconcile, in upstream's order (`internal/controller/helmrelease_controller.go`): deletion
//! (finalizer removed; nothing was installed, so nothing is uninstalled), finalizer, suspend,
//! `dependsOn` (`Ready=False`, `DependencyNotReady`, `dependency '<ns>/<name>' is not ready`),
//! the chart source (a `chart.spec` template becomes the HelmChart `<ns>-<name>` in the source's
//! namespace, as upstream; a source that is not Ready gives `SourceNotReady` with
//! `<Kind> '<ns>/<name>' is not ready: <its message>`), `valuesFrom`, then the release.
//!
//! The simulator has no Helm: only the charts of the platform components it provides itself
//! ([`super::charts`]) are "installed", and for those the simulated component stands in for
//! the chart's manifests (a decision note says so): `Ready=True`, `InstallSucceeded`,
//! `Helm install succeeded for release <ns>/<release>.v1 with chart <chart>@<version>`
//! (`UpgradeSucceeded` with a new chart version or values). `install.createNamespace` creates
//! the target namespace. Other charts never get that far: their HelmChart is not Ready because
//! the simulator cannot fetch remote charts or package charts from Git. This module must not
//! render or apply manifests.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::charts::{component_chart, ComponentChart};
use super::source::crds::interval;
use super::source::git_repository::order_ready_first;
use super::source::{has_finalizer, is_deleting, reconcile_request, set_finalizer_in, text};
use super::{Flux, FluxVersion};
use crate::apiserver::objects::now;
use crate::apiserver::resources::GroupResource;
use crate::conditions::{self, Condition};
use crate::crds::{any, array, boolean, conditions as conditions_schema, crd, enum_of, integer, object, open_object};
use crate::crds::{pattern, resource, string, string_map, strings, Version};
use crate::platform::{Platform, PlatformError};
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError, Watch};

pub const GROUP: &str = "helm.toolkit.fluxcd.io";
const PLURAL: &str = "helmreleases";
const SOURCE_GROUP: &str = super::source::GROUP;
pub const CONTROLLER: &str = "helm-controller";

fn bounded(min: i64, max: i64) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max})
}

fn schema() -> Value {
    let source_ref = object(
        &[
            ("apiVersion", string()),
            ("kind", enum_of(&["HelmRepository", "GitRepository", "Bucket"])),
            ("name", bounded(1, 253)),
            ("namespace", bounded(1, 63)),
        ],
        &["name"],
    );
    let chart = object(
        &[
            ("metadata", object(&[("labels", string_map()), ("annotations", string_map())], &[])),
            (
                "spec",
                object(
                    &[
                        ("chart", bounded(1, 2048)),
                        ("version", json!({"type": "string", "default": "*"})),
                        ("sourceRef", source_ref),
                        ("interval", interval()),
                        (
                            "reconcileStrategy",
                            json!({"type": "string", "enum": ["ChartVersion", "Revision"], "default": "ChartVersion"}),
                        ),
                        ("valuesFiles", strings()),
                        ("ignoreMissingValuesFiles", boolean()),
                        ("verify", open_object()),
                    ],
                    &["chart", "sourceRef"],
                ),
            ),
        ],
        &["spec"],
    );
    let chart_ref = object(
        &[
            ("apiVersion", string()),
            ("kind", enum_of(&["OCIRepository", "HelmChart", "ExternalArtifact"])),
            ("name", bounded(1, 253)),
            ("namespace", bounded(1, 63)),
        ],
        &["kind", "name"],
    );
    let timeout = pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$");
    let crds_policy = enum_of(&["Skip", "Create", "CreateReplace"]);
    // The fields install and upgrade share, then each one's own.
    let shared = vec![
        ("timeout", timeout.clone()),
        ("strategy", open_object()),
        ("remediation", open_object()),
        ("disableTakeOwnership", boolean()),
        ("disableWait", boolean()),
        ("disableWaitForJobs", boolean()),
        ("disableHooks", boolean()),
        ("disableOpenAPIValidation", boolean()),
        ("disableSchemaValidation", boolean()),
    ];
    let with = |own: Vec<(&'static str, Value)>| {
        let mut fields = shared.clone();
        fields.extend(own);
        object(&fields, &[])
    };
    let install = with(vec![
        ("replace", boolean()),
        ("skipCRDs", boolean()),
        ("crds", crds_policy.clone()),
        ("createNamespace", boolean()),
        ("serverSideApply", boolean()),
    ]);
    let upgrade = with(vec![
        ("force", boolean()),
        ("preserveValues", boolean()),
        ("cleanupOnFail", boolean()),
        ("crds", crds_policy),
        ("serverSideApply", enum_of(&["enabled", "disabled", "auto"])),
        ("chartNameChangeStrategy", enum_of(&["InPlaceUpdate", "Reinstall"])),
    ]);
    let values_ref = object(
        &[
            ("kind", enum_of(&["Secret", "ConfigMap"])),
            ("name", bounded(1, 253)),
            ("valuesKey", json!({"type": "string", "maxLength": 253, "pattern": r"^[\-._a-zA-Z0-9]+$"})),
            ("targetPath", json!({"type": "string", "maxLength": 250})),
            ("optional", boolean()),
        ],
        &["kind", "name"],
    );
    let spec = object(
        &[
            ("chart", chart),
            ("chartRef", chart_ref),
            ("interval", interval()),
            ("kubeConfig", open_object()),
            ("suspend", boolean()),
            ("releaseName", bounded(1, 53)),
            ("targetNamespace", bounded(1, 63)),
            ("storageNamespace", bounded(1, 63)),
            (
                "dependsOn",
                array(object(&[("name", string()), ("namespace", string()), ("readyExpr", string())], &["name"])),
            ),
            ("timeout", timeout),
            ("maxHistory", integer()),
            ("serviceAccountName", bounded(1, 253)),
            ("persistentClient", boolean()),
            ("driftDetection", open_object()),
            ("install", install),
            ("upgrade", upgrade),
            ("test", open_object()),
            ("rollback", open_object()),
            ("uninstall", open_object()),
            ("valuesFrom", array(values_ref)),
            ("values", any()),
            ("commonMetadata", object(&[("labels", string_map()), ("annotations", string_map())], &[])),
            ("postRenderers", array(open_object())),
            ("postRenderStrategy", enum_of(&["nohooks", "combined", "separate"])),
            ("waitStrategy", open_object()),
            ("healthCheckExprs", array(open_object())),
        ],
        &["interval"],
    );
    let status = object(
        &[
            ("observedGeneration", integer()),
            ("observedPostRenderersDigest", string()),
            ("observedCommonMetadataDigest", string()),
            ("lastAttemptedGeneration", integer()),
            ("conditions", conditions_schema()),
            ("helmChart", string()),
            ("storageNamespace", string()),
            ("history", array(open_object())),
            ("inventory", open_object()),
            ("lastAttemptedReleaseAction", enum_of(&["install", "upgrade"])),
            ("lastAttemptedReleaseActionDuration", string()),
            ("failures", integer()),
            ("installFailures", integer()),
            ("upgradeFailures", integer()),
            ("lastAttemptedRevision", string()),
            ("lastAttemptedRevisionDigest", string()),
            ("lastAttemptedValuesChecksum", string()),
            ("lastReleaseRevision", integer()),
            ("lastAttemptedConfigDigest", string()),
            ("lastHandledResetAt", string()),
            ("lastHandledReconcileAt", string()),
            ("lastHandledForceAt", string()),
        ],
        &[],
    );
    resource(spec, status)
}

fn columns(v: Version<'_>) -> Version<'_> {
    v.column("Age", "date", ".metadata.creationTimestamp")
        .column("Ready", "string", r#".status.conditions[?(@.type=="Ready")].status"#)
        .column("Status", "string", r#".status.conditions[?(@.type=="Ready")].message"#)
}

/// The HelmRelease CRD: `v2`, plus `v2beta2` with helm-controller v1.4's deprecation warning
/// (`api/v2beta2/helmrelease_types.go` `+kubebuilder:deprecatedversion`) on Flux 2.7 and earlier.
pub fn crds(version: FluxVersion) -> Vec<Value> {
    let mut versions = vec![columns(Version::storage("v2"))];
    if version.serves_v1beta2() {
        versions
            .push(columns(Version::served("v2beta2").deprecated("v2beta2 HelmRelease is deprecated, upgrade to v2")));
    }
    vec![crd(GROUP, "HelmRelease", PLURAL, "Namespaced", &["hr"], &versions, &schema())]
}

pub fn install(platform: &Platform, _flux: &Flux) -> Result<(), PlatformError> {
    let gatekeeper = platform.profile().gatekeeper.clone();
    platform.runtime().add(Arc::new(HelmReleaseController { gatekeeper }));
    Ok(())
}

/// Reconciles HelmReleases.
pub struct HelmReleaseController {
    /// The Gatekeeper version the platform runs, if any (the `gatekeeper` chart needs it).
    gatekeeper: Option<String>,
}

impl Controller for HelmReleaseController {
    fn name(&self) -> &str {
        CONTROLLER
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new(GROUP, PLURAL)
    }

    fn on_own_change(&self, change: &crate::apiserver::store::Change) -> bool {
        crate::runtime::generation_or_request_changed(change)
    }

    fn watches(&self) -> Vec<Watch> {
        // Dependencies and sources becoming Ready re-run the releases (upstream requeues).
        vec![
            Watch::all(GROUP, PLURAL),
            Watch::all(SOURCE_GROUP, "helmcharts"),
            Watch::all(SOURCE_GROUP, "ocirepositories"),
            Watch::all("", "namespaces"),
            Watch::all("", "configmaps"),
            Watch::all("", "secrets"),
        ]
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(self.run(cx, key))
    }
}

/// Why a release is not Ready: reason and message.
struct NotReady {
    reason: &'static str,
    message: String,
    /// Also an Event of this type.
    event: Option<&'static str>,
}

fn not_ready(reason: &'static str, message: String) -> NotReady {
    NotReady { reason, message, event: None }
}

/// The chart that will be "installed".
struct Chart {
    name: String,
    version: String,
    component: &'static ComponentChart,
}

/// `HelmRelease.GetReleaseName` (helm-controller `api/v2/helmrelease_types.go`).
fn release_name(obj: &Value) -> String {
    let explicit = text(obj, "/spec/releaseName");
    let target = text(obj, "/spec/targetNamespace");
    let name = text(obj, "/metadata/name");
    if !explicit.is_empty() {
        explicit.to_string()
    } else if !target.is_empty() {
        format!("{target}-{name}")
    } else {
        name.to_string()
    }
}

fn sha256_hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl HelmReleaseController {
    async fn run(&self, cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
        let (ns, name) = (key.namespace.as_str(), key.name.as_str());
        let Some(obj) = cx.get(GROUP, PLURAL, ns, name) else { return Ok(Outcome::Done) };
        if is_deleting(&obj) {
            if has_finalizer(&obj) {
                cx.note("nothing was rendered for this release, so nothing is uninstalled");
                set_finalizer_in(cx, GROUP, PLURAL, &obj, false).await?;
            }
            return Ok(Outcome::Done);
        }
        if !has_finalizer(&obj) {
            set_finalizer_in(cx, GROUP, PLURAL, &obj, true).await?;
            return Ok(Outcome::Done);
        }
        if obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
            cx.note("reconciliation is suspended for this object");
            return Ok(Outcome::Done);
        }
        let generation = super::source::generation(&obj);
        let mut status = json!({});
        let result = self.release(cx, &obj, &mut status).await?;
        let mut conds = obj.pointer("/status/conditions").cloned().unwrap_or(json!([]));
        match result {
            Err(nr) => {
                cx.note(nr.message.clone());
                // helmrelease_controller.go marks Reconciling "Fulfilling prerequisites" before
                // the dependency, source and values checks, and a failure there leaves it.
                let prerequisite =
                    matches!(nr.reason, "DependencyNotReady" | "SourceNotReady" | "ValuesError" | "ArtifactFailed");
                let rec = if prerequisite { "Fulfilling prerequisites" } else { "" };
                if rec.is_empty() {
                    conditions::remove(&mut conds, "Reconciling");
                } else {
                    let c = Condition { type_: "Reconciling", status: "True", reason: "Progressing", message: rec };
                    conditions::set(&mut conds, &c, generation);
                }
                let c = Condition { type_: "Ready", status: "False", reason: nr.reason, message: &nr.message };
                conditions::set(&mut conds, &c, generation);
                if let Some(t) = nr.event {
                    cx.event(&obj, t, nr.reason, &nr.message, CONTROLLER);
                }
            }
            Ok((reason, message)) => {
                for t in ["Reconciling", "Stalled"] {
                    conditions::remove(&mut conds, t);
                }
                for t in ["Ready", "Released"] {
                    conditions::set(
                        &mut conds,
                        &Condition { type_: t, status: "True", reason, message: &message },
                        generation,
                    );
                }
                status["observedGeneration"] = json!(generation);
            }
        }
        order_ready_first(&mut conds);
        status["conditions"] = conds;
        if let Some(at) = reconcile_request(&obj) {
            status["lastHandledReconcileAt"] = json!(at);
        }
        cx.merge_status(GROUP, PLURAL, ns, name, &status).await?;
        Ok(Outcome::Done)
    }

    /// Everything up to the release; fills `status` with what it observed. `Ok(Err(_))` is a
    /// release that is not Ready; `Ok(Ok((reason, message)))` an installed one.
    async fn release(
        &self,
        cx: &Cx,
        obj: &Value,
        status: &mut Value,
    ) -> Result<Result<(&'static str, String), NotReady>, ReconcileError> {
        let ns = text(obj, "/metadata/namespace").to_string();
        let name = text(obj, "/metadata/name").to_string();
        // dependsOn (helmrelease_controller.go checkDependencies).
        for dep in obj.pointer("/spec/dependsOn").and_then(Value::as_array).cloned().unwrap_or_default() {
            let dep_name = text(&dep, "/name");
            let dep_ns = match text(&dep, "/namespace") {
                "" => ns.as_str(),
                n => n,
            };
            let message = match cx.get(GROUP, PLURAL, dep_ns, dep_name) {
                None => Some(format!(
                    "unable to get '{dep_ns}/{dep_name}' dependency: helmreleases.helm.toolkit.fluxcd.io \"{dep_name}\" not found"
                )),
                Some(d) => {
                    let observed = d.pointer("/status/observedGeneration").and_then(Value::as_i64).unwrap_or(-1);
                    let ready = conditions::status_of(&d, "Ready") == Some("True");
                    (observed != super::source::generation(&d) || !ready)
                        .then(|| format!("dependency '{dep_ns}/{dep_name}' is not ready"))
                }
            };
            if let Some(message) = message {
                return Ok(Err(NotReady { reason: "DependencyNotReady", message, event: Some("Normal") }));
            }
        }
        // The chart source.
        let has_chart = obj.pointer("/spec/chart").is_some_and(|v| !v.is_null());
        let has_ref = obj.pointer("/spec/chartRef").is_some_and(|v| !v.is_null());
        if has_chart == has_ref {
            // Upstream rejects this at admission (CEL rule on the spec); the simulated API
            // server does not evaluate CEL, so the controller reports it.
            return Ok(Err(not_ready("InvalidChartReference", "either chart or chartRef must be set".into())));
        }
        let (source_kind, source_ns, source_name, chart_name, requested) = if has_chart {
            let src_ns = match text(obj, "/spec/chart/spec/sourceRef/namespace") {
                "" => ns.clone(),
                n => n.to_string(),
            };
            let hc_name = format!("{ns}-{name}");
            self.ensure_helm_chart(cx, obj, &src_ns, &hc_name).await?;
            status["helmChart"] = json!(format!("{src_ns}/{hc_name}"));
            let version = match text(obj, "/spec/chart/spec/version") {
                "" => "*",
                v => v,
            };
            ("HelmChart", src_ns, hc_name, text(obj, "/spec/chart/spec/chart").to_string(), version.to_string())
        } else {
            let kind = text(obj, "/spec/chartRef/kind").to_string();
            let src_ns = match text(obj, "/spec/chartRef/namespace") {
                "" => ns.clone(),
                n => n.to_string(),
            };
            let src_name = text(obj, "/spec/chartRef/name").to_string();
            let plural = match kind.as_str() {
                "OCIRepository" => "ocirepositories",
                "HelmChart" => "helmcharts",
                _ => {
                    return Ok(Err(not_ready(
                        "ArtifactFailed",
                        format!("could not get Source object: the simulator does not serve {kind} sources"),
                    )))
                }
            };
            let Some(src) = cx.get(SOURCE_GROUP, plural, &src_ns, &src_name) else {
                return Ok(Err(not_ready(
                    "ArtifactFailed",
                    format!("could not get Source object: {plural}.{SOURCE_GROUP} \"{src_name}\" not found"),
                )));
            };
            let (chart, version) = if kind == "OCIRepository" {
                let url = text(&src, "/spec/url");
                let chart = url.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
                let v = match (text(&src, "/spec/ref/tag"), text(&src, "/spec/ref/semver")) {
                    ("", "") => "*".to_string(),
                    (t, "") => t.to_string(),
                    (_, s) => s.to_string(),
                };
                (chart, v)
            } else {
                (text(&src, "/spec/chart").to_string(), text(&src, "/spec/version").to_string())
            };
            (if kind == "OCIRepository" { "OCIRepository" } else { "HelmChart" }, src_ns, src_name, chart, version)
        };
        let plural = if source_kind == "OCIRepository" { "ocirepositories" } else { "helmcharts" };
        let source = cx.get(SOURCE_GROUP, plural, &source_ns, &source_name);
        if let Some(message) = source_not_ready(source.as_deref(), source_kind, &source_ns, &source_name) {
            return Ok(Err(not_ready("SourceNotReady", message)));
        }
        let chart = match self.component(&chart_name, &requested) {
            Ok(c) => c,
            Err(message) => return Ok(Err(not_ready("InstallFailed", message))),
        };
        // valuesFrom, then the config digest.
        let mut values_sources = vec![obj.pointer("/spec/values").cloned().unwrap_or(Value::Null)];
        for r in obj.pointer("/spec/valuesFrom").and_then(Value::as_array).cloned().unwrap_or_default() {
            let (kind, rname) = (text(&r, "/kind"), text(&r, "/name"));
            let plural = if kind == "Secret" { "secrets" } else { "configmaps" };
            match cx.get("", plural, &ns, rname) {
                Some(o) => {
                    let values_key = match text(&r, "/valuesKey") {
                        "" => "values.yaml",
                        k => k,
                    };
                    let Some(data) = o.pointer("/data").and_then(|d| d.get(values_key)) else {
                        // fluxcd/pkg chartutil values.go: "missing key '%s' in %s '%s'".
                        return Ok(Err(NotReady {
                            reason: "ValuesError",
                            message: format!("missing key '{values_key}' in {kind} '{ns}/{rname}'"),
                            event: Some("Warning"),
                        }));
                    };
                    values_sources.push(json!({values_key: data, "targetPath": r.get("targetPath")}));
                }
                None if r.get("optional").and_then(Value::as_bool) == Some(true) => {}
                None => {
                    // fluxcd/pkg chartutil values.go ChartValuesFromReferences.
                    return Ok(Err(NotReady {
                        reason: "ValuesError",
                        message: format!("could not find {kind} '{ns}/{rname}'"),
                        event: Some("Warning"),
                    }));
                }
            }
        }
        let digest = format!("sha256:{}", sha256_hex(Value::Array(values_sources).to_string().as_bytes()));
        // The target namespace.
        let target = match text(obj, "/spec/targetNamespace") {
            "" => ns.clone(),
            t => t.to_string(),
        };
        let release = release_name(obj);
        // GetStorageNamespace: spec.storageNamespace, else the HelmRelease's namespace.
        let storage_ns = match text(obj, "/spec/storageNamespace") {
            "" => ns.clone(),
            s => s.to_string(),
        };
        status["storageNamespace"] = json!(storage_ns);
        if cx.get("", "namespaces", "", &target).is_none() {
            if obj.pointer("/spec/install/createNamespace").and_then(Value::as_bool) == Some(true) {
                let ns_obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target}});
                cx.server.create_internal("", "v1", "namespaces", None, ns_obj).map_err(ReconcileError::new)?;
                cx.note(format!("install.createNamespace: created namespace {target}"));
            } else {
                // internal/reconcile/install.go fmtInstallFailure around the API server's
                // NotFound (Helm's own wrapping of it is not reproduced).
                return Ok(Err(NotReady {
                    reason: "InstallFailed",
                    message: format!(
                        "Helm install failed for release {target}/{release} with chart {}@{}: namespaces \"{target}\" not found",
                        chart.name, chart.version
                    ),
                    event: Some("Warning"),
                }));
            }
        }
        // Install or upgrade, or nothing when the latest release already matches.
        let history = obj.pointer("/status/history").and_then(Value::as_array).cloned().unwrap_or_default();
        let latest = history.first();
        let same = latest.is_some_and(|l| {
            text(l, "/chartName") == chart.name
                && text(l, "/chartVersion") == chart.version
                && text(l, "/configDigest") == digest
                && text(l, "/name") == release
                && text(l, "/namespace") == target
        });
        let generation = super::source::generation(obj);
        if same {
            let l = latest.cloned().unwrap_or_default();
            let version = l.get("version").and_then(Value::as_i64).unwrap_or(1);
            let message = conditions::get(obj, "Released")
                .and_then(|c| c.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    format!(
                        "Helm install succeeded for release {target}/{release}.v{version} with chart {}@{}",
                        chart.name, chart.version
                    )
                });
            let reason = if version > 1 { "UpgradeSucceeded" } else { "InstallSucceeded" };
            status["lastAttemptedGeneration"] = json!(generation);
            return Ok(Ok((reason, message)));
        }
        let version = latest.and_then(|l| l.get("version")).and_then(Value::as_i64).unwrap_or(0) + 1;
        let upgrade = latest.is_some_and(|l| text(l, "/name") == release && text(l, "/namespace") == target);
        let version = if upgrade { version } else { 1 };
        let now = now();
        let first_deployed = if upgrade { latest.and_then(|l| l.get("firstDeployed")).cloned() } else { None };
        let snapshot = json!({
            "name": release, "namespace": target, "version": version, "status": "deployed",
            "chartName": chart.name, "chartVersion": chart.version, "configDigest": digest,
            "digest": format!("sha256:{}", sha256_hex(format!("{release}/{version}/{}/{}/{digest}", chart.name, chart.version).as_bytes())),
            "firstDeployed": first_deployed.unwrap_or_else(|| json!(now)), "lastDeployed": now,
        });
        let mut new_history = vec![snapshot];
        if upgrade {
            let max = obj.pointer("/spec/maxHistory").and_then(Value::as_i64).unwrap_or(5).max(1) as usize;
            new_history.extend(history.into_iter().map(|mut h| {
                h["status"] = json!("superseded");
                h
            }));
            new_history.truncate(max);
        }
        let (reason, action, message) = if upgrade {
            // internal/reconcile/upgrade.go fmtUpgradeSuccess.
            (
                "UpgradeSucceeded",
                "upgrade",
                format!(
                    "Helm upgrade succeeded for release {target}/{release}.v{version} with chart {}@{}",
                    chart.name, chart.version
                ),
            )
        } else {
            // internal/reconcile/install.go fmtInstallSuccess.
            (
                "InstallSucceeded",
                "install",
                format!(
                    "Helm install succeeded for release {target}/{release}.v{version} with chart {}@{}",
                    chart.name, chart.version
                ),
            )
        };
        cx.note(format!(
            "the simulated {} stands in for chart {}@{}: no manifests were rendered or applied",
            chart.component.component, chart.name, chart.version
        ));
        status["history"] = json!(new_history);
        status["lastAttemptedGeneration"] = json!(generation);
        status["lastAttemptedRevision"] = json!(chart.version);
        status["lastAttemptedConfigDigest"] = json!(digest);
        status["lastAttemptedReleaseAction"] = json!(action);
        cx.event(obj, "Normal", reason, &message, CONTROLLER);
        Ok(Ok((reason, message)))
    }

    /// The component chart and the version reported for `requested`.
    fn component(&self, chart: &str, requested: &str) -> Result<Chart, String> {
        let Some(c) = component_chart(chart) else {
            return Err(format!(
                "the simulator cannot render chart '{chart}': it has no Helm and installs only the charts of the platform components it provides"
            ));
        };
        let modelled = if c.component == "gatekeeper" {
            let Some(v) = self.gatekeeper.as_deref() else {
                return Err(
                    "the simulator stands in for the gatekeeper chart with its own Gatekeeper, which this platform profile does not enable".into(),
                );
            };
            if v.matches('.').count() == 1 {
                format!("{v}.0")
            } else {
                v.to_string()
            }
        } else {
            c.version.to_string()
        };
        let req = requested.trim().trim_start_matches('v');
        if let Ok(exact) = semver::Version::parse(req) {
            return Ok(Chart { name: c.chart.to_string(), version: exact.to_string(), component: c });
        }
        let fits = match semver::VersionReq::parse(&req.replace(".x", ".*").replace(".X", ".*")) {
            Ok(r) => semver::Version::parse(&modelled).is_ok_and(|m| r.matches(&m)),
            Err(_) => req.is_empty() || req == "*",
        };
        if fits {
            Ok(Chart { name: c.chart.to_string(), version: modelled, component: c })
        } else {
            Err(format!(
                "the simulator provides {} chart version {modelled}, which does not match version '{requested}'",
                c.chart
            ))
        }
    }

    /// Creates or updates the HelmChart a `chart.spec` template stands for.
    async fn ensure_helm_chart(&self, cx: &Cx, obj: &Value, src_ns: &str, hc_name: &str) -> Result<(), ReconcileError> {
        let t = obj.pointer("/spec/chart/spec").cloned().unwrap_or(json!({}));
        let mut spec = json!({
            "chart": t.get("chart"),
            "version": t.get("version").cloned().unwrap_or(json!("*")),
            "sourceRef": {"kind": t.pointer("/sourceRef/kind").cloned().unwrap_or(json!("HelmRepository")), "name": t.pointer("/sourceRef/name")},
            "interval": t.get("interval").cloned().or_else(|| obj.pointer("/spec/interval").cloned()),
            "reconcileStrategy": t.get("reconcileStrategy").cloned().unwrap_or(json!("ChartVersion")),
        });
        if let Some(v) = t.get("valuesFiles") {
            spec["valuesFiles"] = v.clone();
        }
        match cx.get(SOURCE_GROUP, "helmcharts", src_ns, hc_name) {
            Some(existing) if existing.get("spec") == Some(&spec) => Ok(()),
            Some(_) => {
                let path = cx.path(SOURCE_GROUP, "helmcharts", src_ns, hc_name)?;
                let body = serde_json::to_vec(&json!({"spec": spec})).map_err(ReconcileError::new)?;
                let req = http::Request::patch(path)
                    .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
                    .body(body)
                    .map_err(ReconcileError::new)?;
                cx.client.request::<Value>(req).await?;
                Ok(())
            }
            None => {
                let body = json!({
                    "apiVersion": format!("{SOURCE_GROUP}/v1"), "kind": "HelmChart",
                    "metadata": {"name": hc_name, "namespace": src_ns, "labels": {
                        "helm.toolkit.fluxcd.io/name": text(obj, "/metadata/name"),
                        "helm.toolkit.fluxcd.io/namespace": text(obj, "/metadata/namespace"),
                    }},
                    "spec": spec,
                });
                cx.server
                    .create_internal(SOURCE_GROUP, "v1", "helmcharts", Some(src_ns), body)
                    .map_err(ReconcileError::new)?;
                cx.note(format!("created HelmChart {src_ns}/{hc_name}"));
                Ok(())
            }
        }
    }
}

/// helm-controller `isReady` (helmrelease_controller.go): `<Kind> '<ns>/<name>' is not ready:
/// <why>`. The artifact check is left out: sources the simulator provides have none.
fn source_not_ready(src: Option<&Value>, kind: &str, ns: &str, name: &str) -> Option<String> {
    let Some(src) = src else {
        return Some(format!("{kind} '{ns}/{name}' is not ready: latest generation of object has not been reconciled"));
    };
    let observed = src.pointer("/status/observedGeneration").and_then(Value::as_i64).unwrap_or(-1);
    if observed != super::source::generation(src) {
        let msg = if conditions::status_of(src, "Ready") == Some("False") {
            conditions::get(src, "Ready").and_then(|c| c.get("message")).and_then(Value::as_str).unwrap_or_default()
        } else {
            "latest generation of object has not been reconciled"
        };
        return Some(format!("{kind} '{ns}/{name}' is not ready: {msg}"));
    }
    if conditions::status_of(src, "Stalled") == Some("True") {
        let msg =
            conditions::get(src, "Stalled").and_then(|c| c.get("message")).and_then(Value::as_str).unwrap_or_default();
        return Some(format!("{kind} '{ns}/{name}' is not ready: {msg}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_follow_upstream() {
        let o = json!({"metadata": {"name": "web"}, "spec": {"targetNamespace": "apps"}});
        assert_eq!(release_name(&o), "apps-web");
        let o = json!({"metadata": {"name": "web"}, "spec": {"releaseName": "w"}});
        assert_eq!(release_name(&o), "w");
        assert_eq!(release_name(&json!({"metadata": {"name": "web"}})), "web");
    }

    #[test]
    fn component_versions_are_exact_or_modelled() {
        let c = HelmReleaseController { gatekeeper: Some("3.20".into()) };
        assert_eq!(c.component("gatekeeper", "3.20.1").map(|c| c.version), Ok("3.20.1".into()));
        assert_eq!(c.component("gatekeeper", "3.20.x").map(|c| c.version), Ok("3.20.0".into()));
        assert_eq!(c.component("gatekeeper", "*").map(|c| c.version), Ok("3.20.0".into()));
        assert!(c.component("gatekeeper", "9.x").is_err());
        assert!(c.component("podinfo", "*").is_err());
        let none = HelmReleaseController { gatekeeper: None };
        assert!(none.component("gatekeeper", "*").is_err());
    }
}
