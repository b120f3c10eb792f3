//! Outcome expectations: what the step's action itself returned: an admission denial
//! (structured: webhook, constraint, message), another API error (code, reason, message), or a
//! warning. Checked once, right after the action; no polling.

use crate::run::context::fail;
use crate::run::events::Failure;
use crate::run::kube_io::Answer;
use crate::scenario::{Denied, ErrorExpect, WarningExpect};

fn regex(p: &str) -> Result<regex::Regex, Failure> {
    regex::Regex::new(p).map_err(|e| fail(format!("invalid pattern /{p}/: {e}")))
}

/// The parts of a webhook denial: `admission webhook "<by>" denied the request: <message>`.
pub fn parse_denial(message: &str) -> Option<(String, String)> {
    let rest = message.split("admission webhook \"").nth(1)?;
    let (by, tail) = rest.split_once('"')?;
    let msg = tail.split_once("denied the request: ")?.1;
    Some((by.to_string(), msg.to_string()))
}

pub fn denied(d: &Denied, failed: Option<&Answer>) -> Result<(), Failure> {
    let Some(a) = failed else { return Err(fail("expected the action to be denied by admission, but it succeeded")) };
    let m = a.message();
    let Some((by, msg)) = parse_denial(&m) else {
        return Err(fail(format!("expected an admission denial, got {} {}: {m}", a.code, a.reason())));
    };
    if let Some(want) = &d.by {
        if &by != want {
            return Err(fail(format!("denied by {by:?}, expected {want:?}: {msg}")));
        }
    }
    if let Some(c) = &d.constraint {
        let named = msg.lines().any(|l| l.trim_start().starts_with(&format!("[{c}]")));
        if !named {
            return Err(fail(format!("the denial does not name constraint {c:?}: {msg}")));
        }
    }
    if let Some(p) = &d.message {
        if !regex(p)?.is_match(&msg) {
            return Err(fail(format!("the denial message does not match /{p}/: {msg}")));
        }
    }
    Ok(())
}

pub fn error(e: &ErrorExpect, failed: Option<&Answer>) -> Result<(), Failure> {
    let Some(a) = failed else { return Err(fail("expected the action to fail, but it succeeded")) };
    let shown = format!("{} {}: {}", a.code, a.reason(), a.message());
    if let Some(code) = e.code {
        if a.code != code {
            return Err(fail(format!("expected code {code}, got {shown}")));
        }
    }
    if let Some(r) = &e.reason {
        if a.reason() != r {
            return Err(fail(format!("expected reason {r}, got {shown}")));
        }
    }
    if let Some(p) = &e.message {
        if !regex(p)?.is_match(&a.message()) {
            return Err(fail(format!("expected a message matching /{p}/, got {shown}")));
        }
    }
    Ok(())
}

pub fn warning(w: &WarningExpect, warnings: &[String]) -> Result<(), Failure> {
    let re = regex(&w.message)?;
    if warnings.iter().any(|x| re.is_match(x)) {
        Ok(())
    } else if warnings.is_empty() {
        Err(fail(format!("expected a warning matching /{}/, got none", w.message)))
    } else {
        Err(fail(format!("no warning matches /{}/; got: {}", w.message, warnings.join(" | "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn denial(msg: &str) -> Answer {
        Answer { code: 403, body: json!({"reason": "Forbidden", "message": msg}), warnings: vec![] }
    }

    #[test]
    fn denials_are_matched_by_structure() {
        let a = denial("admission webhook \"validation.gatekeeper.sh\" denied the request: [only-ecr] image docker.io/nginx is not allowed");
        let ok = Denied {
            by: Some("validation.gatekeeper.sh".into()),
            constraint: Some("only-ecr".into()),
            message: Some("docker\\.io".into()),
        };
        assert!(denied(&ok, Some(&a)).is_ok());
        let wrong = Denied { constraint: Some("other".into()), ..Default::default() };
        assert!(denied(&wrong, Some(&a)).is_err_and(|f| f.message.contains("does not name constraint \"other\"")));
        assert!(denied(&ok, None).is_err_and(|f| f.message.contains("but it succeeded")));
    }
}
