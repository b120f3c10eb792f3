//! The IAM policy grammar: parsing a JSON policy document into typed, precompiled statements,
//! with errors worded like IAM's `MalformedPolicyDocument` messages and pointing at a JSON path.
//!
//! Parsing compiles every wildcard pattern once so that evaluation does no text analysis. This
//! module must not evaluate requests (that is `mod.rs`) and must never panic on any input.

use serde_json::Value as Json;

use super::conditions::{ConditionEntry, Operator, PolicyValue};
use super::matching::{ArnPattern, Glob};

/// A policy document that IAM would refuse, with what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at {path})")]
pub struct PolicyError {
    /// The message, worded like IAM's MalformedPolicyDocument messages where known.
    pub message: String,
    /// A JSON path to the offending element, such as `$.Statement[1].Effect`.
    pub path: String,
}

fn err<T>(message: impl Into<String>, path: &str) -> Result<T, PolicyError> {
    Err(PolicyError { message: message.into(), path: path.to_owned() })
}

const SYNTAX: &str = "Syntax errors in policy.";

/// Which kind of policy a document is; it decides whether `Principal` and `Resource` are
/// allowed or required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// No checks on Principal or Resource presence.
    Any,
    /// Attached to a user, group or role: no Principal, Resource required.
    Identity,
    /// Attached to a resource (bucket, secret, key): Principal and Resource required.
    Resource,
    /// A role's trust (assume-role) policy: Principal required, Resource prohibited.
    Trust,
}

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2008-10-17`, also the version when the element is absent: no policy variables.
    V2008_10_17,
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Principal values of one statement, by type. `"*"` anywhere means everyone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Principals {
    pub everyone: bool,
    pub aws: Vec<Box<str>>,
    pub federated: Vec<Box<str>>,
    pub service: Vec<Box<str>>,
    pub canonical_user: Vec<Box<str>>,
}

#[derive(Debug, Clone)]
pub(crate) enum ActionSpec {
    Action(Vec<Glob>),
    NotAction(Vec<Glob>),
}

#[derive(Debug, Clone)]
pub(crate) enum ResourceSpec {
    Resource(Vec<ArnPattern>),
    NotResource(Vec<ArnPattern>),
}

#[derive(Debug, Clone)]
pub(crate) enum PrincipalSpec {
    Principal(Principals),
    NotPrincipal(Principals),
}

/// One statement, compiled.
#[derive(Debug, Clone)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) action: ActionSpec,
    pub(crate) resource: Option<ResourceSpec>,
    pub(crate) principal: Option<PrincipalSpec>,
    pub(crate) conditions: Vec<ConditionEntry>,
    /// The action / principal patterns as written, for messages.
    pub(crate) action_text: Vec<String>,
    pub(crate) principal_text: Vec<String>,
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    pub fn effect(&self) -> Effect {
        self.effect
    }
}

/// A parsed, compiled policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) version: Version,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    /// Parses a document without Principal/Resource presence checks.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        Policy::parse_as(json, PolicyKind::Any)
    }

    /// Parses an identity-based policy (user, group, role; managed or inline).
    pub fn parse_identity(json: &str) -> Result<Policy, PolicyError> {
        Policy::parse_as(json, PolicyKind::Identity)
    }

    /// Parses a role trust policy (`AssumeRolePolicyDocument`).
    pub fn parse_trust(json: &str) -> Result<Policy, PolicyError> {
        Policy::parse_as(json, PolicyKind::Trust)
    }

    /// Parses a resource-based policy.
    pub fn parse_resource(json: &str) -> Result<Policy, PolicyError> {
        Policy::parse_as(json, PolicyKind::Resource)
    }

    /// Parses a document of the given kind.
    pub fn parse_as(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let value: Json = match serde_json::from_str(json) {
            Ok(v) => v,
            Err(_) => return err(SYNTAX, "$"),
        };
        Policy::from_json(&value, kind)
    }

    /// Compiles an already-decoded JSON document.
    pub fn from_json(value: &Json, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let Json::Object(top) = value else {
            return err(SYNTAX, "$");
        };
        for key in top.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return err(format!("Unknown field {key}"), &format!("$.{key}"));
            }
        }
        let version = match top.get("Version") {
            None => Version::V2008_10_17,
            Some(Json::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
            Some(Json::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
            Some(_) => return err("The policy failed legacy parsing", "$.Version"),
        };
        let id = match top.get("Id") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => return err(SYNTAX, "$.Id"),
        };
        let statements: Vec<(&Json, String)> = match top.get("Statement") {
            None => return err("Missing required field Statement", "$"),
            Some(Json::Array(list)) => list.iter().enumerate().map(|(i, s)| (s, format!("$.Statement[{i}]"))).collect(),
            Some(one @ Json::Object(_)) => vec![(one, "$.Statement".to_owned())],
            Some(_) => return err(SYNTAX, "$.Statement"),
        };
        let variables = version == Version::V2012_10_17;
        let mut compiled = Vec::with_capacity(statements.len());
        for (json, path) in statements {
            let stmt = parse_statement(json, &path, kind, variables)?;
            if let Some(sid) = &stmt.sid {
                if compiled.iter().any(|s: &Statement| s.sid.as_deref() == Some(sid.as_str())) {
                    return err("Statement IDs (SID) in a single policy must be unique.", &format!("{path}.Sid"));
                }
            }
            compiled.push(stmt);
        }
        Ok(Policy { version, id, statements: compiled })
    }

    pub fn version(&self) -> Version {
        self.version
    }
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

/// A string or a list of strings (a list must not be empty).
fn string_list<'a>(v: &'a Json, path: &str) -> Result<Vec<&'a str>, PolicyError> {
    match v {
        Json::String(s) => Ok(vec![s.as_str()]),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Json::String(s) => Ok(s.as_str()),
                _ => err(SYNTAX, &format!("{path}[{i}]")),
            })
            .collect(),
        _ => err(SYNTAX, path),
    }
}

fn parse_statement(json: &Json, path: &str, kind: PolicyKind, variables: bool) -> Result<Statement, PolicyError> {
    let Json::Object(obj) = json else {
        return err(SYNTAX, path);
    };
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Principal"
                | "NotPrincipal"
                | "Condition"
        ) {
            return err(format!("Unknown field {key}"), &format!("{path}.{key}"));
        }
    }
    let sid = match obj.get("Sid") {
        None => None,
        Some(Json::String(s)) => {
            if matches!(kind, PolicyKind::Identity | PolicyKind::Trust) && !s.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return err(
                    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
                    &format!("{path}.Sid"),
                );
            }
            Some(s.clone())
        }
        Some(_) => return err(SYNTAX, &format!("{path}.Sid")),
    };
    let effect = match obj.get("Effect") {
        None => return err("Missing required field Effect", path),
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(Json::String(e)) => return err(format!("Invalid effect: {e}"), &format!("{path}.Effect")),
        Some(_) => return err(SYNTAX, &format!("{path}.Effect")),
    };

    // Action / NotAction.
    let (action_key, action_json) = match (obj.get("Action"), obj.get("NotAction")) {
        (Some(_), Some(_)) => {
            return err("Statement must not contain both Action and NotAction", &format!("{path}.NotAction"))
        }
        (Some(a), None) => ("Action", a),
        (None, Some(a)) => ("NotAction", a),
        (None, None) => return err("Policy statement must contain actions.", path),
    };
    let apath = format!("{path}.{action_key}");
    let actions = string_list(action_json, &apath)?;
    if actions.is_empty() {
        return err("Policy statement must contain actions.", &apath);
    }
    let mut globs = Vec::with_capacity(actions.len());
    for (i, a) in actions.iter().enumerate() {
        if *a != "*" && !a.contains(':') {
            return err(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                &format!("{apath}[{i}]"),
            );
        }
        globs.push(Glob::new(a, true));
    }
    let action_text = actions.iter().map(|a| (*a).to_owned()).collect();
    let action = if action_key == "Action" { ActionSpec::Action(globs) } else { ActionSpec::NotAction(globs) };

    // Resource / NotResource.
    let resource = match (obj.get("Resource"), obj.get("NotResource")) {
        (Some(_), Some(_)) => {
            return err("Statement must not contain both Resource and NotResource", &format!("{path}.NotResource"))
        }
        (None, None) => None,
        (Some(r), None) => Some(("Resource", r)),
        (None, Some(r)) => Some(("NotResource", r)),
    };
    let resource = match (resource, kind) {
        (Some((key, _)), PolicyKind::Trust) => {
            return err(format!("Has prohibited field {key}"), &format!("{path}.{key}"))
        }
        (None, PolicyKind::Identity | PolicyKind::Resource) => {
            return err("Policy statement must contain resources.", path)
        }
        (None, _) => None,
        (Some((key, json)), _) => {
            let rpath = format!("{path}.{key}");
            let list = string_list(json, &rpath)?;
            if list.is_empty() {
                return err("Policy statement must contain resources.", &rpath);
            }
            let mut patterns = Vec::with_capacity(list.len());
            for (i, r) in list.iter().enumerate() {
                if *r != "*" && !r.starts_with("arn:") {
                    return err(format!("Resource {r} must be in ARN format or \"*\"."), &format!("{rpath}[{i}]"));
                }
                patterns.push(ArnPattern::new(r, variables));
            }
            Some(if key == "Resource" { ResourceSpec::Resource(patterns) } else { ResourceSpec::NotResource(patterns) })
        }
    };

    // Principal / NotPrincipal.
    let principal = match (obj.get("Principal"), obj.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return err("Statement must not contain both Principal and NotPrincipal", &format!("{path}.NotPrincipal"))
        }
        (None, None) => None,
        (Some(p), None) => Some(("Principal", p)),
        (None, Some(p)) => Some(("NotPrincipal", p)),
    };
    let mut principal_text = Vec::new();
    let principal = match (principal, kind) {
        (Some((key, _)), PolicyKind::Identity) => {
            return err("Policy document should not specify a principal.", &format!("{path}.{key}"));
        }
        (None, PolicyKind::Trust | PolicyKind::Resource) => return err("Missing required field Principal", path),
        (None, _) => None,
        (Some((key, json)), _) => {
            let ppath = format!("{path}.{key}");
            let set = parse_principals(json, &ppath, &mut principal_text)?;
            Some(if key == "Principal" { PrincipalSpec::Principal(set) } else { PrincipalSpec::NotPrincipal(set) })
        }
    };

    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c, &format!("{path}.Condition"), variables)?,
    };

    Ok(Statement { sid, effect, action, resource, principal, conditions, action_text, principal_text })
}

fn parse_principals(json: &Json, path: &str, text: &mut Vec<String>) -> Result<Principals, PolicyError> {
    let mut set = Principals::default();
    match json {
        Json::String(s) if s == "*" => {
            set.everyone = true;
            text.push("*".to_owned());
        }
        Json::Object(map) => {
            for (ty, values) in map {
                let vpath = format!("{path}.{ty}");
                let list = string_list(values, &vpath)?;
                let target = match ty.as_str() {
                    "AWS" => &mut set.aws,
                    "Federated" => &mut set.federated,
                    "Service" => &mut set.service,
                    "CanonicalUser" => &mut set.canonical_user,
                    _ => return err(format!("Invalid principal in policy: \"{ty}\":{values}"), &vpath),
                };
                for v in list {
                    if v.is_empty() {
                        return err(format!("Invalid principal in policy: \"{ty}\":\"\""), &vpath);
                    }
                    text.push(format!("{ty}:{v}"));
                    target.push(v.into());
                }
            }
        }
        _ => return err(format!("Invalid principal in policy: {json}"), path),
    }
    Ok(set)
}

fn condition_value_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_conditions(json: &Json, path: &str, variables: bool) -> Result<Vec<ConditionEntry>, PolicyError> {
    let Json::Object(ops) = json else {
        return err(SYNTAX, path);
    };
    let mut entries = Vec::new();
    for (op_name, keys) in ops {
        let opath = format!("{path}.{op_name}");
        let Some(op) = Operator::parse(op_name) else {
            return err(format!("Invalid Condition type : {op_name}"), &opath);
        };
        let Json::Object(keys) = keys else {
            return err(SYNTAX, &opath);
        };
        for (key, values) in keys {
            let kpath = format!("{opath}.{key}");
            if key.is_empty() {
                return err(SYNTAX, &kpath);
            }
            let raw: Vec<String> = match values {
                Json::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        match condition_value_text(item) {
                            Some(t) => out.push(t),
                            None => return err(SYNTAX, &format!("{kpath}[{i}]")),
                        }
                    }
                    out
                }
                other => match condition_value_text(other) {
                    Some(t) => vec![t],
                    None => return err(SYNTAX, &kpath),
                },
            };
            let compiled = raw.iter().map(|r| PolicyValue::compile(op.base, r, variables)).collect();
            entries.push(ConditionEntry {
                op,
                op_name: op_name.as_str().into(),
                key: key.to_ascii_lowercase().into_boxed_str(),
                key_name: key.as_str().into(),
                values: compiled,
                raw_values: raw.into_iter().map(String::into_boxed_str).collect(),
            });
        }
    }
    Ok(entries)
}
