//! `metav1.Condition` lists as controllers keep them: set a condition by type, keep
//! `lastTransitionTime` when the status does not change, remove one, read one.
//!
//! Shared by every simulated controller (Flux, ACK, Crossplane). It must not decide any
//! component's reasons or messages.

use serde_json::{json, Value};

use crate::apiserver::objects::now;

/// One condition to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition<'a> {
    pub type_: &'a str,
    /// `True`, `False` or `Unknown`.
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

/// Sets `c` in `conditions` (a JSON array; replaced if not one), with `observedGeneration`.
/// `lastTransitionTime` changes only when the status does.
pub fn set(conditions: &mut Value, c: &Condition<'_>, observed_generation: i64) {
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else { return };
    let existing = list.iter_mut().find(|e| e.get("type").and_then(Value::as_str) == Some(c.type_));
    let transition = match &existing {
        Some(e) if e.get("status").and_then(Value::as_str) == Some(c.status) => {
            e.get("lastTransitionTime").cloned().unwrap_or_else(|| json!(now()))
        }
        _ => json!(now()),
    };
    let new = json!({
        "type": c.type_, "status": c.status, "observedGeneration": observed_generation,
        "lastTransitionTime": transition, "reason": c.reason, "message": c.message,
    });
    match existing {
        Some(e) => *e = new,
        None => list.push(new),
    }
}

/// Removes the condition of `type_`.
pub fn remove(conditions: &mut Value, type_: &str) {
    if let Some(list) = conditions.as_array_mut() {
        list.retain(|e| e.get("type").and_then(Value::as_str) != Some(type_));
    }
}

/// The condition of `type_` in an object's `status.conditions`.
pub fn get<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|e| e.get("type").and_then(Value::as_str) == Some(type_))
}

/// `status` of the condition of `type_` (`True`, `False`, `Unknown`), if present.
pub fn status_of<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    get(object, type_).and_then(|c| c.get("status")).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_the_transition_time_while_the_status_holds() {
        let mut c = json!([]);
        set(&mut c, &Condition { type_: "Ready", status: "False", reason: "A", message: "a" }, 1);
        c[0]["lastTransitionTime"] = json!("2020-01-01T00:00:00Z");
        set(&mut c, &Condition { type_: "Ready", status: "False", reason: "B", message: "b" }, 2);
        assert_eq!(c[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert_eq!(c[0]["reason"], "B");
        assert_eq!(c[0]["observedGeneration"], 2);
        set(&mut c, &Condition { type_: "Ready", status: "True", reason: "C", message: "c" }, 2);
        assert_ne!(c[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
        set(&mut c, &Condition { type_: "Healthy", status: "True", reason: "D", message: "d" }, 2);
        assert_eq!(c.as_array().map(Vec::len), Some(2));
        remove(&mut c, "Ready");
        let obj = json!({"status": {"conditions": c}});
        assert_eq!(status_of(&obj, "Healthy"), Some("True"));
        assert!(get(&obj, "Ready").is_none());
    }
}
