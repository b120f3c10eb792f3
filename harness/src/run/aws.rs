//! The scenario's AWS side: making `spec.aws` (policies, then roles, then secrets) in the
//! scenario's account before the first step, removing it at the end (last made, first removed)
//! and checking it is gone, and reading AWS state for expectations (policy documents
//! normalized, so they compare as JSON; roles are read by `sim::aws::roles`).
//!
//! Secret values are written and compared here, never rendered.

use std::collections::BTreeMap;

use serde_json::Value;
use sim::aws::{error_code, error_text, Clients};

use super::context::{fail, Cx};
use super::events::Failure;
use crate::scenario::aws::document_text;
use crate::scenario::AwsState;

/// What `create_state` made, for removal.
#[derive(Debug, Default, Clone)]
pub struct Made {
    policies: Vec<String>,
    roles: Vec<(String, Vec<String>, Vec<String>)>,
    secrets: Vec<String>,
}

/// The scenario's AWS clients, or a failure saying AWS is not configured.
pub fn clients(cx: &Cx) -> Result<&Clients, Failure> {
    cx.aws.as_ref().ok_or_else(|| fail("this scenario has no AWS endpoint (the backend gave none)"))
}

fn doc(cx: &Cx, v: &Value, at: &str) -> Result<String, Failure> {
    let v = cx.subst_value(v)?;
    document_text(&v).map_err(|m| fail(format!("{at}: {m}")))
}

/// Makes `state` in the scenario's account. On failure, what was made so far is in `made`.
pub async fn create_state(cx: &Cx, state: &AwsState, made: &mut Made) -> Result<(), Failure> {
    let c = clients(cx)?;
    let mut arns: BTreeMap<String, String> = BTreeMap::new();
    for (i, p) in state.policies.iter().enumerate() {
        let at = format!("spec.aws.policies[{i}]");
        let name = cx.subst(&p.name)?;
        let mut req = c.iam.create_policy().policy_name(&name).policy_document(doc(cx, &p.document, &at)?);
        if let Some(path) = &p.path {
            req = req.path(cx.subst(path)?);
        }
        let out = req.send().await.map_err(|e| fail(format!("{at}: CreatePolicy {name}: {}", error_text(&e))))?;
        let arn = out.policy().and_then(|p| p.arn()).unwrap_or_default().to_string();
        made.policies.push(arn.clone());
        arns.insert(p.name.clone(), arn);
    }
    for (i, r) in state.roles.iter().enumerate() {
        let at = format!("spec.aws.roles[{i}]");
        let name = cx.subst(&r.name)?;
        let mut req = c.iam.create_role().role_name(&name).assume_role_policy_document(doc(cx, &r.trust, &at)?);
        if let Some(path) = &r.path {
            req = req.path(cx.subst(path)?);
        }
        req.send().await.map_err(|e| fail(format!("{at}: CreateRole {name}: {}", error_text(&e))))?;
        made.roles.push((name.clone(), Vec::new(), Vec::new()));
        for p in &r.policies {
            let arn = match arns.get(p) {
                Some(a) => a.clone(),
                None => cx.subst(p)?,
            };
            c.iam
                .attach_role_policy()
                .role_name(&name)
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| fail(format!("{at}: AttachRolePolicy {arn}: {}", error_text(&e))))?;
            if let Some(last) = made.roles.last_mut() {
                last.1.push(arn);
            }
        }
        for (pname, d) in &r.inline_policies {
            c.iam
                .put_role_policy()
                .role_name(&name)
                .policy_name(pname)
                .policy_document(doc(cx, d, &format!("{at}.inlinePolicies.{pname}"))?)
                .send()
                .await
                .map_err(|e| fail(format!("{at}: PutRolePolicy {pname}: {}", error_text(&e))))?;
            if let Some(last) = made.roles.last_mut() {
                last.2.push(pname.clone());
            }
        }
    }
    for (i, s) in state.secrets.iter().enumerate() {
        let at = format!("spec.aws.secrets[{i}]");
        let name = cx.subst(&s.name)?;
        let value = match (&s.value, &s.json) {
            (Some(v), _) => cx.subst(v)?,
            (None, Some(j)) => cx.subst_value(j)?.to_string(),
            (None, None) => String::new(),
        };
        let mut req = c.secretsmanager.create_secret().name(&name).secret_string(value);
        if let Some(d) = &s.description {
            req = req.description(d);
        }
        // The error names the secret, never its value.
        req.send().await.map_err(|e| fail(format!("{at}: CreateSecret {name}: {}", error_text(&e))))?;
        made.secrets.push(name);
    }
    Ok(())
}

/// Removes what `create_state` made, last first. Returns problems, and what is still there.
pub async fn remove_state(cx: &Cx, made: &Made) -> (Vec<String>, Vec<String>) {
    let Some(c) = cx.aws.as_ref() else { return (Vec::new(), Vec::new()) };
    let mut problems = Vec::new();
    for s in made.secrets.iter().rev() {
        if let Err(e) = c.secretsmanager.delete_secret().secret_id(s).force_delete_without_recovery(true).send().await {
            problems.push(format!("DeleteSecret {s}: {}", error_text(&e)));
        }
    }
    for (role, attached, inline) in made.roles.iter().rev() {
        for arn in attached {
            if let Err(e) = c.iam.detach_role_policy().role_name(role).policy_arn(arn).send().await {
                if error_code(&e) != Some("NoSuchEntity") {
                    problems.push(format!("DetachRolePolicy {role} {arn}: {}", error_text(&e)));
                }
            }
        }
        for p in inline {
            if let Err(e) = c.iam.delete_role_policy().role_name(role).policy_name(p).send().await {
                if error_code(&e) != Some("NoSuchEntity") {
                    problems.push(format!("DeleteRolePolicy {role} {p}: {}", error_text(&e)));
                }
            }
        }
        if let Err(e) = c.iam.delete_role().role_name(role).send().await {
            if error_code(&e) != Some("NoSuchEntity") {
                problems.push(format!("DeleteRole {role}: {}", error_text(&e)));
            }
        }
    }
    for arn in made.policies.iter().rev() {
        if let Err(e) = c.iam.delete_policy().policy_arn(arn).send().await {
            if error_code(&e) != Some("NoSuchEntity") {
                problems.push(format!("DeletePolicy {arn}: {}", error_text(&e)));
            }
        }
    }
    // The leak check: ask again.
    let mut left = Vec::new();
    for s in &made.secrets {
        if let Ok(d) = c.secretsmanager.describe_secret().secret_id(s).send().await {
            if d.deleted_date().is_none() {
                left.push(format!("AWS secret {s}"));
            }
        }
    }
    for (role, _, _) in &made.roles {
        if c.iam.get_role().role_name(role).send().await.is_ok() {
            left.push(format!("AWS IAM role {role}"));
        }
    }
    for arn in &made.policies {
        if c.iam.get_policy().policy_arn(arn).send().await.is_ok() {
            left.push(format!("AWS IAM policy {arn}"));
        }
    }
    (problems, left)
}

/// A document normalized for comparison: `Statement` is a list, and in each statement the
/// string-or-list fields (Action, NotAction, Resource, NotResource, principal values, condition
/// values) are lists.
pub fn normalize(doc: &Value) -> Value {
    let mut d = doc.clone();
    if let Some(m) = d.as_object_mut() {
        if let Some(s) = m.get_mut("Statement") {
            if !s.is_array() {
                *s = Value::Array(vec![s.take()]);
            }
            if let Some(list) = s.as_array_mut() {
                for st in list.iter_mut() {
                    *st = normalize_statement(st);
                }
            }
        }
    }
    d
}

/// One statement normalized as in [`normalize`].
pub fn normalize_statement(st: &Value) -> Value {
    let mut st = st.clone();
    let Some(m) = st.as_object_mut() else { return st };
    for k in ["Action", "NotAction", "Resource", "NotResource"] {
        if let Some(v) = m.get_mut(k) {
            listify(v);
        }
    }
    for k in ["Principal", "NotPrincipal"] {
        if let Some(Value::Object(p)) = m.get_mut(k) {
            p.values_mut().for_each(listify);
        }
    }
    if let Some(Value::Object(ops)) = m.get_mut("Condition") {
        for keys in ops.values_mut() {
            if let Value::Object(keys) = keys {
                keys.values_mut().for_each(|v| {
                    listify(v);
                    if let Value::Array(items) = v {
                        for i in items.iter_mut() {
                            // IAM compares condition values as strings.
                            if !i.is_string() {
                                *i = Value::String(i.to_string());
                            }
                        }
                    }
                });
            }
        }
    }
    st
}

fn listify(v: &mut Value) {
    if !v.is_array() {
        *v = Value::Array(vec![v.take()]);
    }
}

/// The customer managed policy named `name` (or the policy at an ARN) and its default
/// version's document.
pub async fn policy_state(c: &Clients, name_or_arn: &str) -> Result<Option<(String, Value)>, Failure> {
    let arn = if name_or_arn.starts_with("arn:") {
        name_or_arn.to_string()
    } else {
        let mut found = None;
        let mut pages =
            c.iam.list_policies().scope(sim::aws::iam_types::PolicyScopeType::Local).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fail(format!("ListPolicies: {}", error_text(&e))))?;
            if let Some(p) = page.policies().iter().find(|p| p.policy_name() == Some(name_or_arn)) {
                found = p.arn().map(str::to_string);
                break;
            }
        }
        match found {
            Some(a) => a,
            None => return Ok(None),
        }
    };
    let doc = sim::aws::roles::managed_document(c, &arn).await.map_err(fail)?;
    Ok(doc.map(|d| (arn, d)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_normalize() {
        let d = normalize(
            &json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}),
        );
        assert_eq!(
            d,
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}]})
        );
        let st = normalize_statement(&json!({
            "Principal": {"Federated": "arn:x"},
            "Condition": {"StringEquals": {"k": "v"}, "Bool": {"aws:SecureTransport": true}}
        }));
        assert_eq!(st["Principal"]["Federated"], json!(["arn:x"]));
        assert_eq!(st["Condition"]["StringEquals"]["k"], json!(["v"]));
        assert_eq!(st["Condition"]["Bool"]["aws:SecureTransport"], json!(["true"]));
    }
}
