//! `commit`: change files in a scenario repo (write, copy in, remove) and make a new commit,
//! optionally tagged. The backend's stage makes the commit and lets the platform know.
//!
//! File contents are committed as written: no binding substitution, so Flux's own `${var}`
//! post-build substitutions reach Flux untouched.

use std::path::Path;

use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::scenario::Commit;

pub async fn run(cx: &Cx, c: &Commit, step_name: &str) -> Result<(), Failure> {
    let changes = changes(&cx.dir, c).map_err(fail)?;
    let message = c.message.clone().unwrap_or_else(|| format!("idp-harness: {step_name}"));
    cx.stage
        .commit(&c.repo, c.branch.as_deref(), changes, &message, c.tag.as_deref())
        .await
        .map_err(|e| fail(format!("commit to {}: {e}", c.repo)))?;
    Ok(())
}

/// The changes a commit step makes, local paths relative to `dir` (the scenario's directory).
pub fn changes(dir: &Path, c: &Commit) -> Result<Vec<sim::git::Change>, String> {
    let mut changes = Vec::new();
    for p in &c.remove {
        changes.push(sim::git::Change::remove(p.clone()));
    }
    for (to, from) in &c.copy {
        let local = dir.join(from);
        if local.is_dir() {
            changes.push(sim::git::Change::copy_dir(local, to.clone()));
        } else {
            let bytes =
                std::fs::read(&local).map_err(|e| format!("copy.{to}: cannot read {}: {e}", local.display()))?;
            changes.push(sim::git::Change::write(to.clone(), bytes));
        }
    }
    for (path, content) in &c.files {
        changes.push(sim::git::Change::write(path.clone(), content.clone().into_bytes()));
    }
    Ok(changes)
}
