//! Writing the tree of a commit into an artifact directory, filtered as source-controller
//! filters what it archives ([`super::ignore`]), and the artifact digest.
//!
//! The tree is checked out by git into the destination with a temporary index (the
//! repository's own index, work tree and HEAD are not touched), then the ignore rules are
//! applied on disk. Only regular files end up in the artifact, as in source-controller's
//! `Storage.Archive`; the scenario repositories hold no symbolic links. This module must not
//! resolve refs or know about GitRepository objects: it takes a commit SHA.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::cmd::GitCmd;
use super::ignore::{read_patterns, Matcher, Pattern, IGNORE_FILE};
use super::memo::{self, Memo};
use super::GitError;

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportStats {
    /// Regular files written.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Files of the commit left out by the ignore rules.
    pub ignored: usize,
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> GitError + 'a {
    move |source| GitError::Io { path: path.to_path_buf(), action, source }
}

/// Removes the temporary index file when the export ends, however it ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

static EXPORTS: AtomicU64 = AtomicU64::new(0);

/// Exports made in this process, by commit and ignore rules.
pub(crate) static EXPORTED: Memo<ExportStats> = Memo::new();

/// Checks out `sha` of the repository at `repo_dir` into `dest` (created if missing; it must
/// be empty if it exists) and applies the ignore rules (`ignore` is `spec.ignore`). A commit
/// exported before with the same rules is written from memory.
pub(crate) fn export_tree(
    repo_dir: &Path,
    sha: &str,
    dest: &Path,
    ignore: Option<&str>,
) -> Result<ExportStats, GitError> {
    let key = memo::key([b"export 1" as &[u8], sha.as_bytes(), ignore.map_or(b"\0" as &[u8], str::as_bytes)]);
    if let Some(made) = EXPORTED.get(&key) {
        if fs::read_dir(dest).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(GitError::DestinationNotEmpty { path: dest.to_path_buf() });
        }
        made.0.write(dest)?;
        return Ok(made.1);
    }
    let stats = export_with_git(repo_dir, sha, dest, ignore)?;
    EXPORTED.put(key, dest, stats);
    Ok(stats)
}

fn export_with_git(repo_dir: &Path, sha: &str, dest: &Path, ignore: Option<&str>) -> Result<ExportStats, GitError> {
    let created = match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(GitError::DestinationNotEmpty { path: dest.to_path_buf() });
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(io_err(dest, "create"))?;
            true
        }
        Err(e) => return Err(io_err(dest, "read")(e)),
    };
    let dest = fs::canonicalize(dest).map_err(io_err(dest, "resolve"))?;
    let index = TempFile(repo_dir.join(".git").join(format!(
        "idp-export-{}-{}.index",
        std::process::id(),
        EXPORTS.fetch_add(1, Ordering::Relaxed)
    )));
    let checkout = GitCmd::new(repo_dir)
        .env("GIT_INDEX_FILE", index.0.as_os_str())
        .arg("--work-tree")
        .arg(dest.as_os_str())
        .args(["read-tree", "--reset", "-u", sha])
        .run();
    drop(index);
    if let Err(e) = checkout {
        if created {
            let _ = fs::remove_dir_all(&dest);
        }
        return Err(e);
    }

    let mut user = Vec::new();
    load_ignore_files(&dest, &mut Vec::new(), &mut user)?;
    if let Some(spec) = ignore {
        user.extend(read_patterns(spec, &[]));
    }
    let matcher = Matcher::new(user);
    let mut stats = ExportStats::default();
    filter_dir(&dest, &mut Vec::new(), &matcher, &mut stats)?;
    Ok(stats)
}

/// Sorted entries of a directory: (name, path, file type).
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf, fs::FileType)>, GitError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir, "read"))? {
        let entry = entry.map_err(io_err(dir, "read"))?;
        let path = entry.path();
        let name = entry.file_name().into_string().map_err(|_| GitError::NonUtf8Name { path: path.clone() })?;
        let ty = entry.file_type().map_err(io_err(&path, "inspect"))?;
        out.push((name, path, ty));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// fluxcd/pkg `sourceignore.LoadIgnorePatterns`: this directory's ignore file, then each
/// subdirectory's, depth-first in name order.
fn load_ignore_files(dir: &Path, domain: &mut Vec<String>, out: &mut Vec<Pattern>) -> Result<(), GitError> {
    let file = dir.join(IGNORE_FILE);
    match fs::read(&file) {
        Ok(bytes) => out.extend(read_patterns(&String::from_utf8_lossy(&bytes), domain)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.kind() == std::io::ErrorKind::IsADirectory => {}
        Err(e) => return Err(io_err(&file, "read")(e)),
    }
    for (name, path, ty) in entries(dir)? {
        if ty.is_dir() && name != ".git" {
            domain.push(name);
            load_ignore_files(&path, domain, out)?;
            domain.pop();
        }
    }
    Ok(())
}

/// Removes excluded files (and excluded directories left empty), counting what stays.
fn filter_dir(dir: &Path, rel: &mut Vec<String>, matcher: &Matcher, stats: &mut ExportStats) -> Result<(), GitError> {
    for (name, path, ty) in entries(dir)? {
        rel.push(name);
        let parts: Vec<&str> = rel.iter().map(String::as_str).collect();
        if ty.is_dir() {
            let excluded = matcher.excludes(&parts, true);
            filter_dir(&path, rel, matcher, stats)?;
            if excluded && fs::read_dir(&path).map_err(io_err(&path, "read"))?.next().is_none() {
                fs::remove_dir(&path).map_err(io_err(&path, "remove"))?;
            }
        } else if ty.is_file() && !matcher.excludes(&parts, false) {
            stats.files += 1;
            stats.bytes += fs::metadata(&path).map_err(io_err(&path, "inspect"))?.len();
        } else {
            // Excluded, or not a regular file (source-controller archives regular files only).
            stats.ignored += 1;
            fs::remove_file(&path).map_err(io_err(&path, "remove"))?;
        }
        rel.pop();
    }
    Ok(())
}

/// A content digest of a directory, `sha256:<hex>`: SHA-256 over the regular files in byte
/// order of their `/`-separated relative paths, each as the path, a NUL byte, the length as
/// 8 big-endian bytes and the contents. Directories count only through their files; a
/// symbolic link or other special file is an error.
///
/// This is not source-controller's digest (a SHA-256 of the gzipped tarball, which depends on
/// gzip output): it changes exactly when the exported content changes, which is what the
/// simulated artifact needs.
pub fn artifact_digest(dir: &Path) -> Result<String, GitError> {
    let mut files = Vec::new();
    collect_files(dir, "", &mut files)?;
    files.sort();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for rel in files {
        let path = dir.join(&rel);
        let contents = fs::read(&path).map_err(io_err(&path, "read"))?;
        ctx.update(rel.as_bytes());
        ctx.update(&[0]);
        ctx.update(&(contents.len() as u64).to_be_bytes());
        ctx.update(&contents);
    }
    let digest = ctx.finish();
    let mut hex = String::with_capacity(64);
    for b in digest.as_ref() {
        hex.push_str(&format!("{b:02x}"));
    }
    Ok(format!("sha256:{hex}"))
}

fn collect_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), GitError> {
    for (name, path, ty) in entries(dir)? {
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        if ty.is_dir() {
            collect_files(&path, &rel, out)?;
        } else if ty.is_file() {
            out.push(rel);
        } else if ty.is_symlink() {
            return Err(GitError::Symlink { path });
        } else {
            return Err(GitError::UnsupportedFile { path });
        }
    }
    Ok(())
}
