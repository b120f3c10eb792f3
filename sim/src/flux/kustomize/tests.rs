//! Unit tests of the kustomize-controller's pure parts: generation of the kustomization file,
//! staging and ordering, inventory ids, durations.

use serde_json::{json, Value};

use super::apply::{sort_key, stage, ObjRef};
use super::build;
use super::build::{generate, split_documents};
use super::crd::{go_duration, parse_duration, Spec};

fn r(api: &str, kind: &str, ns: &str, name: &str) -> ObjRef {
    ObjRef::of(&json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns}}))
}

#[test]
fn stages_and_order_follow_ssa() {
    assert_eq!(stage(&r("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "x")), 0);
    assert_eq!(stage(&r("v1", "Namespace", "", "x")), 0);
    assert_eq!(stage(&r("rbac.authorization.k8s.io/v1", "ClusterRole", "", "x")), 0);
    assert_eq!(stage(&r("storage.k8s.io/v1", "StorageClass", "", "x")), 1);
    assert_eq!(stage(&r("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass", "a", "x")), 1);
    assert_eq!(stage(&r("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "x")), 2);
    let mut v = [
        r("apps/v1", "Deployment", "a", "web"),
        r("example.com/v1", "Widget", "a", "w"),
        r("v1", "ConfigMap", "b", "c"),
        r("v1", "ConfigMap", "a", "c"),
        r("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "v"),
    ];
    v.sort_by_key(sort_key);
    let kinds: Vec<String> = v.iter().map(|o| o.display()).collect();
    assert_eq!(
        kinds,
        ["ConfigMap/a/c", "ConfigMap/b/c", "Deployment/a/web", "Widget/a/w", "ValidatingWebhookConfiguration/v"]
    );
    let id = r("apps/v1", "Deployment", "a", "web").id();
    assert_eq!(id, "a_web_apps_Deployment");
    assert_eq!(ObjRef::from_entry(&id, "v1"), Some(r("apps/v1", "Deployment", "a", "web")));
    assert_eq!(r("v1", "Namespace", "", "a").id(), "_a__Namespace");
}

#[test]
fn durations_read_and_print_as_go_does() {
    assert_eq!(parse_duration("1m30s").map(go_duration).as_deref(), Some("1m30s"));
    assert_eq!(parse_duration("10m").map(go_duration).as_deref(), Some("10m0s"));
    assert_eq!(parse_duration("1h").map(go_duration).as_deref(), Some("1h0m0s"));
    assert_eq!(parse_duration("1.5s").map(go_duration).as_deref(), Some("1.5s"));
    assert_eq!(parse_duration("500ms").map(go_duration).as_deref(), Some("500ms"));
    let spec = |v: Value| serde_json::from_value::<Spec>(v).expect("spec");
    assert_eq!(go_duration(spec(json!({"interval": "10m"})).timeout()), "9m30s");
    assert_eq!(go_duration(spec(json!({"interval": "1m"})).timeout()), "30s");
    assert_eq!(go_duration(spec(json!({"interval": "1m", "timeout": "5m"})).timeout()), "5m0s");
}

#[test]
fn generated_kustomization_lists_yaml_files_and_kustomize_dirs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("b.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n").expect("write");
    std::fs::write(d.join("a.yml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n").expect("write");
    std::fs::write(d.join("notes.txt"), "not yaml: [").expect("write");
    std::fs::create_dir_all(d.join("sub/deeper")).expect("mkdir");
    std::fs::write(d.join("sub/deeper/c.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
        .expect("write");
    std::fs::create_dir_all(d.join("overlay")).expect("mkdir");
    std::fs::write(d.join("overlay/kustomization.yaml"), "resources: []\n").expect("write");
    std::fs::write(d.join("overlay/ignored.yaml"), "x: [").expect("write");
    let spec: Spec = serde_json::from_value(json!({
        "interval": "1m", "prune": true, "targetNamespace": "apps", "namePrefix": "p-",
        "images": [{"name": "nginx", "newTag": "1.27"}], "components": ["../comp"],
    }))
    .expect("spec");
    let (path, text) = generate(d, &spec).expect("generate");
    assert_eq!(path, d.join("kustomization.yaml"));
    let k: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(k["resources"], json!(["./a.yml", "./b.yaml", "./overlay", "./sub/deeper/c.yaml"]));
    assert_eq!(k["namespace"], "apps");
    assert_eq!(k["namePrefix"], "p-");
    assert_eq!(k["images"], json!([{"name": "nginx", "newTag": "1.27"}]));
    assert_eq!(k["components"], json!(["../comp"]));

    std::fs::write(d.join("bad.yaml"), "a: [unclosed").expect("write");
    let err = generate(d, &spec).expect_err("bad yaml");
    assert!(
        err.to_string().starts_with(&format!("failed to decode Kubernetes YAML from {}", d.join("bad.yaml").display())),
        "{err}"
    );

    // An existing kustomization keeps its content; images merge by name.
    let o = d.join("overlay");
    std::fs::write(o.join("kustomization.yaml"), "resources: [x.yaml]\nimages: [{name: nginx, newName: r/nginx}]\n")
        .expect("write");
    let (_, text) = generate(&o, &spec).expect("generate");
    let k: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(k["resources"], json!(["x.yaml"]));
    assert_eq!(k["images"], json!([{"name": "nginx", "newName": "r/nginx", "newTag": "1.27", "digest": ""}]));
    let remote: Spec = serde_json::from_value(json!({"components": ["https://example.com/c"]})).expect("spec");
    assert_eq!(
        generate(&o, &remote).expect_err("remote").to_string(),
        "component path 'https://example.com/c' must be local and relative"
    );
}

#[test]
fn output_splits_into_documents() {
    let docs = split_documents("a: 1\n---\n\n---\nb: 2\n");
    assert_eq!(docs, ["a: 1\n", "b: 2\n"]);
}

/// The set-up's kubectl (these tests run the real kustomize).
fn kubectl() -> std::path::PathBuf {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/kubectl");
    assert!(p.exists(), "kubectl not found at {}: run `make setup` first", p.display());
    p
}

fn build_in(
    cache: &build::BuildCache,
    tree: &std::path::Path,
    scratch: &std::path::Path,
) -> Result<String, build::BuildError> {
    let digest = crate::git::artifact_digest(tree).expect("digest");
    let spec = super::crd::Spec { path: "./app".into(), ..Default::default() };
    cache.build(("flux-system", "app"), Some(&kubectl()), tree, &digest, &spec, scratch)
}

/// A work directory holding `tree/app/<file>` with `text`; builds use the tree's `./app`.
fn tree_with(file: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let work = tempfile::tempdir().expect("tempdir");
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("app")).expect("mkdir");
    std::fs::write(tree.join("app").join(file), text).expect("write");
    (work, tree)
}

#[test]
fn builds_are_kept_on_disk_and_reused_by_a_later_process() {
    // A name no other test uses, so no other build of this process can have filled the
    // process-wide map with this tree.
    let unique = format!("disk-cache-{}", std::process::id());
    let (work, tree) =
        tree_with("cm.yaml", &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {unique}\ndata:\n  a: b\n"));
    let disk = work.path().join("cache");
    let first = build_in(&build::BuildCache::new(Some(disk.clone())), &tree, &work.path().join("s1")).expect("build");
    assert!(first.contains(&unique), "{first}");
    let files: Vec<_> = std::fs::read_dir(disk.join("kustomize")).expect("cache dir").flatten().collect();
    assert_eq!(files.len(), 1, "one output on disk");
    // What a later process finds: the file on disk. Change it to prove it is what is read.
    let marked = first.replace("a: b", "a: from-the-disk-cache");
    std::fs::write(files[0].path(), &marked).expect("rewrite");
    build::forget_shared();
    let again = build_in(&build::BuildCache::new(Some(disk.clone())), &tree, &work.path().join("s2")).expect("build");
    assert_eq!(again, marked, "the second build came from the disk cache");
    // Another tree (another digest) is built, not taken from the cache.
    std::fs::write(
        tree.join("app/cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {unique}-2\n"),
    )
    .expect("write");
    let other = build_in(&build::BuildCache::new(Some(disk)), &tree, &work.path().join("s3")).expect("build");
    assert!(other.contains(&format!("{unique}-2")), "{other}");
}

#[test]
fn a_failed_build_is_kept_and_replayed_naming_the_callers_scratch_directory() {
    let unique = format!("missing-{}.yaml", std::process::id());
    let (work, tree) = tree_with("kustomization.yaml", &format!("resources:\n  - {unique}\n"));
    let disk = work.path().join("cache");
    let runs = build::stats().runs;
    let (s1, s2, s3) = (work.path().join("s1"), work.path().join("s2"), work.path().join("s3"));
    let first = build_in(&build::BuildCache::new(Some(disk.clone())), &tree, &s1).expect_err("fails").to_string();
    assert!(first.contains(&unique) && first.contains(&s1.display().to_string()), "{first}");
    assert_eq!(build::stats().runs - runs, 1);
    let kept: Vec<_> = std::fs::read_dir(disk.join("kustomize")).expect("cache dir").flatten().collect();
    assert_eq!(kept.len(), 1, "one failure on disk");
    assert_eq!(kept[0].path().extension().and_then(|e| e.to_str()), Some("err"));
    // Another platform (its own scratch directory) gets kustomize's message as if kustomize
    // had run there, from the process-wide map and then from the disk.
    let second = build_in(&build::BuildCache::new(Some(disk.clone())), &tree, &s2).expect_err("fails").to_string();
    assert_eq!(second, first.replace(&s1.display().to_string(), &s2.display().to_string()));
    assert!(!second.contains(&s1.display().to_string()), "{second}");
    build::forget_shared();
    let third = build_in(&build::BuildCache::new(Some(disk)), &tree, &s3).expect_err("fails").to_string();
    assert_eq!(third, first.replace(&s1.display().to_string(), &s3.display().to_string()));
    assert_eq!(build::stats().runs - runs, 1, "kustomize ran once for the three");
}

#[test]
fn failures_that_are_not_kustomizes_and_remote_references_are_not_kept() {
    let (work, tree) = tree_with("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-kept\n");
    let disk = work.path().join("cache");
    let empty = |disk: &std::path::Path| {
        !disk.join("kustomize").exists() || std::fs::read_dir(disk.join("kustomize")).expect("dir").next().is_none()
    };
    // kustomize that cannot be started: the next attempt must try again.
    let digest = crate::git::artifact_digest(&tree).expect("digest");
    let spec = super::crd::Spec { path: "./app".into(), ..Default::default() };
    let missing = work.path().join("no-kubectl");
    let err = build::BuildCache::new(Some(disk.clone()))
        .build(("flux-system", "app"), Some(&missing), &tree, &digest, &spec, &work.path().join("s0"))
        .expect_err("no kubectl");
    assert!(err.to_string().contains("no-kubectl"), "{err}");
    let out = build_in(&build::BuildCache::new(None), &tree, &work.path().join("s1")).expect("a real kubectl builds");
    assert!(out.contains("not-kept"), "{out}");
    // A kustomization naming a URL: its result depends on more than the tree.
    std::fs::write(
        tree.join("app/kustomization.yaml"),
        "resources:\n  - missing.yaml\n# upstream: https://example.com/base\n",
    )
    .expect("write");
    let err = build_in(&build::BuildCache::new(Some(disk.clone())), &tree, &work.path().join("s2")).expect_err("fails");
    assert!(err.to_string().contains("missing.yaml"), "{err}");
    std::fs::write(
        tree.join("app/kustomization.yaml"),
        "resources:\n  - cm.yaml\n# upstream: https://example.com/base\n",
    )
    .expect("write");
    let out = build_in(&build::BuildCache::new(Some(disk.clone())), &tree, &work.path().join("s3")).expect("build");
    assert!(out.contains("not-kept"));
    assert!(empty(&disk));
}

#[test]
fn platforms_building_the_same_tree_at_once_run_kustomize_once() {
    let unique = format!("in-flight-{}", std::process::id());
    let (work, tree) = tree_with("cm.yaml", &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {unique}\n"));
    let before = build::stats().runs;
    // Four platforms (each its own cache, no disk cache) start together.
    let outputs: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (tree, scratch) = (tree.clone(), work.path().join(format!("s{i}")));
                scope.spawn(move || build_in(&build::BuildCache::new(None), &tree, &scratch).expect("build"))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert!(outputs.iter().all(|o| o.contains(&unique) && *o == outputs[0]), "{outputs:?}");
    assert_eq!(build::stats().runs - before, 1, "one kustomize process for the four");
}
