//! rds-controller (`rds.services.k8s.aws/v1alpha1`): the DBInstance and DBSubnetGroup CRDs
//! (field names as the controller's generated CRDs) and their reconcilers against RDS.
//!
//! DBInstance: `CreateDBInstance` with the master password read from a Kubernetes Secret
//! (`masterUserPassword: {name, key, namespace}`), `ACK.ResourceSynced` False until
//! `dbInstanceStatus` is `available` (the controller's hook), `ModifyDBInstance` for the class,
//! storage and engine version. DBSubnetGroup: create, description and subnets kept, delete.
//! This module must not decide conditions (the runtime in `super` does).

use std::sync::Arc;

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{self, AckError};
use super::schema::{status, structural, KindCrd};
use super::{tag_pairs, Ctx, Handler, Kind, Observed, ResourceRef, SecretKeyReference, Tag};
use crate::crds;
use crate::runtime::Watch;

pub const GROUP: &str = "rds.services.k8s.aws";
pub const DB_INSTANCE: Kind = Kind { group: GROUP, kind: "DBInstance", plural: "dbinstances" };
pub const DB_SUBNET_GROUP: Kind = Kind { group: GROUP, kind: "DBSubnetGroup", plural: "dbsubnetgroups" };

/// `processorFeatures` items.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ProcessorFeature {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// DBInstance spec (rds-controller `apis/v1alpha1/db_instance.go`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbInstanceSpec {
    pub allocated_storage: Option<i64>,
    pub auto_minor_version_upgrade: Option<bool>,
    pub availability_zone: Option<String>,
    pub backup_retention_period: Option<i64>,
    pub backup_target: Option<String>,
    pub ca_certificate_identifier: Option<String>,
    pub character_set_name: Option<String>,
    pub copy_tags_to_snapshot: Option<bool>,
    #[serde(rename = "customIAMInstanceProfile")]
    pub custom_iam_instance_profile: Option<String>,
    pub database_insights_mode: Option<String>,
    pub db_cluster_identifier: Option<String>,
    pub db_cluster_snapshot_identifier: Option<String>,
    pub db_instance_class: String,
    pub db_instance_identifier: String,
    pub db_name: Option<String>,
    pub db_parameter_group_name: Option<String>,
    pub db_parameter_group_ref: Option<ResourceRef>,
    pub db_snapshot_identifier: Option<String>,
    pub db_subnet_group_name: Option<String>,
    pub db_subnet_group_ref: Option<ResourceRef>,
    pub deletion_protection: Option<bool>,
    pub destination_region: Option<String>,
    pub domain: Option<String>,
    #[serde(rename = "domainIAMRoleName")]
    pub domain_iam_role_name: Option<String>,
    pub enable_cloudwatch_logs_exports: Option<Vec<String>>,
    #[serde(rename = "enableCustomerOwnedIP")]
    pub enable_customer_owned_ip: Option<bool>,
    #[serde(rename = "enableIAMDatabaseAuthentication")]
    pub enable_iam_database_authentication: Option<bool>,
    pub engine: String,
    pub engine_version: Option<String>,
    pub iops: Option<i64>,
    #[serde(rename = "kmsKeyID")]
    pub kms_key_id: Option<String>,
    pub kms_key_ref: Option<ResourceRef>,
    pub license_model: Option<String>,
    pub manage_master_user_password: Option<bool>,
    pub master_user_password: Option<SecretKeyReference>,
    #[serde(rename = "masterUserSecretKMSKeyID")]
    pub master_user_secret_kms_key_id: Option<String>,
    #[serde(rename = "masterUserSecretKMSKeyRef")]
    pub master_user_secret_kms_key_ref: Option<ResourceRef>,
    pub master_username: Option<String>,
    pub max_allocated_storage: Option<i64>,
    pub monitoring_interval: Option<i64>,
    #[serde(rename = "monitoringRoleARN")]
    pub monitoring_role_arn: Option<String>,
    #[serde(rename = "multiAZ")]
    pub multi_az: Option<bool>,
    pub nchar_character_set_name: Option<String>,
    pub network_type: Option<String>,
    pub option_group_name: Option<String>,
    pub performance_insights_enabled: Option<bool>,
    #[serde(rename = "performanceInsightsKMSKeyID")]
    pub performance_insights_kms_key_id: Option<String>,
    pub performance_insights_retention_period: Option<i64>,
    pub port: Option<i64>,
    #[serde(rename = "preSignedURL")]
    pub pre_signed_url: Option<String>,
    pub preferred_backup_window: Option<String>,
    pub preferred_maintenance_window: Option<String>,
    pub processor_features: Option<Vec<ProcessorFeature>>,
    pub promotion_tier: Option<i64>,
    pub publicly_accessible: Option<bool>,
    pub replica_mode: Option<String>,
    #[serde(rename = "sourceDBInstanceIdentifier")]
    pub source_db_instance_identifier: Option<String>,
    pub source_region: Option<String>,
    pub storage_encrypted: Option<bool>,
    pub storage_throughput: Option<i64>,
    pub storage_type: Option<String>,
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "tdeCredentialARN")]
    pub tde_credential_arn: Option<String>,
    pub tde_credential_password: Option<String>,
    pub timezone: Option<String>,
    pub use_default_processor_features: Option<bool>,
    #[serde(rename = "vpcSecurityGroupIDs")]
    pub vpc_security_group_ids: Option<Vec<String>>,
    pub vpc_security_group_refs: Option<Vec<ResourceRef>>,
}

/// DBSubnetGroup spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbSubnetGroupSpec {
    pub description: String,
    pub name: String,
    #[serde(rename = "subnetIDs")]
    pub subnet_ids: Option<Vec<String>>,
    pub subnet_refs: Option<Vec<ResourceRef>>,
    pub tags: Option<Vec<Tag>>,
}

/// The rds-controller CRDs this simulator serves.
pub fn crds() -> Vec<KindCrd> {
    vec![
        KindCrd {
            group: GROUP,
            kind: "DBInstance",
            plural: "dbinstances",
            spec: structural::<DbInstanceSpec>(),
            status: status(&[
                ("dbInstanceStatus", crds::string()),
                ("dbiResourceID", crds::string()),
                ("dbInstancePort", crds::integer()),
                (
                    "endpoint",
                    crds::object(
                        &[("address", crds::string()), ("hostedZoneID", crds::string()), ("port", crds::integer())],
                        &[],
                    ),
                ),
                ("instanceCreateTime", json!({"type": "string", "format": "date-time"})),
            ]),
            columns: &[("STATUS", "string", ".status.dbInstanceStatus")],
        },
        KindCrd {
            group: GROUP,
            kind: "DBSubnetGroup",
            plural: "dbsubnetgroups",
            spec: structural::<DbSubnetGroupSpec>(),
            status: status(&[("subnetGroupStatus", crds::string()), ("vpcID", crds::string())]),
            columns: &[],
        },
    ]
}

pub fn handlers() -> Vec<Arc<dyn Handler>> {
    vec![Arc::new(DbInstanceHandler), Arc::new(DbSubnetGroupHandler)]
}

fn e<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> AckError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |err| error::aws("RDS", operation, err)
}

fn found<T>(r: Result<T, AckError>) -> Result<Option<T>, AckError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn rds_tags(spec: &Option<Vec<Tag>>) -> Option<Vec<aws_sdk_rds::types::Tag>> {
    let tags: Vec<_> =
        tag_pairs(spec).into_iter().map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build()).collect();
    Some(tags).filter(|t| !t.is_empty())
}

/// The status `rds-controller` reports as ready.
pub const AVAILABLE: &str = "available";

pub struct DbInstanceHandler;

impl Handler for DbInstanceHandler {
    fn kind(&self) -> Kind {
        DB_INSTANCE
    }

    /// The master password Secret appearing or changing, and subnet groups becoming synced.
    fn watches(&self) -> Vec<Watch> {
        vec![Watch::all("", "secrets"), super::on_reference_change(DB_SUBNET_GROUP, "/spec/name")]
    }

    fn sync<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<Observed, AckError>> {
        Box::pin(sync_db_instance(c))
    }

    fn delete<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<(), AckError>> {
        Box::pin(async move {
            let spec: DbInstanceSpec = c.spec()?;
            found(
                c.aws
                    .rds
                    .delete_db_instance()
                    .db_instance_identifier(&spec.db_instance_identifier)
                    .skip_final_snapshot(true)
                    .send()
                    .await
                    .map_err(e("DeleteDBInstance")),
            )?;
            Ok(())
        })
    }
}

async fn sync_db_instance(c: &Ctx<'_>) -> Result<Observed, AckError> {
    let spec: DbInstanceSpec = c.spec()?;
    let rds = &c.aws.rds;
    let references = spec.db_subnet_group_ref.is_some();
    let subnet_group = match &spec.db_subnet_group_ref {
        // RDS keeps subnet group names in lower case.
        Some(r) => Some(c.resolve(DB_SUBNET_GROUP, r, "/spec/name", "Spec.Name")?.to_lowercase()),
        None => spec.db_subnet_group_name.clone(),
    };
    let id = spec.db_instance_identifier.as_str();
    let describe = |out: aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput| {
        out.db_instances.unwrap_or_default().into_iter().next()
    };
    let existing =
        found(rds.describe_db_instances().db_instance_identifier(id).send().await.map_err(e("DescribeDBInstances")))?
            .and_then(describe);
    let instance = match existing {
        Some(i) => {
            let class_differs = i.db_instance_class.as_deref() != Some(spec.db_instance_class.as_str());
            let storage_differs = spec.allocated_storage.is_some_and(|s| i.allocated_storage.map(i64::from) != Some(s));
            let version_differs = spec
                .engine_version
                .as_deref()
                .is_some_and(|v| !i.engine_version.as_deref().unwrap_or_default().starts_with(v));
            if class_differs || storage_differs || version_differs {
                rds.modify_db_instance()
                    .db_instance_identifier(id)
                    .db_instance_class(&spec.db_instance_class)
                    .set_allocated_storage(spec.allocated_storage.map(|s| s as i32))
                    .set_engine_version(spec.engine_version.clone().filter(|_| version_differs))
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(e("ModifyDBInstance"))?
                    .db_instance
                    .unwrap_or(i)
            } else {
                i
            }
        }
        None => {
            c.manage().await?;
            let password = spec.master_user_password.as_ref().map(|r| c.secret_value(r)).transpose()?;
            rds.create_db_instance()
                .db_instance_identifier(id)
                .db_instance_class(&spec.db_instance_class)
                .engine(&spec.engine)
                .set_engine_version(spec.engine_version.clone())
                .set_allocated_storage(spec.allocated_storage.map(|s| s as i32))
                .set_master_username(spec.master_username.clone())
                .set_master_user_password(password)
                .set_db_name(spec.db_name.clone())
                .set_db_subnet_group_name(subnet_group)
                .set_port(spec.port.map(|p| p as i32))
                .set_multi_az(spec.multi_az)
                .set_publicly_accessible(spec.publicly_accessible)
                .set_storage_type(spec.storage_type.clone())
                .set_storage_encrypted(spec.storage_encrypted)
                .set_backup_retention_period(spec.backup_retention_period.map(|p| p as i32))
                .set_vpc_security_group_ids(spec.vpc_security_group_ids.clone())
                .set_deletion_protection(spec.deletion_protection)
                .set_tags(rds_tags(&spec.tags))
                .send()
                .await
                .map_err(e("CreateDBInstance"))?
                .db_instance
                .ok_or_else(|| AckError::other("CreateDBInstance returned no instance"))?
        }
    };
    c.manage().await?;
    let state = instance.db_instance_status.clone().unwrap_or_default();
    let endpoint = instance
        .endpoint
        .as_ref()
        .map(|ep| json!({"address": ep.address, "hostedZoneID": ep.hosted_zone_id, "port": ep.port}));
    Ok(Observed {
        arn: instance.db_instance_arn.clone(),
        status: json!({
            "dbInstanceStatus": state,
            "dbiResourceID": instance.dbi_resource_id,
            "endpoint": endpoint,
        }),
        synced: state == AVAILABLE,
        references,
    })
}

pub struct DbSubnetGroupHandler;

impl Handler for DbSubnetGroupHandler {
    fn kind(&self) -> Kind {
        DB_SUBNET_GROUP
    }

    fn sync<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<Observed, AckError>> {
        Box::pin(async move {
            let spec: DbSubnetGroupSpec = c.spec()?;
            let rds = &c.aws.rds;
            let name = spec.name.to_lowercase();
            c.manage().await?;
            let existing = found(
                rds.describe_db_subnet_groups()
                    .db_subnet_group_name(&name)
                    .send()
                    .await
                    .map_err(e("DescribeDBSubnetGroups")),
            )?
            .and_then(|o| o.db_subnet_groups.unwrap_or_default().into_iter().next());
            let wanted: std::collections::BTreeSet<String> =
                spec.subnet_ids.clone().unwrap_or_default().into_iter().collect();
            let group = match existing {
                Some(g) => {
                    let current: std::collections::BTreeSet<String> =
                        g.subnets.iter().flatten().filter_map(|s| s.subnet_identifier.clone()).collect();
                    if current != wanted || g.db_subnet_group_description.as_deref() != Some(spec.description.as_str())
                    {
                        rds.modify_db_subnet_group()
                            .db_subnet_group_name(&name)
                            .db_subnet_group_description(&spec.description)
                            .set_subnet_ids(Some(wanted.into_iter().collect()))
                            .send()
                            .await
                            .map_err(e("ModifyDBSubnetGroup"))?
                            .db_subnet_group
                            .unwrap_or(g)
                    } else {
                        g
                    }
                }
                None => rds
                    .create_db_subnet_group()
                    .db_subnet_group_name(&name)
                    .db_subnet_group_description(&spec.description)
                    .set_subnet_ids(Some(wanted.into_iter().collect()))
                    .set_tags(rds_tags(&spec.tags))
                    .send()
                    .await
                    .map_err(e("CreateDBSubnetGroup"))?
                    .db_subnet_group
                    .ok_or_else(|| AckError::other("CreateDBSubnetGroup returned no group"))?,
            };
            Ok(Observed {
                arn: group.db_subnet_group_arn.clone(),
                status: json!({"subnetGroupStatus": group.subnet_group_status, "vpcID": group.vpc_id}),
                synced: true,
                references: false,
            })
        })
    }

    fn delete<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<(), AckError>> {
        Box::pin(async move {
            let spec: DbSubnetGroupSpec = c.spec()?;
            found(
                c.aws
                    .rds
                    .delete_db_subnet_group()
                    .db_subnet_group_name(spec.name.to_lowercase())
                    .send()
                    .await
                    .map_err(e("DeleteDBSubnetGroup")),
            )?;
            Ok(())
        })
    }
}
