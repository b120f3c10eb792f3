//! Partial matching of Kubernetes objects, as scenario expectations need it: every key of the
//! expected map must be in the actual one (extra keys are fine), lists match without regard to
//! order (each expected item needs its own actual item), scalars are equal (numbers by value).
//! A key written `(expression)` is a JMESPath expression evaluated on the actual map at that
//! level; its result must match the value (`(length(containers)): 2`).
//! On a mismatch: where, and a diff of expected against actual restricted to what was asked.
//!
//! Secret values are redacted in every rendering. Pure functions; no I/O.

use serde_json::{Map, Value};

/// Where and why an actual value does not match.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Dotted path, e.g. `spec.template.spec.containers[0].image`.
    pub path: String,
    pub why: String,
}

/// Checks that `actual` contains `expected`.
pub fn matches(expected: &Value, actual: &Value) -> Result<(), Mismatch> {
    walk(expected, actual, "")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The expression of a `(expression)` key.
pub fn expression_key(key: &str) -> Option<&str> {
    key.strip_prefix('(').and_then(|k| k.strip_suffix(')')).filter(|k| !k.trim().is_empty())
}

/// Evaluates a JMESPath expression on a value.
pub fn jmespath(expr: &str, on: &Value) -> Result<Value, String> {
    let compiled = jmespath::compile(expr).map_err(|e| format!("invalid JMESPath expression {expr:?}: {e}"))?;
    let data = jmespath::Variable::try_from(on.clone()).map_err(|e| format!("cannot evaluate {expr:?}: {e}"))?;
    let result = compiled.search(data).map_err(|e| format!("cannot evaluate {expr:?}: {e}"))?;
    serde_json::to_value(&*result).map_err(|e| format!("cannot read the result of {expr:?}: {e}"))
}

fn walk(e: &Value, a: &Value, path: &str) -> Result<(), Mismatch> {
    match (e, a) {
        (Value::Object(em), Value::Object(_)) if em.keys().any(|k| expression_key(k).is_some()) => {
            for (k, ev) in em {
                let p = join(path, k);
                match expression_key(k) {
                    Some(expr) => {
                        let got = jmespath(expr, a).map_err(|why| Mismatch { path: p.clone(), why })?;
                        walk(ev, &got, &p)?;
                    }
                    None => walk(&Value::Object([(k.clone(), ev.clone())].into_iter().collect()), a, path)?,
                }
            }
            Ok(())
        }
        (Value::Object(em), Value::Object(am)) => {
            for (k, ev) in em {
                let p = join(path, k);
                match am.get(k) {
                    Some(av) => walk(ev, av, &p)?,
                    None if ev.is_null() => {}
                    None => return Err(Mismatch { path: p, why: "missing".into() }),
                }
            }
            Ok(())
        }
        (Value::Array(ea), Value::Array(aa)) => {
            let mut used = vec![false; aa.len()];
            for (i, ev) in ea.iter().enumerate() {
                let found = aa.iter().enumerate().position(|(j, av)| !used[j] && walk(ev, av, "").is_ok());
                match found {
                    Some(j) => used[j] = true,
                    None => {
                        return Err(Mismatch {
                            path: format!("{path}[{i}]"),
                            why: format!("no element of the actual list (of {}) matches it", aa.len()),
                        })
                    }
                }
            }
            Ok(())
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => Ok(()),
        (x, y) if x == y => Ok(()),
        (Value::Null, _) => Err(Mismatch { path: path.into(), why: "expected no value".into() }),
        (x, y) => Err(Mismatch { path: path.into(), why: format!("expected {}, got {}", short(x), short(y)) }),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// `actual` restricted to the keys `expected` asks about, so a diff shows only what matters.
pub fn project(actual: &Value, expected: &Value) -> Value {
    match (actual, expected) {
        (Value::Object(am), Value::Object(em)) => {
            let mut out = Map::new();
            for (k, ev) in em {
                if let Some(expr) = expression_key(k) {
                    if let Ok(v) = jmespath(expr, actual) {
                        out.insert(k.clone(), project(&v, ev));
                    }
                } else if let Some(av) = am.get(k) {
                    out.insert(k.clone(), project(av, ev));
                }
            }
            Value::Object(out)
        }
        (Value::Array(aa), Value::Array(ea)) => {
            // Project every actual item on the union of the expected items' keys.
            let mut union = Map::new();
            for ev in ea {
                if let Value::Object(m) = ev {
                    for (k, v) in m {
                        union.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            if union.is_empty() {
                actual.clone()
            } else {
                let shape = Value::Object(union);
                Value::Array(aa.iter().map(|a| project(a, &shape)).collect())
            }
        }
        _ => actual.clone(),
    }
}

/// Replaces the values of a Secret's `data` and `stringData` with `<redacted>`.
pub fn redact(v: &Value) -> Value {
    let mut out = v.clone();
    if out.get("kind").and_then(Value::as_str) == Some("Secret") {
        for field in ["data", "stringData"] {
            if let Some(m) = out.get_mut(field).and_then(Value::as_object_mut) {
                for val in m.values_mut() {
                    *val = Value::String("<redacted>".into());
                }
            }
        }
    }
    out
}

/// YAML text of a value (for diffs and evidence).
pub fn yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|_| serde_json::to_string_pretty(v).unwrap_or_default())
}

/// A unified diff of expected against the matching part of actual, secrets redacted. A
/// Secret value that differs shows as `<redacted, differs from expected>` on the actual side,
/// so the diff still points at it without showing either value.
pub fn diff(expected: &Value, actual: Option<&Value>) -> String {
    let is_secret = |v: &Value| v.get("kind").and_then(Value::as_str) == Some("Secret");
    let secret = is_secret(expected) || actual.is_some_and(is_secret);
    let (e, a) = match actual {
        Some(a) => {
            let projected = project(a, expected);
            if secret {
                let (e, a) = redact_pair(expected, &projected);
                (yaml(&e), yaml(&a))
            } else {
                (yaml(expected), yaml(&projected))
            }
        }
        None => (
            yaml(&if secret { redact_pair(expected, &Value::Null).0 } else { expected.clone() }),
            "<the object does not exist>\n".into(),
        ),
    };
    similar::TextDiff::from_lines(&e, &a).unified_diff().context_radius(3).header("expected", "actual").to_string()
}

/// Redacts the `data`/`stringData` values of both sides of a Secret comparison.
fn redact_pair(expected: &Value, actual: &Value) -> (Value, Value) {
    let mut e = expected.clone();
    let mut a = actual.clone();
    for field in ["data", "stringData"] {
        let theirs = actual.get(field).and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(m) = e.get_mut(field).and_then(Value::as_object_mut) {
            for v in m.values_mut() {
                *v = Value::String("<redacted>".into());
            }
        }
        let ours = expected.get(field).and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(m) = a.get_mut(field).and_then(Value::as_object_mut) {
            for (k, v) in m.iter_mut() {
                let same = ours.get(k).is_some_and(|x| Some(x) == theirs.get(k));
                *v = Value::String(if same || !ours.contains_key(k) {
                    "<redacted>".into()
                } else {
                    "<redacted, differs from expected>".into()
                });
            }
        }
    }
    (e, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_are_subsets_and_lists_match_in_any_order() {
        let actual = json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}}, "spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}});
        assert_eq!(matches(&json!({"metadata": {"labels": {"y": "2"}}}), &actual), Ok(()));
        assert_eq!(matches(&json!({"spec": {"ports": [{"port": 443}, {"name": "http"}]}}), &actual), Ok(()));
        let m = matches(&json!({"spec": {"ports": [{"port": 443}, {"port": 443}]}}), &actual)
            .expect_err("each item needs its own match");
        assert_eq!(m.path, "spec.ports[1]");
        let m = matches(&json!({"metadata": {"labels": {"x": "9"}}}), &actual).expect_err("value differs");
        assert_eq!((m.path.as_str(), m.why.as_str()), ("metadata.labels.x", "expected \"9\", got \"1\""));
        assert_eq!(matches(&json!({"a": 1}), &json!({"a": 1.0})), Ok(()));
    }

    #[test]
    fn expression_keys_evaluate_jmespath_on_the_actual_map() {
        let actual = json!({"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "sidecar", "image": "busybox"}]}});
        assert_eq!(matches(&json!({"spec": {"(length(containers))": 2}}), &actual), Ok(()));
        assert_eq!(
            matches(&json!({"spec": {"(containers[?name=='nginx'] | [0].image)": "nginx:1.27"}}), &actual),
            Ok(())
        );
        let m = matches(&json!({"spec": {"(length(containers))": 3}}), &actual).expect_err("two containers");
        assert_eq!((m.path.as_str(), m.why.as_str()), ("spec.(length(containers))", "expected 3, got 2"));
        let m = matches(&json!({"spec": {"(containers[)": 1}}), &actual).expect_err("bad expression");
        assert!(m.why.starts_with("invalid JMESPath expression"), "{}", m.why);
        let d = diff(&json!({"spec": {"(length(containers))": 3}}), Some(&actual));
        assert!(d.contains("+  (length(containers)): 2"), "{d}");
    }

    #[test]
    fn diffs_show_what_was_asked_and_hide_secret_values() {
        let expected = json!({"kind": "Secret", "data": {"password": "aGVsbG8="}});
        let actual = json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "c2VjcmV0"}});
        let d = diff(&expected, Some(&actual));
        assert!(!d.contains("c2VjcmV0") && !d.contains("aGVsbG8="), "{d}");
        assert!(
            d.contains("-  password: <redacted>") && d.contains("+  password: <redacted, differs from expected>"),
            "{d}"
        );
        let d = diff(&json!({"data": {"k": "v"}}), Some(&json!({"data": {"k": "w"}, "other": 1})));
        assert!(d.contains("-  k: v") && d.contains("+  k: w") && !d.contains("other"), "{d}");
    }
}
