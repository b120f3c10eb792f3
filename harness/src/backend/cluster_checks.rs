//! The `cluster` backend's preconditions: before running scenarios against an existing cluster,
//! check that the platform components the scenarios need are installed and ready (the same
//! [`Check`]s the kind backend waits on) and whose AWS identity the harness acts as (STS
//! GetCallerIdentity), and say what is missing in a form the CLI prints as is.
//!
//! This module only reads: it must not install, repair or wait for anything, and it must not
//! print credentials (only the account and the caller's ARN).

use sim::aws::AwsTarget;

use super::kind::readiness::{evaluate, Check, Component, Unmet};

/// The AWS identity the harness acts as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AwsIdentity {
    pub account: String,
    pub arn: String,
}

/// What one component lacks (empty: ready).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentReport {
    pub component: Component,
    pub missing: Vec<Unmet>,
}

/// The preconditions' result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PreconditionReport {
    pub components: Vec<ComponentReport>,
    /// `None`: no AWS target was given; `Some(Err)`: the identity could not be confirmed.
    pub aws: Option<Result<AwsIdentity, String>>,
}

/// The name people know a component by.
pub fn component_title(c: Component) -> &'static str {
    match c {
        Component::Flux => "Flux",
        Component::Gatekeeper => "Gatekeeper",
        Component::Csi => "Secrets Store CSI driver with the AWS provider",
        Component::AckIam => "ACK IAM controller",
        Component::AckRds => "ACK RDS controller",
        Component::AckSecretsManager => "ACK Secrets Manager controller",
        Component::CrossplaneAws => "Crossplane with provider-aws-iam",
    }
}

impl PreconditionReport {
    /// Whether everything needed is there.
    pub fn is_ready(&self) -> bool {
        self.components.iter().all(|c| c.missing.is_empty()) && !matches!(self.aws, Some(Err(_)))
    }

    /// The components with something missing.
    pub fn missing(&self) -> impl Iterator<Item = &ComponentReport> {
        self.components.iter().filter(|c| !c.missing.is_empty())
    }

    /// One paragraph for the CLI: `cluster is missing: Flux (CRD ... not found; ...), ...`,
    /// then the AWS identity (or why it could not be confirmed).
    pub fn summary(&self) -> String {
        let mut lines = Vec::new();
        let missing: Vec<String> = self
            .missing()
            .map(|c| {
                let reasons: Vec<&str> = c.missing.iter().map(|u| u.reason.as_str()).collect();
                format!("{} ({})", component_title(c.component), reasons.join("; "))
            })
            .collect();
        if missing.is_empty() {
            let names: Vec<&str> = self.components.iter().map(|c| component_title(c.component)).collect();
            if names.is_empty() {
                lines.push("cluster: no platform components needed".to_string());
            } else {
                lines.push(format!("cluster has everything needed: {}", names.join(", ")));
            }
        } else {
            lines.push(format!("cluster is missing: {}", missing.join(", ")));
        }
        match &self.aws {
            None => {}
            Some(Ok(id)) => lines.push(format!("AWS identity: {} (account {})", id.arn, id.account)),
            Some(Err(e)) => lines.push(format!("AWS identity cannot be confirmed: {e}")),
        }
        lines.join("\n")
    }
}

impl std::fmt::Display for PreconditionReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

/// The identity `target` acts as (STS GetCallerIdentity).
pub async fn aws_identity(target: &AwsTarget) -> Result<AwsIdentity, String> {
    let out = target.clients().sts.get_caller_identity().send().await.map_err(|e| {
        format!(
            "STS GetCallerIdentity at {}: {}",
            target.endpoint.as_deref().unwrap_or("AWS"),
            sim::aws::error_text(&e)
        )
    })?;
    Ok(AwsIdentity {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
    })
}

/// Checks `components` (each once, in the order given) and, when `aws` is given, the AWS
/// identity.
pub async fn check_preconditions(
    client: &kube::Client,
    components: &[Component],
    aws: Option<&AwsTarget>,
) -> PreconditionReport {
    let mut seen = Vec::new();
    let mut reports = Vec::new();
    for &c in components {
        if seen.contains(&c) {
            continue;
        }
        seen.push(c);
        let checks: Vec<Check> = c.checks();
        reports.push(ComponentReport { component: c, missing: evaluate(client, &checks).await });
    }
    let aws = match aws {
        Some(t) => Some(aws_identity(t).await),
        None => None,
    };
    PreconditionReport { components: reports, aws }
}
