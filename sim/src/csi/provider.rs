//! The Secrets Store CSI driver's mount path for `secrets-store.csi.k8s.io` volumes and the AWS
//! provider (ASCP) behind it, step by step as the real ones run: the SecretProviderClass in the
//! pod's namespace, the provider, the region (parameter, else the node's
//! `topology.kubernetes.io/region`), a token for `sts.amazonaws.com`, the role from the service
//! account's `eks.amazonaws.com/role-arn`, the `objects` descriptors, then per object
//! AssumeRoleWithWebIdentity and GetSecretValue, jmesPath entries, and the files.
//!
//! What real AWS checks and the emulator skips is checked here first: the token's signature and
//! audience, the OIDC provider registered in the account, the role's trust policy, and the role's
//! identity policies for `secretsmanager:GetSecretValue` on the secret's ARN. Each failure is
//! worded as the driver and provider word it (Go SDK errors included), because users match
//! FailedMount events against those texts. Secret values go only into the pod's files and the
//! synced Secret, never into messages or notes.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::descriptors::{self, Descriptor, SecretType};
use crate::aws::roles::{check_web_identity, load_role, oidc_providers, RoleInfo};
use crate::aws::{error_code, error_text, AwsTarget};
use crate::runtime::Cx;

/// The driver's name in pod volumes.
pub const DRIVER: &str = "secrets-store.csi.k8s.io";
/// The audience ASCP needs a token for (IRSA).
pub const IRSA_AUDIENCE: &str = "sts.amazonaws.com";
/// The driver's default file mode (its `filePermission` is 0644).
const DEFAULT_MODE: u32 = 0o644;

/// A mount failure: the text after `MountVolume.SetUp failed for volume "<vol>" : `.
pub type MountError = String;

/// What a successful mount wrote.
pub struct Mounted {
    pub dir: PathBuf,
    /// File name → bytes, for secretObjects.
    pub files: Vec<(String, Vec<u8>)>,
    pub spc: std::sync::Arc<Value>,
}

/// Everything the mount needs from the platform.
pub struct Env<'a> {
    pub aws: Option<&'a AwsTarget>,
    pub pods_dir: &'a Path,
    /// The driver's `tokenRequests` audiences (the EKS add-on configures `sts.amazonaws.com`).
    pub token_audiences: &'a [String],
}

fn rpc_unknown(msg: &str) -> String {
    format!("rpc error: code = Unknown desc = {msg}")
}

/// A provider error as the kubelet shows it.
fn provider_error(ns: &str, pod: &str, msg: &str) -> String {
    rpc_unknown(&format!("failed to mount secrets store objects for pod {ns}/{pod}, err: {}", rpc_unknown(msg)))
}

/// A Go SDK v2 API error line: `operation error <Service>: <Op>, https response error StatusCode:
/// <code>, RequestID: <id>, api error <Code>: <message>`.
///
/// The request id is derived from `seed` (the pod and object), not random: a retried mount then
/// repeats the same FailedMount text, which the event recorder counts instead of piling up.
fn go_sdk_error(seed: &str, service: &str, op: &str, status: u16, code: &str, message: &str) -> String {
    format!(
        "operation error {service}: {op}, https response error StatusCode: {status}, RequestID: {}, api error {code}: {message}",
        crate::aws::stable_request_id(&format!("{seed}/{op}"))
    )
}

/// Mounts one `secrets-store.csi.k8s.io` volume of `pod`.
pub async fn mount(cx: &Cx, env: &Env<'_>, pod: &Value, volume: &Value) -> Result<Mounted, MountError> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let vol_name = volume["name"].as_str().unwrap_or_default();
    let csi = &volume["csi"];
    let attrs = csi["volumeAttributes"].as_object().cloned().unwrap_or_default();
    // The driver.
    let spc_name = attrs.get("secretProviderClass").and_then(Value::as_str).unwrap_or_default();
    if spc_name.is_empty() {
        return Err(rpc_unknown("secretProviderClass is not set"));
    }
    let Some(spc) = cx.get("secrets-store.csi.x-k8s.io", "secretproviderclasses", ns, spc_name) else {
        return Err(rpc_unknown(&format!(
            "failed to get secretproviderclass {ns}/{spc_name}, error: secretproviderclasses.secrets-store.csi.x-k8s.io \"{spc_name}\" not found"
        )));
    };
    let provider = spc["spec"]["provider"].as_str().unwrap_or_default();
    if provider.is_empty() {
        return Err(rpc_unknown(&format!("provider not set in {ns}/{spc_name}")));
    }
    if csi["readOnly"].as_bool() != Some(true) {
        return Err("rpc error: code = InvalidArgument desc = Readonly is not true in request".into());
    }
    if provider != "aws" {
        return Err(rpc_unknown(&format!(
            "failed to mount secrets store objects for pod {ns}/{pod_name}, err: error connecting to provider \"{provider}\": provider not found: provider \"{provider}\""
        )));
    }
    let params: serde_json::Map<String, Value> = spc["spec"]["parameters"].as_object().cloned().unwrap_or_default();
    let param = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let fail = |msg: &str| provider_error(ns, pod_name, msg);

    // The provider: region.
    let mut region = param("region");
    if region.is_empty() {
        let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
        region = cx
            .get("", "nodes", "", node)
            .and_then(|n| n["metadata"]["labels"]["topology.kubernetes.io/region"].as_str().map(str::to_string))
            .unwrap_or_default();
        if region.is_empty() {
            return Err(fail("failed to retrieve region from node. error Region not found"));
        }
    }
    if !param("failoverRegion").is_empty() && param("failoverRegion") == region {
        return Err(fail(&format!("{region}: failover region cannot be the same as the primary region")));
    }
    if !param("failoverRegion").is_empty() {
        cx.note(format!("csi: {ns}/{pod_name}: failoverRegion is not simulated; only {region} is used"));
    }
    let use_pod_identity = param("usePodIdentity");
    if !use_pod_identity.is_empty() {
        match use_pod_identity.to_ascii_lowercase().as_str() {
            "false" | "0" | "f" => {}
            "true" | "1" | "t" => {
                return Err(fail("Pod Identity token extraction failed: EKS Pod Identity is not simulated (use IRSA)"))
            }
            _ => {
                return Err(fail(&format!(
                    "failed to parse usePodIdentity value, error: strconv.ParseBool: parsing \"{use_pod_identity}\": invalid syntax"
                )))
            }
        }
    }
    // Token for sts.amazonaws.com, from the driver's tokenRequests.
    if env.token_audiences.is_empty() {
        return Err(fail(
            "CSI token error: serviceAccount.tokens not provided - ensure tokenRequests is configured in CSIDriver - ensure tokenRequests is configured in CSIDriver spec",
        ));
    }
    if !env.token_audiences.iter().any(|a| a == IRSA_AUDIENCE) {
        return Err(fail(&format!(
            "IRSA token extraction failed: token for audience \"{IRSA_AUDIENCE}\" not found - ensure tokenRequests includes this audience in CSIDriver"
        )));
    }
    let token = crate::identity::token_for_pod(&cx.server, pod, IRSA_AUDIENCE, 3600)
        .map_err(|e| fail(&format!("IRSA token extraction failed: {e}")))?;
    // The role.
    let sa = pod["spec"]["serviceAccountName"].as_str().filter(|s| !s.is_empty()).unwrap_or("default");
    let Some(sa_obj) = cx.get("", "serviceaccounts", ns, sa) else {
        return Err(fail(&format!("failed to get service account {ns}/{sa}: serviceaccounts \"{sa}\" not found")));
    };
    let role_arn = sa_obj["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].as_str().unwrap_or_default();
    if role_arn.is_empty() {
        return Err(fail(&format!("An IAM role must be associated with service account {sa} (namespace: {ns})")));
    }
    // The objects.
    let translate = param("pathTranslation");
    let descs = descriptors::parse(&param("objects"), &translate, &region).map_err(|e| fail(&e))?;

    let Some(aws) = env.aws else {
        return Err(fail("the simulated platform has no AWS endpoint configured (PlatformConfig.aws)"));
    };
    let admin = aws.clients();
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    let mut credentials: Option<(AwsTarget, String, RoleInfo)> = None;
    for d in &descs {
        if d.secret_type() == SecretType::SsmParameter {
            return Err(fail(&format!(
                "the simulator does not fetch SSM parameters yet ({}); use objectType secretsmanager",
                d.object_name
            )));
        }
        // STS first (the credentials are fetched on the first call).
        if credentials.is_none() {
            credentials = Some(assume(cx, &admin, &token, role_arn, &region, d).await.map_err(|e| fail(&e))?);
        }
        let Some((creds, session, role)) = &credentials else { continue };
        let value = fetch(&admin, creds, role, role_arn, session, &region, d).await.map_err(|e| fail(&e))?;
        let perm = descriptors::mode(&d.file_permission, DEFAULT_MODE);
        files.push((d.file_name(&translate), value.clone(), perm));
        files.extend(jmes_files(d, &value, &translate).map_err(|e| fail(&e))?);
    }
    // Write the files (the provider writes them into the driver's tmpfs).
    let dir = env.pods_dir.join(pod["metadata"]["uid"].as_str().unwrap_or(pod_name)).join("volumes").join(vol_name);
    write_files(&dir, &files).map_err(|e| fail(&format!("failed to write file: {e}")))?;
    Ok(Mounted { dir, files: files.into_iter().map(|(n, v, _)| (n, v)).collect(), spc })
}

/// AssumeRoleWithWebIdentity as STS answers it: the checks moto skips, then moto's call.
/// Returns the credentials, the session name and the role as loaded for the trust check (its
/// identity policies then decide the mount's GetSecretValue calls: nothing changes the role
/// in between).
async fn assume(
    cx: &Cx,
    admin: &crate::aws::Clients,
    token: &str,
    role_arn: &str,
    region: &str,
    d: &Descriptor,
) -> Result<(AwsTarget, String, RoleInfo), String> {
    let seed = format!("{}/{}", token_subject_seed(token), d.object_name);
    let wrap = |code: &str, status: u16, msg: &str| {
        format!(
            "{region}: Failed fetching secret {}: operation error Secrets Manager: GetSecretValue, get identity: get credentials: failed to refresh cached credentials, failed to retrieve credentials, {}",
            d.object_name,
            go_sdk_error(&seed, "STS", "AssumeRoleWithWebIdentity", status, code, msg)
        )
    };
    let issuer = cx.server.issuer();
    let claims = issuer.verify(token, IRSA_AUDIENCE).map_err(|e| wrap("InvalidIdentityToken", 400, &e.to_string()))?;
    let role_name = role_arn.rsplit('/').next().unwrap_or_default();
    let role_account = role_arn.split(':').nth(4).unwrap_or_default();
    if Some(role_account) != admin.target.account() && admin.target.account().is_some() {
        return Err(wrap("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity"));
    }
    let info = match load_role(admin, role_name).await {
        Ok(Some(i)) => i,
        Ok(None) => return Err(wrap("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity")),
        Err(e) => return Err(format!("{region}: Failed fetching secret {}: {e}", d.object_name)),
    };
    let registered = oidc_providers(admin).await.map_err(|e| format!("{region}: {e}"))?;
    if let Err(why) = check_web_identity(&info, issuer.url(), &claims.sub, IRSA_AUDIENCE, &registered) {
        cx.note(format!("csi: STS refuses {} for role {role_name}: {why}", claims.sub));
        let (code, msg) = match why.split_once(": ") {
            Some((c, _)) if c == "InvalidIdentityToken" => (c, why.split_once(": ").map(|x| x.1).unwrap_or_default()),
            _ => ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        };
        return Err(wrap(code, if code == "AccessDenied" { 403 } else { 400 }, msg));
    }
    // The Go SDK names web-identity sessions by the time in nanoseconds; a stable number keeps
    // retried messages identical.
    let session = format!(
        "{}",
        u64::from_be_bytes(crate::aws::stable_request_id(&seed).as_bytes()[..8].try_into().unwrap_or([0; 8])) >> 4
    );
    let out = admin
        .sts
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(&session)
        .web_identity_token(token)
        .send()
        .await
        .map_err(|e| {
            format!("{region}: Failed fetching secret {}: AssumeRoleWithWebIdentity: {}", d.object_name, error_text(&e))
        })?;
    let c = out.credentials().ok_or_else(|| format!("{region}: STS returned no credentials"))?;
    let creds = aws_credential_types::Credentials::from_keys(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
    );
    cx.note(format!("csi: {} assumed role {role_name}", claims.sub));
    Ok((admin.target.as_credentials(creds), session, info))
}

/// GetSecretValue as the role: its identity policies decide (AWS's check), then moto answers.
async fn fetch(
    admin: &crate::aws::Clients,
    creds: &AwsTarget,
    role: &RoleInfo,
    role_arn: &str,
    session: &str,
    region: &str,
    d: &Descriptor,
) -> Result<Vec<u8>, String> {
    let prefix = format!("{region}: Failed fetching secret {}: ", d.object_name);
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let role_name = role_arn.rsplit('/').next().unwrap_or_default();
    // The secret's ARN (what the policy is evaluated against).
    let arn = match admin.secretsmanager.describe_secret().secret_id(&d.object_name).send().await {
        Ok(s) => s.arn().map(str::to_string),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(format!("{prefix}{}", error_text(&e))),
    };
    let resource = arn.clone().unwrap_or_else(|| {
        if d.object_name.starts_with("arn:") {
            d.object_name.clone()
        } else {
            format!("arn:aws:secretsmanager:{region}:{account}:secret:{}", d.object_name)
        }
    });
    if role.decide("secretsmanager:GetSecretValue", &resource).is_err() {
        return Err(format!(
            "{prefix}{}",
            go_sdk_error(
                session,
                "Secrets Manager",
                "GetSecretValue",
                400,
                "AccessDeniedException",
                &format!(
                    "User: arn:aws:sts::{account}:assumed-role/{role_name}/{} is not authorized to perform: secretsmanager:GetSecretValue on resource: {} because no identity-based policy allows the secretsmanager:GetSecretValue action",
                    session, d.object_name
                ),
            )
        ));
    }
    if arn.is_none() {
        return Err(format!(
            "{prefix}{}",
            go_sdk_error(
                session,
                "Secrets Manager",
                "GetSecretValue",
                400,
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret."
            )
        ));
    }
    let mut req = creds.clients().secretsmanager.get_secret_value().secret_id(&d.object_name);
    if !d.object_version.is_empty() {
        req = req.version_id(&d.object_version);
    }
    if !d.object_version_label.is_empty() {
        req = req.version_stage(&d.object_version_label);
    }
    let out = req.send().await.map_err(|e| format!("{prefix}{}", error_text(&e)))?;
    if let Some(s) = out.secret_string() {
        Ok(s.as_bytes().to_vec())
    } else {
        Ok(out.secret_binary().map(|b| b.as_ref().to_vec()).unwrap_or_default())
    }
}

/// The files of a descriptor's jmesPath entries.
fn jmes_files(d: &Descriptor, value: &[u8], translate: &str) -> Result<Vec<(String, Vec<u8>, u32)>, String> {
    if d.jmes_path.is_empty() {
        return Ok(Vec::new());
    }
    let Ok(json) = serde_json::from_slice::<Value>(value) else {
        return Err(format!("Invalid JSON used with jmesPath in secret: {}.", d.object_name));
    };
    let mut out = Vec::new();
    for j in &d.jmes_path {
        let expr = jmespath::compile(&j.path).map_err(|_| format!("Invalid JMES Path: {}.", j.path))?;
        let found = expr.search(&json).map_err(|_| format!("Invalid JMES Path: {}.", j.path))?;
        if found.is_null() {
            return Err(format!(
                "JMES Path - {} for object alias - {} does not point to a valid object.",
                j.path, j.object_alias
            ));
        }
        let Some(s) = found.as_string() else {
            return Err(format!("Invalid JMES search result type for path:{}. Only string is allowed.", j.path));
        };
        let perm = if j.file_permission.is_empty() { &d.file_permission } else { &j.file_permission };
        out.push((
            descriptors::translate_name(&j.object_alias, translate),
            s.as_bytes().to_vec(),
            descriptors::mode(perm, DEFAULT_MODE),
        ));
    }
    Ok(out)
}

fn write_files(dir: &Path, files: &[(String, Vec<u8>, u32)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes, mode) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))?;
        }
    }
    Ok(())
}

/// The part of a token that identifies the pod it is bound to (its claims without the times),
/// for stable ids.
fn token_subject_seed(token: &str) -> String {
    use base64::Engine;
    let claims = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap_or_default();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    format!(
        "{}/{}",
        v["sub"].as_str().unwrap_or_default(),
        v["kubernetes.io"]["pod"]["uid"].as_str().unwrap_or_default()
    )
}
