//! The kind cluster configuration (`kind.x-k8s.io/v1alpha4` Cluster) and its identity: the
//! node image by digest, the API server's service-account issuer flags for IRSA, containerd's
//! registry-mirror directory, node labels, and a hash of the rendered configuration so that a
//! cluster is reused only when it was made from the same configuration (as ctlptl does).
//!
//! Pure: this module renders text and parses `docker`/`kubectl` output; it must not run
//! anything (the commands it builds run elsewhere).

use std::collections::BTreeMap;

use serde::Serialize;

use super::docker::CommandLine;

/// The default cluster name (`kind-idp-harness` is its kubectl context).
pub const DEFAULT_CLUSTER: &str = "idp-harness";
/// The node label that carries the configuration hash (read back by `status` and `up`).
pub const HASH_LABEL: &str = "dev.idp-harness/config-hash";
/// The audience the CSI driver requests for the AWS provider, accepted by the API server too.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";
/// The audience in-cluster clients expect by default; kept first so ordinary service-account
/// tokens still authenticate after the issuer changes.
pub const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
/// Where containerd looks for per-registry mirror configuration (`<host>/hosts.toml`).
pub const CERTS_D: &str = "/etc/containerd/certs.d";

/// What the cluster is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    pub name: String,
    /// `kindest/node:<version>@sha256:<digest>`.
    pub node_image: String,
    /// The service-account issuer (an https URL); the harness registers it as an OIDC provider
    /// in the emulator's IAM, and IRSA role trust policies name it.
    pub issuer: String,
    /// Extra Kubernetes labels on the node.
    pub node_labels: BTreeMap<String, String>,
}

impl ClusterOptions {
    /// The defaults for cluster `name`: issuer `https://oidc.idp-harness.test/<name>` (`.test`
    /// is reserved, so it can never be a real host; nothing needs to fetch it: the harness
    /// reads the JWKS through the API server).
    pub fn new(name: &str, node_image: &str) -> ClusterOptions {
        let mut node_labels = BTreeMap::new();
        node_labels.insert("dev.idp-harness/cluster".to_string(), name.to_string());
        ClusterOptions {
            name: name.to_string(),
            node_image: node_image.to_string(),
            issuer: format!("https://oidc.idp-harness.test/{name}"),
            node_labels,
        }
    }

    /// The JWKS URI the discovery document names (`<issuer>/openid/v1/jwks`).
    pub fn jwks_uri(&self) -> String {
        format!("{}/openid/v1/jwks", self.issuer.trim_end_matches('/'))
    }

    /// The audiences the API server accepts.
    pub fn api_audiences(&self) -> Vec<String> {
        vec![DEFAULT_AUDIENCE.to_string(), STS_AUDIENCE.to_string()]
    }

    /// The name of the control-plane node (and of its Docker container).
    pub fn control_plane(&self) -> String {
        control_plane(&self.name)
    }
}

/// `<cluster>-control-plane`.
pub fn control_plane(cluster: &str) -> String {
    format!("{cluster}-control-plane")
}

/// The kubectl context kind writes for a cluster.
pub fn context(cluster: &str) -> String {
    format!("kind-{cluster}")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KindCluster {
    kind: &'static str,
    api_version: &'static str,
    name: String,
    nodes: Vec<KindNode>,
    #[serde(rename = "kubeadmConfigPatchesJSON6902")]
    kubeadm_config_patches_json6902: Vec<Json6902>,
    containerd_config_patches: Vec<serde_saphyr::LitString>,
}

#[derive(Serialize)]
struct KindNode {
    role: &'static str,
    image: String,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Json6902 {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    patch: serde_saphyr::LitString,
}

#[derive(Serialize)]
struct AddArg<'a> {
    op: &'static str,
    path: &'static str,
    value: ExtraArg<'a>,
}

#[derive(Serialize)]
struct ExtraArg<'a> {
    name: &'a str,
    value: String,
}

/// The rendered configuration and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub yaml: String,
    /// SHA-256 (hex, first 16 characters) of the configuration rendered without the hash
    /// label; the hash label then carries it.
    pub hash: String,
}

/// The kind configuration for `opts`.
///
/// The issuer flags go in as JSON 6902 `add` operations on `/apiServer/extraArgs/-`: kind
/// generates a kubeadm `v1beta4` ClusterConfiguration, where `extraArgs` is a list of
/// `{name, value}`, and a `kubeadmConfigPatches` merge patch would replace kind's own list.
pub fn render(opts: &ClusterOptions) -> Result<Rendered, serde_saphyr::ser::Error> {
    let unhashed = render_with(opts, None)?;
    let hash = short_sha256(&unhashed);
    let yaml = render_with(opts, Some(&hash))?;
    Ok(Rendered { yaml, hash })
}

fn render_with(opts: &ClusterOptions, hash: Option<&str>) -> Result<String, serde_saphyr::ser::Error> {
    let mut labels = opts.node_labels.clone();
    if let Some(h) = hash {
        labels.insert(HASH_LABEL.to_string(), h.to_string());
    }
    let args = [
        ("service-account-issuer", opts.issuer.clone()),
        ("service-account-jwks-uri", opts.jwks_uri()),
        ("api-audiences", opts.api_audiences().join(",")),
    ];
    let ops: Vec<AddArg> = args
        .iter()
        .map(|(name, value)| AddArg {
            op: "add",
            path: "/apiServer/extraArgs/-",
            value: ExtraArg { name, value: value.clone() },
        })
        .collect();
    let patch = to_yaml(&ops)?;
    let cluster = KindCluster {
        kind: "Cluster",
        api_version: "kind.x-k8s.io/v1alpha4",
        name: opts.name.clone(),
        nodes: vec![KindNode { role: "control-plane", image: opts.node_image.clone(), labels }],
        kubeadm_config_patches_json6902: vec![Json6902 {
            group: "kubeadm.k8s.io",
            version: "v1beta4",
            kind: "ClusterConfiguration",
            patch: serde_saphyr::LitString(patch.trim_end().to_string()),
        }],
        // containerd reads `<registry host>/hosts.toml` under CERTS_D (mirrors, CAs); the
        // section name is the one kind's own local-registry example uses.
        containerd_config_patches: vec![serde_saphyr::LitString(format!(
            "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"{CERTS_D}\""
        ))],
    };
    let body = to_yaml(&cluster)?;
    Ok(format!("# Generated by idp-harness (harness/src/backend/kind/config.rs); do not edit.\n{body}"))
}

/// YAML as the kind backend writes it: block scalars for multi-line text, long single-line
/// values (image digests, URLs) kept on one line.
pub fn to_yaml<T: Serialize>(v: &T) -> Result<String, serde_saphyr::ser::Error> {
    let mut opts = serde_saphyr::SerializerOptions::default();
    opts.folded_wrap_chars = 400;
    opts.min_fold_chars = 400;
    serde_saphyr::to_string_with_options(v, opts)
}

fn short_sha256(text: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    d.as_ref().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `kind get clusters`.
pub fn get_clusters() -> CommandLine {
    CommandLine::new("kind", ["get", "clusters"])
}

/// The cluster names in `kind get clusters` output ("No kind clusters found." goes to stderr).
pub fn parse_clusters(stdout: &str) -> Vec<String> {
    stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

/// `kind create cluster` from a config file (`--wait` for the control plane; the platform is
/// waited for separately).
pub fn create_cluster(name: &str, config_path: &str) -> CommandLine {
    CommandLine::new("kind", ["create", "cluster", "--name", name, "--config", config_path, "--wait", "120s"])
}

/// `kind delete cluster`.
pub fn delete_cluster(name: &str) -> CommandLine {
    CommandLine::new("kind", ["delete", "cluster", "--name", name])
}

/// Reads the hash label back from inside the node container (kubectl and the admin
/// kubeconfig are in every kind node), so `status` needs only Docker.
pub fn read_hash(cluster: &str) -> CommandLine {
    let node = control_plane(cluster);
    let path = format!("{{.metadata.labels.{}}}", HASH_LABEL.replace('.', "\\."));
    CommandLine::new(
        "docker",
        [
            "exec".to_string(),
            node.clone(),
            "kubectl".into(),
            "--kubeconfig=/etc/kubernetes/admin.conf".into(),
            "get".into(),
            "node".into(),
            node,
            "-o".into(),
            format!("jsonpath={path}"),
        ],
    )
}

/// What to do with a cluster of the wanted name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reuse {
    /// None exists: create it.
    Create,
    /// It exists with the same configuration hash.
    Reuse,
    /// It exists but was made from another configuration (or its hash cannot be read): delete
    /// and create, saying why.
    Recreate { reason: String },
}

/// Decides between create, reuse and recreate.
pub fn decide(name: &str, existing: &[String], found_hash: Option<&str>, want_hash: &str) -> Reuse {
    if !existing.iter().any(|c| c == name) {
        return Reuse::Create;
    }
    match found_hash.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) if h == want_hash => Reuse::Reuse,
        Some(h) => Reuse::Recreate {
            reason: format!("cluster {name} was made from another configuration (hash {h}, now {want_hash})"),
        },
        None => Reuse::Recreate {
            reason: format!("cluster {name} has no {HASH_LABEL} label (not made by this harness version, or its node is not answering)"),
        },
    }
}

/// The example checked in under `kind-config/` (node image from `versions.rs`).
pub fn example() -> Result<Rendered, String> {
    let image = super::versions::node_image().map_err(|e| e.to_string())?;
    render(&ClusterOptions::new(DEFAULT_CLUSTER, image)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ClusterOptions {
        ClusterOptions::new("idp-harness", "kindest/node:v1.37.0@sha256:aa")
    }

    #[test]
    fn the_config_sets_image_issuer_audiences_mirror_and_labels() {
        let r = render(&opts()).unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&r.yaml).unwrap();
        assert_eq!(v["apiVersion"], "kind.x-k8s.io/v1alpha4");
        assert_eq!(v["kind"], "Cluster");
        assert_eq!(v["name"], "idp-harness");
        let node = &v["nodes"][0];
        assert_eq!(node["role"], "control-plane");
        assert_eq!(node["image"], "kindest/node:v1.37.0@sha256:aa");
        assert_eq!(node["labels"][HASH_LABEL], r.hash.as_str());
        assert_eq!(node["labels"]["dev.idp-harness/cluster"], "idp-harness");
        let p = &v["kubeadmConfigPatchesJSON6902"][0];
        assert_eq!(
            (p["group"].as_str(), p["version"].as_str(), p["kind"].as_str()),
            (Some("kubeadm.k8s.io"), Some("v1beta4"), Some("ClusterConfiguration"))
        );
        let ops: serde_json::Value = serde_saphyr::from_str(p["patch"].as_str().unwrap()).unwrap();
        let args: BTreeMap<String, String> = ops
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                assert_eq!(o["op"], "add");
                assert_eq!(o["path"], "/apiServer/extraArgs/-");
                (o["value"]["name"].as_str().unwrap().to_string(), o["value"]["value"].as_str().unwrap().to_string())
            })
            .collect();
        assert_eq!(args["service-account-issuer"], "https://oidc.idp-harness.test/idp-harness");
        assert_eq!(args["service-account-jwks-uri"], "https://oidc.idp-harness.test/idp-harness/openid/v1/jwks");
        assert_eq!(args["api-audiences"], "https://kubernetes.default.svc.cluster.local,sts.amazonaws.com");
        let containerd = v["containerdConfigPatches"][0].as_str().unwrap();
        assert!(containerd.contains("config_path = \"/etc/containerd/certs.d\""), "{containerd}");
        assert!(containerd.starts_with("[plugins.\"io.containerd.grpc.v1.cri\".registry]"), "{containerd}");
    }

    #[test]
    fn the_hash_follows_the_configuration_and_nothing_else() {
        let a = render(&opts()).unwrap();
        assert_eq!(a, render(&opts()).unwrap());
        assert_eq!(a.hash.len(), 16);
        let mut other = opts();
        other.issuer = "https://elsewhere.test".into();
        assert_ne!(render(&other).unwrap().hash, a.hash);
        let mut other = opts();
        other.node_image = "kindest/node:v1.36.4@sha256:bb".into();
        assert_ne!(render(&other).unwrap().hash, a.hash);
    }

    #[test]
    fn reuse_is_keyed_by_name_and_hash() {
        let existing = vec!["other".to_string(), "idp-harness".to_string()];
        assert_eq!(decide("idp-harness", &["other".into()], None, "h1"), Reuse::Create);
        assert_eq!(decide("idp-harness", &existing, Some("h1\n"), "h1"), Reuse::Reuse);
        match decide("idp-harness", &existing, Some("h0"), "h1") {
            Reuse::Recreate { reason } => assert!(reason.contains("h0") && reason.contains("h1"), "{reason}"),
            r => panic!("{r:?}"),
        }
        assert!(matches!(decide("idp-harness", &existing, Some(""), "h1"), Reuse::Recreate { .. }));
    }

    #[test]
    fn cluster_lists_and_hash_readback() {
        assert_eq!(parse_clusters("idp-harness\nkind\n\n"), vec!["idp-harness", "kind"]);
        let c = read_hash("idp-harness");
        assert_eq!(c.args[1], "idp-harness-control-plane");
        assert_eq!(c.args.last().unwrap(), r"jsonpath={.metadata.labels.dev\.idp-harness/config-hash}");
    }

    #[test]
    fn the_checked_in_example_is_what_the_code_generates() {
        let checked_in = include_str!("../../../../kind-config/cluster.yaml");
        let generated = example().unwrap();
        assert_eq!(
            checked_in, generated.yaml,
            "regenerate with: cargo run -p idp-harness -- kind config > kind-config/cluster.yaml"
        );
    }
}
