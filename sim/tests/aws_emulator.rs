//! The moto server as the simulator's AWS: start-up, accounts from access key ids, the SDK
//! clients, connections kept open, errors worded for users, and no process left behind.

mod common;

use std::path::PathBuf;

use common::alive;
use sim::aws::emulator::{EmulatorError, Moto, MotoOptions};
use sim::aws::{error_code, error_text, AwsTarget};

fn python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(p.is_file(), "{} is missing: run `make setup`", p.display());
    p
}

fn start() -> Moto {
    Moto::start(&MotoOptions { python: python(), port: 0, log: None }).expect("moto starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_separate_per_scenario_account() {
    let moto = start();
    common::check_accounts_are_separate(moto.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_emulator_is_reported_and_calls_fail_quickly() {
    let moto = start();
    let pid = moto.pid();
    assert!(alive(pid));
    assert!(moto.check().is_ok());
    // Kill it behind the handle's back, as a crash would.
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    let mut waited = 0;
    while moto.check().is_ok() && waited < 100 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        waited += 1;
    }
    let err = moto.check().unwrap_err().to_string();
    assert!(err.starts_with(&format!("the AWS emulator (moto, pid {pid}, {}) has stopped", moto.url())), "{err}");
    let c = AwsTarget::emulator(moto.url(), "111111111111", "us-east-1").clients();
    let err = c.sts.get_caller_identity().send().await.unwrap_err();
    assert!(error_code(&err).is_none());
    assert!(!error_text(&err).is_empty());
}

#[test]
fn dropping_the_handle_stops_the_process() {
    let moto = start();
    let pid = moto.pid();
    drop(moto);
    assert!(!alive(pid), "moto (pid {pid}) still runs after its handle was dropped");
}

#[test]
fn the_process_goes_when_its_parent_dies_without_cleanup() {
    // A parent that starts moto's wrapper and is then killed: its stdin pipe closes and the
    // watchdog ends moto, with no Drop involved.
    let py = python();
    let script = format!(
        "import subprocess,sys,time\np=subprocess.Popen([{py:?},'-c',{wrapper:?},'-H','127.0.0.1','-p','0'],stdin=subprocess.PIPE,stderr=subprocess.DEVNULL)\nprint(p.pid,flush=True)\ntime.sleep(60)\n",
        py = py.display().to_string(),
        wrapper = sim::aws::emulator::WRAPPER,
    );
    let mut parent =
        std::process::Command::new(&py).args(["-c", &script]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(parent.stdout.take().unwrap()), &mut line).unwrap();
    let child: u32 = line.trim().parse().unwrap();
    assert!(alive(child));
    parent.kill().unwrap();
    parent.wait().unwrap();
    let mut waited = 0;
    while alive(child) && waited < 250 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        waited += 1;
    }
    assert!(!alive(child), "moto (pid {child}) outlived its parent");
}

#[test]
fn a_busy_port_is_named() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let err = Moto::start(&MotoOptions { python: python(), port, log: None }).err();
    assert!(matches!(err, Some(EmulatorError::PortBusy { port: p }) if p == port), "{err:?}");
}

/// One HTTP/1.1 exchange on `stream`: the status code, whether the server says it closes the
/// connection, and the body length read.
fn exchange(stream: &mut std::net::TcpStream, path: &str) -> std::io::Result<(u16, bool, usize)> {
    use std::io::{BufRead, Read, Write};
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut reader = std::io::BufReader::new(stream.try_clone()?);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let code = status.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (mut length, mut closes) = (0usize, false);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        closes |= lower.starts_with("connection:") && lower.contains("close");
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok((code, closes, length))
}

#[test]
fn one_connection_carries_many_requests() {
    // The simulator's HTTP client pools connections: a server that closes after every answer
    // (moto's own development server) costs a TCP connection and a server thread per AWS call.
    let moto = start();
    let addr = moto.url().trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    for i in 0..3 {
        let (code, closes, length) =
            exchange(&mut stream, "/moto-api/data.json").expect("an answer on the same connection");
        assert_eq!(code, 200, "request {i}");
        assert!(!closes, "request {i}: the server closes the connection");
        assert!(length > 0, "request {i}");
    }
}

/// A role read from one `GetAccountAuthorizationDetails` on an emulator is the role read call
/// by call: trust, the attached policy at its default version (not its first), inline policies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_loaded_in_one_call_on_an_emulator_is_the_role_read_call_by_call() {
    use sim::aws::roles::{load_role, load_role_by_reads};
    let moto = common::moto();
    let c = AwsTarget::emulator(moto.url(), &common::fresh_account(), "us-east-1").clients();
    let doc = |action: &str, effect: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Action":"{action}","Resource":"*"}}]}}"#
        )
    };
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    c.iam.create_role().role_name("app").assume_role_policy_document(trust).send().await.expect("role");
    c.iam.create_role().role_name("other").assume_role_policy_document(trust).send().await.expect("other role");
    let arn = c
        .iam
        .create_policy()
        .policy_name("read")
        .policy_document(doc("s3:GetObject", "Allow"))
        .send()
        .await
        .expect("policy")
        .policy
        .and_then(|p| p.arn)
        .expect("an ARN");
    c.iam
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(doc("sqs:*", "Allow"))
        .set_as_default(true)
        .send()
        .await
        .expect("version 2");
    c.iam.attach_role_policy().role_name("app").policy_arn(&arn).send().await.expect("attach");
    for (name, action) in [("logs", "logs:*"), ("deny-all", "*")] {
        let effect = if name == "logs" { "Allow" } else { "Deny" };
        c.iam
            .put_role_policy()
            .role_name("app")
            .policy_name(name)
            .policy_document(doc(action, effect))
            .send()
            .await
            .expect("inline");
    }

    let one = load_role(&c, "app").await.expect("loads").expect("exists");
    let mut reads = load_role_by_reads(&c, "app").await.expect("reads").expect("exists");
    reads.inline.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!((&one.name, &one.arn, &one.trust), (&reads.name, &reads.arn, &reads.trust));
    assert_eq!(one.attached, reads.attached);
    assert_eq!(one.inline, reads.inline);
    assert_eq!(one.attached[0].1["Statement"][0]["Action"], "sqs:*", "the default version: {:?}", one.attached);
    assert_eq!(one.inline.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["deny-all", "logs"]);
    assert!(load_role(&c, "missing").await.expect("answers").is_none());
}
