//! LocalStack as a host process, for real: start-up, accounts from access key ids, the free
//! services answering through the SDK clients, and no process or directory left behind. Every
//! test is skipped (with the reason printed) when `localstack/.venv` has not been made with
//! `make localstack-setup`, so a machine without it stays green.

mod common;

use std::path::PathBuf;

use common::alive;

use sim::aws::localstack::{LocalStack, LocalStackError, LocalStackOptions};
use sim::aws::AwsTarget;

/// The venv's Python, or None (with the reason printed) when it has not been made.
fn python() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../localstack/.venv/bin/python");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipped: {} is missing (run `make localstack-setup` to test LocalStack)", p.display());
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_free_services_answer_in_separate_accounts_and_nothing_is_left_behind() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("localstack.log");
    let ls = LocalStack::start(&LocalStackOptions { log: Some(log.clone()), ..LocalStackOptions::new(python) })
        .unwrap_or_else(|e| panic!("LocalStack starts: {e}"));
    eprintln!("LocalStack ready in {:?}, services {:?}", ls.started_in(), ls.services());
    for s in ["iam", "sts", "secretsmanager", "ssm", "kms"] {
        assert!(ls.services().iter().any(|x| x == s), "{s} is not available: {:?}", ls.services());
    }
    common::check_accounts_are_separate(ls.url()).await;
    let a = AwsTarget::emulator(ls.url(), "111111111111", "us-east-1").clients();

    // RDS is not in the free tier: the harness refuses such scenarios before they run.
    let err = a.rds.describe_db_instances().send().await.unwrap_err();
    assert!(sim::aws::error_text(&err).contains("license plan"), "{}", sim::aws::error_text(&err));

    let (pid, root) = (ls.pid(), ls.root().to_path_buf());
    assert!(alive(pid));
    assert!(ls.check().is_ok());
    drop(ls);
    assert!(!alive(pid), "LocalStack (pid {pid}) still runs after its handle was dropped");
    assert!(!root.exists(), "{} outlived LocalStack", root.display());
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(logged.contains("Ready."), "{logged}");
}

#[test]
fn the_process_and_its_directory_go_when_its_parent_dies_without_cleanup() {
    let Some(py) = python() else { return };
    let root = tempfile::tempdir().expect("tempdir").keep();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // A parent that starts LocalStack's wrapper as the harness does (own process group) and is
    // then killed: its stdin pipe closes and the watchdog ends LocalStack, with no Drop involved.
    let env: Vec<String> = sim::aws::localstack::host_env(port, &root, &["sts".to_string()])
        .into_iter()
        .map(|(k, v)| format!("{k:?}: {v:?}"))
        .collect();
    let script = format!(
        "import os,subprocess,sys,time\nenv=dict(os.environ, **{{{env}}})\np=subprocess.Popen([{py:?},'-c',{wrapper:?}],stdin=subprocess.PIPE,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,env=env,cwd={root:?},process_group=0)\nprint(p.pid,flush=True)\ntime.sleep(120)\n",
        env = env.join(","),
        py = py.display().to_string(),
        wrapper = sim::aws::localstack::WRAPPER,
        root = root.display().to_string(),
    );
    let mut parent =
        std::process::Command::new(&py).args(["-c", &script]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(parent.stdout.take().unwrap()), &mut line).unwrap();
    let child: u32 = line.trim().parse().unwrap();
    // Wait until it serves, so the watchdog is running.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut waited = 0;
    while std::net::TcpStream::connect(addr).is_err() && waited < 3000 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        waited += 1;
    }
    assert!(alive(child));
    parent.kill().unwrap();
    parent.wait().unwrap();
    let mut waited = 0;
    while (alive(child) || root.exists()) && waited < 500 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        waited += 1;
    }
    assert!(!alive(child), "LocalStack (pid {child}) outlived its parent");
    assert!(!root.exists(), "{} outlived LocalStack", root.display());
}

#[test]
fn a_busy_port_is_named() {
    let Some(python) = python() else { return };
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let err = LocalStack::start(&LocalStackOptions { port, ..LocalStackOptions::new(python) }).err();
    assert!(matches!(err, Some(LocalStackError::PortBusy { port: p }) if p == port), "{err:?}");
}

#[test]
fn a_python_without_localstack_is_told_to_run_the_setup() {
    // The project venv's Python (moto's) has no localstack-core.
    let moto_python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let python = if moto_python.is_file() { moto_python } else { PathBuf::from("/usr/bin/python3") };
    if !python.is_file() {
        eprintln!("skipped: no Python without localstack-core found");
        return;
    }
    let err =
        LocalStack::start(&LocalStackOptions::new(python.clone())).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.starts_with(&format!(
            "localstack-core is not installed in {}: run `make localstack-setup`",
            python.display()
        )),
        "{err}"
    );
}
