//! What the AWS parts of a scenario mean before anything runs: policy documents written as maps
//! or JSON text, `<action> on <resource>` requests, and the checks `validate` makes on
//! `spec.aws` and `aws` expectations (one kind per expectation, valid documents and patterns,
//! known policy names, no duplicates).
//!
//! Pure functions over the model: no AWS calls here (those are in `run::aws`).

use std::collections::BTreeSet;

use serde_json::Value;

use super::model::{AwsExpect, AwsState};

/// A policy document as text for AWS: a map is serialized, a string must be JSON text.
pub fn document_text(v: &Value) -> Result<String, String> {
    match v {
        Value::Object(_) => Ok(v.to_string()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(_)) => Ok(s.clone()),
            Ok(_) => Err("the JSON text is not an object".into()),
            Err(e) => Err(format!("not valid JSON: {e}")),
        },
        _ => Err("expected a map or JSON text".into()),
    }
}

/// `secretsmanager:GetSecretValue on my-secret` → (action, resource).
pub fn parse_request(s: &str) -> Result<(&str, &str), String> {
    let (action, resource) = s
        .split_once(" on ")
        .ok_or_else(|| format!("{s:?}: write `<service>:<Action> on <resource ARN or secret name>`"))?;
    let (action, resource) = (action.trim(), resource.trim());
    let valid_action = action.split_once(':').is_some_and(|(svc, a)| !svc.is_empty() && !a.is_empty());
    if !valid_action || resource.is_empty() {
        return Err(format!("{s:?}: write `<service>:<Action> on <resource ARN or secret name>`"));
    }
    Ok((action, resource))
}

/// The kinds of an AWS expectation that are set.
pub fn kinds(e: &AwsExpect) -> Vec<&'static str> {
    [
        ("role", e.role.is_some()),
        ("policy", e.policy.is_some()),
        ("secret", e.secret.is_some()),
        ("dbInstance", e.db_instance.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| k)
    .collect()
}

/// Problems with `spec.aws`: (field path, message).
pub fn check_state(state: &AwsState) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, s) in state.secrets.iter().enumerate() {
        let at = format!("spec.aws.secrets[{i}]");
        if !seen.insert(("secret", s.name.clone())) {
            errs.push((at.clone(), format!("secret {:?} is listed twice", s.name)));
        }
        if s.value.is_some() == s.json.is_some() {
            errs.push((at, "give exactly one of value and json".into()));
        }
    }
    for (i, p) in state.policies.iter().enumerate() {
        let at = format!("spec.aws.policies[{i}]");
        if !seen.insert(("policy", p.name.clone())) {
            errs.push((at.clone(), format!("policy {:?} is listed twice", p.name)));
        }
        if let Err(e) = document_text(&p.document) {
            errs.push((format!("{at}.document"), e));
        }
    }
    for (i, r) in state.roles.iter().enumerate() {
        let at = format!("spec.aws.roles[{i}]");
        if !seen.insert(("role", r.name.clone())) {
            errs.push((at.clone(), format!("role {:?} is listed twice", r.name)));
        }
        if let Err(e) = document_text(&r.trust) {
            errs.push((format!("{at}.trust"), e));
        }
        for (name, doc) in &r.inline_policies {
            if let Err(e) = document_text(doc) {
                errs.push((format!("{at}.inlinePolicies.{name}"), e));
            }
        }
        for (j, p) in r.policies.iter().enumerate() {
            if !p.starts_with("arn:") && !state.policies.iter().any(|q| &q.name == p) {
                errs.push((
                    format!("{at}.policies[{j}]"),
                    format!("{p:?} is neither an ARN nor the name of one of spec.aws.policies"),
                ));
            }
        }
    }
    errs
}

/// Problems with an `aws` expectation at `at`: (field path, message).
pub fn check_expect(e: &AwsExpect, at: &str) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    match kinds(e).as_slice() {
        [_] => {}
        [] => errs.push((at.to_string(), "empty: use one of role, policy, secret, dbInstance".into())),
        many => errs.push((at.to_string(), format!("one AWS expectation per entry, found {}", many.join(" and ")))),
    }
    if let Some(r) = &e.role {
        for (field, list) in [("may", &r.may), ("mayNot", &r.may_not)] {
            for (i, req) in list.iter().enumerate() {
                if let Err(m) = parse_request(req) {
                    errs.push((format!("{at}.role.{field}[{i}]"), m));
                }
            }
        }
        if let Some(t) = &r.trusts {
            if service_account(t).is_none() {
                errs.push((
                    format!("{at}.role.trusts"),
                    format!("{t:?}: write `<namespace>/<name>` or `system:serviceaccount:<namespace>:<name>`"),
                ));
            }
        }
    }
    if let Some(s) = &e.secret {
        if let Some(p) = &s.matches {
            if let Err(err) = regex::Regex::new(p) {
                errs.push((format!("{at}.secret.matches"), format!("invalid regular expression: {err}")));
            }
        }
    }
    errs
}

/// A service account written as `ns/name` or `system:serviceaccount:ns:name` → (ns, name).
pub fn service_account(s: &str) -> Option<(&str, &str)> {
    let (ns, name) = match s.strip_prefix("system:serviceaccount:") {
        Some(rest) => rest.split_once(':')?,
        None => s.split_once('/')?,
    };
    (!ns.is_empty() && !name.is_empty() && !name.contains([':', '/'])).then_some((ns, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::{AwsPolicy, AwsRole, AwsSecret, RoleExpect};
    use serde_json::json;

    #[test]
    fn documents_are_maps_or_json_text() {
        assert_eq!(document_text(&json!({"Version": "2012-10-17"})).unwrap(), r#"{"Version":"2012-10-17"}"#);
        assert_eq!(document_text(&json!("{\"a\": 1}")).unwrap(), "{\"a\": 1}");
        assert!(document_text(&json!("{oops")).unwrap_err().starts_with("not valid JSON"));
        assert_eq!(document_text(&json!([1])).unwrap_err(), "expected a map or JSON text");
    }

    #[test]
    fn requests_and_service_accounts_parse() {
        assert_eq!(
            parse_request("secretsmanager:GetSecretValue on db-pass").unwrap(),
            ("secretsmanager:GetSecretValue", "db-pass")
        );
        assert!(parse_request("GetSecretValue on x").is_err());
        assert!(parse_request("s3:GetObject").is_err());
        assert_eq!(service_account("team-a/app"), Some(("team-a", "app")));
        assert_eq!(service_account("system:serviceaccount:team-a:app"), Some(("team-a", "app")));
        assert_eq!(service_account("app"), None);
    }

    #[test]
    fn state_errors_name_the_field() {
        let state = AwsState {
            secrets: vec![
                AwsSecret { name: "a".into(), ..Default::default() },
                AwsSecret { name: "a".into(), value: Some("x".into()), ..Default::default() },
            ],
            policies: vec![AwsPolicy { name: "p".into(), document: json!("nope"), path: None }],
            roles: vec![AwsRole {
                name: "r".into(),
                trust: json!({}),
                policies: vec!["p".into(), "q".into()],
                ..Default::default()
            }],
        };
        let errs = check_state(&state);
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.aws.secrets[0]",
                "spec.aws.secrets[1]",
                "spec.aws.policies[0].document",
                "spec.aws.roles[0].policies[1]"
            ]
        );
        assert_eq!(errs[1].1, "secret \"a\" is listed twice");
    }

    #[test]
    fn expectation_errors_name_the_field() {
        let e = AwsExpect {
            role: Some(RoleExpect {
                name: "r".into(),
                may: vec!["bad".into()],
                trusts: Some("x".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let errs = check_expect(&e, "spec.steps[0].expect[0].aws");
        assert_eq!(errs[0].0, "spec.steps[0].expect[0].aws.role.may[0]");
        assert_eq!(errs[1].0, "spec.steps[0].expect[0].aws.role.trusts");
        assert_eq!(check_expect(&AwsExpect::default(), "x")[0].1, "empty: use one of role, policy, secret, dbInstance");
    }
}
