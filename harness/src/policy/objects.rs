//! `gator test` semantics: read Kubernetes objects, ConstraintTemplates and constraints from
//! files and directories, evaluate every object against every constraint, and format the
//! violations as gator does (text, `-o json`, `-o yaml`).
//!
//! As in gator: directories are walked recursively for `.yaml`, `.yml` and `.json` files; every
//! template is added, then every constraint, then every object as data (`data.inventory`);
//! then every object (templates and constraints included) is reviewed like audit reviews it (no
//! operation, no user), with its Namespace from the inputs (an empty one for cluster-scoped
//! objects, a bare `default` when `default` is not given). Results are sorted by enforcement
//! action, then message. Only a `deny` violation (or a `scoped` one whose actions at
//! `gator.gatekeeper.sh` include `deny`) makes the run fail. This module must not print or exit.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use sim::apiserver::gofmt::go_quote;
use sim::gatekeeper::eval::group_version;

use super::engine::{sort_results, AddError, PolicyClient, PolicyResult, Subject, TARGET};
use super::gofmt::{json_indent, sort_keys, yaml};
use super::yaml::{parse_objects, Booleans};
use crate::scenario::LoadError;

/// The objects read from one file (or stdin).
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The file, or `-` for stdin.
    pub path: PathBuf,
    pub objects: Vec<Value>,
}

/// A problem reading inputs or adding templates and constraints; all are configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("path {path:?} must be of extensions: [.yaml .yml .json]")]
    Extension { path: String },
    #[error("{0}")]
    Parse(#[from] LoadError),
    #[error("{path}: document {index} is not a map")]
    NotAMap { path: String, index: usize },
    #[error("no input data identified")]
    NoInput,
    #[error("adding template {name:?} ({path}): {source}")]
    Template {
        name: String,
        path: String,
        #[source]
        source: AddError,
    },
    #[error("adding constraint {name:?} ({path}): {source}")]
    Constraint {
        name: String,
        path: String,
        #[source]
        source: AddError,
    },
    #[error("reviewing {object}: {message}")]
    Review { object: String, message: String },
}

fn allowed(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Reads the inputs: files (which must end in `.yaml`, `.yml` or `.json`), directories (walked
/// recursively, other files skipped) and `-` (stdin).
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, ObjectsError> {
    let mut files = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            files.push(p.clone());
            continue;
        }
        let meta =
            std::fs::metadata(p).map_err(|source| ObjectsError::Read { path: p.display().to_string(), source })?;
        if meta.is_dir() {
            walk(p, &mut files).map_err(|source| ObjectsError::Read { path: p.display().to_string(), source })?;
        } else if allowed(p) {
            files.push(p.clone());
        } else {
            return Err(ObjectsError::Extension { path: p.display().to_string() });
        }
    }
    let mut sources = Vec::new();
    for f in files {
        let text = if f.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|source| ObjectsError::Read { path: "stdin".into(), source })?;
            s
        } else {
            std::fs::read_to_string(&f)
                .map_err(|source| ObjectsError::Read { path: f.display().to_string(), source })?
        };
        let objects = parse_objects(&text, &f, Booleans::Yaml11)?;
        if let Some(i) = objects.iter().position(|o| !o.is_object()) {
            return Err(ObjectsError::NotAMap { path: f.display().to_string(), index: i + 1 });
        }
        let objects = objects.into_iter().filter(|o| o.as_object().is_some_and(|m| !m.is_empty())).collect();
        sources.push(Source { path: f, objects });
    }
    Ok(sources)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if allowed(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// Objects defined more than once across sources (same apiVersion, kind, namespace and
/// name): gator warns and uses both.
pub fn conflicts(sources: &[Source]) -> Vec<String> {
    let mut seen: BTreeMap<(String, String, String, String), &Path> = BTreeMap::new();
    let mut out = Vec::new();
    for src in sources {
        for o in &src.objects {
            let key = (
                s(o, "/apiVersion").to_string(),
                s(o, "/kind").to_string(),
                s(o, "/metadata/namespace").to_string(),
                s(o, "/metadata/name").to_string(),
            );
            match seen.get(&key) {
                Some(first) if *first != src.path.as_path() => out.push(format!(
                    "{} {} {:?} is defined in both {} and {}",
                    key.0,
                    key.1,
                    if key.2.is_empty() { key.3.clone() } else { format!("{}/{}", key.2, key.3) },
                    first.display(),
                    src.path.display()
                )),
                Some(_) => {}
                None => {
                    seen.insert(key, &src.path);
                }
            }
        }
    }
    out
}

/// One violation and the object that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub result: PolicyResult,
    pub object: Value,
}

/// Evaluates every object against every constraint, as `gator test` does.
pub fn evaluate(sources: &[Source]) -> Result<Vec<Violation>, ObjectsError> {
    let all: Vec<(&Value, &Path)> =
        sources.iter().flat_map(|src| src.objects.iter().map(move |o| (o, src.path.as_path()))).collect();
    if all.is_empty() {
        return Err(ObjectsError::NoInput);
    }
    let mut client = PolicyClient::new();
    for (o, path) in &all {
        if group_version(o).0 == "templates.gatekeeper.sh" && s(o, "/kind") == "ConstraintTemplate" {
            client.add_template(o).map_err(|source| ObjectsError::Template {
                name: s(o, "/metadata/name").to_string(),
                path: path.display().to_string(),
                source,
            })?;
        }
    }
    for (o, path) in &all {
        if group_version(o).0 == "constraints.gatekeeper.sh" {
            client.add_constraint(o).map_err(|source| ObjectsError::Constraint {
                name: s(o, "/metadata/name").to_string(),
                path: path.display().to_string(),
                source,
            })?;
        }
    }
    let mut namespaces: BTreeMap<&str, &Value> = BTreeMap::new();
    for (o, _) in &all {
        client.add_data(o);
        if s(o, "/kind") == "Namespace" && group_version(o).0.is_empty() {
            namespaces.insert(s(o, "/metadata/name"), o);
        }
    }
    let empty_ns = json!({});
    let default_ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}});
    let mut out = Vec::new();
    for (o, _) in &all {
        let ns_name = s(o, "/metadata/namespace");
        let namespace = if ns_name.is_empty() {
            Some(&empty_ns)
        } else {
            namespaces.get(ns_name).copied().or((ns_name == "default").then_some(&default_ns))
        };
        let results = client.review(Subject::Object { object: o, namespace }).map_err(|message| {
            let (g, v) = group_version(o);
            ObjectsError::Review {
                object: format!("{g}/{v}, Kind={} {ns_name}/{}", s(o, "/kind"), s(o, "/metadata/name")),
                message,
            }
        })?;
        out.extend(results.into_iter().map(|result| Violation { result, object: (*o).clone() }));
    }
    sort_results(&mut out, |v| &v.result);
    Ok(out)
}

/// Whether any violation would be denied by Gatekeeper's webhook (gator test exits 1).
pub fn any_denied(violations: &[Violation]) -> bool {
    violations.iter().any(|v| v.result.denies())
}

/// gator's default output: `<apiVersion>/<Kind> [<namespace>/]<name>: ["<constraint>"] Message: "<msg>"`.
pub fn format_text(violations: &[Violation]) -> String {
    let mut out = String::new();
    for v in violations {
        let o = &v.object;
        let ns = s(o, "/metadata/namespace");
        let name =
            if ns.is_empty() { s(o, "/metadata/name").to_string() } else { format!("{ns}/{}", s(o, "/metadata/name")) };
        out.push_str(&format!(
            "{}/{} {name}: [{}] Message: {}\n",
            s(o, "/apiVersion"),
            s(o, "/kind"),
            go_quote(&v.result.constraint_name),
            go_quote(&v.result.msg)
        ));
    }
    out
}

/// `-o json`: the results as gator's `json.MarshalIndent` writes them (`null` when none; no
/// trailing newline).
pub fn format_json(violations: &[Violation]) -> String {
    if violations.is_empty() {
        return "null".into();
    }
    let items: Vec<Value> = violations
        .iter()
        .map(|v| {
            let r = &v.result;
            let mut m = Map::new();
            m.insert("target".into(), json!(TARGET));
            if !r.msg.is_empty() {
                m.insert("msg".into(), json!(r.msg));
            }
            m.insert("metadata".into(), sort_keys(&r.metadata));
            m.insert("constraint".into(), sort_keys(&r.constraint));
            m.insert("enforcementAction".into(), json!(r.enforcement_action));
            if !r.scoped_actions.is_empty() {
                m.insert("scopedActions".into(), json!(r.scoped_actions));
            }
            m.insert("violatingObject".into(), sort_keys(&v.object));
            m.insert("trace".into(), Value::Null);
            Value::Object(m)
        })
        .collect();
    json_indent(&Value::Array(items))
}

/// `-o yaml`: gator's YAML (its results type has no YAML tags, so the keys are go-yaml's
/// lowercased field names under `result`).
pub fn format_yaml(violations: &[Violation]) -> String {
    let items: Vec<Value> = violations
        .iter()
        .map(|v| {
            let r = &v.result;
            let mut result = Map::new();
            result.insert("target".into(), json!(TARGET));
            result.insert("msg".into(), json!(r.msg));
            result.insert("metadata".into(), sort_keys(&r.metadata));
            result.insert("constraint".into(), json!({"object": sort_keys(&r.constraint)}));
            result.insert("enforcementaction".into(), json!(r.enforcement_action));
            result.insert("scopedenforcementactions".into(), json!(r.scoped_actions));
            let mut m = Map::new();
            m.insert("result".into(), Value::Object(result));
            m.insert("violatingObject".into(), sort_keys(&v.object));
            m.insert("trace".into(), Value::Null);
            Value::Object(m)
        })
        .collect();
    yaml(&Value::Array(items))
}
