//! The scenario format, `idp-harness.dev/v1alpha1`: the Rust types a scenario file
//! deserializes into. The JSON Schema (`docs/scenario.schema.json`) is generated from them.
//!
//! Types only: parsing with locations is in `load`, meaning is in the runner. Unknown keys are
//! errors everywhere (`deny_unknown_fields`), so a typo is caught before anything runs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::duration::Duration;

/// The only `apiVersion` this engine reads.
pub const API_VERSION: &str = "idp-harness.dev/v1alpha1";
/// The only `kind`.
pub const KIND: &str = "Scenario";

/// A scenario: platform, Git repos and AWS state to start from, then steps.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    /// Always `idp-harness.dev/v1alpha1`.
    pub api_version: String,
    /// Always `Scenario`.
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// Unique among the scenarios of a run: a lowercase DNS label (letters, digits, `-`).
    pub name: String,
    /// One sentence a reader of a report understands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free labels, for selecting scenarios.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    /// Platform components and their versions (default: every component the simulator models,
    /// at its default version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// The whole scenario must finish within this (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// How long cleanup waits for the scenario's objects and namespace to go before reporting
    /// them as leaks (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_timeout: Option<Duration>,
    /// User values for `${name}` in steps and files. `scenario`, `namespace` and `account` are
    /// set by the runner and cannot be redefined.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bindings: BTreeMap<String, String>,
    /// Git repositories the scenario serves to Flux: real repositories made from local
    /// directories, found by the URL GitRepository objects write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<Repo>")]
    pub repos: Vec<Spanned<Repo>>,
    /// Initial AWS state, made in the scenario's own account before the first step and removed
    /// at the end. Giving it (even `{}`) also gives `command` steps AWS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsState>,
    /// What happens, in order.
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Spanned<Step>>,
}

/// One step: at most one action (apply, delete, patch, wait, sleep, command, try) and, after it,
/// expectations. A step with only `expect` checks the state of the world.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    /// Shown in reports (default: the action and its target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Limit for this step's action and its expectations (defaults depend on the action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Server-side apply of manifests (a file, a directory, inline YAML or objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<Apply>,
    /// Delete an object and wait until it is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<Delete>,
    /// Patch an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchStep>,
    /// Wait for a condition, a creation or a deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    /// Pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<Duration>,
    /// Run a local command with KUBECONFIG (and, later, AWS settings) in its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Change files in a scenario repo and make a new commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
    /// Drive every Flux object to a verdict (Ready True or False for its current generation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<Reconcile>,
    /// Steps to run; when one fails, `catch` runs, then `finally` always.
    #[serde(default, rename = "try", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<Step>>")]
    pub try_: Option<Vec<Spanned<Step>>>,
    /// Steps run when a `try` step failed (to collect evidence); the failure stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<Step>>")]
    pub catch: Option<Vec<Spanned<Step>>>,
    /// Steps run after `try`, whether it failed or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<Step>>")]
    pub finally: Option<Vec<Spanned<Step>>>,
    /// Steps registered now and run when the scenario ends (last registered first), even if it
    /// failed or was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<Step>>")]
    pub cleanup: Option<Vec<Spanned<Step>>>,
    /// What must hold after the action (or now, for a step without one): one expectation or a
    /// list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<Expectation>>")]
    pub expect: Option<OneOrMany<Expectation>>,
}

/// One value or a list of them.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map or a list of maps")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| OneOrMany(vec![t]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::<T>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(OneOrMany)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Manifests to apply with server-side apply (field manager `idp-harness`, forced), as Flux
/// applies them. A plain string is a file path. Namespaced objects without a namespace go to
/// `${namespace}`.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Apply {
    /// A YAML file (several documents allowed), relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Every `.yaml`/`.yml` file of a directory, in name order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// YAML text (several documents allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// Objects written as YAML maps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApplyMap {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    inline: Option<String>,
    #[serde(default)]
    objects: Option<Vec<Value>>,
}

impl<'de> Deserialize<'de> for Apply {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Apply;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a file path, or a map with one of file, dir, inline, objects")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Apply, E> {
                Ok(Apply { file: Some(v.to_string()), ..Default::default() })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Apply, A::Error> {
                let m = ApplyMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Apply { file: m.file, dir: m.dir, inline: m.inline, objects: m.objects })
            }
        }
        d.deserialize_any(V)
    }
}

/// Which object: `apiVersion`, `kind`, `name`, and `namespace` (default `${namespace}` for
/// namespaced kinds).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Delete an object and wait until it is gone (unless `wait: false`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Delete {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Background (default), Foreground or Orphan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
    /// Wait until the object is gone (default true).
    #[serde(default = "yes")]
    pub wait: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

/// Patch an object.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchStep {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// merge (default), strategic or json.
    #[serde(default, rename = "type")]
    pub type_: PatchKind,
    /// The patch: a map for merge and strategic, a list of operations for json.
    pub patch: Value,
    /// Patch the `status` subresource instead of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PatchKind {
    #[default]
    Merge,
    Strategic,
    Json,
}

/// Wait until an object has a condition, exists, or is gone.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Wait {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A condition type that must have `status` (default `True`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Wait until the object exists.
    #[serde(default)]
    pub created: bool,
    /// Wait until the object is gone.
    #[serde(default)]
    pub deleted: bool,
}

/// A local command. A plain string runs through `sh -c`.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// A shell command line (`sh -c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// A program and its arguments, without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Extra environment (bindings are substituted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The exit code expected (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// A regular expression stdout must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// A regular expression stderr must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CommandMap {
    #[serde(default)]
    run: Option<String>,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    exit: Option<i32>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr: Option<String>,
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Command;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a shell command line, or a map with run or args")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
                Ok(Command { run: Some(v.to_string()), ..Default::default() })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Command, A::Error> {
                let m = CommandMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Command { run: m.run, args: m.args, env: m.env, exit: m.exit, stdout: m.stdout, stderr: m.stderr })
            }
        }
        d.deserialize_any(V)
    }
}

/// One expectation: exactly one of its kinds, and optionally how long it may take to hold
/// (`within`, "eventually") or how long it must keep holding (`consistently`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expectation {
    /// An object matching this partial object: maps are subsets, lists match in any order.
    /// `apiVersion`, `kind` and `metadata.name` say which object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// The object does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<ObjectRef>,
    /// The object has a condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionExpect>,
    /// The step's action was denied by admission (structured, not a string match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied: Option<Denied>,
    /// The step's action failed with this API error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorExpect>,
    /// The step's action succeeded with this warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<WarningExpect>,
    /// A Flux object's verdict: its Ready condition (and revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flux: Option<FluxExpect>,
    /// Pods (by name or labels) in a phase, ready or not, with events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodExpect>,
    /// An Event about an object (a ReplicaSet's `FailedCreate`, a Kustomization's
    /// `ReconciliationSucceeded`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventExpect>,
    /// A file's content inside a pod (a mounted secret): compared, never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileExpect>,
    /// AWS state in the scenario's account: an IAM role or policy, a secret, an RDS instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsExpect>,
    /// Must hold within this (polled; the default depends on the kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Duration>,
    /// Must hold now and keep holding for this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistently: Option<Duration>,
}

/// A condition on an object.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConditionExpect {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Default `True`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A regular expression the message must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An admission denial: which webhook, which constraints, what message.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Denied {
    /// The webhook that denied, e.g. `validation.gatekeeper.sh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// A constraint named in the denial (`[name] message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// A regular expression the denial message must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An API error of the step's action.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ErrorExpect {
    /// HTTP code, e.g. 422.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// `Status.reason`, e.g. `Invalid`, `NotFound`, `Forbidden`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A regular expression the message must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A warning returned with the step's action.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WarningExpect {
    /// A regular expression one warning must match.
    pub message: String,
}

/// Which platform components run, at which versions. A component left out runs at its
/// default version; `none` leaves it out.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Profile {
    /// A shared profile file (YAML with these keys), relative to the scenario file. Keys given
    /// here override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Flux version (`2.8`; `2.7` and earlier also serve the deprecated `v1beta2` APIs), or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flux: Option<String>,
    /// Gatekeeper version (`3.20`), or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gatekeeper: Option<String>,
    /// Secrets Store CSI driver version (`1.5`), with the AWS provider, or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi: Option<String>,
    /// The AWS region of the platform and its AWS account (default `us-east-1`): nodes carry it,
    /// the pod identity webhook injects it, the CSI provider and ACK use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ACK iam-controller version (`1.4`), or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_iam: Option<String>,
    /// ACK rds-controller version (`1.6`), or `none` (LocalStack's free tier has no RDS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_rds: Option<String>,
    /// ACK secretsmanager-controller version (`1.1`), or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_secretsmanager: Option<String>,
    /// Crossplane provider-aws-iam major version (`2`), or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossplane_aws: Option<String>,
    /// The virtual nodes (default: 2 nodes with the kubelet's default labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Nodes>,
}

/// The simulator's virtual nodes `sim-node-1`..`sim-node-<count>`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Nodes {
    /// How many nodes (1 to 50; default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// Labels for every node, on top of the defaults (hostname, os, arch, region, zone); a label
    /// given here wins (`eks.amazonaws.com/nodegroup: ng-1`,
    /// `eks.amazonaws.com/compute-type: fargate`, `topology.kubernetes.io/region: eu-west-1`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A Git repository made for the scenario.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Repo {
    /// The URL as GitRepository objects write it (`https://github.com/org/platform.git`).
    pub url: String,
    /// The directory whose contents become the first commit, relative to the scenario file.
    pub from: String,
    /// The branch of the first commit (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// More branches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<RefSpec>,
    /// Tags (lightweight, or annotated with `message`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<RefSpec>,
}

/// A branch or tag to create.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefSpec {
    pub name: String,
    /// Where it points: a branch, tag or commit (default: the first commit's branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// For tags: make an annotated tag with this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A new commit in a scenario repo. File contents are committed as written (no binding
/// substitution: Flux's own `${var}` substitutions must reach Flux untouched).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Commit {
    /// The repo's `url`, as in `spec.repos`.
    pub repo: String,
    /// The branch to commit on (default: the repo's first branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The commit message (default: `idp-harness: <step name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Files to write: path in the repo → content.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// Directories or files to copy in: path in the repo → local path relative to the scenario
    /// file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub copy: BTreeMap<String, String>,
    /// Paths to remove (files or directories).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Tag the new commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// Which Flux objects `reconcile` drives.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Reconcile {
    /// Only these kinds (default: GitRepository, OCIRepository, HelmRepository, Bucket,
    /// HelmChart, Kustomization, HelmRelease).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Only this namespace (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A Flux object's verdict.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FluxExpect {
    /// `Kustomization`, `GitRepository`, `HelmRelease`, `OCIRepository`, `HelmRepository`,
    /// `Bucket` or `HelmChart`.
    pub kind: String,
    pub name: String,
    /// Default `flux-system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Ready True (default) or False.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// The Ready condition's reason, exactly (`ReconciliationSucceeded`, `BuildFailed`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A regular expression the Ready condition's message must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A regular expression the revision must match: `status.lastAppliedRevision` for
    /// Kustomizations and HelmReleases, `status.artifact.revision` for sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// The API version of a Flux kind, as Flux 2.8 serves it.
pub fn flux_api_version(kind: &str) -> Option<&'static str> {
    match kind {
        "GitRepository" | "OCIRepository" | "HelmRepository" | "Bucket" | "HelmChart" => {
            Some("source.toolkit.fluxcd.io/v1")
        }
        "Kustomization" => Some("kustomize.toolkit.fluxcd.io/v1"),
        "HelmRelease" => Some("helm.toolkit.fluxcd.io/v2"),
        _ => None,
    }
}

/// Pods in a state. Selected by `name` or `labels` (at least one pod must match); every selected
/// pod must be in `phase` and `ready` as asked, and each of `events` must be found on one of them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodExpect {
    /// Default: the scenario's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Exactly this many pods match (default: at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The pod's `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Events on the pods (e.g. `{type: Warning, reason: FailedMount, message: '...'}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventMatch>,
}

/// What an Event must say.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventMatch {
    /// `Normal` or `Warning`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A regular expression on the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An Event about one object.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventExpect {
    /// The object the Event is about (`involvedObject`).
    #[serde(rename = "for")]
    pub for_: EventFor,
    /// `Normal` or `Warning`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A regular expression on the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl EventExpect {
    pub fn what(&self) -> EventMatch {
        EventMatch { type_: self.type_.clone(), reason: self.reason.clone(), message: self.message.clone() }
    }
}

/// The object an Event is about. `namespace` defaults to the scenario's (for namespaced
/// kinds; where the Event is recorded).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventFor {
    pub kind: String,
    /// The name, or a prefix ending in `*` (`web-*` for the ReplicaSets of Deployment `web`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// AWS state a scenario starts from. Documents (trust and permission policies) are YAML maps or
/// JSON strings; `${account}` and other bindings are substituted.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsState {
    /// Secrets Manager secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<AwsSecret>,
    /// Customer managed IAM policies (made before the roles, which may attach them by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<AwsPolicy>,
    /// IAM roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<AwsRole>,
}

/// A Secrets Manager secret: `value` (a string) or `json` (stored as JSON text).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsSecret {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A customer managed IAM policy.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsPolicy {
    pub name: String,
    /// The policy document: a map, or JSON text.
    pub document: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// An IAM role.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsRole {
    pub name: String,
    /// The trust (assume-role) policy: a map, or JSON text.
    pub trust: Value,
    /// Managed policies to attach: ARNs, or names of `spec.aws.policies`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Inline policies: name → document.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inline_policies: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One AWS expectation: exactly one of its kinds.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsExpect {
    /// An IAM role: exists, its trust and permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleExpect>,
    /// A customer managed IAM policy and its statements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyExpect>,
    /// A Secrets Manager secret and its value (never printed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretExpect>,
    /// An RDS DB instance and its status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_instance: Option<DbInstanceExpect>,
}

/// An IAM role.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoleExpect {
    pub name: String,
    /// Default true; `false` expects no such role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// Statements the trust policy contains (each a partial statement, compared as JSON:
    /// `Action` and `Resource` may be a string or a list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_statements: Vec<Value>,
    /// Managed policies attached: ARNs or policy names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Names of inline policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline_policies: Vec<String>,
    /// A Kubernetes service account (`namespace/name` or `system:serviceaccount:<ns>:<name>`)
    /// the trust policy lets assume the role through the platform's OIDC issuer (IRSA),
    /// evaluated as STS would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusts: Option<String>,
    /// Requests the role's identity policies allow: `<action> on <resource>`; the resource is an
    /// ARN or the name of a secret in the account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub may: Vec<String>,
    /// Requests the role's identity policies deny (explicitly or implicitly).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub may_not: Vec<String>,
}

/// A customer managed IAM policy (its default version).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyExpect {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// Statements the document contains (partial, compared as JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<Value>,
}

/// A Secrets Manager secret. Values are compared, never printed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretExpect {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// The current value, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A regular expression the current value matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// The current value is JSON containing this (partial match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
}

/// An RDS DB instance.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DbInstanceExpect {
    pub identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// `DBInstanceStatus`, e.g. `available`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// A file inside a pod, as a container sees it. Its content is compared and never printed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileExpect {
    /// Which pod: by `name` or `labels` (in `namespace`, default the scenario's); every selected
    /// pod must have the file.
    pub pod: PodRef,
    /// The container (default: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The absolute path in the container, e.g. `/mnt/secrets-store/db-password`.
    pub path: String,
    /// The content, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// A regular expression the content matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// The SHA-256 of the content, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Pods by name or labels.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}
