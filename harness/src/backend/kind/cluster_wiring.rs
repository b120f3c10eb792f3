//! The cluster side of the interception (the host side, the TLS server that answers for Git
//! hosts and regional STS, is `interception.rs`): a Service without selector plus an
//! EndpointSlice that send port 443 to the server on the host (through the `kind` network's
//! gateway), CoreDNS `rewrite` lines that resolve each intercepted host name to that Service,
//! a ConfigMap with the interception CA, and the patches that make Flux's source-controller
//! and the AWS provider (ASCP) trust it through `SSL_CERT_FILE`.
//!
//! `SSL_CERT_FILE` in Go (crypto/x509 on Linux) *replaces* the system roots file: a pod that
//! gets it trusts only what the bundle holds. The bundle is the interception CA, followed by
//! any extra roots the caller passes (for example the node's
//! `/etc/ssl/certs/ca-certificates.crt`), so that other TLS hosts still verify.
//!
//! Pure: objects and text in, objects and text out; this module must not talk to the cluster.

use std::net::Ipv4Addr;

use serde_json::{json, Value};

/// The namespace of the harness's own objects in the cluster.
pub const NAMESPACE: &str = "idp-harness";
/// The Service the rewritten names resolve to.
pub const SERVICE: &str = "idp-harness-intercept";
/// The ConfigMap with the CA bundle (one per namespace that mounts it).
pub const CA_CONFIGMAP: &str = "idp-harness-ca";
pub const CA_KEY: &str = "ca.crt";
/// Where the bundle is mounted in patched pods.
pub const CA_DIR: &str = "/etc/idp-harness/ca";
const VOLUME: &str = "idp-harness-ca";
/// Marks the Corefile lines this module writes.
const MARK: &str = "# idp-harness interception";

/// What the cluster needs to know about the host-side server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interception {
    /// The `kind` network's gateway: the host as pods see it.
    pub gateway: Ipv4Addr,
    /// The port the host-side TLS server listens on.
    pub port: u16,
    /// The intercepted host names (Git hosts, `sts.<region>.amazonaws.com`, `sts.amazonaws.com`).
    pub hosts: Vec<String>,
    /// The interception CA certificate (PEM).
    pub ca_pem: String,
    /// Roots appended after the CA (PEM), so patched pods still trust other hosts.
    pub extra_roots: Option<String>,
    /// The emulator's endpoint as pods reach it: the AWS provider's Secrets Manager client is
    /// pointed there (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, which the Go SDK v2 reads; only its
    /// STS client ignores endpoint settings, hence the interception).
    pub aws_endpoint: Option<String>,
}

/// The STS host names to intercept for `region`.
pub fn sts_hosts(region: &str) -> Vec<String> {
    vec![format!("sts.{region}.amazonaws.com"), "sts.amazonaws.com".to_string()]
}

/// The Git hosts of repo URLs (`https://github.com/org/repo` → `github.com`), sorted and
/// deduplicated; URLs that are not http(s) are skipped.
pub fn git_hosts<'a>(urls: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = urls
        .into_iter()
        .filter_map(|u| u.strip_prefix("https://").or_else(|| u.strip_prefix("http://")))
        .filter_map(|rest| rest.split(['/', '?', '#']).next())
        .map(|authority| authority.rsplit('@').next().unwrap_or(authority))
        .map(|hostport| hostport.split(':').next().unwrap_or(hostport).to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The in-cluster name the rewrites point at.
pub fn service_fqdn() -> String {
    format!("{SERVICE}.{NAMESPACE}.svc.cluster.local")
}

impl Interception {
    /// The CA bundle: the CA, then the extra roots.
    pub fn bundle(&self) -> String {
        let mut b = self.ca_pem.trim_end().to_string();
        b.push('\n');
        if let Some(extra) = &self.extra_roots {
            b.push_str(extra.trim_end());
            b.push('\n');
        }
        b
    }

    /// Namespace, Service, EndpointSlice, and the CA ConfigMap in each of `ca_namespaces`.
    pub fn objects(&self, ca_namespaces: &[&str]) -> Vec<Value> {
        let mut out = vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": SERVICE, "namespace": NAMESPACE},
                // No selector: the endpoints are ours (the EndpointSlice below).
                "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.port}]}
            }),
            json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {
                    "name": format!("{SERVICE}-host"), "namespace": NAMESPACE,
                    "labels": {
                        "kubernetes.io/service-name": SERVICE,
                        "endpointslice.kubernetes.io/managed-by": "idp-harness"
                    }
                },
                "addressType": "IPv4",
                "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}],
                "endpoints": [{"addresses": [self.gateway.to_string()], "conditions": {"ready": true}}]
            }),
        ];
        for ns in ca_namespaces {
            out.push(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CA_CONFIGMAP, "namespace": ns, "labels": {"dev.idp-harness/owned": "true"}},
                "data": {CA_KEY: self.bundle()}
            }));
        }
        out
    }
}

/// A strategic-merge patch that mounts the CA bundle into container `container` of a pod
/// template and points `SSL_CERT_FILE` at it (containers, volumes, env and mounts merge by
/// name, so reapplying it changes nothing).
pub fn trust_patch(container: &str, extra_env: &[(&str, &str)]) -> Value {
    let mut env = vec![json!({"name": "SSL_CERT_FILE", "value": format!("{CA_DIR}/{CA_KEY}")})];
    env.extend(extra_env.iter().map(|(k, v)| json!({"name": k, "value": v})));
    json!({
        "spec": {"template": {"spec": {
            "volumes": [{"name": VOLUME, "configMap": {"name": CA_CONFIGMAP}}],
            "containers": [{
                "name": container,
                "env": env,
                "volumeMounts": [{"name": VOLUME, "mountPath": CA_DIR, "readOnly": true}]
            }]
        }}}
    })
}

/// A workload to patch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PatchTarget {
    pub kind: &'static str,
    pub namespace: &'static str,
    pub name: &'static str,
    pub container: &'static str,
}

/// Flux's source-controller (it clones the scenario repos from the intercepted Git hosts).
pub const SOURCE_CONTROLLER: PatchTarget =
    PatchTarget { kind: "deployment", namespace: "flux-system", name: "source-controller", container: "manager" };
/// The AWS provider's DaemonSet (release `secrets-provider-aws`; container name from the
/// chart's templates/daemonset.yaml).
pub const ASCP: PatchTarget = PatchTarget {
    kind: "daemonset",
    namespace: "kube-system",
    name: "secrets-provider-aws-secrets-store-csi-driver-provider-aws",
    container: "provider-aws-installer",
};

/// The `rewrite` line for `host`.
fn rewrite_line(host: &str, indent: &str) -> String {
    format!("{indent}rewrite name exact {host} {} {MARK}", service_fqdn())
}

/// Why a Corefile cannot be edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the CoreDNS Corefile has no `.:53 {{` server block")]
pub struct NoRootBlock;

/// The Corefile with one `rewrite` line per host at the top of the `.:53` block (rewrite runs
/// before `kubernetes` and `forward` whatever the line order, but the top is easy to find).
/// Lines this function wrote before are replaced, so re-running with the same hosts gives the
/// same text and a shorter host list removes lines.
pub fn edit_corefile(corefile: &str, hosts: &[String]) -> Result<String, NoRootBlock> {
    let lines: Vec<&str> = corefile.lines().filter(|l| !l.trim_end().ends_with(MARK)).collect();
    let open = lines
        .iter()
        .position(|l| {
            let t = l.trim();
            t.starts_with(".:53") && t.ends_with('{')
        })
        .ok_or(NoRootBlock)?;
    // Indent like the block's first directive.
    let indent: String = lines
        .get(open + 1)
        .map(|l| l.chars().take_while(|c| c.is_whitespace()).collect())
        .filter(|s: &String| !s.is_empty())
        .unwrap_or_else(|| "    ".to_string());
    let mut out: Vec<String> = lines[..=open].iter().map(|s| s.to_string()).collect();
    let mut hosts = hosts.to_vec();
    hosts.sort();
    hosts.dedup();
    out.extend(hosts.iter().map(|h| rewrite_line(h, &indent)));
    out.extend(lines[open + 1..].iter().map(|s| s.to_string()));
    let mut text = out.join("\n");
    if corefile.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Corefile of a kind v0.33 cluster (kubeadm's default CoreDNS configuration).
    const KIND_COREFILE: &str = ".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n    prometheus :9153\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    cache 30 {\n       disable success cluster.local\n       disable denial cluster.local\n    }\n    loop\n    reload\n    loadbalance\n}\n";

    fn hosts() -> Vec<String> {
        let mut h = git_hosts([
            "https://github.com/acme/platform.git",
            "https://GitHub.com/acme/apps",
            "https://git.example.com:8443/x",
        ]);
        h.extend(sts_hosts("eu-west-1"));
        h
    }

    #[test]
    fn rewrites_go_into_the_root_block_once() {
        let edited = edit_corefile(KIND_COREFILE, &hosts()).unwrap();
        let lines: Vec<&str> = edited.lines().collect();
        assert_eq!(lines[0], ".:53 {");
        assert_eq!(
            lines[1],
            "    rewrite name exact git.example.com idp-harness-intercept.idp-harness.svc.cluster.local # idp-harness interception"
        );
        assert!(lines[2].contains("rewrite name exact github.com "));
        assert!(lines[3].contains("rewrite name exact sts.amazonaws.com "));
        assert!(lines[4].contains("rewrite name exact sts.eu-west-1.amazonaws.com "));
        assert_eq!(lines[5], "    errors");
        // Everything else is untouched.
        assert_eq!(edited.lines().filter(|l| !l.contains(MARK)).collect::<Vec<_>>().join("\n") + "\n", KIND_COREFILE);
        // Idempotent.
        assert_eq!(edit_corefile(&edited, &hosts()).unwrap(), edited);
        // A shorter list drops the others.
        let fewer = edit_corefile(&edited, &["github.com".to_string()]).unwrap();
        assert_eq!(fewer.matches("rewrite name").count(), 1);
        assert_eq!(edit_corefile(&fewer, &[]).unwrap(), KIND_COREFILE);
    }

    #[test]
    fn a_corefile_without_root_block_is_refused() {
        assert_eq!(edit_corefile("example.org:53 {\n  whoami\n}\n", &hosts()), Err(NoRootBlock));
    }

    #[test]
    fn git_hosts_come_from_repo_urls() {
        assert_eq!(
            git_hosts([
                "https://github.com/a/b",
                "http://user@gitea.local:3000/x",
                "ssh://git@github.com/a",
                "https://github.com"
            ]),
            vec!["gitea.local", "github.com"]
        );
    }

    #[test]
    fn the_service_points_port_443_at_the_host_server() {
        let i = Interception {
            gateway: Ipv4Addr::new(172, 18, 0, 1),
            port: 38443,
            hosts: hosts(),
            ca_pem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".into(),
            extra_roots: Some("ROOTS\n".into()),
            aws_endpoint: None,
        };
        let objs = i.objects(&["flux-system", "kube-system"]);
        let svc = &objs[1];
        assert_eq!(svc["spec"]["ports"][0]["port"], 443);
        assert!(svc["spec"].get("selector").is_none());
        let slice = &objs[2];
        assert_eq!(slice["metadata"]["labels"]["kubernetes.io/service-name"], SERVICE);
        assert_eq!(slice["endpoints"][0]["addresses"][0], "172.18.0.1");
        assert_eq!(slice["ports"][0]["port"], 38443);
        assert_eq!(slice["ports"][0]["name"], svc["spec"]["ports"][0]["name"]);
        let cms: Vec<&Value> = objs.iter().filter(|o| o["kind"] == "ConfigMap").collect();
        assert_eq!(cms.len(), 2);
        assert_eq!(cms[1]["metadata"]["namespace"], "kube-system");
        assert_eq!(cms[0]["data"][CA_KEY], "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\nROOTS\n");
    }

    #[test]
    fn the_trust_patch_sets_ssl_cert_file_to_the_mounted_bundle() {
        let p = trust_patch("manager", &[("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://idp-harness-aws:5000")]);
        let spec = &p["spec"]["template"]["spec"];
        let c = &spec["containers"][0];
        assert_eq!(c["name"], "manager");
        assert_eq!(c["env"][0]["name"], "SSL_CERT_FILE");
        let file = c["env"][0]["value"].as_str().unwrap();
        let mount = c["volumeMounts"][0]["mountPath"].as_str().unwrap();
        assert_eq!(file, format!("{mount}/{CA_KEY}"));
        assert_eq!(c["env"][1]["name"], "AWS_ENDPOINT_URL_SECRETS_MANAGER");
        assert_eq!(c["env"][1]["value"], "http://idp-harness-aws:5000");
        assert_eq!(spec["volumes"][0]["configMap"]["name"], CA_CONFIGMAP);
        assert_eq!(spec["volumes"][0]["name"], c["volumeMounts"][0]["name"]);
    }
}
