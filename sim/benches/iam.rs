//! IAM policy evaluation throughput on one core: a role's identity policy set (five policies,
//! wildcards, NotResource, conditions, a policy variable) deciding a mix of allowed, explicitly
//! denied and implicitly denied requests, and IRSA trust-policy checks. Prints decisions per
//! second; asserts nothing about time.

#[macro_use]
#[path = "common/figures.rs"]
mod figures;

use std::hint::black_box;
use std::time::Instant;

use sim::iam::{evaluate_trust, Context, Policy, PolicySet, Request, WebIdentityRequest};

const POLICIES: &[(&str, &str)] = &[
    (
        "ReadSecrets",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"arn:aws:secretsmanager:*:111122223333:secret:prod/app-*"}]}"#,
    ),
    (
        "S3Home",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bucket/home/${aws:username}/*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bucket","Condition":{"StringLike":{"s3:prefix":["","home/${aws:username}/*"]}}}]}"#,
    ),
    (
        "IamReadOnly",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowGetList","Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"},{"Sid":"DenyReports","Effect":"Deny","Action":"iam:*Report","Resource":"*"}]}"#,
    ),
    (
        "Guardrails",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecure","Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},{"Sid":"DenyOutside","Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}},{"Sid":"Region","Effect":"Deny","NotAction":["iam:*","sts:*"],"Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["us-east-1","eu-west-1"]}}}]}"#,
    ),
    (
        "Tagging",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringLikeIfExists":{"ec2:InstanceType":["t3.*","m5.*"]},"ForAllValues:StringLike":{"aws:TagKeys":["team*","env*"]}}}]}"#,
    ),
];

fn main() {
    let mut set = PolicySet::new();
    for (name, json) in POLICIES {
        match Policy::parse_identity(json) {
            Ok(p) => set.add(*name, p),
            Err(e) => panic!("bench policy {name} does not parse: {e}"),
        }
    }
    let ctx = Context::new()
        .with("aws:username", "alice")
        .with("aws:SecureTransport", true)
        .with("aws:SourceIp", "10.1.2.3")
        .with("aws:RequestedRegion", "us-east-1")
        .with("s3:prefix", "home/alice/docs")
        .with("ec2:InstanceType", "t3.micro")
        .with("aws:TagKeys", vec!["team", "env"]);
    let requests = [
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/app-db-AbCdEf"),
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:dev/app-db-AbCdEf"),
        ("s3:GetObject", "arn:aws:s3:::bucket/home/alice/notes.txt"),
        ("s3:GetObject", "arn:aws:s3:::bucket/home/bob/notes.txt"),
        ("s3:ListBucket", "arn:aws:s3:::bucket"),
        ("iam:GetRole", "arn:aws:iam::111122223333:role/app"),
        ("iam:GetCredentialReport", "*"),
        ("ec2:RunInstances", "arn:aws:ec2:us-east-1:111122223333:instance/*"),
    ];
    let rounds = 50_000;
    let mut allowed = 0usize;
    let start = Instant::now();
    for _ in 0..rounds {
        for (action, resource) in &requests {
            let req = Request { action, resource, principal: None, context: &ctx };
            if black_box(set.evaluate(black_box(&req))).is_allowed() {
                allowed += 1;
            }
        }
    }
    let n = rounds * requests.len();
    let secs = start.elapsed().as_secs_f64();
    figure!(
        "iam",
        "iam identity: {n} decisions ({allowed} allowed) over 5 policies in {secs:.3}s: {:.0} decisions/s",
        n as f64 / secs
    );

    let prefix = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE";
    let provider = format!("arn:aws:iam::111122223333:oidc-provider/{prefix}");
    let trust_json = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{provider}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringLike":{{"{prefix}:sub":"system:serviceaccount:team-*:*"}},"StringEquals":{{"{prefix}:aud":"sts.amazonaws.com"}}}}}}]}}"#
    );
    let trust = match Policy::parse_trust(&trust_json) {
        Ok(p) => p,
        Err(e) => panic!("bench trust policy does not parse: {e}"),
    };
    let subs = ["system:serviceaccount:team-a:api", "system:serviceaccount:kube-system:x"];
    let rounds = 50_000;
    let mut ok = 0usize;
    let start = Instant::now();
    for _ in 0..rounds {
        for sub in &subs {
            let req = WebIdentityRequest {
                action: "sts:AssumeRoleWithWebIdentity",
                federated_provider_arn: &provider,
                sub,
                aud: "sts.amazonaws.com",
                amr: &[],
                extra: None,
            };
            if black_box(evaluate_trust(&trust, black_box(&req))).is_allowed() {
                ok += 1;
            }
        }
    }
    let n = rounds * subs.len();
    let secs = start.elapsed().as_secs_f64();
    figure!(
        "iam",
        "iam trust: {n} web-identity decisions ({ok} allowed) in {secs:.3}s: {:.0} decisions/s",
        n as f64 / secs
    );
}
