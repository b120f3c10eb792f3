//! What source-controller's Git checkout does with a GitRepository's `spec.ref`: which commit
//! it takes, the revision string it records, and its failure messages.
//!
//! Behaviour and wording follow source-controller v1.8 (`internal/controller/
//! gitrepository_controller.go`, `gitCheckout` and `commitReference`) over fluxcd/pkg
//! git v0.43 (`git/gogit/client.go` `clone`, `git/gogit/clone.go`, `git/git.go`) and go-git
//! v5.19 (`remote.go` `NoMatchingRefSpecError`, `plumbing/object.go` `ErrObjectNotFound`):
//! * precedence: `commit`, then `name`, then `tag`, then `semver`, then `branch` (the order
//!   of the `switch` in fluxcd/pkg `gogit.Client.clone`; the API documentation says semver
//!   takes precedence over tag, but the code checks the tag first, and that is what runs);
//! * no ref at all (or only empty fields): branch `master` (fluxcd/pkg `git.DefaultBranch`),
//!   so a repository whose only branch is `main` fails as it does upstream;
//! * a commit must be reachable from a branch (from `branch` when it is set), because
//!   source-controller clones branch heads only (no tags) before looking the commit up; an
//!   abbreviated SHA is not found (go-git `plumbing.NewHash` wants all 40 digits);
//! * revisions: `<branch>@sha1:<sha>`, `<tag>@sha1:<sha>` (the commit's SHA, also for
//!   annotated tags), `<full ref name>@sha1:<sha>` when `name` is set, `sha1:<sha>` for a
//!   commit alone and `<branch>@sha1:<sha>` for a commit with a branch.
//!
//! This module must not write anything: [`super::export`] writes the chosen tree.

use std::cmp::Ordering;

use crate::apiserver::gofmt::go_quote;

use super::constraint::{compare, parse_tag_version, Constraints};
use super::repo::{RefEntry, RepoHandle, Sha};
use super::GitError;

/// The condition reason of every checkout failure (`sourcev1.GitOperationFailedReason`),
/// set on the `FetchFailed` condition (and mirrored on `Ready`).
pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
/// The condition type source-controller marks True on a checkout failure.
pub const FETCH_FAILED_CONDITION: &str = "FetchFailed";
/// The branch source-controller checks out when `spec.ref` names nothing.
pub const DEFAULT_BRANCH: &str = "master";

/// `spec.ref` of a GitRepository (`source.toolkit.fluxcd.io/v1`); deserializes from the
/// object's JSON. Empty strings count as absent, as in Go.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GitRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl GitRef {
    pub fn branch(name: impl Into<String>) -> Self {
        GitRef { branch: Some(name.into()), ..Default::default() }
    }

    pub fn tag(name: impl Into<String>) -> Self {
        GitRef { tag: Some(name.into()), ..Default::default() }
    }

    pub fn semver(constraint: impl Into<String>) -> Self {
        GitRef { semver: Some(constraint.into()), ..Default::default() }
    }

    pub fn name(name: impl Into<String>) -> Self {
        GitRef { name: Some(name.into()), ..Default::default() }
    }

    pub fn commit(sha: impl Into<String>) -> Self {
        GitRef { commit: Some(sha.into()), ..Default::default() }
    }
}

fn set(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|s| !s.is_empty())
}

/// The commit a GitRepository's ref resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `status.artifact.revision` (and the revision in messages and events).
    pub revision: String,
    /// The commit to export.
    pub sha: Sha,
}

/// A checkout failure, as source-controller reports it on the `FetchFailed` and `Ready`
/// conditions (reason [`GIT_OPERATION_FAILED`]). `Display` is the full condition message,
/// including the controller's prefix.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A branch or tag the clone asks for is not there (go-git `NoMatchingRefSpecError`,
    /// wrapped by fluxcd/pkg `gogit` clone.go `unable to clone '%s': %w`).
    #[error(
        "failed to checkout and determine revision: unable to clone '{url}': couldn't find remote ref {}",
        go_quote(reference)
    )]
    RemoteRefNotFound { url: String, reference: String },
    /// A commit that is not in the cloned branches (fluxcd/pkg `gogit` clone.go
    /// `cloneCommit`: `unable to resolve commit object for '%s': %w` with go-git's
    /// `object not found`).
    #[error(
        "failed to checkout and determine revision: unable to resolve commit object for '{commit}': object not found"
    )]
    CommitNotFound { commit: String },
    /// `spec.ref.name` names no ref (fluxcd/pkg `gogit` clone.go `cloneRefName`).
    #[error("failed to checkout and determine revision: unable to resolve ref '{name}' to a specific commit")]
    RefNameNotFound { name: String },
    /// `spec.ref.name` starts or ends with `/` (fluxcd/pkg `gogit` clone.go `getRemoteHEAD`).
    #[error("failed to checkout and determine revision: ref {name} is invalid; Git refs cannot begin or end with a slash '/'")]
    InvalidRefName { name: String },
    /// `spec.ref.semver` does not parse (fluxcd/pkg `gogit` clone.go `cloneSemVer`:
    /// `semver parse error: %w` around Masterminds/semver's message).
    #[error("failed to checkout and determine revision: semver parse error: {detail}")]
    SemverParse { constraint: String, detail: String },
    /// No tag satisfies `spec.ref.semver` (fluxcd/pkg `gogit` clone.go `cloneSemVer`).
    #[error("failed to checkout and determine revision: no match found for semver: {constraint}")]
    NoSemverMatch { constraint: String },
    /// The simulator could not read its own repository (not something Flux would say).
    #[error("failed to checkout and determine revision: {0}")]
    Git(#[from] GitError),
}

impl FetchError {
    /// The condition reason: always [`GIT_OPERATION_FAILED`].
    pub fn reason(&self) -> &'static str {
        GIT_OPERATION_FAILED
    }

    /// The condition message.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl RepoHandle {
    /// Resolves a GitRepository's `spec.ref` against this repository, as source-controller's
    /// checkout would; messages quote the URL this handle was looked up with.
    pub fn resolve(&self, r: &GitRef) -> Result<Resolved, FetchError> {
        if let Some(commit) = set(&r.commit) {
            return self.resolve_commit(commit, set(&r.branch), set(&r.name));
        }
        if let Some(name) = set(&r.name) {
            return self.resolve_name(name);
        }
        if let Some(tag) = set(&r.tag) {
            return self.resolve_tag(tag, tag);
        }
        if let Some(constraint) = set(&r.semver) {
            return self.resolve_semver(constraint);
        }
        self.resolve_branch(set(&r.branch).unwrap_or(DEFAULT_BRANCH), None)
    }

    fn not_found(&self, reference: String) -> FetchError {
        FetchError::RemoteRefNotFound { url: self.url.clone(), reference }
    }

    /// `label` is what the revision starts with (a full ref name when `spec.ref.name` led
    /// here).
    fn resolve_branch(&self, branch: &str, label: Option<&str>) -> Result<Resolved, FetchError> {
        let refs = self.refs();
        let e = refs.branch(branch).ok_or_else(|| self.not_found(format!("refs/heads/{branch}")))?;
        Ok(resolved(label.unwrap_or(branch), &e.commit))
    }

    fn resolve_tag(&self, tag: &str, label: &str) -> Result<Resolved, FetchError> {
        let refs = self.refs();
        let e = refs.tag(tag).ok_or_else(|| self.not_found(format!("refs/tags/{tag}")))?;
        Ok(resolved(label, &e.commit))
    }

    fn resolve_semver(&self, constraint: &str) -> Result<Resolved, FetchError> {
        let parsed = Constraints::parse(constraint)
            .map_err(|e| FetchError::SemverParse { constraint: constraint.to_string(), detail: e.0 })?;
        let refs = self.refs();
        let mut best: Option<(semver::Version, &RefEntry, &str)> = None;
        for e in &refs.entries {
            let Some(tag) = e.name.strip_prefix("refs/tags/") else { continue };
            let Some(v) = parse_tag_version(tag) else { continue };
            if !parsed.matches(&v) {
                continue;
            }
            // Highest version; among equal versions (differing in build metadata or `v`), the
            // one whose commit is newest, as fluxcd/pkg sorts them; then the greatest name, so
            // that the choice does not depend on listing order.
            let better = match &best {
                None => true,
                Some((bv, be, bt)) => match compare(&v, bv) {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal => (e.time, tag) > (be.time, *bt),
                },
            };
            if better {
                best = Some((v, e, tag));
            }
        }
        match best {
            Some((_, e, tag)) => Ok(resolved(tag, &e.commit)),
            None => Err(FetchError::NoSemverMatch { constraint: constraint.to_string() }),
        }
    }

    fn resolve_name(&self, name: &str) -> Result<Resolved, FetchError> {
        if name.starts_with('/') || name.ends_with('/') {
            return Err(FetchError::InvalidRefName { name: name.to_string() });
        }
        let refs = self.refs();
        let base = name.strip_suffix("^{}").unwrap_or(name);
        let listed = if base == "HEAD" {
            refs.branch(&self.repo.head_branch).is_some()
        } else if name.ends_with("^{}") {
            // Only annotated tags are listed with a peeled `^{}` entry.
            refs.get(base).is_some_and(|e| e.tag_object.is_some())
        } else {
            refs.get(name).is_some()
        };
        if !listed {
            return Err(FetchError::RefNameNotFound { name: name.to_string() });
        }
        if let Some(branch) = name.strip_prefix("refs/heads/") {
            return self.resolve_branch(branch, Some(name));
        }
        if let Some(tag) = base.strip_prefix("refs/tags/") {
            return self.resolve_tag(tag, name);
        }
        // Any other ref (here only HEAD): its commit, looked up among the branches.
        let head = refs.branch(&self.repo.head_branch).map(|e| e.commit.to_string()).unwrap_or_default();
        self.resolve_commit(&head, None, Some(name))
    }

    fn resolve_commit(&self, commit: &str, branch: Option<&str>, name: Option<&str>) -> Result<Resolved, FetchError> {
        let refs = self.refs();
        if let Some(b) = branch {
            if refs.branch(b).is_none() {
                return Err(self.not_found(format!("refs/heads/{b}")));
            }
        }
        let not_found = || FetchError::CommitNotFound { commit: commit.to_string() };
        let sha = Sha::parse(commit).ok_or_else(not_found)?;
        // Which branches contain the commit; an unknown object makes git fail.
        let out = super::cmd::GitCmd::new(&self.repo.dir)
            .args(["for-each-ref", "--format=%(refname)", &format!("--contains={sha}"), "refs/heads"])
            .output()?;
        if !out.status.success() {
            return Err(not_found());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut containing = text.lines().filter_map(|l| l.strip_prefix("refs/heads/"));
        let reachable = match branch {
            Some(b) => containing.any(|c| c == b),
            None => containing.next().is_some(),
        };
        if !reachable {
            return Err(not_found());
        }
        Ok(match (name, branch) {
            (Some(n), _) => resolved(n, &sha),
            (None, Some(b)) => resolved(b, &sha),
            (None, None) => Resolved { revision: format!("sha1:{sha}"), sha },
        })
    }
}

fn resolved(label: &str, commit: &Sha) -> Resolved {
    Resolved { revision: format!("{label}@sha1:{commit}"), sha: commit.clone() }
}
