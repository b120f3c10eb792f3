//! ACK on moto: how long from creating a Role (with a trust policy, an inline policy and a
//! managed policy) to its `ACK.ResourceSynced` True, at the platform's fixed point. Every
//! IAM call goes to a local moto server. Prints figures; asserts nothing about time.

#[macro_use]
#[path = "common/figures.rs"]
mod figures;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sim::aws::emulator::{Moto, MotoOptions};
use sim::aws::AwsTarget;
use sim::platform::{Platform, PlatformConfig, Profile};

const ROUNDS: usize = 20;
const GROUP: &str = "iam.services.k8s.aws";
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const INLINE: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

async fn create(client: &kube::Client, plural: &str, body: &Value) -> Result<(), String> {
    let req = http::Request::post(format!("/apis/{GROUP}/v1alpha1/namespaces/default/{plural}"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    client.request::<Value>(req).await.map(|_| ()).map_err(|e| e.to_string())
}

async fn run(moto: &Moto) -> Result<(), String> {
    let aws = AwsTarget::emulator(moto.url(), "123456789012", sim::aws::DEFAULT_REGION);
    // What one IAM call to moto costs, for scale.
    let iam = aws.clients().iam;
    let mut calls = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let _ = iam.get_role().role_name("absent").send().await;
        calls.push(started.elapsed());
    }
    calls.sort();
    let platform = Platform::start(PlatformConfig {
        profile: Profile { ack_iam: Some("1.6".into()), ..Profile::bare() },
        aws: Some(aws),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let client = platform.server().client();
    let policy = json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "Policy",
        "metadata": {"name": "read", "namespace": "default"},
        "spec": {"name": "read", "policyDocument": INLINE}});
    create(&client, "policies", &policy).await?;
    platform.settle(Duration::from_secs(60)).await.map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut created = Vec::new();
    for i in 0..ROUNDS {
        let name = format!("bench-{i}");
        let role = json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "Role",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"name": name, "assumeRolePolicyDocument": TRUST,
                "inlinePolicies": {"read": INLINE}, "policyRefs": [{"from": {"name": "read"}}]}});
        let started = Instant::now();
        create(&client, "roles", &role).await?;
        created.push(started.elapsed());
        platform.settle(Duration::from_secs(60)).await.map_err(|e| e.to_string())?;
        times.push(started.elapsed());
        let obj = platform.server().get_object(GROUP, "roles", "default", &name).ok_or("role vanished")?;
        if sim::conditions::status_of(&obj, "ACK.ResourceSynced") != Some("True") {
            return Err(format!("role {name} did not sync: {:#}", obj.get("status").cloned().unwrap_or_default()));
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let reconciles = platform.decisions().iter().filter(|d| d.controller.ends_with("/Role")).count();
    figure!("ack", "ack: one IAM call to moto (GetRole, not found): median {:.1} ms", ms(calls[ROUNDS / 2]));
    created.sort();
    figure!("ack", "ack: the create request alone: median {:.1} ms", ms(created[ROUNDS / 2]));
    figure!("ack", "ack: {reconciles} recorded Role reconciles for {ROUNDS} roles");
    figure!("ack", 
        "ack: apply to ACK.ResourceSynced for a Role (trust, inline, policyRef) over {ROUNDS} roles: median {:.1} ms, max {:.1} ms",
        ms(times[ROUNDS / 2]),
        ms(times[ROUNDS - 1])
    );
    Ok(())
}

fn main() {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if !python.is_file() {
        println!("ack bench skipped: no moto (run `make setup`)");
        return;
    }
    let moto = match Moto::start(&MotoOptions { python, port: 0, log: None }) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ack bench: {e}");
            std::process::exit(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ack bench: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(&moto)) {
        eprintln!("ack bench failed: {e}");
        std::process::exit(1);
    }
}
