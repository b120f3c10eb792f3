//! The simulated Crossplane provider-upjet-aws (provider-aws-iam, provider-aws-organizations)
//! driven with the real kubectl, its effects checked in the test binary's moto.

mod common;

use common::TestServer;
use serde_json::Value;
use sim::platform::Profile;

fn profile() -> Profile {
    Profile { crossplane_aws: Some(sim::platform::DEFAULT_CROSSPLANE_AWS.into()), ..Profile::bare() }
}

fn start() -> TestServer {
    TestServer::platform_with_aws(profile(), &common::fresh_account())
}

const PROVIDER_CONFIG: &str = r#"
apiVersion: aws.upbound.io/v1beta1
kind: ProviderConfig
metadata:
  name: default
spec:
  credentials:
    source: Secret
    secretRef: {namespace: crossplane-system, name: aws-creds, key: creds}
  endpoint:
    hostnameImmutable: true
    url: {type: Static, static: "http://moto.example:5000"}
  skip_credentials_validation: true
  skip_requesting_account_id: true
"#;

const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn policy(name: &str, doc: &str, extra_meta: &str) -> String {
    format!(
        "apiVersion: iam.aws.upbound.io/v1beta1\nkind: Policy\nmetadata:\n  name: {name}\n{extra_meta}spec:\n  forProvider:\n    description: test\n    policy: '{doc}'\n"
    )
}

fn get(s: &TestServer, resource: &str, name: &str) -> Value {
    serde_json::from_str(&s.ok(&["get", resource, name, "-o", "json"], None)).expect("json")
}

fn cond<'a>(obj: &'a Value, type_: &str) -> (&'a str, &'a str, &'a str) {
    let c = sim::conditions::get(obj, type_).unwrap_or(&Value::Null);
    let f = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
    (f("status"), f("reason"), f("message"))
}

fn assert_ready(obj: &Value) {
    assert_eq!(cond(obj, "Ready"), ("True", "Available", ""), "{obj:#}");
    assert_eq!(cond(obj, "Synced"), ("True", "ReconcileSuccess", ""), "{obj:#}");
}

#[test]
fn policy_role_and_attachment_with_references_become_ready_in_aws() {
    let s = start();
    s.ok(&["apply", "-f", "-"], Some(PROVIDER_CONFIG));
    let role = format!(
        "apiVersion: iam.aws.upbound.io/v1beta1\nkind: Role\nmetadata:\n  name: app-role\nspec:\n  forProvider:\n    assumeRolePolicy: '{TRUST}'\n    tags: {{team: platform}}\n"
    );
    let attachment = "apiVersion: iam.aws.upbound.io/v1beta1\nkind: RolePolicyAttachment\nmetadata:\n  name: app-attach\nspec:\n  forProvider:\n    policyArnRef: {name: app-policy}\n    roleRef: {name: app-role}\n";
    let all = format!("{}---\n{role}---\n{attachment}", policy("app-policy", DOC, ""));
    s.ok(&["apply", "-f", "-"], Some(&all));
    s.settle();

    let p = get(&s, "policies.iam.aws.upbound.io", "app-policy");
    assert_ready(&p);
    let arn = p.pointer("/status/atProvider/arn").and_then(Value::as_str).expect("arn").to_string();
    assert!(arn.ends_with(":policy/app-policy"), "{arn}");
    assert_eq!(p.pointer("/metadata/annotations/crossplane.io~1external-name"), Some(&Value::from("app-policy")));
    assert!(p
        .pointer("/metadata/finalizers")
        .is_some_and(|f| f.to_string().contains("finalizer.managedresource.crossplane.io")));
    // As upjet's reconciler: the external name and the finalizer are written on the way, the
    // create is requeued at once to observe, and its own status writes do not reconcile again.
    let platform = s.platform.as_ref().expect("platform");
    let policy_runs: Vec<String> = platform
        .runtime()
        .decisions()
        .into_iter()
        .filter(|d| d.controller == "provider-aws-iam" && d.key.name == "app-policy")
        .map(|d| d.outcome)
        .collect();
    assert_eq!(policy_runs, vec!["requeue", "done"], "{policy_runs:?}");
    let r = get(&s, "roles.iam.aws.upbound.io", "app-role");
    assert_ready(&r);
    let a = get(&s, "rolepolicyattachments.iam.aws.upbound.io", "app-attach");
    assert_ready(&a);
    // References are resolved into forProvider as crossplane-runtime writes them.
    assert_eq!(a.pointer("/spec/forProvider/policyArn").and_then(Value::as_str), Some(arn.as_str()));
    assert_eq!(a.pointer("/spec/forProvider/role").and_then(Value::as_str), Some("app-role"));

    let aws = s.aws();
    s.block_on(async {
        let attached = aws.iam.list_attached_role_policies().role_name("app-role").send().await.expect("list");
        let arns: Vec<_> = attached.attached_policies().iter().filter_map(|p| p.policy_arn()).collect();
        assert_eq!(arns, vec![arn.as_str()]);
        let got = aws.iam.get_policy().policy_arn(&arn).send().await.expect("policy");
        let version = got.policy().and_then(|p| p.default_version_id()).expect("version").to_string();
        let v = aws.iam.get_policy_version().policy_arn(&arn).version_id(version).send().await.expect("version");
        let doc = sim::crossplane::external::decode_document(
            v.policy_version().and_then(|v| v.document()).unwrap_or_default(),
        );
        let got: Value = serde_json::from_str(&doc).expect("document is JSON");
        let want: Value = serde_json::from_str(DOC).expect("json");
        assert_eq!(got, want);
    });

    // kubectl's columns read the conditions and the external name.
    let table = s.ok(&["get", "policies.iam.aws.upbound.io"], None);
    assert!(table.contains("SYNCED") && table.contains("EXTERNAL-NAME"), "{table}");
    let row: Vec<&str> =
        table.lines().find(|l| l.starts_with("app-policy")).unwrap_or_default().split_whitespace().collect();
    assert_eq!(row.get(..4), Some(&["app-policy", "True", "True", "app-policy"][..]), "{table}");

    // A changed document is a new default policy version.
    let doc2 = DOC.replace("s3:GetObject", "s3:PutObject");
    s.ok(&["apply", "-f", "-"], Some(&policy("app-policy", &doc2, "")));
    s.settle();
    assert_ready(&get(&s, "policies.iam.aws.upbound.io", "app-policy"));
    s.block_on(async {
        let versions = aws.iam.list_policy_versions().policy_arn(&arn).send().await.expect("versions");
        assert_eq!(versions.versions().len(), 2);
    });

    // Deleting the attachment detaches the policy in AWS; the object goes.
    s.ok(&["delete", "rolepolicyattachments.iam.aws.upbound.io", "app-attach", "--wait=false"], None);
    s.settle();
    let gone = s.kubectl(&["get", "rolepolicyattachments.iam.aws.upbound.io", "app-attach"], None);
    assert!(!gone.0.status.success(), "{}", gone.stdout());
    s.block_on(async {
        let attached = aws.iam.list_attached_role_policies().role_name("app-role").send().await.expect("list");
        assert!(attached.attached_policies().is_empty());
    });
}

#[test]
fn cluster_scoped_policy_drops_a_namespace_given_on_apply() {
    let s = start();
    s.ok(&["apply", "-f", "-"], Some(PROVIDER_CONFIG));
    s.ok(&["apply", "-f", "-"], Some("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: crossplane-system\n"));
    let with_ns = policy("ns-policy", DOC, "  namespace: crossplane-system\n");
    s.ok(&["apply", "-f", "-"], Some(&with_ns));
    s.settle();
    let p = get(&s, "policies.iam.aws.upbound.io", "ns-policy");
    assert_eq!(p.pointer("/metadata/namespace"), None, "{p:#}");
    assert_ready(&p);
    // Also through server-side apply.
    let ssa = policy("ns-policy-ssa", DOC, "  namespace: crossplane-system\n");
    s.ok(&["apply", "--server-side", "-f", "-"], Some(&ssa));
    let p = get(&s, "policies.iam.aws.upbound.io", "ns-policy-ssa");
    assert_eq!(p.pointer("/metadata/namespace"), None, "{p:#}");
}

#[test]
fn unknown_fields_are_rejected_by_the_schema() {
    let s = start();
    let bad = "apiVersion: iam.aws.upbound.io/v1beta1\nkind: Policy\nmetadata:\n  name: bad\nspec:\n  forProvider:\n    policyDocument: '{}'\n";
    let err = s.fails(&["apply", "--server-side", "-f", "-"], Some(bad));
    assert!(err.contains("policyDocument"), "{err}");
}

#[test]
fn malformed_policy_document_is_a_reconcile_error_with_the_aws_message() {
    let s = start();
    s.ok(&["apply", "-f", "-"], Some(PROVIDER_CONFIG));
    s.ok(&["apply", "-f", "-"], Some(&policy("broken", "{not json", "")));
    s.settle();
    let p = get(&s, "policies.iam.aws.upbound.io", "broken");
    let (status, reason, message) = cond(&p, "Synced");
    assert_eq!((status, reason), ("False", "ReconcileError"), "{p:#}");
    assert!(message.starts_with("create failed: failed to create the resource: [{0 creating IAM Policy (broken): operation error IAM: CreatePolicy"), "{message}");
    assert!(message.contains("MalformedPolicyDocument"), "{message}");
    assert_eq!(cond(&p, "Ready").1, "Creating");
    let events = s.ok(&["get", "events", "-n", "default", "-o", "json"], None);
    assert!(events.contains("CannotCreateExternalResource"), "{events}");
}

#[test]
fn a_missing_provider_config_is_a_connect_error() {
    let s = start();
    s.ok(&["apply", "-f", "-"], Some(&policy("lonely", DOC, "")));
    s.settle();
    let p = get(&s, "policies.iam.aws.upbound.io", "lonely");
    assert_eq!(
        cond(&p, "Synced"),
        (
            "False",
            "ReconcileError",
            "connect failed: cannot get terraform setup: cannot get referenced ProviderConfig: ProviderConfig.aws.upbound.io \"default\" not found"
        )
    );
    // Creating the ProviderConfig lets it proceed.
    s.ok(&["apply", "-f", "-"], Some(PROVIDER_CONFIG));
    s.settle();
    assert_ready(&get(&s, "policies.iam.aws.upbound.io", "lonely"));
}

#[test]
fn deletion_removes_from_aws_and_orphan_keeps() {
    let s = start();
    s.ok(&["apply", "-f", "-"], Some(PROVIDER_CONFIG));
    let orphan = format!(
        "apiVersion: iam.aws.upbound.io/v1beta1\nkind: Role\nmetadata:\n  name: kept\nspec:\n  deletionPolicy: Orphan\n  forProvider:\n    assumeRolePolicy: '{TRUST}'\n"
    );
    let deleted = orphan.replace("name: kept", "name: removed").replace("  deletionPolicy: Orphan\n", "");
    s.ok(&["apply", "-f", "-"], Some(&format!("{orphan}---\n{deleted}")));
    s.settle();
    assert_ready(&get(&s, "roles.iam.aws.upbound.io", "kept"));
    assert_ready(&get(&s, "roles.iam.aws.upbound.io", "removed"));
    s.ok(&["delete", "roles.iam.aws.upbound.io", "kept", "removed", "--wait=false"], None);
    s.settle();
    let left = s.ok(&["get", "roles.iam.aws.upbound.io", "-o", "name"], None);
    assert_eq!(left.trim(), "", "{left}");
    let aws = s.aws();
    s.block_on(async {
        assert!(aws.iam.get_role().role_name("kept").send().await.is_ok(), "orphaned role stays");
        let e = aws.iam.get_role().role_name("removed").send().await.expect_err("deleted role is gone");
        assert_eq!(sim::aws::error_code(&e), Some("NoSuchEntity"));
    });
}

#[test]
fn the_external_name_annotation_names_the_aws_resource() {
    let s = start();
    s.ok(&["apply", "-f", "-"], Some(PROVIDER_CONFIG));
    let p = policy("k8s-name", DOC, "  annotations:\n    crossplane.io/external-name: aws-name\n");
    s.ok(&["apply", "-f", "-"], Some(&p));
    s.settle();
    let obj = get(&s, "policies.iam.aws.upbound.io", "k8s-name");
    assert_ready(&obj);
    let arn = obj.pointer("/status/atProvider/arn").and_then(Value::as_str).unwrap_or_default();
    assert!(arn.ends_with(":policy/aws-name"), "{arn}");
    let aws = s.aws();
    s.block_on(async {
        let list =
            aws.iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send().await.expect("list");
        let names: Vec<_> = list.policies().iter().filter_map(|p| p.policy_name()).collect();
        assert_eq!(names, vec!["aws-name"]);
    });
}

#[test]
fn a_service_control_policy_is_created_and_attached() {
    let s = start();
    s.ok(&["apply", "-f", "-"], Some(PROVIDER_CONFIG));
    let scp_doc =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateUser","Resource":"*"}]}"#;
    let scp = format!(
        "apiVersion: organizations.aws.upbound.io/v1beta1\nkind: Policy\nmetadata:\n  name: deny-users\nspec:\n  forProvider:\n    name: deny-users\n    type: SERVICE_CONTROL_POLICY\n    content: '{scp_doc}'\n"
    );
    s.ok(&["apply", "-f", "-"], Some(&scp));
    s.settle();
    let p = get(&s, "policies.organizations.aws.upbound.io", "deny-users");
    assert_ready(&p);
    let id = p
        .pointer("/metadata/annotations/crossplane.io~1external-name")
        .and_then(Value::as_str)
        .expect("id")
        .to_string();
    assert!(id.starts_with("p-"), "{id}");
    let aws = s.aws();
    let root = s.block_on(async {
        let roots = aws.organizations.list_roots().send().await.expect("roots (the simulator made the organization)");
        roots.roots().first().and_then(|r| r.id()).expect("root").to_string()
    });
    let attach = format!(
        "apiVersion: organizations.aws.upbound.io/v1beta1\nkind: PolicyAttachment\nmetadata:\n  name: deny-users-root\nspec:\n  forProvider:\n    policyIdRef: {{name: deny-users}}\n    targetId: {root}\n"
    );
    s.ok(&["apply", "-f", "-"], Some(&attach));
    s.settle();
    let a = get(&s, "policyattachments.organizations.aws.upbound.io", "deny-users-root");
    assert_ready(&a);
    assert_eq!(a.pointer("/spec/forProvider/policyId").and_then(Value::as_str), Some(id.as_str()));
    s.block_on(async {
        let targets = aws.organizations.list_targets_for_policy().policy_id(&id).send().await.expect("targets");
        let ids: Vec<_> = targets.targets().iter().filter_map(|t| t.target_id()).collect();
        assert_eq!(ids, vec![root.as_str()]);
    });
}

#[test]
fn namespaced_twins_use_a_cluster_provider_config() {
    let s = start();
    s.ok(&["apply", "-f", "-"], Some("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n"));
    let p = format!(
        "apiVersion: iam.aws.m.upbound.io/v1beta1\nkind: Policy\nmetadata:\n  name: team-policy\n  namespace: team-a\nspec:\n  forProvider:\n    policy: '{DOC}'\n"
    );
    s.ok(&["apply", "-f", "-"], Some(&p));
    s.settle();
    let obj: Value = serde_json::from_str(
        &s.ok(&["get", "policies.iam.aws.m.upbound.io", "-n", "team-a", "team-policy", "-o", "json"], None),
    )
    .expect("json");
    assert_eq!(obj.pointer("/spec/providerConfigRef/kind").and_then(Value::as_str), Some("ClusterProviderConfig"));
    assert_eq!(cond(&obj, "Synced").2, "connect failed: cannot get terraform setup: cannot get referenced ProviderConfig: ClusterProviderConfig.aws.m.upbound.io \"default\" not found");
    let cpc = PROVIDER_CONFIG
        .replace("aws.upbound.io/v1beta1", "aws.m.upbound.io/v1beta1")
        .replace("kind: ProviderConfig", "kind: ClusterProviderConfig");
    s.ok(&["apply", "-f", "-"], Some(&cpc));
    s.settle();
    let obj: Value = serde_json::from_str(
        &s.ok(&["get", "policies.iam.aws.m.upbound.io", "-n", "team-a", "team-policy", "-o", "json"], None),
    )
    .expect("json");
    assert_ready(&obj);
}

#[test]
fn unsupported_versions_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let config = sim::platform::PlatformConfig {
        profile: Profile { crossplane_aws: Some("3".into()), ..Profile::bare() },
        ..Default::default()
    };
    let err = rt.block_on(async { sim::platform::Platform::start(config) }).err().expect("refused");
    assert!(err.to_string().contains("models 1, 2"), "{err}");
}
