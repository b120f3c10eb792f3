//! The state one scenario carries while it runs: its client and discovery cache, bindings,
//! namespace, the directory its paths are relative to, registered cleanup steps, and the
//! objects it applied (removed at the end, then checked for leaks).
//!
//! Shared by steps and expectations; it holds no results (those go to events).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use kube::core::ApiResource;
use serde_saphyr::Spanned;
use tokio::sync::watch;

use super::events::Failure;
use super::kube_io::{Kube, Target};
use crate::scenario::bindings::Bindings;
use crate::scenario::Step;

/// How often expectations and waits look again (chainsaw polls every 50 ms; we back off to
/// 250 ms for long waits).
pub const POLL_MIN: Duration = Duration::from_millis(20);
pub const POLL_MAX: Duration = Duration::from_millis(250);

pub struct Cx {
    pub kube: Kube,
    /// The backend's stage for this scenario: repos, settling, controller decisions.
    pub stage: std::sync::Arc<crate::backend::Stage>,
    pub bindings: Bindings,
    /// The scenario's own namespace (`${namespace}`).
    pub namespace: String,
    /// Directory of the scenario file.
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub scenario: String,
    /// Set when the run is interrupted (Ctrl-C) or the scenario timed out.
    pub cancel: watch::Receiver<bool>,
    /// Registered cleanup steps, run last-first at the end.
    pub cleanup: Mutex<Vec<(String, Spanned<Step>)>>,
    /// Objects applied, removed last-first at the end.
    pub applied: Mutex<Vec<(Target, ApiResource)>>,
    /// SDK clients for the scenario's AWS account, when it uses AWS.
    pub aws: Option<sim::aws::Clients>,
}

impl Cx {
    pub fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Substitutes bindings, turning an unknown one into a step failure.
    pub fn subst(&self, s: &str) -> Result<String, Failure> {
        self.bindings.substitute(s).map_err(|m| Failure { message: m, ..Default::default() })
    }

    pub fn subst_value(&self, v: &serde_json::Value) -> Result<serde_json::Value, Failure> {
        self.bindings.substitute_value(v).map_err(|m| Failure { message: m, ..Default::default() })
    }

    /// Sleeps, returning early (false) when the run is cancelled.
    pub async fn pause(&self, d: Duration) -> bool {
        let mut rx = self.cancel.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = rx.wait_for(|c| *c) => false,
        }
    }

    /// Resolves an object reference as written in a step (bindings substituted; namespaced
    /// kinds default to the scenario's namespace).
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<(Target, ApiResource), Failure> {
        let ns = namespace.map(|n| self.subst(n)).transpose()?;
        self.kube
            .target(&self.subst(api_version)?, &self.subst(kind)?, &self.subst(name)?, ns.as_deref(), &self.namespace)
            .await
            .map_err(|e| fail(e.to_string()))
    }

    pub fn remember_applied(&self, t: Target, ar: ApiResource) {
        if let Ok(mut a) = self.applied.lock() {
            if !a.iter().any(|(x, _)| *x == t) {
                a.push((t, ar));
            }
        }
    }
}

/// A failure with only a message.
pub fn fail(message: impl Into<String>) -> Failure {
    Failure { message: message.into(), ..Default::default() }
}
