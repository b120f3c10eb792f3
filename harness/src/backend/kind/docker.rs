//! External commands of the kind backend (docker, kind, helm, kubectl) as data: a
//! [`CommandLine`] is built by pure functions elsewhere (so tests can check every argument),
//! printed by `kind up --dry-run`, and run here. This module must not decide what to run; it
//! only runs what it is given, with stdin fed when asked, and reports failures with the
//! command and its stderr. Values of secrets are never put on a command line: environment
//! variables are passed by name ([`CommandLine::env_pass`]).
//!
//! Why the docker CLI and not bollard: see `docs/kind.md` ("Why the docker CLI"). In short,
//! the backend needs the kind, helm and kubectl CLIs anyway, the simulator already drives
//! LocalStack through the docker CLI, and bollard added measurable clean-build time for
//! a handful of calls.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One command line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommandLine {
    pub program: String,
    pub args: Vec<String>,
    /// Text fed to stdin (a manifest for `kubectl apply -f -`, values for `helm -f -`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Environment variables set for the command (non-secret values only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
}

impl CommandLine {
    pub fn new(program: &str, args: impl IntoIterator<Item = impl Into<String>>) -> CommandLine {
        CommandLine {
            program: program.to_string(),
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
            env: Vec::new(),
        }
    }

    pub fn with_stdin(mut self, text: impl Into<String>) -> CommandLine {
        self.stdin = Some(text.into());
        self
    }

    pub fn with_env(mut self, name: &str, value: &str) -> CommandLine {
        self.env.push((name.to_string(), value.to_string()));
        self
    }
}

impl fmt::Display for CommandLine {
    /// Shell-like: arguments with spaces or quotes are single-quoted; stdin is noted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.env {
            write!(f, "{k}={} ", quote(v))?;
        }
        write!(f, "{}", self.program)?;
        for a in &self.args {
            write!(f, " {}", quote(a))?;
        }
        if let Some(s) = &self.stdin {
            write!(f, " <<< ({} lines on stdin)", s.lines().count())?;
        }
        Ok(())
    }
}

fn quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%^{}[]".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A command that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("`{program}` was not found on PATH: {hint}")]
    Missing { program: String, hint: &'static str },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed { command: String, status: String, stderr: String },
    #[error("`{command}` did not finish within {timeout:?}")]
    Timeout { command: String, timeout: Duration },
}

impl ExecError {
    /// The stderr of a failed command ("" otherwise).
    pub fn stderr(&self) -> &str {
        match self {
            ExecError::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }
}

/// How to install a missing tool.
pub fn install_hint(program: &str) -> &'static str {
    match program {
        "docker" => "install Docker (docs/kind.md, Requirements) and start its engine",
        "kind" => "install kind (the version in harness/src/backend/kind/versions.rs, KIND_VERSION)",
        "helm" => "install helm 3 (the version in harness/src/backend/kind/versions.rs, HELM_VERSION)",
        "kubectl" => "run `make setup` (it installs kubectl into .venv/bin) or put kubectl on PATH",
        _ => "install it or put it on PATH",
    }
}

/// `name` on PATH (or as given, when it contains a slash).
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
}

/// Runs `cmd`, returns its stdout. A non-zero exit is an error carrying stderr (trimmed to its
/// last 40 lines).
pub fn run(cmd: &CommandLine) -> Result<String, ExecError> {
    let program = if cmd.program == "kubectl" {
        crate::backend::find_kubectl().or_else(|| which("kubectl"))
    } else {
        which(&cmd.program)
    }
    .ok_or_else(|| ExecError::Missing { program: cmd.program.clone(), hint: install_hint(&cmd.program) })?;
    let mut c = Command::new(program);
    c.args(&cmd.args);
    for (k, v) in &cmd.env {
        c.env(k, v);
    }
    c.stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|source| ExecError::Spawn { command: cmd.to_string(), source })?;
    if let (Some(text), Some(mut stdin)) = (&cmd.stdin, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).map_err(|source| ExecError::Spawn { command: cmd.to_string(), source })?;
    }
    let out = child.wait_with_output().map_err(|source| ExecError::Spawn { command: cmd.to_string(), source })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        Err(ExecError::Failed { command: cmd.to_string(), status: out.status.to_string(), stderr: tail })
    }
}

/// Runs `cmd` until it succeeds or `timeout` passes, `every` apart; the last error on timeout.
pub fn retry(cmd: &CommandLine, timeout: Duration, every: Duration) -> Result<String, ExecError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match run(cmd) {
            Ok(out) => return Ok(out),
            Err(e @ (ExecError::Missing { .. } | ExecError::Spawn { .. })) => return Err(e),
            Err(e) if std::time::Instant::now() + every > deadline => {
                return Err(ExecError::Failed {
                    command: cmd.to_string(),
                    status: format!("still failing after {timeout:?}"),
                    stderr: e.stderr().to_string(),
                })
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let c = CommandLine::new("docker", ["run", "-e", "A=b c", "it's"]).with_env("K", "v");
        assert_eq!(c.to_string(), r"K=v docker run -e 'A=b c' 'it'\''s'");
        let c = CommandLine::new("kubectl", ["apply", "-f", "-"]).with_stdin("a\nb\n");
        assert_eq!(c.to_string(), "kubectl apply -f - <<< (2 lines on stdin)");
    }

    #[test]
    fn a_missing_program_names_itself_and_the_fix() {
        let e = run(&CommandLine::new("idp-harness-no-such-tool", ["x"])).unwrap_err();
        assert!(matches!(e, ExecError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("idp-harness-no-such-tool"));
    }

    #[test]
    fn failures_carry_stderr_and_success_returns_stdout() {
        let ok = run(&CommandLine::new("sh", ["-c", "cat; echo out"]).with_stdin("in\n")).unwrap();
        assert_eq!(ok, "in\nout\n");
        let e = run(&CommandLine::new("sh", ["-c", "echo boom >&2; exit 3"])).unwrap_err();
        assert_eq!(e.stderr(), "boom");
        assert!(e.to_string().contains("exit status: 3"), "{e}");
    }
}
