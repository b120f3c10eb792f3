//! `object`: an object exists and contains the expected partial object (maps as subsets,
//! lists in any order). A mismatch reports the path and a diff of expected against actual.

use serde_json::Value;

use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::run::matcher;

pub async fn check(cx: &Cx, expected: &Value) -> Result<(), Failure> {
    let expected = cx.subst_value(expected)?;
    let s = |p: &str| expected.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let (t, ar) = cx
        .kube
        .target(
            &s("/apiVersion"),
            &s("/kind"),
            &s("/metadata/name"),
            expected.pointer("/metadata/namespace").and_then(Value::as_str),
            &cx.namespace,
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
    // The namespace we resolved is part of what we compare.
    let mut want = expected.clone();
    if !t.namespace.is_empty() {
        if let Some(m) = want.pointer_mut("/metadata").and_then(Value::as_object_mut) {
            m.insert("namespace".into(), Value::String(t.namespace.clone()));
        }
    }
    let actual = cx.kube.get(&ar, &t).await.map_err(|e| fail(e.to_string()))?;
    let Some(actual) = actual else {
        return Err(Failure {
            message: format!("object {t} does not exist"),
            detail: None,
            diff: Some(matcher::diff(&want, None)),
        });
    };
    matcher::matches(&want, &actual).map_err(|m| Failure {
        message: format!("object {t}: {}: {}", m.path, m.why),
        detail: None,
        diff: Some(matcher::diff(&want, Some(&actual))),
    })
}
