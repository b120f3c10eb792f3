//! Repositories and exported trees made before, remembered in memory. A repository made again
//! from the same contents (the next scenario of a suite using the same fixture, or a scenario
//! whose repositories a prefetch plan made while the emulator started) is written out as files
//! instead of being made by four git processes (`init`, `fast-import`, `reset`,
//! `for-each-ref`); a commit exported again is written out instead of checked out by
//! `git read-tree`. Each git process costs 1 to 3 ms on this project's 2-core machine.
//!
//! Keys say everything the result depends on, and dates and identity are fixed, so the same
//! key always means the same bytes: a repository's key covers its refs and files (not its
//! URL), an export's its commit SHA (which covers the tree) and the ignore rules. Only fresh
//! repositories are remembered, never one a commit has changed. This module must not run git
//! or decide what a repository or an artifact holds: it copies what git made.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::GitError;

/// At most this many bytes are remembered by each memo; past it, the oldest entries go.
const BUDGET: usize = 64 << 20;

/// A directory tree in memory: its directories and regular files (with modes).
#[derive(Debug)]
pub(crate) struct Tree {
    dirs: Vec<PathBuf>,
    files: Vec<(PathBuf, Vec<u8>, u32)>,
    bytes: usize,
}

impl Tree {
    /// Reads `dir` whole. Anything but directories and regular files (a symbolic link) is an
    /// error: git made none, so such a tree is not one to copy.
    pub fn read(dir: &Path) -> std::io::Result<Tree> {
        let mut tree = Tree { dirs: Vec::new(), files: Vec::new(), bytes: 0 };
        tree.read_dir(dir, Path::new(""))?;
        Ok(tree)
    }

    fn read_dir(&mut self, root: &Path, rel: &Path) -> std::io::Result<()> {
        let mut entries: Vec<_> = fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let rel = rel.join(entry.file_name());
            let ty = entry.file_type()?;
            if ty.is_dir() {
                self.dirs.push(rel.clone());
                self.read_dir(root, &rel)?;
            } else if ty.is_file() {
                let bytes = fs::read(entry.path())?;
                let mode = entry.metadata()?.permissions().mode();
                self.bytes += bytes.len() + rel.as_os_str().len();
                self.files.push((rel, bytes, mode));
            } else {
                return Err(std::io::Error::other(format!("{} is not a regular file", rel.display())));
            }
        }
        Ok(())
    }

    /// Writes the tree into `dir` (created if missing; it must hold none of the tree's paths).
    pub fn write(&self, dir: &Path) -> Result<(), GitError> {
        let io = |path: &Path, action: &'static str| {
            let path = path.to_path_buf();
            move |source| GitError::Io { path, action, source }
        };
        fs::create_dir_all(dir).map_err(io(dir, "create"))?;
        for d in &self.dirs {
            let path = dir.join(d);
            fs::create_dir(&path).map_err(io(&path, "create"))?;
        }
        for (rel, bytes, mode) in &self.files {
            let path = dir.join(rel);
            fs::write(&path, bytes).map_err(io(&path, "write"))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).map_err(io(&path, "set the mode of"))?;
        }
        Ok(())
    }
}

/// Values of `T` (each with its tree) by key, for the life of the process.
pub(crate) struct Memo<T> {
    state: Mutex<State<T>>,
    hits: AtomicU64,
}

/// A remembered value: its insertion number (the oldest go first), its bytes, and itself.
type Entry<T> = (u64, usize, Arc<(Tree, T)>);

struct State<T> {
    entries: BTreeMap<String, Entry<T>>,
    bytes: usize,
    next: u64,
}

impl<T> Memo<T> {
    pub const fn new() -> Self {
        Memo { state: Mutex::new(State { entries: BTreeMap::new(), bytes: 0, next: 0 }), hits: AtomicU64::new(0) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value remembered under `key` (counted as a hit).
    pub fn get(&self, key: &str) -> Option<Arc<(Tree, T)>> {
        let found = self.state().entries.get(key).map(|(_, _, v)| v.clone());
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Remembers `dir` read whole, with `value`, under `key`. A tree that cannot be read, or
    /// is larger than the budget, is not remembered (the next time git makes it again).
    pub fn put(&self, key: String, dir: &Path, value: T) {
        let Ok(tree) = Tree::read(dir) else { return };
        let bytes = tree.bytes;
        if bytes > BUDGET {
            return;
        }
        let mut s = self.state();
        s.next += 1;
        let seq = s.next;
        s.bytes += bytes;
        if let Some((_, old, _)) = s.entries.insert(key, (seq, bytes, Arc::new((tree, value)))) {
            s.bytes -= old;
        }
        while s.bytes > BUDGET {
            let Some(oldest) = s.entries.iter().min_by_key(|(_, (n, _, _))| *n).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some((_, gone, _)) = s.entries.remove(&oldest) {
                s.bytes -= gone;
            }
        }
    }

    /// How many times [`Memo::get`] found a value in this process.
    #[cfg(test)]
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

/// A SHA-256 over length-prefixed fields, as lowercase hex: a key no two different field
/// lists share.
pub(crate) fn key<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for f in fields {
        ctx.update(&(f.len() as u64).to_le_bytes());
        ctx.update(f);
    }
    ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
