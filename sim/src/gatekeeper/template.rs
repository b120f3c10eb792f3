//! ConstraintTemplates: parsing (`templates.gatekeeper.sh/v1` and `v1beta1`), Rego compilation
//! with regorus, the constraint CRD a template creates, and template status data.
//!
//! A template that parses but whose Rego does not compile is not rejected: the error is data
//! shaped for `status.byPod[].errors` and `status.created` stays false, as in Gatekeeper. This
//! module must not store anything or talk to the API server; the controller that will write
//! the CRD and the status does that.
//!
//! Error codes and messages follow Gatekeeper's controller: metadata problems (no kind, name
//! not the lowercased kind, bad targets) are `create_error` "Could not create CRD: …" (the
//! Gatekeeper webhook also denies such a template at admission with the inner message);
//! Rego problems are `ingest_error` "Could not ingest Rego: …". The inner Rego text is
//! regorus's, not OPA's, so it names the same file, line and column but not OPA's wording.

use serde_json::{json, Map, Value};

use super::builtins;
use super::ADMISSION_TARGET;

/// `status.byPod[].errors[].code` for a metadata problem (no CRD can be made).
pub const CREATE_ERROR: &str = "create_error";
/// `status.byPod[].errors[].code` for a Rego problem.
pub const INGEST_ERROR: &str = "ingest_error";
/// The group of the constraint CRDs.
pub const CONSTRAINTS_GROUP: &str = "constraints.gatekeeper.sh";

/// The Rego dialect of a template's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegoVersion {
    /// Legacy `targets[].rego` (and `code[].source` without `version: v1`).
    V0,
    /// `code: [{engine: Rego, source: {rego, version: "v1"}}]`.
    V1,
}

/// A template problem, shaped as an entry of `status.byPod[].errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// `create_error` or `ingest_error`.
    pub code: &'static str,
    /// The full status message, prefix included.
    pub message: String,
    /// The message without the controller's prefix: what Gatekeeper's webhook would deny a
    /// `create_error` template with.
    pub cause: String,
}

impl TemplateError {
    fn create(cause: String) -> Self {
        TemplateError { code: CREATE_ERROR, message: format!("Could not create CRD: {cause}"), cause }
    }

    fn ingest(cause: String) -> Self {
        TemplateError { code: INGEST_ERROR, message: format!("Could not ingest Rego: {cause}"), cause }
    }

    /// The `{code, message}` object for `status.byPod[].errors`.
    pub fn to_status_error(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for TemplateError {}

/// A parsed ConstraintTemplate.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstraintTemplate {
    /// `metadata.name` (the lowercased kind).
    pub name: String,
    /// `apiVersion` of the template object (`templates.gatekeeper.sh/v1`, `v1beta1`, …).
    pub api_version: String,
    /// `spec.crd.spec.names.kind`: the constraint kind.
    pub kind: String,
    /// `spec.crd.spec.names.shortNames`.
    pub short_names: Vec<String>,
    /// `spec.crd.spec.validation.openAPIV3Schema`: the schema of `spec.parameters`.
    pub parameters_schema: Option<Value>,
    /// `spec.crd.spec.validation.legacySchema` (defaults to true for v1beta1/v1alpha1).
    pub legacy_schema: bool,
    /// The main Rego module.
    pub rego: String,
    /// Library modules (`libs`).
    pub libs: Vec<String>,
    pub version: RegoVersion,
    /// Engines in `code[]` that the simulator does not evaluate (e.g. `K8sNativeValidation`).
    pub skipped_engines: Vec<String>,
}

impl ConstraintTemplate {
    /// Parses a template object. Errors are `create_error`s (the CRD cannot be made).
    pub fn from_value(obj: &Value) -> Result<ConstraintTemplate, TemplateError> {
        let name = str_at(obj, &["metadata", "name"]).unwrap_or_default().to_string();
        let api_version = str_at(obj, &["apiVersion"]).unwrap_or("templates.gatekeeper.sh/v1").to_string();
        let names = at(obj, &["spec", "crd", "spec", "names"]);
        let kind = names.and_then(|n| n.get("kind")).and_then(Value::as_str).unwrap_or_default().to_string();
        if kind.is_empty() {
            return Err(TemplateError::create(format!(
                "invalid ConstraintTemplate: ConstraintTemplate {name:?} does not specify CRD Kind"
            )));
        }
        if !name.eq_ignore_ascii_case(&kind) {
            return Err(TemplateError::create(format!(
                "invalid ConstraintTemplate: the ConstraintTemplate's name {name:?} is not equal to the lowercase of \
                 CRD's Kind: {:?}",
                kind.to_lowercase()
            )));
        }
        let short_names = strings(names.and_then(|n| n.get("shortNames")));
        let validation = at(obj, &["spec", "crd", "spec", "validation"]);
        let parameters_schema = validation.and_then(|v| v.get("openAPIV3Schema")).filter(|v| v.is_object()).cloned();
        let legacy_default = !api_version.ends_with("/v1");
        let legacy_schema =
            validation.and_then(|v| v.get("legacySchema")).and_then(Value::as_bool).unwrap_or(legacy_default);

        let targets = match at(obj, &["spec", "targets"]) {
            Some(Value::Array(t)) => t.as_slice(),
            _ => &[],
        };
        let [target] = targets else {
            return Err(TemplateError::create(format!(
                "failed to validate targets for template {name}: invalid ConstraintTemplate: expected exactly 1 item in \
                 targets, got {}",
                targets.len()
            )));
        };
        let target_name = target.get("target").and_then(Value::as_str).unwrap_or_default();
        if target_name != ADMISSION_TARGET {
            return Err(TemplateError::create(format!(
                "failed to validate targets for template {name}: invalid ConstraintTemplate: target {target_name:?} not \
                 recognized"
            )));
        }

        let mut rego = None;
        let mut skipped_engines = Vec::new();
        if let Some(Value::Array(code)) = target.get("code") {
            for c in code {
                let engine = c.get("engine").and_then(Value::as_str).unwrap_or_default();
                if engine == "Rego" && rego.is_none() {
                    let source = c.get("source");
                    let text = source.and_then(|s| s.get("rego")).and_then(Value::as_str).unwrap_or_default();
                    let version = match source.and_then(|s| s.get("version")).and_then(Value::as_str) {
                        Some("v1") => RegoVersion::V1,
                        _ => RegoVersion::V0,
                    };
                    let libs = strings(source.and_then(|s| s.get("libs")));
                    rego = Some((text.to_string(), libs, version));
                } else if engine != "Rego" {
                    skipped_engines.push(engine.to_string());
                }
            }
        }
        let (rego, libs, version) = match rego {
            Some(r) => r,
            None => (
                target.get("rego").and_then(Value::as_str).unwrap_or_default().to_string(),
                strings(target.get("libs")),
                RegoVersion::V0,
            ),
        };
        Ok(ConstraintTemplate {
            name,
            api_version,
            kind,
            short_names,
            parameters_schema,
            legacy_schema,
            rego,
            libs,
            version,
            skipped_engines,
        })
    }

    /// Compiles the Rego. Errors are `ingest_error`s; the template stays stored, uncreated.
    /// The result depends on the kind and the sources only, so it is kept process-wide: every
    /// platform of a run compiles the same templates, and a controller again at each reconcile.
    pub fn compile(&self) -> Result<CompiledTemplate, TemplateError> {
        static CACHE: crate::cache::Cache<Result<CompiledTemplate, TemplateError>> = crate::cache::Cache::new(256);
        // Serialised as JSON so that no two inputs share a key.
        let key =
            json!([self.kind, self.rego, self.libs, format!("{:?}", self.version), self.skipped_engines.is_empty()])
                .to_string();
        CACHE.get_or_insert_with(&key, || self.compile_uncached())
    }

    fn compile_uncached(&self) -> Result<CompiledTemplate, TemplateError> {
        if self.rego.trim().is_empty() {
            if !self.skipped_engines.is_empty() {
                // A CEL-only template: Gatekeeper accepts it; the simulator cannot evaluate it.
                return Ok(CompiledTemplate { kind: self.kind.clone(), package: None, engine: regorus::Engine::new() });
            }
            return Err(TemplateError::ingest("invalid ConstraintTemplate: no Rego source in target".to_string()));
        }
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(self.version == RegoVersion::V0);
        builtins::register_deprecated(&mut engine).map_err(|e| TemplateError::ingest(e.to_string()))?;
        let main_path = format!("{}/template.rego", self.kind);
        let package = engine.add_policy(main_path.clone(), self.rego.clone()).map_err(|e| ingest_error(&e))?;
        for (i, lib) in self.libs.iter().enumerate() {
            engine.add_policy(format!("{}/lib_{i}.rego", self.kind), lib.clone()).map_err(|e| ingest_error(&e))?;
        }
        match engine.has_declared_rule_rooted_at(&main_path, "violation") {
            Ok(true) => {}
            _ => {
                return Err(TemplateError::ingest(format!(
                    "invalid ConstraintTemplate: the Rego of {} has no violation rule",
                    self.kind
                )))
            }
        }
        // Data is part of what regorus prepares: an empty inventory now, so that clones of this
        // engine evaluate without preparing again (see `CompiledTemplate::with_inventory`).
        engine.add_data(regorus::Value::from(json!({"inventory": {}}))).map_err(|e| ingest_error(&e))?;
        // Evaluating once runs regorus's analysis (scheduling, unsafe variables, function
        // gathering): what OPA's compiler would reject surfaces here.
        engine.eval_query("true".to_string(), false).map_err(|e| ingest_error(&e))?;
        // OPA also rejects calls to functions that do not exist; regorus would only fail when
        // evaluation reaches them.
        if let Some(u) = super::functions::unknown_functions(&engine).first() {
            return Err(TemplateError::ingest(format!(
                "1 error occurred: {main_path}:{}: rego_type_error: undefined function {}",
                u.line, u.name
            )));
        }
        let package = package.strip_prefix("data.").unwrap_or(&package).to_string();
        Ok(CompiledTemplate { kind: self.kind.clone(), package: Some(package), engine })
    }

    /// The constraint CRD (`apiextensions.k8s.io/v1`) the template creates: cluster-scoped,
    /// group `constraints.gatekeeper.sh`, versions v1beta1 (storage) and v1alpha1, plural and
    /// singular the lowercased kind, a status subresource, and a schema with `spec.match`,
    /// `spec.enforcementAction`, `spec.scopedEnforcementActions` and `spec.parameters` (the
    /// template's schema). The controller adds ownership and labels it needs.
    pub fn constraint_crd(&self) -> Value {
        let plural = self.kind.to_lowercase();
        let mut parameters = match &self.parameters_schema {
            Some(Value::Object(s)) => s.clone(),
            _ => Map::new(),
        };
        if self.legacy_schema || self.parameters_schema.is_none() {
            parameters.insert("x-kubernetes-preserve-unknown-fields".to_string(), json!(true));
        }
        let selector = json!({
            "type": "object",
            "properties": {
                "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                "matchExpressions": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "operator": {"type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                        "values": {"type": "array", "items": {"type": "string"}}
                    }
                }}
            }
        });
        let string_list = json!({"type": "array", "items": {"type": "string"}});
        let schema = json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 63}}},
                "spec": {
                    "type": "object",
                    "properties": {
                        "enforcementAction": {"type": "string"},
                        "scopedEnforcementActions": {"type": "array", "items": {
                            "type": "object",
                            "properties": {
                                "action": {"type": "string"},
                                "enforcementPoints": {"type": "array", "items": {
                                    "type": "object", "properties": {"name": {"type": "string"}}
                                }}
                            }
                        }},
                        "match": {
                            "type": "object",
                            "properties": {
                                "kinds": {"type": "array", "items": {
                                    "type": "object",
                                    "properties": {"apiGroups": string_list, "kinds": string_list}
                                }},
                                "scope": {"type": "string", "enum": ["*", "Cluster", "Namespaced"]},
                                "namespaces": string_list,
                                "excludedNamespaces": string_list,
                                "labelSelector": selector,
                                "namespaceSelector": selector,
                                "name": {"type": "string"},
                                "source": {"type": "string", "enum": ["All", "Generated", "Original"]}
                            }
                        },
                        "parameters": Value::Object(parameters)
                    }
                },
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        });
        let version = |name: &str, storage: bool| {
            json!({
                "name": name,
                "served": true,
                "storage": storage,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": schema},
                "additionalPrinterColumns": [
                    {"name": "enforcement-action", "type": "string", "jsonPath": ".spec.enforcementAction"},
                    {"name": "total-violations", "type": "integer", "jsonPath": ".status.totalViolations"}
                ]
            })
        };
        let mut names = json!({
            "kind": self.kind,
            "listKind": format!("{}List", self.kind),
            "plural": plural,
            "singular": plural,
            "categories": ["constraint", "constraints"]
        });
        if !self.short_names.is_empty() {
            names["shortNames"] = json!(self.short_names);
        }
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {
                "name": format!("{plural}.{CONSTRAINTS_GROUP}"),
                "labels": {"gatekeeper.sh/constraint": "yes"}
            },
            "spec": {
                "group": CONSTRAINTS_GROUP,
                "names": names,
                "scope": "Cluster",
                "versions": [version("v1beta1", true), version("v1alpha1", false)]
            }
        })
    }
}

/// A template whose Rego compiled: a prepared regorus engine, cloned for each evaluation.
#[derive(Clone)]
pub struct CompiledTemplate {
    /// The constraint kind.
    pub kind: String,
    /// The Rego package (without `data.`); None for a template without Rego (CEL only).
    pub package: Option<String>,
    pub(crate) engine: regorus::Engine,
}

impl std::fmt::Debug for CompiledTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledTemplate").field("kind", &self.kind).field("package", &self.package).finish()
    }
}

impl CompiledTemplate {
    /// A copy whose `data.inventory` is `inventory`, prepared once. regorus prepares again
    /// whenever data changes, so the caller should make this once per inventory change, not
    /// per request.
    pub fn with_inventory(&self, inventory: &Value) -> Result<CompiledTemplate, TemplateError> {
        let mut engine = self.engine.clone();
        engine.clear_data();
        engine.add_data(regorus::Value::from(json!({"inventory": inventory}))).map_err(|e| ingest_error(&e))?;
        engine.eval_query("true".to_string(), false).map_err(|e| ingest_error(&e))?;
        Ok(CompiledTemplate { kind: self.kind.clone(), package: self.package.clone(), engine })
    }
}

/// The outcome of ingesting a template, as the controller needs it.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// The parsed template (None when it could not be parsed: no CRD).
    pub template: Option<ConstraintTemplate>,
    /// The compiled template (None on any error).
    pub compiled: Option<CompiledTemplate>,
    /// The problems, for `status.byPod[].errors`.
    pub errors: Vec<TemplateError>,
}

impl Ingested {
    /// `status.created`: the CRD is made only when the Rego compiled.
    pub fn created(&self) -> bool {
        self.compiled.is_some()
    }

    /// The template `status` as Gatekeeper writes it with one pod reporting:
    /// `{created, byPod: [{id, observedGeneration, operations, templateUID?, errors?}]}`.
    pub fn status(&self, pod_id: &str, observed_generation: i64) -> Value {
        let mut pod = json!({
            "id": pod_id,
            "observedGeneration": observed_generation,
            "operations": ["audit", "mutation-status", "status", "mutation-webhook", "webhook"]
        });
        if !self.errors.is_empty() {
            pod["errors"] = Value::Array(self.errors.iter().map(TemplateError::to_status_error).collect());
        }
        json!({"created": self.created(), "byPod": [pod]})
    }
}

/// Parses and compiles a template object in one step.
pub fn ingest(obj: &Value) -> Ingested {
    match ConstraintTemplate::from_value(obj) {
        Err(e) => Ingested { template: None, compiled: None, errors: vec![e] },
        Ok(t) => match t.compile() {
            Ok(c) => Ingested { template: Some(t), compiled: Some(c), errors: Vec::new() },
            Err(e) => Ingested { template: Some(t), compiled: None, errors: vec![e] },
        },
    }
}

fn ingest_error(e: &anyhow::Error) -> TemplateError {
    TemplateError::ingest(format!("1 error occurred: {}", e.to_string().trim_end()))
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}
