//! Kustomize builds made ahead of a run. A caller that knows what platforms it is about to
//! start (a test runner, while its AWS emulator starts) describes each one as a [`Plan`]: the
//! Git repositories, then in order the objects it will apply and the commits it will make.
//! [`prefetch`] follows each plan as Flux would, without a cluster: the GitRepositories and
//! Kustomizations applied, each Kustomization's artifact (the same export and digest as
//! source-controller's), its build, and the Flux objects its output (after post-build
//! substitution) holds, until no new build turns up; then the next step. Builds go to the
//! process-wide map and the disk cache of [`build`](super::build), where the platforms'
//! kustomize-controllers find them.
//!
//! It is only a guess ahead: what it gets wrong (an object a plan does not know, a variable
//! from a Secret it was not given) costs a build nobody uses or leaves a build to its
//! reconcile, never a different result, because builds are keyed by their inputs. It must
//! not talk to an API server, start a platform, or report anything but its own counts.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::build::{self, BuildCache, BuildJob};
use super::crd::Spec;
use super::substitute;
use crate::git::{Change, GitRef, RepoSpec, Repos};
use crate::platform::Tools;

/// A platform about to be started, as far as its Flux builds go.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The repositories the platform's GitRepositories read.
    pub repos: Vec<RepoSpec>,
    /// What happens to it, in order.
    pub steps: Vec<PlanStep>,
}

/// One thing that happens to a planned platform.
#[derive(Debug, Clone)]
pub enum PlanStep {
    /// Objects applied (all kinds may be given; GitRepositories, Kustomizations, ConfigMaps and
    /// Secrets are read). An object without a namespace counts as in `default_namespace`.
    Apply { objects: Vec<Value>, default_namespace: String },
    /// A commit to the repository at `url`, on `branch` (default: its first branch).
    Commit { url: String, branch: Option<String>, changes: Vec<Change> },
}

/// What [`prefetch`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefetchStats {
    /// Plans followed.
    pub plans: usize,
    /// Plans not followed because the disk cache held every build they led to last time.
    pub known: usize,
    /// Distinct builds asked for by the plans followed (each Kustomization input once).
    pub builds: usize,
    /// kustomize processes run for them (the rest came from a cache).
    pub kustomize_runs: u64,
    /// Wall time.
    pub took: Duration,
}

/// At most this many rounds of build-and-read per step (a Kustomization that makes a
/// Kustomization that makes ...: real platforms nest two or three deep).
const MAX_ROUNDS: usize = 8;

/// Follows every plan and fills the build caches (see the module comment). Best effort: a
/// plan that cannot be followed (a repository that cannot be made, an object that does not
/// parse) is followed as far as it goes. Without kubectl there is nothing to do.
pub fn prefetch(plans: &[Plan], tools: &Tools) -> PrefetchStats {
    let started = Instant::now();
    let mut stats = PrefetchStats::default();
    let Some(kubectl) = tools.kubectl.as_deref() else { return stats };
    let Ok(work) = crate::scratch::new_dir() else { return stats };
    let runs_before = build::stats().runs;
    // Plans are taken in order by a few workers, each with its own repositories and exports:
    // a build two workers need runs once (the other waits for it, see `build`).
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4).min(plans.len());
    let (asked, skipped) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (next, work) = (&next, work.path().join(format!("worker-{w}")));
                scope.spawn(move || {
                    let mut p = Prefetcher {
                        kubectl,
                        cache: BuildCache::new(tools.build_cache.clone()),
                        work,
                        made: 0,
                        repos_by_spec: HashMap::new(),
                        exports: HashMap::new(),
                        asked: HashSet::new(),
                        skipped: 0,
                    };
                    while let Some(plan) = plans.get(next.fetch_add(1, Ordering::Relaxed)) {
                        p.follow(plan);
                    }
                    (p.asked, p.skipped)
                })
            })
            .collect();
        let mut asked = HashSet::new();
        let mut skipped = 0;
        for (a, s) in handles.into_iter().filter_map(|h| h.join().ok()) {
            asked.extend(a);
            skipped += s;
        }
        (asked.len(), skipped)
    });
    stats.plans = plans.len();
    stats.builds = asked;
    stats.known = skipped;
    stats.kustomize_runs = build::stats().runs.saturating_sub(runs_before);
    build::count_ahead(stats.kustomize_runs);
    stats.took = started.elapsed();
    tracing::debug!(?stats, "kustomize builds made ahead");
    stats
}

/// (kind, namespace, name) of an object a plan's platform would hold.
type ObjKey = (String, String, String);

/// (repository directory, commit, ignore rules) of an exported artifact.
type ExportKey = (PathBuf, String, Option<String>);

struct Prefetcher<'a> {
    kubectl: &'a Path,
    cache: BuildCache,
    work: PathBuf,
    /// Directories made so far (names under `work`).
    made: usize,
    /// Repositories of plans that commit nothing, shared by plans that name the same ones.
    repos_by_spec: HashMap<String, Repos>,
    /// Exported artifacts by (repository directory, commit, ignore rules): directory and
    /// digest; `None` when the export failed or the tree names a remote base (whose build
    /// would reach the network: its reconcile will do it).
    exports: HashMap<ExportKey, Option<(PathBuf, String)>>,
    /// Builds asked for: (digest, settings) as the build cache keys them.
    asked: HashSet<String>,
    /// Plans not followed: the disk cache held all their builds.
    skipped: usize,
}

impl Prefetcher<'_> {
    fn new_dir(&mut self, what: &str) -> PathBuf {
        self.made += 1;
        self.work.join(format!("{what}-{}", self.made))
    }

    /// The plan's repositories: shared with other plans that name the same ones and commit
    /// nothing, else made for this plan alone.
    fn repos_for(&mut self, plan: &Plan) -> Repos {
        let commits = plan.steps.iter().any(|s| matches!(s, PlanStep::Commit { .. }));
        let key = format!("{:?}", plan.repos);
        if !commits {
            if let Some(r) = self.repos_by_spec.get(&key) {
                return r.clone();
            }
        }
        let repos = Repos::new(self.new_dir("repos"));
        for spec in &plan.repos {
            if let Err(e) = repos.add(spec.clone()) {
                tracing::debug!(url = %spec.url, error = %e, "prefetch: repository not made");
            }
        }
        if !commits {
            self.repos_by_spec.insert(key, repos.clone());
        }
        repos
    }

    /// Follows one plan, unless the disk cache holds every build it led to last time.
    fn follow(&mut self, plan: &Plan) {
        let fingerprint = fingerprint(plan);
        if let Some(keys) = self.cache.plan_builds(self.kubectl, &fingerprint) {
            if keys.iter().all(|k| self.cache.on_disk(k)) {
                self.skipped += 1;
                return;
            }
        }
        let repos = self.repos_for(plan);
        let mut applied: BTreeMap<ObjKey, Value> = BTreeMap::new();
        let mut builds = BTreeSet::new();
        for step in &plan.steps {
            match step {
                PlanStep::Apply { objects, default_namespace } => {
                    for obj in objects {
                        if let Some(key) = key_of(obj, default_namespace) {
                            applied.insert(key, obj.clone());
                        }
                    }
                }
                PlanStep::Commit { url, branch, changes } => {
                    let Some(repo) = repos.get(url) else { continue };
                    let branch = branch.clone().unwrap_or_else(|| repo.head_branch().to_string());
                    if let Err(e) = repo.commit(&branch, changes, "idp-harness: prefetch") {
                        tracing::debug!(%url, error = %e, "prefetch: commit not made");
                    }
                }
            }
            self.settle(&repos, &applied, &mut builds);
        }
        let keys: Vec<String> = builds.into_iter().collect();
        self.cache.put_plan_builds(self.kubectl, &fingerprint, &keys);
    }

    /// Rounds of: build every Kustomization known, read the Flux objects of the outputs.
    /// The disk key of every build asked for goes into `builds`.
    fn settle(&mut self, repos: &Repos, applied: &BTreeMap<ObjKey, Value>, builds: &mut BTreeSet<String>) {
        let mut world = applied.clone();
        for _ in 0..MAX_ROUNDS {
            let mut jobs = Vec::new();
            for ((kind, ns, name), obj) in &world {
                if kind != "Kustomization" {
                    continue;
                }
                if let Some(job) = self.job(repos, &world, ns, name, obj) {
                    jobs.push(job);
                }
            }
            builds.extend(jobs.iter().filter_map(|j| self.cache.disk_key(self.kubectl, &j.digest, &j.spec)));
            let new: Vec<&BuildJob> =
                jobs.iter().filter(|j| !self.asked.contains(&build::cache_key(&j.digest, &j.spec))).collect();
            if !new.is_empty() {
                let new: Vec<BuildJob> = new.into_iter().cloned().collect();
                self.cache.build_many(Some(self.kubectl), &new);
                for j in &new {
                    self.asked.insert(build::cache_key(&j.digest, &j.spec));
                }
            }
            // The next round's world: what was applied, then what the builds hold.
            let mut next = applied.clone();
            for j in &jobs {
                let key = (j.namespace.as_str(), j.name.as_str());
                let Ok(output) =
                    self.cache.build(key, Some(self.kubectl), &j.artifact_dir, &j.digest, &j.spec, &j.scratch)
                else {
                    continue;
                };
                let get = |plural: &str, name: &str| {
                    let kind = if plural == "secrets" { "Secret" } else { "ConfigMap" };
                    world.get(&(kind.to_string(), j.namespace.clone(), name.to_string())).cloned()
                };
                let Ok(objects) = substitute::post_build(&j.spec, &output, get) else { continue };
                for obj in objects {
                    if let Some(key) = key_of(&obj, "default") {
                        next.insert(key, obj);
                    }
                }
            }
            if next == world {
                break;
            }
            world = next;
        }
    }

    /// The build a Kustomization would ask for, if its source is a known GitRepository whose
    /// artifact holds its path.
    fn job(
        &mut self,
        repos: &Repos,
        world: &BTreeMap<ObjKey, Value>,
        ns: &str,
        name: &str,
        obj: &Value,
    ) -> Option<BuildJob> {
        let spec: Spec = serde_json::from_value(obj.get("spec").cloned().unwrap_or(json!({}))).ok()?;
        if spec.suspend || spec.source_ref.kind != "GitRepository" {
            return None;
        }
        let src_ns = if spec.source_ref.namespace.is_empty() { ns } else { spec.source_ref.namespace.as_str() };
        let source = world.get(&("GitRepository".to_string(), src_ns.to_string(), spec.source_ref.name.clone()))?;
        let url = source.pointer("/spec/url").and_then(Value::as_str)?;
        let git_ref: GitRef = match source.pointer("/spec/ref") {
            Some(r) if !r.is_null() => serde_json::from_value(r.clone()).ok()?,
            _ => GitRef::default(),
        };
        let ignore = source.pointer("/spec/ignore").and_then(Value::as_str).map(str::to_string);
        let repo = repos.get(url)?;
        let sha = repo.resolve(&git_ref).ok()?.sha;
        let export_key = (repo.dir().to_path_buf(), sha.as_str().to_string(), ignore.clone());
        if !self.exports.contains_key(&export_key) {
            let dir = self.new_dir("artifact");
            let exported = repo
                .export(&sha, &dir, ignore.as_deref())
                .ok()
                .and_then(|_| crate::git::artifact_digest(&dir).ok())
                .filter(|_| !build::names_remote(&dir))
                .map(|digest| (dir, digest));
            self.exports.insert(export_key.clone(), exported);
        }
        let (artifact_dir, digest) = self.exports.get(&export_key)?.clone()?;
        if !build::secure_join(&artifact_dir, &spec.path).exists() {
            return None;
        }
        let scratch = self.new_dir("build");
        Some(BuildJob { namespace: ns.to_string(), name: name.to_string(), artifact_dir, digest, spec, scratch })
    }
}

/// The key of an object a prefetch reads (Flux sources and Kustomizations, ConfigMaps and
/// Secrets for substitution); `None` for other kinds.
fn key_of(obj: &Value, default_namespace: &str) -> Option<ObjKey> {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind, name) = (s("/apiVersion"), s("/kind"), s("/metadata/name"));
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    let read = matches!(
        (group, kind),
        ("source.toolkit.fluxcd.io", "GitRepository")
            | ("kustomize.toolkit.fluxcd.io", "Kustomization")
            | ("", "ConfigMap" | "Secret")
    );
    if !read || name.is_empty() {
        return None;
    }
    let ns = match s("/metadata/namespace") {
        "" => default_namespace,
        ns => ns,
    };
    Some((kind.to_string(), ns.to_string(), name.to_string()))
}

/// What a plan's builds depend on, as a hash: this version of the simulator, the plan's
/// repositories (settings and every file of their directories), the objects it applies and
/// the changes it commits.
fn fingerprint(plan: &Plan) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut put = |bytes: &[u8]| {
        ctx.update(&(bytes.len() as u64).to_be_bytes());
        ctx.update(bytes);
    };
    // How a plan is followed and builds are keyed may change between versions.
    put(concat!("idp-harness prefetch ", env!("CARGO_PKG_VERSION"), " plan format 1").as_bytes());
    for r in &plan.repos {
        put(format!("repo {} {:?} {:?} {:?}", r.url, r.branch, r.branches, r.tags).as_bytes());
        hash_tree(&r.from, &mut put);
    }
    for step in &plan.steps {
        match step {
            PlanStep::Apply { objects, default_namespace } => {
                put(b"apply");
                put(default_namespace.as_bytes());
                put(Value::from(objects.clone()).to_string().as_bytes());
            }
            PlanStep::Commit { url, branch, changes } => {
                put(format!("commit {url} {branch:?}").as_bytes());
                for c in changes {
                    match c {
                        Change::Write { path, contents } => {
                            put(format!("write {path}").as_bytes());
                            put(contents);
                        }
                        Change::Remove { path } => put(format!("remove {path}").as_bytes()),
                        Change::CopyDir { from, to } => {
                            put(format!("copy {to}").as_bytes());
                            hash_tree(from, &mut put);
                        }
                    }
                }
            }
        }
    }
    ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds every file under `dir` (relative path and contents, in path order) to `put`; what
/// cannot be read is fed as such, so it never matches a readable tree.
fn hash_tree(dir: &Path, put: &mut impl FnMut(&[u8])) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        put(format!("unreadable {}", dir.display()).as_bytes());
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| (e.path(), e.file_type().ok())).collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, ty) in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match ty {
            Some(t) if t.is_dir() => {
                put(format!("dir {name}").as_bytes());
                hash_tree(&path, put);
                put(b"end");
            }
            // Not followed (a link may loop): its target is what it is.
            Some(t) if t.is_symlink() => {
                put(format!("link {name} {:?}", std::fs::read_link(&path).ok()).as_bytes());
            }
            _ => {
                put(format!("file {name}").as_bytes());
                match std::fs::read(&path) {
                    Ok(bytes) => put(&bytes),
                    Err(_) => put(b"\0unreadable"),
                }
            }
        }
    }
}
