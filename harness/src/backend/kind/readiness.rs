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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
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
