//! Writes kubeconfig files that point kubectl (and any client-go or kube-rs program) at a
//! simulator API server.
//!
//! Only file generation; it must not start anything.

use std::path::Path;

/// A kubeconfig for `server_url`, with context `idp-harness-sim` and namespace `default`;
/// `ca_pem` is the CA to trust for an https server.
pub fn render(server_url: &str, token: Option<&str>, ca_pem: Option<&str>) -> String {
    let user = match token {
        Some(t) => format!("    token: {t}\n"),
        None => "    username: admin\n".to_string(),
    };
    let ca = match ca_pem {
        Some(pem) => {
            use base64::Engine as _;
            format!("    certificate-authority-data: {}\n", base64::engine::general_purpose::STANDARD.encode(pem))
        }
        None => String::new(),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: idp-harness-sim\n  cluster:\n    server: {server_url}\n{ca}contexts:\n- name: idp-harness-sim\n  context:\n    cluster: idp-harness-sim\n    user: idp-harness-sim\n    namespace: default\ncurrent-context: idp-harness-sim\nusers:\n- name: idp-harness-sim\n  user:\n{user}"
    )
}

/// Writes the kubeconfig to `path` (created or replaced, mode 0600 on Unix).
pub fn write(path: &Path, server_url: &str, token: Option<&str>, ca_pem: Option<&str>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(server_url, token, ca_pem))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
