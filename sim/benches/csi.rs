//! `make bench`: figures for the AWS side of the simulator. Prints numbers; asserts nothing
//! about time.
//!
//! - moto start-up (spawn to first answer), a few times;
//! - a pod with a Secrets Store CSI volume: from its creation to `Running`, with the whole IRSA
//!   path (token, trust check, AssumeRoleWithWebIdentity, permission check, GetSecretValue,
//!   jmesPath, files), for 20 pods one after another.

#[macro_use]
#[path = "common/figures.rs"]
mod figures;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sim::aws::emulator::{Moto, MotoOptions};
use sim::aws::AwsTarget;
use sim::platform::{Platform, PlatformConfig, Profile};

const PODS: usize = 20;

fn python() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    p.exists().then_some(p)
}

async fn create(client: &kube::Client, path: &str, body: Value) -> Result<Value, String> {
    let req = http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    client.request::<Value>(req).await.map_err(|e| e.to_string())
}

async fn run(python: std::path::PathBuf) -> Result<(), String> {
    let mut starts = Vec::new();
    for _ in 0..3 {
        let m = Moto::start(&MotoOptions { python: python.clone(), port: 0, log: None }).map_err(|e| e.to_string())?;
        starts.push(m.started_in());
    }
    let moto = Moto::start(&MotoOptions { python, port: 0, log: None }).map_err(|e| e.to_string())?;
    let fmt = |d: &Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    figure!("csi", "moto start-up: {}", starts.iter().map(fmt).collect::<Vec<_>>().join(", "));

    let account = "210000000001";
    let target = AwsTarget::emulator(moto.url(), account, sim::aws::DEFAULT_REGION);
    let profile = Profile { csi: Some("1.5".into()), ..Profile::bare() };
    let platform = Platform::start(PlatformConfig { profile, aws: Some(target.clone()), ..Default::default() })
        .map_err(|e| e.to_string())?;
    let aws = target.clients();
    let issuer = platform.server().issuer().url().to_string();
    sim::aws::roles::register_oidc_provider(&aws, &issuer).await?;
    aws.secretsmanager
        .create_secret()
        .name("db")
        .secret_string(r#"{"password":"p"}"#)
        .send()
        .await
        .map_err(|e| sim::aws::error_text(&e))?;
    let prefix = sim::iam::issuer_context_prefix(&issuer);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": sim::iam::oidc_provider_arn(account, &issuer)},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {format!("{prefix}:sub"): "system:serviceaccount:default:app"}}}]});
    aws.iam
        .create_role()
        .role_name("app")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .map_err(|e| sim::aws::error_text(&e))?;
    let read = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]});
    aws.iam
        .put_role_policy()
        .role_name("app")
        .policy_name("read")
        .policy_document(read.to_string())
        .send()
        .await
        .map_err(|e| sim::aws::error_text(&e))?;
    let client = platform.server().client();
    create(&client, "/api/v1/namespaces/default/serviceaccounts", json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "app", "annotations": {"eks.amazonaws.com/role-arn": format!("arn:aws:iam::{account}:role/app")}}})).await?;
    create(&client, "/apis/secrets-store.csi.x-k8s.io/v1/namespaces/default/secretproviderclasses", json!({
        "apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass", "metadata": {"name": "db"},
        "spec": {"provider": "aws", "parameters": {"objects": "- objectName: db\n  objectType: secretsmanager\n  jmesPath: [{path: password, objectAlias: password}]\n"}}})).await?;
    let mut times = Vec::new();
    for i in 0..PODS {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("app-{i}")},
            "spec": {"serviceAccountName": "app",
                "containers": [{"name": "app", "image": "app", "volumeMounts": [{"name": "s", "mountPath": "/mnt/s", "readOnly": true}]}],
                "volumes": [{"name": "s", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": true, "volumeAttributes": {"secretProviderClass": "db"}}}]}});
        let began = Instant::now();
        create(&client, "/api/v1/namespaces/default/pods", pod).await?;
        platform.settle(Duration::from_secs(30)).await.map_err(|e| e.to_string())?;
        times.push(began.elapsed());
        let got = platform.server().get_object("", "pods", "default", &format!("app-{i}")).ok_or("pod gone")?;
        if got["status"]["phase"] != "Running" {
            return Err(format!("pod app-{i} is not Running: {}", got["status"]));
        }
    }
    times.sort();
    figure!(
        "csi",
        "pod with a CSI secret mount, creation to Running ({PODS} pods): median {}, max {}",
        fmt(&times[PODS / 2]),
        fmt(&times[PODS - 1])
    );
    Ok(())
}

fn main() {
    let Some(python) = python() else {
        println!("csi bench skipped: no .venv/bin/python (run `make setup`)");
        return;
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(python)) {
        eprintln!("csi bench failed: {e}");
        std::process::exit(1);
    }
}
