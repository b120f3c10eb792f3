//! Tests of IAM policy parsing and evaluation: the examples of the IAM documentation (policy
//! evaluation logic, condition operators, multivalued context keys, policy variables) with the
//! outcomes the documentation states, IRSA trust policies, malformed documents and a property
//! test that parsing never panics. Must not depend on timing or the network.

use super::conditions::Cidr;
use super::matching::{ArnPattern, Glob};
use super::*;

fn identity(json: &str) -> Policy {
    match Policy::parse_identity(json) {
        Ok(p) => p,
        Err(e) => panic!("policy should parse: {e}\n{json}"),
    }
}

fn trust(json: &str) -> Policy {
    match Policy::parse_trust(json) {
        Ok(p) => p,
        Err(e) => panic!("trust policy should parse: {e}\n{json}"),
    }
}

fn decide<'a>(p: &'a Policy, action: &str, resource: &str, ctx: &Context) -> Decision<'a> {
    p.evaluate("test-policy", &Request { action, resource, principal: None, context: ctx })
}

fn allowed(p: &Policy, action: &str, resource: &str, ctx: &Context) -> bool {
    decide(p, action, resource, ctx).is_allowed()
}

fn explicitly_denied(p: &Policy, action: &str, resource: &str, ctx: &Context) -> bool {
    matches!(decide(p, action, resource, ctx), Decision::ExplicitDeny { .. })
}

fn parse_error(kind: PolicyKind, json: &str) -> PolicyError {
    match Policy::parse_as(json, kind) {
        Ok(_) => panic!("policy should be refused: {json}"),
        Err(e) => e,
    }
}

const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;

// ---------------------------------------------------------------------------------------------
// Policy evaluation logic: "The difference between explicit and implicit denies".

const GET_LIST_DENY_REPORTS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
    {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"}
  ]
}"#;

#[test]
fn doc_explicit_and_implicit_denies() {
    let p = identity(GET_LIST_DENY_REPORTS);
    let ctx = Context::new();
    assert_eq!(
        decide(&p, "iam:GetUser", "*", &ctx),
        Decision::Allowed { policy: "test-policy", sid: Some("AllowGetList"), statement: 0 }
    );
    assert!(allowed(&p, "iam:ListRoles", "*", &ctx));
    assert_eq!(decide(&p, "iam:CreatePolicy", "*", &ctx), Decision::ImplicitDeny);
    assert_eq!(
        decide(&p, "iam:GetOrganizationsAccessReport", "*", &ctx),
        Decision::ExplicitDeny { policy: "test-policy", sid: Some("DenyReports"), statement: 1 }
    );
}

#[test]
fn doc_deny_wins_even_when_another_policy_allows() {
    // "If someone adds another policy to this principal to grant them access to IAM reports,
    // such as iam:GenerateCredentialReport, report-related actions are still denied."
    let mut set = PolicySet::new();
    set.add("ReadOnlyNoReports", identity(GET_LIST_DENY_REPORTS));
    set.add(
        "arn:aws:iam::111122223333:policy/Reports",
        identity(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GenerateCredentialReport","Resource":"*"}]}"#,
        ),
    );
    let ctx = Context::new();
    let req = Request { action: "iam:GenerateCredentialReport", resource: "*", principal: None, context: &ctx };
    let d = set.evaluate(&req);
    assert_eq!(d, Decision::ExplicitDeny { policy: "ReadOnlyNoReports", sid: Some("DenyReports"), statement: 1 });
    assert_eq!(d.to_string(), "denied by statement \"DenyReports\" of policy ReadOnlyNoReports");
    // Deny in the second policy wins over allow in the first, whatever the order.
    let mut reversed = PolicySet::new();
    reversed.add("allow-all", identity(ALLOW_ALL));
    reversed.add("ReadOnlyNoReports", identity(GET_LIST_DENY_REPORTS));
    assert!(matches!(reversed.evaluate(&req), Decision::ExplicitDeny { policy: "ReadOnlyNoReports", .. }));
    // Allowed by the second policy of a set: the label names it.
    let req = Request { action: "s3:GetObject", ..req };
    assert_eq!(reversed.evaluate(&req).to_string(), "allowed by statement #0 of policy allow-all");
}

#[test]
fn empty_set_and_unmatched_requests_are_implicit_denies() {
    let set = PolicySet::new();
    assert!(set.is_empty());
    let ctx = Context::new();
    let req = Request { action: "s3:GetObject", resource: "arn:aws:s3:::b/k", principal: None, context: &ctx };
    let d = set.evaluate(&req);
    assert_eq!(d, Decision::ImplicitDeny);
    assert_eq!(
        d.access_denied_message("arn:aws:sts::1:assumed-role/r/s", req.action, req.resource),
        Some("User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no identity-based policy allows the s3:GetObject action".to_owned())
    );
    let p = identity(GET_LIST_DENY_REPORTS);
    let denied = decide(&p, "iam:GetCredentialReport", "*", &ctx);
    let msg = denied.access_denied_message("arn:aws:iam::1:user/u", "iam:GetCredentialReport", "*").unwrap_or_default();
    assert!(msg.contains("with an explicit deny in an identity-based policy"), "{msg}");
    assert!(msg.contains("DenyReports"), "{msg}");
    assert_eq!(decide(&p, "iam:GetUser", "*", &ctx).access_denied_message("u", "a", "r"), None);
}

// ---------------------------------------------------------------------------------------------
// Action and resource matching.

#[test]
fn actions_are_case_insensitive_with_wildcards() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["S3:get*","ec2:Describe?nstances","secretsmanager:GetSecretValue"],"Resource":"*"}}"#,
    );
    let ctx = Context::new();
    assert!(allowed(&p, "s3:GetObject", "*", &ctx));
    assert!(allowed(&p, "s3:getobjectacl", "*", &ctx));
    assert!(allowed(&p, "ec2:DescribeInstances", "*", &ctx));
    assert!(!allowed(&p, "ec2:DescribeIInstances", "*", &ctx));
    assert!(allowed(&p, "SecretsManager:getsecretvalue", "*", &ctx));
    assert!(!allowed(&p, "s3:PutObject", "*", &ctx));
    assert!(!allowed(&p, "s3x:GetObject", "*", &ctx));
}

#[test]
fn resources_are_case_sensitive_arn_globs() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:111122223333:secret:prod/db-??????"}}"#,
    );
    let ctx = Context::new();
    let a = "secretsmanager:GetSecretValue";
    assert!(allowed(&p, a, "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf", &ctx));
    assert!(!allowed(&p, a, "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdE", &ctx));
    assert!(!allowed(&p, a, "arn:aws:secretsmanager:us-east-1:111122223333:secret:PROD/db-AbCdEf", &ctx));
    assert!(!allowed(&p, a, "arn:aws:secretsmanager:us-east-1:444455556666:secret:prod/db-AbCdEf", &ctx));
    // The region wildcard does not swallow the account part.
    assert!(!allowed(&p, a, "arn:aws:secretsmanager:us-east-1:x:111122223333:secret:prod/db-AbCdEf", &ctx));
}

#[test]
fn doc_not_action_allows_everything_else() {
    // "Allow" with NotAction: everything except IAM.
    let p = identity(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#);
    let ctx = Context::new();
    assert!(allowed(&p, "s3:GetObject", "*", &ctx));
    assert!(!allowed(&p, "iam:CreateUser", "*", &ctx));
    assert!(!allowed(&p, "IAM:CreateUser", "*", &ctx));
}

#[test]
fn doc_deny_with_not_resource() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::amzn-s3-demo-bucket","arn:aws:s3:::amzn-s3-demo-bucket/*"]}]}"#,
    );
    let ctx = Context::new();
    assert!(allowed(&p, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/a.txt", &ctx));
    assert!(allowed(&p, "s3:ListBucket", "arn:aws:s3:::amzn-s3-demo-bucket", &ctx));
    assert!(explicitly_denied(&p, "s3:GetObject", "arn:aws:s3:::other-bucket/a.txt", &ctx));
}

#[test]
fn glob_matcher_edge_cases() {
    assert!(Glob::new("*", true).matches("", false));
    assert!(Glob::new("a**b", true).matches("ab", false));
    assert!(Glob::new("a*b*c", true).matches("aXbYbZc", false));
    assert!(!Glob::new("a*b*c", true).matches("aXbYbZ", false));
    assert!(Glob::new("?", true).matches("é", false));
    assert!(!Glob::new("??", true).matches("é", false));
    assert!(Glob::new("*é*", true).matches("caféx", false));
    assert!(Glob::new("a*", false).matches("a*", false));
    assert!(!Glob::new("a*", false).matches("ab", false));
    assert!(Glob::new("AbC", true).matches("aBc", true));
    assert!(!Glob::new("AbC", true).matches("aBc", false));
    assert!(Glob::new("", true).matches("", false));
    assert!(!Glob::new("", true).matches("x", false));
    let ctx = Context::new();
    assert!(ArnPattern::new("arn:aws:iam::*", true).matches("arn:aws:iam::1:role/x", &ctx));
    assert!(ArnPattern::new("arn:aws:s3:::b/a:b*", true).matches("arn:aws:s3:::b/a:bc", &ctx));
    assert!(!ArnPattern::new("arn:aws:s3:::b/*", true).matches("arn:aws:s3:::c/x", &ctx));
}

// ---------------------------------------------------------------------------------------------
// Condition operators (IAM JSON policy elements: condition operators).

const ACCESS_KEYS_BY_TAG: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*AccessKey*","Resource":"arn:aws:iam::111122223333:user/*","Condition":{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-admin"}}}}"#;

#[test]
fn doc_string_equals_principal_tag() {
    let p = identity(ACCESS_KEYS_BY_TAG);
    let user = "arn:aws:iam::111122223333:user/alice";
    let tagged = Context::new().with("aws:PrincipalTag/job-category", "iamuser-admin");
    assert!(allowed(&p, "iam:CreateAccessKey", user, &tagged));
    // Context key names are case-insensitive, values are not (for StringEquals).
    let tagged_upper = Context::new().with("AWS:PRINCIPALTAG/JOB-CATEGORY", "iamuser-admin");
    assert!(allowed(&p, "iam:ListAccessKeys", user, &tagged_upper));
    let other = Context::new().with("aws:PrincipalTag/job-category", "IAMUSER-ADMIN");
    assert!(!allowed(&p, "iam:CreateAccessKey", user, &other));
    // "If the key ... is not present in the request context, the values do not match."
    assert_eq!(decide(&p, "iam:CreateAccessKey", user, &Context::new()), Decision::ImplicitDeny);
}

fn cond_policy(effect: &str, condition: &str) -> Policy {
    identity(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"{effect}","Action":"*","Resource":"*","Condition":{condition}}}}}"#
    ))
}

fn cond_holds(condition: &str, ctx: &Context) -> bool {
    allowed(&cond_policy("Allow", condition), "s3:GetObject", "*", ctx)
}

#[test]
fn doc_missing_key_negated_operators_are_true() {
    // "If the policy condition requires that the key is not matched, such as StringNotLike or
    // ArnNotLike, and the right key is not present, the condition is true."
    let empty = Context::new();
    assert!(cond_holds(r#"{"StringNotLike":{"aws:PrincipalTag/team":"a*"}}"#, &empty));
    assert!(cond_holds(r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:1:t"}}"#, &empty));
    assert!(cond_holds(r#"{"StringNotEquals":{"aws:PrincipalTag/team":"a"}}"#, &empty));
    assert!(cond_holds(r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, &empty));
    assert!(!cond_holds(r#"{"StringLike":{"aws:PrincipalTag/team":"a*"}}"#, &empty));
    assert!(!cond_holds(r#"{"NumericLessThan":{"s3:max-keys":"10"}}"#, &empty));
    assert!(!cond_holds(r#"{"Bool":{"aws:SecureTransport":"true"}}"#, &empty));
    assert!(!cond_holds(r#"{"ArnLike":{"aws:SourceArn":"*"}}"#, &empty));
}

#[test]
fn string_operators() {
    let ctx = Context::new().with("aws:username", "Alice");
    assert!(cond_holds(r#"{"StringEquals":{"aws:username":["bob","Alice"]}}"#, &ctx));
    assert!(!cond_holds(r#"{"StringEquals":{"aws:username":"alice"}}"#, &ctx));
    assert!(cond_holds(r#"{"StringEqualsIgnoreCase":{"aws:username":"aLiCe"}}"#, &ctx));
    assert!(!cond_holds(r#"{"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}}"#, &ctx));
    assert!(cond_holds(r#"{"StringNotEquals":{"aws:username":["bob","carol"]}}"#, &ctx));
    // Negated operators are NOR over the values.
    assert!(!cond_holds(r#"{"StringNotEquals":{"aws:username":["bob","Alice"]}}"#, &ctx));
    assert!(cond_holds(r#"{"StringLike":{"aws:username":"Al?c*"}}"#, &ctx));
    assert!(!cond_holds(r#"{"StringLike":{"aws:username":"al*"}}"#, &ctx));
    assert!(cond_holds(r#"{"StringNotLike":{"aws:username":["b*","c*"]}}"#, &ctx));
    assert!(!cond_holds(r#"{"StringNotLike":{"aws:username":["b*","A*"]}}"#, &ctx));
    // StringEquals has no wildcards.
    assert!(!cond_holds(r#"{"StringEquals":{"aws:username":"*"}}"#, &ctx));
}

#[test]
fn keys_are_anded_values_ored_operators_anded() {
    let ctx = Context::new().with("aws:PrincipalTag/team", "payments").with("aws:RequestedRegion", "eu-west-1");
    let both = r#"{"StringEquals":{"aws:PrincipalTag/team":["search","payments"],"aws:RequestedRegion":"eu-west-1"}}"#;
    assert!(cond_holds(both, &ctx));
    let one_wrong =
        r#"{"StringEquals":{"aws:PrincipalTag/team":["search","payments"],"aws:RequestedRegion":"us-east-1"}}"#;
    assert!(!cond_holds(one_wrong, &ctx));
    let two_ops =
        r#"{"StringEquals":{"aws:PrincipalTag/team":"payments"},"StringLike":{"aws:RequestedRegion":"us-*"}}"#;
    assert!(!cond_holds(two_ops, &ctx));
}

#[test]
fn doc_numeric_max_keys() {
    // "NumericLessThanEquals": {"s3:max-keys": "10"} on s3:ListBucket.
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::amzn-s3-demo-bucket","Condition":{"NumericLessThanEquals":{"s3:max-keys":"10"}}}}"#,
    );
    let b = "arn:aws:s3:::amzn-s3-demo-bucket";
    assert!(allowed(&p, "s3:ListBucket", b, &Context::new().with("s3:max-keys", 10_i64)));
    assert!(allowed(&p, "s3:ListBucket", b, &Context::new().with("s3:max-keys", "3")));
    assert!(!allowed(&p, "s3:ListBucket", b, &Context::new().with("s3:max-keys", 11_i64)));
    assert!(!allowed(&p, "s3:ListBucket", b, &Context::new().with("s3:max-keys", "many")));
    assert!(!allowed(&p, "s3:ListBucket", b, &Context::new()));
}

#[test]
fn numeric_operators() {
    let ctx = Context::new().with("k:n", 5.5);
    assert!(cond_holds(r#"{"NumericEquals":{"k:n":5.5}}"#, &ctx));
    assert!(cond_holds(r#"{"NumericNotEquals":{"k:n":["1","2"]}}"#, &ctx));
    assert!(cond_holds(r#"{"NumericLessThan":{"k:n":"6"}}"#, &ctx));
    assert!(!cond_holds(r#"{"NumericLessThan":{"k:n":"5.5"}}"#, &ctx));
    assert!(cond_holds(r#"{"NumericGreaterThan":{"k:n":"5"}}"#, &ctx));
    assert!(cond_holds(r#"{"NumericGreaterThanEquals":{"k:n":"5.5"}}"#, &ctx));
    assert!(!cond_holds(r#"{"NumericGreaterThanEquals":{"k:n":"not-a-number"}}"#, &ctx));
}

#[test]
fn doc_date_token_issue_time() {
    // "DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*AccessKey*","Resource":"arn:aws:iam::111122223333:user/*","Condition":{"DateGreaterThan":{"aws:TokenIssueTime":"2020-01-01T00:00:01Z"}}}}"#,
    );
    let user = "arn:aws:iam::111122223333:user/bob";
    let later = Context::new().with("aws:TokenIssueTime", "2024-05-01T10:00:00Z");
    assert!(allowed(&p, "iam:CreateAccessKey", user, &later));
    let earlier = Context::new().with("aws:TokenIssueTime", "2019-12-31T23:59:59Z");
    assert!(!allowed(&p, "iam:CreateAccessKey", user, &earlier));
    // Long-term credentials carry no aws:TokenIssueTime: the condition does not match.
    assert!(!allowed(&p, "iam:CreateAccessKey", user, &Context::new()));
}

#[test]
fn date_operators_accept_iso_and_epoch() {
    let noon: jiff::Timestamp = match "2026-06-01T12:00:00Z".parse() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let ctx = Context::new().with("aws:CurrentTime", noon);
    let epoch = noon.as_second();
    assert!(cond_holds(&format!(r#"{{"DateEquals":{{"aws:CurrentTime":{epoch}}}}}"#), &ctx));
    assert!(cond_holds(r#"{"DateLessThan":{"aws:CurrentTime":"2026-12-31T23:59:59Z"}}"#, &ctx));
    assert!(cond_holds(r#"{"DateGreaterThan":{"aws:CurrentTime":"2026-06-01"}}"#, &ctx));
    assert!(cond_holds(r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2026-06-01T14:00:00+02:00"}}"#, &ctx));
    assert!(!cond_holds(r#"{"DateGreaterThan":{"aws:CurrentTime":"2026-06-01T14:00:00+02:00"}}"#, &ctx));
    assert!(cond_holds(r#"{"DateLessThanEquals":{"aws:CurrentTime":"2026-06-01T12:00:00"}}"#, &ctx));
    assert!(cond_holds(r#"{"DateNotEquals":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#, &ctx));
    assert!(!cond_holds(r#"{"DateEquals":{"aws:CurrentTime":"yesterday"}}"#, &ctx));
    // Context dates given as text or epoch seconds work too.
    let text = Context::new().with("aws:CurrentTime", "2026-06-01T12:00:00Z");
    assert!(cond_holds(&format!(r#"{{"DateEquals":{{"aws:CurrentTime":"{epoch}"}}}}"#), &text));
    let secs = Context::new().with("aws:CurrentTime", epoch);
    assert!(cond_holds(r#"{"DateEquals":{"aws:CurrentTime":"2026-06-01T12:00:00Z"}}"#, &secs));
}

#[test]
fn doc_bool_secure_transport_deny() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Sid":"DenyInsecure","Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
    );
    let r = "arn:aws:s3:::b/k";
    assert!(explicitly_denied(&p, "s3:GetObject", r, &Context::new().with("aws:SecureTransport", false)));
    assert!(explicitly_denied(&p, "s3:GetObject", r, &Context::new().with("aws:SecureTransport", "FALSE")));
    assert!(allowed(&p, "s3:GetObject", r, &Context::new().with("aws:SecureTransport", true)));
    // The key missing: Bool does not match, the deny does not apply.
    assert!(allowed(&p, "s3:GetObject", r, &Context::new()));
    // JSON booleans as policy values.
    assert!(cond_holds(
        r#"{"Bool":{"aws:MultiFactorAuthPresent":true}}"#,
        &Context::new().with("aws:MultiFactorAuthPresent", true)
    ));
}

#[test]
fn doc_source_ip_deny() {
    // "AWS: Denies access to AWS based on the source IP".
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}}]}"#,
    );
    let ip = |s: &str| Context::new().with("aws:SourceIp", s);
    assert!(allowed(&p, "s3:GetObject", "*", &ip("192.0.2.17")));
    assert!(allowed(&p, "s3:GetObject", "*", &ip("203.0.113.255")));
    assert!(explicitly_denied(&p, "s3:GetObject", "*", &ip("198.51.100.7")));
    assert!(explicitly_denied(&p, "s3:GetObject", "*", &ip("2001:db8::1")));
}

#[test]
fn ip_address_v4_v6_and_cidr_edges() {
    let v6 = Context::new().with("aws:SourceIp", "2001:DB8:1234:5678::abcd");
    assert!(cond_holds(r#"{"IpAddress":{"aws:SourceIp":"2001:DB8:1234:5678::/64"}}"#, &v6));
    assert!(!cond_holds(r#"{"IpAddress":{"aws:SourceIp":"2001:DB8:1234:5679::/64"}}"#, &v6));
    assert!(!cond_holds(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, &v6));
    let typed = Context::new().with("aws:SourceIp", std::net::IpAddr::from([10, 1, 2, 3]));
    assert!(cond_holds(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, &typed));
    assert!(cond_holds(r#"{"IpAddress":{"aws:SourceIp":"10.1.2.3"}}"#, &typed));
    assert!(!cond_holds(r#"{"IpAddress":{"aws:SourceIp":"10.1.2.4"}}"#, &typed));
    assert!(!cond_holds(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}"#, &typed));
    let any4 = Cidr::parse("0.0.0.0/0");
    assert!(any4.is_some_and(|c| c.contains(std::net::IpAddr::from([8, 8, 8, 8]))));
    let any6 = Cidr::parse("::/0");
    assert!(any6.is_some_and(|c| c.contains("fe80::1".parse().unwrap_or(std::net::IpAddr::from([0; 16])))));
    assert_eq!(Cidr::parse("10.0.0.0/x"), None);
    assert_eq!(Cidr::parse("300.0.0.0/8"), None);
}

#[test]
fn doc_arn_equals_source_arn() {
    // SQS queue policy: "ArnEquals": {"aws:SourceArn": "arn:aws:sns:REGION:123456789012:TOPIC-ID"}
    let p = Policy::parse_resource(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:123456789012:queue","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:123456789012:topic-*"}}}}"#,
    );
    let p = match p {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let ctx = Context::new().with("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:topic-orders");
    let req = Request {
        action: "sqs:SendMessage",
        resource: "arn:aws:sqs:us-east-1:123456789012:queue",
        principal: Some(RequestPrincipal::Service("sns.amazonaws.com")),
        context: &ctx,
    };
    assert!(p.evaluate("queue-policy", &req).is_allowed());
    let other = Request { principal: Some(RequestPrincipal::Service("lambda.amazonaws.com")), ..req };
    assert!(!p.evaluate("queue-policy", &other).is_allowed());
    let wrong_topic = Context::new().with("aws:SourceArn", "arn:aws:sns:us-east-1:999999999999:topic-orders");
    let req = Request { context: &wrong_topic, ..req };
    assert!(!p.evaluate("queue-policy", &req).is_allowed());
    // ArnLike/ArnNotLike also match part by part.
    let arn = Context::new().with("aws:SourceArn", "arn:aws:iam::1:role/x");
    assert!(cond_holds(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:iam::*:role/*"}}"#, &arn));
    assert!(!cond_holds(r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:iam::*:role/*"}}"#, &arn));
}

#[test]
fn binary_equals_compares_base64() {
    let ctx = Context::new().with("k:bin", "QmluYXJ5VmFsdWU=");
    assert!(cond_holds(r#"{"BinaryEquals":{"k:bin":"QmluYXJ5VmFsdWU="}}"#, &ctx));
    assert!(!cond_holds(r#"{"BinaryEquals":{"k:bin":"QmluYXJ5VmFsdWU"}}"#, &ctx));
}

#[test]
fn doc_if_exists_instance_type() {
    // "StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"THISALLOWSEC2READACCESS","Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}}}"#,
    );
    assert!(allowed(&p, "ec2:RunInstances", "*", &Context::new().with("ec2:InstanceType", "t2.micro")));
    assert!(!allowed(&p, "ec2:RunInstances", "*", &Context::new().with("ec2:InstanceType", "c5.large")));
    // Actions without the key (DescribeInstances) are allowed.
    assert!(allowed(&p, "ec2:DescribeInstances", "*", &Context::new()));
    // Without IfExists the missing key fails the condition.
    assert!(!cond_holds(r#"{"StringLike":{"ec2:InstanceType":"t2.*"}}"#, &Context::new()));
    // Negated IfExists on a present key is evaluated normally.
    let big = Context::new().with("ec2:InstanceType", "c5.large");
    assert!(cond_holds(r#"{"StringNotEqualsIfExists":{"ec2:InstanceType":"t2.micro"}}"#, &big));
    assert!(!cond_holds(r#"{"StringNotLikeIfExists":{"ec2:InstanceType":"c5.*"}}"#, &big));
}

#[test]
fn doc_null_condition() {
    // "Null": {"aws:TokenIssueTime": "true"}: only long-term credentials (no token issue time).
    let long_term = r#"{"Null":{"aws:TokenIssueTime":"true"}}"#;
    assert!(cond_holds(long_term, &Context::new()));
    assert!(!cond_holds(long_term, &Context::new().with("aws:TokenIssueTime", "2024-01-01T00:00:00Z")));
    let present = r#"{"Null":{"aws:TokenIssueTime":"false"}}"#;
    assert!(!cond_holds(present, &Context::new()));
    assert!(cond_holds(present, &Context::new().with("aws:TokenIssueTime", "2024-01-01T00:00:00Z")));
    // An empty list is absent.
    assert!(cond_holds(
        r#"{"Null":{"aws:TagKeys":"true"}}"#,
        &Context::new().with("aws:TagKeys", Vec::<String>::new())
    ));
}

// ---------------------------------------------------------------------------------------------
// Multivalued context keys (set operators).

fn tags(keys: &[&str]) -> Context {
    Context::new().with("aws:TagKeys", keys)
}

#[test]
fn doc_for_all_values_deny_with_null_guard() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"iam:*","Resource":"*"},
            {"Sid":"DenyRestrictedTags","Effect":"Deny","Action":["iam:Tag*","iam:UnTag*"],"Resource":["*"],
             "Condition":{"Null":{"aws:TagKeys":"false"},"ForAllValues:StringLike":{"aws:TagKeys":["key1*","key2*","key3*"]}}}]}"#,
    );
    let a = "iam:TagRole";
    assert!(explicitly_denied(&p, a, "*", &tags(&["key1:legal"])));
    assert!(explicitly_denied(&p, a, "*", &tags(&["key1:legal", "key2:x"])));
    assert!(!explicitly_denied(&p, a, "*", &tags(&["key1:legal", "key4:x"])));
    assert!(!explicitly_denied(&p, a, "*", &tags(&["key4"])));
    // No TagKeys: the Null guard keeps the deny from applying.
    assert!(allowed(&p, a, "*", &Context::new()));
}

#[test]
fn doc_for_all_values_string_not_like_deny() {
    // Denies requests whose tag keys do not all start with key1.
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"iam:*","Resource":"*"},
            {"Sid":"DenyRestrictedTags","Effect":"Deny","Action":["iam:Tag*","iam:UnTag*"],"Resource":["*"],
             "Condition":{"ForAllValues:StringNotLike":{"aws:TagKeys":"key1*"}}}]}"#,
    );
    let a = "iam:TagUser";
    assert!(!explicitly_denied(&p, a, "*", &tags(&["key1:legal"])));
    assert!(!explicitly_denied(&p, a, "*", &tags(&["key1:legal", "key2:x"])));
    assert!(explicitly_denied(&p, a, "*", &tags(&["key2:x"])));
    // ForAllValues on a missing key is true: the deny applies.
    assert!(explicitly_denied(&p, a, "*", &Context::new()));
}

#[test]
fn doc_for_any_value_deny_snapshot_tags() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"ec2:*","Resource":"*"},
            {"Effect":"Deny","Action":"ec2:CreateSnapshot","Resource":"*",
             "Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["environment","webserver"]}}}]}"#,
    );
    let a = "ec2:CreateSnapshot";
    assert!(explicitly_denied(&p, a, "*", &tags(&["environment"])));
    assert!(explicitly_denied(&p, a, "*", &tags(&["owner", "webserver"])));
    assert!(!explicitly_denied(&p, a, "*", &tags(&["owner"])));
    // ForAnyValue on a missing key is false.
    assert!(allowed(&p, a, "*", &Context::new()));
}

#[test]
fn for_any_value_string_not_like_table() {
    let cond = r#"{"ForAnyValue:StringNotLike":{"aws:TagKeys":["Owner:*","State:??"]}}"#;
    assert!(!cond_holds(cond, &Context::new()));
    assert!(!cond_holds(cond, &tags(&["Owner:Legal", "State:NY"])));
    assert!(cond_holds(cond, &tags(&["owner:Legal", "Owner:Legal"])));
    assert!(cond_holds(cond, &tags(&["owner:Legal", "State:NewYork"])));
    let all = r#"{"ForAllValues:StringNotLike":{"aws:TagKeys":["Owner:*","State:??"]}}"#;
    assert!(cond_holds(all, &Context::new()));
    assert!(!cond_holds(all, &tags(&["Owner:Legal", "State:NY"])));
    assert!(!cond_holds(all, &tags(&["Owner:Legal", "owner:Legal"])));
    assert!(cond_holds(all, &tags(&["owner:Legal", "State:NewYork"])));
    // An empty list counts as absent.
    assert!(cond_holds(all, &tags(&[])));
    assert!(!cond_holds(r#"{"ForAnyValue:StringLike":{"aws:TagKeys":"*"}}"#, &tags(&[])));
}

// ---------------------------------------------------------------------------------------------
// Policy variables.

const HOME_FOLDER: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::amzn-s3-demo-bucket",
     "Condition":{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/*"]}}},
    {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"}]}"#;

#[test]
fn doc_policy_variables_home_folder() {
    let p = identity(HOME_FOLDER);
    let alice = Context::new().with("aws:username", "alice");
    let obj = |u: &str| format!("arn:aws:s3:::amzn-s3-demo-bucket/home/{u}/notes.txt");
    assert!(allowed(&p, "s3:GetObject", &obj("alice"), &alice));
    assert!(!allowed(&p, "s3:GetObject", &obj("bob"), &alice));
    // Unresolvable variable (no aws:username, e.g. an assumed role): matches nothing.
    assert!(!allowed(&p, "s3:GetObject", &obj("alice"), &Context::new()));
    // Variables in condition values.
    let bucket = "arn:aws:s3:::amzn-s3-demo-bucket";
    let listing = |prefix: &str| alice.clone().with("s3:prefix", prefix);
    assert!(allowed(&p, "s3:ListBucket", bucket, &listing("home/alice/docs")));
    assert!(allowed(&p, "s3:ListBucket", bucket, &listing("")));
    assert!(!allowed(&p, "s3:ListBucket", bucket, &listing("home/bob/docs")));
}

#[test]
fn version_2008_does_not_substitute_variables() {
    let old = HOME_FOLDER.replace(r#""Version":"2012-10-17","#, "");
    let p = identity(&old);
    assert_eq!(p.version(), Version::V2008_10_17);
    let alice = Context::new().with("aws:username", "alice");
    assert!(!allowed(&p, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/x", &alice));
    // The variable text is literal.
    assert!(allowed(&p, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/x", &alice));
}

#[test]
fn policy_variable_escapes_and_defaults() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${*}/${?}/${$}x"},
            {"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/department, 'company'}/*"},
            {"Effect":"Allow","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/${aws:userid}*"}]}"#,
    );
    let ctx = Context::new();
    assert!(allowed(&p, "s3:GetObject", "arn:aws:s3:::b/*/?/$x", &ctx));
    assert!(!allowed(&p, "s3:GetObject", "arn:aws:s3:::b/a/b/$x", &ctx));
    assert!(allowed(&p, "s3:PutObject", "arn:aws:s3:::b/company/f", &ctx));
    assert!(!allowed(&p, "s3:PutObject", "arn:aws:s3:::b/finance/f", &ctx));
    let finance = Context::new().with("aws:PrincipalTag/department", "finance");
    assert!(allowed(&p, "s3:PutObject", "arn:aws:s3:::b/finance/f", &finance));
    assert!(!allowed(&p, "s3:PutObject", "arn:aws:s3:::b/company/f", &finance));
    // A substituted value is literal text: its `*` is not a wildcard; text around it keeps
    // its wildcards.
    let star = Context::new().with("aws:userid", "AIDA*");
    assert!(allowed(&p, "s3:DeleteObject", "arn:aws:s3:::b/AIDA*", &star));
    assert!(allowed(&p, "s3:DeleteObject", "arn:aws:s3:::b/AIDA*-suffix", &star));
    assert!(!allowed(&p, "s3:DeleteObject", "arn:aws:s3:::b/AIDAX", &star));
    // A multivalued key cannot be substituted.
    let multi = Context::new().with("aws:userid", vec!["a", "b"]);
    assert!(!allowed(&p, "s3:DeleteObject", "arn:aws:s3:::b/a", &multi));
}

// ---------------------------------------------------------------------------------------------
// Resource policies with principals.

#[test]
fn resource_policy_principals() {
    let p = match Policy::parse_resource(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:role/reader"]},"Action":"secretsmanager:GetSecretValue","Resource":"*"},
            {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"secretsmanager:DeleteSecret","Resource":"*"}]}"#,
    ) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let ctx = Context::new();
    let req = |who: &'static str, action: &'static str| Request {
        action,
        resource: "arn:aws:secretsmanager:us-east-1:111122223333:secret:s-AbCdEf",
        principal: Some(RequestPrincipal::Aws(who)),
        context: &ctx,
    };
    let get = "secretsmanager:GetSecretValue";
    assert!(p.evaluate("rp", &req("arn:aws:iam::111122223333:role/app", get)).is_allowed());
    assert!(p.evaluate("rp", &req("arn:aws:iam::444455556666:role/reader", get)).is_allowed());
    assert!(!p.evaluate("rp", &req("arn:aws:iam::444455556666:role/writer", get)).is_allowed());
    let del = "secretsmanager:DeleteSecret";
    assert!(matches!(
        p.evaluate("rp", &req("arn:aws:iam::444455556666:role/reader", del)),
        Decision::ExplicitDeny { .. }
    ));
    assert_eq!(p.evaluate("rp", &req("arn:aws:iam::111122223333:role/app", del)), Decision::ImplicitDeny);
    // A request without a principal never matches a statement that names one.
    let anonymous = Request { principal: None, ..req("x", get) };
    assert!(!p.evaluate("rp", &anonymous).is_allowed());
}

// ---------------------------------------------------------------------------------------------
// Web-identity trust policies (IRSA).

const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
const PROVIDER: &str =
    "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
const ROLE: &str = "arn:aws:iam::111122223333:role/app-secrets";

fn irsa_trust(sub_op: &str, sub: &str) -> String {
    let prefix = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
    let aud = format!(r#""{prefix}:aud":"sts.amazonaws.com""#);
    let sub = format!(r#""{prefix}:sub":"{sub}""#);
    // One operator object holds both keys when they share it (a JSON object has unique keys).
    let condition = if sub_op == "StringEquals" {
        format!(r#"{{"StringEquals":{{{sub},{aud}}}}}"#)
    } else {
        format!(r#"{{"{sub_op}":{{{sub}}},"StringEquals":{{{aud}}}}}"#)
    };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{condition}}}]}}"#
    )
}

fn web_identity<'a>(provider: &'a str, sub: &'a str, aud: &'a str) -> WebIdentityRequest<'a> {
    WebIdentityRequest {
        action: "sts:AssumeRoleWithWebIdentity",
        federated_provider_arn: provider,
        sub,
        aud,
        amr: &[],
        extra: None,
    }
}

#[test]
fn issuer_prefix_and_provider_arn() {
    assert_eq!(issuer_context_prefix(ISSUER), "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE");
    assert_eq!(issuer_context_prefix("https://example.com/"), "example.com");
    assert_eq!(issuer_context_prefix("example.com/x"), "example.com/x");
    assert_eq!(oidc_provider_arn("111122223333", ISSUER), PROVIDER);
    assert_eq!(web_identity(PROVIDER, "s", "a").issuer_prefix(), issuer_context_prefix(ISSUER));
}

#[test]
fn irsa_string_equals_allows_exact_service_account() {
    let p = trust(&irsa_trust("StringEquals", "system:serviceaccount:payments:api"));
    let ok = evaluate_trust(&p, &web_identity(PROVIDER, "system:serviceaccount:payments:api", "sts.amazonaws.com"));
    assert_eq!(ok, TrustDecision::Allowed { statement: 0, sid: None });
    assert_eq!(ok.explain(ROLE, "system:serviceaccount:payments:api"), None);

    let other =
        evaluate_trust(&p, &web_identity(PROVIDER, "system:serviceaccount:payments:worker", "sts.amazonaws.com"));
    assert!(!other.is_allowed());
    assert_eq!(
        other.explain(ROLE, "system:serviceaccount:payments:worker"),
        Some(format!(
            "trust policy of role {ROLE} does not allow system:serviceaccount:payments:worker (condition StringEquals oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub = system:serviceaccount:payments:api not met; the request has system:serviceaccount:payments:worker)"
        ))
    );
}

#[test]
fn irsa_wrong_audience_is_refused_with_reason() {
    let p = trust(&irsa_trust("StringEquals", "system:serviceaccount:payments:api"));
    let d = evaluate_trust(&p, &web_identity(PROVIDER, "system:serviceaccount:payments:api", "vault"));
    match &d {
        TrustDecision::ImplicitDeny(TrustMiss::Condition { key, expected, actual, .. }) => {
            assert!(key.ends_with(":aud"), "{key}");
            assert_eq!(expected, &vec!["sts.amazonaws.com".to_owned()]);
            assert_eq!(actual.as_deref(), Some("vault"));
        }
        other => panic!("expected an aud condition miss, got {other:?}"),
    }
    let msg = d.explain(ROLE, "system:serviceaccount:payments:api").unwrap_or_default();
    assert!(msg.contains(":aud = sts.amazonaws.com not met; the request has vault"), "{msg}");
}

#[test]
fn irsa_wrong_provider_is_refused() {
    let p = trust(&irsa_trust("StringEquals", "system:serviceaccount:payments:api"));
    let other_cluster = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OTHERCLUSTER";
    let d = evaluate_trust(&p, &web_identity(other_cluster, "system:serviceaccount:payments:api", "sts.amazonaws.com"));
    assert!(matches!(d, TrustDecision::ImplicitDeny(TrustMiss::Principal { .. })), "{d:?}");
    let msg = d.explain(ROLE, "system:serviceaccount:payments:api").unwrap_or_default();
    assert!(msg.contains(&format!("principal Federated:{PROVIDER} does not name provider {other_cluster}")), "{msg}");
}

#[test]
fn irsa_string_like_team_namespaces() {
    let p = trust(&irsa_trust("StringLike", "system:serviceaccount:team-*:*"));
    let aud = "sts.amazonaws.com";
    assert!(evaluate_trust(&p, &web_identity(PROVIDER, "system:serviceaccount:team-a:api", aud)).is_allowed());
    assert!(evaluate_trust(&p, &web_identity(PROVIDER, "system:serviceaccount:team-payments:worker", aud)).is_allowed());
    let d = evaluate_trust(&p, &web_identity(PROVIDER, "system:serviceaccount:kube-system:admin", aud));
    assert!(!d.is_allowed());
    let msg = d.explain(ROLE, "system:serviceaccount:kube-system:admin").unwrap_or_default();
    assert!(msg.contains("condition StringLike"), "{msg}");
    assert!(msg.contains("system:serviceaccount:team-*:*"), "{msg}");
}

#[test]
fn trust_action_principal_star_and_deny() {
    // A trust policy for sts:AssumeRole only does not allow web identity.
    let assume_only = trust(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRole"}}}}"#
    ));
    let req = web_identity(PROVIDER, "system:serviceaccount:a:b", "sts.amazonaws.com");
    let d = evaluate_trust(&assume_only, &req);
    assert!(matches!(d, TrustDecision::ImplicitDeny(TrustMiss::Action { .. })), "{d:?}");
    let msg = d.explain(ROLE, "system:serviceaccount:a:b").unwrap_or_default();
    assert!(msg.contains("action sts:AssumeRole does not allow sts:AssumeRoleWithWebIdentity"), "{msg}");

    // Principal "*" allows any provider; an explicit Deny still wins.
    let star = trust(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity"}},
            {{"Sid":"NoKubeSystem","Effect":"Deny","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:*","Condition":{{"StringLike":{{"oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub":"system:serviceaccount:kube-system:*"}}}}}}]}}"#
    ));
    assert!(evaluate_trust(&star, &req).is_allowed());
    let ks = web_identity(PROVIDER, "system:serviceaccount:kube-system:x", "sts.amazonaws.com");
    let d = evaluate_trust(&star, &ks);
    assert_eq!(d, TrustDecision::ExplicitDeny { statement: 1, sid: Some("NoKubeSystem".to_owned()) });
    assert_eq!(
        d.explain("r", "s"),
        Some("trust policy of role r does not allow s (denied by statement \"NoKubeSystem\")".to_owned())
    );

    // No Allow statement at all.
    let deny_only =
        trust(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}}"#);
    assert_eq!(evaluate_trust(&deny_only, &req), TrustDecision::ImplicitDeny(TrustMiss::NoAllowStatement));
}

#[test]
fn trust_amr_and_extra_context() {
    let p = trust(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"ForAnyValue:StringLike":{{"oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:amr":"authenticated"}},"StringEquals":{{"aws:RequestTag/team":"a"}}}}}}}}"#
    ));
    let extra = Context::new().with("aws:RequestTag/team", "a");
    let mut req = web_identity(PROVIDER, "s", "sts.amazonaws.com");
    req.amr = &["authenticated", "mfa"];
    req.extra = Some(&extra);
    assert!(evaluate_trust(&p, &req).is_allowed());
    req.amr = &["unauthenticated"];
    let d = evaluate_trust(&p, &req);
    let msg = d.explain("r", "s").unwrap_or_default();
    assert!(msg.contains("the request has unauthenticated"), "{msg}");
    req.amr = &[];
    let msg = evaluate_trust(&p, &req).explain("r", "s").unwrap_or_default();
    assert!(msg.ends_with(":amr = authenticated not met; the request has no oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:amr)"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// Malformed policies.

#[test]
fn malformed_policies_name_what_is_wrong() {
    use PolicyKind::*;
    let cases: &[(PolicyKind, &str, &str, &str)] = &[
        (Identity, "{not json", "Syntax errors in policy.", "$"),
        (Identity, "[]", "Syntax errors in policy.", "$"),
        (Identity, r#"{"Version":"2012-10-17"}"#, "Missing required field Statement", "$"),
        (Identity, r#"{"Version":"2012-10-17","Statement":[],"Extra":1}"#, "Unknown field Extra", "$.Extra"),
        (Identity, r#"{"Version":"2012-10-18","Statement":[]}"#, "The policy failed legacy parsing", "$.Version"),
        (Identity, r#"{"Statement":"x"}"#, "Syntax errors in policy.", "$.Statement"),
        (Identity, r#"{"Statement":[{"Effect":"Permit","Action":"s3:*","Resource":"*"}]}"#, "Invalid effect: Permit", "$.Statement[0].Effect"),
        (Identity, r#"{"Statement":[{"Action":"s3:*","Resource":"*"}]}"#, "Missing required field Effect", "$.Statement[0]"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#, "Policy statement must contain actions.", "$.Statement"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#, "Policy statement must contain actions.", "$.Statement.Action"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*"}}"#, "Policy statement must contain resources.", "$.Statement"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"GetObject","Resource":"*"}}"#, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.", "$.Statement.Action[0]"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":["s3:a",7],"Resource":"*"}}"#, "Syntax errors in policy.", "$.Statement.Action[1]"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}}"#, "Resource bucket must be in ARN format or \"*\".", "$.Statement.Resource[0]"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Principal":"*"}}"#, "Policy document should not specify a principal.", "$.Statement.Principal"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}}"#, "Statement must not contain both Action and NotAction", "$.Statement.NotAction"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","NotResource":"*"}}"#, "Statement must not contain both Resource and NotResource", "$.Statement.NotResource"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Effects":"x"}}"#, "Unknown field Effects", "$.Statement.Effects"),
        (Identity, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#, "Statement IDs (SID) in a single policy must be unique.", "$.Statement[1].Sid"),
        (Identity, r#"{"Statement":{"Sid":"has space","Effect":"Allow","Action":"s3:*","Resource":"*"}}"#, "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*", "$.Statement.Sid"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}}}}"#, "Invalid Condition type : StringEqualz", "$.Statement.Condition.StringEqualz"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NullIfExists":{"a:b":"true"}}}}"#, "Invalid Condition type : NullIfExists", "$.Statement.Condition.NullIfExists"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"a:b":null}}}}"#, "Syntax errors in policy.", "$.Statement.Condition.StringEquals.a:b"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"a:b":["x",{}]}}}}"#, "Syntax errors in policy.", "$.Statement.Condition.StringEquals.a:b[1]"),
        (Identity, r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":"x"}}}"#, "Syntax errors in policy.", "$.Statement.Condition.StringEquals"),
        (Trust, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity"}}"#, "Missing required field Principal", "$.Statement"),
        (Trust, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}}"#, "Has prohibited field Resource", "$.Statement.Resource"),
        (Trust, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federate":"x"},"Action":"sts:AssumeRole"}}"#, "Invalid principal in policy: \"Federate\":\"x\"", "$.Statement.Principal.Federate"),
        (Trust, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"someone","Action":"sts:AssumeRole"}}"#, "Invalid principal in policy: \"someone\"", "$.Statement.Principal"),
        (Resource, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#, "Missing required field Principal", "$.Statement"),
    ];
    for (kind, json, message, path) in cases {
        let e = parse_error(*kind, json);
        assert_eq!((e.message.as_str(), e.path.as_str()), (*message, *path), "for {json}");
        assert_eq!(e.to_string(), format!("{message} (at {path})"));
    }
}

#[test]
fn parse_accepts_the_grammar_variants() {
    // Statement as an object, Id, numbers and bools as condition values, Principal types.
    let p = trust(
        r#"{"Version":"2008-10-17","Id":"trust-1","Statement":{"Sid":"S1","Effect":"Allow",
            "Principal":{"AWS":["arn:aws:iam::1:root","2"],"Service":"ec2.amazonaws.com","Federated":"cognito-identity.amazonaws.com"},
            "Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"NumericLessThan":{"k:n":[1,2.5]},"Bool":{"k:b":false}}}}"#,
    );
    assert_eq!(p.id(), Some("trust-1"));
    assert_eq!(p.statements().len(), 1);
    assert_eq!(p.statements()[0].sid(), Some("S1"));
    assert_eq!(p.statements()[0].effect(), Effect::Allow);
    // The generic parser takes a principal and no resource.
    assert!(Policy::parse(r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"*"}}"#).is_ok());
    // Condition operator names with set qualifiers and IfExists.
    assert!(Policy::parse_identity(
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:StringEqualsIgnoreCaseIfExists":{"a:b":"c"},"ForAnyValue:ArnNotLike":{"a:c":"*"}}}}"#
    )
    .is_ok());
}

// ---------------------------------------------------------------------------------------------
// Property: parsing never panics, whatever the JSON.

mod props {
    use proptest::prelude::*;
    use serde_json::{Map, Value as Json};

    use super::super::{Context, Policy, PolicyKind, Request};

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Version".to_owned()),
            Just("Statement".to_owned()),
            Just("Effect".to_owned()),
            Just("Allow".to_owned()),
            Just("Deny".to_owned()),
            Just("Action".to_owned()),
            Just("NotAction".to_owned()),
            Just("Resource".to_owned()),
            Just("NotResource".to_owned()),
            Just("Principal".to_owned()),
            Just("NotPrincipal".to_owned()),
            Just("Condition".to_owned()),
            Just("Sid".to_owned()),
            Just("AWS".to_owned()),
            Just("Federated".to_owned()),
            Just("2012-10-17".to_owned()),
            Just("StringLike".to_owned()),
            Just("ForAllValues:NumericLessThanIfExists".to_owned()),
            Just("IpAddress".to_owned()),
            Just("DateEquals".to_owned()),
            Just("ArnLike".to_owned()),
            Just("Null".to_owned()),
            Just("*".to_owned()),
            Just("s3:*".to_owned()),
            Just("arn:aws:s3:::b/${aws:username}/*".to_owned()),
            Just("${".to_owned()),
            Just("a:b".to_owned()),
            "[ -~]{0,12}".prop_map(|s| s),
            "\\PC{0,6}".prop_map(|s| s),
        ]
    }

    fn json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<f64>().prop_map(Json::from),
            word().prop_map(Json::String),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
                prop::collection::vec((word(), inner), 0..6)
                    .prop_map(|kv| Json::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsing_never_panics(doc in json(), action in word(), resource in word(), key in word(), val in word()) {
            let ctx = Context::new().with(&key, val.as_str()).with("aws:username", val.as_str());
            let req = Request { action: &action, resource: &resource, principal: None, context: &ctx };
            for kind in [PolicyKind::Any, PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust] {
                let parsed = Policy::from_json(&doc, kind);
                let text = Policy::parse_as(&doc.to_string(), kind);
                prop_assert_eq!(parsed.is_ok(), text.is_ok());
                if let Ok(p) = parsed {
                    // Evaluating whatever parsed must not panic either.
                    let _ = p.evaluate("p", &req);
                } else if let Err(e) = parsed {
                    prop_assert!(!e.message.is_empty());
                    prop_assert!(e.path.starts_with('$'));
                }
            }
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in "\\PC{0,64}") {
            let _ = Policy::parse(&text);
        }
    }
}
