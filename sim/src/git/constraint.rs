//! `spec.ref.semver` of a GitRepository: version constraints with the meaning
//! Masterminds/semver v3 gives them (the library source-controller uses), and the tag names
//! that count as versions for fluxcd/pkg `version.ParseVersion`.
//!
//! Supported: comparisons (`=`, `!=`, `>`, `<`, `>=`, `=>`, `<=`, `=<`), tilde (`~`, `~>`),
//! caret (`^`), wildcards (`1.x`, `1.2.*`, `*`), partial versions (`1`, `1.2`), hyphen ranges
//! (`1.2 - 1.4.5`), AND groups separated by spaces or commas and OR groups separated by `||`.
//! Prereleases match only when a constraint of the same AND group has a prerelease, as in
//! Masterminds. Anything else is refused with Masterminds' `improper constraint: "<part>"`.
//! The `semver` crate holds the parsed versions and orders prereleases; the constraint
//! grammar and semantics are this module's own reading of Masterminds' documented behaviour.
//! This module must not know about Git: [`super::fetch`] lists the tags and picks one.

use std::cmp::Ordering;

use semver::{BuildMetadata, Prerelease, Version};

use crate::apiserver::gofmt::go_quote;

/// A parsed constraint expression: OR groups of AND groups.
#[derive(Debug, Clone)]
pub struct Constraints {
    groups: Vec<Group>,
}

#[derive(Debug, Clone)]
struct Group {
    items: Vec<Item>,
    /// Some item has a prerelease: prerelease versions may match this group.
    include_pre: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

#[derive(Debug, Clone)]
struct Item {
    op: Op,
    con: Version,
    /// A wildcard or missing part: `dirty` for any, `minor_dirty` from the minor on,
    /// `patch_dirty` for the patch only.
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// Why a constraint expression is refused, worded as Masterminds/semver v3.5 words it
/// (`constraints.go`: `improper constraint: %q`, and `constraint parser error` for a version
/// part that is neither a number nor a wildcard).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConstraintError(pub String);

impl Constraints {
    /// Parses an expression such as `>=1.0.0 <2.0.0 || ^3.1`.
    pub fn parse(text: &str) -> Result<Self, ConstraintError> {
        let mut groups = Vec::new();
        for segment in text.split("||") {
            let items = parse_group(segment)?;
            let include_pre = items.iter().any(|i| !i.con.pre.is_empty());
            groups.push(Group { items, include_pre });
        }
        Ok(Constraints { groups })
    }

    /// Whether `v` satisfies some OR group.
    pub fn matches(&self, v: &Version) -> bool {
        self.groups.iter().any(|g| g.items.iter().all(|i| i.check(v, g.include_pre)))
    }
}

/// A tag name as a version, as fluxcd/pkg `version.ParseVersion` reads it: three
/// dot-separated parts, an optional `v`, leading zeros allowed, then Masterminds' loose
/// grammar (`v1.2-rc.1` is 1.2.0-rc.1). `None` for tags that are not versions.
pub fn parse_tag_version(tag: &str) -> Option<Version> {
    if tag.splitn(3, '.').count() != 3 {
        return None;
    }
    let rest = tag.strip_prefix('v').unwrap_or(tag);
    let (numbers, pre, build) = split_pre_build(rest)?;
    let mut parts = numbers.split('.');
    let major = parse_number(parts.next()?)?;
    let minor = parts.next().map(parse_number).unwrap_or(Some(0))?;
    let patch = parts.next().map(parse_number).unwrap_or(Some(0))?;
    if parts.next().is_some() {
        return None;
    }
    let pre = if pre.is_empty() { Prerelease::EMPTY } else { Prerelease::new(pre).ok()? };
    let build = if build.is_empty() { BuildMetadata::EMPTY } else { BuildMetadata::new(build).ok()? };
    Some(Version { major, minor, patch, pre, build })
}

/// Orders versions as Masterminds does: build metadata does not count.
pub fn compare(a: &Version, b: &Version) -> Ordering {
    a.cmp_precedence(b)
}

fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `1.2.3-pre.1+build` → (`1.2.3`, `pre.1`, `build`); `None` if an extra part is empty or has
/// characters outside `[0-9A-Za-z-.]`.
fn split_pre_build(s: &str) -> Option<(&str, &str, &str)> {
    let (main, build) = match s.find('+') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let (numbers, pre) = match main.find('-') {
        Some(i) => (&main[..i], &main[i + 1..]),
        None => (main, ""),
    };
    let ident_ok =
        |x: &str| x.split('.').all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if (s.contains('+') && !ident_ok(build)) || (main.contains('-') && !ident_ok(pre)) {
        return None;
    }
    Some((numbers, pre, build))
}

fn improper(segment: &str) -> ConstraintError {
    ConstraintError(format!("improper constraint: {}", go_quote(segment)))
}

fn parser_error() -> ConstraintError {
    ConstraintError("constraint parser error".to_string())
}

/// One version in a constraint, as written: parts may be wildcards or missing.
struct Written<'a> {
    parts: Vec<&'a str>,
    pre: &'a str,
    build: &'a str,
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while let Some(c) = self.rest().chars().next() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.pos > start
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn op(&mut self) -> Option<Op> {
        for (token, op) in [
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("=>", Op::Ge),
            ("<=", Op::Le),
            ("=<", Op::Le),
            ("~>", Op::Tilde),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
            ("~", Op::Tilde),
            ("^", Op::Caret),
        ] {
            if self.eat(token) {
                return Some(op);
            }
        }
        None
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.pos < self.s.len() && f(self.s.as_bytes()[self.pos]) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// `v?P(.P)?(.P)?(-ids)?(+ids)?` where P is digits or wildcards.
    fn version(&mut self) -> Option<Written<'a>> {
        let start = self.pos;
        self.eat("v");
        let part = |b: u8| b.is_ascii_digit() || b == b'x' || b == b'X' || b == b'*';
        let first = self.take_while(part);
        if first.is_empty() {
            self.pos = start;
            return None;
        }
        let mut parts = vec![first];
        while parts.len() < 3 && self.rest().starts_with('.') {
            let save = self.pos;
            self.pos += 1;
            let p = self.take_while(part);
            if p.is_empty() {
                self.pos = save;
                break;
            }
            parts.push(p);
        }
        let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
        let mut pre = "";
        if self.rest().starts_with('-') && self.rest().len() > 1 && ident(self.rest().as_bytes()[1]) {
            self.pos += 1;
            pre = self.take_while(ident);
        }
        let mut build = "";
        if self.rest().starts_with('+') {
            self.pos += 1;
            build = self.take_while(ident);
        }
        Some(Written { parts, pre, build })
    }
}

fn parse_group(segment: &str) -> Result<Vec<Item>, ConstraintError> {
    let mut cur = Cursor { s: segment, pos: 0 };
    let mut items = Vec::new();
    cur.skip_ws();
    loop {
        let op = cur.op();
        cur.skip_ws();
        let Some(written) = cur.version() else { return Err(improper(segment)) };
        let ws = cur.skip_ws();
        // A hyphen range `A - B` of two plain versions: >= A, <= B.
        if op.is_none() && ws && cur.rest().starts_with('-') {
            let save = cur.pos;
            cur.pos += 1;
            if cur.skip_ws() {
                if let Some(upper) = cur.version() {
                    items.push(item(Op::Ge, &written)?);
                    items.push(item(Op::Le, &upper)?);
                    let ws = cur.skip_ws();
                    if !next_item(&mut cur, ws, segment)? {
                        return Ok(items);
                    }
                    continue;
                }
            }
            cur.pos = save;
        }
        items.push(item(op.unwrap_or(Op::Eq), &written)?);
        if !next_item(&mut cur, ws, segment)? {
            return Ok(items);
        }
    }
}

/// After an item: `Ok(false)` at the end, `Ok(true)` if another item follows (after
/// whitespace or a comma), an error otherwise.
fn next_item(cur: &mut Cursor<'_>, had_ws: bool, segment: &str) -> Result<bool, ConstraintError> {
    if cur.rest().is_empty() {
        return Ok(false);
    }
    if cur.eat(",") {
        cur.skip_ws();
        if cur.rest().is_empty() {
            return Err(improper(segment));
        }
        return Ok(true);
    }
    if had_ws {
        return Ok(true);
    }
    Err(improper(segment))
}

fn is_wild(p: &str) -> bool {
    matches!(p, "x" | "X" | "*")
}

fn item(op: Op, w: &Written<'_>) -> Result<Item, ConstraintError> {
    let number = |p: &str| -> Result<u64, ConstraintError> {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            p.parse().map_err(|_| parser_error())
        } else {
            Err(parser_error())
        }
    };
    let pre = if w.pre.is_empty() { Prerelease::EMPTY } else { Prerelease::new(w.pre).map_err(|_| parser_error())? };
    if !w.build.is_empty() {
        BuildMetadata::new(w.build).map_err(|_| parser_error())?;
    }
    let minor_part = w.parts.get(1).copied();
    let patch_part = w.parts.get(2).copied();
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let (major, minor, patch);
    if is_wild(w.parts[0]) {
        dirty = true;
        (major, minor, patch) = (0, 0, 0);
    } else if minor_part.is_none_or(is_wild) {
        dirty = true;
        minor_dirty = true;
        (major, minor, patch) = (number(w.parts[0])?, 0, 0);
    } else if patch_part.is_none_or(is_wild) {
        dirty = true;
        patch_dirty = true;
        (major, minor, patch) = (number(w.parts[0])?, number(minor_part.unwrap_or("0"))?, 0);
    } else {
        (major, minor, patch) =
            (number(w.parts[0])?, number(minor_part.unwrap_or("0"))?, number(patch_part.unwrap_or("0"))?);
    }
    let con = Version { major, minor, patch, pre, build: BuildMetadata::EMPTY };
    Ok(Item { op, con, dirty, minor_dirty, patch_dirty })
}

impl Item {
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        let cmp = compare(v, c);
        match self.op {
            Op::Eq => {
                if self.dirty {
                    self.tilde(v, cmp)
                } else {
                    cmp == Ordering::Equal
                }
            }
            Op::Ne => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    }
                    if self.minor_dirty {
                        return false;
                    }
                    if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    }
                    if self.patch_dirty {
                        return (!v.pre.is_empty() || !c.pre.is_empty()) && v.pre != c.pre;
                    }
                }
                cmp != Ordering::Equal
            }
            Op::Gt => {
                if !self.dirty {
                    return cmp == Ordering::Greater;
                }
                match v.major.cmp(&c.major) {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal if self.minor_dirty => false,
                    Ordering::Equal if self.patch_dirty => v.minor > c.minor,
                    Ordering::Equal => cmp == Ordering::Greater,
                }
            }
            Op::Lt => cmp == Ordering::Less,
            Op::Ge => cmp != Ordering::Less,
            Op::Le => {
                if !self.dirty {
                    return cmp != Ordering::Greater;
                }
                if v.major > c.major {
                    return false;
                }
                !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            Op::Tilde => self.tilde(v, cmp),
            Op::Caret => {
                if cmp == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                if v.minor > 0 {
                    return false;
                }
                v.patch == c.patch
            }
        }
    }

    /// `~1.2.3` is `>=1.2.3 <1.3.0`; `~1` is `>=1.0.0 <2.0.0`; `~0.0.0` (and `~*`) is anything.
    fn tilde(&self, v: &Version, cmp: Ordering) -> bool {
        let c = &self.con;
        if cmp == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }
}
