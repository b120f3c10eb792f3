//! `absent`: an object does not exist. When it does, say whether it is being deleted and
//! which finalizers hold it.

use serde_json::Value;

use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::scenario::ObjectRef;

pub async fn check(cx: &Cx, r: &ObjectRef) -> Result<(), Failure> {
    let (t, ar) = cx.resolve(&r.api_version, &r.kind, &r.name, r.namespace.as_deref()).await?;
    match cx.kube.get(&ar, &t).await.map_err(|e| fail(e.to_string()))? {
        None => Ok(()),
        Some(obj) => Err(fail(format!("object {t} still exists{}", holding(&obj)))),
    }
}

/// `; being deleted, held by finalizers a, b` when that is the case.
pub fn holding(obj: &Value) -> String {
    if obj.pointer("/metadata/deletionTimestamp").is_none() {
        return String::new();
    }
    let fins: Vec<&str> = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if fins.is_empty() {
        "; it is being deleted".into()
    } else {
        format!("; it is being deleted, held by finalizers {}", fins.join(", "))
    }
}
