//! iam-controller (`iam.services.k8s.aws/v1alpha1`): the CRDs of Role, Policy, User, Group,
//! InstanceProfile, OpenIDConnectProvider and ServiceLinkedRole (field names as the controller's
//! generated CRDs), and the reconcilers against IAM of all but ServiceLinkedRole.
//!
//! Role: `CreateRole`, then on every reconcile the description, maximum session duration, trust
//! policy, permissions boundary, managed policies (`policies` plus `policyRefs` resolved to ACK
//! Policies' ARNs), inline policies and tags are brought back to the spec (drift is corrected).
//! Policy: `CreatePolicy`, a new default version when the document changes (the oldest
//! non-default version is deleted at IAM's limit of five). User and Group keep their policies as
//! a Role does, InstanceProfile its role, OpenIDConnectProvider its client IDs and thumbprints.
//! There is deliberately no
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
pub const USER: Kind = Kind { group: GROUP, kind: "User", plural: "users" };
pub const IAM_GROUP: Kind = Kind { group: GROUP, kind: "Group", plural: "groups" };
pub const INSTANCE_PROFILE: Kind = Kind { group: GROUP, kind: "InstanceProfile", plural: "instanceprofiles" };
pub const OIDC_PROVIDER: Kind = Kind { group: GROUP, kind: "OpenIDConnectProvider", plural: "openidconnectproviders" };

/// Where a reference to a Policy reads its target (`Status.ACKResourceMetadata.ARN`).
const ARN: &str = "/status/ackResourceMetadata/arn";
const ARN_FIELD: &str = "Status.ACKResourceMetadata.ARN";

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
        columns: &[],
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
    vec![
        Arc::new(RoleHandler),
        Arc::new(PolicyHandler),
        Arc::new(UserHandler),
        Arc::new(GroupHandler),
        Arc::new(InstanceProfileHandler),
        Arc::new(OidcProviderHandler),
    ]
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

/// Roles, Users and Groups watch Policies: a referenced Policy becoming synced resolves their
/// `policyRefs`.
fn on_policy_change() -> Watch {
    super::on_reference_change(POLICY, ARN)
}

pub struct RoleHandler;

impl Handler for RoleHandler {
    fn kind(&self) -> Kind {
        ROLE
    }

    fn watches(&self) -> Vec<Watch> {
        vec![on_policy_change()]
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
    let references =
        spec.policy_refs.as_ref().is_some_and(|r| !r.is_empty()) || spec.permissions_boundary_ref.is_some();
    let wanted = wanted_policies(c, &spec.policies, &spec.policy_refs)?;
    let boundary = match &spec.permissions_boundary_ref {
        Some(r) => Some(c.resolve(POLICY, r, ARN, ARN_FIELD)?),
        None => spec.permissions_boundary.clone().filter(|b| !b.is_empty()),
    };
    let iam = &c.aws.iam;
    let name = spec.name.as_str();
    c.manage().await?;
    let existing = found(iam.get_role().role_name(name).send().await.map_err(e("GetRole")))?.and_then(|o| o.role);
    let fresh = existing.is_none();
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
    sync_policies(c, Principal::Role, name, &wanted, &spec.inline_policies.clone().unwrap_or_default(), fresh).await?;
    if !fresh {
        sync_role_tags(c, name, &tag_pairs(&spec.tags)).await?;
    }
    Ok(Observed {
        arn: Some(role.arn.clone()),
        status: json!({"roleID": role.role_id, "createDate": timestamp(Some(&role.create_date))}),
        synced: true,
        references,
    })
}

/// An IAM identity that holds managed and inline policies.
#[derive(Debug, Clone, Copy)]
enum Principal {
    Role,
    User,
    Group,
}

/// The managed and inline policy calls of each [`Principal`], folded.
macro_rules! per_principal {
    ($p:expr, $iam:expr, $name:expr, |$b:ident| $body:expr, $role:ident, $user:ident, $group:ident, $op:literal) => {
        match $p {
            Principal::Role => {
                let $b = $iam.$role().role_name($name);
                $body.send().await.map(|_| ()).map_err(|err| error::aws("IAM", concat!($op, "Role", ""), err))
            }
            Principal::User => {
                let $b = $iam.$user().user_name($name);
                $body.send().await.map(|_| ()).map_err(|err| error::aws("IAM", concat!($op, "User", ""), err))
            }
            Principal::Group => {
                let $b = $iam.$group().group_name($name);
                $body.send().await.map(|_| ()).map_err(|err| error::aws("IAM", concat!($op, "Group", ""), err))
            }
        }
    };
}

impl Principal {
    async fn attached(self, iam: &aws_sdk_iam::Client, name: &str) -> Result<BTreeSet<String>, AckError> {
        let list = match self {
            Principal::Role => {
                iam.list_attached_role_policies()
                    .role_name(name)
                    .max_items(1000)
                    .send()
                    .await
                    .map_err(e("ListAttachedRolePolicies"))?
                    .attached_policies
            }
            Principal::User => {
                iam.list_attached_user_policies()
                    .user_name(name)
                    .max_items(1000)
                    .send()
                    .await
                    .map_err(e("ListAttachedUserPolicies"))?
                    .attached_policies
            }
            Principal::Group => {
                iam.list_attached_group_policies()
                    .group_name(name)
                    .max_items(1000)
                    .send()
                    .await
                    .map_err(e("ListAttachedGroupPolicies"))?
                    .attached_policies
            }
        };
        Ok(list.unwrap_or_default().into_iter().filter_map(|p| p.policy_arn).collect())
    }

    async fn inline_names(self, iam: &aws_sdk_iam::Client, name: &str) -> Result<BTreeSet<String>, AckError> {
        let names = match self {
            Principal::Role => {
                iam.list_role_policies().role_name(name).send().await.map_err(e("ListRolePolicies"))?.policy_names
            }
            Principal::User => {
                iam.list_user_policies().user_name(name).send().await.map_err(e("ListUserPolicies"))?.policy_names
            }
            Principal::Group => {
                iam.list_group_policies().group_name(name).send().await.map_err(e("ListGroupPolicies"))?.policy_names
            }
        };
        Ok(names.into_iter().collect())
    }

    async fn inline_document(self, iam: &aws_sdk_iam::Client, name: &str, policy: &str) -> Result<String, AckError> {
        Ok(match self {
            Principal::Role => {
                iam.get_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map_err(e("GetRolePolicy"))?
                    .policy_document
            }
            Principal::User => {
                iam.get_user_policy()
                    .user_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map_err(e("GetUserPolicy"))?
                    .policy_document
            }
            Principal::Group => {
                iam.get_group_policy()
                    .group_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map_err(e("GetGroupPolicy"))?
                    .policy_document
            }
        })
    }

    async fn attach(self, iam: &aws_sdk_iam::Client, name: &str, arn: &str) -> Result<(), AckError> {
        per_principal!(
            self,
            iam,
            name,
            |b| b.policy_arn(arn),
            attach_role_policy,
            attach_user_policy,
            attach_group_policy,
            "Attach"
        )
    }

    async fn detach(self, iam: &aws_sdk_iam::Client, name: &str, arn: &str) -> Result<(), AckError> {
        per_principal!(
            self,
            iam,
            name,
            |b| b.policy_arn(arn),
            detach_role_policy,
            detach_user_policy,
            detach_group_policy,
            "Detach"
        )
    }

    async fn put_inline(self, iam: &aws_sdk_iam::Client, name: &str, policy: &str, doc: &str) -> Result<(), AckError> {
        per_principal!(
            self,
            iam,
            name,
            |b| b.policy_name(policy).policy_document(doc),
            put_role_policy,
            put_user_policy,
            put_group_policy,
            "Put"
        )
    }

    async fn delete_inline(self, iam: &aws_sdk_iam::Client, name: &str, policy: &str) -> Result<(), AckError> {
        per_principal!(
            self,
            iam,
            name,
            |b| b.policy_name(policy),
            delete_role_policy,
            delete_user_policy,
            delete_group_policy,
            "Delete"
        )
    }
}

/// Attaches and detaches managed policies and puts and deletes inline ones until the principal
/// has exactly the spec's. `fresh`: just created, so it has none yet (no list calls).
async fn sync_policies(
    c: &Ctx<'_>,
    p: Principal,
    name: &str,
    wanted: &BTreeSet<String>,
    inline: &BTreeMap<String, String>,
    fresh: bool,
) -> Result<(), AckError> {
    let iam = &c.aws.iam;
    let attached = if fresh { BTreeSet::new() } else { p.attached(iam, name).await? };
    for arn in wanted.difference(&attached) {
        p.attach(iam, name, arn).await?;
    }
    for arn in attached.difference(wanted) {
        p.detach(iam, name, arn).await?;
    }
    let names = if fresh { BTreeSet::new() } else { p.inline_names(iam, name).await? };
    for (policy, document) in inline {
        let current = if names.contains(policy) { Some(p.inline_document(iam, name, policy).await?) } else { None };
        if !current.as_deref().is_some_and(|cur| same_policy(cur, document)) {
            p.put_inline(iam, name, policy, document).await?;
        }
    }
    for policy in names.iter().filter(|n| !inline.contains_key(*n)) {
        p.delete_inline(iam, name, policy).await?;
    }
    Ok(())
}

/// The managed policy ARNs a spec asks for: `policies` plus the resolved `policyRefs`.
fn wanted_policies(
    c: &Ctx<'_>,
    arns: &Option<Vec<String>>,
    refs: &Option<Vec<ResourceRef>>,
) -> Result<BTreeSet<String>, AckError> {
    let mut wanted: BTreeSet<String> = arns.clone().unwrap_or_default().into_iter().collect();
    for r in refs.iter().flatten() {
        wanted.insert(c.resolve(POLICY, r, ARN, ARN_FIELD)?);
    }
    Ok(wanted)
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
    sync_policies(c, Principal::Role, name, &BTreeSet::new(), &BTreeMap::new(), false).await?;
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
    // IAM refuses to delete a policy that is still attached (moto deletes it and leaves the
    // attachment dangling, so a Role deleted after it could never detach it): ACK retries until
    // the Roles, Users and Groups let go of it.
    let policy = iam.get_policy().policy_arn(&arn).send().await.map_err(e("GetPolicy"))?;
    if policy.policy.and_then(|p| p.attachment_count).unwrap_or(0) > 0 {
        return Err(error::emulated(
            "IAM",
            "DeletePolicy",
            409,
            "DeleteConflict",
            "Cannot delete a policy attached to entities.",
            &arn,
        ));
    }
    found(iam.delete_policy().policy_arn(&arn).send().await.map_err(e("DeletePolicy")))?;
    Ok(())
}

pub struct UserHandler;

impl Handler for UserHandler {
    fn kind(&self) -> Kind {
        USER
    }

    fn watches(&self) -> Vec<Watch> {
        vec![on_policy_change()]
    }

    fn sync<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<Observed, AckError>> {
        Box::pin(async move {
            let spec: UserSpec = c.spec()?;
            let references =
                spec.policy_refs.as_ref().is_some_and(|r| !r.is_empty()) || spec.permissions_boundary_ref.is_some();
            let wanted = wanted_policies(c, &spec.policies, &spec.policy_refs)?;
            let boundary = match &spec.permissions_boundary_ref {
                Some(r) => Some(c.resolve(POLICY, r, ARN, ARN_FIELD)?),
                None => spec.permissions_boundary.clone().filter(|b| !b.is_empty()),
            };
            let iam = &c.aws.iam;
            let name = spec.name.as_str();
            c.manage().await?;
            let existing =
                found(iam.get_user().user_name(name).send().await.map_err(e("GetUser")))?.and_then(|o| o.user);
            let fresh = existing.is_none();
            let user = match existing {
                Some(u) => u,
                None => iam
                    .create_user()
                    .user_name(name)
                    .set_path(spec.path.clone())
                    .set_permissions_boundary(boundary.clone())
                    .set_tags(Some(iam_tags(&tag_pairs(&spec.tags))?).filter(|t| !t.is_empty()))
                    .send()
                    .await
                    .map_err(e("CreateUser"))?
                    .user
                    .ok_or_else(|| AckError::other("CreateUser returned no user"))?,
            };
            let current_boundary = user.permissions_boundary.as_ref().and_then(|b| b.permissions_boundary_arn.clone());
            if current_boundary != boundary {
                match &boundary {
                    Some(b) => iam
                        .put_user_permissions_boundary()
                        .user_name(name)
                        .permissions_boundary(b)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(e("PutUserPermissionsBoundary"))?,
                    None => iam
                        .delete_user_permissions_boundary()
                        .user_name(name)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(e("DeleteUserPermissionsBoundary"))?,
                }
            }
            sync_policies(c, Principal::User, name, &wanted, &spec.inline_policies.clone().unwrap_or_default(), fresh)
                .await?;
            Ok(Observed {
                arn: Some(user.arn.clone()),
                status: json!({"userID": user.user_id, "createDate": timestamp(Some(&user.create_date))}),
                synced: true,
                references,
            })
        })
    }

    fn delete<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<(), AckError>> {
        Box::pin(async move {
            let spec: UserSpec = c.spec()?;
            let iam = &c.aws.iam;
            if found(iam.get_user().user_name(&spec.name).send().await.map_err(e("GetUser")))?.is_none() {
                return Ok(());
            }
            sync_policies(c, Principal::User, &spec.name, &BTreeSet::new(), &BTreeMap::new(), false).await?;
            found(iam.delete_user().user_name(&spec.name).send().await.map_err(e("DeleteUser")))?;
            Ok(())
        })
    }
}

pub struct GroupHandler;

impl Handler for GroupHandler {
    fn kind(&self) -> Kind {
        IAM_GROUP
    }

    fn watches(&self) -> Vec<Watch> {
        vec![on_policy_change()]
    }

    fn sync<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<Observed, AckError>> {
        Box::pin(async move {
            let spec: GroupSpec = c.spec()?;
            let references = spec.policy_refs.as_ref().is_some_and(|r| !r.is_empty());
            let wanted = wanted_policies(c, &spec.policies, &spec.policy_refs)?;
            let iam = &c.aws.iam;
            let name = spec.name.as_str();
            c.manage().await?;
            let existing =
                found(iam.get_group().group_name(name).send().await.map_err(e("GetGroup")))?.and_then(|o| o.group);
            let fresh = existing.is_none();
            let group = match existing {
                Some(g) => g,
                None => iam
                    .create_group()
                    .group_name(name)
                    .set_path(spec.path.clone())
                    .send()
                    .await
                    .map_err(e("CreateGroup"))?
                    .group
                    .ok_or_else(|| AckError::other("CreateGroup returned no group"))?,
            };
            sync_policies(c, Principal::Group, name, &wanted, &spec.inline_policies.clone().unwrap_or_default(), fresh)
                .await?;
            Ok(Observed {
                arn: Some(group.arn.clone()),
                status: json!({"groupID": group.group_id, "createDate": timestamp(Some(&group.create_date))}),
                synced: true,
                references,
            })
        })
    }

    fn delete<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<(), AckError>> {
        Box::pin(async move {
            let spec: GroupSpec = c.spec()?;
            let iam = &c.aws.iam;
            if found(iam.get_group().group_name(&spec.name).send().await.map_err(e("GetGroup")))?.is_none() {
                return Ok(());
            }
            sync_policies(c, Principal::Group, &spec.name, &BTreeSet::new(), &BTreeMap::new(), false).await?;
            found(iam.delete_group().group_name(&spec.name).send().await.map_err(e("DeleteGroup")))?;
            Ok(())
        })
    }
}

pub struct InstanceProfileHandler;

impl Handler for InstanceProfileHandler {
    fn kind(&self) -> Kind {
        INSTANCE_PROFILE
    }

    /// `roleRef` resolves once the Role is synced.
    fn watches(&self) -> Vec<Watch> {
        vec![super::on_reference_change(ROLE, "/spec/name")]
    }

    fn sync<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<Observed, AckError>> {
        Box::pin(async move {
            let spec: InstanceProfileSpec = c.spec()?;
            let references = spec.role_ref.is_some();
            let role = match &spec.role_ref {
                Some(r) => Some(c.resolve(ROLE, r, "/spec/name", "Spec.Name")?),
                None => spec.role.clone().filter(|r| !r.is_empty()),
            };
            let iam = &c.aws.iam;
            let name = spec.name.as_str();
            c.manage().await?;
            let existing = found(
                iam.get_instance_profile().instance_profile_name(name).send().await.map_err(e("GetInstanceProfile")),
            )?
            .and_then(|o| o.instance_profile);
            let profile = match existing {
                Some(p) => p,
                None => iam
                    .create_instance_profile()
                    .instance_profile_name(name)
                    .set_path(spec.path.clone())
                    .set_tags(Some(iam_tags(&tag_pairs(&spec.tags))?).filter(|t| !t.is_empty()))
                    .send()
                    .await
                    .map_err(e("CreateInstanceProfile"))?
                    .instance_profile
                    .ok_or_else(|| AckError::other("CreateInstanceProfile returned no instance profile"))?,
            };
            let current: Vec<String> = profile.roles.iter().map(|r| r.role_name.clone()).collect();
            for stale in current.iter().filter(|r| Some(*r) != role.as_ref()) {
                iam.remove_role_from_instance_profile()
                    .instance_profile_name(name)
                    .role_name(stale)
                    .send()
                    .await
                    .map_err(e("RemoveRoleFromInstanceProfile"))?;
            }
            if let Some(r) = role.as_ref().filter(|r| !current.contains(r)) {
                iam.add_role_to_instance_profile()
                    .instance_profile_name(name)
                    .role_name(r)
                    .send()
                    .await
                    .map_err(e("AddRoleToInstanceProfile"))?;
            }
            Ok(Observed {
                arn: Some(profile.arn.clone()),
                status: json!({
                    "instanceProfileID": profile.instance_profile_id,
                    "createDate": timestamp(Some(&profile.create_date)),
                }),
                synced: true,
                references,
            })
        })
    }

    fn delete<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<(), AckError>> {
        Box::pin(async move {
            let spec: InstanceProfileSpec = c.spec()?;
            let iam = &c.aws.iam;
            let Some(out) = found(
                iam.get_instance_profile()
                    .instance_profile_name(&spec.name)
                    .send()
                    .await
                    .map_err(e("GetInstanceProfile")),
            )?
            else {
                return Ok(());
            };
            for r in out.instance_profile.map(|p| p.roles).unwrap_or_default() {
                iam.remove_role_from_instance_profile()
                    .instance_profile_name(&spec.name)
                    .role_name(r.role_name)
                    .send()
                    .await
                    .map_err(e("RemoveRoleFromInstanceProfile"))?;
            }
            found(
                iam.delete_instance_profile()
                    .instance_profile_name(&spec.name)
                    .send()
                    .await
                    .map_err(e("DeleteInstanceProfile")),
            )?;
            Ok(())
        })
    }
}

pub struct OidcProviderHandler;

/// The provider's ARN: `arn:aws:iam::<account>:oidc-provider/<url without scheme>`.
async fn oidc_arn(c: &Ctx<'_>, url: &str) -> Result<String, AckError> {
    let host = url.trim_start_matches("https://").trim_start_matches("http://");
    Ok(format!("arn:aws:iam::{}:oidc-provider/{host}", account(c).await?))
}

impl Handler for OidcProviderHandler {
    fn kind(&self) -> Kind {
        OIDC_PROVIDER
    }

    fn sync<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<Observed, AckError>> {
        Box::pin(async move {
            let spec: OpenIdConnectProviderSpec = c.spec()?;
            let iam = &c.aws.iam;
            let arn = oidc_arn(c, &spec.url).await?;
            let client_ids: BTreeSet<String> = spec.client_ids.clone().unwrap_or_default().into_iter().collect();
            let thumbprints = spec.thumbprints.clone().unwrap_or_default();
            c.manage().await?;
            let existing = found(
                iam.get_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .send()
                    .await
                    .map_err(e("GetOpenIDConnectProvider")),
            )?;
            let arn = match existing {
                None => iam
                    .create_open_id_connect_provider()
                    .url(&spec.url)
                    .set_client_id_list(Some(client_ids.iter().cloned().collect()))
                    .set_thumbprint_list(Some(thumbprints.clone()).filter(|t| !t.is_empty()))
                    .set_tags(Some(iam_tags(&tag_pairs(&spec.tags))?).filter(|t| !t.is_empty()))
                    .send()
                    .await
                    .map_err(e("CreateOpenIDConnectProvider"))?
                    .open_id_connect_provider_arn
                    .unwrap_or(arn),
                Some(p) => {
                    let current: BTreeSet<String> = p.client_id_list.unwrap_or_default().into_iter().collect();
                    for id in client_ids.difference(&current) {
                        iam.add_client_id_to_open_id_connect_provider()
                            .open_id_connect_provider_arn(&arn)
                            .client_id(id)
                            .send()
                            .await
                            .map_err(e("AddClientIDToOpenIDConnectProvider"))?;
                    }
                    for id in current.difference(&client_ids) {
                        iam.remove_client_id_from_open_id_connect_provider()
                            .open_id_connect_provider_arn(&arn)
                            .client_id(id)
                            .send()
                            .await
                            .map_err(e("RemoveClientIDFromOpenIDConnectProvider"))?;
                    }
                    if !thumbprints.is_empty() && p.thumbprint_list.unwrap_or_default() != thumbprints {
                        iam.update_open_id_connect_provider_thumbprint()
                            .open_id_connect_provider_arn(&arn)
                            .set_thumbprint_list(Some(thumbprints))
                            .send()
                            .await
                            .map_err(e("UpdateOpenIDConnectProviderThumbprint"))?;
                    }
                    arn
                }
            };
            Ok(Observed { arn: Some(arn), status: json!({}), synced: true, references: false })
        })
    }

    fn delete<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<(), AckError>> {
        Box::pin(async move {
            let spec: OpenIdConnectProviderSpec = c.spec()?;
            let arn = oidc_arn(c, &spec.url).await?;
            found(
                c.aws
                    .iam
                    .delete_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .send()
                    .await
                    .map_err(e("DeleteOpenIDConnectProvider")),
            )?;
            Ok(())
        })
    }
}
