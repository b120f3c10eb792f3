//! Conversions between resources that share one store (see `resources::StorageMapping`).
//!
//! Today one pair: `events.k8s.io/v1` Event ⇄ core `v1` Event, stored as core v1 like
//! kube-apiserver stores both through the internal `core.Event`. The mapping follows upstream
//! `pkg/apis/events/v1/conversion.go` plus the generated field-by-field conversions:
//!
//! | events.k8s.io/v1           | core/v1              |
//! |----------------------------|----------------------|
//! | `regarding`                | `involvedObject`     |
//! | `note`                     | `message`            |
//! | `reportingController`      | `reportingComponent` |
//! | `deprecatedSource`         | `source`             |
//! | `deprecatedFirstTimestamp` | `firstTimestamp`     |
//! | `deprecatedLastTimestamp`  | `lastTimestamp`      |
//! | `deprecatedCount`          | `count`              |
//!
//! `metadata`, `action`, `eventTime`, `reason`, `related`, `reportingInstance`, `series` and
//! `type` keep their names. Fields neither type declares are dropped (both sides have already
//! been decoded through their typed structs). Core v1's `involvedObject` is a non-pointer struct
//! upstream and always serialized, so an event without `regarding` is stored with
//! `involvedObject: {}` and read back through events.k8s.io as `regarding: {}`, as
//! kube-apiserver answers.
//!
//! Conversions operate on JSON, never fail, and round-trip on every field both shapes express.

use serde_json::{Map, Value};

/// (events.k8s.io/v1 name, core/v1 name) for fields that are renamed.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Fields with the same name and shape in both versions.
const SHARED: &[&str] =
    &["metadata", "action", "eventTime", "reason", "related", "reportingInstance", "series", "type"];

/// Copies `from` into a new object, renaming keys through `rename` and keeping `SHARED` ones.
fn convert(from: &Value, api_version: &str, rename: impl Fn(&str) -> Option<&'static str>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version.to_string()));
    out.insert("kind".into(), Value::String("Event".to_string()));
    if let Some(map) = from.as_object() {
        for (k, v) in map {
            if let Some(to) = rename(k) {
                out.insert(to.to_string(), v.clone());
            } else if SHARED.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// An `events.k8s.io/v1` Event as a core `v1` Event.
pub fn events_v1_to_core(ev: &Value) -> Value {
    let mut out = convert(ev, "v1", |k| RENAMED.iter().find(|(e, _)| *e == k).map(|(_, c)| *c));
    out.entry("involvedObject").or_insert_with(|| Value::Object(Map::new()));
    Value::Object(out)
}

/// A core `v1` Event as an `events.k8s.io/v1` Event.
pub fn core_to_events_v1(ev: &Value) -> Value {
    Value::Object(convert(ev, "events.k8s.io/v1", |k| RENAMED.iter().find(|(_, c)| *c == k).map(|(e, _)| *e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_events_v1() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default", "resourceVersion": "7"},
            "eventTime": "2024-01-02T03:04:05.000000Z",
            "series": {"count": 3, "lastObservedTime": "2024-01-02T03:05:05.000000Z"},
            "reportingController": "example.com/ctl", "reportingInstance": "ctl-0",
            "action": "Reconcile", "reason": "Synced", "type": "Normal", "note": "all good",
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default", "uid": "u1", "apiVersion": "v1"},
            "related": {"kind": "Node", "name": "n"},
            "deprecatedSource": {"component": "kubelet", "host": "n"},
            "deprecatedFirstTimestamp": "2024-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2024-01-02T00:00:00Z",
            "deprecatedCount": 4
        })
    }

    #[test]
    fn events_v1_maps_onto_core_fields() {
        let core = events_v1_to_core(&full_events_v1());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "all good");
        assert_eq!(core["reportingComponent"], "example.com/ctl");
        assert_eq!(core["reportingInstance"], "ctl-0");
        assert_eq!(core["source"], json!({"component": "kubelet", "host": "n"}));
        assert_eq!(core["firstTimestamp"], "2024-01-01T00:00:00Z");
        assert_eq!(core["lastTimestamp"], "2024-01-02T00:00:00Z");
        assert_eq!(core["count"], 4);
        assert_eq!(core["series"]["count"], 3);
        assert_eq!(core["related"]["kind"], "Node");
        for gone in ["regarding", "note", "reportingController", "deprecatedSource", "deprecatedCount"] {
            assert!(core.get(gone).is_none(), "{gone} left in the core shape");
        }
    }

    #[test]
    fn conversions_round_trip_both_ways() {
        let ev = full_events_v1();
        assert_eq!(core_to_events_v1(&events_v1_to_core(&ev)), ev);
        let core = events_v1_to_core(&ev);
        assert_eq!(events_v1_to_core(&core_to_events_v1(&core)), core);
    }

    #[test]
    fn a_missing_regarding_is_stored_as_an_empty_involved_object() {
        let core = events_v1_to_core(&json!({"metadata": {"name": "e"}, "reason": "R", "bogus": 1}));
        assert_eq!(core["involvedObject"], json!({}));
        assert!(core.get("bogus").is_none());
        assert_eq!(core_to_events_v1(&core)["regarding"], json!({}));
    }
}
