//! Figures of `make bench`: each benchmark prints its figures as it goes and, when
//! `IDP_HARNESS_BENCH_FIGURES` names a file, appends them to it (one JSON object per line:
//! bench, figure) so that the last benchmark (`harness/benches/suite.rs`) prints them all in
//! one table. Shared by the benchmarks of both crates through `#[path]`; asserts nothing.

use std::io::Write;

/// Prints a figure and records it for the summary table.
macro_rules! figure {
    ($bench:expr, $($arg:tt)*) => {
        figures::record($bench, &format!($($arg)*))
    };
}

pub fn record(bench: &str, text: &str) {
    println!("{text}");
    let Some(path) = std::env::var_os("IDP_HARNESS_BENCH_FIGURES") else { return };
    let line = serde_json::json!({"bench": bench, "figure": text}).to_string();
    let written =
        std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        eprintln!("cannot record the figure in {}: {e}", std::path::Path::new(&path).display());
    }
}

/// The figures recorded so far, in order: (bench, figure).
#[allow(dead_code)]
pub fn recorded() -> Vec<(String, String)> {
    let Some(path) = std::env::var_os("IDP_HARNESS_BENCH_FIGURES") else { return Vec::new() };
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
            (s("bench"), s("figure"))
        })
        .collect()
}
