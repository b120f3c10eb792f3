//! The Amazon EKS pod identity webhook (IRSA), as a mutating admission plugin: on Pod CREATE,
//! when the pod's ServiceAccount carries `eks.amazonaws.com/role-arn`, the pod gets a projected
//! service-account token volume and every container the AWS web-identity environment.
//!
//! Behaviour follows github.com/aws/amazon-eks-pod-identity-webhook (facts, not code):
//! - ServiceAccount annotations: `role-arn` (no role: the pod is untouched), `audience`
//!   (default `sts.amazonaws.com`), `sts-regional-endpoints` (a Go boolean; EKS defaults to
//!   regional), `token-expiration` (seconds, default 86400, raised to at least 3600).
//! - Pod annotations: `token-expiration` (overrides the ServiceAccount's), `skip-containers`
//!   (one CSV record of container names; unparsable means none are skipped).
//! - Init containers, then containers, each unless skipped: `AWS_STS_REGIONAL_ENDPOINTS=regional`
//!   unless already set; `AWS_DEFAULT_REGION` and `AWS_REGION` unless either is set;
//!   `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE` unless either is set; then a read-only
//!   mount of volume `aws-iam-token` at `/var/run/secrets/eks.amazonaws.com/serviceaccount`
//!   unless mounted — except that a container with all three groups already set is left
//!   entirely alone (no mount either), as the webhook does.
//! - Volume `aws-iam-token` (projected serviceAccountToken, path `token`) is put first in
//!   `spec.volumes` unless a volume of that name exists.
//! - Windows pods (`kubernetes.io/os` or `beta.kubernetes.io/os` node selector `windows`) get
//!   the token path as `C:\var\run\secrets\...`.
//!
//! - Pods labelled `eks.amazonaws.com/skip-pod-identity-webhook` (any value) are not sent to
//!   the webhook: EKS's MutatingWebhookConfiguration has that object selector.
//!
//! Not modelled: the webhook's ConfigMap-based configuration, role names composed into ARNs,
//! `AWS_ENDPOINT_URL`, EKS Pod Identity (container credentials), and reinvocation. The
//! webhook's failure policy is Ignore: this plugin never denies. It must not write to the store.

use serde_json::{json, Value};

use crate::apiserver::admission::{AdmissionRequest, MutatingPlugin, Operation, Verdict};
use crate::apiserver::WeakApiServer;

/// The label whose presence keeps a pod away from the webhook (EKS's object selector).
pub const SKIP_LABEL: &str = "eks.amazonaws.com/skip-pod-identity-webhook";
/// The webhook's name in EKS's MutatingWebhookConfiguration `pod-identity-webhook`.
pub const WEBHOOK_NAME: &str = "iam-for-pods.amazonaws.com";
/// The annotation domain.
pub const ANNOTATION_DOMAIN: &str = "eks.amazonaws.com";
/// The ServiceAccount annotation naming the IAM role.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// The token audience when the ServiceAccount names none.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";
/// The token lifetime when nothing else is set (24 hours, EKS's maximum).
pub const DEFAULT_TOKEN_EXPIRATION: i64 = 86400;
/// The shortest token lifetime the webhook sets (shorter values are raised to it).
pub const MIN_TOKEN_EXPIRATION: i64 = 3600;
/// The projected volume's name.
pub const VOLUME_NAME: &str = "aws-iam-token";
/// Where the token volume is mounted.
pub const MOUNT_PATH: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
/// The token file inside the volume.
pub const TOKEN_FILE: &str = "token";
/// The AWS region the simulated EKS control plane runs in.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The plugin.
pub struct PodIdentityWebhook {
    server: WeakApiServer,
    region: String,
    /// Whether `AWS_STS_REGIONAL_ENDPOINTS=regional` is added when the ServiceAccount does not
    /// say (`--sts-regional-endpoint`; EKS sets it).
    regional_sts: bool,
}

/// What the ServiceAccount (and the pod's annotations) ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    role_arn: String,
    audience: String,
    regional_sts: bool,
    expiration: i64,
}

impl PodIdentityWebhook {
    /// The webhook as EKS configures it, for `region`.
    pub fn new(server: WeakApiServer, region: impl Into<String>) -> Self {
        PodIdentityWebhook { server, region: region.into(), regional_sts: true }
    }

    fn settings(&self, sa: &Value) -> Option<Settings> {
        let ann = |k: &str| sa["metadata"]["annotations"][format!("{ANNOTATION_DOMAIN}/{k}")].as_str();
        let role_arn = ann("role-arn").filter(|r| !r.is_empty())?.to_string();
        let audience = ann("audience").unwrap_or(DEFAULT_AUDIENCE).to_string();
        let regional_sts = ann("sts-regional-endpoints").and_then(go_bool).unwrap_or(self.regional_sts);
        let expiration = ann("token-expiration")
            .and_then(|v| v.parse::<i64>().ok())
            .map(|e| e.max(MIN_TOKEN_EXPIRATION))
            .unwrap_or(DEFAULT_TOKEN_EXPIRATION);
        Some(Settings { role_arn, audience, regional_sts, expiration })
    }
}

impl MutatingPlugin for PodIdentityWebhook {
    fn name(&self) -> &str {
        WEBHOOK_NAME
    }

    /// The webhook's rule: pod creation.
    fn intercepts(&self, req: &AdmissionRequest<'_>) -> bool {
        let r = req.resource;
        req.operation == Operation::Create && req.subresource.is_none() && r.group.is_empty() && r.kind == "Pod"
    }

    fn admit(&self, req: &AdmissionRequest<'_>, pod: &mut Value) -> Verdict {
        if !self.intercepts(req) {
            return Verdict::allow();
        }
        if pod["metadata"]["labels"].get(SKIP_LABEL).is_some() {
            return Verdict::allow();
        }
        let Some(server) = self.server.upgrade() else { return Verdict::allow() };
        let sa_name = pod["spec"]["serviceAccountName"]
            .as_str()
            .or_else(|| pod["spec"]["serviceAccount"].as_str())
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string();
        let Some(sa) = server.get_object("", "serviceaccounts", req.namespace, &sa_name) else {
            return Verdict::allow();
        };
        let Some(mut settings) = self.settings(&sa) else { return Verdict::allow() };
        let pod_ann = |k: &str| pod["metadata"]["annotations"][format!("{ANNOTATION_DOMAIN}/{k}")].as_str();
        if let Some(e) = pod_ann("token-expiration").and_then(|v| v.parse::<i64>().ok()) {
            settings.expiration = e.max(MIN_TOKEN_EXPIRATION);
        }
        let skipped = pod_ann("skip-containers").and_then(csv_record).unwrap_or_default();
        mutate(pod, &settings, &self.region, &skipped);
        Verdict::allow()
    }
}

fn mutate(pod: &mut Value, s: &Settings, region: &str, skipped: &[String]) {
    let windows = ["kubernetes.io/os", "beta.kubernetes.io/os"]
        .iter()
        .any(|k| pod["spec"]["nodeSelector"][*k].as_str() == Some("windows"));
    let token_path = format!("{MOUNT_PATH}/{TOKEN_FILE}");
    let token_path = if windows { format!("C:{}", token_path.replace('/', "\\")) } else { token_path };
    for list in ["initContainers", "containers"] {
        if let Some(Value::Array(containers)) = pod["spec"].get_mut(list) {
            for c in containers.iter_mut() {
                let name = c["name"].as_str().unwrap_or_default();
                if !skipped.iter().any(|s| s == name) {
                    add_to_container(c, s, region, &token_path);
                }
            }
        }
    }
    let volume = json!({
        "name": VOLUME_NAME,
        "projected": {"sources": [{"serviceAccountToken": {
            "audience": s.audience,
            "expirationSeconds": s.expiration,
            "path": TOKEN_FILE,
        }}]},
    });
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return };
    match spec.get_mut("volumes") {
        Some(Value::Array(vols)) => {
            if !vols.iter().any(|v| v["name"] == VOLUME_NAME) {
                vols.insert(0, volume);
            }
        }
        _ => {
            spec.insert("volumes".into(), json!([volume]));
        }
    }
}

fn add_to_container(c: &mut Value, s: &Settings, region: &str, token_path: &str) {
    let has = |c: &Value, names: &[&str]| {
        c["env"].as_array().is_some_and(|env| env.iter().any(|e| names.iter().any(|n| e["name"] == *n)))
    };
    let identity_set = has(c, &["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]);
    let region_set = has(c, &["AWS_REGION", "AWS_DEFAULT_REGION"]);
    let sts_set = has(c, &["AWS_STS_REGIONAL_ENDPOINTS"]);
    if identity_set && region_set && sts_set {
        return;
    }
    let mut add = Vec::new();
    if !sts_set && s.regional_sts {
        add.push(("AWS_STS_REGIONAL_ENDPOINTS", "regional"));
    }
    if !region_set && !region.is_empty() {
        add.push(("AWS_DEFAULT_REGION", region));
        add.push(("AWS_REGION", region));
    }
    if !identity_set {
        add.push(("AWS_ROLE_ARN", &s.role_arn));
        add.push(("AWS_WEB_IDENTITY_TOKEN_FILE", token_path));
    }
    let Some(obj) = c.as_object_mut() else { return };
    if !add.is_empty() {
        let env = obj.entry("env").or_insert_with(|| json!([]));
        if let Value::Array(env) = env {
            env.extend(add.into_iter().map(|(n, v)| json!({"name": n, "value": v})));
        }
    }
    let mounts = obj.entry("volumeMounts").or_insert_with(|| json!([]));
    if let Value::Array(mounts) = mounts {
        if !mounts.iter().any(|m| m["name"] == VOLUME_NAME) {
            mounts.push(json!({"name": VOLUME_NAME, "readOnly": true, "mountPath": MOUNT_PATH}));
        }
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The first record of a CSV text, as Go's `encoding/csv` reads it (fields separated by
/// commas, double-quoted fields with `""` for a quote, no trimming); None when it does not
/// parse or is empty.
fn csv_record(text: &str) -> Option<Vec<String>> {
    let line = text.split('\n').find(|l| !l.trim_end_matches('\r').is_empty())?.trim_end_matches('\r');
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    // A quoted field spanning lines: not something a container name needs.
                    None => return None,
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Some(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return None,
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Some(fields);
                    }
                    Some(',') => break,
                    Some('"') => return None,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            role_arn: "arn:aws:iam::111122223333:role/app".into(),
            audience: DEFAULT_AUDIENCE.into(),
            regional_sts: true,
            expiration: DEFAULT_TOKEN_EXPIRATION,
        }
    }

    #[test]
    fn csv_records_parse_like_go() {
        assert_eq!(csv_record("a,b"), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(csv_record(r#""a,b",c"#), Some(vec!["a,b".to_string(), "c".to_string()]));
        assert_eq!(csv_record("a, b"), Some(vec!["a".to_string(), " b".to_string()]));
        assert_eq!(csv_record(r#"a"b"#), None);
        assert_eq!(csv_record(""), None);
    }

    #[test]
    fn go_booleans() {
        assert_eq!((go_bool("True"), go_bool("0"), go_bool("yes")), (Some(true), Some(false), None));
    }

    #[test]
    fn container_with_everything_set_is_left_alone() {
        let mut c = json!({"name": "app", "env": [
            {"name": "AWS_ROLE_ARN", "value": "mine"},
            {"name": "AWS_REGION", "value": "eu-west-1"},
            {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "legacy"},
        ]});
        let before = c.clone();
        add_to_container(&mut c, &settings(), "us-east-1", "/t");
        assert_eq!(c, before);
    }

    #[test]
    fn partial_env_adds_only_missing_groups() {
        let mut c = json!({"name": "app", "env": [{"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"}]});
        add_to_container(&mut c, &settings(), "us-east-1", "/t");
        let names: Vec<&str> = c["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str()).collect();
        assert_eq!(
            names,
            ["AWS_DEFAULT_REGION", "AWS_STS_REGIONAL_ENDPOINTS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]
        );
        assert_eq!(c["volumeMounts"], json!([{"name": VOLUME_NAME, "readOnly": true, "mountPath": MOUNT_PATH}]));
    }

    #[test]
    fn windows_pods_get_a_windows_token_path() {
        let mut pod = json!({"spec": {"nodeSelector": {"kubernetes.io/os": "windows"}, "containers": [{"name": "a"}]}});
        mutate(&mut pod, &settings(), "us-east-1", &[]);
        let env = &pod["spec"]["containers"][0]["env"];
        let file = env.as_array().into_iter().flatten().find(|e| e["name"] == "AWS_WEB_IDENTITY_TOKEN_FILE");
        assert_eq!(
            file.and_then(|e| e["value"].as_str()),
            Some(r"C:\var\run\secrets\eks.amazonaws.com\serviceaccount\token")
        );
    }

    #[test]
    fn volume_goes_first_and_skipped_containers_are_untouched() {
        let mut pod = json!({"spec": {
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [{"name": "a"}, {"name": "sidecar"}],
        }});
        mutate(&mut pod, &settings(), "us-east-1", &["sidecar".to_string()]);
        assert_eq!(pod["spec"]["volumes"][0]["name"], VOLUME_NAME);
        assert_eq!(pod["spec"]["volumes"][1]["name"], "data");
        assert_eq!(pod["spec"]["containers"][1], json!({"name": "sidecar"}));
        assert!(pod["spec"]["containers"][0]["env"].is_array());
    }
}
