//! Where a simulated platform keeps its working files (Git repositories, exported artifacts,
//! kustomize inputs): a fresh directory per platform, removed when its [`TempDir`] drops.
//!
//! The base is `IDP_HARNESS_SCRATCH_DIR` if set; otherwise `TMPDIR` if set; otherwise, on Linux,
//! a directory of this user's in `/dev/shm` when that is a writable tmpfs; otherwise the
//! system's temporary directory. A run creates and deletes thousands of small files (an ext4
//! disk with many recent deletions spends most of `git init`'s time finding free inodes), and
//! none of them outlives the run, so memory is the right place for them.
//!
//! Each directory is named `idp-harness-sim-<pid>-<random>`. A process killed before it could
//! remove its directories (SIGKILL) leaves them behind: the first directory a process makes
//! removes those of processes that no longer exist, if this user owns them. This module must
//! not be used for anything meant to outlive the process (caches go to `backend::build_cache_dir`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tempfile::TempDir;

/// The prefix of every directory this module makes.
pub const PREFIX: &str = "idp-harness-sim-";

/// A new directory for one platform (or one stage) under [`base`].
pub fn new_dir() -> std::io::Result<TempDir> {
    let base = base();
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| sweep(base));
    tempfile::Builder::new().prefix(&format!("{PREFIX}{}-", std::process::id())).tempdir_in(base)
}

/// The directory new scratch directories go in (decided once per process).
pub fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        choose(
            std::env::var_os("IDP_HARNESS_SCRATCH_DIR").map(PathBuf::from),
            std::env::var_os("TMPDIR").map(PathBuf::from),
            memory_dir(),
        )
    })
}

fn choose(explicit: Option<PathBuf>, tmpdir: Option<PathBuf>, memory: Option<PathBuf>) -> PathBuf {
    explicit
        .filter(|p| !p.as_os_str().is_empty())
        .or(tmpdir.filter(|p| !p.as_os_str().is_empty()))
        .or(memory)
        .unwrap_or_else(std::env::temp_dir)
}

/// `/dev/shm/idp-harness-<uid>` if `/dev/shm` is a tmpfs where this user can make a private
/// directory (mode 0700, owned by this user, not a symlink).
#[cfg(target_os = "linux")]
fn memory_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let shm = Path::new("/dev/shm");
    if !is_tmpfs(shm) {
        return None;
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = shm.join(format!("idp-harness-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(_) => return None,
    }
    // Somebody else's directory or a symlink planted in the shared /dev/shm is not used.
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    (meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0).then_some(dir)
}

#[cfg(not(target_os = "linux"))]
fn memory_dir() -> Option<PathBuf> {
    None
}

#[cfg(target_os = "linux")]
fn is_tmpfs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statfs.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    #[allow(clippy::unnecessary_cast)]
    let magic = st.f_type as i64;
    rc == 0 && magic == TMPFS_MAGIC
}

/// Removes `<base>/idp-harness-sim-<pid>-*` directories of this user whose process is gone.
/// Errors are ignored: what cannot be removed stays, as it would have anyway.
fn sweep(base: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(base) else { return };
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner_pid) else { continue };
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        if meta.is_dir() && meta.uid() == uid && !alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The pid in `idp-harness-sim-<pid>-<random>`.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, random) = rest.split_once('-')?;
    (!random.is_empty()).then_some(())?;
    pid.parse().ok()
}

fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Ok(p) = libc::pid_t::try_from(pid) else { return true };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(p, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explicit_setting_wins_then_tmpdir_then_memory() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(choose(p("/a"), p("/b"), p("/c")), PathBuf::from("/a"));
        assert_eq!(choose(None, p("/b"), p("/c")), PathBuf::from("/b"));
        assert_eq!(choose(p(""), p(""), p("/c")), PathBuf::from("/c"));
        assert_eq!(choose(None, None, None), std::env::temp_dir());
    }

    #[test]
    fn names_carry_the_owner_pid() {
        assert_eq!(owner_pid("idp-harness-sim-1234-Ab3xYz"), Some(1234));
        assert_eq!(owner_pid("idp-harness-sim-Ab3xYz"), None);
        assert_eq!(owner_pid("idp-harness-sim-1234-"), None);
        assert_eq!(owner_pid("other-1234-x"), None);
    }

    #[test]
    fn the_sweep_removes_directories_of_dead_processes_only() {
        let base = tempfile::tempdir().expect("tempdir");
        // A child that has exited and been reaped: its pid is free (reuse within the test is
        // possible but vanishingly unlikely).
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let dead = child.id();
        child.wait().expect("wait");
        let stale = base.path().join(format!("{PREFIX}{dead}-abc"));
        let mine = base.path().join(format!("{PREFIX}{}-abc", std::process::id()));
        let other = base.path().join("unrelated-dir");
        for d in [&stale, &mine, &other] {
            std::fs::create_dir_all(d.join("repos")).expect("mkdir");
        }
        sweep(base.path());
        assert!(!stale.exists(), "a dead process's directory is removed");
        assert!(mine.exists(), "this process's directory stays");
        assert!(other.exists(), "directories not named by this module stay");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_memory_directory_is_private() {
        use std::os::unix::fs::MetadataExt;
        if let Some(dir) = memory_dir() {
            let meta = std::fs::symlink_metadata(&dir).expect("metadata");
            assert!(meta.is_dir());
            assert_eq!(meta.mode() & 0o077, 0, "{} is private", dir.display());
            assert!(is_tmpfs(&dir));
        }
    }

    #[test]
    fn new_directories_carry_this_process_and_go_on_drop() {
        let d = new_dir().expect("scratch dir");
        let name = d.path().file_name().and_then(|n| n.to_str()).expect("name").to_string();
        assert_eq!(owner_pid(&name), Some(std::process::id()));
        assert_eq!(d.path().parent(), Some(base()));
        let path = d.path().to_path_buf();
        drop(d);
        assert!(!path.exists());
    }
}
