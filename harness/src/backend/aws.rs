//! Which AWS a run talks to (`--aws` / `IDP_HARNESS_AWS`), which AWS services each emulator
//! provides, and which services a scenario needs (from its profile, `spec.aws` and its `aws`
//! expectations), so that a scenario an emulator cannot serve fails before it runs, naming the
//! service, the emulator and what to use instead.
//!
//! Pure decisions over the scenario model: this module must not start emulators or call AWS
//! (that is `super` and `sim::aws`).

use std::collections::BTreeMap;
use std::fmt;

use serde_saphyr::Spanned;

use crate::scenario::model::{AwsExpect, AwsState, Step};
use crate::scenario::Loaded;

/// The `--aws` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AwsChoice {
    /// moto, from the set-up's `.venv` (the simulator's default).
    Moto,
    /// LocalStack 4.9.2 as a host process, from `localstack/.venv` (`make localstack-setup`).
    Localstack,
    /// LocalStack in Docker (the token-free `community-archive` image, or `latest` with
    /// `LOCALSTACK_AUTH_TOKEN`).
    LocalstackContainer,
    /// The endpoint and credentials of the standard `AWS_*` variables (the cluster's default).
    External,
}

impl fmt::Display for AwsChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AwsChoice::Moto => "moto",
            AwsChoice::Localstack => "localstack",
            AwsChoice::LocalstackContainer => "localstack-container",
            AwsChoice::External => "external",
        })
    }
}

/// An AWS service the harness's components and checks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Iam,
    Sts,
    SecretsManager,
    Rds,
    Organizations,
    Ssm,
    Kms,
}

impl Service {
    /// The service's usual name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Iam => "IAM",
            Service::Sts => "STS",
            Service::SecretsManager => "Secrets Manager",
            Service::Rds => "RDS",
            Service::Organizations => "Organizations",
            Service::Ssm => "SSM",
            Service::Kms => "KMS",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The AWS a run uses, as far as which services it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Moto,
    /// LocalStack 4.9.2 from `localstack/.venv`: the community edition, free services.
    LocalStackHost,
    /// The token-free `community-archive` image (4.14): free services.
    LocalStackArchive,
    /// A LocalStack image with an auth token: assumed to have every service the harness uses
    /// (what the token's plan includes is not checked).
    LocalStackToken,
    /// Real AWS, or an emulator someone else runs: assumed to have every service.
    External,
}

const MOTO: &[Service] = &[
    Service::Iam,
    Service::Sts,
    Service::SecretsManager,
    Service::Rds,
    Service::Organizations,
    Service::Ssm,
    Service::Kms,
];
const LOCALSTACK_FREE: &[Service] = &[Service::Iam, Service::Sts, Service::SecretsManager, Service::Ssm, Service::Kms];

impl Provider {
    /// The services it provides; `None`: all of them.
    pub fn services(self) -> Option<&'static [Service]> {
        match self {
            Provider::Moto => Some(MOTO),
            Provider::LocalStackHost | Provider::LocalStackArchive => Some(LOCALSTACK_FREE),
            Provider::LocalStackToken | Provider::External => None,
        }
    }

    pub fn provides(self, s: Service) -> bool {
        self.services().is_none_or(|all| all.contains(&s))
    }

    /// How messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Moto => "moto",
            Provider::LocalStackHost => "LocalStack's free tier (localstack-core 4.9.2 on the host)",
            Provider::LocalStackArchive => "LocalStack's free tier (the community-archive image)",
            Provider::LocalStackToken => "LocalStack with an auth token",
            Provider::External => "the external AWS endpoint",
        }
    }

    /// What to use instead when it lacks a service.
    fn instead(self) -> &'static str {
        match self {
            Provider::LocalStackHost | Provider::LocalStackArchive => {
                "use --aws moto, or --aws localstack-container with LOCALSTACK_AUTH_TOKEN set"
            }
            _ => "use --aws moto",
        }
    }
}

/// A service a scenario needs and its emulator does not provide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the scenario needs {service} ({why}), which {provider} does not provide; {instead}", provider = provider.name(), instead = provider.instead())]
pub struct MissingService {
    pub service: Service,
    /// Why the scenario needs it.
    pub why: String,
    pub provider: Provider,
}

/// The services a scenario needs, each with the first reason found.
pub fn needed_services(loaded: &Loaded, profile: &sim::platform::Profile) -> BTreeMap<Service, String> {
    let mut need = BTreeMap::new();
    let mut add = |s: Service, why: &str| {
        need.entry(s).or_insert_with(|| why.to_string());
    };
    if profile.ack_rds.is_some() {
        add(Service::Rds, "its profile runs ACK's rds-controller");
    }
    if profile.ack_iam.is_some() {
        add(Service::Iam, "its profile runs ACK's iam-controller");
    }
    if profile.ack_secretsmanager.is_some() {
        add(Service::SecretsManager, "its profile runs ACK's secretsmanager-controller");
    }
    if profile.crossplane_aws.is_some() {
        add(Service::Iam, "its profile runs Crossplane's provider-aws-iam");
    }
    if profile.csi.is_some() {
        add(Service::SecretsManager, "its profile runs the Secrets Store CSI driver's AWS provider");
        add(Service::Sts, "its profile runs the Secrets Store CSI driver's AWS provider");
    }
    if let Some(state) = &loaded.scenario.spec.aws {
        for (s, why) in state_needs(state) {
            add(s, why);
        }
    }
    steps_need(&loaded.scenario.spec.steps, &mut add);
    need
}

fn state_needs(state: &AwsState) -> Vec<(Service, &'static str)> {
    let mut out = Vec::new();
    if !state.roles.is_empty() {
        out.push((Service::Iam, "spec.aws.roles"));
    }
    if !state.policies.is_empty() {
        out.push((Service::Iam, "spec.aws.policies"));
    }
    if !state.secrets.is_empty() {
        out.push((Service::SecretsManager, "spec.aws.secrets"));
    }
    out
}

fn expect_needs(e: &AwsExpect) -> Vec<(Service, &'static str)> {
    let mut out = Vec::new();
    if e.role.is_some() {
        out.push((Service::Iam, "an aws role expectation"));
    }
    if e.policy.is_some() {
        out.push((Service::Iam, "an aws policy expectation"));
    }
    if e.secret.is_some() {
        out.push((Service::SecretsManager, "an aws secret expectation"));
    }
    if e.db_instance.is_some() {
        out.push((Service::Rds, "an aws dbInstance expectation"));
    }
    out
}

fn steps_need(steps: &[Spanned<Step>], add: &mut impl FnMut(Service, &str)) {
    for s in steps {
        let s = &s.value;
        for e in s.expect.iter().flat_map(|e| e.0.iter()) {
            for (svc, why) in e.aws.iter().flat_map(expect_needs) {
                add(svc, why);
            }
        }
        for block in [&s.try_, &s.catch, &s.finally, &s.cleanup].into_iter().flatten() {
            steps_need(block, add);
        }
    }
}

/// Ok when `provider` has every service in `need`; else the first it lacks.
pub fn check(provider: Provider, need: &BTreeMap<Service, String>) -> Result<(), MissingService> {
    match need.iter().find(|(s, _)| !provider.provides(**s)) {
        None => Ok(()),
        Some((s, why)) => Err(MissingService { service: *s, why: why.clone(), provider }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn load(yaml: &str) -> Loaded {
        crate::scenario::load_str(yaml, Path::new("/tmp/case.yaml")).unwrap_or_else(|e| panic!("loads: {e:?}"))
    }

    fn names(need: &BTreeMap<Service, String>) -> Vec<&'static str> {
        need.keys().map(|s| s.name()).collect()
    }

    const HEAD: &str = "apiVersion: idp-harness.dev/v1alpha1\nkind: Scenario\nmetadata: {name: s}\nspec:\n";

    #[test]
    fn the_profile_decides_the_components_services() {
        let l = load(&format!("{HEAD}  steps:\n    - sleep: 1s\n"));
        let mut p = sim::platform::Profile::bare();
        assert!(needed_services(&l, &p).is_empty());
        p.ack_rds = Some("1.4.0".into());
        p.csi = Some("1.4.0".into());
        let need = needed_services(&l, &p);
        assert_eq!(names(&need), vec!["STS", "Secrets Manager", "RDS"]);
        assert_eq!(need[&Service::Rds], "its profile runs ACK's rds-controller");
        let mut p = sim::platform::Profile::bare();
        p.crossplane_aws = Some("1".into());
        assert_eq!(names(&needed_services(&l, &p)), vec!["IAM"]);
    }

    #[test]
    fn state_and_expectations_add_theirs_even_in_nested_blocks() {
        let l = load(&format!(
            "{HEAD}  aws:\n    secrets: [{{name: a, value: b}}]\n  steps:\n    - try:\n        - expect: {{aws: {{dbInstance: {{identifier: db}}}}}}\n      finally:\n        - expect: {{aws: {{policy: {{name: p}}}}}}\n"
        ));
        let need = needed_services(&l, &sim::platform::Profile::bare());
        assert_eq!(names(&need), vec!["IAM", "Secrets Manager", "RDS"]);
        assert_eq!(need[&Service::Rds], "an aws dbInstance expectation");
        assert_eq!(need[&Service::SecretsManager], "spec.aws.secrets");
    }

    #[test]
    fn localstack_free_lacks_rds_and_organizations_and_says_what_to_do() {
        let need = BTreeMap::from([
            (Service::Iam, "spec.aws.roles".to_string()),
            (Service::Rds, "its profile runs ACK's rds-controller".to_string()),
        ]);
        assert_eq!(check(Provider::Moto, &need), Ok(()));
        assert_eq!(check(Provider::External, &need), Ok(()));
        assert_eq!(check(Provider::LocalStackToken, &need), Ok(()));
        let err = check(Provider::LocalStackHost, &need).unwrap_err();
        assert_eq!(err.service, Service::Rds);
        assert_eq!(
            err.to_string(),
            "the scenario needs RDS (its profile runs ACK's rds-controller), which LocalStack's free tier (localstack-core 4.9.2 on the host) does not provide; use --aws moto, or --aws localstack-container with LOCALSTACK_AUTH_TOKEN set"
        );
        assert!(!Provider::LocalStackArchive.provides(Service::Organizations));
        assert!(Provider::LocalStackArchive.provides(Service::Kms));
        assert!(Provider::Moto.provides(Service::Organizations));
    }
}
