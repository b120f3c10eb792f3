//! gator `Suite` files (`apiVersion: test.gatekeeper.sh/v1alpha1`, `kind: Suite`): the model,
//! loading with a line and column on every problem, and finding suite files the way
//! `gator verify` does.
//!
//! Loading follows gator's reader: a YAML file whose apiVersion group is not
//! `test.gatekeeper.sh` or whose kind is not `Suite` is not a suite and is skipped; only the first
//! document of a file counts; a value of the wrong type is an error; unknown keys are ignored by
//! gator, so they are warnings here (with the nearest known key), never errors. Checks gator
//! makes while running (a missing `template`, an empty `assertions`, a bad `violations` value)
//! are left to the runner so that they fail the test or case as in gator. This module reads
//! files and must not evaluate anything.

use std::path::{Component, Path, PathBuf};

use super::yaml::{parse_nodes, Booleans, Key, Node, NodeValue};
use crate::scenario::LoadError;

/// The API group of suite files.
pub const SUITE_GROUP: &str = "test.gatekeeper.sh";
/// The kind of suite files.
pub const SUITE_KIND: &str = "Suite";

/// A path named in a suite (`template`, `constraint`, `object`, `inventory[]`), as written, with
/// where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub path: String,
    /// The suite field that named it, e.g. `tests[0].template`.
    pub field: String,
    pub line: u64,
    pub column: u64,
}

/// `violations:` of an assertion, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violations {
    Yes,
    No,
    /// An integer (a negative one is rejected when the assertion runs, as gator does).
    Exactly(i64),
    /// A string other than `yes`/`no` (rejected when the assertion runs).
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// None means `yes`.
    pub violations: Option<Violations>,
    /// A regular expression over violation messages; None (or an empty one) matches every
    /// violation.
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub object: FileRef,
    pub inventory: Vec<FileRef>,
    pub assertions: Vec<Assertion>,
    pub skip: bool,
    pub line: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    pub name: String,
    pub template: FileRef,
    pub constraint: FileRef,
    /// An ExpansionTemplate (not evaluated by idp-harness; a test that names one fails).
    pub expansion: Option<FileRef>,
    pub cases: Vec<Case>,
    /// The constraint is expected to fail schema validation.
    pub invalid: bool,
    pub skip: bool,
    pub line: u64,
}

/// A loaded suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// The file, as reached from the path given on the command line.
    pub path: PathBuf,
    /// The path as gator prints it (the argument joined with the file's path below it).
    pub display: String,
    pub skip: bool,
    pub tests: Vec<Test>,
    /// Unknown keys and other things gator ignores silently.
    pub warnings: Vec<LoadError>,
}

impl Suite {
    /// The directory paths in the suite are relative to.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// Resolves a path named in the suite, as gator's `path.Join(suiteDir, p)` does: relative to
    /// the suite's directory (a leading `/` does not make it absolute), `.` and `..` resolved.
    pub fn resolve(&self, p: &str) -> PathBuf {
        join_clean(self.dir(), p)
    }
}

/// `base` joined with `p` and cleaned lexically; `p` is always taken as relative.
pub fn join_clean(base: &Path, p: &str) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    let joined = base.join(p.trim_start_matches('/'));
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// Reads a file; `Ok(None)` when it is YAML but not a suite (gator skips such files).
pub fn load_suite(path: &Path, display: &str) -> Result<Option<Suite>, Vec<LoadError>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![LoadError::unreadable(path, &e)])?;
    load_suite_str(&text, path, display)
}

/// Parses suite text; `path` names it in errors and anchors relative paths.
pub fn load_suite_str(text: &str, path: &Path, display: &str) -> Result<Option<Suite>, Vec<LoadError>> {
    let docs = parse_nodes(text, path, Booleans::Yaml12).map_err(|e| vec![e])?;
    let Some(root) = docs.first() else {
        return Ok(None);
    };
    if !is_suite(root) {
        return Ok(None);
    }
    let mut cx = Cx { file: path.to_path_buf(), errors: Vec::new(), warnings: Vec::new() };
    if docs.len() > 1 {
        cx.warn(
            docs[1].line,
            docs[1].column,
            "only the first YAML document of a suite file is read (as in gator)",
            None,
        );
    }
    let suite = cx.suite(root, path, display);
    if cx.errors.is_empty() {
        Ok(Some(Suite { warnings: cx.warnings, ..suite }))
    } else {
        Err(cx.errors)
    }
}

/// gator's test: the apiVersion's group is `test.gatekeeper.sh` and the kind is `Suite`.
fn is_suite(root: &Node) -> bool {
    let api_version = root.get_str("apiVersion").unwrap_or_default();
    let group = match api_version.split_once('/') {
        Some((g, v)) if !v.contains('/') => g,
        Some(_) => return false,
        None => "",
    };
    group == SUITE_GROUP && root.get_str("kind") == Some(SUITE_KIND)
}

const SUITE_KEYS: &[&str] = &["apiVersion", "kind", "metadata", "tests", "skip"];
/// ObjectMeta is embedded in gator's Suite, so its fields are accepted at the top level too.
const OBJECT_META_KEYS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];
const TEST_KEYS: &[&str] = &["name", "template", "constraint", "expansion", "cases", "invalid", "skip"];
const CASE_KEYS: &[&str] = &["name", "object", "inventory", "assertions", "skip"];
const ASSERTION_KEYS: &[&str] = &["violations", "message"];

struct Cx {
    file: PathBuf,
    errors: Vec<LoadError>,
    warnings: Vec<LoadError>,
}

impl Cx {
    fn err(&mut self, line: u64, column: u64, message: String, hint: Option<String>) {
        self.errors.push(LoadError { file: self.file.clone(), line, column, message, hint });
    }

    fn warn(&mut self, line: u64, column: u64, message: &str, hint: Option<String>) {
        self.warnings.push(LoadError { file: self.file.clone(), line, column, message: message.to_string(), hint });
    }

    fn wrong_type(&mut self, n: &Node, at: &str, want: &str) {
        self.err(n.line, n.column, format!("{at}: expected {want}, found {}", n.value.type_name()), None);
    }

    /// The entries of a map node (a null node is an empty map), warning about unknown keys.
    fn entries<'n>(&mut self, n: &'n Node, at: &str, known: &[&str]) -> Vec<&'n (Key, Node)> {
        match &n.value {
            NodeValue::Map(entries) => {
                for (k, _) in entries {
                    let name = k.name.as_str();
                    let meta = at.is_empty() && OBJECT_META_KEYS.contains(&name);
                    if !known.contains(&name) && !meta {
                        let field = if at.is_empty() { k.name.clone() } else { format!("{at}.{}", k.name) };
                        let hint =
                            crate::scenario::load::closest(&k.name, known).map(|c| format!("did you mean `{c}`?"));
                        self.warn(
                            k.line,
                            k.column,
                            &format!("unknown field `{field}` is ignored (gator ignores unknown fields)"),
                            hint,
                        );
                    }
                }
                entries.iter().collect()
            }
            NodeValue::Null => Vec::new(),
            _ => {
                self.wrong_type(n, if at.is_empty() { "the suite" } else { at }, "a map");
                Vec::new()
            }
        }
    }

    fn string(&mut self, n: &Node, at: &str) -> String {
        match &n.value {
            NodeValue::String(s) => s.clone(),
            NodeValue::Null => String::new(),
            _ => {
                self.wrong_type(n, at, "a string");
                String::new()
            }
        }
    }

    fn boolean(&mut self, n: &Node, at: &str) -> bool {
        match &n.value {
            NodeValue::Bool(b) => *b,
            NodeValue::Null => false,
            _ => {
                self.wrong_type(n, at, "true or false");
                false
            }
        }
    }

    fn list<'n>(&mut self, n: &'n Node, at: &str) -> &'n [Node] {
        match &n.value {
            NodeValue::Seq(items) => items,
            NodeValue::Null => &[],
            _ => {
                self.wrong_type(n, at, "a list");
                &[]
            }
        }
    }

    fn file_ref(&mut self, n: &Node, at: &str) -> FileRef {
        FileRef { path: self.string(n, at), field: at.to_string(), line: n.line, column: n.column }
    }

    fn suite(&mut self, root: &Node, path: &Path, display: &str) -> Suite {
        let mut suite = Suite {
            path: path.to_path_buf(),
            display: display.to_string(),
            skip: false,
            tests: Vec::new(),
            warnings: Vec::new(),
        };
        for (k, v) in self.entries(root, "", SUITE_KEYS) {
            match k.name.as_str() {
                "skip" => suite.skip = self.boolean(v, "skip"),
                "tests" => {
                    for (i, t) in self.list(v, "tests").iter().enumerate() {
                        let test = self.test(t, &format!("tests[{i}]"));
                        suite.tests.push(test);
                    }
                }
                _ => {}
            }
        }
        suite
    }

    fn test(&mut self, n: &Node, at: &str) -> Test {
        let empty = |field: &str| FileRef {
            path: String::new(),
            field: format!("{at}.{field}"),
            line: n.line,
            column: n.column,
        };
        let mut t = Test {
            name: String::new(),
            template: empty("template"),
            constraint: empty("constraint"),
            expansion: None,
            cases: Vec::new(),
            invalid: false,
            skip: false,
            line: n.line,
        };
        if !matches!(n.value, NodeValue::Map(_)) {
            self.wrong_type(n, at, "a map");
            return t;
        }
        for (k, v) in self.entries(n, at, TEST_KEYS) {
            let field = format!("{at}.{}", k.name);
            match k.name.as_str() {
                "name" => t.name = self.string(v, &field),
                "template" => t.template = self.file_ref(v, &field),
                "constraint" => t.constraint = self.file_ref(v, &field),
                "expansion" => {
                    let r = self.file_ref(v, &field);
                    t.expansion = Some(r).filter(|r| !r.path.is_empty());
                }
                "invalid" => t.invalid = self.boolean(v, &field),
                "skip" => t.skip = self.boolean(v, &field),
                "cases" => {
                    for (i, c) in self.list(v, &field).iter().enumerate() {
                        let case = self.case(c, &format!("{field}[{i}]"));
                        t.cases.push(case);
                    }
                }
                _ => {}
            }
        }
        t
    }

    fn case(&mut self, n: &Node, at: &str) -> Case {
        let mut c = Case {
            name: String::new(),
            object: FileRef { path: String::new(), field: format!("{at}.object"), line: n.line, column: n.column },
            inventory: Vec::new(),
            assertions: Vec::new(),
            skip: false,
            line: n.line,
        };
        if !matches!(n.value, NodeValue::Map(_)) {
            self.wrong_type(n, at, "a map");
            return c;
        }
        for (k, v) in self.entries(n, at, CASE_KEYS) {
            let field = format!("{at}.{}", k.name);
            match k.name.as_str() {
                "name" => c.name = self.string(v, &field),
                "object" => c.object = self.file_ref(v, &field),
                "skip" => c.skip = self.boolean(v, &field),
                "inventory" => {
                    for (i, p) in self.list(v, &field).iter().enumerate() {
                        let r = self.file_ref(p, &format!("{field}[{i}]"));
                        c.inventory.push(r);
                    }
                }
                "assertions" => {
                    for (i, a) in self.list(v, &field).iter().enumerate() {
                        let assertion = self.assertion(a, &format!("{field}[{i}]"));
                        c.assertions.push(assertion);
                    }
                }
                _ => {}
            }
        }
        c
    }

    fn assertion(&mut self, n: &Node, at: &str) -> Assertion {
        let mut a = Assertion { violations: None, message: None };
        if !matches!(n.value, NodeValue::Map(_) | NodeValue::Null) {
            self.wrong_type(n, at, "a map");
            return a;
        }
        for (k, v) in self.entries(n, at, ASSERTION_KEYS) {
            let field = format!("{at}.{}", k.name);
            match k.name.as_str() {
                "violations" => {
                    a.violations = match &v.value {
                        NodeValue::Null => None,
                        NodeValue::String(s) if s == "yes" => Some(Violations::Yes),
                        NodeValue::String(s) if s == "no" => Some(Violations::No),
                        NodeValue::String(s) => Some(Violations::Other(s.clone())),
                        NodeValue::Number(num) => match num.as_i64().and_then(|i| i32::try_from(i).ok()) {
                            Some(i) => Some(Violations::Exactly(i64::from(i))),
                            None => {
                                self.err(
                                    v.line,
                                    v.column,
                                    format!("{field}: {num} is not a 32-bit integer"),
                                    Some("use a nonnegative integer, \"yes\" or \"no\"".into()),
                                );
                                None
                            }
                        },
                        _ => {
                            self.err(
                                v.line,
                                v.column,
                                format!("{field}: expected an integer or a string, found {}", v.value.type_name()),
                                Some("use a nonnegative integer, yes or no".into()),
                            );
                            None
                        }
                    }
                }
                "message" if !matches!(v.value, NodeValue::Null) => a.message = Some(self.string(v, &field)),
                _ => {}
            }
        }
        a
    }
}

/// A suite file found on disk: where to read it and how gator would print its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteFile {
    pub path: PathBuf,
    pub display: String,
}

/// Why a path given on the command line yields no suite files.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{path}: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: unsupported extension: {ext:?} (suite files end in .yaml or .yml)")]
    UnsupportedExtension { path: String, ext: String },
    #[error("can only recursively traverse directories, not a directory: {path:?}")]
    NotADirectory { path: String },
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// The YAML files a command-line path selects, as `gator verify` selects them: a file is
/// taken as is (it must end in `.yaml`/`.yml`); a directory gives the YAML files directly in
/// it; `dir/...` gives every YAML file below `dir`. Sorted by path.
pub fn find_suite_files(arg: &str) -> Result<Vec<SuiteFile>, DiscoverError> {
    let (base, recursive) = match arg.strip_suffix("...") {
        Some(b) if b.is_empty() || b.ends_with('/') => (if b.is_empty() { "./" } else { b }, true),
        _ => (arg, false),
    };
    let trimmed = base.trim_end_matches('/');
    let base_path = PathBuf::from(if trimmed.is_empty() { base } else { trimmed });
    let meta =
        std::fs::metadata(&base_path).map_err(|source| DiscoverError::Unreadable { path: base.to_string(), source })?;
    let mut out = Vec::new();
    if !meta.is_dir() {
        if recursive {
            return Err(DiscoverError::NotADirectory { path: base.to_string() });
        }
        if !is_yaml(&base_path) {
            let ext = base_path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
            return Err(DiscoverError::UnsupportedExtension { path: base.to_string(), ext });
        }
        out.push(SuiteFile { path: base_path, display: arg.to_string() });
        return Ok(out);
    }
    let mut rel = Vec::new();
    walk(&base_path, Path::new(""), recursive, &mut rel)
        .map_err(|source| DiscoverError::Unreadable { path: base.to_string(), source })?;
    let sep = if base.ends_with('/') { "" } else { "/" };
    for r in rel {
        let shown = r.to_string_lossy().to_string();
        out.push(SuiteFile { path: base_path.join(&r), display: format!("{base}{sep}{shown}") });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(root: &Path, rel: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<(PathBuf, bool)> = std::fs::read_dir(root.join(rel))?
        .filter_map(|e| e.ok())
        .map(|e| {
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            (rel.join(e.file_name()), is_dir)
        })
        .collect();
    entries.sort();
    for (p, is_dir) in entries {
        if is_dir {
            if recursive {
                walk(root, &p, recursive, out)?;
            }
        } else if is_yaml(&p) {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Option<Suite>, Vec<LoadError>> {
        load_suite_str(text, Path::new("p/suite.yaml"), "p/suite.yaml")
    }

    const HEAD: &str = "apiVersion: test.gatekeeper.sh/v1alpha1\nkind: Suite\n";

    #[test]
    fn a_gatekeeper_library_style_suite_loads() {
        let text = format!(
            "{HEAD}metadata: {{name: s}}\ntests:\n- name: t\n  template: template.yaml\n  constraint: samples/c.yaml\n  cases:\n  - name: ok\n    object: samples/ok.yaml\n    assertions:\n    - violations: no\n  - name: bad\n    object: samples/bad.yaml\n    inventory: [inv.yaml]\n    assertions:\n    - violations: 2\n    - message: image\n"
        );
        let s = load(&text).expect("valid").expect("a suite");
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let t = &s.tests[0];
        assert_eq!(
            (t.name.as_str(), t.template.path.as_str(), t.constraint.path.as_str()),
            ("t", "template.yaml", "samples/c.yaml")
        );
        assert_eq!(t.cases[0].assertions, vec![Assertion { violations: Some(Violations::No), message: None }]);
        assert_eq!(t.cases[1].inventory[0].path, "inv.yaml");
        assert_eq!(t.cases[1].assertions[0].violations, Some(Violations::Exactly(2)));
        assert_eq!(t.cases[1].assertions[1], Assertion { violations: None, message: Some("image".into()) });
        assert_eq!(s.resolve("../x/./y.yaml"), PathBuf::from("x/y.yaml"));
        assert_eq!(
            s.resolve("/abs.yaml"),
            PathBuf::from("p/abs.yaml"),
            "absolute paths are relative to the suite, as in gator"
        );
    }

    #[test]
    fn files_that_are_not_suites_are_skipped() {
        assert_eq!(load("apiVersion: v1\nkind: ConfigMap\n").expect("ok"), None);
        assert_eq!(load("apiVersion: test.gatekeeper.sh/v1alpha1\nkind: Other\n").expect("ok"), None);
        assert_eq!(load("").expect("ok"), None);
    }

    #[test]
    fn unknown_keys_are_located_warnings_with_a_suggestion() {
        let text = format!("{HEAD}tests:\n- name: t\n  cases:\n  - name: c\n    asertions: []\n");
        let s = load(&text).expect("valid").expect("a suite");
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        let w = &s.warnings[0];
        assert_eq!((w.line, w.column), (7, 5));
        assert!(w.message.contains("unknown field `tests[0].cases[0].asertions` is ignored"), "{}", w.message);
        assert_eq!(w.hint.as_deref(), Some("did you mean `assertions`?"));
    }

    #[test]
    fn wrong_types_are_errors_with_the_field_and_location() {
        let text = format!("{HEAD}tests:\n- name: [a]\n  skip: \"yes\"\n  cases:\n  - name: c\n    assertions:\n    - violations: true\n");
        let errs = load(&text).expect_err("invalid");
        let msgs: Vec<String> = errs.iter().map(|e| format!("{}:{} {}", e.line, e.column, e.message)).collect();
        assert!(msgs.contains(&"4:9 tests[0].name: expected a string, found a list".to_string()), "{msgs:?}");
        assert!(msgs.contains(&"5:9 tests[0].skip: expected true or false, found a string".to_string()), "{msgs:?}");
        assert!(
            msgs.iter()
                .any(|m| m
                    .starts_with("9:19 tests[0].cases[0].assertions[0].violations: expected an integer or a string")),
            "{msgs:?}"
        );
    }

    #[test]
    fn violations_keep_what_gator_checks_at_run_time() {
        let text = format!(
            "{HEAD}tests:\n- cases:\n  - assertions:\n    - violations: maybe\n    - violations: -1\n    - {{}}\n"
        );
        let s = load(&text).expect("valid").expect("a suite");
        let a = &s.tests[0].cases[0].assertions;
        assert_eq!(a[0].violations, Some(Violations::Other("maybe".into())));
        assert_eq!(a[1].violations, Some(Violations::Exactly(-1)));
        assert_eq!(a[2], Assertion { violations: None, message: None });
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

        /// Arbitrary text, and suite-shaped text with arbitrary test bodies, never panic: they
        /// load, are not suites, or fail with located errors.
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,300}", body in "[a-z{}:, \\[\\]\\n'0-9-]{0,80}") {
            let _ = load(&text);
            if let Err(errs) = load(&format!("{HEAD}tests:\n- {body}\n")) {
                proptest::prop_assert!(!errs.is_empty());
                for e in errs {
                    proptest::prop_assert!(!e.message.is_empty());
                }
            }
        }
    }

    #[test]
    fn discovery_follows_gator_for_files_directories_and_recursion() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        for f in ["suite.yaml", "a/s.yml", "a/b/deep.yaml", "a/notes.txt"] {
            std::fs::write(root.join(f), "x: 1\n").expect("write");
        }
        let arg = |s: &str| format!("{}/{s}", root.display());
        let shown = |files: Vec<SuiteFile>| files.into_iter().map(|f| f.display).collect::<Vec<_>>();
        assert_eq!(shown(find_suite_files(&arg("a")).expect("dir")), vec![arg("a/s.yml")]);
        assert_eq!(
            shown(find_suite_files(&arg("a/...")).expect("recursive")),
            vec![arg("a/b/deep.yaml"), arg("a/s.yml")]
        );
        assert_eq!(shown(find_suite_files(&arg("suite.yaml")).expect("file")), vec![arg("suite.yaml")]);
        assert!(matches!(find_suite_files(&arg("a/notes.txt")), Err(DiscoverError::UnsupportedExtension { .. })));
        assert!(matches!(find_suite_files(&arg("suite.yaml/...")), Err(DiscoverError::NotADirectory { .. })));
        assert!(matches!(find_suite_files(&arg("nope")), Err(DiscoverError::Unreadable { .. })));
    }
}
