//! `aws`: AWS state in the scenario's account. A role (exists, trust statements, attached and
//! inline policies, whether its trust lets a service account assume it through the cluster's
//! OIDC issuer, whether its identity policies allow or deny requests), a customer managed
//! policy's statements, a secret's value, an RDS instance's status.
//!
//! Documents compare as JSON (normalized: string-or-list fields are lists), not as text. IAM
//! decisions are made by `sim::iam`, as AWS makes them, because emulators do not. A failure
//! shows the AWS state found; secret values are never shown.

use serde_json::{json, Value};
use sim::aws::roles::{check_web_identity, load_role, oidc_providers, RoleInfo};
use sim::aws::{error_code, error_text, Clients};

use crate::run::aws::{clients, normalize, normalize_statement, policy_state};
use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::run::matcher::{self, yaml};
use crate::scenario::aws::{parse_request, service_account};
use crate::scenario::{AwsExpect, DbInstanceExpect, PolicyExpect, RoleExpect, SecretExpect};

pub async fn check(cx: &Cx, e: &AwsExpect) -> Result<(), Failure> {
    let c = clients(cx)?;
    if let Some(r) = &e.role {
        return role(cx, c, r).await;
    }
    if let Some(p) = &e.policy {
        return policy(cx, c, p).await;
    }
    if let Some(s) = &e.secret {
        return secret(cx, c, s).await;
    }
    if let Some(d) = &e.db_instance {
        return db_instance(cx, c, d).await;
    }
    Err(fail("empty aws expectation"))
}

fn found(what: &str, state: &Value) -> Failure {
    Failure { message: what.to_string(), detail: Some(format!("found in AWS:\n{}", yaml(state))), diff: None }
}

/// Each expected statement must be contained in one statement of `doc`.
fn statements_in(expected: &[Value], doc: &Value, what: &str) -> Result<(), Failure> {
    let actual = normalize(doc);
    let list = actual.get("Statement").cloned().unwrap_or(Value::Array(Vec::new()));
    for (i, e) in expected.iter().enumerate() {
        let want = normalize_statement(e);
        let ok = list.as_array().is_some_and(|l| l.iter().any(|st| matcher::matches(&want, st).is_ok()));
        if !ok {
            return Err(Failure {
                message: format!("{what} has no statement containing the expected statement [{i}]"),
                detail: Some(format!("found in AWS:\n{}", yaml(&actual))),
                diff: Some(matcher::diff(&json!({"Statement": [want]}), Some(&actual))),
            });
        }
    }
    Ok(())
}

fn role_json(r: &RoleInfo) -> Value {
    json!({
        "arn": r.arn,
        "trust": normalize(&r.trust),
        "attachedPolicies": r.attached.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>(),
        "inlinePolicies": r.inline.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
    })
}

async fn role(cx: &Cx, c: &Clients, r: &RoleExpect) -> Result<(), Failure> {
    let name = cx.subst(&r.name)?;
    let info = load_role(c, &name).await.map_err(fail)?;
    let want = r.exists.unwrap_or(true);
    let info = match (info, want) {
        (None, false) => return Ok(()),
        (Some(i), false) => return Err(found(&format!("IAM role {name} exists; expected none"), &role_json(&i))),
        (None, true) => return Err(fail(format!("IAM role {name} does not exist in account {}", account(c)))),
        (Some(i), true) => i,
    };
    let state = role_json(&info);
    let stmts: Vec<Value> = r.trust_statements.iter().map(|s| cx.subst_value(s)).collect::<Result<_, _>>()?;
    statements_in(&stmts, &info.trust, &format!("the trust policy of IAM role {name}"))?;
    for p in &r.policies {
        let p = cx.subst(p)?;
        let hit = info.attached.iter().any(|(arn, _)| *arn == p || arn.rsplit('/').next() == Some(p.as_str()));
        if !hit {
            return Err(found(&format!("IAM role {name} has no attached policy {p}"), &state));
        }
    }
    for p in &r.inline_policies {
        if !info.inline.iter().any(|(n, _)| n == p) {
            return Err(found(&format!("IAM role {name} has no inline policy {p}"), &state));
        }
    }
    if let Some(t) = &r.trusts {
        let t = cx.subst(t)?;
        let (ns, sa) = service_account(&t).ok_or_else(|| fail(format!("trusts: {t:?} is not a service account")))?;
        let issuer = cx.kube.oidc_issuer().await.map_err(|e| fail(format!("trusts: {e}")))?;
        let registered = oidc_providers(c).await.map_err(fail)?;
        let subject = format!("system:serviceaccount:{ns}:{sa}");
        if let Err(why) = check_web_identity(&info, &issuer, &subject, "sts.amazonaws.com", &registered) {
            return Err(found(&format!("{subject} cannot assume IAM role {name}: {why}"), &state));
        }
    }
    for (req, allow) in r.may.iter().map(|q| (q, true)).chain(r.may_not.iter().map(|q| (q, false))) {
        let req = cx.subst(req)?;
        let (action, resource) = parse_request(&req).map_err(fail)?;
        let arn = resource_arn(c, resource).await?;
        match (info.decide(action, &arn), allow) {
            (Ok(_), true) | (Err(_), false) => {}
            (Err(why), true) => return Err(found(&why, &state)),
            (Ok(how), false) => {
                return Err(found(&format!("role {name} may {action} on {arn} ({how}); expected a denial"), &state))
            }
        }
    }
    Ok(())
}

fn account(c: &Clients) -> &str {
    c.target.account().unwrap_or("(the configured account)")
}

/// An ARN as written, or the ARN of the secret with that name in the account.
async fn resource_arn(c: &Clients, resource: &str) -> Result<String, Failure> {
    if resource.starts_with("arn:") || resource == "*" {
        return Ok(resource.to_string());
    }
    match c.secretsmanager.describe_secret().secret_id(resource).send().await {
        Ok(d) => Ok(d.arn().unwrap_or(resource).to_string()),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {
            Err(fail(format!("{resource:?} is not an ARN and no secret of that name exists in account {}", account(c))))
        }
        Err(e) => Err(fail(format!("DescribeSecret {resource}: {}", error_text(&e)))),
    }
}

async fn policy(cx: &Cx, c: &Clients, p: &PolicyExpect) -> Result<(), Failure> {
    let name = cx.subst(&p.name)?;
    let state = policy_state(c, &name).await?;
    match (state, p.exists.unwrap_or(true)) {
        (None, false) => Ok(()),
        (Some((arn, doc)), false) => {
            Err(found(&format!("IAM policy {name} exists; expected none"), &json!({"arn": arn, "document": doc})))
        }
        (None, true) => Err(fail(format!("IAM policy {name} does not exist in account {}", account(c)))),
        (Some((_, doc)), true) => {
            let stmts: Vec<Value> = p.statements.iter().map(|s| cx.subst_value(s)).collect::<Result<_, _>>()?;
            statements_in(&stmts, &doc, &format!("IAM policy {name}"))
        }
    }
}

async fn secret(cx: &Cx, c: &Clients, s: &SecretExpect) -> Result<(), Failure> {
    let name = cx.subst(&s.name)?;
    let got = match c.secretsmanager.get_secret_value().secret_id(&name).send().await {
        Ok(v) => Some(v),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(fail(format!("GetSecretValue {name}: {}", error_text(&e)))),
    };
    let got = match (got, s.exists.unwrap_or(true)) {
        (None, false) => return Ok(()),
        (Some(_), false) => return Err(fail(format!("secret {name} exists; expected none"))),
        (None, true) => return Err(fail(format!("secret {name} does not exist in account {}", account(c)))),
        (Some(v), true) => v,
    };
    let value = got.secret_string().unwrap_or_default();
    // Never print a value: say how it differs in shape only.
    let shape = format!("(the value found has {} characters; values are not shown)", value.chars().count());
    if let Some(want) = &s.value {
        if cx.subst(want)? != value {
            return Err(fail(format!("secret {name} does not have the expected value {shape}")));
        }
    }
    if let Some(pattern) = &s.matches {
        let re = regex::Regex::new(&cx.subst(pattern)?).map_err(|e| fail(format!("invalid pattern: {e}")))?;
        if !re.is_match(value) {
            return Err(fail(format!("secret {name} does not match the expected pattern {shape}")));
        }
    }
    if let Some(want) = &s.json {
        let want = cx.subst_value(want)?;
        let actual: Value =
            serde_json::from_str(value).map_err(|_| fail(format!("secret {name} is not JSON {shape}")))?;
        if let Err(m) = matcher::matches(&want, &actual) {
            return Err(fail(format!("secret {name}: the JSON value differs at {} (values are not shown)", m.path)));
        }
    }
    Ok(())
}

async fn db_instance(cx: &Cx, c: &Clients, d: &DbInstanceExpect) -> Result<(), Failure> {
    let id = cx.subst(&d.identifier)?;
    let got = match c.rds.describe_db_instances().db_instance_identifier(&id).send().await {
        Ok(o) => o.db_instances().first().cloned(),
        Err(e) if error_code(&e).is_some_and(|c| c.starts_with("DBInstanceNotFound")) => None,
        Err(e) => return Err(fail(format!("DescribeDBInstances {id}: {}", error_text(&e)))),
    };
    let state = |i: &sim::aws::rds_types::DbInstance| {
        json!({
            "identifier": i.db_instance_identifier(), "status": i.db_instance_status(),
            "engine": i.engine(), "class": i.db_instance_class(),
        })
    };
    match (got, d.exists.unwrap_or(true)) {
        (None, false) => Ok(()),
        (Some(i), false) => Err(found(&format!("RDS instance {id} exists; expected none"), &state(&i))),
        (None, true) => Err(fail(format!("RDS instance {id} does not exist in account {}", account(c)))),
        (Some(i), true) => {
            if let Some(want) = &d.status {
                if i.db_instance_status() != Some(want.as_str()) {
                    return Err(found(&format!("RDS instance {id} is not {want}"), &state(&i)));
                }
            }
            if let Some(want) = &d.engine {
                if i.engine() != Some(want.as_str()) {
                    return Err(found(&format!("RDS instance {id} does not run {want}"), &state(&i)));
                }
            }
            Ok(())
        }
    }
}
