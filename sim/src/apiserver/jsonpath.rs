//! The Kubernetes JSONPath subset (`k8s.io/client-go/util/jsonpath`) used by CRD
//! `additionalPrinterColumns` and `kubectl -o jsonpath`, and the rendering of one printer-column
//! cell as kube-apiserver's CRD table convertor sends it.
//!
//! Supported: one expression, optionally wrapped in `{...}` and starting with `$`; `.field`
//! (with `\.` escaping a dot), `['quoted key']`, `[n]`/`[-n]`, `[start:end:step]`, `[a,b]`
//! unions, `*`/`[*]`, `..field` recursive descent, and `[?(@.path op literal)]` filters with
//! `==`, `!=`, `<`, `>`, `<=`, `>=` or bare existence. Missing keys and out-of-range indices
//! yield no result (the server and kubectl both allow missing keys). Not supported: template
//! text around several `{}` groups, `range`/`end`, and filter conjunctions. Nothing here may
//! panic on input.

use serde_json::Value;

/// A parse error, worded after client-go's jsonpath parser where practical.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonPathError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Child(String),
    Index(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Wildcard,
    Recursive,
    Union(Vec<Segment>),
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// A path relative to the current element (`@...`) or the root (`$...`).
    Path {
        from_root: bool,
        segments: Vec<Segment>,
    },
    Literal(Value),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Operand,
    cmp: Option<(CmpOp, Operand)>,
}

/// A parsed JSONPath expression.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    segments: Vec<Segment>,
}

/// Parses an expression such as `.status.conditions[?(@.type=="Ready")].status` or
/// `{.metadata.name}`.
pub fn parse(expr: &str) -> Result<JsonPath, JsonPathError> {
    let t = expr.trim();
    let inner = match (t.strip_prefix('{'), t.ends_with('}')) {
        (Some(rest), true) => rest.strip_suffix('}').unwrap_or(rest).trim(),
        (Some(_), false) => return Err(JsonPathError(format!("unclosed action in {expr:?}"))),
        (None, _) => t,
    };
    let chars: Vec<char> = inner.chars().collect();
    let mut p = P { c: &chars, i: 0 };
    p.skip_ws();
    if p.peek() == Some('$') {
        p.i += 1;
    }
    let segments = p.segments(&|_| false)?;
    p.skip_ws();
    if let Some(c) = p.peek() {
        return Err(JsonPathError(format!("unrecognized character in action: {c:?}")));
    }
    Ok(JsonPath { segments })
}

struct P<'a> {
    c: &'a [char],
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.c.get(self.i + k).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    fn err<T>(&self, msg: &str) -> Result<T, JsonPathError> {
        Err(JsonPathError(msg.to_string()))
    }

    /// Segments until the end or until `stop` says the next character ends the path.
    fn segments(&mut self, stop: &dyn Fn(char) -> bool) -> Result<Vec<Segment>, JsonPathError> {
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else { return Ok(out) };
            if stop(c) || c.is_whitespace() {
                return Ok(out);
            }
            match c {
                '.' => {
                    self.i += 1;
                    if self.peek() == Some('.') {
                        self.i += 1;
                        out.push(Segment::Recursive);
                    }
                    match self.peek() {
                        Some('*') => {
                            self.i += 1;
                            out.push(Segment::Wildcard);
                        }
                        Some('[') | None => {}
                        Some(_) => {
                            let name = self.ident(stop);
                            if !name.is_empty() {
                                out.push(Segment::Child(name));
                            }
                        }
                    }
                }
                '[' => {
                    self.i += 1;
                    out.push(self.bracket()?);
                }
                _ => {
                    // A leading bare name (`metadata.name`) is read as a child.
                    if out.is_empty() {
                        let name = self.ident(stop);
                        if name.is_empty() {
                            return self.err(&format!("unrecognized character in action: {c:?}"));
                        }
                        out.push(Segment::Child(name));
                    } else {
                        return self.err(&format!("unrecognized character in action: {c:?}"));
                    }
                }
            }
        }
    }

    fn ident(&mut self, stop: &dyn Fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' && self.peek_at(1) == Some('.') {
                s.push('.');
                self.i += 2;
                continue;
            }
            if c == '.' || c == '[' || c.is_whitespace() || stop(c) {
                break;
            }
            s.push(c);
            self.i += 1;
        }
        s
    }

    fn quoted(&mut self) -> Result<String, JsonPathError> {
        let Some(q) = self.peek() else {
            return self.err("unterminated quoted string");
        };
        self.i += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return self.err("unterminated quoted string"),
                Some('\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) => {
                            s.push(match c {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                            self.i += 1;
                        }
                        None => return self.err("unterminated quoted string"),
                    }
                }
                Some(c) if c == q => {
                    self.i += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn bracket(&mut self) -> Result<Segment, JsonPathError> {
        self.skip_ws();
        if self.peek() == Some('?') {
            self.i += 1;
            self.skip_ws();
            if self.peek() != Some('(') {
                return self.err("unrecognized filter: expected '(' after '?'");
            }
            self.i += 1;
            let f = self.filter()?;
            self.skip_ws();
            if self.peek() != Some(')') {
                return self.err("unclosed filter: expected ')'");
            }
            self.i += 1;
            self.skip_ws();
            if self.peek() != Some(']') {
                return self.err("unclosed array expect ]");
            }
            self.i += 1;
            return Ok(Segment::Filter(Box::new(f)));
        }
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some('*') => {
                    self.i += 1;
                    items.push(Segment::Wildcard);
                }
                Some('\'' | '"') => items.push(Segment::Child(self.quoted()?)),
                Some(_) => items.push(self.index_or_slice()?),
                None => return self.err("unclosed array expect ]"),
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => self.i += 1,
                Some(']') => {
                    self.i += 1;
                    break;
                }
                _ => return self.err("unclosed array expect ]"),
            }
        }
        match items.len() {
            1 => Ok(items.pop().unwrap_or(Segment::Wildcard)),
            _ => Ok(Segment::Union(items)),
        }
    }

    fn int(&mut self) -> Result<Option<i64>, JsonPathError> {
        self.skip_ws();
        let start = self.i;
        if self.peek() == Some('-') || self.peek() == Some('+') {
            self.i += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let text: String = self.c.get(start..self.i).unwrap_or(&[]).iter().collect();
        self.skip_ws();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<i64>().map(Some).map_err(|_| JsonPathError(format!("invalid array index {text}")))
    }

    fn index_or_slice(&mut self) -> Result<Segment, JsonPathError> {
        let first = self.int()?;
        if self.peek() != Some(':') {
            return match first {
                Some(n) => Ok(Segment::Index(n)),
                None => self.err(&format!("invalid array index {:?}", self.peek().unwrap_or(' '))),
            };
        }
        self.i += 1;
        let second = self.int()?;
        let mut step = None;
        if self.peek() == Some(':') {
            self.i += 1;
            step = self.int()?;
        }
        Ok(Segment::Slice(first, second, step))
    }

    fn operand(&mut self) -> Result<Operand, JsonPathError> {
        self.skip_ws();
        let stop = |c: char| matches!(c, ')' | '=' | '!' | '<' | '>');
        match self.peek() {
            Some('@') | Some('$') => {
                let from_root = self.peek() == Some('$');
                self.i += 1;
                Ok(Operand::Path { from_root, segments: self.segments(&stop)? })
            }
            Some('\'' | '"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(_) => {
                let start = self.i;
                while self.peek().is_some_and(|c| !c.is_whitespace() && !stop(c)) {
                    self.i += 1;
                }
                let text: String = self.c.get(start..self.i).unwrap_or(&[]).iter().collect();
                match text.as_str() {
                    "true" => Ok(Operand::Literal(Value::Bool(true))),
                    "false" => Ok(Operand::Literal(Value::Bool(false))),
                    _ => {
                        if let Ok(n) = text.parse::<i64>() {
                            Ok(Operand::Literal(Value::from(n)))
                        } else if let Some(f) = text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                            Ok(Operand::Literal(Value::Number(f)))
                        } else {
                            self.err(&format!("unrecognized identifier {text}"))
                        }
                    }
                }
            }
            None => self.err("unclosed filter: expected ')'"),
        }
    }

    fn filter(&mut self) -> Result<Filter, JsonPathError> {
        let left = self.operand()?;
        self.skip_ws();
        let two: String = [self.peek(), self.peek_at(1)].iter().flatten().collect();
        let (op, len) = match (two.as_str(), self.peek()) {
            ("==", _) => (CmpOp::Eq, 2),
            ("!=", _) => (CmpOp::Ne, 2),
            ("<=", _) => (CmpOp::Le, 2),
            (">=", _) => (CmpOp::Ge, 2),
            (_, Some('<')) => (CmpOp::Lt, 1),
            (_, Some('>')) => (CmpOp::Gt, 1),
            (_, Some('=')) => (CmpOp::Eq, 1),
            _ => return Ok(Filter { left, cmp: None }),
        };
        self.i += len;
        let right = self.operand()?;
        Ok(Filter { left, cmp: Some((op, right)) })
    }
}

impl JsonPath {
    /// All results, in document order (object members in their stored order).
    pub fn eval(&self, v: &Value) -> Vec<Value> {
        eval_segments(&self.segments, v, v).into_iter().cloned().collect()
    }
}

fn eval_segments<'a>(segs: &[Segment], root: &'a Value, start: &'a Value) -> Vec<&'a Value> {
    let mut cur = vec![start];
    for s in segs {
        let mut next = Vec::new();
        for v in cur {
            apply(s, root, v, &mut next);
        }
        cur = next;
    }
    cur
}

fn apply<'a>(seg: &Segment, root: &'a Value, v: &'a Value, out: &mut Vec<&'a Value>) {
    match seg {
        Segment::Child(name) => {
            if let Some(x) = v.as_object().and_then(|o| o.get(name)) {
                out.push(x);
            }
        }
        Segment::Index(i) => {
            if let Some(a) = v.as_array() {
                let len = a.len() as i64;
                let idx = if *i < 0 { i + len } else { *i };
                if let Some(x) = usize::try_from(idx).ok().and_then(|u| a.get(u)) {
                    out.push(x);
                }
            }
        }
        Segment::Slice(start, end, step) => {
            if let Some(a) = v.as_array() {
                let len = a.len() as i64;
                let norm = |x: i64| if x < 0 { (x + len).max(0) } else { x.min(len) };
                let s = norm(start.unwrap_or(0));
                let e = norm(end.unwrap_or(len));
                let st = step.filter(|n| *n > 0).unwrap_or(1);
                let mut i = s;
                while i < e {
                    if let Some(x) = usize::try_from(i).ok().and_then(|u| a.get(u)) {
                        out.push(x);
                    }
                    i = i.saturating_add(st);
                }
            }
        }
        Segment::Wildcard => match v {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(o) => out.extend(o.values()),
            _ => {}
        },
        Segment::Recursive => recursive(v, out),
        Segment::Union(items) => {
            for s in items {
                apply(s, root, v, out);
            }
        }
        Segment::Filter(f) => {
            if let Some(a) = v.as_array() {
                out.extend(a.iter().filter(|item| filter_matches(f, root, item)));
            }
        }
    }
}

fn recursive<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    let children: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        _ => return,
    };
    if children.is_empty() {
        return;
    }
    out.push(v);
    for c in children {
        recursive(c, out);
    }
}

fn operand_value<'a>(o: &'a Operand, root: &'a Value, item: &'a Value) -> Option<&'a Value> {
    match o {
        Operand::Literal(l) => Some(l),
        Operand::Path { from_root, segments } => {
            let start = if *from_root { root } else { item };
            eval_segments(segments, root, start).into_iter().next()
        }
    }
}

fn filter_matches(f: &Filter, root: &Value, item: &Value) -> bool {
    let Some(left) = operand_value(&f.left, root, item) else {
        return false;
    };
    let Some((op, right)) = &f.cmp else {
        return true;
    };
    let Some(right) = operand_value(right, root, item) else {
        return false;
    };
    let ord = match (left, right) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (a, b) => {
            return match op {
                CmpOp::Eq => a == b,
                CmpOp::Ne => a != b,
                _ => false,
            }
        }
    };
    let Some(ord) = ord else { return false };
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => ord == Equal,
        CmpOp::Ne => ord != Equal,
        CmpOp::Lt => ord == Less,
        CmpOp::Gt => ord == Greater,
        CmpOp::Le => ord != Greater,
        CmpOp::Ge => ord != Less,
    }
}

/// Renders values as `kubectl -o jsonpath` / the `string` printer column does: strings raw,
/// numbers and booleans bare, objects and arrays as compact JSON with sorted keys (Go's
/// `json.Marshal`), several results separated by a space.
pub fn to_text(values: &[Value]) -> String {
    values.iter().map(text_of).collect::<Vec<_>>().join(" ")
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => number_text(n),
        Value::Bool(b) => b.to_string(),
        Value::Null => "<nil>".to_string(),
        other => sorted_json(other),
    }
}

fn number_text(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i.to_string(),
        (_, Some(u), _) => u.to_string(),
        (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        (_, _, Some(f)) => f.to_string(),
        _ => n.to_string(),
    }
}

fn sorted_json(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), o.get(k).map(sorted_json).unwrap_or_default()))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(sorted_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// One `additionalPrinterColumns` cell as kube-apiserver's table convertor sends it: only the
/// first result counts; no result or `null` → `null` (kubectl prints `<none>`); `string`
/// renders any value as text; `integer`/`number`/`boolean` convert matching JSON types and
/// give `null` otherwise; `date` gives the age of an RFC 3339 timestamp (`5m`, `3d4h`),
/// `<invalid>` for an unparsable one and `<unknown>` for `""`. Unknown types give `null`.
pub fn printer_cell(v: &[Value], column_type: &str) -> Value {
    printer_cell_at(v, column_type, jiff::Timestamp::now())
}

/// [`printer_cell`] with an explicit "now" for `date` columns.
pub fn printer_cell_at(v: &[Value], column_type: &str, now: jiff::Timestamp) -> Value {
    let Some(first) = v.first() else {
        return Value::Null;
    };
    if first.is_null() {
        return Value::Null;
    }
    match column_type {
        "string" => Value::String(text_of(first)),
        "integer" => match first {
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Value::from(i),
                (None, Some(f)) if f.is_finite() => Value::from(f as i64),
                _ => Value::Null,
            },
            _ => Value::Null,
        },
        "number" => match first.as_f64().and_then(serde_json::Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::Null,
        },
        "boolean" => match first {
            Value::Bool(b) => Value::Bool(*b),
            _ => Value::Null,
        },
        "date" => match first {
            Value::String(s) if s.is_empty() || s == "null" => Value::String("<unknown>".into()),
            Value::String(s) => match s.parse::<jiff::Timestamp>() {
                Ok(t) => Value::String(human_duration(now.as_second().saturating_sub(t.as_second()))),
                Err(_) => Value::String("<invalid>".into()),
            },
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// `duration.HumanDuration` for a whole number of seconds.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ev(expr: &str, v: &Value) -> Vec<Value> {
        match parse(expr) {
            Ok(p) => p.eval(v),
            Err(e) => panic!("{expr}: {e}"),
        }
    }

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web", "annotations": {"example.com/a.b": "dotted"}},
            "spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}, {"name": "b", "image": "y"}]},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "n": 3},
                {"type": "Scheduled", "status": "False", "n": 1}
            ]}
        })
    }

    #[test]
    fn fields_indices_and_wildcards() {
        let p = pod();
        assert_eq!(ev(".metadata.name", &p), vec![json!("web")]);
        assert_eq!(ev("{.metadata.name}", &p), vec![json!("web")]);
        assert_eq!(ev("$.metadata.name", &p), vec![json!("web")]);
        assert_eq!(ev(".spec.containers[0].name", &p), vec![json!("a")]);
        assert_eq!(ev(".spec.containers[-1].name", &p), vec![json!("b")]);
        assert_eq!(ev(".spec.containers[*].image", &p), vec![json!("x"), json!("y")]);
        assert_eq!(ev(".spec.containers.*.name", &p), vec![json!("a"), json!("b")]);
        assert_eq!(ev(".spec.containers[0:1].name", &p), vec![json!("a")]);
        assert_eq!(ev(".spec.containers[0,1].name", &p), vec![json!("a"), json!("b")]);
        assert_eq!(ev(".metadata.annotations['example.com/a.b']", &p), vec![json!("dotted")]);
        assert_eq!(ev(".metadata.annotations.example\\.com/a\\.b", &p), vec![json!("dotted")]);
        assert!(ev(".spec.containers[5].name", &p).is_empty());
        assert!(ev(".nope.deeper", &p).is_empty());
    }

    #[test]
    fn recursive_descent_and_filters() {
        let p = pod();
        assert_eq!(ev("..name", &p), vec![json!("web"), json!("a"), json!("b")]);
        assert_eq!(ev("..containerPort", &p), vec![json!(80)]);
        assert_eq!(ev(".status.conditions[?(@.type==\"Ready\")].status", &p), vec![json!("True")]);
        assert_eq!(ev(".status.conditions[?(@.type=='Scheduled')].status", &p), vec![json!("False")]);
        assert_eq!(ev(".status.conditions[?(@.type!=\"Ready\")].type", &p), vec![json!("Scheduled")]);
        assert_eq!(ev(".status.conditions[?(@.n > 2)].type", &p), vec![json!("Ready")]);
        assert_eq!(ev(".status.conditions[?(@.n<=1)].type", &p), vec![json!("Scheduled")]);
        assert_eq!(ev(".status.conditions[?(@.n>=1)].type", &p).len(), 2);
        assert_eq!(ev(".status.conditions[?(@.n<3)].type", &p), vec![json!("Scheduled")]);
        assert_eq!(ev(".spec.containers[?(@.ports)].name", &p), vec![json!("a")]);
    }

    #[test]
    fn parse_errors() {
        assert!(parse("{.a").is_err());
        assert!(parse(".a[").is_err());
        assert!(parse(".a[?(@.b==)]").is_err());
        assert!(parse(".a['x]").is_err());
        assert!(parse(".a b").is_err());
    }

    #[test]
    fn printer_cells_follow_the_table_convertor() {
        let now: jiff::Timestamp = "2024-01-10T00:00:00Z".parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(printer_cell_at(&[], "string", now), Value::Null);
        assert_eq!(printer_cell_at(&[Value::Null], "integer", now), Value::Null);
        assert_eq!(printer_cell_at(&[json!("a"), json!("b")], "string", now), json!("a"));
        assert_eq!(printer_cell_at(&[json!(3)], "string", now), json!("3"));
        assert_eq!(printer_cell_at(&[json!({"b": 1, "a": [true]})], "string", now), json!("{\"a\":[true],\"b\":1}"));
        assert_eq!(printer_cell_at(&[json!(2.7)], "integer", now), json!(2));
        assert_eq!(printer_cell_at(&[json!("2")], "integer", now), Value::Null);
        assert_eq!(printer_cell_at(&[json!(2)], "number", now), json!(2.0));
        assert_eq!(printer_cell_at(&[json!(true)], "boolean", now), json!(true));
        assert_eq!(printer_cell_at(&[json!("true")], "boolean", now), Value::Null);
        assert_eq!(printer_cell_at(&[json!("2024-01-09T23:55:00Z")], "date", now), json!("5m"));
        assert_eq!(printer_cell_at(&[json!("2024-01-07T20:00:00Z")], "date", now), json!("2d4h"));
        assert_eq!(printer_cell_at(&[json!("yesterday")], "date", now), json!("<invalid>"));
        assert_eq!(printer_cell_at(&[json!("")], "date", now), json!("<unknown>"));
        assert_eq!(printer_cell_at(&[json!(1)], "mystery", now), Value::Null);
    }

    #[test]
    fn human_durations() {
        for (s, want) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (8 * 3600, "8h"),
            (50 * 3600, "2d2h"),
            (10 * 86400, "10d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn parse_and_eval_never_panic(s in ".{0,40}") {
            if let Ok(p) = parse(&s) {
                let _ = p.eval(&pod());
            }
        }

        #[test]
        fn path_like_strings_never_panic(s in "[{}$@.\\[\\]?()*:,'\"=!<>a-c0-9 -]{0,30}") {
            if let Ok(p) = parse(&s) {
                let out = p.eval(&pod());
                let _ = printer_cell(&out, "string");
                let _ = to_text(&out);
            }
        }
    }
}
