//! One JSON document for the whole run, for tools and dashboards: run id, backend, start time,
//! duration, totals and every `ScenarioReport` in full, written when the run finishes.
//!
//! It serializes the events' own types and adds nothing else: no environment, no values the
//! runner did not report (they are already redacted). Durations are seconds as numbers.
//!
//! ```json
//! { "version": 1, "run_id": "run-0001", "backend": "sim",
//!   "started_at": "2025-06-01T10:00:00Z", "duration": 11.484,
//!   "totals": { "passed": 1, "failed": 1, "skipped": 1, "total": 3 },
//!   "scenarios": [ { "name": "configmap-sync", "verdict": "passed", "steps": [ … ], … } ],
//!   "not_run": [] }
//! ```

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::{RunRecord, Totals};
use crate::run::events::{Reporter, RunEvent, ScenarioReport};

/// The document's layout version; raised when a field changes meaning or goes away.
pub const JSON_VERSION: u32 = 1;

/// Collects the run and writes it as one JSON document at [`Reporter::finish`].
pub struct JsonReporter {
    path: PathBuf,
    record: RunRecord,
}

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    run_id: &'a str,
    backend: &'a str,
    /// RFC 3339, UTC.
    started_at: Option<String>,
    /// Seconds; absent when the run did not report finishing.
    duration: Option<f64>,
    totals: TotalsDoc,
    scenarios: Vec<&'a ScenarioReport>,
    /// Announced scenarios that never finished (the run stopped early).
    not_run: Vec<&'a str>,
}

#[derive(Serialize)]
struct TotalsDoc {
    #[serde(flatten)]
    totals: Totals,
    total: usize,
}

impl JsonReporter {
    /// Writes to `path` (parent directories are created) when the run finishes.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), record: RunRecord::default() }
    }

    /// Uses `at` as the run's start time instead of the time `RunStarted` arrives.
    pub fn with_start_time(mut self, at: Timestamp) -> Self {
        self.record.started_at = Some(at);
        self
    }

    /// The document as it stands: what `finish` writes.
    pub fn document(&self) -> serde_json::Result<serde_json::Value> {
        let rec = &self.record;
        let totals = rec.totals();
        let doc = Document {
            version: JSON_VERSION,
            run_id: &rec.run_id,
            backend: &rec.backend,
            started_at: rec.started_at.map(|t| t.to_string()),
            duration: rec.duration().map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
            totals: TotalsDoc { totals, total: totals.total() },
            scenarios: rec.ordered(),
            not_run: rec.not_run(),
        };
        serde_json::to_value(doc)
    }
}

impl Reporter for JsonReporter {
    fn event(&mut self, e: &RunEvent) {
        self.record.observe(e, Timestamp::now);
    }

    fn finish(&mut self) -> io::Result<Vec<PathBuf>> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut out = BufWriter::new(fs::File::create(&self.path)?);
        serde_json::to_writer_pretty(&mut out, &self.document()?)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(vec![self.path.clone()])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::report::fixtures::{self, EVIDENCE, FAIL_DIFF, FAIL_MESSAGE, LEAK};

    fn written(events: &[RunEvent]) -> Value {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/run.json");
        let mut r = JsonReporter::new(&path).with_start_time("2025-06-01T10:00:00Z".parse().unwrap());
        for e in events {
            r.event(e);
        }
        assert_eq!(r.finish().unwrap(), vec![path.clone()]);
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn document_parses_back_with_run_fields_and_totals() {
        let doc = written(&fixtures::mixed_run());
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["run_id"], "run-0001");
        assert_eq!(doc["backend"], "sim");
        assert_eq!(doc["started_at"], "2025-06-01T10:00:00Z");
        assert_eq!(doc["duration"], 11.484);
        assert_eq!(doc["totals"], json!({"passed": 1, "failed": 1, "skipped": 1, "total": 3}));
        assert_eq!(doc["not_run"], json!([]));
        let names: Vec<&str> =
            doc["scenarios"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["configmap-sync", "policy-denies", "aws-role"]);
    }

    #[test]
    fn scenario_reports_are_included_in_full() {
        let doc = written(&fixtures::mixed_run());
        let failed = &doc["scenarios"][1];
        assert_eq!(failed["verdict"], "failed");
        assert_eq!(failed["file"], "scenarios/gatekeeper/policy-denies.yaml");
        assert_eq!(failed["duration"], 10.25);
        assert_eq!(failed["failure"]["message"], FAIL_MESSAGE);
        assert_eq!(failed["failure"]["diff"], FAIL_DIFF);
        assert_eq!(failed["steps"].as_array().unwrap().len(), 3);
        assert_eq!(failed["steps"][1]["line"], 14);
        assert_eq!(failed["steps"][1]["verdict"], "failed");
        assert_eq!(failed["cleanup"][0]["path"], "cleanup[0]");
        assert_eq!(failed["leaks"], json!([LEAK]));
        assert_eq!(failed["evidence"], EVIDENCE);
        assert_eq!(failed["steps"][1]["started"], 0.14, "start offset in seconds");
        assert!(doc["scenarios"][0].get("evidence").is_none(), "no evidence field for a passing scenario");
        assert_eq!(doc["scenarios"][2]["verdict"], "skipped");
    }

    #[test]
    fn interleaved_run_keeps_announced_order_and_lists_what_never_ran() {
        let doc = written(&fixtures::interleaved_run());
        assert_eq!(doc["run_id"], "run-0002");
        assert_eq!(doc["totals"]["skipped"], 1);
        assert_eq!(doc["scenarios"][0]["name"], "configmap-sync");
        assert_eq!(doc["scenarios"][1]["name"], "policy-denies");
        assert_eq!(doc["not_run"], json!(["aws-role"]));
    }

    #[test]
    fn an_unfinished_run_has_no_duration_and_counted_totals() {
        let mut events = fixtures::mixed_run();
        events.pop();
        let doc = written(&events);
        assert_eq!(doc["duration"], Value::Null);
        assert_eq!(doc["totals"]["total"], 3);
        assert_eq!(doc["totals"]["failed"], 1);
    }
}
