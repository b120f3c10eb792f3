//! Which files of a Git checkout source-controller leaves out of an artifact: its default
//! exclusions, `.sourceignore` files and `spec.ignore`, with the pattern semantics of the
//! gitignore package source-controller uses (fluxcd/pkg `sourceignore/gitignore`, a copy of
//! go-git's), which differ from git's own in places: each path is matched on its own (a
//! negation can re-include a file under an excluded directory), a name pattern matches any
//! component of the path, and `dir/**` also matches `dir` itself.
//!
//! The rules, from fluxcd/pkg `sourceignore/sourceignore.go` and
//! `artifact/storage/archive.go` (`SourceIgnoreFilter`), as source-controller v1.8's
//! `reconcileArtifact` in `internal/controller/gitrepository_controller.go` combines them:
//! * the VCS patterns (`.git/`, `.gitignore`, `.gitmodules`, `.gitattributes`) always apply;
//! * the `.sourceignore` patterns of every directory (the root's first, then subdirectories
//!   depth-first in name order), then `spec.ignore`, are added with higher priority;
//! * the default patterns (images, archives, CI files, `.goreleaser.yml`, `.sops.yaml`,
//!   `.flux.yaml`) apply only when there are no `.sourceignore` or `spec.ignore` patterns at
//!   all: either of them replaces the defaults.
//!
//! The matcher is this module's own (about 200 lines) rather than the `ignore` crate's
//! `gitignore` module: that one implements git's semantics, which differ from go-git's in the
//! ways listed above, and would add the crossbeam crates to the build.
//!
//! This module must not touch the file system: [`super::export`] walks the tree and asks.

/// Always excluded (fluxcd/pkg `sourceignore.ExcludeVCS`).
pub const EXCLUDE_VCS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];
/// Excluded unless `.sourceignore` files or `spec.ignore` give patterns (fluxcd/pkg
/// `sourceignore.ExcludeExt`, `ExcludeCI`, `ExcludeExtra`).
pub const EXCLUDE_DEFAULT: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];
/// The per-directory ignore file.
pub const IGNORE_FILE: &str = ".sourceignore";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    NoMatch,
    Exclude,
    Include,
}

/// One pattern, scoped to the directory whose `.sourceignore` it came from.
#[derive(Debug, Clone)]
pub struct Pattern {
    domain: Vec<String>,
    parts: Vec<Glob>,
    /// The parts as written (`**` and empty parts matter).
    raw_parts: Vec<String>,
    inclusion: bool,
    dir_only: bool,
    /// Has a `/`: matched part by part from the domain, not against any one name.
    anchored: bool,
}

impl Pattern {
    /// Parses one line (not a comment, not blank) in the directory `domain` (path components
    /// relative to the export root; empty for the root).
    pub fn parse(line: &str, domain: &[String]) -> Pattern {
        let mut p = line;
        let mut inclusion = false;
        if let Some(rest) = p.strip_prefix('!') {
            inclusion = true;
            p = rest;
        }
        if !p.ends_with("\\ ") {
            p = p.trim_end_matches(' ');
        }
        let mut dir_only = false;
        if let Some(rest) = p.strip_suffix('/') {
            dir_only = true;
            p = rest;
        }
        let anchored = p.contains('/');
        let raw_parts: Vec<String> = p.split('/').map(str::to_string).collect();
        let parts = raw_parts.iter().map(|s| Glob::new(s)).collect();
        Pattern { domain: domain.to_vec(), parts, raw_parts, inclusion, dir_only, anchored }
    }

    fn outcome(&self, path: &[&str], is_dir: bool) -> Outcome {
        if path.len() <= self.domain.len() || self.domain.iter().zip(path).any(|(d, p)| d != p) {
            return Outcome::NoMatch;
        }
        let path = &path[self.domain.len()..];
        let matched = if self.anchored { self.match_parts(path, is_dir) } else { self.match_name(path, is_dir) };
        match (matched, self.inclusion) {
            (false, _) => Outcome::NoMatch,
            (true, true) => Outcome::Include,
            (true, false) => Outcome::Exclude,
        }
    }

    /// A pattern without `/`: any component may match; a directory-only pattern does not
    /// match a file that is the last component.
    fn match_name(&self, path: &[&str], is_dir: bool) -> bool {
        let glob = &self.parts[0];
        for (i, name) in path.iter().enumerate() {
            match glob.matches(name) {
                None => return false,
                Some(false) => continue,
                Some(true) => return !(self.dir_only && !is_dir && i == path.len() - 1),
            }
        }
        false
    }

    /// A pattern with `/`: parts match leading components; `**` skips any number; a match of
    /// all parts also matches what is below.
    fn match_parts(&self, mut path: &[&str], is_dir: bool) -> bool {
        let mut matched = false;
        let mut can_traverse = false;
        let last = self.parts.len() - 1;
        for (i, (glob, raw)) in self.parts.iter().zip(&self.raw_parts).enumerate() {
            if raw.is_empty() {
                can_traverse = false;
                continue;
            }
            if raw == "**" {
                if i == last {
                    break;
                }
                can_traverse = true;
                continue;
            }
            if raw.contains("**") || path.is_empty() {
                return false;
            }
            if can_traverse {
                can_traverse = false;
                while let Some((first, rest)) = path.split_first() {
                    path = rest;
                    match glob.matches(first) {
                        None => return false,
                        Some(true) => {
                            matched = true;
                            break;
                        }
                        Some(false) if path.is_empty() => matched = false,
                        Some(false) => {}
                    }
                }
            } else {
                match glob.matches(path[0]) {
                    Some(true) => {
                        matched = true;
                        path = &path[1..];
                    }
                    _ => return false,
                }
            }
        }
        matched && !(self.dir_only && !is_dir && path.is_empty())
    }
}

/// Reads the patterns of one ignore file or of `spec.ignore`: one per line; lines starting
/// with `#` and blank lines are skipped (fluxcd/pkg `sourceignore.ReadPatterns`).
pub fn read_patterns(text: &str, domain: &[String]) -> Vec<Pattern> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| Pattern::parse(l, domain))
        .collect()
}

/// The combined filter for one artifact.
#[derive(Debug, Clone)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// `user` are the `.sourceignore` patterns followed by `spec.ignore`'s, in priority order.
    pub fn new(user: Vec<Pattern>) -> Matcher {
        let root: Vec<String> = Vec::new();
        let mut patterns: Vec<Pattern> = EXCLUDE_VCS.iter().map(|p| Pattern::parse(p, &root)).collect();
        if user.is_empty() {
            patterns.extend(EXCLUDE_DEFAULT.iter().map(|p| Pattern::parse(p, &root)));
        } else {
            patterns.extend(user);
        }
        Matcher { patterns }
    }

    /// Whether the path (components relative to the export root) is left out. The last
    /// matching pattern decides.
    pub fn excludes(&self, path: &[&str], is_dir: bool) -> bool {
        for p in self.patterns.iter().rev() {
            match p.outcome(path, is_dir) {
                Outcome::NoMatch => continue,
                Outcome::Exclude => return true,
                Outcome::Include => return false,
            }
        }
        false
    }
}

/// One path component pattern with Go's `filepath.Match` syntax: `*`, `?`, `[...]` (with `^`
/// for negation and `lo-hi` ranges) and `\` escapes. A malformed pattern never matches (Go
/// reports `ErrBadPattern`, which the gitignore package treats as no match).
#[derive(Debug, Clone)]
struct Glob {
    tokens: Option<Vec<Token>>,
}

#[derive(Debug, Clone)]
enum Token {
    Literal(char),
    Any,
    Star,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

impl Glob {
    fn new(pattern: &str) -> Glob {
        Glob { tokens: tokenize(pattern) }
    }

    /// `None` for a malformed pattern.
    fn matches(&self, name: &str) -> Option<bool> {
        let tokens = self.tokens.as_ref()?;
        let name: Vec<char> = name.chars().collect();
        Some(match_tokens(tokens, &name))
    }
}

fn tokenize(pattern: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                if !matches!(tokens.last(), Some(Token::Star)) {
                    tokens.push(Token::Star);
                }
            }
            '?' => tokens.push(Token::Any),
            '\\' => tokens.push(Token::Literal(chars.next()?)),
            '[' => {
                let negated = chars.peek() == Some(&'^');
                if negated {
                    chars.next();
                }
                let mut ranges = Vec::new();
                loop {
                    match chars.peek() {
                        None => return None,
                        Some(']') if !ranges.is_empty() => {
                            chars.next();
                            break;
                        }
                        _ => {}
                    }
                    let lo = class_char(&mut chars)?;
                    let hi = if chars.peek() == Some(&'-') {
                        chars.next();
                        class_char(&mut chars)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                tokens.push(Token::Class { negated, ranges });
            }
            c => tokens.push(Token::Literal(c)),
        }
    }
    Some(tokens)
}

/// A character of a class: `-` and `]` must be escaped where a range bound is expected.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    match chars.next()? {
        '-' | ']' => None,
        '\\' => chars.next(),
        c => Some(c),
    }
}

fn match_tokens(tokens: &[Token], name: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else { return name.is_empty() };
    match first {
        Token::Star => (0..=name.len()).any(|i| match_tokens(rest, &name[i..])),
        Token::Any => !name.is_empty() && match_tokens(rest, &name[1..]),
        Token::Literal(c) => name.first() == Some(c) && match_tokens(rest, &name[1..]),
        Token::Class { negated, ranges } => match name.first() {
            Some(&c) => {
                let inside = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                inside != *negated && match_tokens(rest, &name[1..])
            }
            None => false,
        },
    }
}
