//! AWS expectations on the simulator's moto: each kind fails with the AWS state it found and the
//! reason AWS would give, and secret values never reach a report.

use std::path::Path;

use idp_harness::backend::Backend;
use idp_harness::run::events::{Reporter, RunEvent, ScenarioReport, Verdict};
use idp_harness::run::{run_all, RunOptions};
use idp_harness::scenario::load_file;

struct Quiet;
impl Reporter for Quiet {
    fn event(&mut self, _: &RunEvent) {}
}

const BASE: &str = r#"apiVersion: idp-harness.dev/v1alpha1
kind: Scenario
metadata: {name: aws-case}
spec:
  profile: {flux: none, gatekeeper: none}
  aws:
    secrets:
      - {name: orders-db, json: {password: hunter2-very-secret}}
      - {name: billing-db, value: other}
    roles:
      - name: orders-irsa
        trust:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {Federated: "arn:aws:iam::${account}:oidc-provider/${oidcProvider}"}
              Action: sts:AssumeRoleWithWebIdentity
              Condition: {StringEquals: {"${oidcProvider}:sub": "system:serviceaccount:orders:api"}}
        inlinePolicies:
          read:
            Version: "2012-10-17"
            Statement:
              - {Effect: Allow, Action: secretsmanager:GetSecretValue, Resource: "arn:aws:secretsmanager:us-east-1:${account}:secret:orders-db-*"}
  steps:
"#;

async fn run(step: &str) -> ScenarioReport {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("case.yaml");
    std::fs::write(&path, format!("{BASE}{step}")).expect("write");
    let loaded = load_file(Path::new(&path)).unwrap_or_else(|e| panic!("loads: {e:?}"));
    let backend = Backend::sim().await.expect("sim backend");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let totals = run_all(vec![loaded], &backend, &RunOptions::default(), &mut Quiet, rx).await;
    totals.reports.into_iter().next().expect("one report")
}

fn failure(r: &ScenarioReport) -> (String, String) {
    assert_eq!(r.verdict, Verdict::Failed, "{r:?}");
    let f = r.failure.clone().expect("a failure");
    (f.message, f.detail.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_passing_case_passes_and_cleans_up() {
    let r = run("    - expect: {aws: {role: {name: orders-irsa, trusts: orders/api, may: [\"secretsmanager:GetSecretValue on orders-db\"]}}}\n").await;
    assert_eq!(r.verdict, Verdict::Passed, "{:?}", r.failure);
    assert!(r.leaks.is_empty(), "{:?}", r.leaks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_the_trust_does_not_name_is_refused_as_sts_would() {
    let r = run("    - expect: {aws: {role: {name: orders-irsa, trusts: orders/worker}}}\n").await;
    let (message, detail) = failure(&r);
    assert!(
        message.contains("system:serviceaccount:orders:worker cannot assume IAM role orders-irsa: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity (trust policy of role orders-irsa does not allow system:serviceaccount:orders:worker (condition StringEquals"),
        "{message}"
    );
    assert!(detail.contains("sts:AssumeRoleWithWebIdentity"), "the failure shows the trust found: {detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_no_policy_allows_is_explained() {
    let r = run(
        "    - expect: {aws: {role: {name: orders-irsa, may: [\"secretsmanager:GetSecretValue on billing-db\"]}}}\n",
    )
    .await;
    let (message, _) = failure(&r);
    assert!(
        message.contains("role orders-irsa may not secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:"),
        "{message}"
    );
    assert!(message.ends_with(": no identity policy allows it"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_request_expected_denied_names_the_statement() {
    let r = run(
        "    - expect: {aws: {role: {name: orders-irsa, mayNot: [\"secretsmanager:GetSecretValue on orders-db\"]}}}\n",
    )
    .await;
    let (message, _) = failure(&r);
    assert!(message.contains("role orders-irsa may secretsmanager:GetSecretValue on arn:"), "{message}");
    assert!(message.contains("expected a denial"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_value_fails_without_showing_either_value() {
    let r = run("    - expect: {aws: {secret: {name: orders-db, json: {password: guess}}}}\n").await;
    let (message, detail) = failure(&r);
    assert!(
        message.contains("secret orders-db: the JSON value differs at password (values are not shown)"),
        "{message}"
    );
    let all = format!("{r:?}");
    assert!(!all.contains("hunter2-very-secret") && !all.contains("guess\""), "a value leaked: {all}");
    assert!(detail.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_statements_compare_as_json_and_show_a_diff() {
    let r =
        run("    - expect: {aws: {role: {name: orders-irsa, trustStatements: [{Action: sts:AssumeRole}]}}}\n").await;
    let f = r.failure.clone().expect("failure");
    assert!(
        f.message.contains(
            "the trust policy of IAM role orders-irsa has no statement containing the expected statement [0]"
        ),
        "{}",
        f.message
    );
    assert!(f.diff.unwrap_or_default().contains("sts:AssumeRole"));
    // The same statement written with a string where IAM stores a list matches.
    let r = run("    - expect: {aws: {role: {name: orders-irsa, trustStatements: [{Action: [sts:AssumeRoleWithWebIdentity], Effect: Allow}]}}}\n").await;
    assert_eq!(r.verdict, Verdict::Passed, "{:?}", r.failure);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absence_is_checked_both_ways() {
    let r = run("    - expect: {aws: {role: {name: orders-irsa, exists: false}}}\n").await;
    let (message, detail) = failure(&r);
    assert!(message.contains("IAM role orders-irsa exists; expected none"), "{message}");
    assert!(detail.contains(":role/orders-irsa"), "{detail}");
    let r = run("    - expect: {aws: {role: {name: nobody}}}\n").await;
    let (message, _) = failure(&r);
    assert!(message.contains("IAM role nobody does not exist in account "), "{message}");
}

const MOUNT: &str = r#"    - apply:
        inline: |
          apiVersion: v1
          kind: ServiceAccount
          metadata: {name: api, namespace: orders, annotations: {eks.amazonaws.com/role-arn: "arn:aws:iam::${account}:role/orders-irsa"}}
          ---
          apiVersion: secrets-store.csi.x-k8s.io/v1
          kind: SecretProviderClass
          metadata: {name: db, namespace: orders}
          spec:
            provider: aws
            parameters:
              objects: |
                - {objectName: orders-db, objectType: secretsmanager, jmesPath: [{path: password, objectAlias: password}]}
          ---
          apiVersion: v1
          kind: Pod
          metadata: {name: api, namespace: orders}
          spec:
            serviceAccountName: api
            containers: [{name: app, image: app, volumeMounts: [{name: s, mountPath: /mnt/s, readOnly: true}]}]
            volumes: [{name: s, csi: {driver: secrets-store.csi.k8s.io, readOnly: true, volumeAttributes: {secretProviderClass: db}}}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_expectations_compare_without_showing_contents() {
    let ns = "    - apply: {inline: \"apiVersion: v1\\nkind: Namespace\\nmetadata: {name: orders}\\n\"}\n";
    let ok = format!("{ns}{MOUNT}    - expect: {{file: {{pod: {{name: api, namespace: orders}}, path: /mnt/s/password, equals: hunter2-very-secret}}}}\n");
    let r = run(&ok).await;
    assert_eq!(r.verdict, Verdict::Passed, "{:?}", r.failure);
    let bad = format!("{ns}{MOUNT}    - expect: {{file: {{pod: {{name: api, namespace: orders}}, path: /mnt/s/password, equals: guess-what}}}}\n");
    let r = run(&bad).await;
    let (message, _) = failure(&r);
    assert!(message.contains("file /mnt/s/password in pod api does not have the expected content (the file has 19 bytes; contents are not shown)"), "{message}");
    let all = format!("{r:?}");
    assert!(!all.contains("hunter2-very-secret"), "the content leaked: {all}");
    let missing = format!("{ns}{MOUNT}    - expect: {{file: {{pod: {{name: api, namespace: orders}}, path: /mnt/s/other, matches: x}}}}\n");
    let (message, _) = failure(&run(&missing).await);
    assert!(message.contains("file /mnt/s/other in pod api: /mnt/s/other: no such file in volume s"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emulator_that_dies_mid_run_fails_the_scenario_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Backend::sim().await.expect("sim backend");
    // Start the run's emulator through a first stage, then kill it from a step of the scenario.
    let warm = dir.path().join("warm.yaml");
    std::fs::write(&warm, format!("{BASE}    - sleep: 1ms\n")).unwrap();
    let loaded = load_file(&warm).unwrap();
    let stage = backend.stage(&loaded, "111111111111").await.expect("stage");
    stage.shutdown().await;
    let pid = backend.aws_emulator_pid().expect("moto started");
    let path = dir.path().join("case.yaml");
    let steps =
        format!("    - command: {{run: 'kill -9 {pid}'}}\n    - expect: {{aws: {{secret: {{name: orders-db}}}}}}\n");
    std::fs::write(&path, format!("{BASE}{steps}").replace("name: aws-case", "name: aws-dies")).unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let totals = run_all(vec![load_file(&path).unwrap()], &backend, &RunOptions::default(), &mut Quiet, rx).await;
    let r = &totals.reports[0];
    let (message, _) = failure(r);
    assert!(message.starts_with(&format!("the AWS emulator (moto, pid {pid}, http://127.0.0.1:")), "{message}");
    assert!(message.contains("has stopped"), "{message}");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_causal_timeline_shows_the_mount_failing_between_the_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("case.yaml");
    let ns = "    - apply: {inline: \"apiVersion: v1\\nkind: Namespace\\nmetadata: {name: orders}\\n\"}\n";
    let mount = MOUNT.replace("jmesPath: [{path: password, objectAlias: password}]", "jmesPath: password");
    let steps = format!("{ns}{mount}    - expect: {{pod: {{name: api, namespace: orders, phase: Running}}}}\n");
    std::fs::write(&path, format!("{BASE}{steps}")).unwrap();
    let backend = Backend::sim().await.expect("sim backend");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let opts = RunOptions { evidence_dir: Some(dir.path().join("evidence")), ..RunOptions::default() };
    let totals = run_all(vec![load_file(&path).unwrap()], &backend, &opts, &mut Quiet, rx).await;
    let bundle = totals.reports[0].evidence.clone().expect("a bundle");
    let causal = std::fs::read_to_string(bundle.join("causal.txt")).expect("causal.txt");
    let line = |needle: &str| {
        causal.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle:?} not in\n{causal}"))
    };
    // The pod's mount fails while the apply step settles, before the expectation fails.
    let apply_started = line("spec.steps[1] apply inline manifests");
    let mount_failed = line("cannot unmarshal string into Go struct field SecretDescriptor.jmesPath");
    let applied = line("spec.steps[1] passed");
    let failed = line("spec.steps[2] FAILED");
    assert!(apply_started < mount_failed && mount_failed < applied && applied < failed, "{causal}");
    assert!(causal.lines().nth(mount_failed).unwrap().contains(" hop "), "{causal}");
    assert!(!causal.contains("hunter2-very-secret"));
    eprintln!("{causal}");
    // The AWS calls that made spec.aws are hops too, and listed apart.
    assert!(causal.lines().any(|l| l.contains(" aws ") && l.contains("CreateRole 200")), "{causal}");
    let calls = std::fs::read_to_string(bundle.join("aws-calls.txt")).expect("aws-calls.txt");
    assert!(calls.lines().any(|l| l.contains("CreateSecret") && l.contains(" 200 ")), "{calls}");
    assert!(!calls.contains("hunter2-very-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_of_a_gitops_scenario_includes_the_namespaces_flux_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/flux/platform");
    let text = format!(
        r#"apiVersion: idp-harness.dev/v1alpha1
kind: Scenario
metadata: {{name: gitops-evidence}}
spec:
  profile: {{flux: "2.8", gatekeeper: none}}
  repos: [{{url: https://github.com/your-org/platform.git, from: {from}}}]
  steps:
    - apply:
        objects:
          - {{apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository, metadata: {{name: platform, namespace: flux-system}}, spec: {{url: https://github.com/your-org/platform.git, interval: 1m, ref: {{branch: main}}}}}}
          - {{apiVersion: kustomize.toolkit.fluxcd.io/v1, kind: Kustomization, metadata: {{name: infra, namespace: flux-system}}, spec: {{interval: 10m, prune: true, path: ./infra, sourceRef: {{kind: GitRepository, name: platform}}}}}}
    - reconcile: {{}}
      expect: {{absent: {{apiVersion: v1, kind: Namespace, name: team-a}}}}
"#,
        from = fixtures.display()
    );
    let path = dir.path().join("case.yaml");
    std::fs::write(&path, text).unwrap();
    let backend = Backend::sim().await.expect("sim backend");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let opts = RunOptions { evidence_dir: Some(dir.path().join("evidence")), ..RunOptions::default() };
    let totals = run_all(vec![load_file(&path).unwrap()], &backend, &opts, &mut Quiet, rx).await;
    assert_eq!(totals.reports[0].verdict, Verdict::Failed);
    let bundle = totals.reports[0].evidence.clone().expect("a bundle");
    let objects = std::fs::read_to_string(bundle.join("objects.yaml")).expect("objects.yaml");
    // The namespace Flux applied is in the bundle, though the scenario never named it.
    assert!(objects.contains("name: team-a"), "{objects}");
    assert!(objects.contains("kustomize.toolkit.fluxcd.io/name: infra"), "{objects}");
}
