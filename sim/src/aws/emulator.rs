//! The AWS emulator process: a moto server from the set-up's Python venv, started on a free
//! loopback port, health-checked, and always stopped.
//!
//! Stopping does not depend on this process exiting cleanly: moto runs under a small wrapper
//! whose watchdog thread exits as soon as its stdin (a pipe this process holds) closes, which
//! the kernel does when this process ends for any reason (panic, Ctrl-C, SIGKILL). Dropping a
//! [`Moto`] kills it at once. The process plumbing ([`Watched`]: piped stdio, kept output,
//! stop on drop) is shared with `super::localstack`. This module must not know about scenarios
//! or accounts (accounts are access key ids, see `super::AwsTarget`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The wrapper: a watchdog on stdin, then moto's own server entry point.
pub const WRAPPER: &str = r#"
import gc, os, sys, threading
def watch():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        os._exit(0)
threading.Thread(target=watch, daemon=True).start()
# Python's full garbage collections walk every object alive: with moto's and botocore's
# models imported, 50 to 100 ms each, during which every AWS call waits. None runs while the
# models load; then they are frozen (never walked again), and collections go on as usual
# over what requests make.
gc.disable()
def speed_up():
    # Work moto 5.2 repeats on every request or every new account, although its result never
    # changes in a process: memoised here. Each patch only caches a pure function of its
    # arguments; if moto's internals differ, the patch is skipped and only speed is lost.
    import functools
    try:
        import moto.backends as backends
        modules = tuple(backends.list_of_moto_modules())  # a directory scan per request
        backends.list_of_moto_modules = lambda: modules
    except Exception:
        pass
    try:
        import moto.core.errors as errors
        shared = errors.ErrorLookupFactory()  # a new error table per error answer
        errors.ErrorLookupFactory = lambda: shared
    except Exception:
        pass
    try:
        import moto.core.utils as utils
        loader = utils.create_loader()  # a new loader per model lists every botocore service again
        utils.create_loader = lambda: loader
    except Exception:
        pass
    try:
        import moto.core.responses as responses
        names = functools.lru_cache(maxsize=None)(responses.method_names_from_class)
        responses.method_names_from_class = lambda clazz: list(names(clazz))  # inspects per request
    except Exception:
        pass
    try:
        from moto.core.base_backend import AccountSpecificBackend as asb
        generate = asb._generate_regions.__wrapped__
        regions = functools.lru_cache(maxsize=None)(lambda service: tuple(generate(None, service)))
        asb._generate_regions = lambda self, service: list(regions(service))  # per account
    except Exception:
        pass
    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication as dda
        find, hosts = dda.get_backend_for_host, {}
        def backend_for_host(self, host):  # every service's URL patterns tried, per request
            if host not in hosts:
                if len(hosts) > 1024:
                    hosts.clear()
                hosts[host] = find(self, host)
            return hosts[host]
        dda.get_backend_for_host = backend_for_host
    except Exception:
        pass
    try:
        import boto3.session
        original, sessions = boto3.session.Session.get_available_regions, []
        @functools.lru_cache(maxsize=None)
        def available(*a, **k):  # each new Session parses the endpoint tables again
            if not sessions:
                sessions.append(boto3.session.Session())
            return tuple(original(sessions[0], *a, **k))
        boto3.session.Session.get_available_regions = lambda self, *a, **k: list(available(*a, **k))
    except Exception:
        pass
def warm():
    # moto imports a service's models on its first request (RDS alone takes most of a
    # second): import the ones the simulator calls while the first scenarios start.
    try:
        from moto.backends import get_backend
        from moto.core.utils import get_service_model
        for service in ("iam", "sts", "secretsmanager", "organizations", "rds"):
            get_backend(service)
            get_service_model(service)
    except Exception as e:
        sys.stderr.write("idp-harness: warming moto up failed (first calls will be slower): %s\n" % e)
    finally:
        gc.freeze()
        gc.enable()
def serve(argv):
    # moto's own entry point serves with werkzeug's development server, which closes the
    # connection after every answer: a TCP connection and a new thread per AWS call. waitress
    # (pinned in requirements.txt) keeps connections open and answers from a thread pool.
    # It drops header names with an underscore, which only S3 object metadata uses. Without
    # waitress, moto's own server.
    try:
        from moto.server import main
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    except ImportError as e:
        sys.stderr.write("idp-harness: cannot import moto.server: %s\n" % e)
        sys.exit(3)
    try:
        import waitress.server
    except ImportError:
        sys.stderr.write("idp-harness: waitress is not installed (run `make setup`): moto serves with its slower development server\n")
        import werkzeug.serving
        werkzeug.serving.WSGIRequestHandler.log_request = lambda *args, **kwargs: None
        main(argv)
        return
    host, port = "127.0.0.1", 0
    for flag, value in zip(argv, argv[1:]):
        if flag == "-H":
            host = value
        elif flag == "-p":
            port = int(value)
    app = DomainDispatcherApplication(create_backend_app)
    # A connection stays open while its client keeps it (the simulator's HTTP client pools
    # them); a request never waits for a free thread behind idle connections.
    server = waitress.server.create_server(
        app, host=host, port=port, threads=4, connection_limit=1000, channel_timeout=86400, ident="moto"
    )
    port = int(server.effective_port)
    os.environ["MOTO_PORT"] = str(port)  # moto builds some URLs from it
    print(" * Running on http://%s:%d" % (host, port), flush=True)
    server.run()
# moto's default AMIs (hundreds of made-up images) are loaded for every new account and
# region that touches EC2, which RDS does for its default VPC: the simulator uses none.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
# Flask-CORS headers on every answer are for browsers; AWS clients do not read them.
os.environ.setdefault("MOTO_DISABLE_GLOBAL_CORS", "true")
speed_up()
threading.Thread(target=warm, daemon=True).start()
serve(sys.argv[1:])
"#;

/// How long moto may take to listen (it takes about 1 s here).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the emulator is not available.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("Python was not found at {0} (the AWS emulator moto runs from the set-up's venv): run `make setup`")]
    PythonMissing(PathBuf),
    #[error("moto is not installed in {python} (run `make setup`, which installs the pinned moto[server]): {detail}")]
    MotoMissing { python: PathBuf, detail: String },
    #[error("the AWS emulator cannot listen on port {port}: the port is busy")]
    PortBusy { port: u16 },
    #[error("cannot start the AWS emulator ({python}): {source}")]
    Spawn {
        python: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the AWS emulator (moto) exited before it was ready ({status}); its last output:\n{output}")]
    EarlyExit { status: String, output: String },
    #[error("the AWS emulator (moto) was not ready within {0:?}; its last output:\n{1}")]
    NotReady(Duration, String),
    #[error("the AWS emulator (moto, pid {pid}, {url}) has stopped ({status}); its last output:\n{output}")]
    Died { pid: u32, url: String, status: String, output: String },
}

/// How to start moto.
#[derive(Debug, Clone)]
pub struct MotoOptions {
    /// The venv's Python (it must have `moto[server]`).
    pub python: PathBuf,
    /// 0: any free port.
    pub port: u16,
    /// Where moto's output goes (besides the last lines kept for error messages).
    pub log: Option<PathBuf>,
}

/// A running moto server. Dropping it stops the process.
pub struct Moto {
    process: Watched,
    url: String,
    started_in: Duration,
}

impl Moto {
    /// Starts moto and waits until it answers.
    pub fn start(opts: &MotoOptions) -> Result<Moto, EmulatorError> {
        if !opts.python.is_file() {
            return Err(EmulatorError::PythonMissing(opts.python.clone()));
        }
        let began = Instant::now();
        let mut cmd = Command::new(&opts.python);
        cmd.arg("-c").arg(WRAPPER).args(["-H", "127.0.0.1", "-p", &opts.port.to_string()]).env("PYTHONUNBUFFERED", "1");
        let (port_tx, port_rx) = mpsc::channel::<u16>();
        let process = Watched::spawn(&mut cmd, "moto", opts.log.as_deref(), Some((listening_port, port_tx)))
            .map_err(|source| EmulatorError::Spawn { python: opts.python.clone(), source })?;
        let mut moto = Moto { process, url: String::new(), started_in: Duration::ZERO };
        let deadline = began + START_TIMEOUT;
        let not_ready = |moto: &Moto, end: StartEnd| match end {
            StartEnd::Exited(status) => moto.early_exit_error(&opts.python, opts.port, status),
            StartEnd::TimedOut => EmulatorError::NotReady(START_TIMEOUT, moto.process.tail_text()),
        };
        let port = moto
            .process
            .poll(deadline, Duration::ZERO, || port_rx.recv_timeout(Duration::from_millis(50)).ok())
            .map_err(|end| not_ready(&moto, end))?;
        moto.url = format!("http://127.0.0.1:{port}");
        // Listening is announced once the socket is bound; one request proves it serves.
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        moto.process
            .poll(deadline, Duration::from_millis(20), || health(addr).ok())
            .map_err(|end| not_ready(&moto, end))?;
        moto.started_in = began.elapsed();
        tracing::debug!(url = %moto.url, pid = moto.pid(), elapsed = ?moto.started_in, "moto ready");
        Ok(moto)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// How long start-up took (spawn to first answer).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Ok while the process runs; the reason when it has stopped.
    pub fn check(&self) -> Result<(), EmulatorError> {
        match self.process.exited() {
            None => Ok(()),
            Some(status) => Err(EmulatorError::Died {
                pid: self.pid(),
                url: self.url.clone(),
                status,
                output: self.process.tail_text(),
            }),
        }
    }

    /// Forgets every account's state (`POST /moto-api/reset`).
    pub fn reset(&self) -> std::io::Result<()> {
        let addr: SocketAddr =
            self.url.trim_start_matches("http://").parse().map_err(|_| std::io::Error::other("bad moto url"))?;
        request(addr, "POST", "/moto-api/reset").map(|_| ())
    }

    fn early_exit_error(&self, python: &Path, port: u16, status: String) -> EmulatorError {
        let output = self.process.tail_text();
        if output.contains("cannot import moto.server") || output.contains("No module named") {
            return EmulatorError::MotoMissing { python: python.to_path_buf(), detail: output.trim().to_string() };
        }
        if port != 0 && port_busy(&output) {
            return EmulatorError::PortBusy { port };
        }
        EmulatorError::EarlyExit { status, output }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.process.stop(Duration::ZERO);
    }
}

/// True when a server's output says its port is taken.
pub(crate) fn port_busy(output: &str) -> bool {
    output.contains("Address already in use") || output.contains("is in use by another program")
}

/// Reads a line of a process's output and says which port it listens on, if the line says so.
pub(crate) type Announce = (fn(&str) -> Option<u16>, mpsc::Sender<u16>);

/// A child process run under a stdin watchdog (see [`WRAPPER`]): its stdin is a pipe only this
/// process holds, its output is logged and its last lines kept for error messages, and it is
/// stopped on [`Watched::stop`] or drop. Shared by the emulators run as host processes.
pub(crate) struct Watched {
    child: Mutex<Child>,
    /// Held open until [`Watched::stop`]: closing it tells the watchdog to exit.
    stdin: Mutex<Option<ChildStdin>>,
    pid: u32,
    tail: Arc<Mutex<Tail>>,
}

/// Why [`Watched::poll`] gave up.
pub(crate) enum StartEnd {
    /// The process exited (its status).
    Exited(String),
    /// The deadline passed.
    TimedOut,
}

impl Watched {
    /// Calls `probe` until it gives a value, sleeping `every` between calls; gives up when the
    /// process exits or `deadline` passes (the start-up wait of every emulator).
    pub(crate) fn poll<T>(
        &self,
        deadline: Instant,
        every: Duration,
        mut probe: impl FnMut() -> Option<T>,
    ) -> Result<T, StartEnd> {
        loop {
            if let Some(v) = probe() {
                return Ok(v);
            }
            if let Some(status) = self.exited() {
                return Err(StartEnd::Exited(status));
            }
            if Instant::now() > deadline {
                return Err(StartEnd::TimedOut);
            }
            std::thread::sleep(every);
        }
    }

    /// Spawns `cmd` with piped stdio. `what` names the output reader threads; `announce` is
    /// given the port the first time its parser finds one in the output.
    pub(crate) fn spawn(
        cmd: &mut Command,
        what: &str,
        log: Option<&Path>,
        announce: Option<Announce>,
    ) -> std::io::Result<Watched> {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let pid = child.id();
        let (stdin, stdout, stderr) = match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(i), Some(o), Some(e)) => (i, o, e),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(std::io::Error::other("no pipes to the child process"));
            }
        };
        let watched = Watched {
            child: Mutex::new(child),
            stdin: Mutex::new(Some(stdin)),
            pid,
            tail: Arc::new(Mutex::new(Tail::default())),
        };
        let log = log.and_then(|p| std::fs::File::create(p).ok()).map(|f| Arc::new(Mutex::new(f)));
        for (stream, announce) in
            [(Box::new(stderr) as Box<dyn Read + Send>, announce.clone()), (Box::new(stdout), announce)]
        {
            let (tail, log) = (watched.tail.clone(), log.clone());
            // On failure `watched` is dropped, which kills the child.
            std::thread::Builder::new()
                .name(format!("{what}-output"))
                .spawn(move || read_output(stream, tail, log, announce))?;
        }
        Ok(watched)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// None while the process runs; its exit status once it has stopped.
    pub(crate) fn exited(&self) -> Option<String> {
        let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match c.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot tell: {e}")),
        }
    }

    /// The last lines of its output.
    pub(crate) fn tail_text(&self) -> String {
        // Give the readers a moment to drain what the process wrote last.
        std::thread::sleep(Duration::from_millis(20));
        self.tail.lock().unwrap_or_else(|e| e.into_inner()).text()
    }

    /// Closes stdin (the watchdog then cleans up and exits), gives the process `grace` to go,
    /// then kills it. Idempotent.
    pub(crate) fn stop(&self, grace: Duration) {
        drop(self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take());
        let until = Instant::now() + grace;
        while Instant::now() < until && self.exited().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

/// The last lines of the process's output.
#[derive(Default)]
struct Tail(std::collections::VecDeque<String>);

impl Tail {
    fn push(&mut self, line: String) {
        if self.0.len() == 40 {
            self.0.pop_front();
        }
        self.0.push_back(line);
    }
    fn text(&self) -> String {
        self.0.iter().map(|l| format!("  {l}\n")).collect()
    }
}

fn read_output(
    stream: Box<dyn Read + Send>,
    tail: Arc<Mutex<Tail>>,
    log: Option<Arc<Mutex<std::fs::File>>>,
    announce: Option<Announce>,
) {
    let mut announced = false;
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        let plain = strip_ansi(&line);
        if !announced {
            if let Some((parse, tx)) = &announce {
                if let Some(p) = parse(&plain) {
                    let _ = tx.send(p);
                    announced = true;
                }
            }
        }
        if let Some(log) = &log {
            let _ = writeln!(log.lock().unwrap_or_else(|e| e.into_inner()), "{plain}");
        }
        tail.lock().unwrap_or_else(|e| e.into_inner()).push(plain);
    }
}

/// The port of the ` * Running on http://127.0.0.1:<port>` line (the wrapper's, or werkzeug's).
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("Running on http://").nth(1)?;
    let hostport = rest.split_whitespace().next()?;
    hostport.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn health(addr: SocketAddr) -> std::io::Result<u16> {
    request(addr, "GET", "/moto-api/data.json")
}

/// A minimal HTTP/1.0 request; returns the status code.
fn request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n")?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    let code = std::str::from_utf8(&head[9..12]).ok().and_then(|c| c.parse().ok());
    code.ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}

/// A minimal HTTP/1.0 request; returns the status code and the body (read to the end: the
/// server closes HTTP/1.0 connections).
pub(crate) fn fetch(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n")?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let text = String::from_utf8_lossy(&all);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code =
        head.get(9..12).and_then(|c| c.parse().ok()).ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    Ok((code, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_werkzeug_announces() {
        assert_eq!(listening_port(" * Running on http://127.0.0.1:36055"), Some(36055));
        assert_eq!(listening_port(&strip_ansi("\u{1b}[33m * Running on http://127.0.0.1:5000/\u{1b}[0m")), Some(5000));
        assert_eq!(listening_port("Press CTRL+C to quit"), None);
    }

    #[test]
    fn a_missing_python_is_named() {
        let err = Moto::start(&MotoOptions { python: "/nonexistent/python".into(), port: 0, log: None })
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("Python was not found at /nonexistent/python (the AWS emulator moto runs from the set-up's venv): run `make setup`")
        );
    }
}
