//! The sources the simulator cannot fetch: HelmRepository, OCIRepository, Bucket and
//! HelmChart. They are accepted, served and reconciled with source-controller v1.8's
//! lifecycle (finalizer, suspend, deletion), but every fetch would need the network, so they
//! end `Ready=False` with `FetchFailed=True`, the reason upstream gives when the remote does
//! not answer, and a message that says plainly that the simulator cannot reach the URL
//! offline (a fidelity note, not an upstream wording).
//!
//! Exceptions, for the charts of the platform components the simulator provides itself
//! ([`crate::flux::charts`]): a HelmRepository at one of their repository URLs, and a HelmChart
//! of one of those charts from such a repository, are `Ready=True` (`Succeeded`) without an
//! artifact, with a message saying nothing was fetched. A HelmRepository of `type: oci` is, as
//! upstream since v1, static: it gets no finalizer and no conditions. This module must not
//! pretend to have fetched anything: no `status.artifact` is ever written here.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::git_repository::order_ready_first;
use super::{cond, has_finalizer, is_deleting, reconcile_request, reconciling_message, set_finalizer, text};
use super::{CONTROLLER, GROUP};
use crate::apiserver::resources::GroupResource;
use crate::conditions::{self, Condition};
use crate::flux::charts::{charts_at, component_chart};
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError};

/// The kinds reconciled here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    HelmRepository,
    OciRepository,
    Bucket,
    HelmChart,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::HelmRepository, Kind::OciRepository, Kind::Bucket, Kind::HelmChart];

    pub fn plural(self) -> &'static str {
        match self {
            Kind::HelmRepository => "helmrepositories",
            Kind::OciRepository => "ocirepositories",
            Kind::Bucket => "buckets",
            Kind::HelmChart => "helmcharts",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Kind::HelmRepository => "HelmRepository",
            Kind::OciRepository => "OCIRepository",
            Kind::Bucket => "Bucket",
            Kind::HelmChart => "HelmChart",
        }
    }
}

/// What a reconcile concluded.
enum Verdict {
    /// Provided by the simulator: Ready without an artifact.
    Provided(String),
    /// Would need the network (or something the simulator does not do).
    Failed { reason: &'static str, message: String },
}

/// Why the simulator cannot do it, appended to every offline message.
pub const OFFLINE_NOTE: &str = "the simulator has no network and serves only the scenario's Git repositories";

/// Reconciles one of the offline kinds.
pub struct OfflineController {
    kind: Kind,
}

impl OfflineController {
    pub fn new(kind: Kind) -> Self {
        OfflineController { kind }
    }
}

impl Controller for OfflineController {
    fn name(&self) -> &str {
        CONTROLLER
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new(GROUP, self.kind.plural())
    }

    fn on_own_change(&self, change: &crate::apiserver::store::Change) -> bool {
        crate::runtime::generation_or_request_changed(change)
    }

    fn watches(&self) -> Vec<crate::runtime::Watch> {
        if self.kind == Kind::HelmChart {
            // A HelmChart's verdict depends on its HelmRepository.
            vec![crate::runtime::Watch::all(GROUP, "helmrepositories")]
        } else {
            Vec::new()
        }
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(self.run(cx, key))
    }
}

/// The verdict for a HelmRepository URL.
pub fn helm_repository_verdict(url: &str) -> Result<String, String> {
    let provided = charts_at(url);
    if provided.is_empty() {
        // helmrepository_controller.go reconcileSource: "failed to fetch Helm repository index: %w".
        Err(format!(
            "failed to fetch Helm repository index: the simulator cannot fetch '{url}' offline ({OFFLINE_NOTE}; \
             only the chart repositories of the platform components it provides are available)"
        ))
    } else {
        let charts: Vec<&str> = provided.iter().map(|c| c.chart).collect();
        Ok(format!(
            "the simulator provides the charts of this repository itself ({}); no index was fetched",
            charts.join(", ")
        ))
    }
}

/// The component chart an OCIRepository URL names (`<repository>/<chart>`), if any.
pub fn oci_component(url: &str) -> Option<&'static crate::flux::charts::ComponentChart> {
    let (repo, chart) = url.trim_end_matches('/').rsplit_once('/')?;
    component_chart(chart).filter(|c| charts_at(repo).iter().any(|p| p.chart == c.chart))
}

impl OfflineController {
    async fn run(&self, cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
        let plural = self.kind.plural();
        let (ns, name) = (key.namespace.as_str(), key.name.as_str());
        let Some(obj) = cx.get(GROUP, plural, ns, name) else { return Ok(Outcome::Done) };
        let is_static =
            self.kind == Kind::HelmRepository && obj.pointer("/spec/type").and_then(Value::as_str) == Some("oci");
        if is_deleting(&obj) || is_static {
            if has_finalizer(&obj) {
                set_finalizer(cx, plural, &obj, false).await?;
            }
            return Ok(Outcome::Done);
        }
        if !has_finalizer(&obj) {
            set_finalizer(cx, plural, &obj, true).await?;
            return Ok(Outcome::Done);
        }
        if obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
            cx.note("reconciliation is suspended for this object");
            return Ok(Outcome::Done);
        }
        let verdict = self.verdict(cx, &obj);
        let generation = super::generation(&obj);
        let mut conds = obj.pointer("/status/conditions").cloned().unwrap_or(json!([]));
        let mut status = json!({});
        let outcome = match &verdict {
            Verdict::Provided(message) => {
                cx.note(format!("{} {ns}/{name}: {message}", self.kind.kind()));
                for t in [cond::FETCH_FAILED, cond::RECONCILING, cond::STALLED, cond::ARTIFACT_OUTDATED] {
                    conditions::remove(&mut conds, t);
                }
                let ready = Condition { type_: cond::READY, status: "True", reason: cond::SUCCEEDED, message };
                conditions::set(&mut conds, &ready, generation);
                status["observedGeneration"] = json!(generation);
                Outcome::Done
            }
            Verdict::Failed { reason, message } => {
                cx.note(format!("{} {ns}/{name}: {message}", self.kind.kind()));
                let reconciling = reconciling_message(&obj);
                conditions::remove(&mut conds, cond::STALLED);
                let fetch = Condition { type_: cond::FETCH_FAILED, status: "True", reason, message };
                conditions::set(&mut conds, &fetch, generation);
                let rec = Condition {
                    type_: cond::RECONCILING,
                    status: "True",
                    reason: cond::PROGRESSING_WITH_RETRY,
                    message: &reconciling,
                };
                conditions::set(&mut conds, &rec, generation);
                let ready = Condition { type_: cond::READY, status: "False", reason, message };
                conditions::set(&mut conds, &ready, generation);
                cx.event(&obj, "Warning", reason, message, CONTROLLER);
                Outcome::Retry
            }
        };
        order_ready_first(&mut conds);
        status["conditions"] = conds;
        if let Some(at) = reconcile_request(&obj) {
            status["lastHandledReconcileAt"] = json!(at);
        }
        cx.merge_status(GROUP, plural, ns, name, &status).await?;
        Ok(outcome)
    }

    fn verdict(&self, cx: &Cx, obj: &Value) -> Verdict {
        match self.kind {
            Kind::HelmRepository => match helm_repository_verdict(text(obj, "/spec/url")) {
                Ok(m) => Verdict::Provided(m),
                Err(message) => Verdict::Failed { reason: "Failed", message },
            },
            Kind::OciRepository if oci_component(text(obj, "/spec/url")).is_some() => Verdict::Provided(format!(
                "the simulator provides chart '{}' itself; nothing was pulled",
                oci_component(text(obj, "/spec/url")).map(|c| c.chart).unwrap_or_default()
            )),
            Kind::OciRepository => Verdict::Failed {
                // ocirepository_controller.go reconcileSource: "failed to determine artifact
                // digest: %w", reason OCIPullFailed.
                reason: "OCIPullFailed",
                message: format!(
                    "failed to determine artifact digest: the simulator cannot pull '{}' offline ({OFFLINE_NOTE})",
                    text(obj, "/spec/url")
                ),
            },
            Kind::Bucket => Verdict::Failed {
                // bucket_controller.go reconcileSource: reason BucketOperationFailed.
                reason: "BucketOperationFailed",
                message: format!(
                    "the simulator cannot reach bucket '{}' at '{}' offline ({OFFLINE_NOTE})",
                    text(obj, "/spec/bucketName"),
                    text(obj, "/spec/endpoint")
                ),
            },
            Kind::HelmChart => self.helm_chart_verdict(cx, obj),
        }
    }

    fn helm_chart_verdict(&self, cx: &Cx, obj: &Value) -> Verdict {
        let ns = text(obj, "/metadata/namespace");
        let chart = text(obj, "/spec/chart");
        let (kind, src) = (text(obj, "/spec/sourceRef/kind"), text(obj, "/spec/sourceRef/name"));
        if kind != "HelmRepository" {
            return Verdict::Failed {
                reason: "ChartPackageError",
                message: format!(
                    "the simulator does not package charts from {kind} sources yet: chart '{chart}' from {kind} '{ns}/{src}' was not built"
                ),
            };
        }
        let Some(repo) = cx.get(GROUP, "helmrepositories", ns, src) else {
            // helmchart_controller.go reconcileSource: "failed to get source: %w".
            return Verdict::Failed {
                reason: "SourceUnavailable",
                message: format!("failed to get source: helmrepositories.source.toolkit.fluxcd.io \"{src}\" not found"),
            };
        };
        let url = text(&repo, "/spec/url");
        let provided = component_chart(chart).is_some_and(|c| charts_at(url).iter().any(|p| p.chart == c.chart));
        if provided {
            Verdict::Provided(format!(
                "the simulator provides chart '{chart}' itself (from '{url}'); nothing was pulled"
            ))
        } else {
            Verdict::Failed {
                reason: "ChartPullError",
                message: format!("chart pull error: the simulator cannot fetch chart '{chart}' from '{url}' offline ({OFFLINE_NOTE})"),
            }
        }
    }
}
