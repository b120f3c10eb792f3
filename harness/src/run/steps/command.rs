//! `command`: a local command with `KUBECONFIG`, the scenario's namespace and name, and (when the
//! scenario uses AWS) `AWS_ENDPOINT_URL`, `AWS_REGION` and credentials for its account in its
//! environment, run in the scenario's directory. Checks the exit code (default 0) and patterns
//! on stdout and stderr; the output goes into the failure when it does not match. The process
//! is killed on timeout or interruption.

use std::process::Stdio;
use std::time::Duration;

use super::ActionResult;
use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::scenario::Command;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(20);
    lines[start..].join("\n")
}

pub async fn run(cx: &Cx, c: &Command) -> Result<ActionResult, Failure> {
    let mut cmd = match (&c.run, &c.args) {
        (Some(line), _) => {
            let mut x = tokio::process::Command::new("sh");
            x.arg("-c").arg(cx.subst(line)?);
            x
        }
        (None, Some(args)) if !args.is_empty() => {
            let mut x = tokio::process::Command::new(cx.subst(&args[0])?);
            for a in &args[1..] {
                x.arg(cx.subst(a)?);
            }
            x
        }
        _ => return Err(fail("command: give run or args")),
    };
    cmd.current_dir(&cx.dir)
        .env("KUBECONFIG", &cx.kubeconfig)
        .env("IDP_HARNESS_NAMESPACE", &cx.namespace)
        .env("IDP_HARNESS_SCENARIO", &cx.scenario)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The scenario's AWS account (endpoint, region, keys), when it uses AWS.
    for (k, v) in cx.stage.aws_env().await.map_err(fail)? {
        cmd.env(k, v);
    }
    for (k, v) in &c.env {
        cmd.env(k, cx.subst(v)?);
    }
    let child = cmd.spawn().map_err(|e| fail(format!("cannot start the command: {e}")))?;
    let mut cancel = cx.cancel.clone();
    let out = tokio::select! {
        r = tokio::time::timeout(DEFAULT_TIMEOUT, child.wait_with_output()) => match r {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(fail(format!("the command failed to run: {e}"))),
            Err(_) => return Err(fail(format!("the command did not finish within {}s (killed)", DEFAULT_TIMEOUT.as_secs()))),
        },
        _ = cancel.wait_for(|c| *c) => return Err(fail("interrupted (command killed)")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let detail = Some(format!("stdout:\n{}\nstderr:\n{}", tail(&stdout), tail(&stderr)));
    let code = out.status.code().unwrap_or(-1);
    let want = c.exit.unwrap_or(0);
    if code != want {
        return Err(Failure { message: format!("the command exited {code}, expected {want}"), detail, diff: None });
    }
    for (which, pattern, text) in [("stdout", &c.stdout, &stdout), ("stderr", &c.stderr, &stderr)] {
        if let Some(p) = pattern {
            let re = regex::Regex::new(&cx.subst(p)?).map_err(|e| fail(format!("invalid {which} pattern: {e}")))?;
            if !re.is_match(text) {
                return Err(Failure { message: format!("{which} does not match /{p}/"), detail, diff: None });
            }
        }
    }
    Ok(ActionResult::default())
}
