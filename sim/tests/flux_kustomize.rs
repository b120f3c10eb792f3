//! The simulated kustomize-controller end to end: real Git repositories (`sim::git`), the real
//! kustomize (`.venv/bin/kubectl kustomize`), the in-process API server. Expected wordings are
//! upstream's; each assertion names the upstream file it comes from.
//!
//! Sources: until the simulated source-controller is installed, [`Env::source`] installs a
//! test-only GitRepository CRD and plays source-controller itself (exports the commit into the
//! artifact store and writes `status.artifact`); when the platform already serves
//! GitRepositories, it only creates the object and lets the real controller work.

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use sim::apiserver::resources::GroupResource;
use sim::flux::kustomize::{GROUP, PLURAL};
use sim::flux::Artifact;
use sim::git::{Change, RepoHandle, RepoSpec};
use sim::platform::{Platform, PlatformConfig, Profile, Tools};

const SRC: &str = "source.toolkit.fluxcd.io";
const NS: &str = "flux-system";
const URL: &str = "https://git.example.com/platform.git";

struct Env {
    platform: Platform,
    repo: RepoHandle,
    own_source: bool,
    _seed: tempfile::TempDir,
}

fn test_crd_gitrepository() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gitrepositories.source.toolkit.fluxcd.io"},
        "spec": {"group": SRC, "scope": "Namespaced",
            "names": {"kind": "GitRepository", "plural": "gitrepositories", "singular": "gitrepository", "listKind": "GitRepositoryList"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

impl Env {
    /// A platform (Flux 2.8, optionally Gatekeeper) and a repository seeded with `files`.
    fn new(files: &[(&str, &str)], gatekeeper: bool) -> Env {
        Env::with_kubectl(files, gatekeeper, Some(common::kubectl_path()))
    }

    fn with_kubectl(files: &[(&str, &str)], gatekeeper: bool, kubectl: Option<std::path::PathBuf>) -> Env {
        let seed = tempfile::tempdir().expect("seed dir");
        for (path, text) in files {
            let p = seed.path().join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write seed");
        }
        std::fs::write(seed.path().join("README.md"), "platform\n").expect("write");
        let profile =
            Profile { flux: Some("2.8".into()), gatekeeper: gatekeeper.then(|| "3.20".into()), ..Profile::bare() };
        let platform = Platform::start(PlatformConfig {
            profile,
            tools: Tools { kubectl, build_cache: None },
            ..Default::default()
        })
        .expect("platform");
        let repo = platform.repos().add(RepoSpec::new(URL, seed.path())).expect("repo");
        let own_source = platform.server().registry().any_version(SRC, "gitrepositories").is_none();
        if own_source {
            platform
                .server()
                .create_internal(
                    "apiextensions.k8s.io",
                    "v1",
                    "customresourcedefinitions",
                    None,
                    test_crd_gitrepository(),
                )
                .expect("test GitRepository CRD");
        }
        Env { platform, repo, own_source, _seed: seed }
    }

    fn client(&self) -> kube::Client {
        self.platform.server().client()
    }

    async fn settle(&self) {
        self.platform.settle(Duration::from_secs(60)).await.expect("settle");
    }

    /// Creates GitRepository `flux-system/platform` and its artifact.
    async fn source(&self) {
        let repo = json!({"apiVersion": format!("{SRC}/v1"), "kind": "GitRepository",
            "metadata": {"name": "platform", "namespace": NS},
            "spec": {"url": URL, "interval": "1m", "ref": {"branch": "main"}}});
        self.create(repo).await;
        self.publish().await;
    }

    /// Makes the source's artifact follow `main` (what source-controller does on its interval).
    async fn publish(&self) {
        if !self.own_source {
            self.platform.runtime().touch(&GroupResource::new(SRC, "gitrepositories"));
            self.settle().await;
            return;
        }
        let flux = self.platform.flux().expect("flux");
        let sha = self.repo.head("main").expect("head");
        let dir = flux.artifacts.dir_for("GitRepository", NS, "platform", sha.as_str());
        if !dir.exists() {
            self.repo.export(&sha, &dir, None).expect("export");
        }
        let digest = sim::git::artifact_digest(&dir).expect("digest");
        let revision = format!("main@sha1:{sha}");
        let path = format!("gitrepository/{NS}/platform/{sha}.tar.gz");
        let url = format!("http://source-controller.flux-system.svc.cluster.local./{path}");
        flux.artifacts.put(
            "GitRepository",
            NS,
            "platform",
            Artifact { revision: revision.clone(), digest: digest.clone(), dir, path: path.clone(), url: url.clone() },
        );
        let status = json!({"status": {
            "artifact": {"revision": revision, "digest": digest, "path": path, "url": url, "lastUpdateTime": "2026-01-01T00:00:00Z"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "lastTransitionTime": "2026-01-01T00:00:00Z",
                "message": format!("stored artifact for revision '{revision}'")}],
        }});
        self.patch_status(&format!("/apis/{SRC}/v1/namespaces/{NS}/gitrepositories/platform/status"), &status).await;
        self.settle().await;
    }

    async fn patch_status(&self, path: &str, body: &Value) {
        let req = http::Request::patch(path)
            .header("content-type", "application/merge-patch+json")
            .body(serde_json::to_vec(body).expect("json"))
            .expect("request");
        self.client().request::<Value>(req).await.expect("patch status");
    }

    async fn commit(&self, changes: &[Change]) -> String {
        let sha = self.repo.commit("main", changes, "change").expect("commit");
        self.publish().await;
        format!("main@sha1:{sha}")
    }

    fn revision(&self) -> String {
        format!("main@sha1:{}", self.repo.head("main").expect("head"))
    }

    async fn create(&self, obj: Value) {
        let api = obj["apiVersion"].as_str().expect("apiVersion").to_string();
        let plural = format!("{}s", obj["kind"].as_str().expect("kind").to_lowercase()).replace("ys", "ies");
        let plural = if plural == "gitrepositorys" { "gitrepositories".to_string() } else { plural };
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let base = if api.contains('/') { format!("/apis/{api}") } else { format!("/api/{api}") };
        let path = match ns {
            Some(ns) => format!("{base}/namespaces/{ns}/{plural}"),
            None => format!("{base}/{plural}"),
        };
        let req = http::Request::post(path)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&obj).expect("json"))
            .expect("request");
        self.client().request::<Value>(req).await.expect("create");
    }

    /// Creates a Kustomization in flux-system with `spec` over the defaults.
    async fn kustomization(&self, name: &str, spec: Value) {
        let mut full =
            json!({"interval": "10m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "platform"}});
        json_patch::merge(&mut full, &spec);
        self.create(json!({"apiVersion": format!("{GROUP}/v1"), "kind": "Kustomization",
            "metadata": {"name": name, "namespace": NS}, "spec": full}))
            .await;
        self.settle().await;
    }

    async fn patch_spec(&self, name: &str, spec: Value) {
        let req = http::Request::patch(format!("/apis/{GROUP}/v1/namespaces/{NS}/{PLURAL}/{name}"))
            .header("content-type", "application/merge-patch+json")
            .body(serde_json::to_vec(&json!({"spec": spec})).expect("json"))
            .expect("request");
        self.client().request::<Value>(req).await.expect("patch spec");
        self.settle().await;
    }

    fn ks(&self, name: &str) -> Value {
        self.platform.server().get_object(GROUP, PLURAL, NS, name).map(|o| o.as_ref().clone()).expect("kustomization")
    }

    /// (status, reason, message) of a condition.
    fn cond(&self, name: &str, type_: &str) -> (String, String, String) {
        let ks = self.ks(name);
        let c = sim::conditions::get(&ks, type_).cloned().unwrap_or(Value::Null);
        let s = |f: &str| c.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
        (s("status"), s("reason"), s("message"))
    }

    fn ready(&self, name: &str) -> (String, String, String) {
        self.cond(name, "Ready")
    }

    fn inventory(&self, name: &str) -> Vec<String> {
        self.ks(name)
            .pointer("/status/inventory/entries")
            .and_then(Value::as_array)
            .map(|es| {
                es.iter()
                    .map(|e| {
                        format!("{}@{}", e["id"].as_str().unwrap_or_default(), e["v"].as_str().unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn get(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.platform.server().get_object(group, plural, ns, name).map(|o| o.as_ref().clone())
    }
}

fn cm(name: &str, ns: Option<&str>, data: &str) -> String {
    let ns = ns.map(|n| format!("\n  namespace: {n}")).unwrap_or_default();
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{ns}\ndata:\n  key: {data}\n")
}

const NS_APPS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n";

fn ok(msg: &str) -> (String, String, String) {
    ("True".into(), "ReconciliationSucceeded".into(), msg.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_prunes_and_keeps_the_old_state_when_the_build_fails() {
    let one = cm("one", Some("apps"), "a");
    let two = cm("two", Some("apps"), "b");
    let env = Env::new(&[("apps/ns.yaml", NS_APPS), ("apps/one.yaml", &one), ("apps/two.yaml", &two)], false);
    env.source().await;
    env.kustomization("apps", json!({"path": "./apps"})).await;
    // kustomization_controller.go: MarkTrue(Ready, ReconciliationSucceeded, "Applied revision: %s")
    assert_eq!(env.ready("apps"), ok(&format!("Applied revision: {}", env.revision())));
    assert!(env.cond("apps", "Reconciling").0.is_empty(), "Reconciling is removed at rest");
    assert!(env.cond("apps", "Healthy").0.is_empty(), "no health checks, no Healthy");
    // inventory_types.go: '<namespace>_<name>_<group>_<kind>', in apply order.
    assert_eq!(env.inventory("apps"), ["_apps__Namespace@v1", "apps_one__ConfigMap@v1", "apps_two__ConfigMap@v1"]);
    let one_obj = env.get("", "configmaps", "apps", "one").expect("one applied");
    assert_eq!(one_obj.pointer("/metadata/labels/kustomize.toolkit.fluxcd.io~1name"), Some(&json!("apps")));
    assert_eq!(one_obj.pointer("/metadata/labels/kustomize.toolkit.fluxcd.io~1namespace"), Some(&json!(NS)));
    assert_eq!(one_obj.pointer("/metadata/managedFields/0/manager"), Some(&json!("kustomize-controller")));
    let ks = env.ks("apps");
    assert_eq!(ks.pointer("/metadata/finalizers"), Some(&json!(["finalizers.fluxcd.io"])));
    assert_eq!(ks.pointer("/status/lastAppliedRevision"), Some(&json!(env.revision())));
    assert_eq!(ks.pointer("/status/observedGeneration"), Some(&json!(1)));

    // Removing a file prunes its object.
    let rev = env.commit(&[Change::remove("apps/two.yaml")]).await;
    assert_eq!(env.ready("apps"), ok(&format!("Applied revision: {rev}")));
    assert!(env.get("", "configmaps", "apps", "two").is_none(), "two is pruned");
    assert_eq!(env.inventory("apps"), ["_apps__Namespace@v1", "apps_one__ConfigMap@v1"]);

    // A broken kustomization: BuildFailed, nothing applied or pruned, the old inventory kept.
    let good = env.revision();
    let bad = env
        .commit(&[
            Change::write("apps/kustomization.yaml", "resources: [ns.yaml, missing.yaml]\n"),
            Change::write("apps/one.yaml", cm("one", Some("apps"), "changed")),
        ])
        .await;
    let (status, reason, message) = env.ready("apps");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "BuildFailed"));
    // kustomization_controller.go build(): fmt.Errorf("kustomize build failed: %w", err)
    assert!(message.starts_with("kustomize build failed: "), "{message}");
    assert!(message.contains("missing.yaml"), "{message}");
    assert_eq!(env.cond("apps", "Reconciling").1, "ProgressingWithRetry");
    assert_eq!(env.ks("apps").pointer("/status/lastAttemptedRevision"), Some(&json!(bad)));
    assert_eq!(env.ks("apps").pointer("/status/lastAppliedRevision"), Some(&json!(good)));
    assert_eq!(env.inventory("apps"), ["_apps__Namespace@v1", "apps_one__ConfigMap@v1"]);
    assert_eq!(
        env.get("", "configmaps", "apps", "one").and_then(|o| o.pointer("/data/key").cloned()),
        Some(json!("a"))
    );

    // Fixed by a commit.
    let fixed = env.commit(&[Change::write("apps/kustomization.yaml", "resources: [ns.yaml, one.yaml]\n")]).await;
    assert_eq!(env.ready("apps"), ok(&format!("Applied revision: {fixed}")));
    assert_eq!(
        env.get("", "configmaps", "apps", "one").and_then(|o| o.pointer("/data/key").cloned()),
        Some(json!("changed"))
    );

    // Deleting the Kustomization (prune: true) deletes its inventory.
    let req =
        http::Request::delete(format!("/apis/{GROUP}/v1/namespaces/{NS}/{PLURAL}/apps")).body(Vec::new()).expect("req");
    env.client().request::<Value>(req).await.expect("delete");
    env.settle().await;
    assert!(env.platform.server().get_object(GROUP, PLURAL, NS, "apps").is_none(), "finalizer removed");
    assert!(env.get("", "configmaps", "apps", "one").is_none(), "inventory deleted with the Kustomization");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_wait_for_ready_and_recover_after_a_fix() {
    let env = Env::new(
        &[("a/cm.yaml", &cm("a", Some("default"), "a")), ("b/kustomization.yaml", "resources: [nope.yaml]\n")],
        false,
    );
    env.source().await;
    env.kustomization("b", json!({"path": "./b"})).await;
    env.kustomization("a", json!({"path": "./a", "dependsOn": [{"name": "b"}]})).await;
    assert_eq!(env.ready("b").1, "BuildFailed");
    // kustomization_controller.go checkDependencies(): "dependency '%s' is not ready"
    assert_eq!(
        env.ready("a"),
        ("False".into(), "DependencyNotReady".into(), "dependency 'flux-system/b' is not ready".into())
    );
    assert!(env.get("", "configmaps", "default", "a").is_none());
    let rev = env.commit(&[Change::write("b/kustomization.yaml", "resources: []\n")]).await;
    assert_eq!(env.ready("b"), ok(&format!("Applied revision: {rev}")));
    assert_eq!(env.ready("a"), ok(&format!("Applied revision: {rev}")));
    assert!(env.get("", "configmaps", "default", "a").is_some());
    // A dependency that does not exist.
    env.kustomization("c", json!({"path": "./a", "dependsOn": [{"name": "ghost"}]})).await;
    assert_eq!(
        env.ready("c").2,
        "dependency 'flux-system/ghost' not found: kustomizations.kustomize.toolkit.fluxcd.io \"ghost\" not found"
    );
}

const RPA: &str = "apiVersion: iam.services.k8s.aws/v1alpha1
kind: RolePolicyAttachment
metadata:
  name: attach
  namespace: apps
spec:
  roleName: app
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kind_aborts_its_stage_and_later_ones() {
    let env = Env::new(
        &[("apps/ns.yaml", NS_APPS), ("apps/cm.yaml", &cm("cfg", Some("apps"), "x")), ("apps/rpa.yaml", RPA)],
        false,
    );
    env.source().await;
    env.kustomization("apps", json!({"path": "./apps"})).await;
    // fluxcd/pkg ssa/errors/errors.go DryRunErr (no reason for a RESTMapper error) and
    // kustomization_controller.go apply(): fmt.Errorf("%w\n%s", err, changeSetLog).
    // The first attempt's message lists what earlier stages changed; at rest (after retries
    // that changed nothing more) only the error and the newline remain, as upstream's would.
    let err = "RolePolicyAttachment/apps/attach dry-run failed: no matches for kind \"RolePolicyAttachment\" in version \"iam.services.k8s.aws/v1alpha1\"";
    assert_eq!(env.ready("apps"), ("False".into(), "ReconciliationFailed".into(), format!("{err}\n")));
    let events = env.platform.server().store().list(&GroupResource::new("", "events"), Some(NS), None).0;
    let first = format!("{err}\nNamespace/apps created\n");
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "ReconciliationFailed" && e["type"] == "Warning" && e["message"] == first.as_str()),
        "first attempt's event: {events:?}"
    );
    assert!(env.get("", "namespaces", "", "apps").is_some(), "stage 1 stays applied");
    assert!(
        env.get("", "configmaps", "apps", "cfg").is_none(),
        "the valid ConfigMap of the aborted stage is not applied"
    );
    assert!(env.inventory("apps").is_empty(), "inventory unchanged");
}

const DB_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: dbinstances.rds.services.k8s.aws
spec:
  group: rds.services.k8s.aws
  names: {kind: DBInstance, plural: dbinstances, singular: dbinstance, listKind: DBInstanceList}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              dbInstanceClass: {type: string}
              masterUserPassword:
                type: object
                properties:
                  name: {type: string}
                  key: {type: string}
";

const DB: &str = "apiVersion: rds.services.k8s.aws/v1alpha1
kind: DBInstance
metadata:
  name: db
  namespace: default
spec:
  dbInstanceClass: db.t3.micro
  masterUserPassword:
    secretKeyRef: {name: db, key: password}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_fails_the_dry_run_with_the_ssa_error() {
    let env = Env::new(&[("crds/db.yaml", DB_CRD), ("apps/db.yaml", DB)], false);
    env.source().await;
    env.kustomization("crds", json!({"path": "./crds"})).await;
    assert_eq!(env.ready("crds").1, "ReconciliationSucceeded", "{:?}", env.ready("crds"));
    env.kustomization("apps", json!({"path": "./apps", "dependsOn": [{"name": "crds"}]})).await;
    let (status, reason, message) = env.ready("apps");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ReconciliationFailed"), "{message}");
    // ssa/errors/errors.go: "%s dry-run failed%s: %s"; the API server's SSA error (BadRequest).
    assert!(message.starts_with("DBInstance/default/db dry-run failed (BadRequest): "), "{message}");
    assert!(message.contains(".spec.masterUserPassword.secretKeyRef: field not declared in schema"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_transformations_apply_as_flux_does() {
    let deploy = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.25}]
";
    let component = "apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources: [extra.yaml]
";
    let env = Env::new(
        &[
            ("base/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n"),
            ("app/deploy.yaml", deploy),
            ("app/cm.yaml", &cm("settings", None, "v")),
            ("comp/kustomization.yaml", component),
            ("comp/extra.yaml", &cm("extra", None, "e")),
        ],
        false,
    );
    env.source().await;
    env.kustomization("ns", json!({"path": "./base"})).await;
    env.kustomization(
        "app",
        json!({
            "path": "./app", "targetNamespace": "team", "namePrefix": "p-", "nameSuffix": "-s",
            "images": [{"name": "nginx", "newName": "registry.example.com/nginx", "newTag": "1.27"}],
            "patches": [{"patch": "- op: add\n  path: /data/patched\n  value: \"yes\"\n", "target": {"kind": "ConfigMap", "name": "settings"}}],
            "components": ["../comp"],
            "commonMetadata": {"labels": {"team": "a"}, "annotations": {"owner": "team-a"}},
        }),
    )
    .await;
    assert_eq!(env.ready("app"), ok(&format!("Applied revision: {}", env.revision())));
    let d = env.get("apps", "deployments", "team", "p-web-s").expect("deployment with prefix and suffix in team");
    assert_eq!(d.pointer("/spec/template/spec/containers/0/image"), Some(&json!("registry.example.com/nginx:1.27")));
    assert_eq!(d.pointer("/metadata/labels/team"), Some(&json!("a")));
    assert_eq!(d.pointer("/metadata/annotations/owner"), Some(&json!("team-a")));
    let c = env.get("", "configmaps", "team", "p-settings-s").expect("configmap");
    assert_eq!(c.pointer("/data/patched"), Some(&json!("yes")));
    assert!(env.get("", "configmaps", "team", "p-extra-s").is_some(), "component resources included");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_build_substitutes_variables() {
    let tpl = "apiVersion: v1
kind: ConfigMap
metadata:
  name: vars
  namespace: default
data:
  region: ${region}
  size: ${size:=small}
  tier: ${tier:-free}
  secret: ${password}
";
    let off = "apiVersion: v1
kind: ConfigMap
metadata:
  name: raw
  namespace: default
  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}
data:
  region: ${region}
";
    let env = Env::new(&[("apps/vars.yaml", tpl), ("apps/raw.yaml", off)], false);
    env.source().await;
    env.create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster", "namespace": NS}, "data": {"region": "eu-west-1", "tier": "gold"}})).await;
    env.create(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": NS}, "data": {"password": "czNjcjN0"}})).await;
    env.kustomization(
        "vars",
        json!({"path": "./apps", "postBuild": {
            "substitute": {"tier": "silver"},
            "substituteFrom": [{"kind": "ConfigMap", "name": "cluster"}, {"kind": "Secret", "name": "creds"}, {"kind": "ConfigMap", "name": "absent", "optional": true}],
        }}),
    )
    .await;
    assert_eq!(env.ready("vars").1, "ReconciliationSucceeded", "{:?}", env.ready("vars"));
    let v = env.get("", "configmaps", "default", "vars").expect("vars");
    assert_eq!(v["data"], json!({"region": "eu-west-1", "size": "small", "tier": "silver", "secret": "s3cr3t"}));
    let raw = env.get("", "configmaps", "default", "raw").expect("raw");
    assert_eq!(raw.pointer("/data/region"), Some(&json!("${region}")), "opted out");

    // A missing, non-optional reference fails the build (kustomize_varsub.go LoadVariables,
    // wrapped by kustomization_controller.go build(): "post build failed for '%s/%s': %w").
    env.patch_spec("vars", json!({"postBuild": {"substituteFrom": [{"kind": "Secret", "name": "gone"}]}})).await;
    let (status, reason, message) = env.ready("vars");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "BuildFailed"));
    assert_eq!(message, "post build failed for 'ConfigMap.v1.[noGrp]/vars': substitute from 'Secret/gone' error: secrets \"gone\" not found");
    let ks_events = env.platform.server().store().list(&GroupResource::new("", "events"), Some(NS), None).0;
    assert!(ks_events.iter().all(|e| !e.to_string().contains("s3cr3t")), "secret values never reach events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_not_found_suspend_and_missing_sources() {
    let env = Env::new(&[("apps/cm.yaml", &cm("one", Some("default"), "a"))], false);
    env.kustomization("early", json!({"path": "./apps"})).await;
    // kustomization_controller.go: the source Get's NotFound error, ArtifactFailed.
    assert_eq!(
        env.ready("early"),
        (
            "False".into(),
            "ArtifactFailed".into(),
            "gitrepositories.source.toolkit.fluxcd.io \"platform\" not found".into()
        )
    );
    env.source().await;
    assert_eq!(env.ready("early").1, "ReconciliationSucceeded");
    env.kustomization("lost", json!({"path": "./nowhere"})).await;
    let (status, reason, message) = env.ready("lost");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ArtifactFailed"));
    // kustomization_controller.go: fmt.Errorf("kustomization path not found: %w", err) around os.Stat.
    assert!(message.starts_with("kustomization path not found: stat "), "{message}");
    assert!(message.ends_with("/nowhere: no such file or directory"), "{message}");
    // Suspended: new commits are not applied.
    env.patch_spec("early", json!({"suspend": true})).await;
    env.commit(&[Change::write("apps/cm2.yaml", cm("two", Some("default"), "b"))]).await;
    assert!(env.get("", "configmaps", "default", "two").is_none(), "suspended");
    env.patch_spec("early", json!({"suspend": false})).await;
    assert!(env.get("", "configmaps", "default", "two").is_some(), "resumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_time_out_on_deployments_without_pods() {
    let deploy = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {disktype: ssd}
      containers: [{name: web, image: nginx}]
";
    // No virtual node has the label: the pod stays Pending and the Deployment never ready.
    let env = Env::new(&[("apps/deploy.yaml", deploy), ("cfg/cm.yaml", &cm("c", Some("default"), "x"))], false);
    env.source().await;
    env.kustomization("web", json!({"path": "./apps", "wait": true, "timeout": "2m"})).await;
    // kustomization_controller.go checkHealth() and fluxcd/pkg ssa manager_wait.go.
    assert_eq!(
        env.ready("web"),
        (
            "False".into(),
            "HealthCheckFailed".into(),
            "health check failed after 2m0s: timeout waiting for: [Deployment/default/web status: 'InProgress']".into()
        )
    );
    assert_eq!(env.cond("web", "Healthy").1, "HealthCheckFailed");
    env.kustomization("cfg", json!({"path": "./cfg", "wait": true})).await;
    assert_eq!(env.ready("cfg").1, "ReconciliationSucceeded");
    assert_eq!(env.cond("cfg", "Healthy"), ("True".into(), "Succeeded".into(), "Health check passed in 0s".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1beta2_is_not_served_on_flux_2_8() {
    let env = Env::new(&[], false);
    let registry = env.platform.server().registry();
    assert!(registry.get(GROUP, "v1", PLURAL).is_some());
    assert!(registry.get(GROUP, "v1beta2", PLURAL).is_none(), "Flux 2.8 removed v1beta2");
    let crd = sim::flux::kustomize::crds(sim::flux::FluxVersion { major: 2, minor: 7 });
    let versions = crd[0].pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    let beta = versions.iter().find(|v| v["name"] == "v1beta2").expect("2.7 serves v1beta2");
    assert_eq!(beta["deprecationWarning"], "v1beta2 Kustomization is deprecated, upgrade to v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gatekeeper_denial_aborts_the_stage() {
    let env = Env::new(&[("apps/ns.yaml", NS_APPS), ("apps/cm.yaml", &cm("cfg", Some("apps"), "x"))], true);
    let template_text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/required-labels/template.yaml"),
    )
    .expect("template");
    let template: Value = serde_saphyr::from_str(&template_text).expect("template yaml");
    let req = http::Request::post("/apis/templates.gatekeeper.sh/v1/constrainttemplates")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&template).expect("json"))
        .expect("request");
    env.client().request::<Value>(req).await.expect("create template");
    env.settle().await;
    let constraint = json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "IdpRequiredLabels",
        "metadata": {"name": "need-team"},
        "spec": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["ConfigMap"]}]}, "parameters": {"labels": [{"key": "team"}]}}});
    let req = http::Request::post("/apis/constraints.gatekeeper.sh/v1beta1/idprequiredlabels")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&constraint).expect("json"))
        .expect("request");
    env.client().request::<Value>(req).await.expect("create constraint");
    env.settle().await;
    env.source().await;
    env.kustomization("apps", json!({"path": "./apps"})).await;
    // ssa/errors/errors.go DryRunErr with the webhook's Forbidden status (platform-facts §1.5).
    let err = "ConfigMap/apps/cfg dry-run failed (Forbidden): admission webhook \"validation.gatekeeper.sh\" denied the request: [need-team] ConfigMap cfg lacks the labels team";
    assert_eq!(env.ready("apps"), ("False".into(), "ReconciliationFailed".into(), format!("{err}\n")));
    assert!(env.get("", "namespaces", "", "apps").is_some(), "stage 1 applied");
    assert!(env.get("", "configmaps", "apps", "cfg").is_none());
    // Fixed with commonMetadata: the label is added after the build, before the dry-run.
    env.patch_spec("apps", json!({"commonMetadata": {"labels": {"team": "a"}}})).await;
    assert_eq!(env.ready("apps").1, "ReconciliationSucceeded", "{:?}", env.ready("apps"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_no_match_for_v1beta2_on_flux_2_8() {
    let env = Env::new(&[], false);
    let running = env.platform.server().serve("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    sim::apiserver::kubeconfig::write(&kubeconfig, &running.url(), None, None).expect("kubeconfig");
    let manifest = "apiVersion: kustomize.toolkit.fluxcd.io/v1beta2
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  prune: true
  sourceRef: {kind: GitRepository, name: platform}
";
    let mut child = std::process::Command::new(common::kubectl_path())
        .args(["apply", "-f", "-", &format!("--cache-dir={}", dir.path().join("cache").display())])
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), manifest.as_bytes()).expect("stdin");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // kubectl's RESTMapper error (platform-facts §1 and §8 defect 6).
    assert!(
        stderr.contains("no matches for kind \"Kustomization\" in version \"kustomize.toolkit.fluxcd.io/v1beta2\""),
        "{stderr}"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_required_and_external_artifacts_are_gated() {
    let env = Env::new(&[("apps/cm.yaml", &cm("loose", None, "x"))], false);
    env.source().await;
    env.kustomization("loose", json!({"path": "./apps"})).await;
    // ssa/errors/errors.go DryRunErr: a namespaced object without namespace is a 404 on the
    // cluster-scoped path: "%s namespace not specified: %s".
    assert_eq!(
        env.ready("loose"),
        (
            "False".into(),
            "ReconciliationFailed".into(),
            "ConfigMap/loose namespace not specified: the server could not find the requested resource\n".into()
        )
    );
    // targetNamespace must exist (or be in the build): "%s not found: %s".
    env.patch_spec("loose", json!({"targetNamespace": "absent"})).await;
    assert_eq!(env.ready("loose").2, "ConfigMap/absent/loose not found: namespaces \"absent\" not found\n");
    env.patch_spec("loose", json!({"targetNamespace": "default"})).await;
    assert_eq!(env.ready("loose").1, "ReconciliationSucceeded");
    assert!(env.get("", "configmaps", "default", "loose").is_some());
    // kustomization_controller.go getSource(): the ExternalArtifact gate is off by default.
    env.kustomization("ext", json!({"path": "./apps", "sourceRef": {"kind": "ExternalArtifact", "name": "art"}})).await;
    assert_eq!(
        env.ready("ext"),
        (
            "False".into(),
            "AccessDenied".into(),
            "can't access 'ExternalArtifact/flux-system/art', ExternalArtifact feature gate is disabled".into()
        )
    );
    assert_eq!(env.cond("ext", "Stalled").0, "True");
}

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_and_force_recreates_on_immutable_fields() {
    let env = Env::new(&[("apps/web.yaml", WEB), ("apps/cm.yaml", &cm("cfg", Some("default"), "git"))], false);
    env.source().await;
    env.kustomization("apps", json!({"path": "./apps"})).await;
    assert_eq!(env.ready("apps").1, "ReconciliationSucceeded");
    // Events: the change set (reason: Ready's at the time, Progressing) and the success.
    let events = env.platform.server().store().list(&GroupResource::new("", "events"), Some(NS), None).0;
    let has = |reason: &str, msg: &str| events.iter().any(|e| e["reason"] == reason && e["message"] == msg);
    assert!(has("Progressing", "ConfigMap/default/cfg created\nDeployment/default/web created"), "{events:?}");
    assert!(has("ReconciliationSucceeded", "Reconciliation finished in 0s, next run in 10m0s"), "{events:?}");

    // Out-of-band change, then a requested reconcile: drift corrected, request echoed.
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/cfg")
        .header("content-type", "application/merge-patch+json")
        .body(serde_json::to_vec(&json!({"data": {"key": "edited"}})).expect("json"))
        .expect("request");
    env.client().request::<Value>(req).await.expect("edit");
    let req = http::Request::patch(format!("/apis/{GROUP}/v1/namespaces/{NS}/{PLURAL}/apps"))
        .header("content-type", "application/merge-patch+json")
        .body(
            serde_json::to_vec(&json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now-1"}}}))
                .expect("json"),
        )
        .expect("request");
    env.client().request::<Value>(req).await.expect("annotate");
    env.settle().await;
    assert_eq!(
        env.get("", "configmaps", "default", "cfg").and_then(|c| c.pointer("/data/key").cloned()),
        Some(json!("git"))
    );
    assert_eq!(env.ks("apps").pointer("/status/lastHandledReconcileAt"), Some(&json!("now-1")));

    // An immutable field: the dry-run fails (Invalid) unless force is set.
    let changed = WEB.replace("app: web}", "app: web2}");
    env.commit(&[Change::write("apps/web.yaml", changed)]).await;
    let (status, reason, message) = env.ready("apps");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ReconciliationFailed"));
    assert!(message.starts_with("Deployment/default/web dry-run failed (Invalid): "), "{message}");
    assert!(message.contains("field is immutable"), "{message}");
    let uid = env.get("apps", "deployments", "default", "web").and_then(|d| d.pointer("/metadata/uid").cloned());
    env.patch_spec("apps", json!({"force": true})).await;
    assert_eq!(env.ready("apps").1, "ReconciliationSucceeded", "{:?}", env.ready("apps"));
    let web = env.get("apps", "deployments", "default", "web").expect("recreated");
    assert_eq!(web.pointer("/spec/selector/matchLabels/app"), Some(&json!("web2")));
    assert_ne!(web.pointer("/metadata/uid").cloned(), uid, "recreated, not updated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_kubectl_the_build_fails_with_a_clear_message() {
    let env = Env::with_kubectl(&[("apps/cm.yaml", &cm("c", Some("default"), "x"))], false, None);
    env.source().await;
    env.kustomization("apps", json!({"path": "./apps"})).await;
    assert_eq!(
        env.ready("apps"),
        (
            "False".into(),
            "BuildFailed".into(),
            "kustomize build failed: kustomize is not available: the simulated platform was started without kubectl (Tools.kubectl)".into()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_pass_once_the_deployments_pods_run() {
    // The workload controller makes the Deployment's pod Running and Ready on a virtual node,
    // so `wait: true` ends Healthy.
    let env = Env::new(&[("apps/deploy.yaml", WEB)], false);
    env.source().await;
    env.kustomization("web", json!({"path": "./apps", "wait": true, "timeout": "2m"})).await;
    assert_eq!(env.ready("web").1, "ReconciliationSucceeded");
    assert_eq!(env.cond("web", "Healthy"), ("True".into(), "Succeeded".into(), "Health check passed in 0s".into()));
    let deploy = env.get("apps", "deployments", "default", "web").expect("applied");
    assert_eq!(deploy.pointer("/status/readyReplicas").and_then(serde_json::Value::as_i64), Some(1));
}

/// `prefetch` follows a plan as the platform will (the root's output, its post-build
/// substitution, a child Kustomization, a commit) and makes exactly the builds the
/// kustomize-controller then asks for: the platform runs no kustomize process of its own. A
/// second prefetch of the same plan finds them on disk; a changed fixture file is a new plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_made_ahead_are_the_ones_the_platform_asks_for() {
    use sim::flux::kustomize::prefetch::{prefetch, Plan, PlanStep};
    let child = format!(
        "apiVersion: {GROUP}/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: {NS}\nspec:\n  interval: 10m\n  prune: true\n  path: ./apps/${{cluster}}\n  sourceRef:\n    kind: GitRepository\n    name: platform\n"
    );
    let one = cm("one", Some("default"), "a");
    let env = Env::new(&[("clusters/dev/apps.yaml", &child), ("apps/dev/one.yaml", &one)], false);
    let vars = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vars", "namespace": NS}, "data": {"cluster": "dev"}});
    let source = json!({"apiVersion": format!("{SRC}/v1"), "kind": "GitRepository",
        "metadata": {"name": "platform", "namespace": NS},
        "spec": {"url": URL, "interval": "1m", "ref": {"branch": "main"}}});
    let root = json!({"apiVersion": format!("{GROUP}/v1"), "kind": "Kustomization",
        "metadata": {"name": "cluster", "namespace": NS},
        "spec": {"interval": "10m", "prune": true, "path": "./clusters/dev",
            "sourceRef": {"kind": "GitRepository", "name": "platform"},
            "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]}}});
    let two = Change::write("apps/dev/two.yaml", cm("two", Some("default"), "b"));
    let plan = Plan {
        repos: vec![RepoSpec::new(URL, env._seed.path())],
        steps: vec![
            PlanStep::Apply {
                objects: vec![vars.clone(), source.clone(), root.clone()],
                default_namespace: "default".into(),
            },
            PlanStep::Commit { url: URL.into(), branch: None, changes: vec![two.clone()] },
        ],
    };
    let disk = tempfile::tempdir().expect("cache dir");
    let tools = Tools { kubectl: Some(common::kubectl_path()), build_cache: Some(disk.path().to_path_buf()) };
    let ahead = prefetch(std::slice::from_ref(&plan), &tools);
    // Two Kustomizations at two commits.
    assert_eq!((ahead.plans, ahead.known, ahead.builds, ahead.kustomize_runs), (1, 0, 4, 4), "{ahead:?}");
    assert_eq!(sim::flux::kustomize::stats().runs_ahead, 4);

    let before = sim::flux::kustomize::stats();
    env.create(vars).await;
    env.create(source).await;
    env.create(root).await;
    env.settle().await;
    assert_eq!(env.ready("apps").1, "ReconciliationSucceeded", "{:?}", env.ready("apps"));
    assert!(env.get("", "configmaps", "default", "one").is_some(), "the child's path was substituted");
    env.commit(&[two]).await;
    assert!(env.get("", "configmaps", "default", "two").is_some(), "the commit was applied");
    let after = sim::flux::kustomize::stats();
    assert_eq!(after.runs, before.runs, "the platform ran no kustomize: every build was made ahead");
    assert!(after.cached >= before.cached + 4, "{before:?} -> {after:?}");

    let again = prefetch(std::slice::from_ref(&plan), &tools);
    assert_eq!((again.known, again.builds, again.kustomize_runs), (1, 0, 0), "{again:?}");

    std::fs::write(env._seed.path().join("apps/dev/one.yaml"), cm("one", Some("default"), "changed")).expect("write");
    let changed = prefetch(std::slice::from_ref(&plan), &tools);
    assert_eq!((changed.known, changed.builds, changed.kustomize_runs), (0, 4, 4), "{changed:?}");
}
