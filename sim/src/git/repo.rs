//! The registry of scenario Git repositories and the changes a scenario makes to them.
//!
//! A repository is a real, non-bare Git repository under the registry's root directory,
//! created from a local directory ([`RepoSpec`]), then changed only through [`RepoHandle`]
//! (commits, branches, tags). Commits are written with `git fast-import` (one process per
//! commit, whatever the number of files) with fixed identity and dates, so the same scenario
//! gives the same SHAs on every run; the work tree follows the HEAD branch so that a person can
//! look at it. The refs are kept in memory after every change, so that resolving a
//! GitRepository's ref usually needs no process. This module must not know Flux's fetch
//! semantics (that is [`super::fetch`]) nor scenarios (the caller maps a scenario's `repos:`
//! onto [`RepoSpec`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::cmd::{self, GitCmd, IDENTITY_EMAIL, IDENTITY_NAME};
use super::memo::{self, Memo};
use super::url::normalize_url;
use super::GitError;

/// The message of a repository's first commit.
pub const INITIAL_COMMIT_MESSAGE: &str = "initial contents";
/// The HEAD branch when a [`RepoSpec`] names none.
pub const DEFAULT_INITIAL_BRANCH: &str = "main";

/// A full commit SHA-1, 40 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha(String);

impl Sha {
    /// Accepts 40 hex digits (either case); `None` otherwise.
    pub fn parse(text: &str) -> Option<Sha> {
        (text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Sha(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A branch or tag to create with a new repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSpec {
    pub name: String,
    /// A branch or tag of the same spec; `None` for the initial branch. (At creation every ref
    /// points at the initial commit; later refs come from [`RepoHandle::create_branch`].)
    pub from: Option<String>,
    /// For tags: `Some(message)` makes an annotated tag. Ignored for branches.
    pub annotation: Option<String>,
}

/// A repository to create: its URL as GitRepositories write it and the directory whose
/// contents become the first commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    pub url: String,
    pub from: PathBuf,
    /// The initial (HEAD) branch; `main` when `None`.
    pub branch: Option<String>,
    pub branches: Vec<RefSpec>,
    pub tags: Vec<RefSpec>,
}

impl RepoSpec {
    pub fn new(url: impl Into<String>, from: impl Into<PathBuf>) -> Self {
        RepoSpec { url: url.into(), from: from.into(), branch: None, branches: Vec::new(), tags: Vec::new() }
    }

    /// Sets the initial branch.
    pub fn initial_branch(mut self, name: impl Into<String>) -> Self {
        self.branch = Some(name.into());
        self
    }

    /// Adds a branch at the initial commit (`from`: another branch or tag of this spec).
    pub fn with_branch(mut self, name: impl Into<String>, from: Option<&str>) -> Self {
        self.branches.push(RefSpec { name: name.into(), from: from.map(str::to_string), annotation: None });
        self
    }

    /// Adds a lightweight tag.
    pub fn with_tag(mut self, name: impl Into<String>, at: Option<&str>) -> Self {
        self.tags.push(RefSpec { name: name.into(), from: at.map(str::to_string), annotation: None });
        self
    }

    /// Adds an annotated tag.
    pub fn with_annotated_tag(mut self, name: impl Into<String>, at: Option<&str>, message: impl Into<String>) -> Self {
        self.tags.push(RefSpec { name: name.into(), from: at.map(str::to_string), annotation: Some(message.into()) });
        self
    }
}

/// One change of a commit. Paths are relative to the repository root, `/`-separated; `..`,
/// absolute paths and `.git` are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Creates or replaces a regular file (mode 644).
    Write { path: String, contents: Vec<u8> },
    /// Removes a file or a whole directory; it must exist in the branch (or be written by an
    /// earlier change of the same commit).
    Remove { path: String },
    /// Copies a local directory's regular files under `to` (`""` or `"."` for the root),
    /// keeping the executable bit; existing files are replaced, others kept.
    CopyDir { from: PathBuf, to: String },
}

impl Change {
    pub fn write(path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        Change::Write { path: path.into(), contents: contents.into() }
    }

    pub fn remove(path: impl Into<String>) -> Self {
        Change::Remove { path: path.into() }
    }

    pub fn copy_dir(from: impl Into<PathBuf>, to: impl Into<String>) -> Self {
        Change::CopyDir { from: from.into(), to: to.into() }
    }
}

/// A branch or tag as the repository has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefEntry {
    /// Full name: `refs/heads/main`, `refs/tags/v1.0.0`.
    pub name: String,
    /// The commit (for an annotated tag, the commit it points at).
    pub commit: Sha,
    /// The annotated tag object, when the ref is one.
    pub tag_object: Option<String>,
    /// The commit's committer time (Unix seconds).
    pub time: i64,
}

/// All branches and tags, sorted by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Refs {
    pub entries: Vec<RefEntry>,
}

impl Refs {
    pub fn get(&self, full: &str) -> Option<&RefEntry> {
        self.entries.binary_search_by(|e| e.name.as_str().cmp(full)).ok().map(|i| &self.entries[i])
    }

    pub fn branch(&self, name: &str) -> Option<&RefEntry> {
        self.get(&format!("refs/heads/{name}"))
    }

    pub fn tag(&self, name: &str) -> Option<&RefEntry> {
        self.get(&format!("refs/tags/{name}"))
    }

    pub fn names(&self, prefix: &str) -> Vec<String> {
        self.entries.iter().filter_map(|e| e.name.strip_prefix(prefix).map(str::to_string)).collect()
    }
}

/// One scenario repository.
#[derive(Debug)]
pub(crate) struct Repo {
    /// The URL it was registered with.
    pub url: String,
    pub dir: PathBuf,
    /// The branch HEAD points at (the initial branch; never changes).
    pub head_branch: String,
    /// Held for the whole of every change; the value is the date sequence number of the next
    /// commit or annotated tag.
    write: Mutex<u64>,
    refs: RwLock<Arc<Refs>>,
}

/// A repository as looked up: the repository and the URL it was asked for by (which Flux's
/// messages quote). Cheap to clone.
#[derive(Debug, Clone)]
pub struct RepoHandle {
    pub(crate) repo: Arc<Repo>,
    pub(crate) url: String,
}

/// The scenario's repositories, by normalised URL ([`normalize_url`]). Cheap to clone; all
/// clones share the registry. The caller owns `root` and removes it.
#[derive(Debug, Clone)]
pub struct Repos {
    inner: Arc<Registry>,
}

#[derive(Debug)]
struct Registry {
    root: PathBuf,
    state: Mutex<RegistryState>,
}

#[derive(Debug, Default)]
struct RegistryState {
    by_key: BTreeMap<String, Arc<Repo>>,
    created: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Repos {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Repos { inner: Arc::new(Registry { root: root.into(), state: Mutex::new(RegistryState::default()) }) }
    }

    /// Forgets every repository and removes their directories (a backend serving one
    /// scenario's repos after another's).
    pub fn clear(&self) -> Result<(), GitError> {
        let mut state = lock(&self.inner.state);
        for repo in std::mem::take(&mut state.by_key).into_values() {
            match std::fs::remove_dir_all(&repo.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(GitError::Io { path: repo.dir.clone(), action: "remove", source }),
            }
        }
        Ok(())
    }

    /// The directory repositories are created in.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Creates a repository: copies `spec.from` into a fresh repository, commits it as
    /// "initial contents" on the initial branch, and creates the spec's branches and tags at
    /// that commit.
    pub fn add(&self, spec: RepoSpec) -> Result<RepoHandle, GitError> {
        let key = normalize_url(&spec.url);
        let mut state = lock(&self.inner.state);
        if let Some(existing) = state.by_key.get(&key) {
            return Err(GitError::DuplicateUrl { url: spec.url, existing: existing.url.clone(), normalized: key });
        }
        let url = spec.url.clone();
        let initial = spec.branch.clone().unwrap_or_else(|| DEFAULT_INITIAL_BRANCH.to_string());

        // Names: valid, distinct, and every `from` one of them.
        let mut branch_names = BTreeSet::from([initial.clone()]);
        check_ref_name(&url, "branch", &initial)?;
        for b in &spec.branches {
            check_ref_name(&url, "branch", &b.name)?;
            if !branch_names.insert(b.name.clone()) {
                return Err(GitError::RefExists { url, what: "branch", name: b.name.clone() });
            }
        }
        let mut tag_names = BTreeSet::new();
        for t in &spec.tags {
            check_ref_name(&url, "tag", &t.name)?;
            if !tag_names.insert(t.name.clone()) {
                return Err(GitError::RefExists { url, what: "tag", name: t.name.clone() });
            }
        }
        let known = |name: &str| {
            name == "HEAD"
                || branch_names.contains(name)
                || tag_names.contains(name)
                || name.strip_prefix("refs/heads/").is_some_and(|n| branch_names.contains(n))
                || name.strip_prefix("refs/tags/").is_some_and(|n| tag_names.contains(n))
        };
        for r in spec.branches.iter().chain(&spec.tags) {
            if let Some(from) = r.from.as_deref().filter(|f| !known(f)) {
                let mut names: Vec<String> = branch_names.iter().cloned().collect();
                names.extend(tag_names.iter().cloned());
                return Err(GitError::UnknownRef { url, what: "branch or tag", name: from.to_string(), known: names });
            }
        }

        let mut files = Vec::new();
        for (rel, abs, exec) in collect_dir(&url, &spec.from)? {
            let contents =
                fs::read(&abs).map_err(|source| GitError::Io { path: abs.clone(), action: "read", source })?;
            files.push((rel, exec, contents));
        }
        let dir = self.inner.root.join(format!("{:03}-{}", state.created, slug(&key)));
        state.created += 1;
        // The date sequence number of the next commit or annotated tag.
        let seq = 1 + spec.tags.iter().filter(|t| t.annotation.is_some()).count() as u64;
        let made_key = made_key(&initial, &spec, &files);
        let refs = match MADE.get(&made_key) {
            Some(made) => {
                made.0.write(&dir)?;
                made.1.clone()
            }
            None => {
                cmd::init(&dir, &initial)?;
                let mut stream = Stream::new();
                stream.commit(&format!("refs/heads/{initial}"), 0, INITIAL_COMMIT_MESSAGE, None);
                for (rel, exec, contents) in &files {
                    stream.modify(*exec, rel, contents);
                }
                stream.end_commit();
                for b in &spec.branches {
                    stream.reset(&format!("refs/heads/{}", b.name));
                }
                let mut tag_seq = 1;
                for t in &spec.tags {
                    match &t.annotation {
                        None => stream.reset(&format!("refs/tags/{}", t.name)),
                        Some(message) => {
                            stream.tag(&t.name, tag_seq, message);
                            tag_seq += 1;
                        }
                    }
                }
                stream.run(&dir)?;
                GitCmd::new(&dir).args(["reset", "--hard", "-q"]).run()?;
                let refs = read_refs(&dir)?;
                MADE.put(made_key, &dir, refs.clone());
                refs
            }
        };
        let repo = Arc::new(Repo {
            url: url.clone(),
            dir,
            head_branch: initial,
            write: Mutex::new(seq),
            refs: RwLock::new(Arc::new(refs)),
        });
        state.by_key.insert(key, repo.clone());
        Ok(RepoHandle { repo, url })
    }

    /// The repository a URL names, compared after [`normalize_url`]. The handle quotes `url`
    /// as given here in Flux's messages.
    pub fn get(&self, url: &str) -> Option<RepoHandle> {
        let state = lock(&self.inner.state);
        state.by_key.get(&normalize_url(url)).map(|repo| RepoHandle { repo: repo.clone(), url: url.to_string() })
    }

    /// The URLs of all repositories, as registered, in the order of their normalised form.
    pub fn urls(&self) -> Vec<String> {
        lock(&self.inner.state).by_key.values().map(|r| r.url.clone()).collect()
    }
}

impl RepoHandle {
    /// The URL this handle was looked up (or registered) with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL the repository was registered with.
    pub fn registered_url(&self) -> &str {
        &self.repo.url
    }

    /// The repository's directory (a non-bare repository; its work tree shows the HEAD
    /// branch).
    pub fn dir(&self) -> &Path {
        &self.repo.dir
    }

    /// The initial branch, which HEAD points at.
    pub fn head_branch(&self) -> &str {
        &self.repo.head_branch
    }

    pub(crate) fn refs(&self) -> Arc<Refs> {
        self.repo.refs.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Branch names, sorted.
    pub fn branches(&self) -> Vec<String> {
        self.refs().names("refs/heads/")
    }

    /// Tag names, sorted.
    pub fn tags(&self) -> Vec<String> {
        self.refs().names("refs/tags/")
    }

    /// The commit a branch points at.
    pub fn head(&self, branch: &str) -> Result<Sha, GitError> {
        let refs = self.refs();
        match refs.branch(branch) {
            Some(e) => Ok(e.commit.clone()),
            None => Err(self.unknown("branch", branch, refs.names("refs/heads/"))),
        }
    }

    fn unknown(&self, what: &'static str, name: &str, known: Vec<String>) -> GitError {
        GitError::UnknownRef { url: self.repo.url.clone(), what, name: name.to_string(), known }
    }

    /// Commits `changes` on top of `branch` and moves the branch; returns the new commit.
    pub fn commit(&self, branch: &str, changes: &[Change], message: &str) -> Result<Sha, GitError> {
        let url = &self.repo.url;
        let mut seq = lock(&self.repo.write);
        let refs = self.refs();
        let Some(parent) = refs.branch(branch) else {
            return Err(self.unknown("branch", branch, refs.names("refs/heads/")));
        };

        let mut stream = Stream::new();
        stream.commit(&format!("refs/heads/{branch}"), *seq, message, Some(parent.commit.as_str()));
        // Paths written so far in this commit, and paths removed that must exist in the parent.
        let mut written: Vec<String> = Vec::new();
        let mut must_exist: Vec<String> = Vec::new();
        for change in changes {
            match change {
                Change::Write { path, contents } => {
                    let path = repo_path(url, path, false)?;
                    stream.modify(false, &path, contents);
                    written.push(path);
                }
                Change::Remove { path } => {
                    let path = repo_path(url, path, false)?;
                    let under = |w: &String| w == &path || w.starts_with(&format!("{path}/"));
                    if !written.iter().any(under) {
                        must_exist.push(path.clone());
                    }
                    written.retain(|w| !under(w));
                    stream.delete(&path);
                }
                Change::CopyDir { from, to } => {
                    let to = repo_path(url, to, true)?;
                    for (rel, abs, exec) in collect_dir(url, from)? {
                        let path = if to.is_empty() { rel } else { format!("{to}/{rel}") };
                        let contents = fs::read(&abs).map_err(|source| GitError::Io {
                            path: abs.clone(),
                            action: "read",
                            source,
                        })?;
                        stream.modify(exec, &path, &contents);
                        written.push(path);
                    }
                }
            }
        }
        stream.end_commit();
        if !must_exist.is_empty() {
            let listed = GitCmd::new(&self.repo.dir)
                .args(["ls-tree", "-r", "-z", "--name-only", parent.commit.as_str(), "--"])
                .args(&must_exist)
                .run()?;
            let present: Vec<&[u8]> = listed.split(|&b| b == 0).filter(|p| !p.is_empty()).collect();
            for path in &must_exist {
                let prefix = format!("{path}/");
                if !present.iter().any(|p| *p == path.as_bytes() || p.starts_with(prefix.as_bytes())) {
                    return Err(GitError::NoSuchPath {
                        url: url.clone(),
                        branch: branch.to_string(),
                        path: path.clone(),
                    });
                }
            }
        }
        let sha = stream.run(&self.repo.dir)?;
        *seq += 1;
        self.after_change(branch == self.repo.head_branch)?;
        Ok(sha)
    }

    /// Creates a branch at a branch, tag, or commit SHA (full or abbreviated).
    pub fn create_branch(&self, name: &str, from: &str) -> Result<Sha, GitError> {
        let _seq = lock(&self.repo.write);
        check_ref_name(&self.repo.url, "branch", name)?;
        if self.refs().branch(name).is_some() {
            return Err(GitError::RefExists { url: self.repo.url.clone(), what: "branch", name: name.to_string() });
        }
        let sha = self.committish(from)?;
        GitCmd::new(&self.repo.dir).args(["update-ref", &format!("refs/heads/{name}"), sha.as_str(), ""]).run()?;
        self.after_change(false)?;
        Ok(sha)
    }

    /// Creates a lightweight tag at a branch, tag, or commit SHA.
    pub fn create_tag(&self, name: &str, at: &str) -> Result<Sha, GitError> {
        let _seq = lock(&self.repo.write);
        let sha = self.check_new_tag(name, at)?;
        GitCmd::new(&self.repo.dir).args(["update-ref", &format!("refs/tags/{name}"), sha.as_str(), ""]).run()?;
        self.after_change(false)?;
        Ok(sha)
    }

    /// Creates an annotated tag (tagger and date as for commits); returns the tagged commit.
    pub fn create_annotated_tag(&self, name: &str, at: &str, message: &str) -> Result<Sha, GitError> {
        let mut seq = lock(&self.repo.write);
        let sha = self.check_new_tag(name, at)?;
        GitCmd::new(&self.repo.dir).date(*seq).args(["tag", "-a", "-m", message, name, sha.as_str()]).run()?;
        *seq += 1;
        self.after_change(false)?;
        Ok(sha)
    }

    fn check_new_tag(&self, name: &str, at: &str) -> Result<Sha, GitError> {
        check_ref_name(&self.repo.url, "tag", name)?;
        if self.refs().tag(name).is_some() {
            return Err(GitError::RefExists { url: self.repo.url.clone(), what: "tag", name: name.to_string() });
        }
        self.committish(at)
    }

    /// A branch, tag, full ref name, `HEAD`, or (abbreviated) commit SHA, as a commit.
    fn committish(&self, text: &str) -> Result<Sha, GitError> {
        let refs = self.refs();
        let by_name = refs
            .branch(text)
            .or_else(|| refs.tag(text))
            .or_else(|| if text.starts_with("refs/") { refs.get(text) } else { None })
            .or_else(|| if text == "HEAD" { refs.branch(&self.repo.head_branch) } else { None });
        if let Some(e) = by_name {
            return Ok(e.commit.clone());
        }
        let unknown = || {
            let mut known = refs.names("refs/heads/");
            known.extend(refs.names("refs/tags/"));
            self.unknown("branch, tag or commit", text, known)
        };
        if text.len() < 4 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unknown());
        }
        let out = GitCmd::new(&self.repo.dir)
            .args(["rev-parse", "--verify", "--quiet", &format!("{text}^{{commit}}")])
            .output()?;
        let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
        match (out.status.success(), Sha::parse(&found)) {
            (true, Some(sha)) => Ok(sha),
            _ => Err(unknown()),
        }
    }

    /// After a change: the work tree follows HEAD, and the in-memory refs are re-read.
    fn after_change(&self, head_moved: bool) -> Result<(), GitError> {
        if head_moved {
            GitCmd::new(&self.repo.dir).args(["reset", "--hard", "-q"]).run()?;
        }
        let refs = read_refs(&self.repo.dir)?;
        *self.repo.refs.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(refs);
        Ok(())
    }
}

/// Fresh repositories made in this process, by [`made_key`].
pub(crate) static MADE: Memo<Refs> = Memo::new();

/// What a fresh repository is made from, but its URL: the same key, the same objects and refs.
fn made_key(initial: &str, spec: &RepoSpec, files: &[(String, bool, Vec<u8>)]) -> String {
    let mut fields: Vec<&[u8]> = vec![b"repository 1", initial.as_bytes()];
    for (what, refs) in [(&b"branch"[..], &spec.branches), (&b"tag"[..], &spec.tags)] {
        for r in refs {
            fields.push(what);
            fields.push(r.name.as_bytes());
            fields.push(r.from.as_deref().map_or(b"\0" as &[u8], str::as_bytes));
            fields.push(r.annotation.as_deref().map_or(b"\0" as &[u8], str::as_bytes));
        }
    }
    for (path, exec, contents) in files {
        fields.extend([path.as_bytes(), if *exec { b"x" } else { b"-" }, contents.as_slice()]);
    }
    memo::key(fields)
}

/// Reads all branches and tags with their commits and commit times.
fn read_refs(dir: &Path) -> Result<Refs, GitError> {
    let format = "--format=%(refname)%00%(objecttype)%00%(objectname)%00%(*objectname)%00%(committerdate:unix)%00%(*committerdate:unix)";
    let out = GitCmd::new(dir).args(["for-each-ref", format, "refs/heads", "refs/tags"]).run_text()?;
    let mut entries = Vec::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split('\0').collect();
        let bad = |detail: &str| GitError::Output {
            dir: dir.to_path_buf(),
            command: "git for-each-ref".to_string(),
            detail: format!("{detail} in line {line:?}"),
        };
        let [name, kind, object, peeled, time, peeled_time] = fields[..] else {
            return Err(bad("expected 6 fields"));
        };
        let (commit, tag_object, time) = match kind {
            "commit" => (object, None, time),
            "tag" => (peeled, Some(object.to_string()), peeled_time),
            // A tag of a tree or blob: not something a GitRepository can check out.
            _ => continue,
        };
        let time = time.parse().map_err(|_| bad("bad commit time"))?;
        let commit = Sha::parse(commit).ok_or_else(|| bad("bad commit SHA"))?;
        entries.push(RefEntry { name: name.to_string(), commit, tag_object, time });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Refs { entries })
}

/// A path inside the repository, normalised (`.` and empty components dropped), or why not.
pub(crate) fn repo_path(url: &str, path: &str, allow_root: bool) -> Result<String, GitError> {
    let invalid = |reason| GitError::InvalidPath { url: url.to_string(), path: path.to_string(), reason };
    if path.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    if path.starts_with('/') {
        return Err(invalid("absolute paths are not allowed; give a path relative to the repository root"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid("'..' is not allowed; paths stay inside the repository")),
            p if p.eq_ignore_ascii_case(".git") => return Err(invalid("'.git' is reserved for Git's own data")),
            p => parts.push(p),
        }
    }
    if parts.is_empty() && !allow_root {
        return Err(invalid("the path is empty"));
    }
    Ok(parts.join("/"))
}

/// The rules of `git check-ref-format` that a scenario is likely to break, so that the error
/// names the ref and the rule rather than quoting fast-import.
fn check_ref_name(url: &str, what: &'static str, name: &str) -> Result<(), GitError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.starts_with('-') {
        Some("it starts with '-'")
    } else if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        Some("it starts or ends with '/' or has an empty component")
    } else if name.contains("..") || name.contains("@{") || name == "@" {
        Some("it contains '..' or '@{' or is '@'")
    } else if name.ends_with('.') || name.ends_with(".lock") || name.split('/').any(|c| c.starts_with('.')) {
        Some("a component starts with '.' or it ends with '.' or '.lock'")
    } else if name.chars().any(|c| c.is_control() || " ~^:?*[\\".contains(c)) {
        Some("it contains a space, a control character or one of ~ ^ : ? * [ \\")
    } else if what == "branch" && name == "HEAD" {
        Some("HEAD is not a branch name")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(GitError::InvalidRefName { url: url.to_string(), what, name: name.to_string(), reason }),
        None => Ok(()),
    }
}

/// The regular files under a local directory: (relative path, absolute path, executable),
/// sorted. Symbolic links, special files, non-UTF-8 names and `.git` are refused.
fn collect_dir(url: &str, root: &Path) -> Result<Vec<(String, PathBuf, bool)>, GitError> {
    let meta = fs::symlink_metadata(root).map_err(|source| GitError::Io {
        path: root.to_path_buf(),
        action: "read",
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(GitError::Symlink { path: root.to_path_buf() });
    }
    if !meta.is_dir() {
        return Err(GitError::NotADirectory { url: url.to_string(), path: root.to_path_buf() });
    }
    let mut out = Vec::new();
    walk(url, root, "", &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn walk(url: &str, dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf, bool)>) -> Result<(), GitError> {
    let read = fs::read_dir(dir).map_err(|source| GitError::Io { path: dir.to_path_buf(), action: "read", source })?;
    for entry in read {
        let entry = entry.map_err(|source| GitError::Io { path: dir.to_path_buf(), action: "read", source })?;
        let path = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            return Err(GitError::NonUtf8Name { path });
        };
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if name.eq_ignore_ascii_case(".git") {
            return Err(GitError::InvalidPath {
                url: url.to_string(),
                path: rel,
                reason: "'.git' is reserved for Git's own data (copy a plain directory, not a Git checkout)",
            });
        }
        let meta = fs::symlink_metadata(&path).map_err(|source| GitError::Io {
            path: path.clone(),
            action: "inspect",
            source,
        })?;
        let ty = meta.file_type();
        if ty.is_symlink() {
            return Err(GitError::Symlink { path });
        } else if ty.is_dir() {
            walk(url, &path, &rel, out)?;
        } else if ty.is_file() {
            out.push((rel, path, is_executable(&meta)));
        } else {
            return Err(GitError::UnsupportedFile { path });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o100 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// A directory name from a URL: its last path component, safe characters only.
fn slug(normalized_url: &str) -> String {
    let last = normalized_url.rsplit(['/', ':']).find(|s| !s.is_empty()).unwrap_or("repo");
    let slug: String = last
        .chars()
        .take(40)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    if slug.is_empty() {
        "repo".to_string()
    } else {
        slug
    }
}

/// A `git fast-import` input stream: at most one commit (mark `:1`), then refs set to it.
struct Stream {
    buf: Vec<u8>,
}

impl Stream {
    fn new() -> Self {
        Stream { buf: b"feature done\n".to_vec() }
    }

    fn person(&mut self, role: &str, seq: u64) {
        let when = cmd::EPOCH + seq as i64;
        self.buf.extend_from_slice(format!("{role} {IDENTITY_NAME} <{IDENTITY_EMAIL}> {when} +0000\n").as_bytes());
    }

    fn data(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
        self.buf.extend_from_slice(bytes);
        self.buf.push(b'\n');
    }

    fn message(&mut self, message: &str) {
        let mut text = message.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.data(text.as_bytes());
    }

    fn commit(&mut self, refname: &str, seq: u64, message: &str, parent: Option<&str>) {
        self.buf.extend_from_slice(format!("commit {refname}\nmark :1\n").as_bytes());
        self.person("author", seq);
        self.person("committer", seq);
        self.message(message);
        if let Some(parent) = parent {
            self.buf.extend_from_slice(format!("from {parent}\n").as_bytes());
        }
    }

    fn modify(&mut self, executable: bool, path: &str, contents: &[u8]) {
        let mode = if executable { "100755" } else { "100644" };
        self.buf.extend_from_slice(format!("M {mode} inline {}\n", quote(path)).as_bytes());
        self.data(contents);
    }

    fn delete(&mut self, path: &str) {
        self.buf.extend_from_slice(format!("D {}\n", quote(path)).as_bytes());
    }

    fn end_commit(&mut self) {
        self.buf.push(b'\n');
    }

    /// Points a ref at the commit.
    fn reset(&mut self, refname: &str) {
        self.buf.extend_from_slice(format!("reset {refname}\nfrom :1\n\n").as_bytes());
    }

    fn tag(&mut self, name: &str, seq: u64, message: &str) {
        self.buf.extend_from_slice(format!("tag {name}\nfrom :1\n").as_bytes());
        self.person("tagger", seq);
        self.message(message);
    }

    /// Runs fast-import; the commit's SHA.
    fn run(mut self, dir: &Path) -> Result<Sha, GitError> {
        self.buf.extend_from_slice(b"get-mark :1\ndone\n");
        let out = GitCmd::new(dir).args(["fast-import", "--quiet"]).stdin(self.buf).run_text()?;
        Sha::parse(out.trim()).ok_or_else(|| GitError::Output {
            dir: dir.to_path_buf(),
            command: "git fast-import".to_string(),
            detail: format!("expected a commit SHA, got {out:?}"),
        })
    }
}

/// A path in fast-import's C-style quoting (always quoted, so any name is safe).
fn quote(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    out.push('"');
    for c in path.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
