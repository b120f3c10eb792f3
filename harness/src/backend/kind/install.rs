//! The install plan: which platform components a profile needs, in which order, with which
//! pinned chart or manifest and which values, and what to wait for after each. Values are
//! typed structs rendered to YAML (each field checked against the chart's values.yaml, cited
//! on the struct). The plan is data: `kind up --dry-run` prints it, `kind up` runs its
//! commands. This module must not run anything or talk to a cluster.
//!
//! Ordering: a step runs after the steps it depends on, and a step that creates objects of a
//! custom kind comes after the step whose CRDs define it (Crossplane before its Provider,
//! the Provider before its ProviderConfig; the CSI driver before the AWS provider).

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use sim::platform::Profile;

use super::cluster_wiring::{self, Interception, PatchTarget};
use super::docker::CommandLine;
use super::emulator::EmulatorSpec;
use super::readiness::{Check, Component};
use super::versions::{self, Chart, ChartSource};

/// The access key pair the controllers present to the emulator (not a secret: emulators accept
/// any pair; moto acts in its default account).
pub const EMULATOR_ACCESS_KEY: &str = "test";
pub const EMULATOR_SECRET_KEY: &str = "test";
/// The credentials Secret (a shared-credentials file under key `credentials`, profile
/// `default`) in each namespace whose controllers call AWS.
pub const CREDENTIALS_SECRET: &str = "idp-harness-aws-credentials";
pub const CREDENTIALS_KEY: &str = "credentials";
/// ACK's resync period in tests (default 36000 s, ten hours).
pub const ACK_RESYNC_SECONDS: u32 = 60;
/// How long a readiness wait may take (cold nodes: platform-facts §7 reports up to 300 s).
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(300);

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// `kubectl apply -f <url>`.
    ApplyUrl { url: String },
    /// `kubectl apply -f -` of these objects.
    Apply { objects: Vec<Value> },
    /// `helm upgrade --install`.
    Helm(HelmRelease),
    /// A strategic-merge patch of a workload.
    Patch { target: PatchTarget, patch: Value },
    /// Read the `coredns` ConfigMap, add the rewrite lines (cluster_wiring::edit_corefile),
    /// write it back; CoreDNS's `reload` picks it up.
    CorednsRewrite { hosts: Vec<String> },
}

/// A Helm release.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmRelease {
    pub release: &'static str,
    pub namespace: &'static str,
    pub chart: Chart,
    /// The values, rendered to YAML.
    pub values: String,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<Component>,
    #[serde(flatten)]
    pub action: Action,
    pub depends_on: Vec<&'static str>,
    /// What must hold before the next steps start.
    pub waits: Vec<Check>,
}

/// The ordered steps and notes about the pins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// For example a profile asking for another minor version than the one pinned.
    pub notes: Vec<String>,
}

// ---- values (typed, one struct per chart) ----

/// secrets-store-csi-driver values (charts/secrets-store-csi-driver/values.yaml, v1.6.0:
/// `syncSecret.enabled`, `tokenRequests[].audience`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CsiDriverValues {
    pub sync_secret: Enabled,
    pub token_requests: Vec<Audience>,
}

#[derive(Debug, Serialize)]
pub struct Enabled {
    pub enabled: bool,
}

#[derive(Debug, Serialize)]
pub struct Audience {
    pub audience: String,
}

/// secrets-store-csi-driver-provider-aws values (charts/secrets-store-csi-driver-provider-aws/
/// values.yaml, 3.1.1: `awsRegion`; `secrets-store-csi-driver.install`, true by default, would
/// install a second driver as a subchart under another name, so it is off: the driver is its
/// own release). The chart has no extra-env or extra-volume values: `SSL_CERT_FILE` and the
/// CA volume are added by a patch (cluster_wiring::ASCP).
#[derive(Debug, Serialize)]
pub struct AscpValues {
    #[serde(rename = "awsRegion")]
    pub aws_region: String,
    #[serde(rename = "secrets-store-csi-driver")]
    pub driver: Install,
}

#[derive(Debug, Serialize)]
pub struct Install {
    pub install: bool,
}

/// ACK controller values (helm/values.yaml of iam-controller v1.8.1, the same in rds and
/// secretsmanager: `aws.region`, `aws.endpoint_url`, `aws.identity_endpoint_url`,
/// `aws.allow_unsafe_aws_endpoint_urls`, `aws.credentials.{secretName,secretKey,profile}`,
/// `reconcile.defaultResyncPeriod`).
#[derive(Debug, Serialize)]
pub struct AckValues {
    pub aws: AckAws,
    pub reconcile: AckReconcile,
}

#[derive(Debug, Serialize)]
pub struct AckAws {
    pub region: String,
    pub endpoint_url: String,
    /// STS GetCallerIdentity runs at start-up and is fatal if it fails (platform-facts §3).
    pub identity_endpoint_url: String,
    /// Needed for an http endpoint.
    pub allow_unsafe_aws_endpoint_urls: bool,
    pub credentials: AckCredentials,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AckCredentials {
    pub secret_name: String,
    pub secret_key: String,
    pub profile: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AckReconcile {
    pub default_resync_period: u32,
}

fn to_yaml<T: Serialize>(v: &T) -> String {
    // Serialising these plain structs cannot fail; an error would be a bug, shown in the plan.
    super::config::to_yaml(v).unwrap_or_else(|e| format!("# cannot render values: {e}\n"))
}

/// What the plan is made from.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub profile: &'a Profile,
    pub emulator: &'a EmulatorSpec,
    /// The region (the profile's, else the harness default).
    pub region: String,
}

impl PlanInput<'_> {
    fn ack(&self) -> AckValues {
        let endpoint = self.emulator.cluster_endpoint();
        AckValues {
            aws: AckAws {
                region: self.region.clone(),
                endpoint_url: endpoint.clone(),
                identity_endpoint_url: endpoint,
                allow_unsafe_aws_endpoint_urls: true,
                credentials: AckCredentials {
                    secret_name: CREDENTIALS_SECRET.into(),
                    secret_key: CREDENTIALS_KEY.into(),
                    profile: "default".into(),
                },
            },
            reconcile: AckReconcile { default_resync_period: ACK_RESYNC_SECONDS },
        }
    }
}

/// The shared-credentials file the ACK controllers and the Crossplane provider read.
pub fn credentials_file() -> String {
    format!("[default]\naws_access_key_id = {EMULATOR_ACCESS_KEY}\naws_secret_access_key = {EMULATOR_SECRET_KEY}\n")
}

fn credentials_objects(namespaces: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for ns in namespaces {
        out.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        out.push(json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": CREDENTIALS_SECRET, "namespace": ns},
            "stringData": {CREDENTIALS_KEY: credentials_file()}
        }));
    }
    out
}

/// The checks of `c`, split by a predicate on the check (for components installed in two
/// steps, like the CSI driver and its AWS provider).
fn checks_where(c: Component, keep: impl Fn(&Check) -> bool) -> Vec<Check> {
    c.checks().into_iter().filter(|k| keep(k)).collect()
}

fn is_ascp(k: &Check) -> bool {
    matches!(k, Check::DaemonSetReady { name, .. } if name.contains("provider-aws"))
}

fn is_provider_stage(k: &Check) -> bool {
    match k {
        Check::CrossplaneProviderHealthy { .. } => true,
        Check::CrdEstablished { name } => name.ends_with(".aws.upbound.io"),
        _ => false,
    }
}

fn is_provider_config(k: &Check) -> bool {
    matches!(k, Check::Exists { kind, .. } if kind == "ProviderConfig")
}

/// `major.minor` of a version string (`v2.9.4` → `2.9`).
fn minor(v: &str) -> String {
    v.trim_start_matches('v').split('.').take(2).collect::<Vec<_>>().join(".")
}

fn version_note(what: &str, asked: &Option<String>, pinned: &str, notes: &mut Vec<String>) {
    if let Some(a) = asked {
        let a_norm = a.trim_start_matches('v');
        if !pinned.trim_start_matches('v').starts_with(a_norm) && minor(a_norm) != minor(pinned) {
            notes.push(format!("the profile asks for {what} {a}; the kind backend installs the pinned {pinned}"));
        }
    }
}

/// The plan for a profile.
pub fn plan(input: &PlanInput) -> Plan {
    let p = input.profile;
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let ack_any = p.ack_iam.is_some() || p.ack_rds.is_some() || p.ack_secretsmanager.is_some();

    let mut cred_ns = Vec::new();
    if ack_any {
        cred_ns.push(Component::AckIam.namespace());
    }
    if p.crossplane_aws.is_some() {
        cred_ns.push(Component::CrossplaneAws.namespace());
    }
    if !cred_ns.is_empty() {
        steps.push(Step {
            id: "aws-credentials",
            component: None,
            action: Action::Apply { objects: credentials_objects(&cred_ns) },
            depends_on: vec![],
            waits: vec![],
        });
    }

    if p.flux.is_some() {
        version_note("Flux", &p.flux, versions::FLUX_VERSION, &mut notes);
        steps.push(Step {
            id: "flux",
            component: Some(Component::Flux),
            action: Action::ApplyUrl { url: versions::flux_install_url() },
            depends_on: vec![],
            waits: Component::Flux.checks(),
        });
    }

    if p.gatekeeper.is_some() {
        version_note("Gatekeeper", &p.gatekeeper, versions::GATEKEEPER_CHART.version, &mut notes);
        steps.push(Step {
            id: "gatekeeper",
            component: Some(Component::Gatekeeper),
            action: Action::Helm(HelmRelease {
                release: "gatekeeper",
                namespace: Component::Gatekeeper.namespace(),
                chart: versions::GATEKEEPER_CHART,
                values: String::new(),
            }),
            depends_on: vec![],
            waits: Component::Gatekeeper.checks(),
        });
    }

    if p.csi.is_some() {
        version_note("the Secrets Store CSI driver", &p.csi, versions::CSI_DRIVER_CHART.version, &mut notes);
        let values = CsiDriverValues {
            sync_secret: Enabled { enabled: true },
            token_requests: vec![Audience { audience: super::config::STS_AUDIENCE.into() }],
        };
        steps.push(Step {
            id: "csi-driver",
            component: Some(Component::Csi),
            action: Action::Helm(HelmRelease {
                release: "csi-secrets-store",
                namespace: Component::Csi.namespace(),
                chart: versions::CSI_DRIVER_CHART,
                values: to_yaml(&values),
            }),
            depends_on: vec![],
            waits: checks_where(Component::Csi, |k| !is_ascp(k)),
        });
        let values = AscpValues { aws_region: input.region.clone(), driver: Install { install: false } };
        steps.push(Step {
            id: "csi-provider-aws",
            component: Some(Component::Csi),
            action: Action::Helm(HelmRelease {
                release: "secrets-provider-aws",
                namespace: Component::Csi.namespace(),
                chart: versions::ASCP_CHART,
                values: to_yaml(&values),
            }),
            depends_on: vec!["csi-driver"],
            waits: checks_where(Component::Csi, is_ascp),
        });
    }

    let acks = [
        ("ack-iam", Component::AckIam, &p.ack_iam, "ack-iam-controller", versions::ACK_IAM_CHART),
        ("ack-rds", Component::AckRds, &p.ack_rds, "ack-rds-controller", versions::ACK_RDS_CHART),
        (
            "ack-secretsmanager",
            Component::AckSecretsManager,
            &p.ack_secretsmanager,
            "ack-secretsmanager-controller",
            versions::ACK_SECRETSMANAGER_CHART,
        ),
    ];
    for (id, component, asked, release, chart) in acks {
        if asked.is_none() {
            continue;
        }
        version_note(release, asked, chart.version, &mut notes);
        steps.push(Step {
            id,
            component: Some(component),
            action: Action::Helm(HelmRelease {
                release,
                namespace: component.namespace(),
                chart,
                values: to_yaml(&input.ack()),
            }),
            depends_on: vec!["aws-credentials"],
            waits: component.checks(),
        });
    }

    if p.crossplane_aws.is_some() {
        let ns = Component::CrossplaneAws.namespace();
        steps.push(Step {
            id: "crossplane",
            component: Some(Component::CrossplaneAws),
            action: Action::Helm(HelmRelease {
                release: "crossplane",
                namespace: ns,
                chart: versions::CROSSPLANE_CHART,
                values: String::new(),
            }),
            depends_on: vec![],
            waits: checks_where(Component::CrossplaneAws, |k| !is_provider_stage(k) && !is_provider_config(k)),
        });
        steps.push(Step {
            id: "crossplane-provider-aws-iam",
            component: Some(Component::CrossplaneAws),
            action: Action::Apply {
                objects: vec![json!({
                    "apiVersion": "pkg.crossplane.io/v1", "kind": "Provider",
                    "metadata": {"name": "provider-aws-iam"},
                    "spec": {"package": versions::PROVIDER_AWS_IAM_PACKAGE}
                })],
            },
            depends_on: vec!["crossplane"],
            waits: checks_where(Component::CrossplaneAws, is_provider_stage),
        });
        steps.push(Step {
            id: "crossplane-providerconfig",
            component: Some(Component::CrossplaneAws),
            action: Action::Apply { objects: vec![provider_config(input, ns)] },
            depends_on: vec!["crossplane-provider-aws-iam", "aws-credentials"],
            waits: checks_where(Component::CrossplaneAws, is_provider_config),
        });
    }
    Plan { steps, notes }
}

/// The ProviderConfig `default` (provider-upjet-aws apis/cluster/v1beta1/types.go, v2.6.0):
/// credentials from the Secret, every service at the emulator, and the checks an emulator
/// cannot pass turned off.
fn provider_config(input: &PlanInput, ns: &str) -> Value {
    json!({
        "apiVersion": "aws.upbound.io/v1beta1", "kind": "ProviderConfig",
        "metadata": {"name": "default"},
        "spec": {
            "credentials": {
                "source": "Secret",
                "secretRef": {"namespace": ns, "name": CREDENTIALS_SECRET, "key": CREDENTIALS_KEY}
            },
            "endpoint": {
                "url": {"type": "Static", "static": input.emulator.cluster_endpoint()},
                "hostnameImmutable": true,
                "services": ["iam", "sts"]
            },
            "skip_credentials_validation": true,
            "skip_metadata_api_check": true,
            "skip_region_validation": true,
            "skip_requesting_account_id": false,
            "s3_use_path_style": true
        }
    })
}

/// The steps that wire the cluster to the host-side interception server (run by whoever
/// starts that server, once its port and CA are known): the Service, EndpointSlice and CA
/// ConfigMaps, the CoreDNS rewrites, and the trust patches of the workloads that need them.
pub fn interception_steps(profile: &Profile, wiring: &Interception) -> Vec<Step> {
    let mut ca_ns = Vec::new();
    let mut targets = Vec::new();
    if profile.flux.is_some() {
        ca_ns.push(cluster_wiring::SOURCE_CONTROLLER.namespace);
        targets.push(("trust-source-controller", cluster_wiring::SOURCE_CONTROLLER, "flux"));
    }
    if profile.csi.is_some() {
        ca_ns.push(cluster_wiring::ASCP.namespace);
        targets.push(("trust-csi-provider-aws", cluster_wiring::ASCP, "csi-provider-aws"));
    }
    let mut steps = vec![
        Step {
            id: "interception-service",
            component: None,
            action: Action::Apply { objects: wiring.objects(&ca_ns) },
            depends_on: vec![],
            waits: vec![],
        },
        Step {
            id: "interception-dns",
            component: None,
            action: Action::CorednsRewrite { hosts: wiring.hosts.clone() },
            depends_on: vec!["interception-service"],
            waits: vec![Check::DeploymentAvailable { namespace: "kube-system".into(), name: "coredns".into() }],
        },
    ];
    for (id, target, after) in targets {
        let waits = vec![match target.kind {
            "daemonset" => Check::DaemonSetReady { namespace: target.namespace.into(), name: target.name.into() },
            _ => Check::DeploymentAvailable { namespace: target.namespace.into(), name: target.name.into() },
        }];
        steps.push(Step {
            id,
            component: None,
            action: Action::Patch {
                target: target.clone(),
                patch: cluster_wiring::trust_patch(target.container, &extra_env(&target, wiring)),
            },
            depends_on: vec!["interception-service", after],
            waits,
        });
    }
    steps
}

/// Environment a patched workload needs besides `SSL_CERT_FILE`: the AWS provider's Secrets
/// Manager endpoint (the emulator).
fn extra_env<'a>(target: &cluster_wiring::PatchTarget, wiring: &'a Interception) -> Vec<(&'static str, &'a str)> {
    match &wiring.aws_endpoint {
        Some(e) if *target == cluster_wiring::ASCP => vec![("AWS_ENDPOINT_URL_SECRETS_MANAGER", e.as_str())],
        _ => Vec::new(),
    }
}

/// Why a plan's order is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step {step} depends on {missing}, which does not come before it")]
pub struct OrderError {
    pub step: String,
    pub missing: String,
}

/// Every dependency of a step comes earlier in `steps`, or is absent from the plan entirely
/// (a profile without AWS components has no `aws-credentials` step; with ACK it must exist).
pub fn check_order(steps: &[Step]) -> Result<(), OrderError> {
    for (i, s) in steps.iter().enumerate() {
        for d in &s.depends_on {
            let before = steps[..i].iter().any(|p| p.id == *d);
            let anywhere = steps.iter().any(|p| p.id == *d);
            if anywhere && !before {
                return Err(OrderError { step: s.id.into(), missing: (*d).into() });
            }
        }
    }
    Ok(())
}

// ---- commands ----

/// The commands of a step against kubectl context `context`. `CorednsRewrite` has none: it is
/// a read-edit-write done by the caller ([`coredns_get`], [`coredns_replace`]).
pub fn commands(step: &Step, context: &str) -> Vec<CommandLine> {
    let kubectl = |args: &[&str]| {
        let mut a = vec!["--context".to_string(), context.to_string()];
        a.extend(args.iter().map(|s| s.to_string()));
        CommandLine::new("kubectl", a)
    };
    match &step.action {
        Action::ApplyUrl { url } => vec![kubectl(&["apply", "-f", url])],
        Action::Apply { objects } => vec![kubectl(&["apply", "-f", "-"]).with_stdin(manifest(objects))],
        Action::Helm(h) => vec![helm(h, context)],
        Action::Patch { target, patch } => vec![kubectl(&[
            "-n",
            target.namespace,
            "patch",
            target.kind,
            target.name,
            "--type",
            "strategic",
            "-p",
            &patch.to_string(),
        ])],
        Action::CorednsRewrite { .. } => vec![],
    }
}

/// `helm upgrade --install` of a release, values on stdin. No `--wait`: the plan's checks are
/// waited for instead, with progress.
pub fn helm(h: &HelmRelease, context: &str) -> CommandLine {
    let mut args: Vec<String> = vec!["upgrade".into(), "--install".into(), h.release.into()];
    match h.chart.source {
        ChartSource::Repo { url, chart } => args.extend([chart.to_string(), "--repo".into(), url.into()]),
        ChartSource::Oci { reference } => args.push(reference.into()),
    }
    args.extend([
        "--version".into(),
        h.chart.version.into(),
        "--namespace".into(),
        h.namespace.into(),
        "--create-namespace".into(),
        "--kube-context".into(),
        context.into(),
    ]);
    let cmd = if h.values.trim().is_empty() {
        CommandLine::new("helm", args)
    } else {
        args.extend(["--values".into(), "-".into()]);
        CommandLine::new("helm", args).with_stdin(h.values.clone())
    };
    cmd
}

/// Objects as one multi-document YAML manifest.
pub fn manifest(objects: &[Value]) -> String {
    objects.iter().map(to_yaml).collect::<Vec<_>>().join("---\n")
}

/// `kubectl get configmap coredns -o json`.
pub fn coredns_get(context: &str) -> CommandLine {
    CommandLine::new(
        "kubectl",
        ["--context", context, "-n", "kube-system", "get", "configmap", "coredns", "-o", "json"],
    )
}

/// The ConfigMap JSON with its Corefile edited, for `kubectl replace -f -`.
pub fn coredns_edit(configmap_json: &str, hosts: &[String]) -> Result<String, String> {
    let mut cm: Value =
        serde_json::from_str(configmap_json).map_err(|e| format!("the coredns ConfigMap is not JSON: {e}"))?;
    let corefile = cm["data"]["Corefile"].as_str().ok_or("the coredns ConfigMap has no data.Corefile")?;
    let edited = cluster_wiring::edit_corefile(corefile, hosts).map_err(|e| e.to_string())?;
    cm["data"]["Corefile"] = Value::String(edited);
    Ok(cm.to_string())
}

/// `kubectl replace -f -` of the edited ConfigMap (the resourceVersion it carries makes a
/// concurrent change fail instead of being lost).
pub fn coredns_replace(context: &str, edited_json: String) -> CommandLine {
    CommandLine::new("kubectl", ["--context", context, "replace", "-f", "-"]).with_stdin(edited_json)
}

/// A command that succeeds once `check` holds (each is retried until the wait's deadline:
/// `kubectl wait` on an object that does not exist yet fails at once).
pub fn wait_command(check: &Check, context: &str, timeout: Duration) -> CommandLine {
    let t = format!("--timeout={}s", timeout.as_secs());
    let mut a: Vec<String> = vec!["--context".into(), context.into()];
    match check {
        Check::CrdEstablished { name } => {
            a.extend(["wait".into(), "--for=condition=Established".into(), format!("crd/{name}"), t]);
        }
        Check::DeploymentAvailable { namespace, name } => {
            a.extend([
                "-n".into(),
                namespace.clone(),
                "rollout".into(),
                "status".into(),
                format!("deployment/{name}"),
                t,
            ]);
        }
        Check::DaemonSetReady { namespace, name } => {
            a.extend([
                "-n".into(),
                namespace.clone(),
                "rollout".into(),
                "status".into(),
                format!("daemonset/{name}"),
                t,
            ]);
        }
        Check::CrossplaneProviderHealthy { name } => {
            a.extend([
                "wait".into(),
                // Healthy is set once the installed revision runs (Installed comes first).
                "--for=condition=Healthy".into(),
                format!("providers.pkg.crossplane.io/{name}"),
                t,
            ]);
        }
        Check::Exists { api_version, kind, namespace, name } => {
            if let Some(ns) = namespace {
                a.extend(["-n".into(), ns.clone()]);
            }
            let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
            let resource =
                if group.is_empty() { kind.to_lowercase() } else { format!("{}.{group}", kind.to_lowercase()) };
            a.extend(["get".into(), format!("{resource}/{name}"), "-o".into(), "name".into()]);
        }
    }
    CommandLine::new("kubectl", a)
}

/// Images the plan's pods run, for preloading (Crossplane's provider package is pulled by
/// Crossplane itself; the Flux images are those of the pinned release).
pub fn images(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &plan.steps {
        let list: Vec<String> = match s.id {
            "flux" => versions::FLUX_IMAGES.iter().map(|s| s.to_string()).collect(),
            "gatekeeper" => versions::GATEKEEPER_IMAGES.iter().map(|s| s.to_string()).collect(),
            "csi-driver" => versions::CSI_DRIVER_IMAGES.iter().map(|s| s.to_string()).collect(),
            "csi-provider-aws" => versions::ASCP_IMAGES.iter().map(|s| s.to_string()).collect(),
            "ack-iam" => vec![versions::ack_image("iam", &versions::ACK_IAM_CHART)],
            "ack-rds" => vec![versions::ack_image("rds", &versions::ACK_RDS_CHART)],
            "ack-secretsmanager" => vec![versions::ack_image("secretsmanager", &versions::ACK_SECRETSMANAGER_CHART)],
            "crossplane" => versions::CROSSPLANE_IMAGES.iter().map(|s| s.to_string()).collect(),
            _ => vec![],
        };
        for i in list {
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::kind::emulator::Emulator;

    fn full() -> (Profile, EmulatorSpec) {
        (Profile::default(), EmulatorSpec::new(Emulator::Moto, "idp-harness", false))
    }

    fn step<'a>(p: &'a Plan, id: &str) -> &'a Step {
        p.steps.iter().find(|s| s.id == id).unwrap_or_else(|| panic!("no step {id}"))
    }

    fn values(s: &Step) -> Value {
        match &s.action {
            Action::Helm(h) => serde_saphyr::from_str(&h.values).unwrap(),
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn the_full_profile_installs_everything_in_a_valid_order() {
        let (profile, emu) = full();
        let p = plan(&PlanInput { profile: &profile, emulator: &emu, region: "us-east-1".into() });
        let ids: Vec<&str> = p.steps.iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            vec![
                "aws-credentials",
                "flux",
                "gatekeeper",
                "csi-driver",
                "csi-provider-aws",
                "ack-iam",
                "ack-rds",
                "ack-secretsmanager",
                "crossplane",
                "crossplane-provider-aws-iam",
                "crossplane-providerconfig"
            ]
        );
        check_order(&p.steps).unwrap();
        // Every check of every component is waited for exactly once.
        let mut waited: Vec<Check> = p.steps.iter().flat_map(|s| s.waits.clone()).collect();
        let mut all: Vec<Check> = Component::ALL.iter().flat_map(|c| c.checks()).collect();
        let key = |c: &Check| serde_json::to_string(c).unwrap();
        waited.sort_by_key(key);
        all.sort_by_key(key);
        assert_eq!(waited, all);
        // The CRD-providing stage waits for the CRDs the next stage's objects need.
        assert!(step(&p, "crossplane")
            .waits
            .contains(&Check::CrdEstablished { name: "providers.pkg.crossplane.io".into() }));
        assert!(step(&p, "crossplane-provider-aws-iam")
            .waits
            .contains(&Check::CrdEstablished { name: "providerconfigs.aws.upbound.io".into() }));
    }

    #[test]
    fn a_misordered_plan_is_caught() {
        let (profile, emu) = full();
        let mut p = plan(&PlanInput { profile: &profile, emulator: &emu, region: "us-east-1".into() });
        let i = p.steps.iter().position(|s| s.id == "crossplane").unwrap();
        let s = p.steps.remove(i);
        p.steps.push(s);
        let e = check_order(&p.steps).unwrap_err();
        assert_eq!(e.step, "crossplane-provider-aws-iam");
        assert_eq!(e.missing, "crossplane");
    }

    #[test]
    fn csi_values_request_the_sts_audience_and_sync_secrets() {
        let (profile, emu) = full();
        let p = plan(&PlanInput { profile: &profile, emulator: &emu, region: "eu-west-1".into() });
        let v = values(step(&p, "csi-driver"));
        assert_eq!(v["syncSecret"]["enabled"], true);
        assert_eq!(v["tokenRequests"], json!([{"audience": "sts.amazonaws.com"}]));
        let v = values(step(&p, "csi-provider-aws"));
        assert_eq!(v["awsRegion"], "eu-west-1");
        assert_eq!(v["secrets-store-csi-driver"]["install"], false);
        assert_eq!(step(&p, "csi-provider-aws").depends_on, vec!["csi-driver"]);
    }

    #[test]
    fn ack_values_point_at_the_emulator() {
        let (profile, emu) = full();
        let p = plan(&PlanInput { profile: &profile, emulator: &emu, region: "us-east-1".into() });
        for id in ["ack-iam", "ack-rds", "ack-secretsmanager"] {
            let v = values(step(&p, id));
            assert_eq!(v["aws"]["endpoint_url"], "http://idp-harness-aws:5000", "{id}");
            assert_eq!(v["aws"]["identity_endpoint_url"], "http://idp-harness-aws:5000");
            assert_eq!(v["aws"]["allow_unsafe_aws_endpoint_urls"], true);
            assert_eq!(v["aws"]["region"], "us-east-1");
            assert_eq!(v["aws"]["credentials"]["secretName"], CREDENTIALS_SECRET);
            assert_eq!(v["aws"]["credentials"]["secretKey"], CREDENTIALS_KEY);
            assert_eq!(v["reconcile"]["defaultResyncPeriod"], 60);
        }
        let creds = match &step(&p, "aws-credentials").action {
            Action::Apply { objects } => objects.clone(),
            a => panic!("{a:?}"),
        };
        let secrets: Vec<&Value> = creds.iter().filter(|o| o["kind"] == "Secret").collect();
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets[0]["metadata"]["namespace"], "ack-system");
        assert!(secrets[0]["stringData"][CREDENTIALS_KEY]
            .as_str()
            .unwrap()
            .starts_with("[default]\naws_access_key_id = "));
    }

    #[test]
    fn crossplane_gets_a_provider_and_a_providerconfig_for_the_emulator() {
        let (profile, emu) = full();
        let p = plan(&PlanInput { profile: &profile, emulator: &emu, region: "us-east-1".into() });
        let obj = |id| match &step(&p, id).action {
            Action::Apply { objects } => objects[0].clone(),
            a => panic!("{a:?}"),
        };
        let provider = obj("crossplane-provider-aws-iam");
        assert_eq!(provider["apiVersion"], "pkg.crossplane.io/v1");
        assert_eq!(provider["spec"]["package"], versions::PROVIDER_AWS_IAM_PACKAGE);
        let pc = obj("crossplane-providerconfig");
        assert_eq!(pc["apiVersion"], "aws.upbound.io/v1beta1");
        assert_eq!(pc["metadata"]["name"], "default");
        assert_eq!(pc["spec"]["endpoint"]["url"]["static"], "http://idp-harness-aws:5000");
        assert_eq!(pc["spec"]["credentials"]["secretRef"]["namespace"], "crossplane-system");
    }

    #[test]
    fn the_profile_decides_what_is_installed() {
        let profile = Profile { flux: Some("2.8".into()), ..Profile::bare() };
        let emu = EmulatorSpec::new(Emulator::Moto, "c", false);
        let p = plan(&PlanInput { profile: &profile, emulator: &emu, region: "us-east-1".into() });
        assert_eq!(p.steps.iter().map(|s| s.id).collect::<Vec<_>>(), vec!["flux"]);
        assert_eq!(p.notes, vec!["the profile asks for Flux 2.8; the kind backend installs the pinned v2.9.4"]);
        assert_eq!(images(&p), versions::FLUX_IMAGES.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn commands_are_what_helm_and_kubectl_expect() {
        let (profile, emu) = full();
        let p = plan(&PlanInput { profile: &profile, emulator: &emu, region: "us-east-1".into() });
        let c = &commands(step(&p, "ack-iam"), "kind-idp-harness")[0];
        assert_eq!(
            c.to_string(),
            "helm upgrade --install ack-iam-controller oci://public.ecr.aws/aws-controllers-k8s/iam-chart --version 1.8.1 --namespace ack-system --create-namespace --kube-context kind-idp-harness --values - <<< (11 lines on stdin)"
        );
        let c = &commands(step(&p, "gatekeeper"), "kind-x")[0];
        assert!(c.to_string().starts_with("helm upgrade --install gatekeeper gatekeeper --repo https://open-policy-agent.github.io/gatekeeper/charts --version 3.23.0 "), "{c}");
        assert!(c.stdin.is_none());
        let c = &commands(step(&p, "flux"), "kind-x")[0];
        assert_eq!(
            c.to_string(),
            "kubectl --context kind-x apply -f https://github.com/fluxcd/flux2/releases/download/v2.9.4/install.yaml"
        );
    }

    #[test]
    fn wait_commands_follow_the_checks() {
        let ctx = "kind-x";
        let t = Duration::from_secs(300);
        let s = |c: Check| wait_command(&c, ctx, t).to_string();
        assert_eq!(
            s(Check::CrdEstablished { name: "a.b".into() }),
            "kubectl --context kind-x wait --for=condition=Established crd/a.b --timeout=300s"
        );
        assert_eq!(
            s(Check::DaemonSetReady { namespace: "kube-system".into(), name: "d".into() }),
            "kubectl --context kind-x -n kube-system rollout status daemonset/d --timeout=300s"
        );
        assert_eq!(
            s(Check::Exists {
                api_version: "aws.upbound.io/v1beta1".into(),
                kind: "ProviderConfig".into(),
                namespace: None,
                name: "default".into()
            }),
            "kubectl --context kind-x get providerconfig.aws.upbound.io/default -o name"
        );
    }

    #[test]
    fn interception_steps_wire_dns_service_and_trust() {
        let profile = Profile::default();
        let wiring = Interception {
            gateway: std::net::Ipv4Addr::new(172, 18, 0, 1),
            port: 8443,
            hosts: vec!["github.com".into(), "sts.us-east-1.amazonaws.com".into()],
            ca_pem: "PEM".into(),
            extra_roots: None,
            aws_endpoint: Some("http://idp-harness-aws:5000".into()),
        };
        let steps = interception_steps(&profile, &wiring);
        let ids: Vec<&str> = steps.iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            vec!["interception-service", "interception-dns", "trust-source-controller", "trust-csi-provider-aws"]
        );
        let c = &commands(&steps[3], "kind-x")[0];
        assert!(c.to_string().contains("AWS_ENDPOINT_URL_SECRETS_MANAGER"), "{c}");
        assert!(!commands(&steps[2], "kind-x")[0].to_string().contains("AWS_ENDPOINT_URL"), "only the AWS provider");
        assert!(c.to_string().starts_with(
            "kubectl --context kind-x -n kube-system patch daemonset secrets-provider-aws-secrets-store-csi-driver-provider-aws --type strategic -p "
        ));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "resourceVersion": "7"}, "data": {"Corefile": ".:53 {\n    errors\n}\n"}});
        let edited: Value = serde_json::from_str(&coredns_edit(&cm.to_string(), &wiring.hosts).unwrap()).unwrap();
        assert_eq!(edited["metadata"]["resourceVersion"], "7");
        assert_eq!(edited["data"]["Corefile"].as_str().unwrap().matches("rewrite name exact").count(), 2);
    }
}
