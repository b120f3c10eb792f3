//! `condition`: an object's `status.conditions` has a type with the expected status (default
//! `True`), reason, and a message matching a pattern. Failures quote the actual condition.

use serde_json::Value;

use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::scenario::ConditionExpect;

pub async fn check(cx: &Cx, c: &ConditionExpect) -> Result<(), Failure> {
    let (t, ar) = cx.resolve(&c.api_version, &c.kind, &c.name, c.namespace.as_deref()).await?;
    let Some(obj) = cx.kube.get(&ar, &t).await.map_err(|e| fail(e.to_string()))? else {
        return Err(fail(format!("object {t} does not exist")));
    };
    let conds = obj.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let Some(cond) = conds.iter().find(|x| x.get("type").and_then(Value::as_str) == Some(c.type_.as_str())) else {
        let types: Vec<&str> = conds.iter().filter_map(|x| x.get("type").and_then(Value::as_str)).collect();
        return Err(fail(format!(
            "{t} has no condition {:?} (it has: {})",
            c.type_,
            if types.is_empty() { "none".to_string() } else { types.join(", ") }
        )));
    };
    let field = |k: &str| cond.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (status, reason, message) = (field("status"), field("reason"), field("message"));
    let shown = format!("{t} condition {}={status} (reason {reason:?}, message {message:?})", c.type_);
    let want_status = c.status.as_deref().unwrap_or("True");
    if status != want_status {
        return Err(fail(format!("{shown}; expected status {want_status}")));
    }
    if let Some(r) = &c.reason {
        if &reason != r {
            return Err(fail(format!("{shown}; expected reason {r:?}")));
        }
    }
    if let Some(p) = &c.message {
        let re = regex::Regex::new(&cx.subst(p)?).map_err(|e| fail(format!("invalid message pattern: {e}")))?;
        if !re.is_match(&message) {
            return Err(fail(format!("{shown}; expected the message to match /{p}/")));
        }
    }
    Ok(())
}
