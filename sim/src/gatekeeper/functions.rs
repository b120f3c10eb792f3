//! The check OPA's compiler makes and regorus does not: every function a template calls must
//! exist (a builtin, a registered extension, or a function the template's modules define).
//! OPA rejects a template calling an unknown function with
//! `rego_type_error: undefined function <name>`; without this check the template would compile
//! and every evaluation would fail (and the webhook admit, failurePolicy Ignore).
//!
//! Calls are read from regorus's AST; whether a name is a builtin is asked of regorus itself
//! with a one-line probe policy. This module must not evaluate the template.

use std::collections::BTreeSet;

use serde_json::Value;

/// A call to a function that does not exist: its name and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFunction {
    pub name: String,
    pub line: u64,
    pub col: u64,
}

/// The dotted name of a call's function expression (`sprintf`, `regex.match`), if it is one.
fn path_of(fcn: &Value) -> Option<String> {
    if let Some(v) = fcn.get("Var") {
        return v.get("value").and_then(Value::as_str).map(str::to_string);
    }
    let d = fcn.get("RefDot")?;
    let base = path_of(d.get("refr")?)?;
    let field = d.get("field")?.get(1)?.as_str()?;
    Some(format!("{base}.{field}"))
}

fn collect(v: &Value, calls: &mut Vec<(String, usize, u64, u64)>, defined: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(c) = m.get("Call") {
                if let Some(name) = c.get("fcn").and_then(path_of) {
                    let arity = c.get("params").and_then(Value::as_array).map_or(0, Vec::len);
                    let at = |k: &str| c.pointer(&format!("/span/{k}")).and_then(Value::as_u64).unwrap_or(0);
                    calls.push((name, arity, at("line"), at("col")));
                }
            }
            if let Some(f) = m.get("Func") {
                if let Some(name) = f.get("refr").and_then(path_of) {
                    defined.insert(name);
                }
            }
            m.values().for_each(|x| collect(x, calls, defined));
        }
        Value::Array(a) => a.iter().for_each(|x| collect(x, calls, defined)),
        _ => {}
    }
}

/// True when regorus (with the deprecated builtins Gatekeeper accepts) knows `name`.
fn is_builtin(name: &str, arity: usize) -> bool {
    let mut probe = regorus::Engine::new();
    if super::builtins::register_deprecated(&mut probe).is_err() {
        return true;
    }
    let args = vec!["null"; arity].join(", ");
    let policy = format!("package idpharnessprobe\nx := {name}({args})\n");
    if probe.add_policy("probe.rego".into(), policy).is_err() {
        // Not a name regorus can even parse as a call: leave the verdict to evaluation.
        return true;
    }
    match probe.eval_rule("data.idpharnessprobe.x".into()) {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("could not find function"),
    }
}

/// The calls in `engine`'s modules to functions that exist nowhere, in source order.
pub fn unknown_functions(engine: &regorus::Engine) -> Vec<UnknownFunction> {
    let Ok(text) = engine.get_ast_as_json() else { return Vec::new() };
    let Ok(ast) = serde_json::from_str::<Value>(&text) else { return Vec::new() };
    let (mut calls, mut defined) = (Vec::new(), BTreeSet::new());
    collect(&ast, &mut calls, &mut defined);
    // A function the modules define may be called by its name, through an import alias or by
    // its `data.` path: any call ending in a defined name counts as defined.
    let defined_last: BTreeSet<&str> = defined.iter().filter_map(|d| d.rsplit('.').next()).collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (name, arity, line, col) in calls {
        let last = name.rsplit('.').next().unwrap_or(&name);
        if name.starts_with("data.") || defined.contains(&name) || defined_last.contains(last) {
            continue;
        }
        if !seen.insert(name.clone()) {
            continue;
        }
        if !is_builtin(&name, arity) {
            out.push(UnknownFunction { name, line, col });
        }
    }
    out
}
