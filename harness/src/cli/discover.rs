//! Finding scenario files: the paths given (files, or directories searched recursively for
//! `.yaml`/`.yml`), in name order, and loading them with every problem reported.

use std::path::{Path, PathBuf};

use crate::scenario::{load_file, LoadError, Loaded};

/// Scenario files under `paths` (default `scenarios/`).
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let paths: Vec<PathBuf> = if paths.is_empty() { vec![PathBuf::from("scenarios")] } else { paths.to_vec() };
    let mut out = Vec::new();
    for p in &paths {
        if p.is_dir() {
            walk(p, &mut out);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// Loads every file; duplicate scenario names are an error too.
pub fn load_all(files: &[PathBuf]) -> (Vec<Loaded>, Vec<LoadError>) {
    let mut loaded: Vec<Loaded> = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match load_file(f) {
            Ok(l) => {
                if let Some(other) = loaded.iter().find(|o| o.scenario.metadata.name == l.scenario.metadata.name) {
                    errors.push(LoadError {
                        file: f.clone(),
                        line: 0,
                        column: 0,
                        message: format!(
                            "duplicate scenario name {:?} (also in {})",
                            l.scenario.metadata.name,
                            other.path.display()
                        ),
                        hint: Some("scenario names must be unique within a run".into()),
                    });
                } else {
                    loaded.push(l);
                }
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    (loaded, errors)
}

/// Finds and loads scenarios, printing every problem; `Err` carries the exit code.
pub fn load_or_report(paths: &[PathBuf]) -> Result<Vec<Loaded>, i32> {
    let files = files(paths).map_err(|e| {
        eprintln!("error: {e}");
        super::exit::USAGE
    })?;
    let (loaded, errors) = load_all(&files);
    for e in &errors {
        eprintln!("error: {e}");
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        eprintln!("{} problem(s) in {} file(s)", errors.len(), files.len());
        Err(super::exit::USAGE)
    }
}
