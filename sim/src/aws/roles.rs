//! Reading an IAM role as STS and the services see it: its trust policy and every identity
//! policy that applies (attached managed policies at their default version, inline policies),
//! decoded from IAM's URL encoding and parsed for [`crate::iam`]. Also the two checks real AWS
//! makes and emulators skip: may this web identity assume the role (`check_web_identity`), and
//! may the role do this action on this resource (`RoleInfo::decide`).
//!
//! Shared by the simulated CSI provider and the harness's AWS expectations. Reads only.

use serde_json::Value;

use super::{error_code, error_text, Clients};
use crate::iam::{self, Policy, PolicyKind, PolicySet, Request, WebIdentityRequest};

/// A role with its documents.
#[derive(Debug, Clone)]
pub struct RoleInfo {
    pub name: String,
    pub arn: String,
    /// The trust policy as JSON.
    pub trust: Value,
    /// Attached managed policies: ARN and default-version document.
    pub attached: Vec<(String, Value)>,
    /// Inline policies: name and document.
    pub inline: Vec<(String, Value)>,
}

/// A policy document as IAM returns it (URL-encoded JSON) → JSON.
pub fn decode_document(raw: &str) -> Result<Value, String> {
    let text = if raw.trim_start().starts_with('{') { raw.to_string() } else { percent_decode(raw) };
    serde_json::from_str(&text).map_err(|e| format!("the policy document is not JSON: {e}"))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Loads a role; `Ok(None)` when there is no such role.
///
/// On an emulator (an account of a few roles and policies) the role and its documents come from
/// one `GetAccountAuthorizationDetails` call; on AWS, where an account may hold thousands and
/// the caller may not be allowed that call, from the role's own reads.
pub async fn load_role(c: &Clients, name: &str) -> Result<Option<RoleInfo>, String> {
    if c.target.endpoint.is_some() {
        return load_role_from_details(c, name).await;
    }
    load_role_by_reads(c, name).await
}

/// [`load_role`] from `GetAccountAuthorizationDetails` (roles and the account's own managed
/// policies; an AWS managed policy attached is read on its own).
async fn load_role_from_details(c: &Clients, name: &str) -> Result<Option<RoleInfo>, String> {
    use aws_sdk_iam::types::EntityType;
    let mut roles = Vec::new();
    let mut policies = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = c
            .iam
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .filter(EntityType::LocalManagedPolicy)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| format!("GetAccountAuthorizationDetails: {}", error_text(&e)))?;
        roles.extend(page.role_detail_list.unwrap_or_default());
        policies.extend(page.policies.unwrap_or_default());
        match page.marker.filter(|_| page.is_truncated) {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    let Some(r) = roles.into_iter().find(|r| r.role_name.as_deref() == Some(name)) else { return Ok(None) };
    let trust = r.assume_role_policy_document.as_deref().map(decode_document).transpose()?.unwrap_or(Value::Null);
    let mut attached = Vec::new();
    for p in r.attached_managed_policies.unwrap_or_default() {
        let Some(arn) = p.policy_arn else { continue };
        let listed = policies.iter().find(|d| d.arn.as_deref() == Some(arn.as_str()));
        let doc = match listed {
            Some(d) => {
                let default = d.default_version_id.as_deref();
                let version = d.policy_version_list().iter().find(|v| v.version_id.as_deref() == default);
                version.and_then(|v| v.document.as_deref()).map(decode_document).transpose()?.unwrap_or(Value::Null)
            }
            None => managed_document(c, &arn).await?.unwrap_or(Value::Null),
        };
        attached.push((arn, doc));
    }
    let mut inline = Vec::new();
    for p in r.role_policy_list.unwrap_or_default() {
        let doc = p.policy_document.as_deref().map(decode_document).transpose()?.unwrap_or(Value::Null);
        inline.push((p.policy_name.unwrap_or_default(), doc));
    }
    inline.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(RoleInfo { name: name.to_string(), arn: r.arn.unwrap_or_default(), trust, attached, inline }))
}

/// [`load_role`] from the role's own reads: GetRole, its attached policies' default versions,
/// its inline policies.
pub async fn load_role_by_reads(c: &Clients, name: &str) -> Result<Option<RoleInfo>, String> {
    let role = match c.iam.get_role().role_name(name).send().await {
        Ok(r) => r,
        Err(e) if error_code(&e) == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(format!("GetRole {name}: {}", error_text(&e))),
    };
    let Some(r) = role.role() else { return Ok(None) };
    let trust = r.assume_role_policy_document().map(decode_document).transpose()?.unwrap_or(Value::Null);
    let mut attached = Vec::new();
    let list = c
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| format!("ListAttachedRolePolicies {name}: {}", error_text(&e)))?;
    for p in list.attached_policies() {
        let Some(arn) = p.policy_arn() else { continue };
        let doc = managed_document(c, arn).await?.unwrap_or(Value::Null);
        attached.push((arn.to_string(), doc));
    }
    let mut inline = Vec::new();
    let names = c
        .iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| format!("ListRolePolicies {name}: {}", error_text(&e)))?;
    for p in names.policy_names() {
        let got = c
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(p)
            .send()
            .await
            .map_err(|e| format!("GetRolePolicy {name} {p}: {}", error_text(&e)))?;
        inline.push((p.clone(), decode_document(got.policy_document())?));
    }
    Ok(Some(RoleInfo { name: name.to_string(), arn: r.arn().to_string(), trust, attached, inline }))
}

/// The default version's document of a managed policy; `Ok(None)` when there is no such policy.
pub async fn managed_document(c: &Clients, arn: &str) -> Result<Option<Value>, String> {
    let p = match c.iam.get_policy().policy_arn(arn).send().await {
        Ok(p) => p,
        Err(e) if error_code(&e) == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(format!("GetPolicy {arn}: {}", error_text(&e))),
    };
    let version = p.policy().and_then(|p| p.default_version_id()).unwrap_or("v1").to_string();
    let v = c
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&version)
        .send()
        .await
        .map_err(|e| format!("GetPolicyVersion {arn} {version}: {}", error_text(&e)))?;
    v.policy_version().and_then(|v| v.document()).map(decode_document).transpose()
}

impl RoleInfo {
    /// The account id from the ARN.
    pub fn account(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }

    /// Every identity policy of the role, parsed (a document IAM accepted but the evaluator
    /// cannot read is an error naming it).
    pub fn identity_policies(&self) -> Result<PolicySet, String> {
        let mut set = PolicySet::new();
        for (label, doc) in self.attached.iter().chain(self.inline.iter()) {
            let p = Policy::from_json(doc, PolicyKind::Identity).map_err(|e| format!("policy {label}: {e}"))?;
            set.add(label.clone(), p);
        }
        Ok(set)
    }

    /// Whether the role's identity policies allow `action` on `resource`; `Err` carries the
    /// explanation of a denial (or a policy that cannot be read).
    pub fn decide(&self, action: &str, resource: &str) -> Result<String, String> {
        let set = self.identity_policies()?;
        let mut context = iam::Context::new();
        context.insert("aws:PrincipalArn", self.arn.clone());
        context.insert("aws:PrincipalAccount", self.account().to_string());
        let req = Request { action, resource, principal: None, context: &context };
        let d = set.evaluate(&req);
        if d.is_allowed() {
            Ok(d.to_string())
        } else {
            let why = match d {
                iam::Decision::ImplicitDeny => "no identity policy allows it".to_string(),
                other => other.to_string(),
            };
            Err(format!("role {} may not {action} on {resource}: {why}", self.name))
        }
    }
}

/// What STS checks for AssumeRoleWithWebIdentity beyond the token signature: the issuer is a
/// registered OIDC provider of the role's account (listing `registered` provider ARNs), and the
/// trust policy allows this subject and audience. `Err` is the reason, worded for users.
pub fn check_web_identity(
    role: &RoleInfo,
    issuer_url: &str,
    subject: &str,
    audience: &str,
    registered: &[String],
) -> Result<(), String> {
    let provider = iam::oidc_provider_arn(role.account(), issuer_url);
    if !registered.iter().any(|r| r == &provider) {
        return Err(format!("InvalidIdentityToken: No OpenIDConnect provider found in your account for {issuer_url}"));
    }
    let trust = Policy::from_json(&role.trust, PolicyKind::Trust)
        .map_err(|e| format!("the trust policy of role {} cannot be read: {e}", role.name))?;
    let req = WebIdentityRequest {
        action: "sts:AssumeRoleWithWebIdentity",
        federated_provider_arn: &provider,
        sub: subject,
        aud: audience,
        amr: &[],
        extra: None,
    };
    match iam::evaluate_trust(&trust, &req).explain(&role.name, subject) {
        None => Ok(()),
        Some(why) => Err(format!("AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity ({why})")),
    }
}

/// The OIDC provider ARNs registered in the account.
pub async fn oidc_providers(c: &Clients) -> Result<Vec<String>, String> {
    let out = c
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| format!("ListOpenIDConnectProviders: {}", error_text(&e)))?;
    Ok(out.open_id_connect_provider_list().iter().filter_map(|p| p.arn().map(str::to_string)).collect())
}

/// Registers `issuer_url` as an IAM OIDC provider for `sts.amazonaws.com` (as an EKS cluster's
/// IRSA set-up does); an existing one is kept. Returns its ARN.
pub async fn register_oidc_provider(c: &Clients, issuer_url: &str) -> Result<String, String> {
    // The thumbprint AWS documents for EKS OIDC endpoints' root CA (IAM no longer checks it for
    // them, but requires the field).
    const THUMBPRINT: &str = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";
    match c
        .iam
        .create_open_id_connect_provider()
        .url(issuer_url)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list(THUMBPRINT)
        .send()
        .await
    {
        Ok(o) => Ok(o.open_id_connect_provider_arn().unwrap_or_default().to_string()),
        Err(e) if error_code(&e) == Some("EntityAlreadyExists") => {
            Ok(iam::oidc_provider_arn(c.target.account().unwrap_or_default(), issuer_url))
        }
        Err(e) => Err(format!("CreateOpenIDConnectProvider {issuer_url}: {}", error_text(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_decode_from_url_encoding() {
        let raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(decode_document(raw).unwrap(), json!({"Version": "2012-10-17", "Statement": []}));
        assert_eq!(decode_document("{\"a\":1}").unwrap(), json!({"a": 1}));
        assert!(decode_document("%7Bnope").is_err());
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    fn role(trust: Value, inline: Value) -> RoleInfo {
        RoleInfo {
            name: "app".into(),
            arn: "arn:aws:iam::111122223333:role/app".into(),
            trust,
            attached: Vec::new(),
            inline: vec![("read".into(), inline)],
        }
    }

    const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC";

    #[test]
    fn web_identity_needs_a_registered_provider_and_a_trusting_policy() {
        let provider = iam::oidc_provider_arn("111122223333", ISSUER);
        let trust = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:a:app"}}
        }]});
        let r = role(trust, json!({"Version": "2012-10-17", "Statement": []}));
        let sub = "system:serviceaccount:a:app";
        assert_eq!(
            check_web_identity(&r, ISSUER, sub, "sts.amazonaws.com", &[]).unwrap_err(),
            format!("InvalidIdentityToken: No OpenIDConnect provider found in your account for {ISSUER}")
        );
        let registered = vec![provider];
        assert!(check_web_identity(&r, ISSUER, sub, "sts.amazonaws.com", &registered).is_ok());
        let err = check_web_identity(&r, ISSUER, "system:serviceaccount:b:app", "sts.amazonaws.com", &registered)
            .unwrap_err();
        assert!(err.starts_with("AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity (trust policy of role app does not allow system:serviceaccount:b:app"), "{err}");
    }

    #[test]
    fn decisions_explain_denials() {
        let r = role(
            json!({}),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                   "Resource": "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-*"}]}),
        );
        assert!(r
            .decide("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf")
            .is_ok());
        let err = r
            .decide("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:api-x")
            .unwrap_err();
        assert_eq!(err, "role app may not secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:111122223333:secret:api-x: no identity policy allows it");
    }
}
