//! Serialising `policy test` results the way gator's Go libraries do, so that `-o json` and
//! `-o yaml` read like `gator test`'s: `encoding/json`'s `MarshalIndent` with four spaces
//! (map keys sorted, `<`, `>`, `&` escaped) and go-yaml v3's block style (four-space indent,
//! a sequence item's mapping two columns in, strings quoted only when they would read as
//! something else, lines folded at 80 columns, multi-line strings as literal blocks).
//!
//! The caller decides key order: JSON objects are written in the order given (Go structs keep
//! declaration order; Go maps must be sorted with [`sort_keys`] first). Pure functions over
//! JSON values; this module must not know about policies.

use serde_json::{Map, Value};
use sim::apiserver::gofmt::{go_json, write_go_string};

/// Sorts object keys recursively (Go marshals maps with sorted keys).
pub fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sort_keys(v))).collect::<Map<_, _>>())
        }
        Value::Array(a) => Value::Array(a.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// `json.MarshalIndent(v, "", "    ")`, keys in the order given.
pub fn json_indent(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v, 0);
    out
}

fn write_json(out: &mut String, v: &Value, depth: usize) {
    let pad = |out: &mut String, d: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(d));
    };
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, depth + 1);
                write_json(out, item, depth + 1);
            }
            pad(out, depth);
            out.push(']');
        }
        Value::Object(m) if !m.is_empty() => {
            out.push('{');
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, depth + 1);
                write_go_string(out, k);
                out.push_str(": ");
                write_json(out, val, depth + 1);
            }
            pad(out, depth);
            out.push('}');
        }
        Value::String(s) => write_go_string(out, s),
        other => out.push_str(&go_json(other)),
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)` with go-yaml's spellings of infinities and NaN.
pub fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let e = format!("{f:e}");
    let Some((mant, exp)) = e.split_once('e') else { return e };
    let exp: i32 = exp.parse().unwrap_or(0);
    // strconv: the shortest digits, in %e form when the exponent is < -4 or >= 6.
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// A JSON number as go-yaml writes the `float64` Go decoded it into.
fn yaml_number(n: &serde_json::Number) -> String {
    yaml_float(n.as_f64().unwrap_or(0.0))
}

/// go-yaml v3's `Marshal` of a JSON value (keys in the order given).
pub fn yaml(v: &Value) -> String {
    let mut e = Emitter { out: String::new(), column: 0, indention: true, whitespace: true };
    e.node(v, -1, Ctx::Root);
    if !e.out.ends_with('\n') {
        e.out.push('\n');
    }
    e.out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Root,
    SeqItem,
    MapValue,
}

struct Emitter {
    out: String,
    column: usize,
    /// The last thing written was indentation.
    indention: bool,
    /// The last thing written was whitespace.
    whitespace: bool,
}

const BEST_INDENT: i64 = 4;
const BEST_WIDTH: usize = 80;

fn increase(indent: i64, ctx: Ctx, flow: bool) -> i64 {
    if indent < 0 {
        return if flow { BEST_INDENT } else { 0 };
    }
    if ctx == Ctx::SeqItem {
        indent + 2
    } else {
        BEST_INDENT * ((indent + BEST_INDENT) / BEST_INDENT)
    }
}

impl Emitter {
    fn put(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.indention = true;
    }

    fn write_indent(&mut self, indent: i64) {
        let indent = indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.newline();
        }
        while self.column < indent {
            self.put(" ");
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn indicator(&mut self, s: &str, need_whitespace: bool, is_indention: bool) {
        if need_whitespace && !self.whitespace {
            self.put(" ");
        }
        self.put(s);
        self.whitespace = false;
        self.indention = self.indention && is_indention;
    }

    fn node(&mut self, v: &Value, indent: i64, ctx: Ctx) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                let indent = increase(indent, ctx, false);
                for (k, val) in m {
                    self.write_indent(indent);
                    self.scalar_str(k, indent, ctx, true);
                    self.indicator(":", false, false);
                    self.node(val, indent, Ctx::MapValue);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                let indent = increase(indent, ctx, false);
                for item in items {
                    self.write_indent(indent);
                    self.indicator("-", true, true);
                    self.node(item, indent, Ctx::SeqItem);
                }
            }
            Value::Object(_) => self.indicator("{}", true, false),
            Value::Array(_) => self.indicator("[]", true, false),
            Value::Null => self.plain("null", indent, ctx, false),
            Value::Bool(b) => self.plain(if *b { "true" } else { "false" }, indent, ctx, false),
            Value::Number(n) => self.plain(&yaml_number(n), indent, ctx, false),
            Value::String(s) => self.scalar_str(s, indent, ctx, false),
        }
    }

    fn plain(&mut self, s: &str, indent: i64, ctx: Ctx, key: bool) {
        let indent = increase(indent, ctx, true);
        if !s.is_empty() && !self.whitespace {
            self.put(" ");
        }
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, c) in chars.iter().enumerate() {
            if *c == ' ' {
                if !key && !spaces && self.column > BEST_WIDTH && chars.get(i + 1) != Some(&' ') {
                    self.write_indent(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                self.put(&c.to_string());
                self.indention = false;
                spaces = false;
            }
        }
        if !s.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
    }

    fn scalar_str(&mut self, s: &str, indent: i64, ctx: Ctx, key: bool) {
        let a = analyze(s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if resolves_to_string(s) {
            Style::Plain
        } else {
            Style::Double
        };
        if key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        // go-yaml writes an indentation hint of 4 for a block scalar starting with a space or a
        // line break, which is wrong inside a sequence item (content two columns in); such
        // strings are double-quoted instead, so that the output always reads back.
        if style == Style::Literal && (!a.block_allowed || key || s.starts_with([' ', '\n'])) {
            style = Style::Double;
        }
        match style {
            Style::Plain => self.plain(s, indent, ctx, key),
            Style::Single => self.single(s, increase(indent, ctx, true), key),
            Style::Double => self.double(s, increase(indent, ctx, true), key),
            Style::Literal => self.literal(s, increase(indent, ctx, true)),
        }
    }

    fn single(&mut self, s: &str, indent: i64, key: bool) {
        self.indicator("'", true, false);
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, c) in chars.iter().enumerate() {
            if *c == ' ' {
                if !key
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < chars.len() - 1
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                if *c == '\'' {
                    self.put("'");
                }
                self.put(&c.to_string());
                self.indention = false;
                spaces = false;
            }
        }
        self.indicator("'", false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn double(&mut self, s: &str, indent: i64, key: bool) {
        self.indicator("\"", true, false);
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, c) in chars.iter().enumerate() {
            let c = *c;
            let printable = is_printable(c);
            if !printable || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                let esc = match c {
                    '\0' => "\\0".to_string(),
                    '\u{7}' => "\\a".into(),
                    '\u{8}' => "\\b".into(),
                    '\t' => "\\t".into(),
                    '\n' => "\\n".into(),
                    '\u{b}' => "\\v".into(),
                    '\u{c}' => "\\f".into(),
                    '\r' => "\\r".into(),
                    '\u{1b}' => "\\e".into(),
                    '"' => "\\\"".into(),
                    '\\' => "\\\\".into(),
                    '\u{85}' => "\\N".into(),
                    '\u{a0}' => "\\_".into(),
                    '\u{2028}' => "\\L".into(),
                    '\u{2029}' => "\\P".into(),
                    c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                self.put(&esc);
                spaces = false;
            } else if c == ' ' {
                if !key && !spaces && self.column > BEST_WIDTH && i > 0 && i < chars.len() - 1 {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put("\\");
                    }
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                self.put(&c.to_string());
                spaces = false;
            }
        }
        self.indicator("\"", false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn literal(&mut self, s: &str, indent: i64) {
        self.indicator("|", true, false);
        let chomp = if !s.ends_with('\n') {
            Some("-")
        } else if s == "\n" || s.ends_with("\n\n") {
            Some("+")
        } else {
            None
        };
        if let Some(c) = chomp {
            self.indicator(c, false, false);
        }
        self.newline();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in s.chars() {
            if c == '\n' {
                self.newline();
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(&c.to_string());
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `is_printable`: line feed, printable ASCII, and the BMP from U+00A0 but for
/// surrogates, the BOM and U+FFFE/U+FFFF (tabs, carriage returns and characters beyond the BMP
/// are escaped in double quotes).
fn is_printable(c: char) -> bool {
    c == '\n'
        || (' '..='~').contains(&c)
        || ('\u{a0}'..='\u{d7ff}').contains(&c)
        || (('\u{e000}'..='\u{fffd}').contains(&c) && c != '\u{feff}')
}

/// libyaml's scalar analysis (block context): which styles can carry the text.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let blank = |c: Option<&char>| matches!(c, None | Some(' ' | '\t'));
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = blank(chars.get(i + 1)) || chars.get(i + 1).is_some_and(|n| is_break(*n));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_indicators = true
                }
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == chars.len() {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == chars.len() {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = c == ' ' || c == '\t' || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space || space_break || tabs || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether go-yaml v3 would read the text, unquoted, back as a string (not null, a boolean, a
/// number, a timestamp, the merge key, a YAML 1.1 boolean or a base-60 float).
fn resolves_to_string(s: &str) -> bool {
    if matches!(s, "" | "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | "<<")
    {
        return false;
    }
    if matches!(
        s,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF"
    ) {
        return false;
    }
    let lower = s.trim_start_matches(['+', '-']);
    if matches!(lower, ".inf" | ".Inf" | ".INF") || matches!(s, ".nan" | ".NaN" | ".NAN") {
        return false;
    }
    let Some(first) = s.chars().next() else { return false };
    if !(first.is_ascii_digit() || first == '+' || first == '-' || first == '.') {
        return true;
    }
    let plain = s.replace('_', "");
    !(go_parse_int(&plain) || is_yaml_float(&plain) || is_timestamp(s) || is_base60_float(s))
}

/// `strconv.ParseInt(s, 0, 64)` (or ParseUint) succeeds: decimal, `0x`, `0o`, `0b`, or a
/// leading-zero octal, with an optional sign.
fn go_parse_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let lower = body.to_ascii_lowercase();
    let (digits, radix) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok()
}

/// go-yaml's float pattern: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The timestamp forms go-yaml accepts unquoted, starting `YYYY-M-D`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, min: usize, max: usize| -> Option<usize> {
        let mut n = 0;
        while b.get(from + n).is_some_and(u8::is_ascii_digit) && n < max {
            n += 1;
        }
        (n >= min).then_some(from + n)
    };
    let Some(i) = digits(0, 4, 4) else { return false };
    if b.get(i) != Some(&b'-') {
        return false;
    }
    let Some(i) = digits(i + 1, 1, 2) else { return false };
    if b.get(i) != Some(&b'-') {
        return false;
    }
    digits(i + 1, 1, 2).is_some()
}

/// go-yaml's `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = match body.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (body, None),
    };
    if frac.is_some_and(|f| !f.bytes().all(|c| c.is_ascii_digit() || c == b'_')) {
        return false;
    }
    let mut parts = main.split(':');
    let Some(head) = parts.next() else { return false };
    let head_ok = head.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && head.bytes().all(|c| c.is_ascii_digit() || c == b'_');
    let rest: Vec<&str> = parts.collect();
    head_ok
        && !rest.is_empty()
        && rest.iter().all(|p| {
            let b = p.as_bytes();
            match b {
                [d] => d.is_ascii_digit(),
                [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_go_marshal_indent() {
        let v = json!([{"target": "foo", "constraint": {"kind": "kind"}, "violatingObject": {"bar": "x<y"}, "trace": "xyz", "e": [], "m": {}}]);
        assert_eq!(
            json_indent(&v),
            "[\n    {\n        \"target\": \"foo\",\n        \"constraint\": {\n            \"kind\": \"kind\"\n        },\n        \
             \"violatingObject\": {\n            \"bar\": \"x\\u003cy\"\n        },\n        \"trace\": \"xyz\",\n        \
             \"e\": [],\n        \"m\": {}\n    }\n]"
        );
        assert_eq!(json_indent(&Value::Null), "null");
    }

    #[test]
    fn yaml_matches_gators_yaml_output() {
        // The expected text of gator's own formatting test (cmd/gator/test).
        let v = json!([{
            "result": {"target": "foo", "msg": "", "metadata": {}, "constraint": {"object": {"kind": "kind"}},
                       "enforcementaction": "", "scopedenforcementactions": []},
            "violatingObject": {"bar": "xyz"},
            "trace": "xyz"
        }]);
        assert_eq!(
            yaml(&v),
            "- result:\n    target: foo\n    msg: \"\"\n    metadata: {}\n    constraint:\n        object:\n            \
             kind: kind\n    enforcementaction: \"\"\n    scopedenforcementactions: []\n  violatingObject:\n    bar: \
             xyz\n  trace: xyz\n"
        );
        assert_eq!(yaml(&json!([])), "[]\n");
    }

    #[test]
    fn yaml_quotes_only_what_would_read_differently() {
        let v = json!({"a": "yes", "b": "1.5", "c": "missing labels: {\"team\"}", "d": "it's", "e": "line1\nline2",
                       "f": "0755", "g": "2024-01-02", "h": "plain text", "i": 3, "j": 1000000, "k": null, "l": [1, [2]],
                       "m": "1:30", "o": " lead", "n": 1});
        assert_eq!(
            yaml(&v),
            "a: \"yes\"\nb: \"1.5\"\nc: 'missing labels: {\"team\"}'\nd: it's\ne: |-\n    line1\n    line2\nf: \"0755\"\n\
             g: \"2024-01-02\"\nh: plain text\ni: 3\nj: 1e+06\nk: null\nl:\n    - 1\n    - - 2\nm: \"1:30\"\no: ' lead'\n\"n\": 1\n"
        );
    }

    #[test]
    fn yaml_folds_long_lines_at_80_columns() {
        let long = "word ".repeat(20).trim_end().to_string();
        let out = yaml(&json!({"msg": long}));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[1].starts_with("    word"), "{out}");
        assert_eq!(format!("{} {}", lines[0].trim_start_matches("msg: "), lines[1].trim()), long);
    }

    fn leaf() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0i64..100_000).prop_map(|n| json!(n)),
            r#"[a-z0-9 :#'"\\{}\[\],&*!|>%@`\n\t\r.+-é😀\x{85}\x{2028}]{0,90}"#.prop_map(Value::String),
            prop_oneof![
                Just("yes"),
                Just("1.5"),
                Just("0x1f"),
                Just("2024-01-02"),
                Just("~"),
                Just(" a "),
                Just("a\n")
            ]
            .prop_map(|s| Value::String(s.to_string())),
        ]
    }

    fn tree() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z0-9 :.#'\"\n-]{0,12}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

        /// Whatever the quoting, folding and indentation chosen, the YAML reads back as the value.
        #[test]
        fn yaml_reads_back_as_the_value(v in tree()) {
            let text = yaml(&v);
            let back: Value = serde_saphyr::from_str(&text).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e}\n{text}")))?;
            proptest::prop_assert_eq!(&back, &v, "{}", text);
        }

        /// And the JSON is JSON with the same value.
        #[test]
        fn json_reads_back_as_the_value(v in tree()) {
            let back: Value = serde_json::from_str(&json_indent(&v)).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(back, v);
        }
    }

    #[test]
    fn floats_are_formatted_like_strconv_g() {
        assert_eq!(yaml_float(3.0), "3");
        assert_eq!(yaml_float(100000.0), "100000");
        assert_eq!(yaml_float(1000000.0), "1e+06");
        assert_eq!(yaml_float(1234567.0), "1.234567e+06");
        assert_eq!(yaml_float(0.5), "0.5");
        assert_eq!(yaml_float(0.00001), "1e-05");
    }
}
