//! The evidence bundle of a failed scenario: what the cluster looked like when it failed,
//! captured before cleanup deletes it, as plain files in `<evidence dir>/<scenario name>/`:
//!
//! - `objects.yaml`: the scenario's Namespace, every object in it (each namespaced resource
//!   type discovery lists with the `list` verb; Events excepted, they are in `events.txt`), the
//!   same for every namespace Flux applied (labelled `kustomize.toolkit.fluxcd.io/name`: a GitOps
//!   scenario's workloads live there), and every object the scenario applied elsewhere;
//!   `managedFields` dropped;
//! - `events.txt`: the Events of those namespaces, oldest first, one line each;
//! - `conditions.txt`: `status.conditions` of every captured object that has them;
//! - `failure.txt`: the failure message, the step it came from, the detail and the diff;
//! - `timeline.txt`: every step with its verdict, start offset, duration, path, name and line;
//! - `causal.txt`: what led to what, in order: each step's start and end between the
//!   platform's hops (on the simulator every controller decision, with its notes: a commit
//!   fetched, a Kustomization applied, an ACK resource synced, a mount failing; on a real
//!   cluster the namespace's Events), each with its time since the scenario started and the time
//!   the hop took since the one before;
//! - `decisions.txt`: the simulated controllers' decisions as recorded;
//! - `aws-calls.txt`: every AWS call made for the scenario (by the harness and the simulated
//!   components): time, duration, service, operation, HTTP status and the signing key id (which
//!   identity acted); no parameters, so no values;
//! - `capture-errors.txt`: only when something could not be captured (and why).
//!
//! Capture is bounded ([`CAPTURE_LIMIT`], [`MAX_OBJECTS`]), only reads from the cluster, and
//! never changes a scenario's verdict or failure: anything that goes wrong goes into
//! `capture-errors.txt`. It must never write a secret: Secret `data`/`stringData` values are
//! redacted with [`matcher::redact`], a Secret's last-applied annotation is dropped, and the
//! Secret values it read are blanked out of every file it writes.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Method;
use kube::core::ApiResource;
use kube::discovery::{verbs, Discovery, Scope};
use serde_json::Value;

use super::context::Cx;
use super::events::{Failure, StepReport, Verdict};
use super::kube_io::{Kube, Target};
use super::matcher;

/// Longest a capture may take; what was collected by then is written.
pub const CAPTURE_LIMIT: Duration = Duration::from_secs(20);
/// Most objects `objects.yaml` holds (and most Events `events.txt` holds).
pub const MAX_OBJECTS: usize = 1000;
/// Files every bundle has (`capture-errors.txt` only when there were errors).
pub const BUNDLE_FILES: [&str; 8] = [
    "failure.txt",
    "timeline.txt",
    "causal.txt",
    "decisions.txt",
    "aws-calls.txt",
    "objects.yaml",
    "events.txt",
    "conditions.txt",
];
/// Secret values shorter than this are not blanked out of the other files: they would blank
/// out ordinary words (they are still redacted in the Secret itself).
const MIN_SCRUB_LEN: usize = 6;
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// When the bundle was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A step failed, timed out or was interrupted: captured before anything was deleted.
    BeforeCleanup,
    /// Only the cleanup failed (or left something behind): captured after it, showing what is left.
    AfterCleanup,
}

/// What to capture for one failed scenario.
pub struct Bundle<'a> {
    /// The folder bundles go to; this one goes to `<dir>/<scenario name>/`.
    pub dir: &'a Path,
    /// The scenario file.
    pub file: &'a Path,
    pub failure: &'a Failure,
    /// The steps reported so far.
    pub steps: &'a [StepReport],
    pub stage: Stage,
    /// When the scenario started (step offsets count from it).
    pub t0: std::time::Instant,
}

/// What was read from the cluster.
#[derive(Default)]
struct Collected {
    objects: Vec<Value>,
    events: Vec<Value>,
    errors: Vec<String>,
    seen: HashSet<String>,
    /// Secret values read (as stored, and base64-decoded), to blank out of every file.
    secrets: HashSet<String>,
}

/// Captures the bundle and returns its folder, or None when the folder cannot be created.
/// Never fails the scenario: errors go into `capture-errors.txt`.
/// The platform's controller decisions, one per line (empty on real clusters).
fn decisions_text(decisions: &[serde_json::Value]) -> String {
    if decisions.is_empty() {
        return "no controller decisions recorded (real clusters keep them in their controllers' logs)\n".into();
    }
    let mut out = String::new();
    for d in decisions {
        let s = |k: &str| d.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
        let n = |k: &str| d.get(k).and_then(serde_json::Value::as_u64).unwrap_or_default();
        let key = if s("namespace").is_empty() { s("name") } else { format!("{}/{}", s("namespace"), s("name")) };
        out.push_str(&format!(
            "{:>7}ms rv={:<6} {:<32} {:<40} {}\n",
            n("atMs"),
            n("rv"),
            s("controller"),
            key,
            s("outcome")
        ));
        for note in d.get("notes").and_then(serde_json::Value::as_array).into_iter().flatten() {
            out.push_str(&format!("            {}\n", note.as_str().unwrap_or_default()));
        }
    }
    out
}

pub async fn capture(cx: &Cx, b: Bundle<'_>) -> Option<PathBuf> {
    let folder = match new_folder(b.dir, &cx.scenario) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("cannot create the evidence folder in {}: {e}", b.dir.display());
            return None;
        }
    };
    let mut got = Collected::default();
    if tokio::time::timeout(CAPTURE_LIMIT, collect(cx, &mut got)).await.is_err() {
        got.errors.push(format!(
            "capture stopped after {}: the files hold what was read by then",
            crate::scenario::Duration(CAPTURE_LIMIT)
        ));
    }
    let mut secrets: Vec<String> = got.secrets.iter().filter(|s| s.len() >= MIN_SCRUB_LEN).cloned().collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let decisions = cx.stage.decisions();
    let calls = cx.stage.aws_calls();
    let causal = causal_text(b.steps, &decisions, cx.stage.decisions_origin(), b.t0, &got.events, calls.as_ref());
    let files: [(&str, String); 8] = [
        ("causal.txt", causal),
        ("aws-calls.txt", aws_calls_text(calls.as_ref(), b.t0)),
        ("decisions.txt", decisions_text(&decisions)),
        ("failure.txt", failure_text(cx, &b)),
        ("timeline.txt", timeline(b.steps)),
        ("objects.yaml", objects_yaml(cx, &got.objects, b.stage)),
        ("events.txt", events_text(&cx.namespace, &got.events)),
        ("conditions.txt", conditions_text(&got.objects)),
    ];
    let mut errors = std::mem::take(&mut got.errors);
    for (name, text) in &files {
        if let Err(e) = fs::write(folder.join(name), scrub(text, &secrets)) {
            errors.push(format!("cannot write {name}: {e}"));
        }
    }
    if !errors.is_empty() {
        let text = errors.iter().map(|e| format!("{e}\n")).collect::<String>();
        if let Err(e) = fs::write(folder.join("capture-errors.txt"), scrub(&text, &secrets)) {
            tracing::warn!("cannot write {}: {e}", folder.join("capture-errors.txt").display());
        }
    }
    Some(folder)
}

/// The causal timeline: steps interleaved with the platform's hops, each with `+offset` since
/// the scenario started and `Δ` since the line before.
fn causal_text(
    steps: &[StepReport],
    decisions: &[Value],
    origin: Option<std::time::Instant>,
    t0: std::time::Instant,
    events: &[Value],
    calls: Option<&(std::time::Instant, Vec<sim::aws::Call>)>,
) -> String {
    // (offset from t0 in µs, kind, text)
    let mut rows: Vec<(i64, &str, String)> = Vec::new();
    if let Some((origin, calls)) = calls {
        let shift = micros_between(*origin, t0);
        for c in calls {
            let status = c.status.map_or("no answer".to_string(), |s| s.to_string());
            rows.push((
                c.at.as_micros() as i64 - shift,
                "aws",
                format!("{} {} {status} ({} ms)", c.service, c.operation, c.took.as_millis()),
            ));
        }
    }
    for s in steps {
        let start = s.started.as_micros() as i64;
        rows.push((start, "step", format!("{} {} (line {}): started", s.path, s.name, s.line)));
        let end = start + s.duration.as_micros() as i64;
        let verdict = match (&s.verdict, &s.failure) {
            (Verdict::Failed, Some(f)) => format!("FAILED: {}", f.message.lines().next().unwrap_or_default()),
            (Verdict::Failed, None) => "FAILED".into(),
            (Verdict::Passed, _) => "passed".into(),
            (Verdict::Skipped, _) => "skipped".into(),
        };
        rows.push((end, "step", format!("{} {}", s.path, verdict)));
    }
    match origin {
        Some(origin) => {
            // Decisions count from the runtime's start (inside the scenario's stage, so after t0).
            let shift = micros_between(origin, t0);
            for d in decisions {
                let at = d.get("atUs").and_then(Value::as_i64).unwrap_or_default() - shift;
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                let key =
                    if s("namespace").is_empty() { s("name") } else { format!("{}/{}", s("namespace"), s("name")) };
                let notes: Vec<&str> =
                    d.get("notes").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
                let detail = if notes.is_empty() { String::new() } else { format!(": {}", notes.join("; ")) };
                rows.push((at, "hop", format!("{} {key} {}{detail}", s("controller"), s("outcome"))));
            }
        }
        None => {
            // A real cluster: its Events, placed by their (second-resolution) times.
            let now = jiff::Timestamp::now();
            let t0_wall = now.as_microsecond() - t0.elapsed().as_micros() as i64;
            for e in events {
                let Ok(at) = event_time(e).parse::<jiff::Timestamp>() else { continue };
                let what = format!(
                    "event {} {} {}/{}: {}",
                    str_at(e, "/type"),
                    str_at(e, "/reason"),
                    str_at(e, "/involvedObject/kind"),
                    str_at(e, "/involvedObject/name"),
                    str_at(e, "/message")
                );
                rows.push((at.as_microsecond() - t0_wall, "hop", what));
            }
        }
    }
    rows.sort_by_key(|(at, kind, _)| (*at, *kind != "step"));
    let mut out = String::from("+OFFSET     Δ HOP  WHAT (steps of the scenario; hops of the platform)\n");
    let mut prev = 0i64;
    for (at, kind, text) in rows {
        let _ = writeln!(out, "{:>+7.3}s {:>5}ms {:<4} {}", at as f64 / 1e6, (at - prev).max(0) / 1000, kind, text);
        prev = prev.max(at);
    }
    if decisions.is_empty() && events.is_empty() {
        out.push_str("(no platform hops were recorded)\n");
    }
    out
}

/// `to - from` in µs, negative when `to` is earlier (a clock that started after the scenario).
fn micros_between(from: std::time::Instant, to: std::time::Instant) -> i64 {
    match to.checked_duration_since(from) {
        Some(d) => d.as_micros() as i64,
        None => -(from.duration_since(to).as_micros() as i64),
    }
}

/// Every AWS call, one per line.
fn aws_calls_text(calls: Option<&(std::time::Instant, Vec<sim::aws::Call>)>, t0: std::time::Instant) -> String {
    let Some((origin, calls)) = calls else {
        return "the scenario used no AWS endpoint\n".into();
    };
    if calls.is_empty() {
        return "no AWS calls were made\n".into();
    }
    let shift = micros_between(*origin, t0) / 1000;
    let mut out = String::from("+OFFSET   TOOK  STATUS  CALL (signed by access key id)\n");
    for c in calls {
        let _ = writeln!(
            out,
            "{:>+7.3}s {:>4}ms {:>6}  {} {} ({})",
            (c.at.as_millis() as i64 - shift) as f64 / 1000.0,
            c.took.as_millis(),
            c.status.map_or("-".to_string(), |s| s.to_string()),
            c.service,
            c.operation,
            c.access_key_id
        );
    }
    out
}

/// `<dir>/<name>`, or `<dir>/<name>-2`, … when a repeat of the scenario already wrote one.
fn new_folder(dir: &Path, scenario: &str) -> std::io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let name: String =
        scenario.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    let name = if name.is_empty() || name.starts_with('.') { format!("scenario{name}") } else { name };
    let mut n = 1;
    loop {
        let candidate = if n == 1 { dir.join(&name) } else { dir.join(format!("{name}-{n}")) };
        match fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Reads the namespace, its objects and Events, and the objects applied elsewhere, into `got`
/// (so that what was read survives the time limit).
/// The label Flux's kustomize-controller puts on what it applies.
const FLUX_OWNER_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";

async fn collect(cx: &Cx, got: &mut Collected) {
    let ns = cx.namespace.as_str();
    let ns_ar = ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Namespace".into(),
        plural: "namespaces".into(),
    };
    let ns_target =
        Target { api_version: "v1".into(), kind: "Namespace".into(), name: ns.into(), namespace: "".into() };
    match cx.kube.get(&ns_ar, &ns_target).await {
        Ok(Some(obj)) => got.add(obj, &ns_ar),
        Ok(None) => got.errors.push(format!("namespace {ns} does not exist")),
        Err(e) => got.errors.push(format!("cannot read namespace {ns}: {e}")),
    }
    // Namespaces Flux applied (a GitOps scenario's workloads live there, not in the scenario's).
    let mut namespaces = vec![ns.to_string()];
    for obj in list(&cx.kube, &ns_ar, "", MAX_OBJECTS, &mut got.errors).await {
        let name = name_of(&obj).to_string();
        if name != ns && obj.pointer("/metadata/labels").and_then(|l| l.get(FLUX_OWNER_LABEL)).is_some() {
            namespaces.push(name);
            got.add(obj, &ns_ar);
        }
    }
    match Discovery::new(cx.kube.client.clone()).run().await {
        Ok(discovery) => {
            let mut types: Vec<ApiResource> = discovery
                .groups()
                .flat_map(|g| g.resources_by_stability())
                .filter(|(_, caps)| caps.scope == Scope::Namespaced && caps.supports_operation(verbs::LIST))
                .map(|(ar, _)| ar)
                .filter(|ar| ar.plural != "events" || !(ar.group.is_empty() || ar.group == "events.k8s.io"))
                .collect();
            types.sort_by(|a, b| (a.group.as_str(), a.kind.as_str()).cmp(&(b.group.as_str(), b.kind.as_str())));
            'all: for n in &namespaces {
                for ar in &types {
                    if got.objects.len() >= MAX_OBJECTS {
                        got.errors.push(format!("stopped at {MAX_OBJECTS} objects: not every type was listed"));
                        break 'all;
                    }
                    let items = list(&cx.kube, ar, n, MAX_OBJECTS - got.objects.len(), &mut got.errors).await;
                    for obj in items {
                        got.add(obj, ar);
                    }
                }
            }
        }
        Err(e) => got.errors.push(format!("cannot discover the resource types: {e}")),
    }
    let applied: Vec<(Target, ApiResource)> = cx.applied.lock().map(|a| a.clone()).unwrap_or_default();
    for (t, ar) in applied.iter().filter(|(t, _)| t.namespace != ns) {
        if got.objects.len() >= MAX_OBJECTS {
            got.errors.push(format!("stopped at {MAX_OBJECTS} objects: not every applied object was read"));
            break;
        }
        match cx.kube.get(ar, t).await {
            Ok(Some(obj)) => got.add(obj, ar),
            Ok(None) => got.errors.push(format!("{t} (applied by the scenario) does not exist")),
            Err(e) => got.errors.push(format!("cannot read {t}: {e}")),
        }
    }
    let events_ar = ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Event".into(),
        plural: "events".into(),
    };
    for n in &namespaces {
        let room = MAX_OBJECTS.saturating_sub(got.events.len());
        let events = list(&cx.kube, &events_ar, n, room, &mut got.errors).await;
        got.events.extend(events);
    }
}

/// Up to `max` objects of one type in a namespace (the API server's `limit`); errors are noted.
async fn list(kube: &Kube, ar: &ApiResource, ns: &str, max: usize, errors: &mut Vec<String>) -> Vec<Value> {
    let base =
        if ar.group.is_empty() { format!("/api/{}", ar.version) } else { format!("/apis/{}/{}", ar.group, ar.version) };
    // An empty namespace lists a cluster-scoped resource.
    let scope = if ns.is_empty() { String::new() } else { format!("/namespaces/{ns}") };
    let url = format!("{base}{scope}/{}?limit={max}", ar.plural);
    match kube.send(Method::GET, &url, "application/json", Vec::new()).await {
        Ok(a) if a.ok() => {
            let items = a.body.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
            if a.body.pointer("/metadata/continue").and_then(Value::as_str).is_some_and(|c| !c.is_empty()) {
                errors.push(format!("more than {max} {} in {ns}: only the first {max} were captured", ar.plural));
            }
            items
        }
        Ok(a) => {
            errors.push(format!("cannot list {} in {ns}: {} {}", ar.plural, a.code, a.message()));
            Vec::new()
        }
        Err(e) => {
            errors.push(format!("cannot list {} in {ns}: {e}", ar.plural));
            Vec::new()
        }
    }
}

impl Collected {
    /// Adds an object once (by uid): typed from its resource (list items carry no kind),
    /// without `managedFields`, Secret values redacted.
    fn add(&mut self, mut obj: Value, ar: &ApiResource) {
        let key = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}/{}/{}", ar.plural, namespace_of(&obj), name_of(&obj)));
        if !self.seen.insert(key) {
            return;
        }
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
            m.insert("kind".into(), Value::String(ar.kind.clone()));
        }
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        if ar.kind == "Secret" && ar.group.is_empty() {
            if let Some(a) = obj.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
                a.remove(LAST_APPLIED);
            }
            for field in ["data", "stringData"] {
                for v in obj.get(field).and_then(Value::as_object).into_iter().flat_map(|m| m.values()) {
                    if let Some(s) = v.as_str() {
                        self.secrets.insert(s.to_string());
                        if let Some(plain) = base64_text(s) {
                            self.secrets.insert(plain);
                        }
                    }
                }
            }
        }
        self.objects.push(matcher::redact(&obj));
    }
}

fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

fn namespace_of(v: &Value) -> &str {
    v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("")
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `v1/ConfigMap ns/name` or `v1/Namespace name`.
fn describe(v: &Value) -> String {
    let (api_version, kind) = (str_at(v, "/apiVersion"), str_at(v, "/kind"));
    match namespace_of(v) {
        "" => format!("{api_version}/{kind} {}", name_of(v)),
        ns => format!("{api_version}/{kind} {ns}/{}", name_of(v)),
    }
}

/// Blanks out every secret value (longest first, so no part of one survives).
fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "<redacted>");
        }
    }
    out
}

/// A base64 value decoded, when it is text.
fn base64_text(s: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok().filter(|t| !t.is_empty())
}

fn failure_text(cx: &Cx, b: &Bundle<'_>) -> String {
    let f = b.failure;
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {} ({})", cx.scenario, b.file.display());
    let _ = writeln!(out, "namespace: {}", cx.namespace);
    let _ = writeln!(
        out,
        "captured: {}",
        match b.stage {
            Stage::BeforeCleanup => "when it failed, before cleanup",
            Stage::AfterCleanup => "after cleanup (only the cleanup failed): what is left",
        }
    );
    let failed = b.steps.iter().filter(|s| s.verdict == Verdict::Failed);
    let step = failed
        .clone()
        .find(|s| s.failure.as_ref().is_some_and(|sf| f.message.ends_with(&sf.message)))
        .or_else(|| failed.clone().next());
    if let Some(s) = step {
        let _ = writeln!(out, "step: {} {} (line {}, after {:.3}s)", s.path, s.name, s.line, s.duration.as_secs_f64());
    }
    let _ = writeln!(out, "\n{}", f.message);
    if let Some(detail) = &f.detail {
        let _ = writeln!(out, "\ndetail:\n{}", detail.trim_end());
    }
    if let Some(diff) = &f.diff {
        let _ = writeln!(out, "\ndiff (expected vs actual):\n{}", diff.trim_end());
    }
    out
}

/// Every step, in the order they started.
fn timeline(steps: &[StepReport]) -> String {
    let mut sorted: Vec<&StepReport> = steps.iter().collect();
    sorted.sort_by_key(|s| s.started);
    let pw = sorted.iter().map(|s| s.path.len()).chain([4]).max().unwrap_or(4);
    let mut out = format!("{:<7} {:>9} {:>9}  {:<pw$}  NAME (LINE)\n", "VERDICT", "START", "DURATION", "STEP");
    for s in sorted {
        let verdict = match s.verdict {
            Verdict::Passed => "PASS",
            Verdict::Failed => "FAIL",
            Verdict::Skipped => "SKIP",
        };
        let _ = writeln!(
            out,
            "{verdict:<7} {:>9} {:>9}  {:<pw$}  {} (line {})",
            format!("+{:.3}s", s.started.as_secs_f64()),
            format!("{:.3}s", s.duration.as_secs_f64()),
            s.path,
            s.name,
            s.line
        );
    }
    out
}

fn objects_yaml(cx: &Cx, objects: &[Value], stage: Stage) -> String {
    let when = match stage {
        Stage::BeforeCleanup => "before cleanup",
        Stage::AfterCleanup => "after cleanup",
    };
    let mut out = format!(
        "# {} object(s): namespace {} and what is in it, and what the scenario applied elsewhere;\n\
         # captured {when}; Secret values redacted; managedFields dropped; Events are in events.txt\n",
        objects.len(),
        cx.namespace
    );
    for o in objects {
        out.push_str("---\n");
        out.push_str(&matcher::yaml(o));
    }
    out
}

/// The time an Event last happened (as kubectl picks it).
fn event_time(e: &Value) -> &str {
    ["/lastTimestamp", "/eventTime", "/series/lastObservedTime", "/firstTimestamp", "/metadata/creationTimestamp"]
        .iter()
        .map(|p| str_at(e, p))
        .find(|t| !t.is_empty())
        .unwrap_or("")
}

/// Like `kubectl get events`: oldest first, one line each.
fn events_text(namespace: &str, events: &[Value]) -> String {
    if events.is_empty() {
        return format!("no events in namespace {namespace}\n");
    }
    let mut rows: Vec<(Option<jiff::Timestamp>, [String; 5])> = events
        .iter()
        .map(|e| {
            let t = event_time(e);
            let object = format!("{}/{}", str_at(e, "/involvedObject/kind"), str_at(e, "/involvedObject/name"));
            let message = str_at(e, "/message").replace('\n', " ");
            (
                t.parse().ok(),
                [t.to_string(), str_at(e, "/type").into(), str_at(e, "/reason").into(), object, message.trim().into()],
            )
        })
        .collect();
    rows.sort_by_key(|(t, _)| *t);
    let header = ["TIME", "TYPE", "REASON", "OBJECT", "MESSAGE"].map(String::from);
    let width = |i: usize| rows.iter().map(|(_, r)| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0);
    let w = [width(0), width(1), width(2), width(3)];
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter().map(|(_, r)| r)) {
        let _ = writeln!(
            out,
            "{:<a$}  {:<b$}  {:<c$}  {:<d$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            a = w[0],
            b = w[1],
            c = w[2],
            d = w[3]
        );
    }
    out
}

/// For each object with `status.conditions`: type, status, reason and message of each.
fn conditions_text(objects: &[Value]) -> String {
    let mut out = String::new();
    for o in objects {
        let Some(cs) = o.pointer("/status/conditions").and_then(Value::as_array).filter(|c| !c.is_empty()) else {
            continue;
        };
        let _ = writeln!(out, "{}:", describe(o));
        let tw = cs.iter().map(|c| str_at(c, "/type").len()).max().unwrap_or(0);
        for c in cs {
            let status = c.get("status").map_or(String::new(), |s| s.as_str().map_or(s.to_string(), str::to_string));
            let _ = write!(out, "  {:<tw$}  {:<7}", str_at(c, "/type"), status);
            let (reason, message) = (str_at(c, "/reason"), str_at(c, "/message"));
            if !reason.is_empty() {
                let _ = write!(out, "  {reason}");
            }
            if !message.is_empty() {
                let _ = write!(out, "  {}", message.replace('\n', " "));
            }
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("no captured object has status.conditions\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_values_decode_to_text_only() {
        assert_eq!(base64_text("czNjcjN0LXZhbHVl").as_deref(), Some("s3cr3t-value"));
        assert_eq!(base64_text("aGVsbG8="), Some("hello".into()));
        assert_eq!(base64_text("not base64!"), None);
        assert_eq!(base64_text("/w=="), None, "not UTF-8");
    }

    #[test]
    fn secrets_are_typed_redacted_and_remembered_for_scrubbing() {
        let mut got = Collected::default();
        let ar = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Secret".into(),
            plural: "secrets".into(),
        };
        // A list item: no kind, a last-applied annotation carrying the value.
        let item = json!({"metadata": {"name": "s", "uid": "u1", "managedFields": [{}],
            "annotations": {LAST_APPLIED: "{\"stringData\":{\"p\":\"s3cr3t-value\"}}"}},
            "data": {"p": "czNjcjN0LXZhbHVl"}});
        got.add(item.clone(), &ar);
        got.add(item, &ar);
        assert_eq!(got.objects.len(), 1, "added once by uid");
        let text = matcher::yaml(&got.objects[0]);
        assert!(text.contains("kind: Secret") && text.contains("p: <redacted>"), "{text}");
        assert!(!text.contains("czNjcjN0") && !text.contains("s3cr3t") && !text.contains("managedFields"), "{text}");
        let secrets: Vec<String> = got.secrets.into_iter().collect();
        let scrubbed = scrub("message: token s3cr3t-value leaked", &secrets);
        assert_eq!(scrubbed, "message: token <redacted> leaked");
    }

    #[test]
    fn events_sort_by_time_and_conditions_list_each() {
        let e = |t: &str, reason: &str| json!({"lastTimestamp": t, "type": "Normal", "reason": reason, "involvedObject": {"kind": "Pod", "name": "p"}, "message": "m"});
        let cx_free = events_rows(&[e("2025-06-01T10:00:02Z", "Second"), e("2025-06-01T10:00:01Z", "First")]);
        assert!(cx_free.find("First").unwrap_or(usize::MAX) < cx_free.find("Second").unwrap_or(0), "{cx_free}");
        assert!(cx_free.starts_with("TIME "), "{cx_free}");
        assert!(cx_free.contains("Normal  First   Pod/p   m"), "{cx_free}");

        let o = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
            "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "no"}]}});
        assert_eq!(
            conditions_text(&[o, json!({"kind": "ConfigMap"})]),
            "apps/v1/Deployment n/d:\n  Available  False    MinimumReplicasUnavailable  no\n"
        );
    }

    fn events_rows(events: &[Value]) -> String {
        events_text("n", events)
    }
}
