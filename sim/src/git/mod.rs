//! Scenario Git repositories and the Git side of the simulated Flux source-controller.
//!
//! A scenario names Git repositories by the URL its GitRepositories use and a local directory
//! whose contents become the first commit ([`RepoSpec`]); [`Repos`] creates them as real Git
//! repositories (with the git CLI, isolated from the machine's Git configuration, with fixed
//! identity and dates so SHAs are the same on every run) and lets steps add commits, branches
//! and tags ([`RepoHandle`]). The simulated source-controller looks a GitRepository's
//! `spec.url` up in [`Repos`], resolves `spec.ref` with [`RepoHandle::resolve`] (Flux's
//! precedence, revision format and failure messages, [`FetchError`]) and writes the tree with
//! [`RepoHandle::export`] (Flux's ignore rules), then digests it with [`artifact_digest`].
//!
//! This module must not know about the API server, GitRepository objects, conditions or
//! scenarios: the controller maps `spec.ref`/`spec.ignore` onto [`GitRef`] and a string, and
//! [`FetchError::reason`]/[`FetchError::message`] onto its conditions. It must not reach any
//! network: an unknown URL is the caller's case ([`unknown_url_message`]).
//!
//! The pieces:
//! * [`repo`]: the registry, repository creation and changes;
//! * [`fetch`]: resolving a ref as source-controller does;
//! * [`constraint`]: Masterminds-style semver constraints for `spec.ref.semver`;
//! * [`export`] and [`ignore`]: writing a commit's tree, filtered as source-controller
//!   filters its artifacts, and the artifact digest;
//! * `memo`: repositories and exports made before, remembered so that the same one is
//!   written out as files instead of being made by git again;
//! * [`url`]: URL normalisation for lookups;
//! * `cmd`: running git.

mod cmd;
pub mod constraint;
mod error;
pub mod export;
pub mod fetch;
pub mod ignore;
mod memo;
pub mod repo;
pub mod url;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use cmd::{EPOCH, IDENTITY_EMAIL, IDENTITY_NAME};
pub use error::GitError;
pub use export::{artifact_digest, ExportStats};
pub use fetch::{FetchError, GitRef, Resolved, DEFAULT_BRANCH, FETCH_FAILED_CONDITION, GIT_OPERATION_FAILED};
pub use repo::{Change, RefSpec, RepoHandle, RepoSpec, Repos, Sha, DEFAULT_INITIAL_BRANCH, INITIAL_COMMIT_MESSAGE};
pub use url::{normalize_url, unknown_url_message};

impl RepoHandle {
    /// Writes the tree of commit `sha` into `dest` (created if missing, else it must be empty)
    /// and removes what source-controller would leave out of the artifact: its default
    /// exclusions, `.sourceignore` files and `ignore` (`spec.ignore`); see [`ignore`].
    pub fn export(&self, sha: &Sha, dest: &Path, ignore: Option<&str>) -> Result<ExportStats, GitError> {
        export::export_tree(self.dir(), sha.as_str(), dest, ignore)
    }

    /// The full message of commit `sha` (source-controller's NewArtifact event quotes its
    /// subject).
    /// A commit's SHA covers its message, so messages are kept process-wide by SHA (scenarios
    /// made from the same fixtures have the same commits).
    pub fn commit_message(&self, sha: &Sha) -> Result<String, GitError> {
        static MESSAGES: crate::cache::Cache<String> = crate::cache::Cache::new(4096);
        MESSAGES.get_or_try_insert_with(sha.as_str(), || {
            cmd::GitCmd::new(self.dir()).args(["show", "-s", "--format=%B", sha.as_str()]).run_text()
        })
    }
}
