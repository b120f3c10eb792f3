//! Deprecated OPA builtins that Gatekeeper's Rego still accepts and regorus does not provide,
//! registered on every template engine as extensions with OPA's semantics.
//!
//! Only builtins OPA itself still evaluates belong here; this module must not invent
//! builtins OPA never had.
//!
//! * `any(collection)`: true when any element of an array or set is `true` (OPA: false for an
//!   empty collection; a type error for anything else).
//! * `all(collection)`: true when every element is `true` (OPA: true for an empty collection).

use regorus::{Engine, Value};

/// Registers `any` and `all` on an engine.
pub fn register_deprecated(engine: &mut Engine) -> anyhow::Result<()> {
    engine.add_extension("any".to_string(), 1, Box::new(|args: Vec<Value>| quantify("any", &args)))?;
    engine.add_extension("all".to_string(), 1, Box::new(|args: Vec<Value>| quantify("all", &args)))?;
    Ok(())
}

/// The shared body: OPA's `any`/`all` compare every element with `true` (not truthiness).
fn quantify(name: &str, args: &[Value]) -> anyhow::Result<Value> {
    let Some(arg) = args.first() else {
        anyhow::bail!("{name}: expected 1 argument");
    };
    let is_true = |v: &Value| matches!(v, Value::Bool(true));
    let result = match arg {
        Value::Array(a) => {
            if name == "any" {
                a.iter().any(is_true)
            } else {
                a.iter().all(is_true)
            }
        }
        Value::Set(s) => {
            if name == "any" {
                s.iter().any(is_true)
            } else {
                s.iter().all(is_true)
            }
        }
        _ => anyhow::bail!("{name}: operand 1 must be one of {{array, set}} but got {}", type_name(arg)),
    };
    Ok(Value::Bool(result))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Set(_) => "set",
        Value::Object(_) => "object",
        Value::Undefined => "undefined",
    }
}
