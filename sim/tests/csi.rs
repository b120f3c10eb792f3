//! The Secrets Store CSI driver with the AWS provider on the simulator, through the real
//! kubectl and moto: a pod mounts a secret through IRSA (trust and permissions checked as AWS
//! checks them), jmesPath files and secretObjects appear, and each classic mistake leaves the
//! pod in ContainerCreating with the FailedMount text users see.

mod common;

use common::TestServer;
use serde_json::Value;
use sim::platform::Profile;

fn csi_only() -> Profile {
    Profile { csi: Some("1.5".into()), ..Profile::bare() }
}

struct World {
    s: TestServer,
    account: String,
    issuer: String,
}

fn world() -> World {
    let account = common::fresh_account();
    let s = TestServer::platform_with_aws(csi_only(), &account);
    let issuer = s.api.issuer().url().to_string();
    let aws = s.aws();
    s.block_on(async {
        sim::aws::roles::register_oidc_provider(&aws, &issuer).await.expect("oidc provider");
        aws.secretsmanager
            .create_secret()
            .name("orders-db")
            .secret_string(r#"{"username":"orders","password":"s3cr3t"}"#)
            .send()
            .await
            .expect("secret");
        aws.secretsmanager.create_secret().name("billing-db").secret_string("other").send().await.expect("secret");
    });
    World { s, account, issuer }
}

impl World {
    fn role(&self, name: &str, subject: &str, readable: &str) {
        let prefix = sim::iam::issuer_context_prefix(&self.issuer);
        let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": sim::iam::oidc_provider_arn(&self.account, &self.issuer)},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {format!("{prefix}:sub"): subject, format!("{prefix}:aud"): "sts.amazonaws.com"}}
        }]});
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
            "Resource": format!("arn:aws:secretsmanager:us-east-1:{}:secret:{readable}-*", self.account)
        }]});
        let aws = self.s.aws();
        self.s.block_on(async {
            aws.iam.create_role().role_name(name).assume_role_policy_document(trust.to_string()).send().await.unwrap();
            aws.iam
                .put_role_policy()
                .role_name(name)
                .policy_name("read")
                .policy_document(policy.to_string())
                .send()
                .await
                .unwrap();
        });
    }

    fn apply(&self, yaml: &str) {
        let yaml = yaml.replace("ACCOUNT", &self.account);
        self.s.ok(&["apply", "-f", "-"], Some(&yaml));
        self.s.settle();
    }

    fn pod(&self, ns: &str, name: &str) -> Value {
        serde_json::from_str(&self.s.ok(&["get", "pod", name, "-n", ns, "-o", "json"], None)).unwrap()
    }

    fn failed_mount(&self, ns: &str, pod: &str) -> Vec<String> {
        let events: Value = serde_json::from_str(&self.s.ok(
            &["get", "events", "-n", ns, "--field-selector", &format!("involvedObject.name={pod}"), "-o", "json"],
            None,
        ))
        .unwrap();
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["reason"] == "FailedMount")
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    }

    fn file(&self, ns: &str, pod: &str, path: &str) -> Result<String, String> {
        let p = self.pod(ns, pod);
        let dir = self.s.platform.as_ref().unwrap().work_dir().to_path_buf();
        sim::csi::read_pod_file(&dir, &p, None, path).map(|b| String::from_utf8(b).unwrap())
    }
}

fn app(ns: &str, sa_annotation: &str, objects: &str, spc: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: orders-api
  namespace: {ns}
  annotations: {{{sa_annotation}}}
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {{name: orders-secrets, namespace: {ns}}}
spec:
  provider: aws
  parameters:
    objects: |
{objects}
  secretObjects:
    - secretName: orders-db
      type: Opaque
      data: [{{objectName: db-password, key: password}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: api, namespace: {ns}}}
spec:
  serviceAccountName: orders-api
  containers:
    - name: app
      image: registry.example/app:1
      volumeMounts: [{{name: secrets, mountPath: /mnt/secrets-store, readOnly: true}}]
  volumes:
    - name: secrets
      csi:
        driver: secrets-store.csi.k8s.io
        readOnly: true
        volumeAttributes: {{secretProviderClass: {spc}}}
"#
    )
}

const GOOD_OBJECTS: &str = "      - objectName: orders-db\n        objectType: secretsmanager\n        jmesPath:\n          - {path: password, objectAlias: db-password}\n";
const ROLE: &str = "eks.amazonaws.com/role-arn: 'arn:aws:iam::ACCOUNT:role/orders-irsa'";

fn prefix(ns: &str) -> String {
    format!(
        "MountVolume.SetUp failed for volume \"secrets\" : rpc error: code = Unknown desc = failed to mount secrets store objects for pod {ns}/api, err: rpc error: code = Unknown desc = "
    )
}

#[test]
fn a_pod_mounts_its_secret_through_irsa() {
    let w = world();
    w.role("orders-irsa", "system:serviceaccount:orders:orders-api", "orders-db");
    w.apply(&app("orders", ROLE, GOOD_OBJECTS, "orders-secrets"));
    let pod = w.pod("orders", "api");
    assert_eq!(pod["status"]["phase"], "Running", "{:?} {:?}", pod["status"], w.failed_mount("orders", "api"));
    assert_eq!(w.file("orders", "api", "/mnt/secrets-store/db-password").unwrap(), "s3cr3t");
    assert_eq!(
        w.file("orders", "api", "/mnt/secrets-store/orders-db").unwrap(),
        r#"{"username":"orders","password":"s3cr3t"}"#
    );
    assert!(w.file("orders", "api", "/mnt/secrets-store/nope").unwrap_err().contains("no such file"));
    // secretObjects: a Kubernetes Secret while the pod mounts the volume.
    let secret: Value =
        serde_json::from_str(&w.s.ok(&["get", "secret", "orders-db", "-n", "orders", "-o", "json"], None)).unwrap();
    assert_eq!(secret["data"]["password"], "czNjcjN0");
    assert_eq!(secret["metadata"]["labels"]["secrets-store.csi.k8s.io/managed"], "true");
    // The synced Secret lives while a pod mounts the volume: owned through the pod's
    // SecretProviderClassPodStatus, it goes with the last pod.
    let status: Value = serde_json::from_str(&w.s.ok(
        &["get", "secretproviderclasspodstatuses", "api-orders-orders-secrets", "-n", "orders", "-o", "json"],
        None,
    ))
    .unwrap();
    assert_eq!(status["status"]["mounted"], true);
    assert_eq!(secret["metadata"]["ownerReferences"][0]["name"], "api-orders-orders-secrets");
    assert!(pod["spec"]["volumes"].as_array().unwrap().iter().any(|v| v["name"] == "aws-iam-token"));
    w.s.ok(&["delete", "pod", "api", "-n", "orders", "--wait=false"], None);
    w.s.settle();
    let gone = !w.s.kubectl(&["get", "secret", "orders-db", "-n", "orders"], None).0.status.success();
    assert!(gone, "the synced Secret outlived its pod");
    // The pod identity webhook gave the pod its token volume too.
    assert!(pod["spec"]["volumes"].as_array().unwrap().iter().any(|v| v["name"] == "aws-iam-token"));
}

#[test]
fn a_jmes_path_written_as_a_string_leaves_the_pod_creating() {
    let w = world();
    w.role("orders-irsa", "system:serviceaccount:orders:orders-api", "orders-db");
    let objects = "      - objectName: orders-db\n        objectType: secretsmanager\n        jmesPath: \"password\"\n        path: password\n";
    w.apply(&app("orders", ROLE, objects, "orders-secrets"));
    let pod = w.pod("orders", "api");
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
    assert_eq!(
        w.failed_mount("orders", "api"),
        [format!("{}Failed to load SecretProviderClass: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field SecretDescriptor.jmesPath of type []provider.JMESPathEntry", prefix("orders"))]
    );
    assert!(w.s.kubectl(&["get", "secret", "orders-db", "-n", "orders"], None).0.status.code() != Some(0));
}

#[test]
fn a_service_account_without_a_role_is_named() {
    let w = world();
    w.apply(&app("orders", "", GOOD_OBJECTS, "orders-secrets"));
    assert_eq!(
        w.failed_mount("orders", "api"),
        [format!(
            "{}An IAM role must be associated with service account orders-api (namespace: orders)",
            prefix("orders")
        )]
    );
}

#[test]
fn a_missing_secret_provider_class_is_the_drivers_error_and_creating_it_heals_the_pod() {
    let w = world();
    w.role("orders-irsa", "system:serviceaccount:orders:orders-api", "orders-db");
    w.apply(&app("orders", ROLE, GOOD_OBJECTS, "orders-secretz"));
    assert_eq!(
        w.failed_mount("orders", "api"),
        ["MountVolume.SetUp failed for volume \"secrets\" : rpc error: code = Unknown desc = failed to get secretproviderclass orders/orders-secretz, error: secretproviderclasses.secrets-store.csi.x-k8s.io \"orders-secretz\" not found"]
    );
    let fixed =
        app("orders", ROLE, GOOD_OBJECTS, "orders-secretz").replace("name: orders-secrets,", "name: orders-secretz,");
    w.apply(&fixed);
    assert_eq!(w.pod("orders", "api")["status"]["phase"], "Running");
}

#[test]
fn a_trust_that_names_another_service_account_is_refused_by_sts() {
    let w = world();
    w.role("orders-irsa", "system:serviceaccount:orders:worker", "orders-db");
    w.apply(&app("orders", ROLE, GOOD_OBJECTS, "orders-secrets"));
    let msgs = w.failed_mount("orders", "api");
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let rest = msgs[0].strip_prefix(&prefix("orders")).expect("provider error");
    assert!(rest.starts_with("us-east-1: Failed fetching secret orders-db: operation error Secrets Manager: GetSecretValue, get identity: get credentials: failed to refresh cached credentials, failed to retrieve credentials, operation error STS: AssumeRoleWithWebIdentity, https response error StatusCode: 403, RequestID: "), "{rest}");
    assert!(
        rest.ends_with("api error AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{rest}"
    );
}

#[test]
fn a_role_that_may_not_read_the_secret_gets_access_denied() {
    let w = world();
    w.role("orders-irsa", "system:serviceaccount:orders:orders-api", "billing-db");
    w.apply(&app("orders", ROLE, GOOD_OBJECTS, "orders-secrets"));
    let msgs = w.failed_mount("orders", "api");
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].contains("api error AccessDeniedException: User: arn:aws:sts::"), "{}", msgs[0]);
    assert!(msgs[0].contains(":assumed-role/orders-irsa/"), "{}", msgs[0]);
    assert!(msgs[0].ends_with("is not authorized to perform: secretsmanager:GetSecretValue on resource: orders-db because no identity-based policy allows the secretsmanager:GetSecretValue action"), "{}", msgs[0]);
    assert!(!msgs[0].contains("s3cr3t"));
}

#[test]
fn an_unregistered_oidc_provider_is_stss_invalid_identity_token() {
    let account = common::fresh_account();
    let s = TestServer::platform_with_aws(csi_only(), &account);
    let w = World { issuer: s.api.issuer().url().to_string(), s, account };
    let aws = w.s.aws();
    w.s.block_on(async {
        aws.secretsmanager.create_secret().name("orders-db").secret_string("{}").send().await.unwrap()
    });
    w.role("orders-irsa", "system:serviceaccount:orders:orders-api", "orders-db");
    w.apply(&app("orders", ROLE, GOOD_OBJECTS, "orders-secrets"));
    let msgs = w.failed_mount("orders", "api");
    assert!(
        msgs[0].ends_with(&format!(
            "api error InvalidIdentityToken: No OpenIDConnect provider found in your account for {}",
            w.issuer
        )),
        "{}",
        msgs[0]
    );
}
