//! The AWS provider's `objects` parameter: a YAML list of secret descriptors, read as the
//! provider reads it (YAML turned into JSON, then Go's `encoding/json` into typed structs), so
//! the same mistakes fail the same way: unknown keys are ignored, a value of the wrong type fails
//! the whole mount with Go's wording, and each descriptor is validated with the provider's
//! messages (object name, object type, ARN, jmesPath entries, file permissions, duplicates).
//!
//! Pure parsing and validation; fetching is in `provider`.

use serde_json::Value;

/// One `objects` entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Descriptor {
    pub object_name: String,
    pub object_alias: String,
    pub object_version: String,
    pub object_version_label: String,
    pub object_type: String,
    pub file_permission: String,
    pub jmes_path: Vec<JmesEntry>,
}

/// One `jmesPath` entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JmesEntry {
    pub path: String,
    pub object_alias: String,
    pub file_permission: String,
}

/// Go's name for a JSON value's kind, as `encoding/json` prints it in type errors.
fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(v: &Value, field: &str, go_type: &str) -> String {
    format!(
        "Failed to load SecretProviderClass: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field {field} of type {go_type}",
        go_kind(v)
    )
}

/// A string field (`null` leaves it empty, as Go does).
fn string_field(m: &serde_json::Map<String, Value>, key: &str, owner: &str) -> Result<String, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(type_error(other, &format!("{owner}.{key}"), "string")),
    }
}

/// The YAML text as the provider converts it: YAML 1.1-ish scalars become JSON values.
fn yaml_to_json(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| format!("Failed to load SecretProviderClass: error converting YAML to JSON: yaml: {e}"))
}

/// Parses and validates `objects` for `region`, with `translate` the pathTranslation parameter.
pub fn parse(objects: &str, translate: &str, region: &str) -> Result<Vec<Descriptor>, String> {
    // pathTranslation is checked first.
    let tr = translate.to_ascii_lowercase();
    if !(translate.is_empty() || tr == "false" || translate.chars().count() == 1) {
        return Err("pathTranslation must be either 'False' or a single character string".into());
    }
    let v = if objects.trim().is_empty() { Value::Null } else { yaml_to_json(objects)? };
    let items = match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "Failed to load SecretProviderClass: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []*provider.SecretDescriptor",
                go_kind(&other)
            ))
        }
    };
    // Decoding happens for the whole list before any validation.
    let mut decoded = Vec::with_capacity(items.len());
    for item in &items {
        let m = match item {
            Value::Null => {
                decoded.push(None);
                continue;
            }
            Value::Object(m) => m,
            other => {
                return Err(format!(
                    "Failed to load SecretProviderClass: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type provider.SecretDescriptor",
                    go_kind(other)
                ))
            }
        };
        let owner = "SecretDescriptor";
        let mut d = Descriptor {
            object_name: string_field(m, "objectName", owner)?,
            object_alias: string_field(m, "objectAlias", owner)?,
            object_version: string_field(m, "objectVersion", owner)?,
            object_version_label: string_field(m, "objectVersionLabel", owner)?,
            object_type: string_field(m, "objectType", owner)?,
            file_permission: string_field(m, "filePermission", owner)?,
            jmes_path: Vec::new(),
        };
        match m.get("jmesPath") {
            None | Some(Value::Null) => {}
            Some(Value::Array(entries)) => {
                for e in entries {
                    match e {
                        Value::Null => d.jmes_path.push(JmesEntry::default()),
                        Value::Object(em) => {
                            let o = "SecretDescriptor.jmesPath";
                            d.jmes_path.push(JmesEntry {
                                path: string_field(em, "path", o)?,
                                object_alias: string_field(em, "objectAlias", o)?,
                                file_permission: string_field(em, "filePermission", o)?,
                            });
                        }
                        other => return Err(type_error(other, "SecretDescriptor.jmesPath", "provider.JMESPathEntry")),
                    }
                }
            }
            Some(other) => return Err(type_error(other, "SecretDescriptor.jmesPath", "[]provider.JMESPathEntry")),
        }
        if let Some(f) = m.get("failoverObject") {
            if !matches!(f, Value::Object(_) | Value::Null) {
                return Err(type_error(f, "SecretDescriptor.failoverObject", "provider.FailoverObjectEntry"));
            }
            if f.get("objectName").and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
                return Err(format!("failover object allowed only when failover region is defined: {}", d.object_name));
            }
        }
        decoded.push(Some(d));
    }
    let mut out = Vec::with_capacity(decoded.len());
    let mut seen: Vec<(String, String, String)> = Vec::new();
    for d in decoded {
        let Some(d) = d else { return Err("Empty descriptor entry in SecretProviderClass".into()) };
        validate(&d, translate, region)?;
        if let Some((_, alias, label)) = seen.iter().find(|(n, _, _)| *n == d.object_name) {
            let prefix = format!("found descriptor with duplicate object name {}", d.object_name);
            let (da, fa, dl, fl) =
                (!d.object_alias.is_empty(), !alias.is_empty(), !d.object_version_label.is_empty(), !label.is_empty());
            if da && fa && !dl && !fl && d.object_alias == *alias {
                return Err(format!("{prefix}, duplicate object alias {}, and no version label", d.object_alias));
            }
            if !da && !fa && dl && fl && d.object_version_label == *label {
                return Err(format!("{prefix}, no object alias, and duplicate version label {}", label));
            }
            if da && fa && dl && fl && d.object_alias == *alias && d.object_version_label == *label {
                return Err(format!(
                    "{prefix}, duplicate object alias {}, and duplicate version label {}",
                    alias, label
                ));
            }
            if !da && !fa && !dl && !fl {
                return Err(format!("{prefix}, no object alias, and no version label"));
            }
        }
        seen.push((d.object_name.clone(), d.object_alias.clone(), d.object_version_label.clone()));
        out.push(d);
    }
    Ok(out)
}

fn valid_permission(p: &str) -> bool {
    p.is_empty() || (p.len() == 4 && p.starts_with('0') && p.chars().all(|c| ('0'..='7').contains(&c)))
}

fn validate(d: &Descriptor, translate: &str, region: &str) -> Result<(), String> {
    if d.object_name.is_empty() {
        return Err("Object name must be specified".into());
    }
    let name = &d.object_name;
    let arn: Option<Vec<&str>> = name.starts_with("arn:").then(|| name.splitn(6, ':').collect());
    if let Some(parts) = &arn {
        if parts.len() < 6 {
            return Err(format!("Invalid ARN format in object name: {name}"));
        }
        if parts[3] != region {
            return Err(format!("ARN region must match region {region}: {name}"));
        }
    }
    let service = arn.as_ref().map(|p| p[2]).unwrap_or_default();
    let known = |t: &str| matches!(t, "secretsmanager" | "ssmparameter" | "ssm");
    if d.object_type.is_empty() && arn.is_none() {
        return Err(format!("Must use objectType when a full ARN is not specified: {name}"));
    }
    if d.object_type.is_empty() && !known(service) {
        return Err(format!("Invalid service in ARN: {service}"));
    }
    if !d.object_type.is_empty() && (!known(&d.object_type) || d.object_type == "ssm") {
        return Err(format!("Invalid objectType: {}", d.object_type));
    }
    let kind = |t: &str| if t == "secretsmanager" { 1 } else { 0 };
    if !d.object_type.is_empty() && arn.is_some() && kind(&d.object_type) != kind(service) {
        return Err(format!("objectType does not match ARN: {name}"));
    }
    if d.secret_type() == SecretType::SsmParameter && !d.object_version.is_empty() && !d.object_version_label.is_empty()
    {
        return Err(format!("ssm parameters can not specify both objectVersion and objectVersionLabel: {name}"));
    }
    if d.file_name(translate).contains("../") {
        return Err(format!("path can not contain ../: {name}"));
    }
    if !valid_permission(&d.file_permission) {
        return Err(format!("Invalid File Permission: {}", d.file_permission));
    }
    for j in &d.jmes_path {
        if j.path.is_empty() {
            return Err("Path must be specified for JMES object".into());
        }
        if j.object_alias.is_empty() {
            return Err("Object alias must be specified for JMES object".into());
        }
        if !valid_permission(&j.file_permission) {
            return Err(format!("Invalid File Permission: {}", j.file_permission));
        }
    }
    Ok(())
}

/// Which service holds an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretType {
    SecretsManager,
    SsmParameter,
}

impl Descriptor {
    pub fn secret_type(&self) -> SecretType {
        let t = if self.object_type.is_empty() {
            self.object_name.split(':').nth(2).unwrap_or_default()
        } else {
            &self.object_type
        };
        if t == "secretsmanager" {
            SecretType::SecretsManager
        } else {
            SecretType::SsmParameter
        }
    }

    /// The file the object is written to: the alias or the name, with `/` translated (default
    /// `_`; `False` turns translation off and strips leading slashes).
    pub fn file_name(&self, translate: &str) -> String {
        let name = if self.object_alias.is_empty() { &self.object_name } else { &self.object_alias };
        translate_name(name, translate)
    }
}

/// Applies pathTranslation to a file name.
pub fn translate_name(name: &str, translate: &str) -> String {
    let tr = if translate.is_empty() { "_" } else { translate };
    if tr.eq_ignore_ascii_case("false") {
        name.trim_start_matches('/').to_string()
    } else {
        name.replace('/', tr)
    }
}

/// A file mode from a permission string (`0640`), or `default`.
pub fn mode(permission: &str, default: u32) -> u32 {
    if permission.is_empty() {
        default
    } else {
        u32::from_str_radix(permission, 8).unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jmes_path_written_as_a_string_fails_the_mount_with_gos_wording() {
        let objects = "- objectName: db\n  objectType: secretsmanager\n  jmesPath: \"password\"\n  path: password\n";
        assert_eq!(
            parse(objects, "", "us-east-1").unwrap_err(),
            "Failed to load SecretProviderClass: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field SecretDescriptor.jmesPath of type []provider.JMESPathEntry"
        );
    }

    #[test]
    fn unknown_keys_are_ignored_and_wrong_types_fail() {
        let ok = parse("- {objectName: db, objectType: secretsmanager, colour: blue}\n", "", "us-east-1").unwrap();
        assert_eq!(ok[0].object_name, "db");
        let err = parse("- {objectName: 12, objectType: secretsmanager}\n", "", "us-east-1").unwrap_err();
        assert!(
            err.ends_with("cannot unmarshal number into Go struct field SecretDescriptor.objectName of type string"),
            "{err}"
        );
        let err = parse("objectName: db\n", "", "us-east-1").unwrap_err();
        assert!(err.ends_with("cannot unmarshal object into Go value of type []*provider.SecretDescriptor"), "{err}");
        let err = parse(
            "- objectName: db\n  objectType: secretsmanager\n  jmesPath: [{path: 1, objectAlias: a}]\n",
            "",
            "us-east-1",
        )
        .unwrap_err();
        assert!(err.ends_with("Go struct field SecretDescriptor.jmesPath.path of type string"), "{err}");
    }

    #[test]
    fn validation_messages_are_the_providers() {
        let cases = [
            ("- {objectType: secretsmanager}", "Object name must be specified"),
            ("- {objectName: db}", "Must use objectType when a full ARN is not specified: db"),
            ("- {objectName: db, objectType: vault}", "Invalid objectType: vault"),
            (
                "- {objectName: 'arn:aws:secretsmanager:eu-west-1:1:secret:db'}",
                "ARN region must match region us-east-1: arn:aws:secretsmanager:eu-west-1:1:secret:db",
            ),
            (
                "- {objectName: 'arn:aws:secretsmanager:us-east-1:1:secret:db', objectType: ssmparameter}",
                "objectType does not match ARN: arn:aws:secretsmanager:us-east-1:1:secret:db",
            ),
            (
                "- {objectName: db, objectType: secretsmanager, jmesPath: [{path: password}]}",
                "Object alias must be specified for JMES object",
            ),
            (
                "- {objectName: db, objectType: secretsmanager, jmesPath: [{objectAlias: p}]}",
                "Path must be specified for JMES object",
            ),
            ("- {objectName: db, objectType: secretsmanager, filePermission: '777'}", "Invalid File Permission: 777"),
            (
                "- {objectName: db, objectType: secretsmanager}\n- {objectName: db, objectType: secretsmanager}",
                "found descriptor with duplicate object name db, no object alias, and no version label",
            ),
            ("- ", "Empty descriptor entry in SecretProviderClass"),
        ];
        for (objects, want) in cases {
            assert_eq!(parse(objects, "", "us-east-1").unwrap_err(), want, "{objects}");
        }
        assert_eq!(
            parse("[]", "ab", "us-east-1").unwrap_err(),
            "pathTranslation must be either 'False' or a single character string"
        );
    }

    #[test]
    fn file_names_follow_path_translation() {
        let d = Descriptor { object_name: "/team/db".into(), ..Default::default() };
        assert_eq!(d.file_name(""), "_team_db");
        assert_eq!(d.file_name("False"), "team/db");
        assert_eq!(d.file_name("-"), "-team-db");
        assert_eq!(mode("0640", 0o644), 0o640);
        assert_eq!(mode("", 0o644), 0o644);
    }
}
