//! The error type of the scenario Git repositories: creating them, committing, exporting.
//!
//! Every variant names what it was working on (the repository's URL or directory, the path,
//! the git command and its stderr), so that a scenario author can act on the message alone.
//! This module must not hold Flux's fetch failures: those are [`super::FetchError`], worded
//! as source-controller words them.

use std::path::PathBuf;

/// A failure creating, changing or exporting a scenario Git repository.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started (not installed, not on PATH).
    #[error("cannot run git ({source}); the simulator's Git repositories need the git CLI on PATH")]
    Spawn {
        #[source]
        source: std::io::Error,
    },
    /// Waiting for git or reading its output failed.
    #[error("{command} in {}: cannot read its output: {source}", dir.display())]
    Wait {
        dir: PathBuf,
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// git exited with a failure.
    #[error("{command} failed in {} (exit status {}): {stderr}", dir.display(), status.map_or_else(|| "none: killed by a signal".to_string(), |c| c.to_string()))]
    Command { dir: PathBuf, command: String, status: Option<i32>, stderr: String },
    /// git printed something this module could not read.
    #[error("unexpected output from {command} in {}: {detail}", dir.display())]
    Output { dir: PathBuf, command: String, detail: String },
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A symbolic link in a directory copied into a repository.
    #[error("{} is a symbolic link; scenario Git repositories take regular files and directories only (copy the link's target instead)", path.display())]
    Symlink { path: PathBuf },
    /// Something else that is neither a regular file nor a directory (socket, FIFO, device).
    #[error("{} is neither a regular file nor a directory; scenario Git repositories take regular files and directories only", path.display())]
    UnsupportedFile { path: PathBuf },
    /// A file or directory name that is not UTF-8.
    #[error("{} has a name that is not UTF-8; scenario Git repositories take UTF-8 names only", path.display())]
    NonUtf8Name { path: PathBuf },
    /// A path inside a repository that is absolute, climbs out with `..`, is empty, or names
    /// `.git`.
    #[error("invalid path {path:?} in repository {url}: {reason}")]
    InvalidPath { url: String, path: String, reason: &'static str },
    /// `from` of a repository (or of a `CopyDir`) is not a directory.
    #[error("{} is not a directory (repository {url})", path.display())]
    NotADirectory { url: String, path: PathBuf },
    /// Two repositories with the same URL (after normalisation).
    #[error(
        "repository URL {url} is already taken by {existing} (URLs are compared after normalisation: {normalized})"
    )]
    DuplicateUrl { url: String, existing: String, normalized: String },
    /// A branch, tag or ref the operation needs does not exist.
    #[error("repository {url} has no {what} {name:?}{}", known_list(known))]
    UnknownRef { url: String, what: &'static str, name: String, known: Vec<String> },
    /// A branch or tag to create exists already.
    #[error("repository {url} already has a {what} {name:?}")]
    RefExists { url: String, what: &'static str, name: String },
    /// A name that git would not accept as a branch or tag.
    #[error("invalid {what} name {name:?} in repository {url}: {reason}")]
    InvalidRefName { url: String, what: &'static str, name: String, reason: &'static str },
    /// A `Remove` of a path that is not in the branch.
    #[error("cannot remove {path:?} from branch {branch:?} of repository {url}: no such file or directory")]
    NoSuchPath { url: String, branch: String, path: String },
    /// A commit SHA that is not a full 40-hex-digit SHA-1 or is not in the repository.
    #[error("repository {url} has no commit {sha:?}")]
    UnknownCommit { url: String, sha: String },
    /// An export destination that exists and is not an empty directory.
    #[error("cannot export into {}: it exists and is not an empty directory", path.display())]
    DestinationNotEmpty { path: PathBuf },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (it has: {})", known.join(", "))
    }
}
