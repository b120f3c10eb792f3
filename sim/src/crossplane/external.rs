//! The external side of the simulated provider-upjet-aws resources: observe, create, update
//! and delete through the AWS SDK, as the Terraform AWS provider behind upjet does it
//! (`aws_iam_policy`, `aws_iam_role`, `aws_iam_role_policy_attachment`,
//! `aws_organizations_policy`, `aws_organizations_policy_attachment`).
//!
//! Errors are worded as the Terraform provider's diagnostics summaries (`creating IAM Policy
//! (<name>): operation error IAM: CreatePolicy, https response error StatusCode: 400,
//! RequestID: <id>, MalformedPolicyDocument: <message>`); the reconciler wraps them as upjet
//! and crossplane-runtime do. This module must not touch Kubernetes objects or conditions.

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use serde_json::{json, Map, Value};

use super::crds::Resource;
use crate::aws::Clients;

/// What an observation found.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// No such external resource.
    Missing,
    /// It exists: its `status.atProvider`.
    Exists(Value),
}

/// A failed AWS call, as the Terraform provider's diagnostic summary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExternalError(pub String);

/// `<verb> <thing>: operation error <Service>: <Operation>, https response error StatusCode:
/// <n>, RequestID: <id>, <Code>: <message>` (aws-sdk-go-v2's wording), or the transport error.
fn sdk_error<E>(summary: &str, service: &str, operation: &str, err: &SdkError<E, HttpResponse>) -> ExternalError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = match err {
        SdkError::ServiceError(e) => {
            let inner = e.err();
            let status = e.raw().status().as_u16();
            let request_id = inner.meta().extra("aws_request_id").unwrap_or_default().to_string();
            format!(
                "https response error StatusCode: {status}, RequestID: {request_id}, {}: {}",
                inner.code().unwrap_or("UnknownError"),
                inner.message().unwrap_or_default()
            )
        }
        other => crate::aws::error_text(other),
    };
    ExternalError(format!("{summary}: operation error {service}: {operation}, {detail}"))
}

/// A parameter the resource cannot be created without.
fn required(params: &Value, field: &str) -> Result<String, ExternalError> {
    params
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ExternalError(format!("spec.forProvider.{field} is a required parameter")))
}

fn opt<'a>(params: &'a Value, field: &str) -> Option<&'a str> {
    params.get(field).and_then(Value::as_str)
}

fn tags(params: &Value) -> Map<String, Value> {
    params.get("tags").and_then(Value::as_object).cloned().unwrap_or_default()
}

/// IAM returns policy documents URL-encoded (RFC 3986).
pub fn decode_document(doc: &str) -> String {
    if !doc.contains('%') {
        return doc.to_string();
    }
    let bytes = doc.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| doc.to_string())
}

/// Two policy documents mean the same when they parse to the same JSON (Terraform's
/// `SuppressEquivalentPolicyDiffs`, without its normalisation of single-element lists).
pub fn same_document(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

async fn account_id(c: &Clients) -> Result<String, ExternalError> {
    if let Some(a) = c.target.account() {
        return Ok(a.to_string());
    }
    let out = c
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk_error("getting caller identity", "STS", "GetCallerIdentity", &e))?;
    Ok(out.account().unwrap_or_default().to_string())
}

/// The ARN of a customer managed policy.
async fn policy_arn(c: &Clients, path: &str, name: &str) -> Result<String, ExternalError> {
    Ok(format!("arn:aws:iam::{}:policy{path}{name}", account_id(c).await?))
}

fn path_of(params: &Value) -> String {
    opt(params, "path").unwrap_or("/").to_string()
}

fn iam_tags(t: &Map<String, Value>) -> Vec<aws_sdk_iam::types::Tag> {
    t.iter()
        .filter_map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder().key(k).value(v.as_str().unwrap_or_default()).build().ok()
        })
        .collect()
}

fn tag_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Map<String, Value> {
    pairs.map(|(k, v)| (k.to_string(), json!(v))).collect()
}

/// Observes the external resource named `external` (empty: not created yet).
pub async fn observe(
    c: &Clients,
    r: Resource,
    external: &str,
    params: &Value,
    at: &Value,
) -> Result<Observation, ExternalError> {
    if external.is_empty() {
        return Ok(Observation::Missing);
    }
    match r {
        Resource::IamPolicy => observe_iam_policy(c, external, params, at).await,
        Resource::IamRole => observe_iam_role(c, external).await,
        Resource::IamRolePolicyAttachment => observe_attachment(c, external, params, at).await,
        Resource::OrgPolicy => observe_org_policy(c, external).await,
        Resource::OrgPolicyAttachment => observe_org_attachment(c, external).await,
    }
}

async fn observe_iam_policy(c: &Clients, name: &str, params: &Value, at: &Value) -> Result<Observation, ExternalError> {
    let arn = match opt(at, "arn") {
        Some(a) if a.ends_with(&format!("/{name}")) => a.to_string(),
        _ => policy_arn(c, &path_of(params), name).await?,
    };
    let summary = format!("reading IAM Policy ({arn})");
    let got = match c.iam.get_policy().policy_arn(&arn).send().await {
        Ok(o) => o,
        Err(e) if crate::aws::error_code(&e) == Some("NoSuchEntity") => return Ok(Observation::Missing),
        Err(e) => return Err(sdk_error(&summary, "IAM", "GetPolicy", &e)),
    };
    let Some(p) = got.policy() else { return Ok(Observation::Missing) };
    let version = p.default_version_id().unwrap_or("v1");
    let doc = c
        .iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| sdk_error(&summary, "IAM", "GetPolicyVersion", &e))?;
    let document = decode_document(doc.policy_version().and_then(|v| v.document()).unwrap_or_default());
    let t = tag_map(p.tags().iter().map(|t| (t.key(), t.value())));
    Ok(Observation::Exists(json!({
        "arn": arn, "id": arn, "attachmentCount": p.attachment_count().unwrap_or(0),
        "description": p.description().unwrap_or_default(), "path": p.path().unwrap_or("/"),
        "policy": document, "policyId": p.policy_id().unwrap_or_default(), "tags": t, "tagsAll": t,
    })))
}

async fn observe_iam_role(c: &Clients, name: &str) -> Result<Observation, ExternalError> {
    let summary = format!("reading IAM Role ({name})");
    let got = match c.iam.get_role().role_name(name).send().await {
        Ok(o) => o,
        Err(e) if crate::aws::error_code(&e) == Some("NoSuchEntity") => return Ok(Observation::Missing),
        Err(e) => return Err(sdk_error(&summary, "IAM", "GetRole", &e)),
    };
    let Some(role) = got.role() else { return Ok(Observation::Missing) };
    let inline_names = c
        .iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| sdk_error(&summary, "IAM", "ListRolePolicies", &e))?;
    let mut inline = Vec::new();
    for pname in inline_names.policy_names() {
        let p = c
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(pname)
            .send()
            .await
            .map_err(|e| sdk_error(&summary, "IAM", "GetRolePolicy", &e))?;
        inline.push(json!({"name": pname, "policy": decode_document(p.policy_document())}));
    }
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| sdk_error(&summary, "IAM", "ListAttachedRolePolicies", &e))?;
    let managed: Vec<&str> = attached.attached_policies().iter().filter_map(|p| p.policy_arn()).collect();
    let t = tag_map(role.tags().iter().map(|t| (t.key(), t.value())));
    let mut at = json!({
        "arn": role.arn(), "id": name, "uniqueId": role.role_id(), "path": role.path(),
        "assumeRolePolicy": decode_document(role.assume_role_policy_document().unwrap_or_default()),
        "createDate": role.create_date().to_string(),
        "description": role.description().unwrap_or_default(),
        "maxSessionDuration": role.max_session_duration().unwrap_or(3600),
        "inlinePolicy": inline, "managedPolicyArns": managed, "tags": t, "tagsAll": t,
    });
    if let Some(b) = role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()) {
        at["permissionsBoundary"] = json!(b);
    }
    Ok(Observation::Exists(at))
}

/// The role and policy of an attachment: from the last observation, else the parameters.
fn attachment_parts(params: &Value, at: &Value) -> (String, String) {
    let pick = |f: &str| opt(at, f).or_else(|| opt(params, f)).unwrap_or_default().to_string();
    (pick("role"), pick("policyArn"))
}

async fn observe_attachment(c: &Clients, id: &str, params: &Value, at: &Value) -> Result<Observation, ExternalError> {
    let (role, arn) = attachment_parts(params, at);
    let summary = format!("reading IAM Role Policy Attachment ({id})");
    let got = match c.iam.list_attached_role_policies().role_name(&role).send().await {
        Ok(o) => o,
        Err(e) if crate::aws::error_code(&e) == Some("NoSuchEntity") => return Ok(Observation::Missing),
        Err(e) => return Err(sdk_error(&summary, "IAM", "ListAttachedRolePolicies", &e)),
    };
    if got.attached_policies().iter().any(|p| p.policy_arn() == Some(arn.as_str())) {
        Ok(Observation::Exists(json!({"id": id, "role": role, "policyArn": arn})))
    } else {
        Ok(Observation::Missing)
    }
}

async fn observe_org_policy(c: &Clients, id: &str) -> Result<Observation, ExternalError> {
    let summary = format!("reading Organizations Policy ({id})");
    let got = match c.organizations.describe_policy().policy_id(id).send().await {
        Ok(o) => o,
        Err(e) if crate::aws::error_code(&e) == Some("PolicyNotFoundException") => return Ok(Observation::Missing),
        Err(e) => return Err(sdk_error(&summary, "Organizations", "DescribePolicy", &e)),
    };
    let Some(p) = got.policy() else { return Ok(Observation::Missing) };
    let s = p.policy_summary();
    Ok(Observation::Exists(json!({
        "id": id, "arn": s.and_then(|s| s.arn()).unwrap_or_default(),
        "name": s.and_then(|s| s.name()).unwrap_or_default(),
        "description": s.and_then(|s| s.description()).unwrap_or_default(),
        "type": s.and_then(|s| s.r#type()).map(|t| t.as_str().to_string()).unwrap_or_default(),
        "content": p.content().unwrap_or_default(),
    })))
}

/// `<targetId>:<policyId>`, the Terraform provider's id of an attachment.
fn org_attachment_parts(id: &str) -> (&str, &str) {
    id.split_once(':').unwrap_or((id, ""))
}

async fn observe_org_attachment(c: &Clients, id: &str) -> Result<Observation, ExternalError> {
    let (target, policy) = org_attachment_parts(id);
    let summary = format!("reading Organizations Policy Attachment ({id})");
    let got = match c.organizations.list_targets_for_policy().policy_id(policy).send().await {
        Ok(o) => o,
        Err(e) if crate::aws::error_code(&e) == Some("PolicyNotFoundException") => return Ok(Observation::Missing),
        Err(e) => return Err(sdk_error(&summary, "Organizations", "ListTargetsForPolicy", &e)),
    };
    if got.targets().iter().any(|t| t.target_id() == Some(target)) {
        Ok(Observation::Exists(json!({"id": id, "policyId": policy, "targetId": target})))
    } else {
        Ok(Observation::Missing)
    }
}

/// Whether the observed resource matches the parameters (the Terraform plan is empty).
pub fn up_to_date(r: Resource, params: &Value, at: &Value) -> bool {
    let same = |f: &str| opt(params, f).is_none_or(|want| opt(at, f) == Some(want));
    let same_doc = |f: &str| opt(params, f).is_none_or(|want| opt(at, f).is_some_and(|got| same_document(want, got)));
    let same_tags = || params.get("tags").is_none_or(|t| at.get("tags").unwrap_or(&json!({})) == t);
    match r {
        Resource::IamPolicy => same_doc("policy") && same_tags(),
        Resource::IamRole => {
            let inline_ok = params.get("inlinePolicy").and_then(Value::as_array).is_none_or(|want| {
                let got = at.get("inlinePolicy").and_then(Value::as_array).cloned().unwrap_or_default();
                want.len() == got.len()
                    && want.iter().all(|w| {
                        got.iter().any(|g| {
                            opt(g, "name") == opt(w, "name")
                                && same_document(
                                    opt(w, "policy").unwrap_or_default(),
                                    opt(g, "policy").unwrap_or_default(),
                                )
                        })
                    })
            });
            same_doc("assumeRolePolicy")
                && same("description")
                && same("permissionsBoundary")
                && params.get("maxSessionDuration").is_none_or(|m| at.get("maxSessionDuration") == Some(m))
                && same_tags()
                && inline_ok
        }
        Resource::IamRolePolicyAttachment => same("role") && same("policyArn"),
        Resource::OrgPolicy => same("content") && same("name") && same("description"),
        Resource::OrgPolicyAttachment => same("policyId") && same("targetId"),
    }
}

/// A deterministic suffix for ids the Terraform provider makes unique (`id.PrefixedUniqueId`:
/// 26 digits).
fn unique_suffix(seed: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
    d.as_ref().iter().take(13).map(|b| format!("{:02}", b % 100)).collect()
}

/// Creates the external resource; returns its external name. `name` is the external name the
/// resource was initialised with (metadata.name or the annotation; empty for kinds whose name
/// AWS assigns).
pub async fn create(c: &Clients, r: Resource, name: &str, params: &Value) -> Result<String, ExternalError> {
    match r {
        Resource::IamPolicy => {
            let doc = required(params, "policy")?;
            let t = iam_tags(&tags(params));
            c.iam
                .create_policy()
                .policy_name(name)
                .path(path_of(params))
                .policy_document(doc)
                .set_description(opt(params, "description").map(str::to_string))
                .set_tags((!t.is_empty()).then_some(t))
                .send()
                .await
                .map_err(|e| sdk_error(&format!("creating IAM Policy ({name})"), "IAM", "CreatePolicy", &e))?;
            Ok(name.to_string())
        }
        Resource::IamRole => {
            let doc = required(params, "assumeRolePolicy")?;
            let t = iam_tags(&tags(params));
            let summary = format!("creating IAM Role ({name})");
            c.iam
                .create_role()
                .role_name(name)
                .path(path_of(params))
                .assume_role_policy_document(doc)
                .set_description(opt(params, "description").map(str::to_string))
                .set_max_session_duration(params.get("maxSessionDuration").and_then(Value::as_i64).map(|v| v as i32))
                .set_permissions_boundary(opt(params, "permissionsBoundary").map(str::to_string))
                .set_tags((!t.is_empty()).then_some(t))
                .send()
                .await
                .map_err(|e| sdk_error(&summary, "IAM", "CreateRole", &e))?;
            put_inline(c, name, params, &json!([])).await?;
            Ok(name.to_string())
        }
        Resource::IamRolePolicyAttachment => {
            let role = required(params, "role")?;
            let arn = required(params, "policyArn")?;
            attach_role_policy(c, &role, &arn).await?;
            Ok(format!("{role}-{}", unique_suffix(&format!("{role}\n{arn}"))))
        }
        Resource::OrgPolicy => {
            let content = required(params, "content")?;
            let pname = required(params, "name")?;
            ensure_organization(c).await?;
            let t: Vec<_> = tags(params)
                .iter()
                .filter_map(|(k, v)| {
                    aws_sdk_organizations::types::Tag::builder()
                        .key(k)
                        .value(v.as_str().unwrap_or_default())
                        .build()
                        .ok()
                })
                .collect();
            let ty = opt(params, "type").unwrap_or("SERVICE_CONTROL_POLICY");
            let out = c
                .organizations
                .create_policy()
                .name(&pname)
                .content(content)
                .description(opt(params, "description").unwrap_or_default())
                .r#type(aws_sdk_organizations::types::PolicyType::from(ty))
                .set_tags((!t.is_empty()).then_some(t))
                .send()
                .await
                .map_err(|e| {
                    sdk_error(&format!("creating Organizations Policy ({pname})"), "Organizations", "CreatePolicy", &e)
                })?;
            Ok(out.policy().and_then(|p| p.policy_summary()).and_then(|s| s.id()).unwrap_or_default().to_string())
        }
        Resource::OrgPolicyAttachment => {
            let policy = required(params, "policyId")?;
            let target = required(params, "targetId")?;
            let id = format!("{target}:{policy}");
            c.organizations.attach_policy().policy_id(&policy).target_id(&target).send().await.map_err(|e| {
                sdk_error(
                    &format!("creating Organizations Policy Attachment ({id})"),
                    "Organizations",
                    "AttachPolicy",
                    &e,
                )
            })?;
            Ok(id)
        }
    }
}

async fn attach_role_policy(c: &Clients, role: &str, arn: &str) -> Result<(), ExternalError> {
    c.iam.attach_role_policy().role_name(role).policy_arn(arn).send().await.map_err(|e| {
        sdk_error(&format!("attaching IAM Policy ({arn}) to IAM Role ({role})"), "IAM", "AttachRolePolicy", &e)
    })?;
    Ok(())
}

async fn detach_role_policy(c: &Clients, role: &str, arn: &str) -> Result<(), ExternalError> {
    match c.iam.detach_role_policy().role_name(role).policy_arn(arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if crate::aws::error_code(&e) == Some("NoSuchEntity") => Ok(()),
        Err(e) => Err(sdk_error(
            &format!("detaching IAM Policy ({arn}) from IAM Role ({role})"),
            "IAM",
            "DetachRolePolicy",
            &e,
        )),
    }
}

/// Puts the role's inline policies the parameters list and deletes the ones `at` has beyond.
async fn put_inline(c: &Clients, role: &str, params: &Value, at: &Value) -> Result<(), ExternalError> {
    let Some(want) = params.get("inlinePolicy").and_then(Value::as_array) else { return Ok(()) };
    let summary = format!("putting IAM Role ({role}) inline policy");
    for p in want {
        let (Some(n), Some(doc)) = (opt(p, "name"), opt(p, "policy")) else { continue };
        c.iam
            .put_role_policy()
            .role_name(role)
            .policy_name(n)
            .policy_document(doc)
            .send()
            .await
            .map_err(|e| sdk_error(&summary, "IAM", "PutRolePolicy", &e))?;
    }
    for g in at.get("inlinePolicy").and_then(Value::as_array).cloned().unwrap_or_default() {
        let Some(n) = opt(&g, "name") else { continue };
        if !want.iter().any(|w| opt(w, "name") == Some(n)) {
            c.iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(n)
                .send()
                .await
                .map_err(|e| sdk_error(&summary, "IAM", "DeleteRolePolicy", &e))?;
        }
    }
    Ok(())
}

/// moto keeps SCPs only inside an organization: creates one (all features) when the account
/// has none, as a management account would have.
pub async fn ensure_organization(c: &Clients) -> Result<(), ExternalError> {
    match c.organizations.describe_organization().send().await {
        Ok(_) => Ok(()),
        Err(e) if crate::aws::error_code(&e) == Some("AWSOrganizationsNotInUseException") => {
            c.organizations
                .create_organization()
                .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
                .send()
                .await
                .map_err(|e| sdk_error("creating Organization", "Organizations", "CreateOrganization", &e))?;
            Ok(())
        }
        Err(e) => Err(sdk_error("reading Organization", "Organizations", "DescribeOrganization", &e)),
    }
}

/// Brings the external resource to the parameters; returns its (possibly new) external name.
pub async fn update(
    c: &Clients,
    r: Resource,
    external: &str,
    params: &Value,
    at: &Value,
) -> Result<String, ExternalError> {
    match r {
        Resource::IamPolicy => {
            let arn = opt(at, "arn").unwrap_or_default().to_string();
            let summary = format!("updating IAM Policy ({arn})");
            if let Some(doc) = opt(params, "policy") {
                if !opt(at, "policy").is_some_and(|got| same_document(doc, got)) {
                    // IAM keeps five versions: the provider deletes the oldest non-default one.
                    let versions = c
                        .iam
                        .list_policy_versions()
                        .policy_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| sdk_error(&summary, "IAM", "ListPolicyVersions", &e))?;
                    let mut old: Vec<_> = versions.versions().iter().filter(|v| !v.is_default_version()).collect();
                    old.sort_by_key(|v| v.create_date().map(|d| d.secs()).unwrap_or_default());
                    if versions.versions().len() >= 5 {
                        if let Some(v) = old.first().and_then(|v| v.version_id()) {
                            c.iam
                                .delete_policy_version()
                                .policy_arn(&arn)
                                .version_id(v)
                                .send()
                                .await
                                .map_err(|e| sdk_error(&summary, "IAM", "DeletePolicyVersion", &e))?;
                        }
                    }
                    c.iam
                        .create_policy_version()
                        .policy_arn(&arn)
                        .policy_document(doc)
                        .set_as_default(true)
                        .send()
                        .await
                        .map_err(|e| sdk_error(&summary, "IAM", "CreatePolicyVersion", &e))?;
                }
            }
            if let Some(want) = params.get("tags").and_then(Value::as_object) {
                let got = at.get("tags").and_then(Value::as_object).cloned().unwrap_or_default();
                let gone: Vec<String> = got.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
                if !gone.is_empty() {
                    c.iam
                        .untag_policy()
                        .policy_arn(&arn)
                        .set_tag_keys(Some(gone))
                        .send()
                        .await
                        .map_err(|e| sdk_error(&summary, "IAM", "UntagPolicy", &e))?;
                }
                if !want.is_empty() && &got != want {
                    c.iam
                        .tag_policy()
                        .policy_arn(&arn)
                        .set_tags(Some(iam_tags(want)))
                        .send()
                        .await
                        .map_err(|e| sdk_error(&summary, "IAM", "TagPolicy", &e))?;
                }
            }
            Ok(external.to_string())
        }
        Resource::IamRole => {
            let summary = format!("updating IAM Role ({external})");
            if let Some(doc) = opt(params, "assumeRolePolicy") {
                if !opt(at, "assumeRolePolicy").is_some_and(|got| same_document(doc, got)) {
                    c.iam
                        .update_assume_role_policy()
                        .role_name(external)
                        .policy_document(doc)
                        .send()
                        .await
                        .map_err(|e| sdk_error(&summary, "IAM", "UpdateAssumeRolePolicy", &e))?;
                }
            }
            let desc_changed = opt(params, "description").is_some_and(|d| opt(at, "description") != Some(d));
            let max = params.get("maxSessionDuration").and_then(Value::as_i64);
            let max_changed = max.is_some_and(|m| at.get("maxSessionDuration").and_then(Value::as_i64) != Some(m));
            if desc_changed || max_changed {
                c.iam
                    .update_role()
                    .role_name(external)
                    .set_description(opt(params, "description").map(str::to_string))
                    .set_max_session_duration(max.map(|m| m as i32))
                    .send()
                    .await
                    .map_err(|e| sdk_error(&summary, "IAM", "UpdateRole", &e))?;
            }
            if let Some(b) = opt(params, "permissionsBoundary") {
                if opt(at, "permissionsBoundary") != Some(b) {
                    c.iam
                        .put_role_permissions_boundary()
                        .role_name(external)
                        .permissions_boundary(b)
                        .send()
                        .await
                        .map_err(|e| sdk_error(&summary, "IAM", "PutRolePermissionsBoundary", &e))?;
                }
            }
            if let Some(want) = params.get("tags").and_then(Value::as_object) {
                let got = at.get("tags").and_then(Value::as_object).cloned().unwrap_or_default();
                let gone: Vec<String> = got.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
                if !gone.is_empty() {
                    c.iam
                        .untag_role()
                        .role_name(external)
                        .set_tag_keys(Some(gone))
                        .send()
                        .await
                        .map_err(|e| sdk_error(&summary, "IAM", "UntagRole", &e))?;
                }
                if !want.is_empty() && &got != want {
                    c.iam
                        .tag_role()
                        .role_name(external)
                        .set_tags(Some(iam_tags(want)))
                        .send()
                        .await
                        .map_err(|e| sdk_error(&summary, "IAM", "TagRole", &e))?;
                }
            }
            put_inline(c, external, params, at).await?;
            Ok(external.to_string())
        }
        Resource::IamRolePolicyAttachment => {
            // Both fields force a new attachment: detach the old one, attach the new one.
            let (old_role, old_arn) = attachment_parts(&json!({}), at);
            detach_role_policy(c, &old_role, &old_arn).await?;
            create(c, r, external, params).await
        }
        Resource::OrgPolicy => {
            let summary = format!("updating Organizations Policy ({external})");
            c.organizations
                .update_policy()
                .policy_id(external)
                .set_name(opt(params, "name").map(str::to_string))
                .set_description(opt(params, "description").map(str::to_string))
                .set_content(opt(params, "content").map(str::to_string))
                .send()
                .await
                .map_err(|e| sdk_error(&summary, "Organizations", "UpdatePolicy", &e))?;
            Ok(external.to_string())
        }
        Resource::OrgPolicyAttachment => {
            delete(c, r, external, params, at).await?;
            create(c, r, external, params).await
        }
    }
}

/// Deletes the external resource (gone already is success).
pub async fn delete(c: &Clients, r: Resource, external: &str, params: &Value, at: &Value) -> Result<(), ExternalError> {
    let skip = params.get("skipDestroy").and_then(Value::as_bool) == Some(true);
    match r {
        Resource::IamPolicy => {
            let arn = match opt(at, "arn") {
                Some(a) => a.to_string(),
                None => policy_arn(c, &path_of(params), external).await?,
            };
            let summary = format!("deleting IAM Policy ({arn})");
            // Non-default versions go first, as the provider does.
            if let Ok(v) = c.iam.list_policy_versions().policy_arn(&arn).send().await {
                for ver in v.versions().iter().filter(|v| !v.is_default_version()) {
                    if let Some(id) = ver.version_id() {
                        c.iam
                            .delete_policy_version()
                            .policy_arn(&arn)
                            .version_id(id)
                            .send()
                            .await
                            .map_err(|e| sdk_error(&summary, "IAM", "DeletePolicyVersion", &e))?;
                    }
                }
            }
            match c.iam.delete_policy().policy_arn(&arn).send().await {
                Ok(_) => Ok(()),
                Err(e) if crate::aws::error_code(&e) == Some("NoSuchEntity") => Ok(()),
                Err(e) => Err(sdk_error(&summary, "IAM", "DeletePolicy", &e)),
            }
        }
        Resource::IamRole => {
            let summary = format!("deleting IAM Role ({external})");
            put_inline(c, external, &json!({"inlinePolicy": []}), at).await?;
            if params.get("forceDetachPolicies").and_then(Value::as_bool) == Some(true) {
                for arn in at.get("managedPolicyArns").and_then(Value::as_array).cloned().unwrap_or_default() {
                    if let Some(a) = arn.as_str() {
                        detach_role_policy(c, external, a).await?;
                    }
                }
            }
            match c.iam.delete_role().role_name(external).send().await {
                Ok(_) => Ok(()),
                Err(e) if crate::aws::error_code(&e) == Some("NoSuchEntity") => Ok(()),
                Err(e) => Err(sdk_error(&summary, "IAM", "DeleteRole", &e)),
            }
        }
        Resource::IamRolePolicyAttachment => {
            let (role, arn) = attachment_parts(params, at);
            detach_role_policy(c, &role, &arn).await
        }
        Resource::OrgPolicy if skip => Ok(()),
        Resource::OrgPolicy => match c.organizations.delete_policy().policy_id(external).send().await {
            Ok(_) => Ok(()),
            Err(e) if crate::aws::error_code(&e) == Some("PolicyNotFoundException") => Ok(()),
            Err(e) => Err(sdk_error(
                &format!("deleting Organizations Policy ({external})"),
                "Organizations",
                "DeletePolicy",
                &e,
            )),
        },
        Resource::OrgPolicyAttachment if skip => Ok(()),
        Resource::OrgPolicyAttachment => {
            let (target, policy) = org_attachment_parts(external);
            match c.organizations.detach_policy().policy_id(policy).target_id(target).send().await {
                Ok(_) => Ok(()),
                Err(e)
                    if matches!(
                        crate::aws::error_code(&e),
                        Some("PolicyNotAttachedException") | Some("PolicyNotFoundException")
                    ) =>
                {
                    Ok(())
                }
                Err(e) => Err(sdk_error(
                    &format!("deleting Organizations Policy Attachment ({external})"),
                    "Organizations",
                    "DetachPolicy",
                    &e,
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_decode_and_compare_as_json() {
        assert_eq!(decode_document("%7B%22a%22%3A%201%7D"), "{\"a\": 1}");
        assert_eq!(decode_document("100%"), "100%");
        assert!(same_document("{\"a\": [1, 2]}", "{\"a\":[1,2]}"));
        assert!(!same_document("{\"a\": [2, 1]}", "{\"a\":[1,2]}"));
    }

    #[test]
    fn attachment_ids_are_stable_and_26_digits() {
        let a = unique_suffix("role\narn");
        assert_eq!(a.len(), 26);
        assert!(a.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(a, unique_suffix("role\narn"));
        assert_ne!(a, unique_suffix("role\narn2"));
        assert_eq!(org_attachment_parts("r-abcd:p-1234"), ("r-abcd", "p-1234"));
    }
}
