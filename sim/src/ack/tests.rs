use super::*;

fn aws_err(code: &str) -> AckError {
    AckError::Aws {
        code: code.into(),
        message: format!("{code}: bad"),
        chain: format!("operation error IAM: X, {code}: bad"),
    }
}

fn types(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (c["type"].as_str().unwrap_or_default().to_string(), c["status"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

#[test]
fn synced_resources_get_synced_and_ready() {
    let ok = Ok(Observed { synced: true, references: true, ..Default::default() });
    let c = conditions_for(&ok, true, None);
    assert_eq!(
        types(&c),
        [("ACK.ReferencesResolved", "True"), ("ACK.ResourceSynced", "True"), ("Ready", "True")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(c[1]["message"], cond::SYNCED_MESSAGE);
    assert_eq!(c[2]["message"], cond::SYNCED_MESSAGE);
    // Older runtimes (before v0.53) write no Ready.
    let c = conditions_for(&ok, false, None);
    assert!(types(&c).iter().all(|(t, _)| t != "Ready"));
}

#[test]
fn terminal_errors_make_ready_false_with_the_terminal_reason() {
    let c = conditions_for(&Err(aws_err("MalformedPolicyDocument")), true, None);
    assert_eq!(types(&c)[0], ("ACK.Terminal".to_string(), "True".to_string()));
    assert_eq!(c[0]["message"], "MalformedPolicyDocument: bad");
    assert_eq!(c[1]["status"], "Unknown");
    assert_eq!(c[1]["message"], cond::UNKNOWN_SYNCED_MESSAGE);
    assert_eq!(c[1]["reason"], "operation error IAM: X, MalformedPolicyDocument: bad");
    assert_eq!(c[2]["reason"], "ACK.Terminal");
    assert_eq!(c[2]["status"], "False");
    let c = conditions_for(&Err(aws_err("Throttling")), true, None);
    assert_eq!(c[0]["type"], "ACK.Recoverable");
    assert_eq!(c[2]["reason"], "ACK.Recoverable");
}

#[test]
fn unresolved_references_are_unknown_with_the_error_as_reason() {
    let err = AckError::Reference { text: "the referenced resource is not synced yet. x".into(), terminal: false };
    let c = conditions_for(&Err(err), true, None);
    assert_eq!(c[0]["type"], "ACK.ReferencesResolved");
    assert_eq!(c[0]["status"], "Unknown");
    assert_eq!(c[0]["message"], cond::FAILED_REFERENCE_RESOLUTION_MESSAGE);
    assert_eq!(c[0]["reason"], "the referenced resource is not synced yet. x");
    assert_eq!(c[1]["status"], "Unknown");
}

#[test]
fn transition_times_hold_while_the_status_does() {
    let ok = Ok(Observed { synced: true, ..Default::default() });
    let mut first = conditions_for(&ok, true, None);
    first[0]["lastTransitionTime"] = json!("2020-01-01T00:00:00Z");
    let again = conditions_for(&ok, true, Some(&first));
    assert_eq!(again[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
    let failed = conditions_for(&Err(aws_err("Throttling")), true, Some(&first));
    let synced =
        failed.as_array().into_iter().flatten().find(|c| c["type"] == cond::SYNCED).cloned().unwrap_or_default();
    assert_ne!(synced["lastTransitionTime"], "2020-01-01T00:00:00Z");
}

#[test]
fn policy_documents_compare_as_json_even_url_encoded() {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let spaced = r#"{ "Statement": [ {"Resource": "*", "Action": "s3:GetObject", "Effect": "Allow"} ], "Version": "2012-10-17" }"#;
    let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
    assert!(same_policy(doc, spaced));
    assert!(same_policy(encoded, doc));
    assert!(!same_policy(doc, &doc.replace("GetObject", "PutObject")));
}

#[test]
fn versions_gate_the_ready_condition() {
    assert!(!at_least("1.4", READY_SINCE_IAM));
    assert!(at_least("1.6.2", READY_SINCE_IAM));
    assert!(at_least("1.10", READY_SINCE_RDS));
    assert!(!at_least("1.1", READY_SINCE_SECRETSMANAGER));
}

#[test]
fn finalizers_name_group_and_kind() {
    assert_eq!(iam::ROLE.finalizer(), "finalizers.iam.services.k8s.aws/Role");
    assert_eq!(rds::DB_INSTANCE.finalizer(), "finalizers.rds.services.k8s.aws/DBInstance");
}

#[test]
fn there_is_no_role_policy_attachment_kind() {
    let kinds = kinds();
    assert!(kinds.iter().any(|k| k.kind == "Role"));
    assert!(!kinds.iter().any(|k| k.kind == "RolePolicyAttachment"));
}
