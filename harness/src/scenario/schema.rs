//! The JSON Schema of the scenario format, generated from the model types. The checked-in copy
//! (`docs/scenario.schema.json`) is what editors use; a test keeps it equal to this.

use super::model::Scenario;

/// The schema as pretty JSON, with a trailing newline.
pub fn generate() -> String {
    let schema = schemars::generate::SchemaSettings::draft07().into_generator().into_root_schema_for::<Scenario>();
    let mut value = serde_json::to_value(&schema).unwrap_or_default();
    if let Some(m) = value.as_object_mut() {
        m.insert(
            "$id".into(),
            serde_json::Value::String("https://idp-harness.dev/schemas/scenario-v1alpha1.json".into()),
        );
        m.insert("title".into(), serde_json::Value::String("idp-harness Scenario (idp-harness.dev/v1alpha1)".into()));
    }
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checked_in_schema_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/scenario.schema.json");
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == super::generate(),
            "{} is out of date: run `cargo run -q -p idp-harness -- schema > docs/scenario.schema.json`",
            path.display()
        );
    }

    #[test]
    fn the_schema_describes_steps_and_rejects_unknown_keys() {
        let v: serde_json::Value = serde_json::from_str(&super::generate()).expect("json");
        let step = &v["definitions"]["Step"];
        assert_eq!(step["additionalProperties"], serde_json::json!(false));
        assert!(step["properties"]["apply"].is_object() && step["properties"]["try"].is_object());
    }
}
