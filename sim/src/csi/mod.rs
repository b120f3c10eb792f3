//! The Secrets Store CSI driver with the AWS provider (ASCP), as the EKS add-on installs them:
//! the SecretProviderClass and SecretProviderClassPodStatus CRDs, a volume plugin for pods'
//! `secrets-store.csi.k8s.io` volumes (see `provider` for the mount itself), and `secretObjects`
//! synced into Kubernetes Secrets while a pod mounts the volume.
//!
//! Files a mount writes live under the platform's work directory, per pod and volume, and are
//! read back with [`read_pod_file`] (the harness's file expectation). The driver's
//! `tokenRequests` are `sts.amazonaws.com` (the add-on's setting) unless configured otherwise.
//! This module must not decide IAM (that is `crate::iam` through `crate::aws::roles`) and must
//! not put secret values anywhere but the pod's files and the synced Secret.

pub mod descriptors;
pub mod provider;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::crds::{array, crd, object, open_object, resource, string, string_map, Version};
use crate::platform::{Platform, PlatformError};
use crate::runtime::Cx;
use crate::workloads::{MountFailure, VolumeMounter};

/// Driver versions modelled (the SecretProviderClass API is the same across them).
pub const SUPPORTED_VERSIONS: &[&str] = &["1.4", "1.5"];

/// The CSI driver and its AWS provider.
pub struct Csi {
    aws: Option<crate::aws::AwsTarget>,
    pods_dir: PathBuf,
    token_audiences: Vec<String>,
}

fn spc_crd() -> Value {
    let secret_object = object(
        &[
            ("secretName", string()),
            ("type", string()),
            ("labels", string_map()),
            ("annotations", string_map()),
            ("data", array(object(&[("objectName", string()), ("key", string())], &[]))),
        ],
        &[],
    );
    let spec =
        object(&[("provider", string()), ("parameters", string_map()), ("secretObjects", array(secret_object))], &[]);
    let status = object(&[("byPod", array(open_object()))], &[]);
    crd(
        "secrets-store.csi.x-k8s.io",
        "SecretProviderClass",
        "secretproviderclasses",
        "Namespaced",
        &[],
        &[Version::storage("v1"), Version::served("v1alpha1")],
        &resource(spec, status),
    )
}

fn spcps_crd() -> Value {
    crd(
        "secrets-store.csi.x-k8s.io",
        "SecretProviderClassPodStatus",
        "secretproviderclasspodstatuses",
        "Namespaced",
        &[],
        &[Version::storage("v1"), Version::served("v1alpha1")],
        &resource(open_object(), open_object()),
    )
}

/// Installs the driver and provider: CRDs and the volume plugin.
pub fn install(platform: &Platform, version: &str) -> Result<Arc<Csi>, PlatformError> {
    crate::platform::check_version("Secrets Store CSI driver", version, SUPPORTED_VERSIONS)?;
    for c in crate::crds::made_once("secrets-store-csi-driver", || vec![spc_crd(), spcps_crd()]).iter() {
        platform
            .server()
            .install("apiextensions.k8s.io", "v1", "customresourcedefinitions", None, c)
            .map_err(|e| PlatformError::Install { component: "Secrets Store CSI driver", message: e.to_string() })?;
    }
    let csi = Arc::new(Csi {
        aws: platform.aws().cloned(),
        pods_dir: platform.work_dir().join("pods"),
        token_audiences: vec![provider::IRSA_AUDIENCE.to_string()],
    });
    platform.workloads().add_mounter(csi.clone());
    Ok(csi)
}

impl VolumeMounter for Csi {
    fn name(&self) -> &str {
        "secrets-store-csi-driver"
    }

    fn mount<'a>(&'a self, cx: &'a Cx, pod: &'a Value) -> BoxFuture<'a, Result<(), MountFailure>> {
        Box::pin(async move {
            let volumes = pod["spec"]["volumes"].as_array().cloned().unwrap_or_default();
            for v in volumes.iter().filter(|v| v["csi"]["driver"].as_str() == Some(provider::DRIVER)) {
                let env = provider::Env {
                    aws: self.aws.as_ref(),
                    pods_dir: &self.pods_dir,
                    token_audiences: &self.token_audiences,
                };
                let volume = v["name"].as_str().unwrap_or_default().to_string();
                let mounted = provider::mount(cx, &env, pod, v)
                    .await
                    .map_err(|message| MountFailure { volume: volume.clone(), message })?;
                let status = pod_status(cx, pod, &mounted)
                    .await
                    .map_err(|message| MountFailure { volume: volume.clone(), message })?;
                self.sync_secrets(cx, pod, &mounted, &status)
                    .await
                    .map_err(|message| MountFailure { volume, message })?;
            }
            Ok(())
        })
    }
}

impl Csi {
    /// `secretObjects`: one Kubernetes Secret each, from the mounted files, in the pod's
    /// namespace, labelled as the driver labels them.
    async fn sync_secrets(&self, cx: &Cx, pod: &Value, m: &provider::Mounted, owner: &Value) -> Result<(), String> {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let Some(objects) = m.spc["spec"]["secretObjects"].as_array() else { return Ok(()) };
        for so in objects {
            let name = so["secretName"].as_str().unwrap_or_default();
            let mut data = serde_json::Map::new();
            for d in so["data"].as_array().into_iter().flatten() {
                let object_name = d["objectName"].as_str().unwrap_or_default();
                let key = d["key"].as_str().unwrap_or_default();
                let Some((_, bytes)) = m.files.iter().find(|(f, _)| f == object_name) else {
                    // The driver's wording when secretObjects names a file the provider did not write.
                    return Err(format!(
                        "rpc error: code = Unknown desc = failed to get data in spc {ns}/{} for secret {name}, err: file matching objectName {object_name} not found in the pod",
                        m.spc["metadata"]["name"].as_str().unwrap_or_default()
                    ));
                };
                use base64::Engine;
                data.insert(key.to_string(), Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)));
            }
            let mut labels = so["labels"].as_object().cloned().unwrap_or_default();
            labels.insert("secrets-store.csi.k8s.io/managed".into(), json!("true"));
            // Owned by each mounting pod's SecretProviderClassPodStatus: the garbage collector
            // removes the Secret when the last pod that mounts the volume is gone.
            let secret = json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": ns, "labels": labels,
                             "annotations": so["annotations"].clone(), "ownerReferences": [owner]},
                "type": so["type"].as_str().filter(|t| !t.is_empty()).unwrap_or("Opaque"),
                "data": data,
            });
            let api: kube::Api<kube::core::DynamicObject> = kube::Api::namespaced_with(
                cx.client.clone(),
                ns,
                &kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
            );
            let obj: kube::core::DynamicObject = serde_json::from_value(secret).map_err(|e| e.to_string())?;
            // One field manager per pod, so each pod's owner reference stays when another applies.
            let manager = format!("secrets-store-csi-driver-{}", pod["metadata"]["uid"].as_str().unwrap_or_default());
            api.patch(name, &kube::api::PatchParams::apply(&manager).force(), &kube::api::Patch::Apply(&obj))
                .await
                .map_err(|e| {
                    format!("rpc error: code = Unknown desc = failed to create Kubernetes secret {ns}/{name}: {e}")
                })?;
            cx.note(format!("csi: synced secretObjects {ns}/{name} ({} keys; values not shown)", data.len()));
        }
        Ok(())
    }
}

/// The pod's SecretProviderClassPodStatus (`<pod>-<namespace>-<spc>`, owned by the pod), made
/// after a mount as the driver makes it; returns an owner reference to it.
async fn pod_status(cx: &Cx, pod: &Value, m: &provider::Mounted) -> Result<Value, String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let spc = m.spc["metadata"]["name"].as_str().unwrap_or_default();
    let name = format!("{pod_name}-{ns}-{spc}");
    let gvk = kube::core::GroupVersionKind::gvk("secrets-store.csi.x-k8s.io", "v1", "SecretProviderClassPodStatus");
    let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, "secretproviderclasspodstatuses");
    let api: kube::Api<kube::core::DynamicObject> = kube::Api::namespaced_with(cx.client.clone(), ns, &ar);
    let body = json!({
        "apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClassPodStatus",
        "metadata": {
            "name": name, "namespace": ns,
            "labels": {"internal.secrets-store.csi.k8s.io/node-name": pod["spec"]["nodeName"].clone()},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": pod_name,
                                 "uid": pod["metadata"]["uid"].clone()}],
        },
        "status": {"podName": pod_name, "secretProviderClassName": spc, "mounted": true,
                   "targetPath": m.dir.display().to_string()},
    });
    let obj: kube::core::DynamicObject = serde_json::from_value(body).map_err(|e| e.to_string())?;
    let got = api
        .patch(
            &name,
            &kube::api::PatchParams::apply("secrets-store-csi-driver").force(),
            &kube::api::Patch::Apply(&obj),
        )
        .await
        .map_err(|e| format!("failed to create secret provider class pod status for pod {ns}/{pod_name}, err: {e}"))?;
    // `status` is a subresource: written apart, as the driver's update does.
    api.patch_status(
        &name,
        &kube::api::PatchParams::apply("secrets-store-csi-driver").force(),
        &kube::api::Patch::Apply(&obj),
    )
    .await
    .map_err(|e| format!("failed to create secret provider class pod status for pod {ns}/{pod_name}, err: {e}"))?;
    Ok(json!({"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClassPodStatus",
              "name": name, "uid": got.metadata.uid.unwrap_or_default()}))
}

/// Reads a file at `path` inside `pod` (as a container sees it): the container's volume mount
/// whose `mountPath` holds `path` names a CSI volume, and the file is what the provider wrote.
/// `container` picks the container (default: the first).
pub fn read_pod_file(work_dir: &Path, pod: &Value, container: Option<&str>, path: &str) -> Result<Vec<u8>, String> {
    let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
    let c = match container {
        Some(name) => containers.iter().find(|c| c["name"].as_str() == Some(name)),
        None => containers.first(),
    }
    .ok_or_else(|| format!("the pod has no container {}", container.unwrap_or("at all")))?;
    let mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
    let (mount, rest) = mounts
        .iter()
        .filter_map(|m| {
            let mp = m["mountPath"].as_str()?.trim_end_matches('/');
            let rest = path.strip_prefix(mp)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| (m, rest.trim_start_matches('/').to_string()))
        })
        .max_by_key(|(m, _)| m["mountPath"].as_str().map(str::len).unwrap_or(0))
        .ok_or_else(|| format!("no volume of container {} is mounted at {path}", c["name"].as_str().unwrap_or("?")))?;
    let vol_name = mount["name"].as_str().unwrap_or_default();
    let volume = pod["spec"]["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"].as_str() == Some(vol_name)))
        .ok_or_else(|| format!("the pod has no volume {vol_name}"))?;
    if volume["csi"]["driver"].as_str() != Some(provider::DRIVER) {
        return Err(format!(
            "{path} is on volume {vol_name}, which the simulator does not materialize (only {} volumes have files)",
            provider::DRIVER
        ));
    }
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let file = work_dir.join("pods").join(uid).join("volumes").join(vol_name).join(&rest);
    std::fs::read(&file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{path}: no such file in volume {vol_name} (the mount has not written it)")
        }
        _ => format!("{path}: {e}"),
    })
}
