//! Readiness: what "installed and ready" means for each platform component, as checks over the
//! Kubernetes API. The kind backend waits on them after an install; the cluster backend checks
//! them once, before a run, and says what is missing. This module must not run docker, kind or
//! helm.

/// One thing that must hold before scenarios run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "check", rename_all = "camelCase")]
pub enum Check {
    /// A CustomResourceDefinition exists and has `Established=True`.
    CrdEstablished { name: String },
    /// A Deployment has `Available=True` and all its replicas updated and available.
    DeploymentAvailable { namespace: String, name: String },
    /// A DaemonSet has every desired pod scheduled, updated and ready.
    DaemonSetReady { namespace: String, name: String },
    /// A Crossplane Provider (`pkg.crossplane.io/v1`) is `Installed=True` and `Healthy=True`.
    CrossplaneProviderHealthy { name: String },
    /// An object of any kind exists (for example a ProviderConfig or a ConfigMap).
    Exists { api_version: String, kind: String, namespace: Option<String>, name: String },
}

/// A platform component a profile can ask for. The kind backend installs it under the release
/// names and namespaces below (the ones the upstream install guides use); the cluster backend
/// expects it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    Flux,
    Gatekeeper,
    /// The Secrets Store CSI driver and the AWS provider (ASCP).
    Csi,
    AckIam,
    AckRds,
    AckSecretsManager,
    /// Crossplane with provider-aws-iam (and its ProviderConfig `default`).
    CrossplaneAws,
}

impl Component {
    pub const ALL: [Component; 7] = [
        Component::Flux,
        Component::Gatekeeper,
        Component::Csi,
        Component::AckIam,
        Component::AckRds,
        Component::AckSecretsManager,
        Component::CrossplaneAws,
    ];

    /// The components a platform profile turns on.
    pub fn of_profile(p: &sim::platform::Profile) -> Vec<Component> {
        let on = [
            (p.flux.is_some(), Component::Flux),
            (p.gatekeeper.is_some(), Component::Gatekeeper),
            (p.csi.is_some(), Component::Csi),
            (p.ack_iam.is_some(), Component::AckIam),
            (p.ack_rds.is_some(), Component::AckRds),
            (p.ack_secretsmanager.is_some(), Component::AckSecretsManager),
            (p.crossplane_aws.is_some(), Component::CrossplaneAws),
        ];
        on.into_iter().filter(|(yes, _)| *yes).map(|(_, c)| c).collect()
    }

    /// The platform profile of a cluster with these components installed (the other
    /// components off); an empty list, as in records written before the list was kept, means
    /// every component.
    pub fn installed_profile(components: &[Component]) -> sim::platform::Profile {
        let mut p = sim::platform::Profile::default();
        if components.is_empty() {
            return p;
        }
        let off = |c: Component| !components.contains(&c);
        if off(Component::Flux) {
            p.flux = None;
        }
        if off(Component::Gatekeeper) {
            p.gatekeeper = None;
        }
        if off(Component::Csi) {
            p.csi = None;
        }
        if off(Component::AckIam) {
            p.ack_iam = None;
        }
        if off(Component::AckRds) {
            p.ack_rds = None;
        }
        if off(Component::AckSecretsManager) {
            p.ack_secretsmanager = None;
        }
        if off(Component::CrossplaneAws) {
            p.crossplane_aws = None;
        }
        p
    }

    /// The namespace its controllers run in.
    pub fn namespace(self) -> &'static str {
        match self {
            Component::Flux => "flux-system",
            Component::Gatekeeper => "gatekeeper-system",
            Component::Csi => "kube-system",
            Component::AckIam | Component::AckRds | Component::AckSecretsManager => "ack-system",
            Component::CrossplaneAws => "crossplane-system",
        }
    }

    /// What must hold for it to be installed and ready.
    pub fn checks(self) -> Vec<Check> {
        let ns = self.namespace();
        let crd = |name: &str| Check::CrdEstablished { name: name.to_string() };
        let deploy = |name: &str| Check::DeploymentAvailable { namespace: ns.to_string(), name: name.to_string() };
        let ds = |name: &str| Check::DaemonSetReady { namespace: ns.to_string(), name: name.to_string() };
        match self {
            Component::Flux => vec![
                crd("gitrepositories.source.toolkit.fluxcd.io"),
                crd("kustomizations.kustomize.toolkit.fluxcd.io"),
                crd("helmreleases.helm.toolkit.fluxcd.io"),
                deploy("source-controller"),
                deploy("kustomize-controller"),
                deploy("helm-controller"),
            ],
            Component::Gatekeeper => vec![
                crd("constrainttemplates.templates.gatekeeper.sh"),
                deploy("gatekeeper-controller-manager"),
                deploy("gatekeeper-audit"),
            ],
            Component::Csi => vec![
                crd("secretproviderclasses.secrets-store.csi.x-k8s.io"),
                crd("secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io"),
                // helm release `csi-secrets-store` of chart `secrets-store-csi-driver`.
                ds("csi-secrets-store-secrets-store-csi-driver"),
                // helm release `secrets-provider-aws` of chart `secrets-store-csi-driver-provider-aws`.
                ds("secrets-provider-aws-secrets-store-csi-driver-provider-aws"),
            ],
            // helm release `ack-<service>-controller` of chart `<service>-chart`.
            Component::AckIam => vec![
                crd("roles.iam.services.k8s.aws"),
                crd("policies.iam.services.k8s.aws"),
                deploy("ack-iam-controller-iam-chart"),
            ],
            Component::AckRds => vec![crd("dbinstances.rds.services.k8s.aws"), deploy("ack-rds-controller-rds-chart")],
            Component::AckSecretsManager => vec![
                crd("secrets.secretsmanager.services.k8s.aws"),
                deploy("ack-secretsmanager-controller-secretsmanager-chart"),
            ],
            Component::CrossplaneAws => vec![
                crd("providers.pkg.crossplane.io"),
                deploy("crossplane"),
                deploy("crossplane-rbac-manager"),
                Check::CrossplaneProviderHealthy { name: "provider-aws-iam".to_string() },
                crd("policies.iam.aws.upbound.io"),
                crd("providerconfigs.aws.upbound.io"),
                Check::Exists {
                    api_version: "aws.upbound.io/v1beta1".to_string(),
                    kind: "ProviderConfig".to_string(),
                    namespace: None,
                    name: "default".to_string(),
                },
            ],
        }
    }
}

impl Check {
    /// What the check is about, as people name it: `Deployment flux-system/source-controller`.
    pub fn subject(&self) -> String {
        match self {
            Check::CrdEstablished { name } => format!("CRD {name}"),
            Check::DeploymentAvailable { namespace, name } => format!("Deployment {namespace}/{name}"),
            Check::DaemonSetReady { namespace, name } => format!("DaemonSet {namespace}/{name}"),
            Check::CrossplaneProviderHealthy { name } => format!("Crossplane Provider {name}"),
            Check::Exists { kind, namespace: Some(ns), name, .. } => format!("{kind} {ns}/{name}"),
            Check::Exists { kind, namespace: None, name, .. } => format!("{kind} {name}"),
        }
    }
}

/// A check that does not hold, with the reason read from the object's status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unmet {
    pub check: Check,
    /// Starts with the check's subject: `Deployment flux-system/source-controller: 0/1 replicas
    /// available; Available=False (MinimumReplicasUnavailable: ...)`, `CRD x not found`.
    pub reason: String,
}

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Progress of [`wait`], reported after every round.
#[derive(Debug, Clone)]
pub struct WaitProgress {
    pub met: usize,
    pub total: usize,
    /// The checks still waited on, with their reasons.
    pub waiting: Vec<Unmet>,
    pub elapsed: std::time::Duration,
}

impl std::fmt::Display for WaitProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} ready after {}s", self.met, self.total, self.elapsed.as_secs())?;
        if !self.waiting.is_empty() {
            let names: Vec<String> = self.waiting.iter().map(|u| u.check.subject()).collect();
            write!(f, "; waiting for {}", names.join(", "))?;
        }
        Ok(())
    }
}

/// The platform did not become ready in time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the platform was not ready after {}s: {} of {total} checks unmet:\n{}", .elapsed.as_secs(), .unmet.len(), list(.unmet))]
pub struct WaitTimeout {
    pub elapsed: std::time::Duration,
    pub total: usize,
    pub unmet: Vec<Unmet>,
}

fn list(unmet: &[Unmet]) -> String {
    unmet.iter().map(|u| format!("  - {}", u.reason)).collect::<Vec<_>>().join("\n")
}

/// How [`wait_with`] polls.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    pub timeout: std::time::Duration,
    /// Time between two rounds (1 s by default).
    pub interval: std::time::Duration,
}

impl WaitOptions {
    pub fn new(timeout: std::time::Duration) -> WaitOptions {
        WaitOptions { timeout, interval: std::time::Duration::from_secs(1) }
    }
}

/// Evaluates every check once; returns those that do not hold (in the order given).
pub async fn evaluate(client: &kube::Client, checks: &[Check]) -> Vec<Unmet> {
    let mut unmet = Vec::new();
    for check in checks {
        if let Some(reason) = eval::check(client, check).await {
            unmet.push(Unmet { check: check.clone(), reason: format!("{}{reason}", check.subject()) });
        }
    }
    unmet
}

/// Polls [`evaluate`] until every check holds or `timeout` passes, reporting progress after
/// each round.
pub async fn wait(
    client: &kube::Client,
    checks: &[Check],
    timeout: std::time::Duration,
    progress: impl FnMut(&WaitProgress),
) -> Result<(), WaitTimeout> {
    wait_with(client, checks, WaitOptions::new(timeout), progress).await
}

/// [`wait`] with a chosen polling interval.
pub async fn wait_with(
    client: &kube::Client,
    checks: &[Check],
    options: WaitOptions,
    mut progress: impl FnMut(&WaitProgress),
) -> Result<(), WaitTimeout> {
    let started = std::time::Instant::now();
    loop {
        let unmet = evaluate(client, checks).await;
        let elapsed = started.elapsed();
        progress(&WaitProgress {
            met: checks.len() - unmet.len(),
            total: checks.len(),
            waiting: unmet.clone(),
            elapsed,
        });
        if unmet.is_empty() {
            return Ok(());
        }
        if elapsed >= options.timeout {
            return Err(WaitTimeout { elapsed, total: checks.len(), unmet });
        }
        // The last sleep ends at the timeout: the next look is the last one, so a status
        // written during the final interval still counts.
        let left = options.timeout.saturating_sub(elapsed);
        tokio::time::sleep(options.interval.min(left)).await;
    }
}

/// Reading the objects and wording their state. Each function returns `None` when the check
/// holds, else the reason after the subject (": 0/1 replicas available", " not found").
mod eval {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, ApiResource, DynamicObject};
    use kube::core::GroupVersionKind;
    use serde_json::Value;

    use super::Check;

    const NOT_FOUND: &str = " not found";

    fn api_error(e: &kube::Error) -> String {
        format!(": cannot be read: {e}")
    }

    async fn get<K>(api: Api<K>, name: &str) -> Result<Option<K>, String>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        api.get_opt(name).await.map_err(|e| api_error(&e))
    }

    /// `Type=Status (Reason: message)` of a condition in a JSON status, or a note that it is
    /// missing.
    fn condition(status: &Value, kind: &str) -> (bool, String) {
        let found = status["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"].as_str() == Some(kind)));
        match found {
            None => (false, format!("{kind} condition not reported yet")),
            Some(c) => {
                let s = c["status"].as_str().unwrap_or("Unknown");
                let reason = c["reason"].as_str().unwrap_or_default();
                let message = c["message"].as_str().unwrap_or_default();
                let detail = match (reason.is_empty(), message.is_empty()) {
                    (true, true) => String::new(),
                    (false, true) => format!(" ({reason})"),
                    (true, false) => format!(" ({message})"),
                    (false, false) => format!(" ({reason}: {message})"),
                };
                (s == "True", format!("{kind}={s}{detail}"))
            }
        }
    }

    fn json<T: serde::Serialize>(v: &T) -> Value {
        serde_json::to_value(v).unwrap_or(Value::Null)
    }

    /// Whether the controller has seen the latest spec (`None`) or a reason.
    fn generation(meta_generation: Option<i64>, observed: Option<i64>) -> Option<String> {
        match (meta_generation, observed) {
            (Some(g), Some(o)) if o < g => {
                Some(format!("the controller has not observed generation {g} yet (observed {o})"))
            }
            (Some(_), None) => Some("status not reported yet".to_string()),
            _ => None,
        }
    }

    pub async fn check(client: &kube::Client, check: &Check) -> Option<String> {
        match check {
            Check::CrdEstablished { name } => {
                let crd = match get(Api::<CustomResourceDefinition>::all(client.clone()), name).await {
                    Ok(Some(c)) => c,
                    Ok(None) => return Some(NOT_FOUND.into()),
                    Err(e) => return Some(e),
                };
                let (ok, text) = condition(&json(&crd.status), "Established");
                (!ok).then(|| format!(": {text}"))
            }
            Check::DeploymentAvailable { namespace, name } => {
                let d = match get(Api::<Deployment>::namespaced(client.clone(), namespace), name).await {
                    Ok(Some(d)) => d,
                    Ok(None) => return Some(NOT_FOUND.into()),
                    Err(e) => return Some(e),
                };
                let desired = d.spec.replicas.unwrap_or(1);
                let status = d.status.clone().unwrap_or_default();
                let available = status.available_replicas.unwrap_or(0);
                let updated = status.updated_replicas.unwrap_or(0);
                let (cond_ok, cond) = condition(&json(&d.status), "Available");
                let mut why = Vec::new();
                if let Some(g) = generation(d.metadata.generation, status.observed_generation) {
                    why.push(g);
                }
                if updated < desired {
                    why.push(format!("{updated}/{desired} replicas updated"));
                }
                if available < desired || !cond_ok {
                    why.push(format!("{available}/{desired} replicas available; {cond}"));
                }
                (!why.is_empty()).then(|| format!(": {}", why.join("; ")))
            }
            Check::DaemonSetReady { namespace, name } => {
                let d = match get(Api::<DaemonSet>::namespaced(client.clone(), namespace), name).await {
                    Ok(Some(d)) => d,
                    Ok(None) => return Some(NOT_FOUND.into()),
                    Err(e) => return Some(e),
                };
                let Some(s) = d.status.clone() else { return Some(": status not reported yet".into()) };
                let mut why = Vec::new();
                if let Some(g) = generation(d.metadata.generation, s.observed_generation) {
                    why.push(g);
                }
                let desired = s.desired_number_scheduled;
                if desired == 0 {
                    why.push("no pods scheduled (0 desired: no node matches)".to_string());
                }
                if s.number_ready < desired {
                    why.push(format!("{}/{desired} pods ready", s.number_ready));
                }
                let updated = s.updated_number_scheduled.unwrap_or(0);
                if updated < desired {
                    why.push(format!("{updated}/{desired} pods updated"));
                }
                if s.number_misscheduled > 0 {
                    why.push(format!("{} pods running where they should not", s.number_misscheduled));
                }
                (!why.is_empty()).then(|| format!(": {}", why.join("; ")))
            }
            Check::CrossplaneProviderHealthy { name } => {
                let ar = ApiResource::from_gvk_with_plural(
                    &GroupVersionKind::gvk("pkg.crossplane.io", "v1", "Provider"),
                    "providers",
                );
                let p = match get(Api::<DynamicObject>::all_with(client.clone(), &ar), name).await {
                    Ok(Some(p)) => p,
                    Ok(None) => return Some(NOT_FOUND.into()),
                    Err(e) => return Some(e),
                };
                let status = p.data.get("status").cloned().unwrap_or(Value::Null);
                let (installed, i) = condition(&status, "Installed");
                let (healthy, h) = condition(&status, "Healthy");
                (!(installed && healthy)).then(|| format!(": {i}, {h}"))
            }
            Check::Exists { api_version, kind, namespace, name } => {
                let (group, version) = match api_version.split_once('/') {
                    Some((g, v)) => (g, v),
                    None => ("", api_version.as_str()),
                };
                let gvk = GroupVersionKind::gvk(group, version, kind);
                let ar = match kube::discovery::pinned_kind(client, &gvk).await {
                    Ok((ar, _)) => ar,
                    Err(kube::Error::Discovery(_)) => {
                        return Some(format!(" not found: the API server does not serve {api_version} {kind}"))
                    }
                    Err(kube::Error::Api(s)) if s.code == 404 => {
                        return Some(format!(" not found: the API server does not serve {api_version} {kind}"))
                    }
                    Err(e) => return Some(api_error(&e)),
                };
                let api = match namespace {
                    Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar),
                    None => Api::<DynamicObject>::all_with(client.clone(), &ar),
                };
                match get(api, name).await {
                    Ok(Some(_)) => None,
                    Ok(None) => Some(NOT_FOUND.into()),
                    Err(e) => Some(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod installed_tests {
    use super::Component;

    #[test]
    fn the_installed_profile_is_the_inverse_of_the_profiles_components() {
        assert_eq!(Component::of_profile(&Component::installed_profile(&[])), Component::ALL.to_vec());
        for subset in [vec![Component::Gatekeeper], vec![Component::Flux, Component::Csi], Component::ALL.to_vec()] {
            let p = Component::installed_profile(&subset);
            assert_eq!(Component::of_profile(&p), subset, "{subset:?}");
        }
        let p = Component::installed_profile(&[Component::Gatekeeper]);
        assert!(p.flux.is_none() && p.csi.is_none() && p.gatekeeper.is_some());
    }
}
