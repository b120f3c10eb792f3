//! Every version the kind backend pins, in one place: the kind CLI and node image, the Flux
//! install manifest, the Helm charts, the Crossplane provider package and the AWS emulator
//! images. Each pin says where it was read. This module only holds data: it must not run
//! anything, and nothing else in the kind backend may spell a version or an image tag.

use sim::aws::localstack;

/// The kind CLI release the node image below was built for (kind supports an image only with
/// the release that built it). Source: github.com/kubernetes-sigs/kind/releases/tag/v0.33.0.
pub const KIND_VERSION: &str = "v0.33.0";

/// The node image, by digest. Source: the "Images pre-built for this release" list of the kind
/// v0.33.0 release notes (github.com/kubernetes-sigs/kind/releases/tag/v0.33.0), which is also
/// the release's default image. `None` would make `kind up` refuse to run (see
/// [`node_image`]): a tag alone can point at a build for another kind release.
pub const NODE_IMAGE: Option<&str> =
    Some("kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5");

/// The Kubernetes version inside [`NODE_IMAGE`] (also the kubectl the set-up installs).
pub const KUBERNETES_VERSION: &str = "v1.37.0";

/// Helm, for CI and the docs: a Helm 3 release (OCI charts, needed for ACK, are supported
/// since 3.8); the plan uses only `helm upgrade --install` flags Helm 3 has. Source: the
/// helm/helm v3.18.6 release notes (Helm 4.x exists; its flag changes are not needed here).
pub const HELM_VERSION: &str = "v3.18.6";

/// Flux: the release's all-in-one install manifest. Source: fluxcd/flux2 tag v2.9.4
/// (`manifests/bases/*/kustomization.yaml` name the controller versions below).
pub const FLUX_VERSION: &str = "v2.9.4";
/// The controller images of that release (fluxcd/flux2 v2.9.4, manifests/bases).
pub const FLUX_IMAGES: &[&str] = &[
    "ghcr.io/fluxcd/source-controller:v1.9.4",
    "ghcr.io/fluxcd/kustomize-controller:v1.9.4",
    "ghcr.io/fluxcd/helm-controller:v1.6.3",
    "ghcr.io/fluxcd/notification-controller:v1.9.3",
    "ghcr.io/fluxcd/source-watcher:v2.2.3",
];

/// The Flux install manifest of [`FLUX_VERSION`].
pub fn flux_install_url() -> String {
    format!("https://github.com/fluxcd/flux2/releases/download/{FLUX_VERSION}/install.yaml")
}

/// Where a Helm chart comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChartSource {
    /// A classic chart repository: `helm upgrade --install --repo <url> <release> <chart>`.
    Repo { url: &'static str, chart: &'static str },
    /// An OCI reference: `helm upgrade --install <release> oci://...`.
    Oci { reference: &'static str },
}

/// A chart pinned to a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Chart {
    pub source: ChartSource,
    pub version: &'static str,
}

/// Gatekeeper. Source: open-policy-agent/gatekeeper tag v3.23.0, charts/gatekeeper/Chart.yaml
/// (version 3.23.0); repository from charts/gatekeeper/README.md.
pub const GATEKEEPER_CHART: Chart = Chart {
    source: ChartSource::Repo { url: "https://open-policy-agent.github.io/gatekeeper/charts", chart: "gatekeeper" },
    version: "3.23.0",
};
pub const GATEKEEPER_IMAGES: &[&str] =
    &["openpolicyagent/gatekeeper:v3.23.0", "openpolicyagent/gatekeeper-crds:v3.23.0"];

/// The Secrets Store CSI driver. Source: kubernetes-sigs/secrets-store-csi-driver (tag v1.6.0),
/// charts/secrets-store-csi-driver/Chart.yaml (version 1.6.0) and values.yaml (images).
pub const CSI_DRIVER_CHART: Chart = Chart {
    source: ChartSource::Repo {
        url: "https://kubernetes-sigs.github.io/secrets-store-csi-driver/charts",
        chart: "secrets-store-csi-driver",
    },
    version: "1.6.0",
};
pub const CSI_DRIVER_IMAGES: &[&str] = &[
    "registry.k8s.io/csi-secrets-store/driver:v1.6.0",
    "registry.k8s.io/csi-secrets-store/driver-crds:v1.6.0",
    "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.16.0",
    "registry.k8s.io/sig-storage/livenessprobe:v2.18.0",
];

/// The AWS provider (ASCP). Source: aws/secrets-store-csi-driver-provider-aws tag 3.1.1,
/// charts/secrets-store-csi-driver-provider-aws/Chart.yaml (version 3.1.1) and values.yaml
/// (image); repository from the project's README.
pub const ASCP_CHART: Chart = Chart {
    source: ChartSource::Repo {
        url: "https://aws.github.io/secrets-store-csi-driver-provider-aws",
        chart: "secrets-store-csi-driver-provider-aws",
    },
    version: "3.1.1",
};
pub const ASCP_IMAGES: &[&str] = &["public.ecr.aws/aws-secrets-manager/secrets-store-csi-driver-provider-aws:3.1.1"];

/// ACK controller charts (OCI, `oci://public.ecr.aws/aws-controllers-k8s/<svc>-chart`).
/// Sources: aws-controllers-k8s/{iam,rds,secretsmanager}-controller, helm/Chart.yaml at their
/// newest tags (iam v1.8.1, rds v1.11.1, secretsmanager v1.4.1).
pub const ACK_IAM_CHART: Chart = Chart {
    source: ChartSource::Oci { reference: "oci://public.ecr.aws/aws-controllers-k8s/iam-chart" },
    version: "1.8.1",
};
pub const ACK_RDS_CHART: Chart = Chart {
    source: ChartSource::Oci { reference: "oci://public.ecr.aws/aws-controllers-k8s/rds-chart" },
    version: "1.11.1",
};
pub const ACK_SECRETSMANAGER_CHART: Chart = Chart {
    source: ChartSource::Oci { reference: "oci://public.ecr.aws/aws-controllers-k8s/secretsmanager-chart" },
    version: "1.4.1",
};

/// The controller image of an ACK chart (`public.ecr.aws/aws-controllers-k8s/<svc>-controller`,
/// tagged with the chart's appVersion, which equals its version in these charts).
pub fn ack_image(service: &str, chart: &Chart) -> String {
    format!("public.ecr.aws/aws-controllers-k8s/{service}-controller:{}", chart.version)
}

/// Crossplane. Source: crossplane/crossplane tag v2.3.4 (the chart is published with the
/// release's version); repository from the project's README (`charts.crossplane.io/stable`).
pub const CROSSPLANE_CHART: Chart = Chart {
    source: ChartSource::Repo { url: "https://charts.crossplane.io/stable", chart: "crossplane" },
    version: "2.3.4",
};
/// Source: cluster/charts/crossplane/values.yaml (`xpkg.crossplane.io/crossplane/crossplane`,
/// tag defaulting to the chart's appVersion).
pub const CROSSPLANE_IMAGES: &[&str] = &["xpkg.crossplane.io/crossplane/crossplane:v2.3.4"];

/// The AWS IAM family provider. Source: crossplane-contrib/provider-upjet-aws tag v2.6.0
/// (published as `xpkg.upbound.io/upbound/provider-aws-iam`). Crossplane pulls the package
/// itself, so it is not preloaded into the node.
pub const PROVIDER_AWS_IAM_PACKAGE: &str = "xpkg.upbound.io/upbound/provider-aws-iam:v2.6.0";

/// moto, the default emulator: the version requirements.txt pins for the host-mode emulator.
pub const MOTO_IMAGE: &str = "motoserver/moto:5.2.5";
/// moto's port inside its image (getmoto/moto Dockerfile: `moto_server -H 0.0.0.0`, EXPOSE
/// 5000).
pub const MOTO_PORT: u16 = 5000;

/// LocalStack with `LOCALSTACK_AUTH_TOKEN` (platform-facts §6); the same image the simulator's
/// container mode uses.
pub const LOCALSTACK_TOKEN_IMAGE: &str = localstack::TOKEN_IMAGE;
/// The last token-free LocalStack build (4.14.x, frozen), used without a token.
pub const LOCALSTACK_ARCHIVE_IMAGE: &str = localstack::ARCHIVE_IMAGE;
pub const LOCALSTACK_PORT: u16 = localstack::CONTAINER_PORT;

/// The node image is not pinned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no kind node image is pinned by digest (harness/src/backend/kind/versions.rs, NODE_IMAGE): look the digest for kindest/node:{KUBERNETES_VERSION} up in the kind {KIND_VERSION} release notes and set it")]
pub struct NodeImageUnpinned;

/// The pinned node image, or an error saying how to pin it. An image without a digest counts
/// as not pinned.
pub fn node_image() -> Result<&'static str, NodeImageUnpinned> {
    check_node_image(NODE_IMAGE)
}

fn check_node_image(image: Option<&'static str>) -> Result<&'static str, NodeImageUnpinned> {
    match image {
        Some(i) if digest_ok(i) => Ok(i),
        _ => Err(NodeImageUnpinned),
    }
}

/// `...@sha256:<64 lowercase hex>`.
fn digest_ok(image: &str) -> bool {
    image
        .split_once("@sha256:")
        .is_some_and(|(_, d)| d.len() == 64 && d.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_image_is_pinned_by_digest_and_matches_the_kubernetes_version() {
        let image = node_image().expect("pinned");
        assert!(image.starts_with(&format!("kindest/node:{KUBERNETES_VERSION}@sha256:")), "{image}");
    }

    #[test]
    fn an_unpinned_or_tag_only_image_is_refused() {
        assert_eq!(check_node_image(None), Err(NodeImageUnpinned));
        assert_eq!(check_node_image(Some("kindest/node:v1.37.0")), Err(NodeImageUnpinned));
        assert_eq!(check_node_image(Some("kindest/node:v1.37.0@sha256:abc")), Err(NodeImageUnpinned));
        let msg = NodeImageUnpinned.to_string();
        assert!(msg.contains("NODE_IMAGE") && msg.contains(KIND_VERSION), "{msg}");
    }

    #[test]
    fn flux_url_names_the_pinned_release() {
        assert_eq!(flux_install_url(), "https://github.com/fluxcd/flux2/releases/download/v2.9.4/install.yaml");
    }

    #[test]
    fn ack_images_follow_the_chart_version() {
        assert_eq!(ack_image("iam", &ACK_IAM_CHART), "public.ecr.aws/aws-controllers-k8s/iam-controller:1.8.1");
    }
}
