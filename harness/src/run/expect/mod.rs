//! Expectations: one file per kind (`object`, `absent`, `condition`, `outcome`), and here the
//! timing around them: "eventually within T" (polled until it holds) and "consistently for T"
//! (must hold at every look for the whole window), with per-kind default timeouts.
//!
//! Expectations only read; they never change the cluster.

pub mod absent;
pub mod aws;
pub mod condition;
pub mod file;
pub mod flux;
pub mod object;
pub mod outcome;
pub mod pod;

use std::time::{Duration, Instant};

use super::context::{fail, Cx, POLL_MAX, POLL_MIN};
use super::events::Failure;
use crate::scenario::load::expectation_kinds;
use crate::scenario::Expectation;

/// How long a state expectation may take by default (chainsaw's assert default).
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(30);

/// Checks a state expectation (object, absent, condition) once.
async fn check_once(cx: &Cx, e: &Expectation) -> Result<(), Failure> {
    if let Some(o) = &e.object {
        return object::check(cx, o).await;
    }
    if let Some(a) = &e.absent {
        return absent::check(cx, a).await;
    }
    if let Some(c) = &e.condition {
        return condition::check(cx, c).await;
    }
    if let Some(f) = &e.flux {
        return flux::check(cx, f).await;
    }
    if let Some(p) = &e.pod {
        return pod::check_pod(cx, p).await;
    }
    if let Some(ev) = &e.event {
        return pod::check_event(cx, ev).await;
    }
    if let Some(a) = &e.aws {
        return aws::check(cx, a).await;
    }
    if let Some(f) = &e.file {
        return file::check(cx, f).await;
    }
    Err(fail(format!("expectation {} is not a state expectation", expectation_kinds(e).join(", "))))
}

/// Checks a state expectation with its timing.
pub async fn check(cx: &Cx, e: &Expectation) -> Result<(), Failure> {
    if let Some(window) = e.consistently {
        return consistently(cx, window.0, e).await;
    }
    let within = e.within.map_or(DEFAULT_WITHIN, |d| d.0);
    eventually(cx, within, e).await
}

async fn eventually(cx: &Cx, within: Duration, e: &Expectation) -> Result<(), Failure> {
    let start = Instant::now();
    let mut wait = POLL_MIN;
    loop {
        let last = match check_once(cx, e).await {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        // On the simulator a settled platform does not change by itself: look once more after
        // settling, then answer at once instead of polling for the whole window.
        if cx.stage.rest_is_final() {
            cx.stage.settle().await.map_err(|err| fail(err.to_string()))?;
            return match check_once(cx, e).await {
                Ok(()) => Ok(()),
                Err(last) => Err(Failure {
                    message: format!(
                        "not met (the simulated platform is at rest, so waiting cannot change it): {}",
                        last.message
                    ),
                    ..last
                }),
            };
        }
        if start.elapsed() >= within || cx.cancelled() {
            return Err(Failure {
                message: format!("not met within {}: {}", crate::scenario::Duration(within), last.message),
                ..last
            });
        }
        if !cx.pause(wait.min(within.saturating_sub(start.elapsed()))).await {
            return Err(Failure { message: format!("interrupted: {}", last.message), ..last });
        }
        wait = (wait * 2).min(POLL_MAX);
    }
}

async fn consistently(cx: &Cx, window: Duration, e: &Expectation) -> Result<(), Failure> {
    let start = Instant::now();
    loop {
        if let Err(f) = check_once(cx, e).await {
            let at = start.elapsed();
            return Err(Failure {
                message: format!(
                    "stopped holding after {:.1}s of the {} window: {}",
                    at.as_secs_f64(),
                    crate::scenario::Duration(window),
                    f.message
                ),
                ..f
            });
        }
        if start.elapsed() >= window {
            return Ok(());
        }
        if !cx.pause(POLL_MAX.min(window.saturating_sub(start.elapsed()))).await {
            return Err(fail("interrupted"));
        }
    }
}
