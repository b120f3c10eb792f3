//! `spec.postBuild`: variable substitution on the built manifests, as kustomize-controller does
//! it (fluxcd/pkg `kustomize/kustomize_varsub.go` with the `envsubst` fork): `${var}`, the
//! default operators (`${var:=d}`, `${var:-d}`, `${var=d}`, `${var-d}`, `${var:+d}`, `${var+d}`,
//! `${var:?d}`, `${var?d}`, which all fall back to the argument when the value is empty, as the
//! fork's `toDefault` does), `${#var}`, `${var^}`, `${var^^}`, `${var,}`, `${var,,}`,
//! `${var:pos}`, `${var:pos:len}`, `${var/old/new}`, `${var//old/new}` and `$$` as an escaped
//! `$`. Plain `$var` is left alone. Variables come from `substituteFrom` (in order, later ones
//! override earlier ones; Secret values decoded) and then the inline `substitute` map, which
//! overrides them all; newlines in values are dropped. Objects labelled or annotated
//! `kustomize.toolkit.fluxcd.io/substitute: disabled` are left untouched.
//!
//! This module must never put a variable's value in an error, a note or a log line: values may
//! come from Secrets.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use super::apply::ObjRef;
use super::build::split_documents;
use super::crd::{PostBuild, Spec};

/// The label/annotation that opts an object out.
pub const SUBSTITUTE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Loading variables or substituting failed (the message upstream sets on `BuildFailed`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubstituteError {
    /// A `substituteFrom` reference that is missing and not optional (`LoadVariables`).
    #[error("substitute from '{kind}/{name}' error: {message}")]
    Reference { kind: String, name: String, message: String },
    /// A variable name that is not a shell identifier (`varSubstitution`).
    #[error("'{0}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'")]
    InvalidName(String),
    /// The envsubst parser refused the text.
    #[error("envsubst error: variable substitution failed: {0}")]
    Syntax(&'static str),
    /// The substituted text is not YAML any more.
    #[error("envsubst error: YAMLToJSON: {0}")]
    Yaml(String),
}

/// Reads variables the way `LoadVariables` does: `substituteFrom` in order, then the inline
/// map. `get` answers `Ok(None)` when the object does not exist.
pub fn load_variables(
    post: &PostBuild,
    mut get: impl FnMut(&str, &str) -> Option<Value>,
) -> Result<BTreeMap<String, String>, SubstituteError> {
    let mut vars = BTreeMap::new();
    for r in &post.substitute_from {
        let plural = if r.kind == "Secret" { "secrets" } else { "configmaps" };
        let Some(obj) = get(plural, &r.name) else {
            if r.optional {
                continue;
            }
            return Err(SubstituteError::Reference {
                kind: r.kind.clone(),
                name: r.name.clone(),
                message: format!("{plural} \"{}\" not found", r.name),
            });
        };
        if let Some(data) = obj.get("data").and_then(Value::as_object) {
            for (k, v) in data {
                let raw = v.as_str().unwrap_or_default();
                let value = if r.kind == "Secret" {
                    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).unwrap_or_default();
                    String::from_utf8_lossy(&bytes).into_owned()
                } else {
                    raw.to_string()
                };
                vars.insert(k.clone(), value.replace('\n', ""));
            }
        }
    }
    if let Some(inline) = &post.substitute {
        for (k, v) in inline {
            vars.insert(k.clone(), v.replace('\n', ""));
        }
    }
    Ok(vars)
}

/// The post-build step of one Kustomization: kustomize's output as objects, each substituted
/// as `spec.postBuild` asks (variables loaded on the first object that needs them, through
/// `get(plural, name)` on the Kustomization's namespace). The error is the `BuildFailed`
/// message.
pub fn post_build(
    spec: &Spec,
    output: &str,
    mut get: impl FnMut(&str, &str) -> Option<Value>,
) -> Result<Vec<Value>, String> {
    let mut vars: Option<BTreeMap<String, String>> = None;
    let mut objects = Vec::new();
    for doc in split_documents(output) {
        let mut obj: Value = serde_saphyr::from_str(&doc).map_err(|e| format!("kustomize build failed: {e}"))?;
        if obj.is_null() {
            continue;
        }
        let r = ObjRef::of(&obj);
        if r.kind.is_empty() || r.name.is_empty() || r.api_version().is_empty() {
            return Err(format!("failed to decode Kubernetes apiVersion, kind and name from: {}", doc.trim_end()));
        }
        if let Some(post) = &spec.post_build {
            if !disabled(&obj) {
                let gvk = format!(
                    "{}.{}.{}",
                    r.kind,
                    if r.version.is_empty() { "[noVer]" } else { &r.version },
                    if r.group.is_empty() { "[noGrp]" } else { &r.group }
                );
                let fail = |e: SubstituteError| format!("post build failed for '{gvk}/{}': {e}", r.name);
                if vars.is_none() {
                    vars = Some(load_variables(post, &mut get).map_err(fail)?);
                }
                let v = vars.as_ref().cloned().unwrap_or_default();
                if !v.is_empty() || post.substitute_strategy == "Always" {
                    check_names(&v).map_err(fail)?;
                    let text = envsubst(&doc, &v).map_err(fail)?;
                    obj = serde_saphyr::from_str(&text).map_err(|e| fail(SubstituteError::Yaml(e.to_string())))?;
                }
            }
        }
        objects.push(obj);
    }
    Ok(objects)
}

/// True when the object opts out of substitution.
pub fn disabled(obj: &Value) -> bool {
    let is = |p: &str| obj.pointer(p).and_then(|m| m.get(SUBSTITUTE_KEY)).and_then(Value::as_str) == Some("disabled");
    is("/metadata/labels") || is("/metadata/annotations")
}

/// Checks the variable names (`varsubRegex`).
pub fn check_names(vars: &BTreeMap<String, String>) -> Result<(), SubstituteError> {
    for k in vars.keys() {
        let mut chars = k.chars();
        let ok = chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
            && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
        if !ok {
            return Err(SubstituteError::InvalidName(k.clone()));
        }
    }
    Ok(())
}

/// Substitutes `${...}` expressions in `text`; unknown variables read as empty (the
/// controller's default, non-strict mode).
pub fn envsubst(text: &str, vars: &BTreeMap<String, String>) -> Result<String, SubstituteError> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser { chars: &chars, pos: 0, vars };
    p.text(false)
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
    vars: &'a BTreeMap<String, String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// Text up to the end (or, inside an argument, up to the closing brace, not consumed).
    fn text(&mut self, in_arg: bool) -> Result<String, SubstituteError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if in_arg && c == '}' {
                return Ok(out);
            }
            if c == '$' {
                match self.chars.get(self.pos + 1) {
                    Some('$') => {
                        out.push('$');
                        self.pos += 2;
                        // The escaped `$` starts no expression.
                        if self.peek() == Some('{') {
                            out.push('{');
                            self.pos += 1;
                        }
                        continue;
                    }
                    Some('{') => {
                        self.pos += 2;
                        out.push_str(&self.expr()?);
                        continue;
                    }
                    _ => {}
                }
            }
            out.push(c);
            self.pos += 1;
        }
        if in_arg {
            return Err(SubstituteError::Syntax("missing closing brace"));
        }
        Ok(out)
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c == '_' || c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn close(&mut self) -> Result<(), SubstituteError> {
        if self.peek() == Some('}') {
            self.pos += 1;
            Ok(())
        } else {
            Err(SubstituteError::Syntax("missing closing brace"))
        }
    }

    fn value(&self, name: &str) -> String {
        self.vars.get(name).cloned().unwrap_or_default()
    }

    /// After `${`.
    fn expr(&mut self) -> Result<String, SubstituteError> {
        if self.peek() == Some('#') {
            self.pos += 1;
            let name = self.ident();
            if name.is_empty() {
                return Err(SubstituteError::Syntax("unable to parse variable name"));
            }
            self.close()?;
            return Ok(self.value(&name).chars().count().to_string());
        }
        let name = self.ident();
        if name.is_empty() {
            return Err(SubstituteError::Syntax("unable to parse variable name"));
        }
        let v = self.value(&name);
        match self.peek() {
            Some('}') => {
                self.pos += 1;
                Ok(v)
            }
            Some(':') if matches!(self.chars.get(self.pos + 1), Some('=' | '-' | '?' | '+')) => {
                self.pos += 2;
                self.default(v)
            }
            Some('=' | '-' | '?' | '+') => {
                self.pos += 1;
                self.default(v)
            }
            Some(':') => {
                self.pos += 1;
                self.substr(v)
            }
            Some(c @ (',' | '^')) => {
                self.pos += 1;
                let all = self.peek() == Some(c);
                if all {
                    self.pos += 1;
                }
                self.close()?;
                Ok(case(&v, c == '^', all))
            }
            Some('/') => {
                self.pos += 1;
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let args = self.text(true)?;
                self.close()?;
                let (old, new) = args.split_once('/').unwrap_or((&args, ""));
                if old.is_empty() {
                    return Ok(v);
                }
                Ok(if all { v.replace(old, new) } else { v.replacen(old, new, 1) })
            }
            None => Err(SubstituteError::Syntax("missing closing brace")),
            _ => Err(SubstituteError::Syntax("bad substitution")),
        }
    }

    fn default(&mut self, v: String) -> Result<String, SubstituteError> {
        let arg = self.text(true)?;
        self.close()?;
        Ok(if v.is_empty() { arg } else { v })
    }

    fn substr(&mut self, v: String) -> Result<String, SubstituteError> {
        let args = self.text(true)?;
        self.close()?;
        let chars: Vec<char> = v.chars().collect();
        let mut parts = args.splitn(2, ':');
        let Ok(pos) = parts.next().unwrap_or_default().trim().parse::<i64>() else { return Ok(v) };
        let len = chars.len() as i64;
        let start = if pos < 0 { (len + pos).max(0) } else { pos.min(len) };
        let end = match parts.next().map(|l| l.trim().parse::<i64>()) {
            Some(Ok(l)) if l >= 0 => (start + l).min(len),
            Some(Ok(l)) => (len + l).max(start),
            Some(Err(_)) => return Ok(v),
            None => len,
        };
        Ok(chars[start as usize..end as usize].iter().collect())
    }
}

fn case(v: &str, upper: bool, all: bool) -> String {
    let conv = |s: &str| if upper { s.to_uppercase() } else { s.to_lowercase() };
    if all {
        return conv(v);
    }
    let mut chars = v.chars();
    match chars.next() {
        Some(first) => format!("{}{}", conv(&first.to_string()), chars.as_str()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn forms_follow_the_flux_envsubst_fork() {
        let v = vars(&[("name", "web"), ("empty", ""), ("ver", "v1.2.3")]);
        let cases = [
            ("${name}", "web"),
            ("${missing}", ""),
            ("${missing:=def}", "def"),
            ("${empty:-def}", "def"),
            ("${name:=def}", "web"),
            ("${missing=def}", "def"),
            ("${missing:=${name}-x}", "web-x"),
            ("${#name}", "3"),
            ("${name^}", "Web"),
            ("${name^^}", "WEB"),
            ("${ver:1}", "1.2.3"),
            ("${ver:1:3}", "1.2"),
            ("${ver/./_}", "v1_2.3"),
            ("${ver//./_}", "v1_2_3"),
            ("$name stays", "$name stays"),
            ("$${name}", "${name}"),
            ("a ${name} b ${name}", "a web b web"),
        ];
        for (input, want) in cases {
            assert_eq!(envsubst(input, &v).as_deref(), Ok(want), "{input}");
        }
        assert_eq!(envsubst("${name", &v), Err(SubstituteError::Syntax("missing closing brace")));
        assert_eq!(envsubst("${}", &v), Err(SubstituteError::Syntax("unable to parse variable name")));
    }

    #[test]
    fn sources_override_in_order_and_missing_required_ones_fail() {
        let post: PostBuild = serde_json::from_value(serde_json::json!({
            "substitute": {"b": "inline"},
            "substituteFrom": [
                {"kind": "ConfigMap", "name": "one"},
                {"kind": "Secret", "name": "two"},
                {"kind": "ConfigMap", "name": "gone", "optional": true},
            ],
        }))
        .expect("postBuild");
        let got = load_variables(&post, |plural, name| match (plural, name) {
            ("configmaps", "one") => Some(serde_json::json!({"data": {"a": "cm", "b": "cm", "c": "cm"}})),
            ("secrets", "two") => Some(serde_json::json!({"data": {"c": "c2VjcmV0"}})),
            _ => None,
        })
        .expect("vars");
        assert_eq!(got, vars(&[("a", "cm"), ("b", "inline"), ("c", "secret")]));
        let strict: PostBuild =
            serde_json::from_value(serde_json::json!({"substituteFrom": [{"kind": "Secret", "name": "gone"}]}))
                .expect("postBuild");
        let err = load_variables(&strict, |_, _| None).expect_err("missing");
        assert_eq!(err.to_string(), "substitute from 'Secret/gone' error: secrets \"gone\" not found");
        assert!(check_names(&vars(&[("bad-name", "x")])).is_err());
    }
}
