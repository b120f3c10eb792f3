//! Running the git CLI for the scenario repositories, isolated from the machine's Git set-up.
//!
//! Every invocation gets a cleared environment (only `PATH` and `TMPDIR` are passed through),
//! no system or global configuration, no terminal prompts, the C locale, a fixed identity
//! (`idp-harness <idp-harness@localhost>`) and, when asked, fixed dates, so that the same
//! inputs give the same commit SHAs on every machine. Each call waits for its process: nothing
//! is left running. This module must not know about Flux, refs or scenarios: it runs one git
//! command in one directory and reports its failure with the command line and stderr.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::GitError;

/// The name and email of every commit, tag and tagger in the scenario repositories.
pub const IDENTITY_NAME: &str = "idp-harness";
/// See [`IDENTITY_NAME`].
pub const IDENTITY_EMAIL: &str = "idp-harness@localhost";
/// 2026-01-01T00:00:00Z: the date of a repository's first commit; each later commit or
/// annotated tag in the same repository is one second later.
pub const EPOCH: i64 = 1_767_225_600;

/// Configuration given to every command with `-c` (no config file is read).
const CONFIG: &[&str] = &[
    "gc.auto=0",
    "maintenance.auto=false",
    "core.autocrlf=false",
    "core.fsync=none",
    "core.quotePath=false",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "advice.detachedHead=false",
    // fast-import keeps what it writes as one pack: below its default limit (100 objects) it
    // starts `git unpack-objects` to write each object as a file of its own, which costs a
    // process and, on ext4 with many recent deletions, slow inode allocation.
    "fastimport.unpackLimit=0",
];

/// One git command to run in a directory (`git -C <dir> ...`).
pub(crate) struct GitCmd<'a> {
    dir: &'a Path,
    args: Vec<OsString>,
    env: Vec<(&'static str, OsString)>,
    stdin: Option<Vec<u8>>,
}

impl<'a> GitCmd<'a> {
    pub(crate) fn new(dir: &'a Path) -> Self {
        GitCmd { dir, args: Vec::new(), env: Vec::new(), stdin: None }
    }

    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn env(mut self, key: &'static str, value: impl Into<OsString>) -> Self {
        self.env.push((key, value.into()));
        self
    }

    /// Author and committer (and tagger) date: [`EPOCH`] plus `seq` seconds, UTC.
    pub(crate) fn date(self, seq: u64) -> Self {
        let date = format!("{} +0000", EPOCH + seq as i64);
        self.env("GIT_AUTHOR_DATE", date.clone()).env("GIT_COMMITTER_DATE", date)
    }

    pub(crate) fn stdin(mut self, input: Vec<u8>) -> Self {
        self.stdin = Some(input);
        self
    }

    fn command_line(&self) -> String {
        let mut line = String::from("git");
        for arg in &self.args {
            line.push(' ');
            line.push_str(&arg.to_string_lossy());
        }
        line
    }

    /// Runs the command; its stdout on success, [`GitError::Command`] on a non-zero exit.
    pub(crate) fn run(self) -> Result<Vec<u8>, GitError> {
        let output = self.output()?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        Err(GitError::Command {
            dir: self.dir.to_path_buf(),
            command: self.command_line(),
            status: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }

    /// Runs the command; its stdout as text (lossy), trimmed of the final newline.
    pub(crate) fn run_text(self) -> Result<String, GitError> {
        let out = self.run()?;
        let mut text = String::from_utf8_lossy(&out).into_owned();
        while text.ends_with('\n') {
            text.pop();
        }
        Ok(text)
    }

    /// Runs the command and returns its full output whatever the exit status.
    pub(crate) fn output(&self) -> Result<std::process::Output, GitError> {
        let mut cmd = Command::new(git_program());
        cmd.env_clear();
        for key in ["PATH", "TMPDIR"] {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_ATTR_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("LC_ALL", "C")
            .env("GIT_AUTHOR_NAME", IDENTITY_NAME)
            .env("GIT_AUTHOR_EMAIL", IDENTITY_EMAIL)
            .env("GIT_COMMITTER_NAME", IDENTITY_NAME)
            .env("GIT_COMMITTER_EMAIL", IDENTITY_EMAIL);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd.arg("-C").arg(self.dir);
        for c in CONFIG {
            cmd.arg("-c").arg(c);
        }
        cmd.args(&self.args);
        cmd.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| GitError::Spawn { source })?;
        let input = child.stdin.take();
        let output = std::thread::scope(|scope| {
            if let (Some(mut pipe), Some(data)) = (input, self.stdin.as_deref()) {
                // A separate writer, so that a command filling its stdout pipe cannot deadlock
                // against us filling its stdin. A write error (the command exited early) shows
                // up as the command's own failure below.
                scope.spawn(move || {
                    let _ = pipe.write_all(data);
                });
            }
            child.wait_with_output()
        });
        output.map_err(|source| GitError::Wait { dir: self.dir.to_path_buf(), command: self.command_line(), source })
    }
}

/// The git executable: found once on `PATH`. An absolute path also lets the standard library
/// start it with `posix_spawn` instead of forking this (large) process, which it must do when
/// a program is looked up on a `PATH` the command sets itself.
fn git_program() -> &'static std::path::Path {
    static GIT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    GIT.get_or_init(|| {
        std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths).map(|d| d.join("git")).find(|p| {
                    use std::os::unix::fs::PermissionsExt;
                    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                })
            })
            // Not found: spawning fails with the usual "not found" error.
            .unwrap_or_else(|| std::path::PathBuf::from("git"))
    })
}

/// `git init` of a fresh, non-bare repository with the given initial branch, without the
/// template directory (no sample hooks).
pub(crate) fn init(dir: &Path, branch: &str) -> Result<(), GitError> {
    std::fs::create_dir_all(dir).map_err(|source| GitError::Io {
        path: dir.to_path_buf(),
        action: "create",
        source,
    })?;
    GitCmd::new(dir).args(["init", "-q", "--template=", "-b", branch]).run()?;
    Ok(())
}
