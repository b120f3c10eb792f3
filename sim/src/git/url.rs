//! Matching a GitRepository's `spec.url` to a scenario repository, and the message for a URL
//! no scenario repository has.
//!
//! [`normalize_url`] removes only differences that cannot name another repository on any Git
//! host: the case of the scheme and of the host, a default port (`:443` for https, `:80` for
//! http, `:22` for ssh), trailing slashes and one trailing `.git`. The path's case, the user
//! (`ssh://git@host/...` and `ssh://host/...` differ), the scheme itself (https and ssh are
//! different transports) and query strings are kept. This module must not look anything up:
//! the registry in [`super::Repos`] does that with these keys.

/// The registry key of a URL: see the module documentation for what is normalised.
pub fn normalize_url(url: &str) -> String {
    let (prefix, rest) = match url.find("://") {
        Some(i) => {
            let scheme = url[..i].to_ascii_lowercase();
            let after = &url[i + 3..];
            let (authority, path) = match after.find('/') {
                Some(j) => (&after[..j], &after[j..]),
                None => (after, ""),
            };
            (format!("{scheme}://{}", normalize_authority(&scheme, authority)), path.to_string())
        }
        None => match scp_like(url) {
            // `git@github.com:org/repo.git`
            Some((user_host, path)) => {
                let normalized = match user_host.rfind('@') {
                    Some(at) => format!("{}@{}", &user_host[..at], user_host[at + 1..].to_ascii_lowercase()),
                    None => user_host.to_ascii_lowercase(),
                };
                (format!("{normalized}:"), path.to_string())
            }
            None => (String::new(), url.to_string()),
        },
    };
    format!("{prefix}{}", strip_suffixes(&rest))
}

fn normalize_authority(scheme: &str, authority: &str) -> String {
    let (user, host_port) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let mut host_port = host_port.to_ascii_lowercase();
    let default_port = match scheme {
        "https" => Some(":443"),
        "http" => Some(":80"),
        "ssh" => Some(":22"),
        _ => None,
    };
    if let Some(port) = default_port {
        if let Some(stripped) = host_port.strip_suffix(port) {
            host_port = stripped.to_string();
        }
    }
    format!("{user}{host_port}")
}

/// `user@host:path` (scp-like syntax): the part before the first `:` has no `/`.
fn scp_like(url: &str) -> Option<(&str, &str)> {
    let colon = url.find(':')?;
    let (head, tail) = (&url[..colon], &url[colon + 1..]);
    if head.is_empty() || head.contains('/') {
        return None;
    }
    Some((head, tail))
}

fn strip_suffixes(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    path.trim_end_matches('/')
}

/// The message for a GitRepository whose URL no scenario repository has. A real
/// source-controller would report a network or authentication error; the simulator cannot
/// reach any network, so the message says how to map the URL instead.
pub fn unknown_url_message(url: &str, known: &[String]) -> String {
    let mut message = format!(
        "no scenario Git repository has the URL '{url}': the simulator serves only the repositories \
         a scenario declares; add an entry to the scenario's repos: with url: {url} (or fix spec.url)"
    );
    if known.is_empty() {
        message.push_str("; this scenario declares no repositories");
    } else {
        message.push_str("; known URLs: ");
        message.push_str(&known.join(", "));
    }
    message
        .push_str(" (URLs are compared ignoring the case of scheme and host, default ports, trailing '/' and '.git')");
    message
}
