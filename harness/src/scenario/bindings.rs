//! `${name}` bindings: the values the runner gives each scenario (`scenario`, `namespace`,
//! `account`) and the user's own, substituted into steps and the manifests they apply so that
//! parallel scenarios do not collide. `$${` writes a literal `${`.
//!
//! Substitution only; where bindings come from is the runner's business.

use std::collections::BTreeMap;

use serde_json::Value;

/// Names the runner sets for every scenario.
pub const BUILTIN: &[&str] = &["scenario", "namespace", "account", "oidcProvider"];

/// Values for `${name}`.
#[derive(Debug, Clone, Default)]
pub struct Bindings(pub BTreeMap<String, String>);

impl Bindings {
    /// Replaces every `${name}` in `s`; an unknown name is an error naming it.
    pub fn substitute(&self, s: &str) -> Result<String, String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(lit) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = lit;
            } else if let Some(inner) = after.strip_prefix("${") {
                let Some(end) = inner.find('}') else { return Err(format!("unclosed ${{ in {s:?}")) };
                let name = &inner[..end];
                match self.0.get(name) {
                    Some(v) => out.push_str(v),
                    None => return Err(format!("unknown binding ${{{name}}}")),
                }
                rest = &inner[end + 1..];
            } else {
                out.push('$');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Substitutes in every string (and map key) of a JSON value.
    pub fn substitute_value(&self, v: &Value) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => Value::String(self.substitute(s)?),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.substitute_value(x)).collect::<Result<_, _>>()?),
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, x) in m {
                    out.insert(self.substitute(k)?, self.substitute_value(x)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// The `${name}` references in a string (escaped `$${` excluded).
pub fn references(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        let after = &rest[pos..];
        if let Some(lit) = after.strip_prefix("$${") {
            rest = lit;
        } else if let Some(inner) = after.strip_prefix("${") {
            match inner.find('}') {
                Some(end) => {
                    out.push(inner[..end].to_string());
                    rest = &inner[end + 1..];
                }
                None => break,
            }
        } else {
            rest = &after[1..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_escapes_and_reports_unknown_names() {
        let b = Bindings(BTreeMap::from([("namespace".to_string(), "s-a-1".to_string())]));
        assert_eq!(
            b.substitute("ns: ${namespace}, cost: $5, lit: $${namespace}"),
            Ok("ns: s-a-1, cost: $5, lit: ${namespace}".into())
        );
        assert_eq!(b.substitute("${nope}"), Err("unknown binding ${nope}".into()));
        assert_eq!(references("a ${x} b $${y} ${z}"), vec!["x".to_string(), "z".to_string()]);
    }
}
