//! The GitRepository reconciler, following source-controller v1.8
//! (`internal/controller/gitrepository_controller.go`):
//!
//! 1. deletion: the artifact (store entry and directory) is removed, then the finalizer;
//! 2. the finalizer `finalizers.fluxcd.io` is added first;
//! 3. `spec.suspend: true`: nothing is done and the status stays as it was;
//! 4. the URL is looked up in the scenario repositories (an unknown URL is a
//!    `GitOperationFailed` fetch failure whose message says how to map it: the simulator has
//!    no network) and `spec.ref` resolved ([`crate::git::RepoHandle::resolve`]);
//! 5. the commit is exported (with `spec.ignore`) only when the revision or the ignore rules
//!    changed, or the store lost the artifact; then `status.artifact`, `ArtifactInStorage=True`
//!    and `Ready=True` (`Succeeded`, `stored artifact for revision '<rev>'`), and a
//!    `NewArtifact` event (`stored artifact for commit '<subject>'`) when the digest changed.
//!
//! Failures set `FetchFailed=True` and `Ready=False` with the same reason and message, leave
//! `Reconciling=True` (`ProgressingWithRetry`), keep the previous artifact, record a Warning
//! event and are retried. Status is written only when it changes, so the runtime settles.
//! This module must not build or apply the artifact's contents.

use std::path::Path;
use std::time::Instant;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{cond, has_finalizer, is_deleting, reconcile_request, reconciling_message, set_finalizer, text};
use super::{CONTROLLER, GROUP, STORAGE_HOST};
use crate::apiserver::objects::now;
use crate::apiserver::resources::GroupResource;
use crate::conditions::{self, Condition};
use crate::flux::{Artifact, ArtifactStore};
use crate::git::{unknown_url_message, GitRef, Repos, GIT_OPERATION_FAILED};
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError};

pub const KIND: &str = "GitRepository";
const PLURAL: &str = "gitrepositories";

/// Reconciles GitRepositories against the scenario repositories.
pub struct GitRepositoryController {
    repos: Repos,
    artifacts: ArtifactStore,
}

impl GitRepositoryController {
    pub fn new(repos: Repos, artifacts: ArtifactStore) -> Self {
        GitRepositoryController { repos, artifacts }
    }
}

impl Controller for GitRepositoryController {
    fn name(&self) -> &str {
        CONTROLLER
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new(GROUP, PLURAL)
    }

    fn on_own_change(&self, change: &crate::apiserver::store::Change) -> bool {
        crate::runtime::generation_or_request_changed(change)
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(self.run(cx, key))
    }
}

/// `fluxcd/pkg` `git.Commit.ShortMessage`: the subject, cut to 50 characters plus `...`.
pub fn short_message(message: &str) -> String {
    let subject = message.lines().next().unwrap_or_default();
    let chars: Vec<char> = subject.chars().collect();
    if chars.len() > 50 {
        format!("{}...", chars[..50].iter().collect::<String>())
    } else {
        subject.to_string()
    }
}

/// A failed fetch: reason and message.
struct Failure {
    reason: &'static str,
    message: String,
}

impl GitRepositoryController {
    async fn run(&self, cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
        let (ns, name) = (key.namespace.as_str(), key.name.as_str());
        let Some(obj) = cx.get(GROUP, PLURAL, ns, name) else {
            // Gone without our finalizer running (it was never added): forget the artifact.
            self.remove_artifact(cx, ns, name);
            return Ok(Outcome::Done);
        };
        if is_deleting(&obj) {
            self.remove_artifact(cx, ns, name);
            if has_finalizer(&obj) {
                set_finalizer(cx, PLURAL, &obj, false).await?;
            }
            return Ok(Outcome::Done);
        }
        if !has_finalizer(&obj) {
            set_finalizer(cx, PLURAL, &obj, true).await?;
            // The patch enqueues this key again; upstream requeues too.
            return Ok(Outcome::Done);
        }
        if obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
            cx.note("reconciliation is suspended for this object");
            return Ok(Outcome::Done);
        }

        let url = text(&obj, "/spec/url");
        let git_ref: GitRef = match obj.pointer("/spec/ref") {
            Some(r) if !r.is_null() => serde_json::from_value(r.clone()).unwrap_or_default(),
            _ => GitRef::default(),
        };
        let ignore = obj.pointer("/spec/ignore").and_then(Value::as_str);

        let Some(repo) = self.repos.get(url) else {
            cx.note(format!(
                "no scenario repository has the URL {url}: a simulator mapping issue, not a Flux behaviour"
            ));
            let message = format!(
                "failed to checkout and determine revision: unable to clone '{url}': {}",
                unknown_url_message(url, &self.repos.urls())
            );
            return self.fail(cx, &obj, Failure { reason: GIT_OPERATION_FAILED, message }).await;
        };
        let resolved = match repo.resolve(&git_ref) {
            Ok(r) => r,
            Err(e) => {
                let failure = Failure { reason: e.reason(), message: e.message() };
                return self.fail(cx, &obj, failure).await;
            }
        };
        let sha = resolved.sha.clone();

        // Export only when something the artifact depends on changed.
        let current = self.artifacts.get(KIND, ns, name);
        let status_rev = text(&obj, "/status/artifact/revision");
        let observed_ignore = obj.pointer("/status/observedIgnore").and_then(Value::as_str);
        let up_to_date = current.as_ref().is_some_and(|a| a.revision == resolved.revision)
            && status_rev == resolved.revision
            && observed_ignore == ignore;
        let (artifact, size, exported) = if up_to_date {
            let a = current.ok_or_else(|| ReconcileError::new("artifact vanished"))?;
            let size = obj.pointer("/status/artifact/size").and_then(Value::as_i64).unwrap_or_default();
            (a, size, false)
        } else {
            let started = Instant::now();
            let dir = self.artifacts.dir_for(KIND, ns, name, sha.as_str());
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| ReconcileError::new(format!("removing {}: {e}", dir.display())))?;
            }
            let stats = match repo.export(&sha, &dir, ignore) {
                Ok(s) => s,
                Err(e) => {
                    let message = format!("unable to archive artifact to storage: {e}");
                    return self.fail(cx, &obj, Failure { reason: "ArchiveOperationFailed", message }).await;
                }
            };
            let digest = crate::git::artifact_digest(&dir).map_err(ReconcileError::new)?;
            let path = format!("gitrepository/{ns}/{name}/{}.tar.gz", sha.as_str());
            let artifact = Artifact {
                revision: resolved.revision.clone(),
                digest,
                dir: dir.clone(),
                url: format!("http://{STORAGE_HOST}/{path}"),
                path,
            };
            self.artifacts.put(KIND, ns, name, artifact.clone());
            garbage_collect(&dir);
            cx.note(format!(
                "exported {} files ({} bytes, {} ignored) of {} in {:?}",
                stats.files,
                stats.bytes,
                stats.ignored,
                resolved.revision,
                started.elapsed()
            ));
            (artifact, stats.bytes as i64, true)
        };

        let generation = super::generation(&obj);
        let mut conds = obj.pointer("/status/conditions").cloned().unwrap_or(json!([]));
        let had_failure = conditions::get(&obj, cond::FETCH_FAILED).is_some()
            || conditions::status_of(&obj, cond::READY) == Some("False");
        for t in [
            cond::FETCH_FAILED,
            cond::ARTIFACT_OUTDATED,
            cond::STORAGE_OPERATION_FAILED,
            cond::RECONCILING,
            cond::STALLED,
        ] {
            conditions::remove(&mut conds, t);
        }
        // fluxcd/source-controller v1.8 gitrepository_controller.go reconcileArtifact:
        // "stored artifact for revision '%s'", mirrored on Ready by the summary.
        let message = format!("stored artifact for revision '{}'", artifact.revision);
        conditions::set(
            &mut conds,
            &Condition { type_: cond::ARTIFACT_IN_STORAGE, status: "True", reason: cond::SUCCEEDED, message: &message },
            generation,
        );
        conditions::set(
            &mut conds,
            &Condition { type_: cond::READY, status: "True", reason: cond::SUCCEEDED, message: &message },
            generation,
        );
        order_ready_first(&mut conds);
        let last_update = if exported {
            json!(now())
        } else {
            obj.pointer("/status/artifact/lastUpdateTime").cloned().unwrap_or_else(|| json!(now()))
        };
        let mut status = json!({
            "observedGeneration": generation,
            "conditions": conds,
            "artifact": {
                "path": artifact.path, "url": artifact.url, "revision": artifact.revision,
                "digest": artifact.digest, "lastUpdateTime": last_update, "size": size,
            },
            "observedIgnore": ignore,
        });
        if let Some(at) = reconcile_request(&obj) {
            status["lastHandledReconcileAt"] = json!(at);
        }
        let old_digest = text(&obj, "/status/artifact/digest").to_string();
        let wrote = cx.merge_status(GROUP, PLURAL, ns, name, &status).await?;
        if wrote && (old_digest != artifact.digest || had_failure) {
            let subject = match repo.commit_message(&sha) {
                Ok(m) => short_message(&m),
                Err(_) => resolved.revision.clone(),
            };
            // gitrepository_controller.go notify: NewArtifact on a new digest, Succeeded on a
            // recovery from failure.
            let event_message = format!("stored artifact for commit '{subject}'");
            let updated = cx.get(GROUP, PLURAL, ns, name).unwrap_or(obj.clone());
            let reason = if old_digest != artifact.digest { "NewArtifact" } else { cond::SUCCEEDED };
            cx.event(&updated, "Normal", reason, &event_message, CONTROLLER);
        }
        Ok(Outcome::Done)
    }

    /// Records a failed fetch (see the module documentation) and asks to be retried.
    async fn fail(&self, cx: &Cx, obj: &Value, f: Failure) -> Result<Outcome, ReconcileError> {
        let (ns, name) = (text(obj, "/metadata/namespace").to_string(), text(obj, "/metadata/name").to_string());
        let generation = super::generation(obj);
        let mut conds = obj.pointer("/status/conditions").cloned().unwrap_or(json!([]));
        let reconciling = reconciling_message(obj);
        conditions::remove(&mut conds, cond::STALLED);
        let fetch = Condition { type_: cond::FETCH_FAILED, status: "True", reason: f.reason, message: &f.message };
        conditions::set(&mut conds, &fetch, generation);
        conditions::set(
            &mut conds,
            &Condition {
                type_: cond::RECONCILING,
                status: "True",
                reason: cond::PROGRESSING_WITH_RETRY,
                message: &reconciling,
            },
            generation,
        );
        conditions::set(
            &mut conds,
            &Condition { type_: cond::READY, status: "False", reason: f.reason, message: &f.message },
            generation,
        );
        order_ready_first(&mut conds);
        let mut status = json!({"conditions": conds});
        if let Some(at) = reconcile_request(obj) {
            status["lastHandledReconcileAt"] = json!(at);
        }
        cx.merge_status(GROUP, PLURAL, &ns, &name, &status).await?;
        cx.event(obj, "Warning", f.reason, &f.message, CONTROLLER);
        cx.note(f.message);
        Ok(Outcome::Retry)
    }

    /// Forgets the artifact of a deleted GitRepository and removes its directory.
    fn remove_artifact(&self, cx: &Cx, ns: &str, name: &str) {
        if self.artifacts.get(KIND, ns, name).is_some() {
            cx.note(format!("removed the artifact of {ns}/{name}"));
        }
        self.artifacts.remove(KIND, ns, name);
        let dir = self.artifacts.dir_for(KIND, ns, name, "");
        if dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("removing {}: {e}", dir.display());
            }
        }
    }
}

/// Keeps only `current` among the artifact directories of one source (source-controller
/// garbage-collects old artifacts too).
fn garbage_collect(current: &Path) {
    let (Some(parent), Some(keep)) = (current.parent(), current.file_name()) else { return };
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        if e.file_name() != keep {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// `Ready` first, as kstatus-summarised Flux objects list it; the rest keep their order.
pub(crate) fn order_ready_first(conds: &mut Value) {
    if let Some(list) = conds.as_array_mut() {
        if let Some(i) = list.iter().position(|c| c.get("type").and_then(Value::as_str) == Some(cond::READY)) {
            let ready = list.remove(i);
            list.insert(0, ready);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_messages_are_cut_at_fifty_characters() {
        assert_eq!(short_message("add web\n\nbody"), "add web");
        let long = "x".repeat(60);
        assert_eq!(short_message(&long), format!("{}...", "x".repeat(50)));
        assert_eq!(short_message(""), "");
    }
}
