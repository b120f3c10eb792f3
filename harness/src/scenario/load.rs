//! Loading scenario files: YAML into the model with file:line:column on every error, the
//! field path, and a hint (`unknown field `aply`; did you mean `apply`?`), then the checks that
//! need the whole file (one action per step, known bindings, existing fixture paths, valid
//! patterns, features not built yet). Every problem in a file is reported, not only the first.
//!
//! It reads files and nothing else; it must not run anything.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_saphyr::Spanned;

use super::bindings::{references, BUILTIN};
use super::model::*;

/// A problem in a scenario file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub file: PathBuf,
    /// 1-based; 0 when unknown.
    pub line: u64,
    pub column: u64,
    pub message: String,
    pub hint: Option<String>,
}

impl LoadError {
    /// The file could not be read at all.
    pub fn unreadable(path: &Path, e: &std::io::Error) -> Self {
        LoadError { file: path.to_path_buf(), line: 0, column: 0, message: format!("cannot read: {e}"), hint: None }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)?;
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// A loaded, checked scenario and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub path: PathBuf,
}

impl Loaded {
    /// The directory paths in the scenario are relative to.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// Reads and checks a scenario file. Returns every problem found.
pub fn load_file(path: &Path) -> Result<Loaded, Vec<LoadError>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![LoadError::unreadable(path, &e)])?;
    load_str(&text, path)
}

/// Parses and checks scenario text; `path` names it in errors and anchors relative paths.
pub fn load_str(text: &str, path: &Path) -> Result<Loaded, Vec<LoadError>> {
    let scenario: Scenario = serde_saphyr::from_str(text).map_err(|e| vec![parse_error(path, &e)])?;
    let loaded = Loaded { scenario, path: path.to_path_buf() };
    let mut errs = Vec::new();
    check(&loaded, &mut errs);
    if errs.is_empty() {
        Ok(loaded)
    } else {
        Err(errs)
    }
}

/// A serde-saphyr error as a located [`LoadError`] (also used by the policy-suite loader).
pub(crate) fn parse_error(path: &Path, e: &serde_saphyr::Error) -> LoadError {
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let raw = e.without_snippet().to_string();
    // Drop the location the library appends; we print our own.
    let message = match raw.find(" at line ") {
        Some(i) => raw[..i].to_string(),
        None => raw,
    };
    let hint = did_you_mean(&message);
    LoadError { file: path.to_path_buf(), line, column, message, hint }
}

/// For serde's `unknown field `x`, expected one of `a`, `b``: the closest expected name.
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (field, tail) = rest.split_once('`')?;
    let list = tail.split_once("expected one of ").or_else(|| tail.split_once("expected "))?.1;
    let expected: Vec<&str> = list.split(", ").map(|c| c.trim().trim_matches('`')).filter(|c| !c.is_empty()).collect();
    Some(format!("did you mean `{}`?", closest(field, &expected)?))
}

/// The candidate nearest to `field` by edit distance, if it is near enough to be a typo.
pub(crate) fn closest<'a>(field: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(field, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

struct Ctx<'a> {
    loaded: &'a Loaded,
    errs: &'a mut Vec<LoadError>,
}

impl Ctx<'_> {
    fn err(&mut self, line: u64, column: u64, message: impl Into<String>, hint: Option<&str>) {
        self.errs.push(LoadError {
            file: self.loaded.path.clone(),
            line,
            column,
            message: message.into(),
            hint: hint.map(str::to_string),
        });
    }
}

const FLUX_KINDS: &str =
    "use GitRepository, OCIRepository, HelmRepository, Bucket, HelmChart, Kustomization or HelmRelease";

/// A repo path: relative, inside the repo.
fn bad_repo_path(p: &str) -> bool {
    p.is_empty() || p.starts_with('/') || p.split('/').any(|c| c == "..")
}

fn check_commit(cx: &mut Ctx<'_>, c: &super::model::Commit, at: &str, line: u64, col: u64) {
    let known = cx
        .loaded
        .scenario
        .spec
        .repos
        .iter()
        .any(|r| sim::git::normalize_url(&r.value.url) == sim::git::normalize_url(&c.repo));
    if !known {
        let urls: Vec<&str> = cx.loaded.scenario.spec.repos.iter().map(|r| r.value.url.as_str()).collect();
        let hint = if urls.is_empty() {
            "add it under spec.repos".to_string()
        } else {
            format!("known repos: {}", urls.join(", "))
        };
        cx.err(line, col, format!("{at}.repo: {:?} is not one of the scenario's repos", c.repo), Some(&hint));
    }
    if c.files.is_empty() && c.copy.is_empty() && c.remove.is_empty() {
        cx.err(line, col, format!("{at}: nothing to commit"), Some("give files, copy or remove"));
    }
    for p in c.files.keys().chain(c.copy.keys()).chain(c.remove.iter()) {
        if bad_repo_path(p) {
            cx.err(line, col, format!("{at}: {p:?} must be a relative path inside the repo"), None);
        }
    }
    for (to, from) in &c.copy {
        let local = cx.loaded.dir().join(from);
        if !local.exists() {
            cx.err(line, col, format!("{at}.copy.{to}: {} does not exist", local.display()), None);
        }
    }
}

fn check(loaded: &Loaded, errs: &mut Vec<LoadError>) {
    let s = &loaded.scenario;
    let mut cx = Ctx { loaded, errs };
    if s.api_version != API_VERSION {
        cx.err(
            1,
            1,
            format!("apiVersion {:?} is not supported", s.api_version),
            Some(&format!("use `apiVersion: {API_VERSION}`")),
        );
    }
    if s.kind != KIND {
        cx.err(1, 1, format!("kind {:?} is not supported", s.kind), Some("use `kind: Scenario`"));
    }
    let name = &s.metadata.name;
    let valid_name = !name.is_empty()
        && name.len() <= 48
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !valid_name {
        cx.err(
            0,
            0,
            format!(
                "metadata.name {name:?} must be a lowercase DNS label of at most 48 characters (letters, digits, '-')"
            ),
            None,
        );
    }
    if let Some(state) = &s.spec.aws {
        for (at, m) in super::aws::check_state(state) {
            cx.err(0, 0, format!("{at}: {m}"), None);
        }
    }
    if let Err(e) = super::profile::resolve(s.spec.profile.as_ref(), loaded.dir()) {
        cx.err(0, 0, e, None);
    }
    check_repos(&mut cx, &s.spec.repos);
    for b in s.spec.bindings.keys() {
        if BUILTIN.contains(&b.as_str()) {
            cx.err(0, 0, format!("spec.bindings.{b}: `{b}` is set by the runner and cannot be redefined"), None);
        }
    }
    let mut known: Vec<String> = BUILTIN.iter().map(|s| s.to_string()).collect();
    known.extend(s.spec.bindings.keys().cloned());
    if s.spec.steps.is_empty() {
        cx.err(0, 0, "spec.steps: a scenario needs at least one step", None);
    }
    check_steps(&mut cx, &s.spec.steps, "spec.steps", &known);
}

/// Repos: a URL, an existing directory, no duplicates.
fn check_repos(cx: &mut Ctx<'_>, repos: &[Spanned<super::model::Repo>]) {
    let mut seen: Vec<String> = Vec::new();
    for (i, r) in repos.iter().enumerate() {
        let (line, col) = (r.referenced.line(), r.referenced.column());
        let at = format!("spec.repos[{i}]");
        let url = sim::git::normalize_url(&r.value.url);
        if r.value.url.trim().is_empty() {
            cx.err(line, col, format!("{at}.url: empty"), Some("write the URL as the GitRepository's spec.url has it"));
        } else if seen.contains(&url) {
            cx.err(line, col, format!("{at}.url: {:?} is already a scenario repo", r.value.url), None);
        }
        seen.push(url);
        let dir = cx.loaded.dir().join(&r.value.from);
        if !dir.is_dir() {
            cx.err(line, col, format!("{at}.from: {} is not a directory", dir.display()), None);
        }
    }
}

fn check_steps(cx: &mut Ctx<'_>, steps: &[Spanned<Step>], at: &str, known: &[String]) {
    for (i, spanned) in steps.iter().enumerate() {
        let (line, col) = (spanned.referenced.line(), spanned.referenced.column());
        check_step(cx, &spanned.value, &format!("{at}[{i}]"), line, col, known);
    }
}

/// The action keys a step may have (exactly one, or none for a pure `expect`).
pub fn actions(step: &Step) -> Vec<&'static str> {
    let mut a = Vec::new();
    let pairs: [(&'static str, bool); 9] = [
        ("apply", step.apply.is_some()),
        ("delete", step.delete.is_some()),
        ("patch", step.patch.is_some()),
        ("wait", step.wait.is_some()),
        ("sleep", step.sleep.is_some()),
        ("command", step.command.is_some()),
        ("commit", step.commit.is_some()),
        ("reconcile", step.reconcile.is_some()),
        ("try", step.try_.is_some()),
    ];
    for (k, present) in pairs {
        if present {
            a.push(k);
        }
    }
    a
}

fn check_step(cx: &mut Ctx<'_>, step: &Step, at: &str, line: u64, col: u64, known: &[String]) {
    let acts = actions(step);
    if acts.len() > 1 {
        cx.err(
            line,
            col,
            format!("{at}: a step has one action, found {}", acts.join(" and ")),
            Some("split it into one step per action"),
        );
    }
    if acts.is_empty() && step.expect.is_none() && step.cleanup.is_none() {
        cx.err(
            line,
            col,
            format!("{at}: empty step"),
            Some("give it an action (apply, delete, patch, wait, sleep, command, commit, reconcile, try) or an expect"),
        );
    }
    if let Some(c) = &step.commit {
        check_commit(cx, c, &format!("{at}.commit"), line, col);
    }
    if let Some(r) = &step.reconcile {
        for k in &r.kinds {
            if super::model::flux_api_version(k).is_none() {
                cx.err(line, col, format!("{at}.reconcile.kinds: {k:?} is not a Flux kind"), Some(FLUX_KINDS));
            }
        }
    }
    if step.try_.is_none() && (step.catch.is_some() || step.finally.is_some()) {
        cx.err(
            line,
            col,
            format!("{at}: catch and finally belong to a try"),
            Some("add `try:` with the steps they guard"),
        );
    }
    if let Some(a) = &step.apply {
        let sources =
            [a.file.is_some(), a.dir.is_some(), a.inline.is_some(), a.objects.is_some()].iter().filter(|b| **b).count();
        if sources != 1 {
            cx.err(
                line,
                col,
                format!("{at}.apply: give exactly one of file, dir, inline, objects (found {sources})"),
                None,
            );
        }
        for (kind, p) in [("file", &a.file), ("dir", &a.dir)] {
            if let Some(p) = p {
                if references(p).is_empty() {
                    let full = cx.loaded.dir().join(p);
                    let ok = if kind == "file" { full.is_file() } else { full.is_dir() };
                    if !ok {
                        cx.err(
                            line,
                            col,
                            format!("{at}.apply.{kind}: {} does not exist", full.display()),
                            Some("paths are relative to the scenario file"),
                        );
                    }
                }
            }
        }
    }
    if let Some(c) = &step.command {
        if c.run.is_some() == c.args.is_some() {
            cx.err(line, col, format!("{at}.command: give exactly one of run, args"), None);
        }
        for (k, p) in [("stdout", &c.stdout), ("stderr", &c.stderr)] {
            check_regex(cx, line, col, &format!("{at}.command.{k}"), p.as_deref());
        }
    }
    if let Some(w) = &step.wait {
        let n = [w.condition.is_some(), w.created, w.deleted].iter().filter(|b| **b).count();
        if n != 1 {
            cx.err(line, col, format!("{at}.wait: give exactly one of condition, created: true, deleted: true"), None);
        }
    }
    if let Some(p) = &step.patch {
        let ok = match p.type_ {
            PatchKind::Json => p.patch.is_array(),
            _ => p.patch.is_object(),
        };
        if !ok {
            cx.err(
                line,
                col,
                format!(
                    "{at}.patch.patch: a {:?} patch is a {}",
                    p.type_,
                    if p.type_ == PatchKind::Json { "list of operations" } else { "map" }
                ),
                None,
            );
        }
    }
    if let Some(exps) = &step.expect {
        let has_action = matches!(acts.first(), Some(&("apply" | "delete" | "patch" | "command")));
        for (j, e) in exps.0.iter().enumerate() {
            check_expectation(cx, e, &format!("{at}.expect[{j}]"), line, col, has_action);
        }
    }
    // Unknown bindings anywhere in the step, except in the contents a commit writes (committed
    // as written, so Flux's own `${VAR}` reach Flux).
    let mut value = serde_json::to_value(step).unwrap_or(Value::Null);
    if let Some(Value::Object(files)) = value.pointer_mut("/commit/files") {
        files.values_mut().for_each(|v| *v = Value::Null);
    }
    let mut refs = Vec::new();
    collect_refs(&value, &mut refs);
    for r in refs {
        if !known.contains(&r) {
            cx.err(
                line,
                col,
                format!("{at}: unknown binding ${{{r}}}"),
                Some(&format!("known: {}", known.iter().map(|k| format!("${{{k}}}")).collect::<Vec<_>>().join(", "))),
            );
        }
    }
    for (k, sub) in
        [("try", &step.try_), ("catch", &step.catch), ("finally", &step.finally), ("cleanup", &step.cleanup)]
    {
        if let Some(steps) = sub {
            check_steps(cx, steps, &format!("{at}.{k}"), known);
        }
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.extend(references(s)),
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.extend(references(k));
            collect_refs(x, out)
        }),
        _ => {}
    }
}

/// Compiles every `(expression)` key of a partial object.
fn check_expressions(v: &Value, bad: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let Some(expr) = k.strip_prefix('(').and_then(|k| k.strip_suffix(')')) {
                    if let Err(e) = jmespath::compile(expr) {
                        bad.push(format!("invalid JMESPath expression {expr:?}: {e}"));
                    }
                }
                check_expressions(x, bad);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| check_expressions(x, bad)),
        _ => {}
    }
}

fn check_regex(cx: &mut Ctx<'_>, line: u64, col: u64, at: &str, pattern: Option<&str>) {
    if let Some(p) = pattern {
        // Bindings are substituted before the pattern is compiled: check it with a stand-in.
        let mut p = p.to_string();
        for r in references(&p) {
            p = p.replace(&format!("${{{r}}}"), "x");
        }
        if let Err(e) = regex::Regex::new(&p) {
            cx.err(line, col, format!("{at}: invalid regular expression: {e}"), None);
        }
    }
}

/// The kinds an expectation may be, and whether each is set.
pub fn expectation_kinds(e: &Expectation) -> Vec<&'static str> {
    let pairs: [(&'static str, bool); 11] = [
        ("object", e.object.is_some()),
        ("absent", e.absent.is_some()),
        ("condition", e.condition.is_some()),
        ("denied", e.denied.is_some()),
        ("error", e.error.is_some()),
        ("warning", e.warning.is_some()),
        ("flux", e.flux.is_some()),
        ("pod", e.pod.is_some()),
        ("event", e.event.is_some()),
        ("file", e.file.is_some()),
        ("aws", e.aws.is_some()),
    ];
    pairs.iter().filter(|(_, p)| *p).map(|(k, _)| *k).collect()
}

fn check_expectation(cx: &mut Ctx<'_>, e: &Expectation, at: &str, line: u64, col: u64, has_action: bool) {
    let kinds = expectation_kinds(e);
    match kinds.as_slice() {
        [] => cx.err(
            line,
            col,
            format!("{at}: empty expectation"),
            Some("use one of object, absent, condition, denied, error, warning, flux, pod, event"),
        ),
        [_] => {}
        many => cx.err(
            line,
            col,
            format!("{at}: one expectation per entry, found {}", many.join(" and ")),
            Some("write a list under expect:"),
        ),
    }
    if let Some(f) = &e.flux {
        if super::model::flux_api_version(&f.kind).is_none() {
            cx.err(line, col, format!("{at}.flux.kind: {:?} is not a Flux kind", f.kind), Some(FLUX_KINDS));
        }
        check_regex(cx, line, col, &format!("{at}.flux.message"), f.message.as_deref());
        check_regex(cx, line, col, &format!("{at}.flux.revision"), f.revision.as_deref());
    }
    if let Some(p) = &e.pod {
        if p.name.is_none() && p.labels.is_empty() {
            cx.err(line, col, format!("{at}.pod: say which pods"), Some("give name or labels"));
        }
        for (i, ev) in p.events.iter().enumerate() {
            check_regex(cx, line, col, &format!("{at}.pod.events[{i}].message"), ev.message.as_deref());
        }
    }
    if let Some(ev) = &e.event {
        check_regex(cx, line, col, &format!("{at}.event.message"), ev.message.as_deref());
    }
    if let Some(f) = &e.file {
        if f.pod.name.is_none() && f.pod.labels.is_empty() {
            cx.err(line, col, format!("{at}.file.pod: say which pods"), Some("give name or labels"));
        }
        if !f.path.starts_with('/') {
            cx.err(line, col, format!("{at}.file.path: {:?} must be an absolute path in the container", f.path), None);
        }
        if [&f.equals, &f.matches, &f.sha256].iter().filter(|x| x.is_some()).count() > 1 {
            cx.err(line, col, format!("{at}.file: give one of equals, matches, sha256"), None);
        }
        check_regex(cx, line, col, &format!("{at}.file.matches"), f.matches.as_deref());
        if let Some(h) = &f.sha256 {
            if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                cx.err(line, col, format!("{at}.file.sha256: expected 64 hex digits"), None);
            }
        }
    }
    if let Some(a) = &e.aws {
        for (field, m) in super::aws::check_expect(a, &format!("{at}.aws")) {
            cx.err(line, col, format!("{field}: {m}"), None);
        }
    }
    let outcome = kinds.iter().any(|k| matches!(*k, "denied" | "error" | "warning"));
    if outcome && !has_action {
        cx.err(
            line,
            col,
            format!("{at}: {} describes the outcome of an action; this step has none", kinds.join(", ")),
            Some("put it on the apply, delete, patch or command step it is about"),
        );
    }
    if outcome && (e.within.is_some() || e.consistently.is_some()) {
        cx.err(line, col, format!("{at}: within and consistently do not apply to an action's outcome"), None);
    }
    if e.within.is_some() && e.consistently.is_some() {
        cx.err(line, col, format!("{at}: give within or consistently, not both"), None);
    }
    if let Some(o) = &e.object {
        let mut bad = Vec::new();
        check_expressions(o, &mut bad);
        for b in bad {
            cx.err(
                line,
                col,
                format!("{at}.object: {b}"),
                Some("expression keys are JMESPath, e.g. `(length(spec.containers))`"),
            );
        }
        let has = |p: &str| o.pointer(p).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !(has("/apiVersion") && has("/kind") && has("/metadata/name")) {
            cx.err(
                line,
                col,
                format!("{at}.object: needs apiVersion, kind and metadata.name to say which object"),
                None,
            );
        }
    }
    check_regex(
        cx,
        line,
        col,
        &format!("{at}.condition.message"),
        e.condition.as_ref().and_then(|c| c.message.as_deref()),
    );
    check_regex(cx, line, col, &format!("{at}.denied.message"), e.denied.as_ref().and_then(|c| c.message.as_deref()));
    check_regex(cx, line, col, &format!("{at}.error.message"), e.error.as_ref().and_then(|c| c.message.as_deref()));
    check_regex(cx, line, col, &format!("{at}.warning.message"), e.warning.as_ref().map(|c| c.message.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Loaded, Vec<LoadError>> {
        load_str(text, Path::new("scenarios/x.yaml"))
    }

    const HEAD: &str = "apiVersion: idp-harness.dev/v1alpha1\nkind: Scenario\nmetadata: {name: x}\nspec:\n  steps:\n";

    #[test]
    fn a_typo_in_a_step_names_the_line_and_suggests_the_key() {
        let errs = load(&format!("{HEAD}  - sleep: 1s\n  - aply: {{inline: x}}\n")).expect_err("typo");
        assert_eq!(errs.len(), 1);
        let e = &errs[0];
        assert_eq!((e.line, e.file.as_path()), (7, Path::new("scenarios/x.yaml")));
        assert!(e.message.contains("unknown field `aply`"), "{}", e.message);
        assert_eq!(e.hint.as_deref(), Some("did you mean `apply`?"));
    }

    #[test]
    fn semantic_problems_are_all_reported_with_locations() {
        let text = format!("{HEAD}  - sleep: 1s\n    wait: {{apiVersion: v1, kind: Pod, name: p, deleted: true}}\n  - expect: {{denied: {{by: x}}}}\n  - apply: {{inline: 'a: ${{nope}}'}}\n");
        let errs = load(&text).expect_err("problems");
        let msgs: Vec<String> = errs.iter().map(|e| format!("{}:{}", e.line, e.message)).collect();
        assert!(
            msgs.iter().any(|m| m.starts_with("6:spec.steps[0]: a step has one action, found wait and sleep")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.starts_with("8:spec.steps[1].expect[0]: denied describes the outcome of an action")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.starts_with("9:spec.steps[2]: unknown binding ${nope}")), "{msgs:?}");
    }

    #[test]
    fn commit_contents_may_hold_flux_variables() {
        let text =
            format!("{HEAD}  - commit: {{repo: https://x/y.git, files: {{a.yaml: 'image: ${{REGISTRY}}/app'}}}}\n")
                .replace("spec:\n", "spec:\n  repos: [{url: https://x/y.git, from: .}]\n");
        let errs = load(&text).err().unwrap_or_default();
        assert!(!errs.iter().any(|e| e.message.contains("unknown binding")), "{errs:?}");
    }

    #[test]
    fn file_and_pod_expectations_need_a_selector_and_patterns_may_use_bindings() {
        let errs = load(&format!("{HEAD}  - expect: {{file: {{pod: {{}}, path: x, equals: a, sha256: b}}}}\n"))
            .expect_err("bad");
        let msgs: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "spec.steps[0].expect[0].file.pod: say which pods",
                "spec.steps[0].expect[0].file.path: \"x\" must be an absolute path in the container",
                "spec.steps[0].expect[0].file: give one of equals, matches, sha256",
                "spec.steps[0].expect[0].file.sha256: expected 64 hex digits",
            ]
        );
        load(&format!(
            "{HEAD}  - expect: {{event: {{for: {{kind: Pod, name: a}}, message: 'pod ${{namespace}}/a'}}}}\n"
        ))
        .expect("a binding in a pattern is substituted before it is compiled");
        let errs = load(&format!("{HEAD}  - expect: {{pod: {{phase: Running}}}}\n")).expect_err("no selector");
        assert!(errs[0].message.contains("pod: say which pods"), "{}", errs[0].message);
    }

    #[test]
    fn gitops_steps_are_checked_before_running() {
        let text = format!(
            "{HEAD}  - commit: {{repo: https://example.com/x.git, files: {{../escape.yaml: a}}}}\n  - reconcile: {{kinds: [Kustomisation]}}\n  - expect: {{flux: {{kind: Kustomization, name: a, message: '('}}}}\n"
        );
        let errs = load(&text).expect_err("problems");
        let msgs: Vec<String> = errs.iter().map(|e| format!("{}:{}", e.line, e.message)).collect();
        let has = |p: &str| msgs.iter().any(|m| m.starts_with(p));
        assert!(
            has("6:spec.steps[0].commit.repo: \"https://example.com/x.git\" is not one of the scenario's repos"),
            "{msgs:?}"
        );
        assert!(has("6:spec.steps[0].commit: \"../escape.yaml\" must be a relative path inside the repo"), "{msgs:?}");
        assert!(has("7:spec.steps[1].reconcile.kinds: \"Kustomisation\" is not a Flux kind"), "{msgs:?}");
        assert!(has("8:spec.steps[2].expect[0].flux.message: invalid regular expression"), "{msgs:?}");
        let profile = format!("{HEAD}  - sleep: 1s\n").replace(
            "spec:\n",
            "spec:\n  profile: {flux: \"1.9\"}\n  repos: [{url: https://x/y.git, from: nowhere}]\n",
        );
        let errs = load(&profile).expect_err("problems");
        let msgs: Vec<String> = errs.iter().map(|e| e.message.clone()).collect();
        assert!(msgs.iter().any(|m| m.starts_with("spec.profile.flux: version \"1.9\" is not modelled")), "{msgs:?}");
        assert!(
            msgs.iter().any(|m| m.starts_with("spec.repos[0].from: ") && m.ends_with("nowhere is not a directory")),
            "{msgs:?}"
        );
    }

    #[test]
    fn a_wrong_type_is_located() {
        let errs = load(&format!("{HEAD}  - sleep: 10\n")).expect_err("bad duration");
        assert_eq!(errs[0].line, 6);
        assert!(errs[0].message.contains("missing unit"), "{}", errs[0].message);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

        /// The loader's fuzz target: arbitrary text, and scenario-shaped text with arbitrary
        /// step bodies, never panic; they load or fail with located errors.
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,300}", body in "[a-z{}:, \\[\\]\\n'$0-9]{0,80}") {
            let _ = load(&text);
            let shaped = format!("{HEAD}  - {body}\n");
            if let Err(errs) = load(&shaped) {
                proptest::prop_assert!(!errs.is_empty());
                for e in errs {
                    proptest::prop_assert!(!e.message.is_empty());
                }
            }
        }
    }

    #[test]
    fn a_good_scenario_loads() {
        let s = load(&format!("{HEAD}  - apply: {{inline: 'kind: ConfigMap'}}\n    expect: {{warning: {{message: x}}}}\n  - expect:\n    - absent: {{apiVersion: v1, kind: ConfigMap, name: c}}\n      within: 5s\n")).expect("loads");
        assert_eq!(s.scenario.spec.steps.len(), 2);
        assert_eq!(s.scenario.spec.steps[1].value.expect.as_ref().map(|e| e.0.len()), Some(1));
    }
}
