//! iam-controller (`iam.services.k8s.aws/v1alpha1`): the CRDs of Role, Policy, User, Group,
//! InstanceProfile, OpenIDConnectProvider and ServiceLinkedRole (field names as the controller's
//! generated CRDs), and the reconcilers of Role and Policy against IAM.
//!
//! Role: `CreateRole`, then on every reconcile the description, maximum session duration, trust
//! policy, permissions boundary, managed policies (`policies` plus `policyRefs` resolved to ACK
//! Policies' ARNs), inline policies and tags are brought back to the spec (drift is corrected).
//! Policy: `CreatePolicy`, a new default version when the document changes (the oldest
//! non-default version is deleted at IAM's limit of five). There is deliberately no
//! RolePolicyAttachment kind: the real controller has none. This module must not decide
//! conditions (the runtime in `super` does).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{self, AckError};
use super::schema::{status, structural, KindCrd};
use super::{same_policy, tag_pairs, Ctx, Handler, Kind, Observed, ResourceRef, Tag};
use crate::crds;
use crate::runtime::Watch;

pub const GROUP: &str = "iam.services.k8s.aws";
pub const ROLE: Kind = Kind { group: GROUP, kind: "Role", plural: "roles" };
pub const POLICY: Kind = Kind { group: GROUP, kind: "Policy", plural: "policies" };

/// Role spec (iam-controller `apis/v1alpha1/role.go`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleSpec {
    pub assume_role_policy_document: String,
    pub description: Option<String>,
    pub inline_policies: Option<BTreeMap<String, String>>,
    pub max_session_duration: Option<i64>,
    pub name: String,
    pub path: Option<String>,
    pub permissions_boundary: Option<String>,
    pub permissions_boundary_ref: Option<ResourceRef>,
    pub policies: Option<Vec<String>>,
    pub policy_refs: Option<Vec<ResourceRef>>,
    pub tags: Option<Vec<Tag>>,
}

/// Policy spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    pub description: Option<String>,
    pub name: String,
    pub path: Option<String>,
    pub policy_document: String,
    pub tags: Option<Vec<Tag>>,
}

/// User spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSpec {
    pub inline_policies: Option<BTreeMap<String, String>>,
    pub name: String,
    pub path: Option<String>,
    pub permissions_boundary: Option<String>,
    pub permissions_boundary_ref: Option<ResourceRef>,
    pub policies: Option<Vec<String>>,
    pub policy_refs: Option<Vec<ResourceRef>>,
    pub tags: Option<Vec<Tag>>,
}

/// Group spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupSpec {
    pub inline_policies: Option<BTreeMap<String, String>>,
    pub name: String,
    pub path: Option<String>,
    pub policies: Option<Vec<String>>,
    pub policy_refs: Option<Vec<ResourceRef>>,
}

/// InstanceProfile spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceProfileSpec {
    pub name: String,
    pub path: Option<String>,
    pub role: Option<String>,
    pub role_ref: Option<ResourceRef>,
    pub tags: Option<Vec<Tag>>,
}

/// OpenIDConnectProvider spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenIdConnectProviderSpec {
    #[serde(rename = "clientIDs")]
    pub client_ids: Option<Vec<String>>,
    pub tags: Option<Vec<Tag>>,
    pub thumbprints: Option<Vec<String>>,
    pub url: String,
}

/// ServiceLinkedRole spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLinkedRoleSpec {
    pub aws_service_name: String,
    pub custom_suffix: Option<String>,
    pub description: Option<String>,
}

fn date() -> Value {
    json!({"type": "string", "format": "date-time"})
}

/// The iam-controller CRDs.
pub fn crds() -> Vec<KindCrd> {
    let k = |kind: &'static str, plural: &'static str, spec: Value, extra: &[(&str, Value)]| KindCrd {
        group: GROUP,
        kind,
        plural,
        spec,
        status: status(extra),
    };
    vec![
        k(
            "Role",
            "roles",
            structural::<RoleSpec>(),
            &[
                ("createDate", date()),
                ("roleID", crds::string()),
                ("roleLastUsed", crds::object(&[("lastUsedDate", date()), ("region", crds::string())], &[])),
            ],
        ),
        k(
            "Policy",
            "policies",
            structural::<PolicySpec>(),
            &[
                ("attachmentCount", crds::integer()),
                ("createDate", date()),
                ("defaultVersionID", crds::string()),
                ("isAttachable", crds::boolean()),
                ("permissionsBoundaryUsageCount", crds::integer()),
                ("policyID", crds::string()),
                ("updateDate", date()),
            ],
        ),
        k("User", "users", structural::<UserSpec>(), &[("createDate", date()), ("userID", crds::string())]),
        k("Group", "groups", structural::<GroupSpec>(), &[("createDate", date()), ("groupID", crds::string())]),
        k(
            "InstanceProfile",
            "instanceprofiles",
            structural::<InstanceProfileSpec>(),
            &[("createDate", date()), ("instanceProfileID", crds::string())],
        ),
        k("OpenIDConnectProvider", "openidconnectproviders", structural::<OpenIdConnectProviderSpec>(), &[]),
        k(
            "ServiceLinkedRole",
            "servicelinkedroles",
            structural::<ServiceLinkedRoleSpec>(),
            &[("roleID", crds::string()), ("roleName", crds::string()), ("createDate", date())],
        ),
    ]
}

/// The reconcilers of the kinds the simulator drives against IAM.
pub fn handlers() -> Vec<Arc<dyn Handler>> {
    vec![Arc::new(RoleHandler), Arc::new(PolicyHandler)]
}

/// Maps an IAM SDK error of `operation`.
fn e<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> AckError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |err| error::aws("IAM", operation, err)
}

/// `Ok(None)` for IAM's `NoSuchEntity`.
fn found<T>(r: Result<T, AckError>) -> Result<Option<T>, AckError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn iam_tags(pairs: &[(String, String)]) -> Result<Vec<aws_sdk_iam::types::Tag>, AckError> {
    pairs
        .iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().map_err(AckError::other))
        .collect()
}

fn timestamp(t: Option<&aws_smithy_types::DateTime>) -> Value {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()).map(Value::from).unwrap_or(Value::Null)
}

/// The account the controller acts in (the emulator's account, or STS).
async fn account(c: &Ctx<'_>) -> Result<String, AckError> {
    if let Some(a) = c.aws.target.account() {
        return Ok(a.to_string());
    }
    let out =
        c.aws.sts.get_caller_identity().send().await.map_err(|err| error::aws("STS", "GetCallerIdentity", err))?;
    Ok(out.account.unwrap_or_default())
}

/// Roles watch Policies: a referenced Policy becoming synced resolves their `policyRefs`.
fn roles_on_policy_change() -> Watch {
    Watch::all(GROUP, POLICY.plural)
}

pub struct RoleHandler;

impl Handler for RoleHandler {
    fn kind(&self) -> Kind {
        ROLE
    }

    fn watches(&self) -> Vec<Watch> {
        vec![roles_on_policy_change()]
    }

    fn sync<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<Observed, AckError>> {
        Box::pin(sync_role(c))
    }

    fn delete<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<(), AckError>> {
        Box::pin(delete_role(c))
    }
}

async fn sync_role(c: &Ctx<'_>) -> Result<Observed, AckError> {
    let spec: RoleSpec = c.spec()?;
    let refs = spec.policy_refs.clone().unwrap_or_default();
    let references = !refs.is_empty() || spec.permissions_boundary_ref.is_some();
    let mut wanted: BTreeSet<String> = spec.policies.clone().unwrap_or_default().into_iter().collect();
    for r in &refs {
        wanted.insert(c.resolve(POLICY, r, "arn")?);
    }
    let boundary = match &spec.permissions_boundary_ref {
        Some(r) => Some(c.resolve(POLICY, r, "arn")?),
        None => spec.permissions_boundary.clone().filter(|b| !b.is_empty()),
    };
    let iam = &c.aws.iam;
    let name = spec.name.as_str();
    c.manage().await?;
    let existing = found(iam.get_role().role_name(name).send().await.map_err(e("GetRole")))?.and_then(|o| o.role);
    let role = match existing {
        Some(r) => r,
        None => {
            let out = iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(&spec.assume_role_policy_document)
                .set_description(spec.description.clone())
                .set_max_session_duration(spec.max_session_duration.map(|d| d as i32))
                .set_path(spec.path.clone())
                .set_permissions_boundary(boundary.clone())
                .set_tags(Some(iam_tags(&tag_pairs(&spec.tags))?).filter(|t| !t.is_empty()))
                .send()
                .await
                .map_err(e("CreateRole"))?;
            out.role.ok_or_else(|| AckError::other("CreateRole returned no role"))?
        }
    };
    // Description and maximum session duration.
    let desc_differs =
        spec.description.as_deref().is_some_and(|d| role.description.as_deref().unwrap_or_default() != d);
    let max_differs = spec.max_session_duration.is_some_and(|m| role.max_session_duration.map(i64::from) != Some(m));
    if desc_differs || max_differs {
        iam.update_role()
            .role_name(name)
            .set_description(spec.description.clone())
            .set_max_session_duration(spec.max_session_duration.map(|d| d as i32))
            .send()
            .await
            .map_err(e("UpdateRole"))?;
    }
    let current_trust = role.assume_role_policy_document.as_deref().unwrap_or_default();
    if !same_policy(current_trust, &spec.assume_role_policy_document) {
        iam.update_assume_role_policy()
            .role_name(name)
            .policy_document(&spec.assume_role_policy_document)
            .send()
            .await
            .map_err(e("UpdateAssumeRolePolicy"))?;
    }
    let current_boundary = role.permissions_boundary.as_ref().and_then(|b| b.permissions_boundary_arn.clone());
    if current_boundary != boundary {
        match &boundary {
            Some(b) => {
                iam.put_role_permissions_boundary()
                    .role_name(name)
                    .permissions_boundary(b)
                    .send()
                    .await
                    .map_err(e("PutRolePermissionsBoundary"))?;
            }
            None => {
                iam.delete_role_permissions_boundary()
                    .role_name(name)
                    .send()
                    .await
                    .map_err(e("DeleteRolePermissionsBoundary"))?;
            }
        }
    }
    sync_role_policies(c, name, &wanted, spec.inline_policies.clone().unwrap_or_default()).await?;
    sync_role_tags(c, name, &tag_pairs(&spec.tags)).await?;
    Ok(Observed {
        arn: Some(role.arn.clone()),
        status: json!({"roleID": role.role_id, "createDate": timestamp(Some(&role.create_date))}),
        synced: true,
        references,
    })
}

/// Attaches and detaches managed policies and puts and deletes inline ones until the role has
/// exactly the spec's.
async fn sync_role_policies(
    c: &Ctx<'_>,
    name: &str,
    wanted: &BTreeSet<String>,
    inline: BTreeMap<String, String>,
) -> Result<(), AckError> {
    let iam = &c.aws.iam;
    let attached: BTreeSet<String> = iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(e("ListAttachedRolePolicies"))?
        .into_iter()
        .filter_map(|p| p.policy_arn)
        .collect();
    for arn in wanted.difference(&attached) {
        iam.attach_role_policy().role_name(name).policy_arn(arn).send().await.map_err(e("AttachRolePolicy"))?;
    }
    for arn in attached.difference(wanted) {
        iam.detach_role_policy().role_name(name).policy_arn(arn).send().await.map_err(e("DetachRolePolicy"))?;
    }
    let names: BTreeSet<String> = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(e("ListRolePolicies"))?
        .policy_names
        .into_iter()
        .collect();
    for (policy, document) in &inline {
        let current = if names.contains(policy) {
            let out =
                iam.get_role_policy().role_name(name).policy_name(policy).send().await.map_err(e("GetRolePolicy"))?;
            Some(out.policy_document)
        } else {
            None
        };
        if !current.as_deref().is_some_and(|cur| same_policy(cur, document)) {
            iam.put_role_policy()
                .role_name(name)
                .policy_name(policy)
                .policy_document(document)
                .send()
                .await
                .map_err(e("PutRolePolicy"))?;
        }
    }
    for policy in names.iter().filter(|n| !inline.contains_key(*n)) {
        iam.delete_role_policy().role_name(name).policy_name(policy).send().await.map_err(e("DeleteRolePolicy"))?;
    }
    Ok(())
}

async fn sync_role_tags(c: &Ctx<'_>, name: &str, wanted: &[(String, String)]) -> Result<(), AckError> {
    let iam = &c.aws.iam;
    let current: BTreeMap<String, String> = iam
        .list_role_tags()
        .role_name(name)
        .send()
        .await
        .map_err(e("ListRoleTags"))?
        .tags
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    let wanted_map: BTreeMap<String, String> = wanted.iter().cloned().collect();
    let stale: Vec<String> = current.keys().filter(|k| !wanted_map.contains_key(*k)).cloned().collect();
    if !stale.is_empty() {
        iam.untag_role().role_name(name).set_tag_keys(Some(stale)).send().await.map_err(e("UntagRole"))?;
    }
    let changed: Vec<(String, String)> =
        wanted_map.iter().filter(|(k, v)| current.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !changed.is_empty() {
        iam.tag_role().role_name(name).set_tags(Some(iam_tags(&changed)?)).send().await.map_err(e("TagRole"))?;
    }
    Ok(())
}

async fn delete_role(c: &Ctx<'_>) -> Result<(), AckError> {
    let spec: RoleSpec = c.spec()?;
    let name = spec.name.as_str();
    let iam = &c.aws.iam;
    if found(iam.get_role().role_name(name).send().await.map_err(e("GetRole")))?.is_none() {
        return Ok(());
    }
    // The controller's delete hook empties the role first (IAM refuses to delete otherwise).
    sync_role_policies(c, name, &BTreeSet::new(), BTreeMap::new()).await?;
    found(iam.delete_role().role_name(name).send().await.map_err(e("DeleteRole")))?;
    Ok(())
}

pub struct PolicyHandler;

impl Handler for PolicyHandler {
    fn kind(&self) -> Kind {
        POLICY
    }

    fn sync<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<Observed, AckError>> {
        Box::pin(sync_policy(c))
    }

    fn delete<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<(), AckError>> {
        Box::pin(delete_policy(c))
    }
}

/// IAM's limit of versions per managed policy.
const MAX_POLICY_VERSIONS: usize = 5;

async fn policy_arn(c: &Ctx<'_>, spec: &PolicySpec) -> Result<String, AckError> {
    let path = spec.path.clone().unwrap_or_else(|| "/".into());
    Ok(format!("arn:aws:iam::{}:policy{path}{}", account(c).await?, spec.name))
}

async fn sync_policy(c: &Ctx<'_>) -> Result<Observed, AckError> {
    let spec: PolicySpec = c.spec()?;
    let iam = &c.aws.iam;
    let arn = policy_arn(c, &spec).await?;
    c.manage().await?;
    let existing =
        found(iam.get_policy().policy_arn(&arn).send().await.map_err(e("GetPolicy")))?.and_then(|o| o.policy);
    let policy = match existing {
        Some(p) => {
            let version = p.default_version_id.clone().unwrap_or_default();
            let current = iam
                .get_policy_version()
                .policy_arn(&arn)
                .version_id(&version)
                .send()
                .await
                .map_err(e("GetPolicyVersion"))?
                .policy_version
                .and_then(|v| v.document)
                .unwrap_or_default();
            if same_policy(&current, &spec.policy_document) {
                p
            } else {
                new_default_version(c, &arn, &spec.policy_document).await?;
                iam.get_policy().policy_arn(&arn).send().await.map_err(e("GetPolicy"))?.policy.unwrap_or(p)
            }
        }
        None => iam
            .create_policy()
            .policy_name(&spec.name)
            .policy_document(&spec.policy_document)
            .set_description(spec.description.clone())
            .set_path(spec.path.clone())
            .set_tags(Some(iam_tags(&tag_pairs(&spec.tags))?).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(e("CreatePolicy"))?
            .policy
            .ok_or_else(|| AckError::other("CreatePolicy returned no policy"))?,
    };
    Ok(Observed {
        arn: Some(policy.arn.clone().unwrap_or(arn)),
        status: json!({
            "policyID": policy.policy_id,
            "defaultVersionID": policy.default_version_id,
            "attachmentCount": policy.attachment_count,
            "permissionsBoundaryUsageCount": policy.permissions_boundary_usage_count,
            "isAttachable": policy.is_attachable,
            "createDate": timestamp(policy.create_date.as_ref()),
            "updateDate": timestamp(policy.update_date.as_ref()),
        }),
        synced: true,
        references: false,
    })
}

/// Makes `document` the default version, deleting the oldest non-default version at the limit.
async fn new_default_version(c: &Ctx<'_>, arn: &str, document: &str) -> Result<(), AckError> {
    let iam = &c.aws.iam;
    let versions = iam
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .map_err(e("ListPolicyVersions"))?
        .versions
        .unwrap_or_default();
    if versions.len() >= MAX_POLICY_VERSIONS {
        let oldest =
            versions.iter().filter(|v| !v.is_default_version).min_by_key(|v| v.create_date.map(|d| d.as_nanos()));
        if let Some(id) = oldest.and_then(|v| v.version_id.clone()) {
            iam.delete_policy_version()
                .policy_arn(arn)
                .version_id(id)
                .send()
                .await
                .map_err(e("DeletePolicyVersion"))?;
        }
    }
    iam.create_policy_version()
        .policy_arn(arn)
        .policy_document(document)
        .set_as_default(true)
        .send()
        .await
        .map_err(e("CreatePolicyVersion"))?;
    Ok(())
}

async fn delete_policy(c: &Ctx<'_>) -> Result<(), AckError> {
    let spec: PolicySpec = c.spec()?;
    let arn = policy_arn(c, &spec).await?;
    let iam = &c.aws.iam;
    let Some(versions) =
        found(iam.list_policy_versions().policy_arn(&arn).send().await.map_err(e("ListPolicyVersions")))?
    else {
        return Ok(());
    };
    for v in versions.versions.unwrap_or_default().iter().filter(|v| !v.is_default_version) {
        if let Some(id) = &v.version_id {
            iam.delete_policy_version()
                .policy_arn(&arn)
                .version_id(id)
                .send()
                .await
                .map_err(e("DeletePolicyVersion"))?;
        }
    }
    found(iam.delete_policy().policy_arn(&arn).send().await.map_err(e("DeletePolicy")))?;
    Ok(())
}
