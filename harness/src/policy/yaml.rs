//! Reading the YAML that gator reads: a Suite document as a tree that keeps the line and column
//! of every key and value (so that type errors and unknown keys point at the text), and object
//! files (templates, constraints, objects under review, inventory) as plain JSON values.
//!
//! Two parsers, as in gator: `verify` reads suites and their files with YAML 1.2 booleans
//! (`yes`/`no` stay strings, as go-yaml v3 reads them), `test` reads its inputs with YAML 1.1
//! booleans (as the Kubernetes YAML decoder does). This module reads text and must not
//! interpret what it reads beyond the YAML itself.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

use crate::scenario::LoadError;

/// Which boolean spellings a file is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Booleans {
    /// `true`/`false` only (go-yaml v3: what `gator verify` uses for suites and their files).
    Yaml12,
    /// Also `yes`/`no`/`on`/`off` (the Kubernetes decoder: what `gator test` uses).
    Yaml11,
}

fn options(booleans: Booleans) -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.strict_booleans = booleans == Booleans::Yaml12;
    o
}

/// A YAML node with where it starts (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub line: u64,
    pub column: u64,
}

/// A mapping key with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub line: u64,
    pub column: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl NodeValue {
    /// The YAML type's name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Number(_) => "a number",
            NodeValue::String(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a map",
        }
    }
}

impl Node {
    /// The node as plain JSON (locations dropped).
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect::<Map<_, _>>())
            }
        }
    }

    /// The value under `key` of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string under `key`, if it is one.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key).map(|n| &n.value) {
            Some(NodeValue::String(s)) => Some(s),
            _ => None,
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeValue, E> {
        Ok(NodeValue::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeValue, E> {
        Ok(Number::from_f64(v).map_or(NodeValue::Null, NodeValue::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<NodeValue>>()? {
            items.push(node(item));
        }
        Ok(NodeValue::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Spanned<NodeValue>>()? {
            let name = match k.value {
                NodeValue::String(s) => s,
                NodeValue::Null => "null".to_string(),
                NodeValue::Bool(b) => b.to_string(),
                NodeValue::Number(n) => n.to_string(),
                NodeValue::Seq(_) | NodeValue::Map(_) => {
                    return Err(de::Error::custom("a mapping key must be a scalar"));
                }
            };
            let key = Key { name, line: k.referenced.line(), column: k.referenced.column() };
            let v = map.next_value::<Spanned<NodeValue>>()?;
            entries.push((key, node(v)));
        }
        Ok(NodeValue::Map(entries))
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NodeValue, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

fn node(s: Spanned<NodeValue>) -> Node {
    Node { value: s.value, line: s.referenced.line(), column: s.referenced.column() }
}

/// Parses the documents of a YAML text into located nodes (empty documents are dropped).
pub fn parse_nodes(text: &str, path: &Path, booleans: Booleans) -> Result<Vec<Node>, LoadError> {
    let docs: Vec<Spanned<NodeValue>> = serde_saphyr::from_multiple_with_options(text, options(booleans))
        .map_err(|e| crate::scenario::load::parse_error(path, &e))?;
    Ok(docs.into_iter().map(node).filter(|n| n.value != NodeValue::Null).collect())
}

/// Parses every document of an object file into JSON values, skipping empty documents and
/// documents that hold only comments (gator drops those before parsing).
pub fn parse_objects(text: &str, path: &Path, booleans: Booleans) -> Result<Vec<Value>, LoadError> {
    let docs: Vec<Option<Value>> = serde_saphyr::from_multiple_with_options(text, options(booleans))
        .map_err(|e| crate::scenario::load::parse_error(path, &e))?;
    Ok(docs.into_iter().flatten().filter(|v| !v.is_null()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_keep_their_locations() {
        let text = "a: 1\nb:\n  - x\n  - {c: true, d: yes}\n";
        let docs = parse_nodes(text, Path::new("f.yaml"), Booleans::Yaml12).expect("parses");
        let root = &docs[0];
        let NodeValue::Map(entries) = &root.value else { panic!("a map") };
        assert_eq!((entries[1].0.name.as_str(), entries[1].0.line, entries[1].0.column), ("b", 2, 1));
        let b = root.get("b").expect("b");
        let NodeValue::Seq(items) = &b.value else { panic!("a list") };
        assert_eq!((items[1].line, items[1].column), (4, 5));
        // YAML 1.2 booleans: `yes` stays a string, as in go-yaml v3.
        assert_eq!(items[1].get("d").map(|n| n.to_json()), Some(Value::String("yes".into())));
        assert_eq!(items[1].get("c").map(|n| n.to_json()), Some(Value::Bool(true)));
    }

    #[test]
    fn yaml11_reads_yes_as_true_and_empty_documents_are_dropped() {
        let text = "---\n# only a comment\n---\na: yes\n---\n";
        let objs = parse_objects(text, Path::new("f.yaml"), Booleans::Yaml11).expect("parses");
        assert_eq!(objs, vec![serde_json::json!({"a": true})]);
    }

    #[test]
    fn a_syntax_error_is_located() {
        let e = parse_nodes("a: [1,\nb: 2\n", Path::new("f.yaml"), Booleans::Yaml12).expect_err("bad");
        assert!(e.line > 0, "{e}");
        assert_eq!(e.file, Path::new("f.yaml"));
    }
}
