//! `make bench`: figures for the simulated Flux kustomize-controller. Prints numbers; asserts
//! nothing about time.
//!
//! 20 Kustomizations over one Git repository, 500 ConfigMaps in all (25 per directory, plain
//! YAML so the kustomization files are generated), reconciled to `Ready=True`. Prints the wall
//! time to the fixed point and, apart, the time spent inside kustomize processes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sim::apiserver::resources::GroupResource;
use sim::flux::kustomize::{self, GROUP, PLURAL};
use sim::git::RepoSpec;
use sim::platform::{Platform, PlatformConfig, Profile, Tools};

const SRC: &str = "source.toolkit.fluxcd.io";
const URL: &str = "https://git.example.com/bench.git";
const DIRS: usize = 20;
const PER_DIR: usize = 25;

fn kubectl() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("IDP_HARNESS_KUBECTL") {
        return Some(p.into());
    }
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/kubectl");
    p.exists().then_some(p)
}

async fn request(
    client: &kube::Client,
    method: http::Method,
    path: &str,
    ct: &str,
    body: &Value,
) -> Result<Value, String> {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ct)
        .body(serde_json::to_vec(body).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    client.request::<Value>(req).await.map_err(|e| e.to_string())
}

async fn run() -> Result<(), String> {
    let Some(kubectl) = kubectl() else {
        println!("flux bench skipped: no kubectl (run `make setup`)");
        return Ok(());
    };
    let seed = tempfile::tempdir().map_err(|e| e.to_string())?;
    for d in 0..DIRS {
        let dir = seed.path().join(format!("apps/app{d:02}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for i in 0..PER_DIR {
            let text = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{d:02}-{i:03}\n  namespace: default\ndata:\n  value: \"{i}\"\n"
            );
            std::fs::write(dir.join(format!("cm-{i:03}.yaml")), text).map_err(|e| e.to_string())?;
        }
    }
    let platform = Platform::start(PlatformConfig {
        profile: Profile { flux: Some("2.8".into()), ..Profile::bare() },
        tools: Tools { kubectl: Some(kubectl), build_cache: None },
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    platform.repos().add(RepoSpec::new(URL, seed.path())).map_err(|e| e.to_string())?;
    let client = platform.server().client();
    // The simulated source-controller fetches the repo and stores the artifact.
    let gitrepo = json!({"apiVersion": format!("{SRC}/v1"), "kind": "GitRepository",
        "metadata": {"name": "bench", "namespace": "flux-system"},
        "spec": {"url": URL, "interval": "1m", "ref": {"branch": "main"}}});
    let base = format!("/apis/{SRC}/v1/namespaces/flux-system/gitrepositories");
    request(&client, http::Method::POST, &base, "application/json", &gitrepo).await?;
    platform.settle(Duration::from_secs(60)).await.map_err(|e| e.to_string())?;
    let before = kustomize::stats();
    let started = Instant::now();
    let ks_base = format!("/apis/{GROUP}/v1/namespaces/flux-system/{PLURAL}");
    for d in 0..DIRS {
        let ks = json!({"apiVersion": format!("{GROUP}/v1"), "kind": "Kustomization",
            "metadata": {"name": format!("app{d:02}"), "namespace": "flux-system"},
            "spec": {"interval": "10m", "prune": true, "path": format!("./apps/app{d:02}"),
                "sourceRef": {"kind": "GitRepository", "name": "bench"}}});
        request(&client, http::Method::POST, &ks_base, "application/json", &ks).await?;
    }
    platform.settle(Duration::from_secs(120)).await.map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    let after = kustomize::stats();
    let ready = platform
        .server()
        .store()
        .list(&GroupResource::new(GROUP, PLURAL), None, None)
        .0
        .iter()
        .filter(|k| sim::conditions::status_of(k, "Ready") == Some("True"))
        .count();
    let cms = platform.server().store().list(&GroupResource::new("", "configmaps"), Some("default"), None).0.len();
    println!("flux: {ready}/{DIRS} Kustomizations Ready, {cms} ConfigMaps applied");
    println!(
        "flux: wall time to the fixed point {:.3} s; kustomize processes {:.3} s ({} runs, {} cached builds)",
        wall.as_secs_f64(),
        (after.process_time - before.process_time).as_secs_f64(),
        after.runs - before.runs,
        after.cached - before.cached
    );
    // Again with every build cached: what the simulator itself spends (dry runs, applies,
    // inventory, status) on 500 manifests, without kustomize processes.
    let started = Instant::now();
    for d in 0..DIRS {
        let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "bench-2"}}});
        request(&client, http::Method::PATCH, &format!("{ks_base}/app{d:02}"), "application/merge-patch+json", &patch)
            .await?;
    }
    platform.settle(Duration::from_secs(120)).await.map_err(|e| e.to_string())?;
    let again = kustomize::stats();
    println!(
        "flux: a requested reconcile of all 20 with builds cached: {:.3} s ({} kustomize runs)",
        started.elapsed().as_secs_f64(),
        again.runs - after.runs
    );
    Ok(())
}

fn main() {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flux bench: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run()) {
        eprintln!("flux bench failed: {e}");
        std::process::exit(1);
    }
}
