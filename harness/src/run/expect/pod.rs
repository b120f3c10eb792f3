//! `pod` and `event`: pods selected by name or labels in a phase, ready or not, with Events;
//! and an Event about any object (type, reason, message pattern). Events are read from the
//! namespace's core `v1` Events by `involvedObject`. Failures say what the pods and Events
//! actually are.

use serde_json::Value;

use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::scenario::{EventExpect, EventMatch, PodExpect};

async fn list(cx: &Cx, api_version: &str, kind: &str, namespace: &str) -> Result<Vec<Value>, Failure> {
    let (ar, _) = cx.kube.resolve(api_version, kind).await.map_err(|e| fail(e.to_string()))?;
    cx.kube.list(&ar, Some(namespace)).await.map_err(|e| fail(e.to_string()))
}

fn text<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// Whether one Event says what `m` asks.
fn event_matches(cx: &Cx, e: &Value, m: &EventMatch) -> Result<bool, Failure> {
    if m.type_.as_deref().is_some_and(|t| t != text(e, "/type")) {
        return Ok(false);
    }
    if m.reason.as_deref().is_some_and(|r| r != text(e, "/reason")) {
        return Ok(false);
    }
    if let Some(p) = &m.message {
        let re = regex::Regex::new(&cx.subst(p)?).map_err(|e| fail(format!("invalid message pattern: {e}")))?;
        if !re.is_match(text(e, "/message")) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn describe_events(events: &[&Value]) -> String {
    if events.is_empty() {
        return "none".into();
    }
    // Oldest first, as `kubectl get events` lists them (the store lists by name).
    let mut events = events.to_vec();
    events.sort_by_key(|e| {
        let at = e.pointer("/lastTimestamp").or_else(|| e.pointer("/eventTime")).and_then(Value::as_str);
        (
            at.unwrap_or_default().to_string(),
            e.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|rv| rv.parse::<u64>().ok()),
        )
    });
    events
        .iter()
        .map(|e| format!("{} {}: {}", text(e, "/type"), text(e, "/reason"), text(e, "/message")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_match(m: &EventMatch) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &m.type_ {
        parts.push(format!("type {t}"));
    }
    if let Some(r) = &m.reason {
        parts.push(format!("reason {r}"));
    }
    if let Some(p) = &m.message {
        parts.push(format!("message /{p}/"));
    }
    parts.join(", ")
}

/// The pod's latest Warning Event, as `; last warning: <reason>: <message>` (what `kubectl
/// describe pod` would show a user asking why), or nothing.
async fn last_warning(cx: &Cx, namespace: &str, pod: &str) -> String {
    let Ok(events) = list(cx, "v1", "Event", namespace).await else { return String::new() };
    let latest = events
        .iter()
        .filter(|e| {
            text(e, "/type") == "Warning"
                && text(e, "/involvedObject/kind") == "Pod"
                && text(e, "/involvedObject/name") == pod
        })
        .max_by_key(|e| {
            let at = e.pointer("/lastTimestamp").or_else(|| e.pointer("/eventTime")).and_then(Value::as_str);
            (
                at.unwrap_or_default().to_string(),
                e.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|rv| rv.parse::<u64>().ok()),
            )
        });
    match latest {
        Some(e) => format!("; last warning: {}: {}", text(e, "/reason"), text(e, "/message")),
        None => String::new(),
    }
}

/// The pods `namespace` (default the scenario's), `name` and `labels` select, and a phrase
/// naming them for messages.
pub async fn select_pods(
    cx: &Cx,
    namespace: Option<&str>,
    name: Option<&str>,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<(Vec<Value>, String), Failure> {
    let namespace = match namespace {
        Some(n) => cx.subst(n)?,
        None => cx.namespace.clone(),
    };
    let name = name.map(|n| cx.subst(n)).transpose()?;
    let mut wanted = Vec::new();
    for (k, v) in labels {
        wanted.push((k.clone(), cx.subst(v)?));
    }
    let pods: Vec<Value> = list(cx, "v1", "Pod", &namespace)
        .await?
        .into_iter()
        .filter(|pod| name.as_deref().is_none_or(|n| text(pod, "/metadata/name") == n))
        .filter(|pod| {
            wanted
                .iter()
                .all(|(k, v)| pod.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v))
        })
        .collect();
    let what = match &name {
        Some(n) => format!("pod {namespace}/{n}"),
        None => format!(
            "pods in {namespace} labelled {}",
            wanted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
        ),
    };
    Ok((pods, what))
}

pub async fn check_pod(cx: &Cx, p: &PodExpect) -> Result<(), Failure> {
    let (pods, what) = select_pods(cx, p.namespace.as_deref(), p.name.as_deref(), &p.labels).await?;
    let namespace = match &p.namespace {
        Some(n) => cx.subst(n)?,
        None => cx.namespace.clone(),
    };
    match p.count {
        Some(n) if pods.len() != n => return Err(fail(format!("{what}: {} found, expected {n}", pods.len()))),
        None if pods.is_empty() => return Err(fail(format!("{what}: none found"))),
        _ => {}
    }
    for pod in &pods {
        let pname = text(pod, "/metadata/name");
        if let Some(phase) = &p.phase {
            let actual = text(pod, "/status/phase");
            if actual != phase {
                let waiting: Vec<String> = pod
                    .pointer("/status/containerStatuses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str).map(str::to_string))
                    .collect();
                let why = if waiting.is_empty() { String::new() } else { format!(" ({})", waiting.join(", ")) };
                let warning = last_warning(cx, &namespace, pname).await;
                return Err(fail(format!("pod {namespace}/{pname} is {actual:?}{why}, expected {phase}{warning}")));
            }
        }
        if let Some(ready) = p.ready {
            let actual = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| text(c, "/type") == "Ready"))
                .map(|c| text(c, "/status") == "True")
                .unwrap_or(false);
            if actual != ready {
                let warning = last_warning(cx, &namespace, pname).await;
                return Err(fail(format!("pod {namespace}/{pname} ready={actual}, expected ready={ready}{warning}")));
            }
        }
    }
    if !p.events.is_empty() {
        let events = list(cx, "v1", "Event", &namespace).await?;
        let names: Vec<&str> = pods.iter().map(|p| text(p, "/metadata/name")).collect();
        let about: Vec<&Value> = events
            .iter()
            .filter(|e| text(e, "/involvedObject/kind") == "Pod" && names.contains(&text(e, "/involvedObject/name")))
            .collect();
        for m in &p.events {
            let mut found = false;
            for e in &about {
                if event_matches(cx, e, m)? {
                    found = true;
                    break;
                }
            }
            if !found {
                return Err(fail(format!(
                    "{what}: no event with {} (events: {})",
                    describe_match(m),
                    describe_events(&about)
                )));
            }
        }
    }
    Ok(())
}

/// `name`, or a prefix when it ends in `*` (a ReplicaSet `web-*` of Deployment `web`).
fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

pub async fn check_event(cx: &Cx, e: &EventExpect) -> Result<(), Failure> {
    let namespace = match &e.for_.namespace {
        Some(n) => cx.subst(n)?,
        None => cx.namespace.clone(),
    };
    let (kind, name) = (cx.subst(&e.for_.kind)?, cx.subst(&e.for_.name)?);
    let events = list(cx, "v1", "Event", &namespace).await?;
    let about: Vec<&Value> = events
        .iter()
        .filter(|ev| text(ev, "/involvedObject/kind") == kind && name_matches(&name, text(ev, "/involvedObject/name")))
        .collect();
    let m = e.what();
    for ev in &about {
        if event_matches(cx, ev, &m)? {
            return Ok(());
        }
    }
    Err(fail(format!(
        "{kind} {namespace}/{name}: no event with {} (events: {})",
        describe_match(&m),
        describe_events(&about)
    )))
}
