//! secretsmanager-controller (`secretsmanager.services.k8s.aws/v1alpha1`): the Secret CRD (field
//! names as the controller's generated CRD) and its reconciler against Secrets Manager: the
//! value comes from a Kubernetes Secret (`secretString: {name, key, namespace}`, Opaque), the
//! description and value are kept, tags set at creation. This module must not decide conditions
//! (the runtime in `super` does) and must never put a secret value in a status or a note.

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

pub const GROUP: &str = "secretsmanager.services.k8s.aws";
pub const SECRET: Kind = Kind { group: GROUP, kind: "Secret", plural: "secrets" };

/// `replicaRegions` items.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaRegion {
    #[serde(rename = "kmsKeyID")]
    pub kms_key_id: Option<String>,
    pub region: Option<String>,
}

/// Secret spec (secretsmanager-controller `apis/v1alpha1/secret.go`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSpec {
    pub description: Option<String>,
    pub force_overwrite_replica_secret: Option<bool>,
    #[serde(rename = "kmsKeyID")]
    pub kms_key_id: Option<String>,
    pub kms_key_ref: Option<ResourceRef>,
    pub name: String,
    pub replica_regions: Option<Vec<ReplicaRegion>>,
    pub secret_string: Option<SecretKeyReference>,
    pub tags: Option<Vec<Tag>>,
}

pub fn crds() -> Vec<KindCrd> {
    vec![KindCrd {
        group: GROUP,
        kind: "Secret",
        plural: "secrets",
        spec: structural::<SecretSpec>(),
        status: status(&[("id", crds::string()), ("versionID", crds::string())]),
        columns: &[],
    }]
}

pub fn handlers() -> Vec<Arc<dyn Handler>> {
    vec![Arc::new(SecretHandler)]
}

fn e<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> AckError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |err| error::aws("Secrets Manager", operation, err)
}

pub struct SecretHandler;

impl Handler for SecretHandler {
    fn kind(&self) -> Kind {
        SECRET
    }

    /// The Kubernetes Secret holding the value appearing or changing.
    fn watches(&self) -> Vec<Watch> {
        vec![Watch::all("", "secrets")]
    }

    fn sync<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<Observed, AckError>> {
        Box::pin(sync_secret(c))
    }

    fn delete<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<(), AckError>> {
        Box::pin(async move {
            let spec: SecretSpec = c.spec()?;
            let r = c.aws.secretsmanager.delete_secret().secret_id(&spec.name).send().await.map_err(e("DeleteSecret"));
            match r {
                Ok(_) => Ok(()),
                Err(err) if err.is_not_found() => Ok(()),
                Err(err) => Err(err),
            }
        })
    }
}

async fn sync_secret(c: &Ctx<'_>) -> Result<Observed, AckError> {
    let spec: SecretSpec = c.spec()?;
    let sm = &c.aws.secretsmanager;
    let value = spec.secret_string.as_ref().map(|r| c.secret_value(r)).transpose()?;
    c.manage().await?;
    let described = match sm.describe_secret().secret_id(&spec.name).send().await.map_err(e("DescribeSecret")) {
        Ok(d) if d.deleted_date.is_none() => Some(d),
        Ok(_) => None,
        Err(err) if err.is_not_found() => None,
        Err(err) => return Err(err),
    };
    let (arn, version) = match described {
        None => {
            let tags: Vec<_> = tag_pairs(&spec.tags)
                .into_iter()
                .map(|(k, v)| aws_sdk_secretsmanager::types::Tag::builder().key(k).value(v).build())
                .collect();
            let out = sm
                .create_secret()
                .name(&spec.name)
                .set_description(spec.description.clone())
                .set_kms_key_id(spec.kms_key_id.clone())
                .set_secret_string(value)
                .set_tags(Some(tags).filter(|t| !t.is_empty()))
                .send()
                .await
                .map_err(e("CreateSecret"))?;
            (out.arn, out.version_id)
        }
        Some(d) => {
            if spec.description.as_deref().is_some_and(|want| d.description.as_deref() != Some(want)) {
                sm.update_secret()
                    .secret_id(&spec.name)
                    .set_description(spec.description.clone())
                    .send()
                    .await
                    .map_err(e("UpdateSecret"))?;
            }
            let mut version = None;
            if let Some(v) = value {
                let current = sm.get_secret_value().secret_id(&spec.name).send().await.map_err(e("GetSecretValue"));
                let current = match current {
                    Ok(out) => {
                        version = out.version_id.clone();
                        out.secret_string
                    }
                    Err(err) if err.is_not_found() => None,
                    Err(err) => return Err(err),
                };
                if current.as_deref() != Some(v.as_str()) {
                    let out = sm
                        .put_secret_value()
                        .secret_id(&spec.name)
                        .secret_string(v)
                        .send()
                        .await
                        .map_err(e("PutSecretValue"))?;
                    version = out.version_id;
                }
            }
            (d.arn, version)
        }
    };
    Ok(Observed { arn: arn.clone(), status: json!({"id": arn, "versionID": version}), synced: true, references: false })
}
