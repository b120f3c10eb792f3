//! LocalStack as the AWS emulator, two ways: [`LocalStack`], the pinned `localstack-core` 4.9.2
//! of `localstack/.venv` run as a host process (no Docker), and [`LocalStackContainer`], the
//! `localstack/localstack` image run through the `docker` CLI.
//!
//! Both are started on a free loopback port, health-checked (`GET /_localstack/health`) and
//! always stopped. The host process runs under a stdin watchdog, as moto does (see
//! [`super::emulator`]): it is its own process group, and when its stdin closes (this process
//! ended, however) the watchdog removes its scratch directory and kills the group. The
//! container is removed (`docker rm -f`) on drop, and by a small guard process whose stdin is
//! a pipe this process holds, so it also goes when this process is killed. This module must not
//! know about scenarios, accounts (LocalStack takes the account from the access key id, see
//! `super::AwsTarget::emulator`) or which services a scenario needs; it must not print the
//! LocalStack auth token or put it on a command line.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::emulator::{fetch, port_busy, StartEnd, Watched};

/// The services of LocalStack's free tier the harness can use; started alone to start fast.
pub const FREE_SERVICES: &[&str] = &["iam", "sts", "secretsmanager", "ssm", "kms"];
/// The last token-free LocalStack image (4.14.x, frozen).
pub const ARCHIVE_IMAGE: &str = "localstack/localstack:community-archive";
/// The current image; it needs `LOCALSTACK_AUTH_TOKEN` (and network access to activate it).
pub const TOKEN_IMAGE: &str = "localstack/localstack:latest";
/// The environment variable that carries a LocalStack auth token.
pub const AUTH_TOKEN_VAR: &str = "LOCALSTACK_AUTH_TOKEN";
/// LocalStack's port inside its container.
pub const CONTAINER_PORT: u16 = 4566;
/// How long the host process may take to answer (about 7 s here, loading five services).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the container may take to answer (an image pull is not included: `docker run`
/// returns once the container has started).
pub const CONTAINER_START_TIMEOUT: Duration = Duration::from_secs(120);

/// The wrapper: a watchdog on stdin that cleans up the scratch directory and kills the process
/// group (LocalStack may start helpers), then LocalStack's own runtime entry point.
pub const WRAPPER: &str = r#"
import os, sys, signal, shutil, threading
root = os.environ.get("FILESYSTEM_ROOT")
def watch():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        if root:
            shutil.rmtree(root, ignore_errors=True)
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
        os._exit(0)
threading.Thread(target=watch, daemon=True).start()
try:
    from localstack.runtime.main import main
except ImportError as e:
    sys.stderr.write("idp-harness: cannot import localstack.runtime.main: %s\n" % e)
    sys.exit(3)
main()
"#;

/// Why LocalStack is not available.
#[derive(Debug, thiserror::Error)]
pub enum LocalStackError {
    #[error("LocalStack's Python was not found at {0}: run `make localstack-setup` (it installs the pinned localstack-core into localstack/.venv), or use --aws moto")]
    VenvMissing(PathBuf),
    #[error("localstack-core is not installed in {python}: run `make localstack-setup`; {detail}")]
    NotInstalled { python: PathBuf, detail: String },
    #[error("LocalStack cannot listen on port {port}: the port is busy")]
    PortBusy { port: u16 },
    #[error("cannot find a free loopback port for LocalStack: {0}")]
    NoPort(#[source] std::io::Error),
    #[error("cannot create LocalStack's scratch directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("LocalStack exited before it was ready ({status}); its last output:\n{output}")]
    EarlyExit { status: String, output: String },
    #[error("LocalStack was not ready within {0:?}; its last output:\n{1}")]
    NotReady(Duration, String),
    #[error("LocalStack (pid {pid}, {url}) has stopped ({status}); its last output:\n{output}")]
    Died { pid: u32, url: String, status: String, output: String },
    #[error("no Docker CLI: {0} was not found; --aws localstack-container needs Docker: install it, or use --aws moto or localstack")]
    DockerMissing(String),
    #[error("no Docker engine: `{docker} info` failed ({detail}); start Docker, or use --aws moto or localstack")]
    NoEngine { docker: String, detail: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    Docker { command: String, status: String, stderr: String },
    #[error("`docker port {id} {CONTAINER_PORT}/tcp` gave no host port: {output:?}")]
    NoHostPort { id: String, output: String },
    #[error("the LocalStack container {id} has stopped; its last output:\n{output}")]
    ContainerDied { id: String, output: String },
}

/// How to start LocalStack as a host process.
#[derive(Debug, Clone)]
pub struct LocalStackOptions {
    /// The Python of `localstack/.venv` (it must have `localstack-core[runtime]`).
    pub python: PathBuf,
    /// 0: any free port.
    pub port: u16,
    /// Where LocalStack's output goes (besides the last lines kept for error messages).
    pub log: Option<PathBuf>,
    /// The services to start (`SERVICES`); empty: LocalStack's default.
    pub services: Vec<String>,
}

impl LocalStackOptions {
    /// The free services ([`FREE_SERVICES`]) on any free port.
    pub fn new(python: PathBuf) -> LocalStackOptions {
        LocalStackOptions {
            python,
            port: 0,
            log: None,
            services: FREE_SERVICES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A running LocalStack host process. Dropping it stops the process and removes its scratch
/// directory.
pub struct LocalStack {
    process: Watched,
    url: String,
    started_in: Duration,
    health: serde_json::Value,
    // Dropped after `process` (fields drop in order): the directory goes once LocalStack has.
    root: tempfile::TempDir,
}

impl LocalStack {
    /// Starts LocalStack and waits until its health endpoint answers.
    pub fn start(opts: &LocalStackOptions) -> Result<LocalStack, LocalStackError> {
        if !opts.python.is_file() {
            return Err(LocalStackError::VenvMissing(opts.python.clone()));
        }
        let port = free_port(opts.port)?;
        let root =
            tempfile::Builder::new().prefix("idp-harness-localstack-").tempdir().map_err(LocalStackError::TempDir)?;
        let began = Instant::now();
        let mut cmd = host_command(&opts.python, port, root.path(), &opts.services);
        let process = Watched::spawn(&mut cmd, "localstack", opts.log.as_deref(), None).map_err(|source| {
            LocalStackError::Spawn { what: format!("LocalStack ({})", opts.python.display()), source }
        })?;
        let mut ls = LocalStack {
            process,
            url: format!("http://127.0.0.1:{port}"),
            started_in: Duration::ZERO,
            health: serde_json::Value::Null,
            root,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = began + START_TIMEOUT;
        ls.health =
            ls.process.poll(deadline, Duration::from_millis(50), || healthy(addr)).map_err(|end| match end {
                StartEnd::Exited(status) => ls.early_exit_error(&opts.python, port, status),
                StartEnd::TimedOut => LocalStackError::NotReady(START_TIMEOUT, ls.process.tail_text()),
            })?;
        ls.started_in = began.elapsed();
        tracing::debug!(url = %ls.url, pid = ls.pid(), elapsed = ?ls.started_in, "LocalStack ready");
        Ok(ls)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// How long start-up took (spawn to the first healthy answer).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The scratch directory (`FILESYSTEM_ROOT`); removed when LocalStack stops.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The services the health endpoint listed as `available` or `running` at start.
    pub fn services(&self) -> Vec<String> {
        available_services(&self.health)
    }

    /// Ok while the process runs; the reason when it has stopped.
    pub fn check(&self) -> Result<(), LocalStackError> {
        match self.process.exited() {
            None => Ok(()),
            Some(status) => Err(LocalStackError::Died {
                pid: self.pid(),
                url: self.url.clone(),
                status,
                output: self.process.tail_text(),
            }),
        }
    }

    fn early_exit_error(&self, python: &Path, port: u16, status: String) -> LocalStackError {
        let output = self.process.tail_text();
        if output.contains("cannot import localstack.runtime.main") || output.contains("No module named") {
            return LocalStackError::NotInstalled { python: python.to_path_buf(), detail: output.trim().to_string() };
        }
        if port_busy(&output) {
            return LocalStackError::PortBusy { port };
        }
        LocalStackError::EarlyExit { status, output }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        // The watchdog removes the scratch directory and kills the group; give it a moment.
        self.process.stop(Duration::from_secs(5));
    }
}

/// The command that runs LocalStack on the host at `port`, its state under `root`.
pub fn host_command(python: &Path, port: u16, root: &Path, services: &[String]) -> Command {
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(WRAPPER);
    for (k, v) in host_env(port, root, services) {
        cmd.env(k, v);
    }
    // `python -c` puts the working directory first on sys.path: run where nothing shadows
    // LocalStack's modules. Own process group: the watchdog kills it whole, and a Ctrl-C meant
    // for the harness does not reach LocalStack before the harness has cleaned up.
    cmd.current_dir(root);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd
}

/// The environment of a host-mode LocalStack.
pub fn host_env(port: u16, root: &Path, services: &[String]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("GATEWAY_LISTEN", format!("127.0.0.1:{port}")),
        ("LOCALSTACK_HOST", format!("127.0.0.1:{port}")),
        // Host mode even when the harness itself runs in a container (LocalStack would
        // otherwise use /var/lib/localstack).
        ("OVERRIDE_IN_DOCKER", "0".into()),
        ("FILESYSTEM_ROOT", root.display().to_string()),
        // No DNS server on port 53, no certificate download, no analytics, no persistence.
        ("DNS_ADDRESS", "0".into()),
        ("SKIP_SSL_CERT_DOWNLOAD", "1".into()),
        ("DISABLE_EVENTS", "1".into()),
        ("PERSISTENCE", "0".into()),
        ("PYTHONUNBUFFERED", "1".into()),
    ];
    if !services.is_empty() {
        env.push(("SERVICES", services.join(",")));
        // Load them before the health check passes: lazily, the first IAM call takes about 6 s
        // here, long enough to look like a hang in a scenario.
        env.push(("EAGER_SERVICE_LOADING", "1".into()));
    }
    env
}

/// `want`, or a free loopback port when 0; a busy `want` is refused at once.
fn free_port(want: u16) -> Result<u16, LocalStackError> {
    match TcpListener::bind(("127.0.0.1", want)) {
        Ok(l) => l.local_addr().map(|a| a.port()).map_err(LocalStackError::NoPort),
        Err(e) if want != 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
            Err(LocalStackError::PortBusy { port: want })
        }
        Err(e) => Err(LocalStackError::NoPort(e)),
    }
}

/// The health document when LocalStack answers 200 with one.
fn healthy(addr: SocketAddr) -> Option<serde_json::Value> {
    let (code, body) = fetch(addr, "GET", "/_localstack/health").ok()?;
    if code != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v.get("services").is_some().then_some(v)
}

/// The services a health document lists as `available` or `running`, sorted.
pub fn available_services(health: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = health
        .get("services")
        .and_then(|s| s.as_object())
        .map(|m| {
            m.iter()
                .filter(|(_, state)| matches!(state.as_str(), Some("available" | "running")))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// How to start LocalStack in Docker.
#[derive(Debug, Clone)]
pub struct ContainerOptions {
    /// The Docker CLI: a path, or a name looked up on PATH.
    pub docker: String,
    /// True when `LOCALSTACK_AUTH_TOKEN` is set: the current image, with the token passed on
    /// from this process's environment (by name only).
    pub auth_token: bool,
    /// Where the container's output goes.
    pub log: Option<PathBuf>,
}

impl ContainerOptions {
    /// `docker` from PATH; a token when `LOCALSTACK_AUTH_TOKEN` is set and not empty.
    pub fn from_env() -> ContainerOptions {
        ContainerOptions {
            docker: "docker".into(),
            auth_token: std::env::var_os(AUTH_TOKEN_VAR).is_some_and(|v| !v.is_empty()),
            log: None,
        }
    }

    /// The image: [`TOKEN_IMAGE`] with a token, else the token-free [`ARCHIVE_IMAGE`].
    pub fn image(&self) -> &'static str {
        if self.auth_token {
            TOKEN_IMAGE
        } else {
            ARCHIVE_IMAGE
        }
    }

    /// The Docker CLI's path, once it is found and reaches an engine (`docker info`).
    pub fn preflight(&self) -> Result<PathBuf, LocalStackError> {
        let docker = find_docker(&self.docker).ok_or_else(|| LocalStackError::DockerMissing(self.docker.clone()))?;
        check_engine(&docker)?;
        Ok(docker)
    }

    /// `docker run` arguments: detached, removed when stopped, port 4566 on a free loopback
    /// port. Without a token only the free services start; the token is passed by name, so its
    /// value never appears on a command line.
    pub fn run_args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["run", "-d", "--rm", "-p", "127.0.0.1::4566", "--label", "idp-harness=localstack"]
            .map(String::from)
            .to_vec();
        if self.auth_token {
            args.extend(["-e".to_string(), AUTH_TOKEN_VAR.to_string()]);
        } else {
            args.extend(["-e".to_string(), format!("SERVICES={}", FREE_SERVICES.join(","))]);
        }
        args.push(self.image().to_string());
        args
    }
}

/// `docker port <id> 4566/tcp`.
pub fn port_args(id: &str) -> Vec<String> {
    vec!["port".into(), id.into(), format!("{CONTAINER_PORT}/tcp")]
}

/// `docker rm -f <id>`.
pub fn remove_args(id: &str) -> Vec<String> {
    vec!["rm".into(), "-f".into(), id.into()]
}

/// The host port in `docker port` output (`127.0.0.1:49153`, one line per address).
pub fn parse_host_port(output: &str) -> Option<u16> {
    output.lines().find_map(|l| l.trim().rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
}

/// The guard: waits for its stdin to close, then removes the container.
const GUARD: &str = r#"cat >/dev/null; exec "$0" rm -f "$1" >/dev/null 2>&1"#;

/// The guard of container `id`: `docker rm -f <id>` once its stdin closes. Its own process
/// group, so a Ctrl-C meant for the harness does not end it before the harness has cleaned up.
fn guard_command(docker: &Path, id: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", GUARD]).arg(docker).arg(id);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd
}

/// A running LocalStack container. Dropping it removes the container.
pub struct LocalStackContainer {
    docker: PathBuf,
    id: String,
    url: String,
    image: &'static str,
    started_in: Duration,
    /// Removes the container if this process dies without dropping the handle.
    _guard: Watched,
    /// `docker logs -f` into the log file, when one was asked for.
    _logs: Option<Watched>,
}

impl LocalStackContainer {
    /// Checks the Docker CLI and engine, runs the image, and waits until LocalStack answers.
    pub fn start(opts: &ContainerOptions) -> Result<LocalStackContainer, LocalStackError> {
        let docker = opts.preflight()?;
        let began = Instant::now();
        let id = docker_output(&docker, &opts.run_args())?.trim().to_string();
        let guard = match Watched::spawn(&mut guard_command(&docker, &id), "localstack-guard", None, None) {
            Ok(g) => g,
            Err(source) => {
                let _ = Command::new(&docker).args(remove_args(&id)).output();
                return Err(LocalStackError::Spawn { what: "the container's guard process (sh)".into(), source });
            }
        };
        let mut c = LocalStackContainer {
            docker: docker.clone(),
            id: id.clone(),
            url: String::new(),
            image: opts.image(),
            started_in: Duration::ZERO,
            _guard: guard,
            _logs: None,
        };
        if let Some(log) = &opts.log {
            let mut cmd = Command::new(&docker);
            cmd.args(["logs", "-f", &id]);
            c._logs = Watched::spawn(&mut cmd, "localstack-logs", Some(log), None).ok();
        }
        let out = docker_output(&docker, &port_args(&id))?;
        let port = parse_host_port(&out).ok_or_else(|| LocalStackError::NoHostPort { id: id.clone(), output: out })?;
        c.url = format!("http://127.0.0.1:{port}");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = began + CONTAINER_START_TIMEOUT;
        loop {
            if healthy(addr).is_some() {
                break;
            }
            if !c.running() {
                return Err(LocalStackError::ContainerDied { id: id.clone(), output: c.last_output() });
            }
            if Instant::now() > deadline {
                return Err(LocalStackError::NotReady(CONTAINER_START_TIMEOUT, c.last_output()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        c.started_in = began.elapsed();
        Ok(c)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn image(&self) -> &'static str {
        self.image
    }

    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Ok while the container runs; the reason when it has stopped.
    pub fn check(&self) -> Result<(), LocalStackError> {
        if self.running() {
            Ok(())
        } else {
            Err(LocalStackError::ContainerDied { id: self.id.clone(), output: self.last_output() })
        }
    }

    fn running(&self) -> bool {
        Command::new(&self.docker)
            .args(["inspect", "-f", "{{.State.Running}}", &self.id])
            .output()
            .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true")
    }

    fn last_output(&self) -> String {
        Command::new(&self.docker)
            .args(["logs", "--tail", "40", &self.id])
            .output()
            .map(|o| {
                let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
                s.push_str(&String::from_utf8_lossy(&o.stderr));
                s.lines().map(|l| format!("  {l}\n")).collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for LocalStackContainer {
    fn drop(&mut self) {
        let _ = Command::new(&self.docker).args(remove_args(&self.id)).output();
    }
}

/// The Docker CLI: `docker` as a path when it has a slash, else looked up on PATH.
fn find_docker(docker: &str) -> Option<PathBuf> {
    if docker.contains('/') {
        let p = PathBuf::from(docker);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH")?
        .to_str()
        .and_then(|paths| std::env::split_paths(paths).map(|d| d.join(docker)).find(|p| p.is_file()))
}

/// Ok when `docker info` reaches an engine.
fn check_engine(docker: &Path) -> Result<(), LocalStackError> {
    let out = Command::new(docker)
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map_err(|source| LocalStackError::Spawn { what: docker.display().to_string(), source })?;
    if out.status.success() {
        return Ok(());
    }
    let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(LocalStackError::NoEngine {
        docker: docker.display().to_string(),
        detail: if detail.is_empty() { out.status.to_string() } else { detail },
    })
}

/// Runs `docker <args>`; its stdout on success.
fn docker_output(docker: &Path, args: &[String]) -> Result<String, LocalStackError> {
    let command = format!("{} {}", docker.display(), args.join(" "));
    let out = Command::new(docker)
        .args(args)
        .output()
        .map_err(|source| LocalStackError::Spawn { what: command.clone(), source })?;
    if !out.status.success() {
        return Err(LocalStackError::Docker {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_token_the_archive_image_runs_the_free_services() {
        let o = ContainerOptions { docker: "docker".into(), auth_token: false, log: None };
        assert_eq!(
            o.run_args().join(" "),
            "run -d --rm -p 127.0.0.1::4566 --label idp-harness=localstack -e SERVICES=iam,sts,secretsmanager,ssm,kms localstack/localstack:community-archive"
        );
    }

    #[test]
    fn with_a_token_the_current_image_gets_it_by_name_only() {
        let o = ContainerOptions { docker: "docker".into(), auth_token: true, log: None };
        let args = o.run_args();
        assert_eq!(
            args.join(" "),
            "run -d --rm -p 127.0.0.1::4566 --label idp-harness=localstack -e LOCALSTACK_AUTH_TOKEN localstack/localstack:latest"
        );
        assert!(!args.iter().any(|a| a.starts_with("LOCALSTACK_AUTH_TOKEN=")));
    }

    #[test]
    fn port_and_remove_commands() {
        assert_eq!(port_args("abc").join(" "), "port abc 4566/tcp");
        assert_eq!(remove_args("abc").join(" "), "rm -f abc");
        assert_eq!(parse_host_port("127.0.0.1:49153\n"), Some(49153));
        assert_eq!(parse_host_port("[::1]:5000\n127.0.0.1:5001\n"), Some(5000));
        assert_eq!(parse_host_port("Error: No public port '4566/tcp' published"), None);
    }

    #[test]
    fn the_host_process_is_told_where_to_listen_and_keep_state() {
        let env = host_env(4567, Path::new("/tmp/x"), &["iam".into(), "sts".into()]);
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("GATEWAY_LISTEN"), Some("127.0.0.1:4567"));
        assert_eq!(get("FILESYSTEM_ROOT"), Some("/tmp/x"));
        assert_eq!(get("OVERRIDE_IN_DOCKER"), Some("0"));
        assert_eq!(get("SERVICES"), Some("iam,sts"));
        assert_eq!(get("EAGER_SERVICE_LOADING"), Some("1"));
        assert_eq!(host_env(1, Path::new("/"), &[]).iter().find(|(n, _)| *n == "SERVICES"), None);
    }

    #[test]
    fn available_services_come_from_the_health_document() {
        let h =
            serde_json::json!({"services": {"iam": "available", "rds": "disabled", "sts": "running", "s3": "error"}});
        assert_eq!(available_services(&h), vec!["iam", "sts"]);
        assert!(available_services(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn a_missing_venv_says_how_to_make_it() {
        let err = LocalStack::start(&LocalStackOptions::new("/nonexistent/python".into())).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("LocalStack's Python was not found at /nonexistent/python: run `make localstack-setup` (it installs the pinned localstack-core into localstack/.venv), or use --aws moto")
        );
    }

    #[test]
    fn a_missing_docker_cli_is_named() {
        let o = ContainerOptions { docker: "/nonexistent/docker".into(), auth_token: false, log: None };
        let err = LocalStackContainer::start(&o).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("no Docker CLI: /nonexistent/docker was not found; --aws localstack-container needs Docker: install it, or use --aws moto or localstack")
        );
    }

    /// A fake docker CLI in a temporary directory that logs its arguments to `calls` and
    /// answers as an engine would, publishing the container's port as `port`.
    fn fake_docker(dir: &Path, port: u16) -> (String, PathBuf) {
        let calls = dir.join("calls");
        let script = format!(
            "#!/bin/sh\necho \"$*\" >> {calls}\ncase \"$1\" in\n  info) echo 27.0;;\n  run) echo c0ffee;;\n  port) echo 127.0.0.1:{port};;\n  inspect) echo true;;\nesac\n",
            calls = calls.display()
        );
        let fake = dir.join("docker");
        std::fs::write(&fake, script).expect("write");
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        (fake.display().to_string(), calls)
    }

    /// Answers every connection with a LocalStack health document, in a thread.
    fn health_server() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { break };
                let mut buf = [0u8; 1024];
                let _ = std::io::Read::read(&mut s, &mut buf);
                let _ = std::io::Write::write_all(
                    &mut s,
                    b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"services\": {\"iam\": \"available\"}}",
                );
            }
        });
        port
    }

    #[test]
    fn the_container_is_run_found_checked_and_removed_with_these_commands() {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = health_server();
        let (docker, calls) = fake_docker(dir.path(), port);
        let c = LocalStackContainer::start(&ContainerOptions { docker: docker.clone(), auth_token: false, log: None })
            .unwrap_or_else(|e| panic!("starts: {e}"));
        assert_eq!(c.url(), format!("http://127.0.0.1:{port}"));
        assert_eq!((c.id(), c.image()), ("c0ffee", ARCHIVE_IMAGE));
        assert!(c.check().is_ok());
        drop(c);
        let log = std::fs::read_to_string(&calls).expect("calls");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "info --format {{.ServerVersion}}",
                "run -d --rm -p 127.0.0.1::4566 --label idp-harness=localstack -e SERVICES=iam,sts,secretsmanager,ssm,kms localstack/localstack:community-archive",
                "port c0ffee 4566/tcp",
            ]
        );
        assert!(lines.contains(&"rm -f c0ffee"), "{log}");
    }

    #[test]
    fn the_guard_removes_the_container_when_its_stdin_closes() {
        // What happens when the harness dies: the kernel closes the pipe.
        let dir = tempfile::tempdir().expect("tempdir");
        let (docker, calls) = fake_docker(dir.path(), 1);
        let mut guard = guard_command(Path::new(&docker), "c0ffee")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("guard starts");
        drop(guard.stdin.take());
        assert!(guard.wait().expect("guard ends").success());
        assert_eq!(std::fs::read_to_string(&calls).expect("calls"), "rm -f c0ffee\n");
    }

    #[test]
    fn an_unreachable_engine_is_named() {
        // A docker CLI whose `info` fails as it does without an engine.
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("docker");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2\nexit 1\n",
        )
        .expect("write");
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let o = ContainerOptions { docker: fake.display().to_string(), auth_token: false, log: None };
        let err = LocalStackContainer::start(&o).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("no Docker engine: `"), "{err}");
        assert!(err.ends_with("info` failed (Cannot connect to the Docker daemon at unix:///var/run/docker.sock.); start Docker, or use --aws moto or localstack"), "{err}");
    }
}
