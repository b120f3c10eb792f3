//! The Helm charts of the platform components the simulator provides itself (Gatekeeper, the
//! Secrets Store CSI driver and its AWS provider, the ACK controllers, Crossplane), and the
//! chart repositories they are published in.
//!
//! A HelmRelease of one of these charts is not rendered: the simulated component stands in for
//! it (helm-controller marks it installed); a HelmRepository at one of these URLs is marked
//! Ready without fetching an index. Everything else from a chart repository would need the
//! network, which the simulator does not have. This module is only the table and lookups; it
//! must not write anything.

use crate::git::normalize_url;

/// One component chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentChart {
    /// The chart name (`spec.chart.spec.chart`, or the last path segment of an OCI chart URL).
    pub chart: &'static str,
    /// The simulated component that stands in for it.
    pub component: &'static str,
    /// Where upstream publishes it.
    pub repository: &'static str,
    /// The chart version the simulator reports when the HelmRelease asks for a range.
    pub version: &'static str,
}

/// The charts. Names and repositories as the upstream projects document their Helm installs.
pub const COMPONENT_CHARTS: &[ComponentChart] = &[
    ComponentChart {
        chart: "gatekeeper",
        component: "gatekeeper",
        repository: "https://open-policy-agent.github.io/gatekeeper/charts",
        version: "3.20.0",
    },
    ComponentChart {
        chart: "secrets-store-csi-driver",
        component: "secrets-store-csi-driver",
        repository: "https://kubernetes-sigs.github.io/secrets-store-csi-driver/charts",
        version: "1.5.0",
    },
    ComponentChart {
        chart: "secrets-store-csi-driver-provider-aws",
        component: "secrets-store-csi-driver-provider-aws",
        repository: "https://aws.github.io/secrets-store-csi-driver-provider-aws",
        version: "1.0.1",
    },
    ComponentChart {
        chart: "iam-chart",
        component: "ack-iam-controller",
        repository: "oci://public.ecr.aws/aws-controllers-k8s",
        version: "1.4.0",
    },
    ComponentChart {
        chart: "rds-chart",
        component: "ack-rds-controller",
        repository: "oci://public.ecr.aws/aws-controllers-k8s",
        version: "1.4.0",
    },
    ComponentChart {
        chart: "secretsmanager-chart",
        component: "ack-secretsmanager-controller",
        repository: "oci://public.ecr.aws/aws-controllers-k8s",
        version: "1.0.0",
    },
    ComponentChart {
        chart: "crossplane",
        component: "crossplane",
        repository: "https://charts.crossplane.io/stable",
        version: "2.0.0",
    },
];

/// The component chart of this name.
pub fn component_chart(chart: &str) -> Option<&'static ComponentChart> {
    let name = chart.trim_end_matches('/').rsplit('/').next().unwrap_or(chart);
    COMPONENT_CHARTS.iter().find(|c| c.chart == name)
}

/// The component charts published at this repository URL (none for other URLs).
pub fn charts_at(url: &str) -> Vec<&'static ComponentChart> {
    let key = normalize_url(url);
    COMPONENT_CHARTS.iter().filter(|c| normalize_url(c.repository) == key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_found_by_name_and_repository() {
        assert_eq!(component_chart("gatekeeper").map(|c| c.component), Some("gatekeeper"));
        assert_eq!(
            component_chart("oci://public.ecr.aws/aws-controllers-k8s/iam-chart").map(|c| c.component),
            Some("ack-iam-controller")
        );
        assert!(component_chart("podinfo").is_none());
        assert_eq!(charts_at("https://open-policy-agent.github.io/gatekeeper/charts/").len(), 1);
        assert_eq!(charts_at("oci://public.ecr.aws/aws-controllers-k8s").len(), 3);
        assert!(charts_at("https://stefanprodan.github.io/podinfo").is_empty());
    }
}
