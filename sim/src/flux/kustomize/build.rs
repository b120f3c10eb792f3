//! Building a Kustomization: copy the artifact into a scratch directory, find or generate the
//! kustomization file and add the spec's build settings to it (fluxcd/pkg
//! `kustomize/kustomize_generator.go`), then run the real kustomize (`kubectl kustomize`, with
//! `--load-restrictor=LoadRestrictionsNone` as Flux's `krusty.Options` set; plugins stay off,
//! kubectl's default) and split its output into documents.
//!
//! What goes into the kustomization file, as upstream: `namespace` (targetNamespace),
//! `namePrefix`, `nameSuffix`, `patches` (appended), `components` (appended; missing ones
//! dropped with `ignoreMissingComponents`), `images` (merged by name) and `buildMetadata`.
//! `commonMetadata` and the owner labels are set after the build (see `apply`). A generated
//! file lists every `.yaml`/`.yml` file under the path (recursively, in lexical order) and
//! every sub-directory holding a kustomization file (not descended into); a YAML file that
//! does not parse fails the generation (`failed to decode Kubernetes YAML from <file>: ...`).
//!
//! Builds are cached by (artifact digest, path, build settings) so the fixed point does not
//! run kustomize again for nothing. Builds are also shared process-wide by the same key
//! ([`SHARED`]) and kept on disk: the digest covers every file of the artifact, so scenarios
//! that start from the same fixtures build each Kustomization once. kustomize's own failures
//! are kept too, with the scratch directory of the failed build as a mark that the next
//! caller's directory replaces, so a replayed message reads as if kustomize had run there.
//! The time spent in kustomize processes is counted apart ([`stats`]). This module must not
//! talk to the API server.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::crd::Spec;

/// The file names kustomize recognises, in its order (`konfig.RecognizedKustomizationFileNames`).
pub const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// A build that failed, with the message upstream puts on `BuildFailed`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// The platform has no kubectl, so no kustomize.
    #[error("kustomize build failed: kustomize is not available: the simulated platform was started without kubectl (Tools.kubectl)")]
    NoKustomize,
    /// Writing the scratch copy or the kustomization file failed.
    #[error("{0}")]
    Io(String),
    /// The generator refused the path (`failed to decode Kubernetes YAML from ...`, a
    /// non-local component, an unreadable kustomization file).
    #[error("{0}")]
    Generate(String),
    /// kustomize's own error.
    #[error("kustomize build failed: {0}")]
    Kustomize(String),
}

/// Time spent running kustomize, process-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BuildStats {
    /// kustomize processes run.
    pub runs: u64,
    /// Builds answered from the cache.
    pub cached: u64,
    /// Wall time inside kustomize processes.
    pub process_time: Duration,
    /// Of `runs`, those made ahead of the platforms that need them ([`super::prefetch`]).
    pub runs_ahead: u64,
}

static RUNS: AtomicU64 = AtomicU64::new(0);
static CACHED: AtomicU64 = AtomicU64::new(0);
static NANOS: AtomicU64 = AtomicU64::new(0);
static AHEAD: AtomicU64 = AtomicU64::new(0);

/// Counts kustomize runs made ahead (see [`BuildStats::runs_ahead`]).
pub(crate) fn count_ahead(runs: u64) {
    AHEAD.fetch_add(runs, Ordering::Relaxed);
}

/// What the kustomize processes of this process cost so far.
pub fn stats() -> BuildStats {
    BuildStats {
        runs: RUNS.load(Ordering::Relaxed),
        cached: CACHED.load(Ordering::Relaxed),
        process_time: Duration::from_nanos(NANOS.load(Ordering::Relaxed)),
        runs_ahead: AHEAD.load(Ordering::Relaxed),
    }
}

/// Builds of this process by (artifact digest, build settings). kustomize's answer depends
/// only on the files of the tree (plugins are off; a remote base is the exception: builds
/// whose kustomization files name a URL are not shared).
static SHARED: std::sync::LazyLock<Mutex<HashMap<String, Kept>>> = std::sync::LazyLock::new(Default::default);

/// What [`SHARED`] and the disk keep of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kept {
    /// kustomize's output.
    Output(String),
    /// kustomize exited with an error: its message, the build's scratch directory replaced by
    /// [`SCRATCH_MARK`].
    Failed(String),
}

/// Stands for the scratch directory in a kept failure (NUL appears in no path or message).
const SCRATCH_MARK: &str = "\u{0}scratch\u{0}";

impl Kept {
    /// A failure as kept: `scratch` (as given and as resolved) replaced by the mark.
    fn failed(message: &str, scratch: &Path, resolved: Option<&Path>) -> Kept {
        let mut text = message.to_string();
        for dir in resolved.into_iter().chain([scratch]) {
            let dir = dir.display().to_string();
            if !dir.is_empty() {
                text = text.replace(&dir, SCRATCH_MARK);
            }
        }
        Kept::Failed(text)
    }

    /// The build's result for a caller building in `scratch`.
    fn result(&self, scratch: &Path) -> Result<String, BuildError> {
        match self {
            Kept::Output(output) => Ok(output.clone()),
            Kept::Failed(text) => {
                Err(BuildError::Kustomize(text.replace(SCRATCH_MARK, &scratch.display().to_string())))
            }
        }
    }
}

/// At most this many outputs are kept in [`SHARED`] (then it starts again).
const SHARED_LIMIT: usize = 1024;

/// Builds running now, by the same key as [`SHARED`]: a second platform that needs the same
/// build (two scenarios of one platform starting together) waits for the first instead of
/// running kustomize on the same tree again.
static IN_FLIGHT: std::sync::LazyLock<Mutex<HashMap<String, std::sync::Arc<InFlight>>>> =
    std::sync::LazyLock::new(Default::default);

#[derive(Default)]
struct InFlight {
    done: Mutex<bool>,
    finished: std::sync::Condvar,
}

/// Marks a build as running until dropped (also when the build panics), then wakes waiters.
struct FlightGuard {
    key: String,
    flight: std::sync::Arc<InFlight>,
}

impl FlightGuard {
    /// `Some` when this caller runs the build; `None` after waiting for another caller's.
    fn claim(key: &str) -> Option<FlightGuard> {
        let mut map = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = map.get(key).cloned() {
            drop(map);
            let mut done = flight.done.lock().unwrap_or_else(|e| e.into_inner());
            while !*done {
                done = flight.finished.wait(done).unwrap_or_else(|e| e.into_inner());
            }
            return None;
        }
        let flight = std::sync::Arc::new(InFlight::default());
        map.insert(key.to_string(), flight.clone());
        Some(FlightGuard { key: key.to_string(), flight })
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
        *self.flight.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.flight.finished.notify_all();
    }
}

/// True when a kustomization file under `dir` names something remote (`scheme://` or an
/// scp-like `git@host:` reference), whose contents the artifact digest does not cover.
pub(crate) fn names_remote(dir: &Path) -> bool {
    fn walk(dir: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else { return true };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ty) = entry.file_type() else { return true };
            if ty.is_dir() {
                if walk(&path) {
                    return true;
                }
            } else if KUSTOMIZATION_FILES.iter().any(|n| entry.file_name() == *n) {
                match std::fs::read_to_string(&path) {
                    Ok(text) if !text.contains("://") && !text.contains("git@") => {}
                    _ => return true,
                }
            }
        }
        false
    }
    walk(dir)
}

/// Empties the process-wide map (tests: to see what a new process would see).
#[cfg(test)]
pub fn forget_shared() {
    SHARED.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// The build settings of a spec, as a cache key part.
fn settings_key(spec: &Spec) -> String {
    json!([
        spec.path,
        spec.target_namespace,
        spec.name_prefix,
        spec.name_suffix,
        spec.patches,
        spec.images,
        spec.components,
        spec.ignore_missing_components,
        spec.build_metadata
    ])
    .to_string()
}

/// The key a build is cached by: the artifact's digest and the build settings.
pub(crate) fn cache_key(digest: &str, spec: &Spec) -> String {
    format!("{digest}\n{}", settings_key(spec))
}

/// One cached build: its key and result.
type Cached = (String, Result<String, BuildError>);

/// Cached kustomize outputs per Kustomization (namespace, name).
#[derive(Default)]
pub struct BuildCache {
    entries: Mutex<HashMap<(String, String), Cached>>,
    /// Where outputs are kept between runs (see [`DiskCache`]).
    disk: Option<DiskCache>,
}

/// kustomize outputs on disk, one file per key: `<dir>/kustomize/<sha256>.yaml` (a failure:
/// `<sha256>.err`, see [`Kept`]; a prefetch plan's builds: `<sha256>.plan`). The key covers the
/// kubectl binary (path, size, modification time), the artifact digest (every file of the tree) and
/// the build settings; like the process-wide map, only builds of trees without remote references
/// are kept. Files are written whole and renamed into place, so parallel runs sharing the directory
/// never read half a file. When the directory holds more than [`DISK_LIMIT`] files, the older half
/// is removed.
struct DiskCache {
    dir: PathBuf,
}

/// See [`DiskCache`].
const DISK_LIMIT: usize = 4096;

impl DiskCache {
    fn key(kubectl: &Path, ck: &str) -> Option<String> {
        let meta = std::fs::metadata(kubectl).ok()?;
        let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(format!("{}\n{}\n{mtime}\n{ck}", kubectl.display(), meta.len()).as_bytes());
        Some(ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }

    fn holds(&self, key: &str) -> bool {
        ["yaml", "err"].iter().any(|ext| self.dir.join(format!("{key}.{ext}")).is_file())
    }

    fn get(&self, key: &str) -> Option<Kept> {
        let read = |ext: &str| std::fs::read_to_string(self.dir.join(format!("{key}.{ext}"))).ok();
        read("yaml").map(Kept::Output).or_else(|| read("err").map(Kept::Failed))
    }

    fn put(&self, key: &str, kept: &Kept) {
        match kept {
            Kept::Output(output) => self.write(key, "yaml", output),
            Kept::Failed(text) => self.write(key, "err", text),
        }
    }

    /// Best effort: a cache that cannot be written only costs time.
    fn write(&self, key: &str, ext: &str, text: &str) {
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&self.dir) else { return };
        use std::io::Write;
        if tmp.write_all(text.as_bytes()).is_ok() && tmp.persist(self.dir.join(format!("{key}.{ext}"))).is_ok() {
            self.trim();
        }
    }

    fn trim(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            entries.flatten().filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path()))).collect();
        if files.len() <= DISK_LIMIT {
            return;
        }
        files.sort();
        for (_, path) in files.iter().take(files.len() / 2) {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl BuildCache {
    /// A cache that also keeps outputs under `disk` (see [`crate::platform::Tools::build_cache`]).
    pub fn new(disk: Option<PathBuf>) -> BuildCache {
        BuildCache { entries: Mutex::default(), disk: disk.map(|d| DiskCache { dir: d.join("kustomize") }) }
    }

    /// The build output for this artifact and spec, from the cache or by running kustomize.
    pub fn build(
        &self,
        key: (&str, &str),
        kubectl: Option<&Path>,
        artifact_dir: &Path,
        digest: &str,
        spec: &Spec,
        scratch: &Path,
    ) -> Result<String, BuildError> {
        let ck = cache_key(digest, spec);
        let k = (key.0.to_string(), key.1.to_string());
        if let Some((stored, result)) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(&k) {
            if *stored == ck {
                CACHED.fetch_add(1, Ordering::Relaxed);
                return result.clone();
            }
        }
        let disk = match (&self.disk, kubectl) {
            (Some(d), Some(k)) => DiskCache::key(k, &ck).map(|key| (d, key)),
            _ => None,
        };
        let from_shared = || SHARED.lock().unwrap_or_else(|e| e.into_inner()).get(&ck).cloned();
        let mut shared = from_shared().or_else(|| disk.as_ref().and_then(|(d, key)| d.get(key)));
        // The same build running elsewhere: wait for it (after one that was not kept, such as
        // a kustomize that could not start, this caller builds too). A claimed flight is held
        // until this build is stored below, so its waiters find it in SHARED.
        let flight = if shared.is_none() { FlightGuard::claim(&ck) } else { None };
        if shared.is_none() && flight.is_none() {
            shared = from_shared();
        }
        let result = match shared {
            Some(kept) => {
                CACHED.fetch_add(1, Ordering::Relaxed);
                kept.result(scratch)
            }
            None => {
                let (result, exited) = build_uncached(kubectl, artifact_dir, spec, scratch);
                let resolved = std::fs::canonicalize(scratch).ok();
                let _ = std::fs::remove_dir_all(scratch);
                let kept = match &result {
                    Ok(output) => Some(Kept::Output(output.clone())),
                    Err(BuildError::Kustomize(message)) if exited => {
                        Some(Kept::failed(message, scratch, resolved.as_deref()))
                    }
                    Err(_) => None,
                };
                if let Some(kept) = kept.filter(|_| !names_remote(artifact_dir)) {
                    if let Some((d, key)) = &disk {
                        d.put(key, &kept);
                    }
                    let mut map = SHARED.lock().unwrap_or_else(|e| e.into_inner());
                    if map.len() >= SHARED_LIMIT {
                        map.clear();
                    }
                    map.insert(ck.clone(), kept);
                }
                result
            }
        };
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).insert(k, (ck, result.clone()));
        result
    }

    /// The disk cache's name for a build (`None` without a disk cache or a readable kubectl).
    pub(crate) fn disk_key(&self, kubectl: &Path, digest: &str, spec: &Spec) -> Option<String> {
        self.disk.as_ref()?;
        DiskCache::key(kubectl, &cache_key(digest, spec))
    }

    /// True when the disk cache holds the build of this [`BuildCache::disk_key`].
    pub(crate) fn on_disk(&self, key: &str) -> bool {
        self.disk.as_ref().is_some_and(|d| d.holds(key))
    }

    /// The builds recorded for a prefetch plan (see [`super::prefetch`]): disk keys, one per
    /// line in `<dir>/kustomize/<fingerprint>.plan`, where `fingerprint` also covers kubectl.
    pub(crate) fn plan_builds(&self, kubectl: &Path, fingerprint: &str) -> Option<Vec<String>> {
        let d = self.disk.as_ref()?;
        let name = DiskCache::key(kubectl, fingerprint)?;
        let text = std::fs::read_to_string(d.dir.join(format!("{name}.plan"))).ok()?;
        Some(text.lines().map(str::to_string).collect())
    }

    /// Records a prefetch plan's builds (best effort, as every disk write here).
    pub(crate) fn put_plan_builds(&self, kubectl: &Path, fingerprint: &str, keys: &[String]) {
        let (Some(d), Some(name)) = (self.disk.as_ref(), DiskCache::key(kubectl, fingerprint)) else { return };
        d.write(&name, "plan", &keys.join("\n"));
    }

    /// True when the cache holds no build for these inputs.
    pub fn is_stale(&self, key: (&str, &str), digest: &str, spec: &Spec) -> bool {
        let ck = cache_key(digest, spec);
        let k = (key.0.to_string(), key.1.to_string());
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(&k).is_none_or(|(stored, _)| *stored != ck)
    }

    /// Runs several builds at once (up to the machine's parallelism), filling the cache: the
    /// fixed point then finds them ready. Builds touch no cluster state, so building a
    /// Kustomization before its turn changes nothing but the time it takes.
    pub fn build_many(&self, kubectl: Option<&Path>, jobs: &[BuildJob]) {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
        for chunk in jobs.chunks(workers) {
            std::thread::scope(|scope| {
                for job in chunk {
                    scope.spawn(move || {
                        let key = (job.namespace.as_str(), job.name.as_str());
                        let _ = self.build(key, kubectl, &job.artifact_dir, &job.digest, &job.spec, &job.scratch);
                    });
                }
            });
        }
    }

    /// Forgets a deleted Kustomization.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(&(namespace.to_string(), name.to_string()));
    }
}

/// One build to run ahead of its reconcile.
#[derive(Debug, Clone)]
pub struct BuildJob {
    pub namespace: String,
    pub name: String,
    pub artifact_dir: PathBuf,
    pub digest: String,
    pub spec: Spec,
    pub scratch: PathBuf,
}

/// Joins `path` under `root` the way securejoin does: `..` cannot climb above the root.
pub fn secure_join(root: &Path, path: &str) -> PathBuf {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut out = root.to_path_buf();
    for p in parts {
        out.push(p);
    }
    out
}

fn io(e: std::io::Error, what: &Path) -> BuildError {
    BuildError::Io(format!("{}: {e}", what.display()))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(to).map_err(|e| io(e, to))?;
    for entry in std::fs::read_dir(from).map_err(|e| io(e, from))? {
        let entry = entry.map_err(|e| io(e, from))?;
        let ty = entry.file_type().map_err(|e| io(e, &entry.path()))?;
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if ty.is_file() {
            // Hard links are enough (the kustomization file is replaced, never written
            // through); a copy where linking is not possible.
            if std::fs::hard_link(entry.path(), &dest).is_err() {
                std::fs::copy(entry.path(), &dest).map_err(|e| io(e, &dest))?;
            }
        }
    }
    Ok(())
}

/// Runs kustomize on a scratch copy of the artifact. The flag says whether kustomize ran and
/// exited: only then does the result depend on nothing but the tree and the settings.
fn build_uncached(
    kubectl: Option<&Path>,
    artifact_dir: &Path,
    spec: &Spec,
    scratch: &Path,
) -> (Result<String, BuildError>, bool) {
    match run_kustomize(kubectl, artifact_dir, spec, scratch) {
        Ok((result, code)) => (result, code.is_some()),
        Err(e) => (Err(e), false),
    }
}

/// The build and kustomize's exit code (`None`: killed by a signal); `Err` when kustomize did
/// not run.
fn run_kustomize(
    kubectl: Option<&Path>,
    artifact_dir: &Path,
    spec: &Spec,
    scratch: &Path,
) -> Result<(Result<String, BuildError>, Option<i32>), BuildError> {
    let _ = std::fs::remove_dir_all(scratch);
    copy_tree(artifact_dir, scratch)?;
    let dir = secure_join(scratch, &spec.path);
    let kfile = generate(&dir, spec)?;
    // Unlink first: the file may be a hard link into the artifact.
    let _ = std::fs::remove_file(&kfile.0);
    std::fs::write(&kfile.0, kfile.1).map_err(|e| io(e, &kfile.0))?;
    let kubectl = kubectl.ok_or(BuildError::NoKustomize)?;
    let started = Instant::now();
    let out = std::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(&dir)
        .arg("--load-restrictor=LoadRestrictionsNone")
        .env("HOME", scratch)
        .output()
        .map_err(|e| BuildError::Kustomize(format!("running {}: {e}", kubectl.display())))?;
    NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    RUNS.fetch_add(1, Ordering::Relaxed);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let msg = stderr.trim().strip_prefix("error: ").unwrap_or(stderr.trim()).to_string();
        return Ok((Err(BuildError::Kustomize(msg)), out.status.code()));
    }
    Ok((Ok(String::from_utf8_lossy(&out.stdout).into_owned()), out.status.code()))
}

/// Finds or generates the kustomization file of `dir` and adds the spec's settings. Returns
/// the file to write and its contents (JSON, which kustomize reads as YAML).
pub fn generate(dir: &Path, spec: &Spec) -> Result<(PathBuf, String), BuildError> {
    let existing = KUSTOMIZATION_FILES.iter().map(|f| dir.join(f)).find(|p| p.is_file());
    let (path, mut kus, created) = match existing {
        Some(p) => {
            let text = std::fs::read_to_string(&p).map_err(|e| io(e, &p))?;
            let v: Value = serde_saphyr::from_str(&text).map_err(|e| BuildError::Generate(e.to_string()))?;
            let v = if v.is_null() { json!({}) } else { v };
            (p, v, false)
        }
        None => {
            let mut files = Vec::new();
            scan(dir, dir, &mut files)?;
            let mut kus = json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"});
            if files.is_empty() {
                kus["namespace"] = json!("_placeholder");
            } else {
                kus["resources"] = json!(files);
            }
            (dir.join(KUSTOMIZATION_FILES[0]), kus, true)
        }
    };
    let Some(k) = kus.as_object_mut() else {
        return Err(BuildError::Generate(format!("{}: not a kustomization object", path.display())));
    };
    let no_resources = k.get("resources").and_then(Value::as_array).is_none_or(|r| r.is_empty());
    if !created && no_resources {
        k.insert("buildMetadata".into(), json!(["originAnnotations"]));
    }
    if let Some(ns) = &spec.target_namespace {
        k.insert("namespace".into(), json!(ns));
    }
    if let Some(p) = &spec.name_prefix {
        k.insert("namePrefix".into(), json!(p));
    }
    if let Some(s) = &spec.name_suffix {
        k.insert("nameSuffix".into(), json!(s));
    }
    if !spec.patches.is_empty() {
        let list = k.entry("patches").or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut() {
            a.extend(spec.patches.iter().cloned());
        }
    }
    for c in &spec.components {
        if !is_local_relative(c) {
            return Err(BuildError::Generate(format!("component path '{c}' must be local and relative")));
        }
        if spec.ignore_missing_components && !secure_join(dir, c).exists() {
            continue;
        }
        let list = k.entry("components").or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut() {
            a.push(json!(c));
        }
    }
    for image in &spec.images {
        let name = image.get("name").cloned().unwrap_or(Value::Null);
        let list = k.entry("images").or_insert_with(|| json!([]));
        let Some(a) = list.as_array_mut() else { continue };
        match a.iter_mut().find(|i| i.get("name") == Some(&name)) {
            Some(existing) => {
                let s = |f: &str| image.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
                if !s("newName").is_empty() {
                    existing["newName"] = json!(s("newName"));
                }
                if !s("newTag").is_empty() || !s("digest").is_empty() {
                    existing["newTag"] = json!(s("newTag"));
                    existing["digest"] = json!(s("digest"));
                }
            }
            None => a.push(image.clone()),
        }
    }
    if !spec.build_metadata.is_empty() {
        k.insert("buildMetadata".into(), json!(spec.build_metadata));
    }
    let text = serde_json::to_string_pretty(&kus).map_err(|e| BuildError::Generate(e.to_string()))?;
    Ok((path, text))
}

/// `IsLocalRelativePath`.
fn is_local_relative(path: &str) -> bool {
    let lower = path.to_lowercase();
    let remote = ["git::", "gh:", "ssh://", "https://", "http://", "git@", "github.com:", "github.com/"];
    if remote.iter().any(|p| p.len() < path.len() && lower.starts_with(p)) {
        return false;
    }
    !(path.starts_with('/') || lower.trim_start_matches("file://").starts_with('/'))
}

/// `scanManifests`: YAML files and kustomization directories under `dir`, as `./rel` paths.
fn scan(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), BuildError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(|e| io(e, dir))?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = || format!("./{}", path.strip_prefix(base).unwrap_or(&path).to_string_lossy());
        if path.is_dir() {
            if KUSTOMIZATION_FILES.iter().any(|f| path.join(f).is_file()) {
                out.push(rel());
            } else {
                scan(base, &path, out)?;
            }
            continue;
        }
        let ext = path.extension().and_then(|x| x.to_str()).unwrap_or_default();
        if ext != "yaml" && ext != "yml" {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| io(e, &path))?;
        if let Err(e) = serde_saphyr::from_multiple::<Value>(&text) {
            return Err(BuildError::Generate(format!("failed to decode Kubernetes YAML from {}: {e}", path.display())));
        }
        out.push(rel());
    }
    Ok(())
}

/// Splits kustomize's output into documents (text and parsed value), skipping empty ones.
pub fn split_documents(output: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in output.lines() {
        if line == "---" {
            if !cur.trim().is_empty() {
                docs.push(std::mem::take(&mut cur));
            }
            cur.clear();
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    if !cur.trim().is_empty() {
        docs.push(cur);
    }
    docs
}
