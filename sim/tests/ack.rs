//! The simulated ACK controllers with the real kubectl and the real moto: IAM Roles and Policies,
//! RDS DBInstances and Secrets Manager Secrets reach AWS (moto) and report the runtime's
//! conditions; the kinds and fields the real CRDs lack are rejected as the real API server does.

mod common;

use common::{fresh_account, TestServer};
use serde_json::{json, Value};
use sim::platform::Profile;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const READ_S3: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
const LOGS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:PutLogEvents"],"Resource":"*"}]}"#;

/// ACK only (versions with the `Ready` condition), no Flux or Gatekeeper.
fn profile() -> Profile {
    Profile {
        ack_iam: Some("1.6".into()),
        ack_rds: Some("1.7".into()),
        ack_secretsmanager: Some("1.2".into()),
        ..Profile::bare()
    }
}

fn server() -> TestServer {
    TestServer::platform_with_aws(profile(), &fresh_account())
}

fn account(s: &TestServer) -> String {
    s.platform.as_ref().and_then(|p| p.aws()).and_then(|a| a.account()).unwrap_or_default().to_string()
}

/// `kubectl apply --server-side` of `yaml`, then the fixed point.
fn apply(s: &TestServer, yaml: &str) {
    s.ok(&["apply", "--server-side", "-f", "-"], Some(yaml));
    s.settle();
}

fn get(s: &TestServer, resource: &str, name: &str) -> Value {
    let out = s.ok(&["get", resource, name, "-n", "default", "-o", "json"], None);
    serde_json::from_str(&out).expect("kubectl prints JSON")
}

/// `(status, message, reason)` of a condition.
fn cond(obj: &Value, type_: &str) -> (String, String, String) {
    let c = sim::conditions::get(obj, type_).unwrap_or_else(|| panic!("no {type_} condition in {obj:#}"));
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    (s("status"), s("message"), s("reason"))
}

fn json_of(document: &str) -> Value {
    sim::ack::policy_json(document).unwrap_or_else(|| panic!("not a policy document: {document}"))
}

fn policy_yaml(name: &str, document: &str) -> String {
    format!(
        "apiVersion: iam.services.k8s.aws/v1alpha1\nkind: Policy\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  name: {name}\n  policyDocument: '{document}'\n"
    )
}

fn role_yaml(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: iam.services.k8s.aws/v1alpha1\nkind: Role\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  name: {name}\n  assumeRolePolicyDocument: '{TRUST}'\n{extra}"
    )
}

const APP_ROLE_EXTRA: &str = "  description: app role\n  maxSessionDuration: 7200\n  policyRefs:\n  - from: {name: read-s3}\n  inlinePolicies:\n    logs: '{LOGS}'\n  tags:\n  - {key: team, value: platform}\n";

fn app_role() -> String {
    role_yaml("app", &APP_ROLE_EXTRA.replace("{LOGS}", LOGS))
}

async fn attached(s: &TestServer, role: &str) -> Vec<String> {
    let out = s.aws().iam.list_attached_role_policies().role_name(role).send().await.expect("list attached");
    out.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect()
}

#[test]
fn a_role_with_trust_inline_policy_and_policy_ref_syncs_to_iam() {
    let s = server();
    apply(&s, &format!("{}---\n{}", policy_yaml("read-s3", READ_S3), app_role()));
    let acct = account(&s);

    let policy = get(&s, "policies.iam.services.k8s.aws", "read-s3");
    let policy_arn = format!("arn:aws:iam::{acct}:policy/read-s3");
    assert_eq!(policy["status"]["ackResourceMetadata"]["arn"], policy_arn.as_str());
    assert_eq!(cond(&policy, "ACK.ResourceSynced").0, "True");

    let role = get(&s, "roles.iam.services.k8s.aws", "app");
    assert_eq!(
        cond(&role, "ACK.ResourceSynced"),
        ("True".into(), "Resource synced successfully".into(), String::new())
    );
    assert_eq!(cond(&role, "Ready").0, "True");
    assert_eq!(cond(&role, "ACK.ReferencesResolved").0, "True");
    assert_eq!(role["status"]["ackResourceMetadata"]["arn"], format!("arn:aws:iam::{acct}:role/app"));
    assert_eq!(role["status"]["ackResourceMetadata"]["ownerAccountID"], acct.as_str());
    assert_eq!(role["status"]["ackResourceMetadata"]["region"], "us-east-1");
    assert_eq!(role["metadata"]["finalizers"], json!(["finalizers.iam.services.k8s.aws/Role"]));

    s.block_on(async {
        let iam = s.aws().iam;
        let r = iam.get_role().role_name("app").send().await.expect("role in moto");
        let r = r.role().expect("role");
        assert_eq!(json_of(r.assume_role_policy_document().unwrap_or_default()), json_of(TRUST));
        assert_eq!(r.description(), Some("app role"));
        assert_eq!(r.max_session_duration(), Some(7200));
        assert_eq!(attached(&s, "app").await, vec![policy_arn.clone()]);
        let inline = iam.get_role_policy().role_name("app").policy_name("logs").send().await.expect("inline policy");
        assert_eq!(json_of(inline.policy_document()), json_of(LOGS));
        let tags = iam.list_role_tags().role_name("app").send().await.expect("tags");
        assert_eq!(tags.tags().iter().map(|t| (t.key(), t.value())).collect::<Vec<_>>(), vec![("team", "platform")]);
    });
}

#[test]
fn a_policy_ref_waits_for_its_policy_and_resolves_once_it_is_synced() {
    let s = server();
    apply(&s, &app_role());
    let role = get(&s, "roles.iam.services.k8s.aws", "app");
    let (status, message, reason) = cond(&role, "ACK.ReferencesResolved");
    assert_eq!((status.as_str(), message.as_str()), ("Unknown", "Reference resolution failed"));
    assert_eq!(reason, r#"policies.iam.services.k8s.aws "read-s3" not found"#);
    assert_eq!(cond(&role, "ACK.ResourceSynced").0, "Unknown");
    assert!(role["metadata"]["finalizers"].is_null(), "not managed before references resolve: {role:#}");
    let missing = s.block_on(s.aws().iam.get_role().role_name("app").send());
    assert!(missing.is_err(), "the role must not be created before its references resolve");

    apply(&s, &policy_yaml("read-s3", READ_S3));
    let role = get(&s, "roles.iam.services.k8s.aws", "app");
    assert_eq!(cond(&role, "ACK.ResourceSynced").0, "True");
    assert_eq!(s.block_on(attached(&s, "app")), vec![format!("arn:aws:iam::{}:policy/read-s3", account(&s))]);
}

#[test]
fn a_malformed_policy_document_is_terminal() {
    let s = server();
    apply(&s, &policy_yaml("broken", r#"{"Version":"2012-10-17","Statement":"#));
    let policy = get(&s, "policies.iam.services.k8s.aws", "broken");
    let (status, message, _) = cond(&policy, "ACK.Terminal");
    assert_eq!(status, "True");
    assert!(message.starts_with("MalformedPolicyDocument: "), "{message}");
    let (status, message, reason) = cond(&policy, "ACK.ResourceSynced");
    assert_eq!((status.as_str(), message.as_str()), ("Unknown", sim::ack::cond::UNKNOWN_SYNCED_MESSAGE));
    assert!(reason.starts_with("operation error IAM: CreatePolicy, https response error StatusCode: 400"), "{reason}");
    assert!(reason.contains("MalformedPolicyDocument: "), "{reason}");
    let (status, ready_message, reason) = cond(&policy, "Ready");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ACK.Terminal"));
    assert_eq!(ready_message, message_of(&policy, "ACK.Terminal"));
    assert!(sim::conditions::get(&policy, "ACK.Recoverable").is_none());

    // Fixing the document clears the terminal state.
    apply(&s, &policy_yaml("broken", READ_S3));
    let policy = get(&s, "policies.iam.services.k8s.aws", "broken");
    assert_eq!(cond(&policy, "ACK.ResourceSynced").0, "True");
    assert!(sim::conditions::get(&policy, "ACK.Terminal").is_none(), "{policy:#}");
}

fn message_of(obj: &Value, type_: &str) -> String {
    cond(obj, type_).1
}

#[test]
fn deleting_a_role_deletes_it_in_iam_unless_retained() {
    let s = server();
    apply(&s, &format!("{}---\n{}", role_yaml("gone", ""), role_yaml("kept", "")));
    s.ok(
        &["annotate", "roles.iam.services.k8s.aws", "kept", "-n", "default", "services.k8s.aws/deletion-policy=retain"],
        None,
    );
    s.settle();
    s.ok(&["delete", "roles.iam.services.k8s.aws", "gone", "kept", "-n", "default", "--wait=false"], None);
    s.settle();
    let left = s.ok(&["get", "roles.iam.services.k8s.aws", "-n", "default", "-o", "name"], None);
    assert_eq!(left.trim(), "", "both objects are gone from Kubernetes");
    s.block_on(async {
        let iam = s.aws().iam;
        let err = iam.get_role().role_name("gone").send().await.expect_err("deleted in IAM");
        assert_eq!(sim::aws::error_code(&err), Some("NoSuchEntity"));
        assert!(iam.get_role().role_name("kept").send().await.is_ok(), "retained in IAM");
    });
}

#[test]
fn a_policy_still_attached_is_deleted_only_once_its_role_lets_go() {
    let s = server();
    apply(&s, &format!("{}---\n{}", policy_yaml("read-s3", READ_S3), app_role()));
    assert_eq!(cond(&get(&s, "roles.iam.services.k8s.aws", "app"), "ACK.ResourceSynced").0, "True");
    let arn = format!("arn:aws:iam::{}:policy/read-s3", account(&s));

    // IAM refuses to delete an attached policy (moto would delete it and leave the role's
    // attachment dangling): the object waits, saying why.
    s.ok(&["delete", "policies.iam.services.k8s.aws", "read-s3", "-n", "default", "--wait=false"], None);
    s.settle();
    let policy = get(&s, "policies.iam.services.k8s.aws", "read-s3");
    assert!(policy["metadata"]["deletionTimestamp"].is_string(), "{policy:#}");
    let (status, message, _) = cond(&policy, "ACK.Recoverable");
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("True", "DeleteConflict: Cannot delete a policy attached to entities.")
    );
    let (_, _, reason) = cond(&policy, "ACK.ResourceSynced");
    assert!(
        reason.starts_with("operation error IAM: DeletePolicy, https response error StatusCode: 409, RequestID: "),
        "{reason}"
    );
    assert!(s.block_on(s.aws().iam.get_policy().policy_arn(&arn).send()).is_ok(), "still in IAM");

    // The role goes and detaches it; then the policy's deletion goes through.
    s.ok(&["delete", "roles.iam.services.k8s.aws", "app", "-n", "default", "--wait=false"], None);
    s.settle();
    let left =
        s.ok(&["get", "roles.iam.services.k8s.aws,policies.iam.services.k8s.aws", "-n", "default", "-o", "name"], None);
    assert_eq!(left.trim(), "", "both objects are gone from Kubernetes");
    s.block_on(async {
        let iam = s.aws().iam;
        let err = iam.get_policy().policy_arn(&arn).send().await.expect_err("deleted in IAM");
        assert_eq!(sim::aws::error_code(&err), Some("NoSuchEntity"));
        let err = iam.get_role().role_name("app").send().await.expect_err("deleted in IAM");
        assert_eq!(sim::aws::error_code(&err), Some("NoSuchEntity"));
    });
}

#[test]
fn a_policy_detached_behind_ack_is_reattached_on_resync() {
    let s = server();
    apply(&s, &format!("{}---\n{}", policy_yaml("read-s3", READ_S3), app_role()));
    let arn = format!("arn:aws:iam::{}:policy/read-s3", account(&s));
    s.block_on(async {
        let iam = s.aws().iam;
        iam.detach_role_policy().role_name("app").policy_arn(&arn).send().await.expect("detach");
        iam.delete_role_policy().role_name("app").policy_name("logs").send().await.expect("delete inline");
        assert!(attached(&s, "app").await.is_empty());
    });
    let platform = s.platform.as_ref().expect("platform");
    sim::ack::resync(platform);
    s.settle();
    s.block_on(async {
        assert_eq!(attached(&s, "app").await, vec![arn.clone()]);
        let inline =
            s.aws().iam.get_role_policy().role_name("app").policy_name("logs").send().await.expect("inline back");
        assert_eq!(json_of(inline.policy_document()), json_of(LOGS));
    });
    // A changed document in the spec becomes the policy's new default version.
    apply(&s, &policy_yaml("read-s3", LOGS));
    let policy = get(&s, "policies.iam.services.k8s.aws", "read-s3");
    assert_eq!(policy["status"]["defaultVersionID"], "v2");
    let doc = s.block_on(s.aws().iam.get_policy_version().policy_arn(&arn).version_id("v2").send()).expect("v2");
    assert_eq!(json_of(doc.policy_version().and_then(|v| v.document()).unwrap_or_default()), json_of(LOGS));
}

const DB_SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata: {name: db-password, namespace: default}\ntype: Opaque\nstringData: {password: s3cr3t-pw}\n";

fn db_yaml(password: &str) -> String {
    format!(
        "apiVersion: rds.services.k8s.aws/v1alpha1\nkind: DBInstance\nmetadata: {{name: orders, namespace: default}}\nspec:\n  dbInstanceIdentifier: orders\n  dbInstanceClass: db.t3.micro\n  engine: postgres\n  engineVersion: '16.3'\n  allocatedStorage: 20\n  masterUsername: app\n  masterUserPassword:\n{password}"
    )
}

#[test]
fn a_db_instance_with_a_password_secret_becomes_available() {
    let s = server();
    apply(&s, &format!("{DB_SECRET}---\n{}", db_yaml("    name: db-password\n    key: password\n")));
    let db = get(&s, "dbinstances.rds.services.k8s.aws", "orders");
    assert_eq!(db["status"]["dbInstanceStatus"], "available");
    assert_eq!(cond(&db, "ACK.ResourceSynced").0, "True");
    assert_eq!(cond(&db, "Ready").0, "True");
    assert!(db["status"]["endpoint"]["address"].as_str().is_some_and(|a| !a.is_empty()), "{db:#}");
    assert!(db["status"]["ackResourceMetadata"]["arn"].as_str().is_some_and(|a| a.ends_with(":db:orders")), "{db:#}");
    let described =
        s.block_on(s.aws().rds.describe_db_instances().db_instance_identifier("orders").send()).expect("in moto");
    let i = &described.db_instances()[0];
    assert_eq!((i.engine(), i.master_username()), (Some("postgres"), Some("app")));
}

#[test]
fn a_missing_password_secret_is_terminal_until_it_exists() {
    let s = server();
    apply(&s, &db_yaml("    name: db-password\n    key: password\n"));
    let db = get(&s, "dbinstances.rds.services.k8s.aws", "orders");
    assert_eq!(cond(&db, "ACK.Terminal"), ("True".into(), "kubernetes secret not found".into(), String::new()));
    assert_eq!(cond(&db, "Ready").2, "ACK.Terminal");
    assert!(s.block_on(s.aws().rds.describe_db_instances().db_instance_identifier("orders").send()).is_err());

    // A Secret of another type is refused with the runtime's words.
    apply(
        &s,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db-password, namespace: default}\ntype: kubernetes.io/basic-auth\nstringData: {password: x, username: admin}\n",
    );
    let db = get(&s, "dbinstances.rds.services.k8s.aws", "orders");
    assert_eq!(message_of(&db, "ACK.Terminal"), "only opaque secrets can be used");

    s.ok(&["delete", "secret", "db-password", "-n", "default"], None);
    apply(&s, DB_SECRET);
    let db = get(&s, "dbinstances.rds.services.k8s.aws", "orders");
    assert_eq!(cond(&db, "ACK.ResourceSynced").0, "True", "{db:#}");
    assert!(sim::conditions::get(&db, "ACK.Terminal").is_none());
}

#[test]
fn secret_key_ref_under_master_user_password_is_not_declared_in_the_schema() {
    let s = server();
    let err = s.fails(
        &["apply", "--server-side", "-f", "-"],
        Some(&db_yaml("    secretKeyRef:\n      name: db-password\n      key: password\n")),
    );
    assert!(err.contains(".spec.masterUserPassword.secretKeyRef: field not declared in schema"), "{err}");
}

#[test]
fn role_policy_attachment_is_not_served() {
    let s = server();
    let err = s.fails(
        &["apply", "--server-side", "-f", "-"],
        Some("apiVersion: iam.services.k8s.aws/v1alpha1\nkind: RolePolicyAttachment\nmetadata: {name: a, namespace: default}\nspec: {roleName: app, policyARN: arn:aws:iam::aws:policy/ReadOnlyAccess}\n"),
    );
    assert!(
        err.contains(r#"no matches for kind "RolePolicyAttachment" in version "iam.services.k8s.aws/v1alpha1""#),
        "{err}"
    );
}

#[test]
fn a_secrets_manager_secret_takes_its_value_from_a_kubernetes_secret() {
    let s = server();
    let yaml = format!(
        "{DB_SECRET}---\napiVersion: secretsmanager.services.k8s.aws/v1alpha1\nkind: Secret\nmetadata: {{name: db, namespace: default}}\nspec:\n  name: prod/db\n  description: database password\n  secretString: {{name: db-password, key: password}}\n"
    );
    apply(&s, &yaml);
    let secret = get(&s, "secrets.secretsmanager.services.k8s.aws", "db");
    assert_eq!(cond(&secret, "ACK.ResourceSynced").0, "True");
    assert!(secret["status"]["ackResourceMetadata"]["arn"].as_str().is_some_and(|a| a.contains(":secret:prod/db-")));
    let value = s.block_on(s.aws().secretsmanager.get_secret_value().secret_id("prod/db").send()).expect("value");
    assert_eq!(value.secret_string(), Some("s3cr3t-pw"));
    assert!(!serde_json::to_string(&secret).unwrap_or_default().contains("s3cr3t-pw"), "no value in the status");

    // A new value in the Kubernetes Secret reaches Secrets Manager.
    s.ok(&["patch", "secret", "db-password", "-n", "default", "-p", r#"{"stringData":{"password":"rotated"}}"#], None);
    s.settle();
    let value = s.block_on(s.aws().secretsmanager.get_secret_value().secret_id("prod/db").send()).expect("value");
    assert_eq!(value.secret_string(), Some("rotated"));
}

#[test]
fn without_an_aws_endpoint_resources_are_recoverable_and_say_why() {
    let s = TestServer::platform(Profile { ack_iam: Some("1.4".into()), ..Profile::bare() });
    apply(&s, &role_yaml("app", ""));
    let role = get(&s, "roles.iam.services.k8s.aws", "app");
    assert_eq!(cond(&role, "ACK.Recoverable"), ("True".into(), sim::ack::NO_ENDPOINT.into(), String::new()));
    assert_eq!(cond(&role, "ACK.ResourceSynced").0, "Unknown");
    // iam-controller 1.4 predates the runtime's Ready condition.
    assert!(sim::conditions::get(&role, "Ready").is_none(), "{role:#}");
}

#[test]
fn unsupported_versions_are_refused() {
    let config = sim::platform::PlatformConfig {
        profile: Profile { ack_iam: Some("1.2".into()), ..Profile::bare() },
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let err = rt.block_on(async { sim::platform::Platform::start(config).err() }).expect("refused");
    assert!(err.to_string().contains("unsupported ACK iam-controller version \"1.2\""), "{err}");
}

#[test]
fn users_groups_instance_profiles_and_oidc_providers_reach_iam() {
    let s = server();
    let yaml = format!(
        "{}---\n{}---
apiVersion: iam.services.k8s.aws/v1alpha1
kind: User
metadata: {{name: ci, namespace: default}}
spec:
  name: ci
  policyRefs: [{{from: {{name: read-s3}}}}]
  inlinePolicies: {{logs: '{LOGS}'}}
---
apiVersion: iam.services.k8s.aws/v1alpha1
kind: Group
metadata: {{name: devs, namespace: default}}
spec:
  name: devs
  policies: ['arn:aws:iam::{acct}:policy/read-s3']
---
apiVersion: iam.services.k8s.aws/v1alpha1
kind: InstanceProfile
metadata: {{name: web, namespace: default}}
spec:
  name: web
  roleRef: {{from: {{name: app-role}}}}
---
apiVersion: iam.services.k8s.aws/v1alpha1
kind: OpenIDConnectProvider
metadata: {{name: eks, namespace: default}}
spec:
  url: https://oidc.eks.us-east-1.amazonaws.com/id/ABC
  clientIDs: [sts.amazonaws.com]
  thumbprints: ['9e99a48a9960b14926bb7f3b02e22da2b0ab7280']
",
        policy_yaml("read-s3", READ_S3),
        role_yaml("app-role", ""),
        acct = account(&s),
    );
    apply(&s, &yaml);
    for (resource, name) in [
        ("users.iam.services.k8s.aws", "ci"),
        ("groups.iam.services.k8s.aws", "devs"),
        ("instanceprofiles.iam.services.k8s.aws", "web"),
        ("openidconnectproviders.iam.services.k8s.aws", "eks"),
    ] {
        let obj = get(&s, resource, name);
        assert_eq!(cond(&obj, "ACK.ResourceSynced").0, "True", "{resource} {name}: {obj:#}");
    }
    let arn = format!("arn:aws:iam::{}:policy/read-s3", account(&s));
    s.block_on(async {
        let iam = s.aws().iam;
        let user = iam.list_attached_user_policies().user_name("ci").send().await.expect("user policies");
        assert_eq!(
            user.attached_policies().iter().filter_map(|p| p.policy_arn()).collect::<Vec<_>>(),
            vec![arn.as_str()]
        );
        let inline = iam.get_user_policy().user_name("ci").policy_name("logs").send().await.expect("user inline");
        assert_eq!(json_of(inline.policy_document()), json_of(LOGS));
        let group = iam.list_attached_group_policies().group_name("devs").send().await.expect("group policies");
        assert_eq!(group.attached_policies().len(), 1);
        let profile = iam.get_instance_profile().instance_profile_name("web").send().await.expect("profile");
        let roles: Vec<_> =
            profile.instance_profile().map(|p| p.roles().iter().map(|r| r.role_name()).collect()).unwrap_or_default();
        assert_eq!(roles, vec!["app-role"]);
        let providers = iam.list_open_id_connect_providers().send().await.expect("providers");
        assert_eq!(providers.open_id_connect_provider_list().len(), 1);
    });
    // Deleting them all leaves nothing in IAM (a Role in a profile is removed from it first).
    s.ok(&["delete", "instanceprofiles.iam.services.k8s.aws,users.iam.services.k8s.aws,groups.iam.services.k8s.aws,openidconnectproviders.iam.services.k8s.aws", "--all", "-n", "default"], None);
    s.settle();
    s.block_on(async {
        let iam = s.aws().iam;
        assert!(iam.get_user().user_name("ci").send().await.is_err());
        assert!(iam.get_group().group_name("devs").send().await.is_err());
        assert!(iam.get_instance_profile().instance_profile_name("web").send().await.is_err());
        assert!(iam
            .list_open_id_connect_providers()
            .send()
            .await
            .expect("list")
            .open_id_connect_provider_list()
            .is_empty());
    });
}
