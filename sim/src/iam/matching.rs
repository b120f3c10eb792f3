//! Wildcard matching for IAM policies: `*` and `?` globs over actions, strings and ARNs, and
//! the policy-variable templates (`${aws:username}`, `${*}`, `${key, 'default'}`) that resolve
//! against a request context.
//!
//! Patterns are compiled once, when a policy is parsed; matching never builds a regex and only
//! allocates when a pattern holds a policy variable. This module must not know about policy
//! documents, effects or conditions: it answers "does this text match this pattern" and nothing
//! else.

use std::borrow::Cow;

use super::context::Context;

/// One element of a compiled glob.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Literal text, matched byte for byte (ASCII case folded when matching case-insensitively).
    Lit(Box<str>),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Length in bytes of the UTF-8 character that starts with `b`.
fn char_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn lit_at(text: &[u8], at: usize, lit: &str, ci: bool) -> bool {
    let lit = lit.as_bytes();
    match text.get(at..at + lit.len()) {
        Some(window) if ci => window.eq_ignore_ascii_case(lit),
        Some(window) => window == lit,
        None => false,
    }
}

/// Matches `text` against a token sequence. Greedy with a single backtrack point (the last
/// `*`), which is exact for globs made of `*`, `?` and literals.
pub(crate) fn match_toks(toks: &[Tok], text: &str, ci: bool) -> bool {
    let t = text.as_bytes();
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(tok) = toks.get(pi) {
            match tok {
                Tok::Star => {
                    star = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                Tok::One if ti < t.len() => {
                    ti += char_len(t[ti]);
                    pi += 1;
                    continue;
                }
                Tok::Lit(l) if lit_at(t, ti, l, ci) => {
                    ti += l.len();
                    pi += 1;
                    continue;
                }
                _ => {}
            }
        } else if ti >= t.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                let next = st + char_len(t[st]);
                star = Some((sp, next));
                pi = sp;
                ti = next;
            }
            _ => return false,
        }
    }
}

/// Appends a literal, merging it with a preceding literal.
fn push_lit(toks: &mut Vec<Tok>, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(Tok::Lit(prev)) = toks.last_mut() {
        let mut joined = String::with_capacity(prev.len() + s.len());
        joined.push_str(prev);
        joined.push_str(s);
        *prev = joined.into_boxed_str();
    } else {
        toks.push(Tok::Lit(s.into()));
    }
}

/// Splits plain text into tokens: `*` and `?` are wildcards when `wildcards` is set.
fn tokenize_into(toks: &mut Vec<Tok>, s: &str, wildcards: bool) {
    if !wildcards {
        push_lit(toks, s);
        return;
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '*' || c == '?' {
            push_lit(toks, &s[start..i]);
            // Consecutive stars are one star.
            if c == '?' {
                toks.push(Tok::One);
            } else if toks.last() != Some(&Tok::Star) {
                toks.push(Tok::Star);
            }
            start = i + 1;
        }
    }
    push_lit(toks, &s[start..]);
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Any,
    Exact,
    Prefix,
    General,
}

/// A compiled glob with fast paths for `*`, exact text and `prefix*`.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    toks: Vec<Tok>,
    shape: Shape,
}

impl Glob {
    pub(crate) fn new(pattern: &str, wildcards: bool) -> Glob {
        let mut toks = Vec::new();
        tokenize_into(&mut toks, pattern, wildcards);
        Glob::from_toks(toks)
    }

    fn from_toks(toks: Vec<Tok>) -> Glob {
        let shape = match toks.as_slice() {
            [Tok::Star] => Shape::Any,
            [] | [Tok::Lit(_)] => Shape::Exact,
            [Tok::Lit(_), Tok::Star] => Shape::Prefix,
            _ => Shape::General,
        };
        Glob { toks, shape }
    }

    pub(crate) fn matches(&self, text: &str, ci: bool) -> bool {
        match (self.shape, self.toks.as_slice()) {
            (Shape::Any, _) => true,
            (Shape::Exact, []) => text.is_empty(),
            (Shape::Exact, [Tok::Lit(l)]) => {
                if ci {
                    l.eq_ignore_ascii_case(text)
                } else {
                    **l == *text
                }
            }
            (Shape::Prefix, [Tok::Lit(l), _]) => lit_at(text.as_bytes(), 0, l, ci),
            _ => match_toks(&self.toks, text, ci),
        }
    }

    pub(crate) fn is_any(&self) -> bool {
        self.shape == Shape::Any
    }
}

/// One piece of a template: plain text (possibly with wildcards), an escape, or a variable.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    Text(Box<str>),
    /// `${*}`, `${?}` or `${$}`: the character itself, never a wildcard.
    Escape(&'static str),
    Var {
        key: Box<str>,
        default: Option<Box<str>>,
    },
}

/// A pattern that may contain policy variables. Without variables it is a precompiled glob.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    Static(Glob),
    Dynamic { parts: Vec<Part>, wildcards: bool },
}

/// Parses the inside of `${...}`: an escape, or a key with an optional quoted default.
fn parse_var(inner: &str) -> Part {
    let inner = inner.trim();
    match inner {
        "*" => return Part::Escape("*"),
        "?" => return Part::Escape("?"),
        "$" => return Part::Escape("$"),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        Some((key, rest)) => {
            let rest = rest.trim();
            let default = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')).unwrap_or(rest);
            (key.trim(), Some(default.into()))
        }
        None => (inner, None),
    };
    Part::Var { key: key.to_ascii_lowercase().into_boxed_str(), default }
}

impl Template {
    /// Compiles `raw`. `wildcards`: `*`/`?` are wildcards; `variables`: `${...}` is a policy
    /// variable (policy version 2012-10-17), otherwise it is literal text.
    pub(crate) fn new(raw: &str, wildcards: bool, variables: bool) -> Template {
        if !variables || !raw.contains("${") {
            return Template::Static(Glob::new(raw, wildcards));
        }
        let mut parts = Vec::new();
        let mut rest = raw;
        while let Some(open) = rest.find("${") {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            if open > 0 {
                parts.push(Part::Text(rest[..open].into()));
            }
            parts.push(parse_var(&rest[open + 2..open + close]));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.into()));
        }
        if parts.iter().any(|p| matches!(p, Part::Var { .. })) {
            return Template::Dynamic { parts, wildcards };
        }
        // Only escapes: resolve them once.
        let mut toks = Vec::new();
        for part in &parts {
            match part {
                Part::Text(t) => tokenize_into(&mut toks, t, wildcards),
                Part::Escape(e) => push_lit(&mut toks, e),
                Part::Var { .. } => {}
            }
        }
        Template::Static(Glob::from_toks(toks))
    }

    /// Whether `text` matches, resolving variables from `ctx`. An unresolvable variable (no
    /// such single-valued key and no default) makes the pattern match nothing.
    pub(crate) fn matches(&self, text: &str, ci: bool, ctx: &Context) -> bool {
        match self {
            Template::Static(glob) => glob.matches(text, ci),
            Template::Dynamic { parts, wildcards } => {
                let mut toks = Vec::with_capacity(parts.len() * 2);
                for part in parts {
                    match part {
                        Part::Text(t) => tokenize_into(&mut toks, t, *wildcards),
                        Part::Escape(e) => push_lit(&mut toks, e),
                        Part::Var { key, default } => match resolve(ctx, key, default.as_deref()) {
                            Some(value) => push_lit(&mut toks, &value),
                            None => return false,
                        },
                    }
                }
                match_toks(&toks, text, ci)
            }
        }
    }

    pub(crate) fn is_any(&self) -> bool {
        matches!(self, Template::Static(g) if g.is_any())
    }
}

/// The value of a policy variable: a single-valued context key, else the default.
fn resolve<'c>(ctx: &'c Context, key: &str, default: Option<&'c str>) -> Option<Cow<'c, str>> {
    match ctx.get_lower(key).and_then(|v| v.single()) {
        Some(v) => Some(v.as_str()),
        None => default.map(Cow::Borrowed),
    }
}

/// Splits an ARN pattern at its first five colons, ignoring colons inside `${...}`.
fn split_arn_pattern(raw: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(6);
    let bytes = raw.as_bytes();
    let (mut start, mut depth, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() && out.len() < 5 {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth > 0 => depth -= 1,
            b':' if depth == 0 => {
                out.push(&raw[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&raw[start..]);
    out
}

/// A Resource / NotResource / ArnLike pattern. With six colon-separated parts it is matched
/// part by part (a wildcard does not cross a colon except in the final resource part, as IAM
/// documents for ARN matching); anything else is matched as one glob over the whole text.
#[derive(Debug, Clone)]
pub(crate) enum ArnPattern {
    Any,
    Whole(Template),
    Parts(Box<[Template]>),
}

impl ArnPattern {
    pub(crate) fn new(raw: &str, variables: bool) -> ArnPattern {
        if raw == "*" {
            return ArnPattern::Any;
        }
        let parts = split_arn_pattern(raw);
        if parts.len() == 6 {
            ArnPattern::Parts(parts.iter().map(|p| Template::new(p, true, variables)).collect())
        } else {
            let t = Template::new(raw, true, variables);
            if t.is_any() {
                ArnPattern::Any
            } else {
                ArnPattern::Whole(t)
            }
        }
    }

    /// Case-sensitive match of an ARN (or other resource text).
    pub(crate) fn matches(&self, arn: &str, ctx: &Context) -> bool {
        match self {
            ArnPattern::Any => true,
            ArnPattern::Whole(t) => t.matches(arn, false, ctx),
            ArnPattern::Parts(parts) => {
                let mut segs = arn.splitn(6, ':');
                for part in parts.iter() {
                    match segs.next() {
                        Some(seg) if part.matches(seg, false, ctx) => {}
                        _ => return false,
                    }
                }
                true
            }
        }
    }
}
