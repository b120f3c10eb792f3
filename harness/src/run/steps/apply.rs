//! `apply`: server-side apply of manifests (field manager `idp-harness`, forced), as Flux
//! applies them. Sources: a file, a directory's YAML files in name order, inline YAML, or
//! objects; bindings are substituted in the text first. Namespaced objects without a namespace
//! go to `${namespace}`. Applied objects are remembered and removed when the scenario ends.
//!
//! Stops at the first object the API server refuses and returns that answer, so an expected
//! denial can be checked against it.

use std::path::Path;

use http::Method;
use serde_json::Value;

use super::ActionResult;
use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::scenario::Apply;

/// Reads the documents an apply names, bindings substituted.
pub fn documents(cx: &Cx, a: &Apply) -> Result<Vec<Value>, Failure> {
    read(&cx.dir, a, &|t| cx.subst(t), &|v| cx.subst_value(v))
}

/// Reads the documents an apply names as written (`${...}` left as it is), relative to `dir`.
pub fn documents_as_written(dir: &Path, a: &Apply) -> Result<Vec<Value>, Failure> {
    read(dir, a, &|t| Ok(t.to_string()), &|v| Ok(v.clone()))
}

type Subst<'a, T> = &'a dyn Fn(&T) -> Result<<T as ToOwned>::Owned, Failure>;

fn read(dir: &Path, a: &Apply, subst: Subst<str>, subst_value: Subst<Value>) -> Result<Vec<Value>, Failure> {
    let mut texts: Vec<(String, String)> = Vec::new();
    if let Some(f) = &a.file {
        let path = dir.join(subst(f)?);
        let t = std::fs::read_to_string(&path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
        texts.push((path.display().to_string(), t));
    }
    if let Some(d) = &a.dir {
        let dir = dir.join(subst(d)?);
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| fail(format!("cannot read {}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        for p in files {
            let t = std::fs::read_to_string(&p).map_err(|e| fail(format!("cannot read {}: {e}", p.display())))?;
            texts.push((p.display().to_string(), t));
        }
    }
    if let Some(t) = &a.inline {
        texts.push(("inline manifests".into(), t.clone()));
    }
    let mut docs = Vec::new();
    for (origin, text) in texts {
        let text = subst(&text).map_err(|f| fail(format!("{origin}: {}", f.message)))?;
        let parsed: Vec<Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| fail(format!("{origin}: invalid YAML: {}", e.without_snippet())))?;
        docs.extend(parsed.into_iter().filter(|d| !d.is_null()));
    }
    if let Some(objs) = &a.objects {
        for o in objs {
            docs.push(subst_value(o)?);
        }
    }
    Ok(docs)
}

pub async fn run(cx: &Cx, a: &Apply, wants_failure: bool) -> Result<ActionResult, Failure> {
    let docs = documents(cx, a)?;
    if docs.is_empty() {
        return Err(fail("nothing to apply: the manifests contain no objects"));
    }
    let mut result = ActionResult::default();
    for doc in docs {
        let s = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        let (api_version, kind, name) = (s("/apiVersion"), s("/kind"), s("/metadata/name"));
        if api_version.is_empty() || kind.is_empty() || name.is_empty() {
            return Err(fail(format!("every applied object needs apiVersion, kind and metadata.name; got {}", doc)));
        }
        let (t, ar) = match cx
            .kube
            .target(
                &api_version,
                &kind,
                &name,
                doc.pointer("/metadata/namespace").and_then(Value::as_str),
                &cx.namespace,
            )
            .await
        {
            Ok(x) => x,
            Err(e @ crate::run::kube_io::KubeError::NoMatch { .. }) if wants_failure => {
                result.failed = Some(crate::run::kube_io::Answer {
                    code: 404,
                    body: serde_json::json!({"reason": "NotFound", "message": e.to_string()}),
                    warnings: Vec::new(),
                });
                return Ok(result);
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        let mut obj = doc.clone();
        if !t.namespace.is_empty() {
            if let Some(m) = obj.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                m.insert("namespace".into(), Value::String(t.namespace.clone()));
            }
        }
        let url = crate::run::kube_io::Kube::url(&ar, &t, None, "fieldManager=idp-harness&force=true");
        let body = serde_json::to_vec(&obj).map_err(|e| fail(e.to_string()))?;
        let answer = cx
            .kube
            .send(Method::PATCH, &url, "application/apply-patch+yaml", body)
            .await
            .map_err(|e| fail(e.to_string()))?;
        result.warnings.extend(answer.warnings.iter().cloned());
        if !answer.ok() {
            result.failed = Some(answer);
            return Ok(result);
        }
        cx.remember_applied(t, ar);
    }
    Ok(result)
}
