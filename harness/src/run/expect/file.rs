//! `file`: a file's content inside the selected pods (typically a secret the CSI driver
//! mounted): exactly `equals`, a `matches` pattern, or a `sha256`. The backend reads the file
//! (the simulator's mounted files, or `kubectl exec cat` on a cluster). Contents are compared
//! and never shown: a failure says how long the content was and its SHA-256 prefix only when the
//! expectation itself gave a hash.

use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::scenario::FileExpect;

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn check(cx: &Cx, f: &FileExpect) -> Result<(), Failure> {
    let (pods, what) =
        super::pod::select_pods(cx, f.pod.namespace.as_deref(), f.pod.name.as_deref(), &f.pod.labels).await?;
    if pods.is_empty() {
        return Err(fail(format!("{what}: none found")));
    }
    let path = cx.subst(&f.path)?;
    let container = f.container.as_deref().map(|c| cx.subst(c)).transpose()?;
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let content = cx
            .stage
            .read_pod_file(pod, container.as_deref(), &path)
            .await
            .map_err(|e| fail(format!("file {path} in pod {name}: {e}")))?;
        let shape = format!("(the file has {} bytes; contents are not shown)", content.len());
        if let Some(want) = &f.equals {
            if cx.subst(want)?.as_bytes() != content.as_slice() {
                return Err(fail(format!("file {path} in pod {name} does not have the expected content {shape}")));
            }
        }
        if let Some(pattern) = &f.matches {
            let re = regex::Regex::new(&cx.subst(pattern)?).map_err(|e| fail(format!("invalid pattern: {e}")))?;
            if !re.is_match(&String::from_utf8_lossy(&content)) {
                return Err(fail(format!("file {path} in pod {name} does not match the expected pattern {shape}")));
            }
        }
        if let Some(want) = &f.sha256 {
            let got = sha256_hex(&content);
            if !got.eq_ignore_ascii_case(want) {
                return Err(fail(format!(
                    "file {path} in pod {name} has SHA-256 {}…, expected {}… {shape}",
                    &got[..12],
                    &want[..want.len().min(12)]
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_is_hex() {
        assert_eq!(super::sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
