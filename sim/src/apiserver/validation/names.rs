//! Name, label, annotation and finalizer validation with apimachinery's exact messages
//! (`k8s.io/apimachinery/pkg/util/validation`, `pkg/api/validate/content`,
//! `pkg/api/validation`), and which name rule kube-apiserver applies to each built-in resource.
//!
//! Every function is pure and returns the errors (empty when valid); it must not decide whether
//! an error is fatal, look at the store, or panic on any input.

use serde_json::{Map, Value};

use crate::apiserver::error::FieldError;

/// `DNS1123LabelMaxLength` / `DNS1035LabelMaxLength` / label name and value maximum.
pub const LABEL_MAX: usize = 63;
/// `DNS1123SubdomainMaxLength`.
pub const SUBDOMAIN_MAX: usize = 253;
/// `TotalAnnotationSizeLimitB`: 256 KiB.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
/// `names.SimpleNameGenerator`: the prefix is cut to this many bytes before 5 random characters.
pub const MAX_GENERATED_NAME_PREFIX: usize = 58;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_MSG: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// `RegexError`: the message, the examples and the regex, exactly as apimachinery joins them
/// (including its double space before `or`).
pub fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{re}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{re}')"));
    out
}

/// `util/validation.MaxLenError` (names): `must be no more than N characters`.
fn max_len_chars(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `validate/content.MaxLenError` (label keys and values): `must be no more than N bytes`.
fn max_len_bytes(n: usize) -> String {
    format!("must be no more than {n} bytes")
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn matches_dns1123_label(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    is_lower_alnum(first) && is_lower_alnum(last) && s.chars().all(|c| is_lower_alnum(c) || c == '-')
}

fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

fn matches_dns1035_label(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    first.is_ascii_lowercase() && is_lower_alnum(last) && s.chars().all(|c| is_lower_alnum(c) || c == '-')
}

fn matches_label_name(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `IsDNS1123Subdomain`.
pub fn dns1123_subdomain_messages(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > SUBDOMAIN_MAX {
        errs.push(max_len_chars(SUBDOMAIN_MAX));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// `IsDNS1123Label`.
pub fn dns1123_label_messages(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_MAX {
        errs.push(max_len_chars(LABEL_MAX));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, &["my-name", "123-abc"]));
        }
    }
    errs
}

/// `IsDNS1035Label`.
pub fn dns1035_label_messages(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_MAX {
        errs.push(max_len_chars(LABEL_MAX));
    }
    if !matches_dns1035_label(value) {
        errs.push(regex_error(DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, &["my-name", "abc-123"]));
    }
    errs
}

/// `IsPathSegmentName`: not `.`/`..`, no `/` or `%`.
pub fn path_segment_name_messages(name: &str) -> Vec<String> {
    for bad in [".", ".."] {
        if name == bad {
            return vec![format!("may not be '{bad}'")];
        }
    }
    path_segment_prefix_messages(name)
}

/// `IsPathSegmentPrefix`: no `/` or `%`.
pub fn path_segment_prefix_messages(name: &str) -> Vec<String> {
    ["/", "%"].iter().filter(|bad| name.contains(**bad)).map(|bad| format!("may not contain '{bad}'")).collect()
}

/// `IsLabelKey` / `IsQualifiedName`: optional DNS subdomain prefix and `/`, then a name part.
pub fn label_key_messages(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                if prefix.len() > SUBDOMAIN_MAX {
                    errs.push(format!("prefix part {}", max_len_bytes(SUBDOMAIN_MAX)));
                }
                if !matches_dns1123_subdomain(prefix) {
                    errs.push(format!(
                        "prefix part {}",
                        regex_error(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, &["example.com"])
                    ));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_MSG, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > LABEL_MAX {
        errs.push(format!("name part {}", max_len_bytes(LABEL_MAX)));
    }
    if !matches_label_name(name) {
        errs.push(format!(
            "name part {}",
            regex_error(LABEL_KEY_MSG, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// `IsLabelValue`.
pub fn label_value_messages(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_MAX {
        errs.push(max_len_bytes(LABEL_MAX));
    }
    if !value.is_empty() && !matches_label_name(value) {
        errs.push(regex_error(LABEL_VALUE_MSG, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

/// Which name function kube-apiserver's validation passes to `ValidateObjectMeta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `NameIsDNSSubdomain` (253 characters, lower case, dots allowed).
    Subdomain,
    /// `NameIsDNSLabel` (63 characters, no dots): namespaces.
    Label,
    /// `NameIsDNS1035Label` (63 characters, starts with a letter): services.
    Rfc1035Label,
    /// `path.ValidatePathSegmentName`: RBAC objects.
    PathSegment,
    /// No rule beyond non-empty: certificate signing requests upstream ("We don't care what
    /// you call your certificate requests").
    Any,
}

/// The name rule for a resource. Custom resources and unknown built-ins use `Subdomain`.
/// Extra per-resource rules that are not name syntax (a CRD named `<plural>.<group>`, an
/// APIService named `<version>.<group>`, CronJob names at most 52 characters, the pod
/// hostname warning) are not covered here.
pub fn name_rule(group: &str, plural: &str) -> NameRule {
    match (group, plural) {
        ("", "namespaces") => NameRule::Label,
        ("", "services") => NameRule::Rfc1035Label,
        ("rbac.authorization.k8s.io", "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings") => {
            NameRule::PathSegment
        }
        ("certificates.k8s.io", "certificatesigningrequests") => NameRule::Any,
        _ => NameRule::Subdomain,
    }
}

/// The messages of a name rule, as `ValidateNameFunc(name, prefix)`. With `prefix` (a
/// `generateName`), a trailing `-` is masked the way `maskTrailingDash` does, and path-segment
/// prefixes are only checked for `/` and `%`.
pub fn name_messages(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    let masked;
    let name = if prefix && !matches!(rule, NameRule::PathSegment | NameRule::Any) {
        masked = mask_trailing_dash(name);
        masked.as_str()
    } else {
        name
    };
    match rule {
        NameRule::Subdomain => dns1123_subdomain_messages(name),
        NameRule::Label => dns1123_label_messages(name),
        NameRule::Rfc1035Label => dns1035_label_messages(name),
        NameRule::PathSegment if prefix => path_segment_prefix_messages(name),
        NameRule::PathSegment => path_segment_name_messages(name),
        NameRule::Any => Vec::new(),
    }
}

/// `maskTrailingDash`: upstream replaces the last two bytes with `a`
/// (`name[:len(name)-2] + "a"`, so `abc-` is checked as `aba`), which this reproduces.
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        let cut = name.len() - 2;
        match name.get(..cut) {
            Some(head) => format!("{head}a"),
            // A multi-byte character before the dash: drop it whole; still invalid either way.
            None => {
                let head: String = name.chars().take(name.chars().count().saturating_sub(2)).collect();
                format!("{head}a")
            }
        }
    } else {
        name.to_string()
    }
}

/// `metadata.name` errors: `Required value: name or generateName is required` when empty,
/// otherwise one `Invalid value` per message of the rule.
pub fn validate_name(rule: NameRule, name: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required("metadata.name", "name or generateName is required")];
    }
    name_messages(rule, name, false)
        .into_iter()
        .map(|m| FieldError::invalid("metadata.name", &Value::String(name.to_string()), &m))
        .collect()
}

/// `metadata.generateName` errors (prefix rules). kube-apiserver generates the name before
/// validation, so callers should also run [`validate_name`] on [`generate_name`]'s result; an
/// invalid prefix therefore yields errors on both fields, as upstream.
pub fn validate_generate_name(rule: NameRule, prefix: &str) -> Vec<FieldError> {
    if prefix.is_empty() {
        return Vec::new();
    }
    name_messages(rule, prefix, true)
        .into_iter()
        .map(|m| FieldError::invalid("metadata.generateName", &Value::String(prefix.to_string()), &m))
        .collect()
}

/// The name `names.SimpleNameGenerator` makes from a prefix and 5 random characters: the
/// prefix is cut to 58 bytes (at a character boundary here) and the suffix appended.
pub fn generate_name(prefix: &str, random_suffix: &str) -> String {
    let mut cut = prefix.len().min(MAX_GENERATED_NAME_PREFIX);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{}", prefix.get(..cut).unwrap_or(""), random_suffix)
}

fn string_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `ValidateLabels` at `metadata.labels`: key errors report the key, value errors the value.
pub fn validate_labels(labels: &Map<String, Value>) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (k, v) in labels {
        for m in label_key_messages(k) {
            out.push(FieldError::invalid("metadata.labels", &Value::String(k.clone()), &m));
        }
        let v = string_of(v);
        for m in label_value_messages(&v) {
            out.push(FieldError::invalid("metadata.labels", &Value::String(v.clone()), &m));
        }
    }
    out
}

/// `ValidateAnnotations` at `metadata.annotations`: keys are checked lower-cased as qualified
/// names; the total of key and value bytes may not exceed 256 KiB
/// (`Too long: may not be more than 262144 bytes`).
pub fn validate_annotations(annotations: &Map<String, Value>) -> Vec<FieldError> {
    let mut out = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations {
        for m in label_key_messages(&k.to_lowercase()) {
            out.push(FieldError::invalid("metadata.annotations", &Value::String(k.clone()), &m));
        }
        total = total.saturating_add(k.len()).saturating_add(string_of(v).len());
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        out.push(FieldError::too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    out
}

/// Finalizers every resource accepts without a domain.
pub const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// `ValidateFinalizers` at `metadata.finalizers` for every resource: qualified-name errors, and
/// `orphan` together with `foregroundDeletion` rejected.
pub fn validate_finalizers(finalizers: &[String]) -> Vec<FieldError> {
    let mut out = Vec::new();
    for f in finalizers {
        for m in label_key_messages(f) {
            out.push(FieldError::invalid("metadata.finalizers", &Value::String(f.clone()), &m));
        }
    }
    if finalizers.iter().any(|f| f == "orphan") && finalizers.iter().any(|f| f == "foregroundDeletion") {
        let list = Value::from(finalizers.to_vec());
        out.push(FieldError::invalid(
            "metadata.finalizers",
            &list,
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    out
}

/// The extra check built-in (non-custom) resources apply: a finalizer without `/` must be a
/// standard one (`metadata.finalizers[i]: Invalid value: "x": name is neither a standard
/// finalizer name nor is it fully qualified`).
pub fn validate_builtin_finalizer_names(finalizers: &[String]) -> Vec<FieldError> {
    finalizers
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.contains('/') && !STANDARD_FINALIZERS.contains(&f.as_str()))
        .map(|(i, f)| {
            FieldError::invalid(
                format!("metadata.finalizers[{i}]"),
                &Value::String(f.clone()),
                "name is neither a standard finalizer name nor is it fully qualified",
            )
        })
        .collect()
}

/// The warnings kube-apiserver sends for a custom resource's finalizer (one call per finalizer
/// the write adds), e.g. `metadata.finalizers: "x": prefer a domain-qualified finalizer name to
/// avoid accidental conflicts with other finalizer writers`; a dotted name without `/` gets the
/// `including a path (/)` variant.
pub fn custom_resource_finalizer_warnings(finalizer: &str) -> Vec<String> {
    let q = crate::apiserver::error::go_value(&Value::String(finalizer.to_string()));
    let mut out: Vec<String> =
        label_key_messages(finalizer).into_iter().map(|m| format!("metadata.finalizers: {q}: {m}")).collect();
    if !finalizer.contains('/') && !STANDARD_FINALIZERS.contains(&finalizer) {
        if finalizer.contains('.') {
            out.push(format!("metadata.finalizers: {q}: prefer a domain-qualified finalizer name including a path (/) to avoid accidental conflicts with other finalizer writers"));
        } else {
            out.push(format!("metadata.finalizers: {q}: prefer a domain-qualified finalizer name to avoid accidental conflicts with other finalizer writers"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const RFC1035_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

    fn lines(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(FieldError::line).collect()
    }

    #[test]
    fn subdomain_names() {
        assert!(validate_name(NameRule::Subdomain, "web.example-1").is_empty());
        assert_eq!(
            lines(&validate_name(NameRule::Subdomain, "Web")),
            vec![format!("metadata.name: Invalid value: \"Web\": {SUBDOMAIN_ERR}")]
        );
        let long = "a".repeat(254);
        assert_eq!(
            validate_name(NameRule::Subdomain, &long)[0].detail,
            format!("Invalid value: \"{long}\": must be no more than 253 characters")
        );
        assert!(validate_name(NameRule::Subdomain, &"a".repeat(253)).is_empty());
        assert_eq!(
            lines(&validate_name(NameRule::Subdomain, "")),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
    }

    #[test]
    fn label_and_rfc1035_names() {
        assert_eq!(dns1123_label_messages("a.b"), vec!["must not contain dots"]);
        assert_eq!(dns1123_label_messages("-a"), vec![LABEL_ERR]);
        assert_eq!(dns1123_label_messages(&"a".repeat(64)), vec!["must be no more than 63 characters"]);
        assert!(dns1123_label_messages("1abc").is_empty());
        assert_eq!(dns1035_label_messages("1abc"), vec![RFC1035_ERR]);
        assert!(dns1035_label_messages("abc-1").is_empty());
        assert_eq!(name_rule("", "namespaces"), NameRule::Label);
        assert_eq!(name_rule("", "services"), NameRule::Rfc1035Label);
        assert_eq!(name_rule("", "pods"), NameRule::Subdomain);
        assert_eq!(name_rule("apps", "deployments"), NameRule::Subdomain);
        assert_eq!(name_rule("example.com", "widgets"), NameRule::Subdomain);
        assert_eq!(name_rule("rbac.authorization.k8s.io", "clusterroles"), NameRule::PathSegment);
        assert_eq!(name_rule("certificates.k8s.io", "certificatesigningrequests"), NameRule::Any);
    }

    #[test]
    fn path_segment_names() {
        assert_eq!(path_segment_name_messages("."), vec!["may not be '.'"]);
        assert_eq!(path_segment_name_messages(".."), vec!["may not be '..'"]);
        assert_eq!(path_segment_name_messages("a/b%c"), vec!["may not contain '/'", "may not contain '%'"]);
        assert!(path_segment_name_messages("system:controller:Foo").is_empty());
        assert!(name_messages(NameRule::PathSegment, "..", true).is_empty());
    }

    #[test]
    fn generate_name_prefixes() {
        assert!(validate_generate_name(NameRule::Subdomain, "web-").is_empty());
        assert!(validate_generate_name(NameRule::Label, "ns-").is_empty());
        assert_eq!(
            lines(&validate_generate_name(NameRule::Subdomain, "Web-")),
            vec![format!("metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN_ERR}")]
        );
        let long = "a".repeat(80);
        let name = generate_name(&long, "x2b9z");
        assert_eq!(name.len(), 63);
        assert!(validate_name(NameRule::Label, &name).is_empty());
        assert_eq!(generate_name("é".repeat(40).as_str(), "abcde").len(), 58 + 5);
    }

    #[test]
    fn label_keys_and_values() {
        assert!(label_key_messages("example.com/My_name.1").is_empty());
        assert_eq!(label_key_messages("/a"), vec!["prefix part must be non-empty"]);
        assert_eq!(
            label_key_messages("a/"),
            vec![
                "name part must be non-empty".to_string(),
                format!("name part {}", regex_error(LABEL_KEY_MSG, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"]))
            ]
        );
        assert_eq!(label_key_messages(&"a".repeat(64)), vec!["name part must be no more than 63 bytes"]);
        assert_eq!(
            label_key_messages("a/b/c"),
            vec!["a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
        );
        assert_eq!(label_key_messages("Ex.com/a")[0], format!("prefix part {SUBDOMAIN_ERR}"));
        assert!(label_value_messages("").is_empty());
        assert_eq!(label_value_messages(&"a".repeat(64)), vec!["must be no more than 63 bytes"]);
        let errs = validate_labels(&match json!({"ok": "-bad"}) {
            Value::Object(m) => m,
            _ => Map::new(),
        });
        assert_eq!(
            lines(&errs),
            vec!["metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]
        );
    }

    #[test]
    fn annotations_keys_and_size() {
        let ok = match json!({"Example.COM/Key": "x"}) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        assert!(validate_annotations(&ok).is_empty());
        let mut big = Map::new();
        big.insert("a".into(), Value::String("x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT)));
        assert_eq!(
            lines(&validate_annotations(&big)),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
        let mut edge = Map::new();
        edge.insert("a".into(), Value::String("x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT - 1)));
        assert!(validate_annotations(&edge).is_empty());
        let bad = match json!({"a b": "x"}) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        assert_eq!(validate_annotations(&bad)[0].field, "metadata.annotations");
    }

    #[test]
    fn finalizers_errors_and_warnings() {
        assert!(validate_finalizers(&["example.com/cleanup".into(), "kubernetes".into()]).is_empty());
        let both = validate_finalizers(&["orphan".into(), "foregroundDeletion".into()]);
        assert_eq!(lines(&both), vec!["metadata.finalizers: Invalid value: [\"orphan\",\"foregroundDeletion\"]: finalizer orphan and foregroundDeletion cannot be both set"]);
        assert_eq!(
            lines(&validate_builtin_finalizer_names(&["ok/x".into(), "mine".into()])),
            vec!["metadata.finalizers[1]: Invalid value: \"mine\": name is neither a standard finalizer name nor is it fully qualified"]
        );
        assert_eq!(
            custom_resource_finalizer_warnings("cleanup"),
            vec!["metadata.finalizers: \"cleanup\": prefer a domain-qualified finalizer name to avoid accidental conflicts with other finalizer writers"]
        );
        assert_eq!(
            custom_resource_finalizer_warnings("x.example.com"),
            vec!["metadata.finalizers: \"x.example.com\": prefer a domain-qualified finalizer name including a path (/) to avoid accidental conflicts with other finalizer writers"]
        );
        assert!(custom_resource_finalizer_warnings("example.com/x").is_empty());
        assert!(custom_resource_finalizer_warnings("foregroundDeletion").is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn validators_never_panic(s in ".{0,70}") {
            for rule in [NameRule::Subdomain, NameRule::Label, NameRule::Rfc1035Label, NameRule::PathSegment, NameRule::Any] {
                let _ = validate_name(rule, &s);
                let _ = validate_generate_name(rule, &s);
            }
            let _ = generate_name(&s, "abcde");
            let _ = custom_resource_finalizer_warnings(&s);
            prop_assert_eq!(label_value_messages(&s).is_empty(), s.len() <= 63 && (s.is_empty() || matches_label_name(&s)));
        }
    }
}
