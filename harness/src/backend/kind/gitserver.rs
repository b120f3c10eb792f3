//! Git smart HTTP, read only, for the scenario repositories ([`sim::git::Repos`]): a repository
//! registered as `https://github.com/your-org/platform-repo.git` is served at
//! `/your-org/platform-repo.git` on the interception front when the request's host is
//! `github.com`, so Flux's source-controller clones it with the URL the manifests use.
//!
//! Only the two requests of a fetch are answered (`GET <repo>/info/refs?service=git-upload-pack`
//! and `POST <repo>/git-upload-pack`), by running `git upload-pack --stateless-rpc`; protocol
//! v0/v1 only (the `Git-Protocol` header is not passed on, so v2 clients fall back). Pushes are
//! refused with 403: scenario steps change repositories, never the cluster. This module must not
//! write to the repositories, and must not bind sockets (the front does).

use std::path::Path;
use std::process::Stdio;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, Uri};
use http_body_util::Full;
use sim::git::{normalize_url, Repos};
use tokio::io::AsyncWriteExt;

/// The content types of the smart protocol's messages.
const ADVERTISEMENT: &str = "application/x-git-upload-pack-advertisement";
const REQUEST: &str = "application/x-git-upload-pack-request";
const RESULT: &str = "application/x-git-upload-pack-result";
/// The most a (decompressed) upload-pack request may weigh.
pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

/// Serves scenario repositories over Git smart HTTP.
#[derive(Debug, Clone)]
pub struct GitServer {
    repos: Repos,
    /// Whether a request's host must be the repository URL's host (the TLS front), or any
    /// host will do (plain-HTTP mode for tests: `http://127.0.0.1:<port>/<path>`).
    match_host: bool,
}

/// The hosts (lower case, with a port only when it is not the default) of the repositories
/// that have http(s) URLs: the names the cluster's DNS must send to the front.
pub fn repo_hosts(repos: &Repos) -> Vec<String> {
    let mut hosts: Vec<String> = repos.urls().iter().filter_map(|u| split_url(u).map(|(h, _)| h)).collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// `https://Host:443/a/b.git` → (`host`, `/a/b`), from the normalised URL; `None` for other
/// schemes (ssh, scp-like).
/// The host (with its port, if any) a repository URL names: what the interception front must
/// answer for. `None` for URLs that are not http(s).
pub fn url_host(url: &str) -> Option<String> {
    split_url(url).map(|(h, _)| h)
}

fn split_url(url: &str) -> Option<(String, String)> {
    let n = normalize_url(url);
    let rest = n.strip_prefix("https://").or_else(|| n.strip_prefix("http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    Some((host.to_string(), path.to_string()))
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Op {
    Advertise,
    UploadPack,
    /// `service=git-receive-pack` or `POST git-receive-pack`.
    Push,
    /// `info/refs` without a service: the dumb protocol.
    Dumb,
}

fn parse_op(method: &Method, uri: &Uri) -> Option<(Op, String)> {
    let path = uri.path();
    if let Some(repo) = path.strip_suffix("/info/refs") {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let service = uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "service").map(|(_, v)| v.into_owned())
        });
        let op = match service.as_deref() {
            Some("git-upload-pack") => Op::Advertise,
            Some("git-receive-pack") => Op::Push,
            _ => Op::Dumb,
        };
        return Some((op, repo.to_string()));
    }
    if method != Method::POST {
        return None;
    }
    if let Some(repo) = path.strip_suffix("/git-upload-pack") {
        return Some((Op::UploadPack, repo.to_string()));
    }
    path.strip_suffix("/git-receive-pack").map(|repo| (Op::Push, repo.to_string()))
}

/// A plain-text answer.
pub fn text(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    let mut body = message.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn git_answer(content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    h.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache, max-age=0, must-revalidate"));
    h.insert(http::header::EXPIRES, http::HeaderValue::from_static("Fri, 01 Jan 1980 00:00:00 GMT"));
    h.insert(http::header::PRAGMA, http::HeaderValue::from_static("no-cache"));
    r
}

/// One pkt-line: four hex digits of the length (including themselves), then the data.
fn pkt_line(data: &str) -> String {
    format!("{:04x}{data}", data.len() + 4)
}

impl GitServer {
    /// Matches requests by host and path (the TLS front).
    pub fn new(repos: Repos) -> GitServer {
        GitServer { repos, match_host: true }
    }

    /// Matches requests by path only (plain HTTP on a loopback port, for tests and tools).
    pub fn any_host(repos: Repos) -> GitServer {
        GitServer { repos, match_host: false }
    }

    /// The repositories served.
    pub fn repos(&self) -> &Repos {
        &self.repos
    }

    /// The hosts served (see [`repo_hosts`]).
    pub fn hosts(&self) -> Vec<String> {
        repo_hosts(&self.repos)
    }

    fn find(&self, host: &str, repo_path: &str) -> Option<sim::git::RepoHandle> {
        let host = host.to_ascii_lowercase();
        let want = normalize_url(&format!("https://h{repo_path}"));
        let want_path = want.strip_prefix("https://h").unwrap_or_default();
        self.repos.urls().into_iter().find_map(|url| {
            let (h, p) = split_url(&url)?;
            let host_ok = !self.match_host || h == host;
            (host_ok && p == want_path).then(|| self.repos.get(&url)).flatten()
        })
    }

    fn not_found(&self, host: &str, path: &str) -> Response<Full<Bytes>> {
        let known = self.repos.urls();
        let list = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        text(
            StatusCode::NOT_FOUND,
            format!("no scenario repository is served at {host}{path}; the harness serves: {list}"),
        )
    }

    /// Answers one request. `host` is the request's host without port; `body` the request body
    /// as received (possibly gzip-compressed, as `Content-Encoding` says).
    pub async fn handle(
        &self,
        host: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        let Some((op, repo_path)) = parse_op(method, uri) else {
            return self.not_found(host, uri.path());
        };
        if op == Op::Push {
            return refuse_push();
        }
        let Some(repo) = self.find(host, &repo_path) else {
            return self.not_found(host, &repo_path);
        };
        match op {
            Op::Dumb => text(
                StatusCode::FORBIDDEN,
                "this server speaks only Git's smart HTTP protocol: request info/refs?service=git-upload-pack",
            ),
            Op::Advertise => match upload_pack(repo.dir(), true, &[]).await {
                Ok(refs) => {
                    let mut out = pkt_line("# service=git-upload-pack\n").into_bytes();
                    out.extend_from_slice(b"0000");
                    out.extend_from_slice(&refs);
                    git_answer(ADVERTISEMENT, out)
                }
                Err(e) => {
                    tracing::warn!("git server: {}: {e}", repo.url());
                    text(StatusCode::INTERNAL_SERVER_ERROR, format!("git upload-pack failed for {}: {e}", repo.url()))
                }
            },
            Op::UploadPack => {
                if let Some(ct) = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
                    if !ct.eq_ignore_ascii_case(REQUEST) {
                        return text(
                            StatusCode::UNSUPPORTED_MEDIA_TYPE,
                            format!("expected Content-Type {REQUEST}, got {ct}"),
                        );
                    }
                }
                let input = match decode_body(headers, body) {
                    Ok(b) => b,
                    Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
                };
                match upload_pack(repo.dir(), false, &input).await {
                    Ok(out) => git_answer(RESULT, out),
                    Err(e) => {
                        tracing::warn!("git server: {}: {e}", repo.url());
                        text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("git upload-pack failed for {}: {e}", repo.url()),
                        )
                    }
                }
            }
            Op::Push => refuse_push(),
        }
    }
}

fn refuse_push() -> Response<Full<Bytes>> {
    text(
        StatusCode::FORBIDDEN,
        "pushing is not allowed: the harness serves scenario repositories read-only; change them through the scenario's steps",
    )
}

/// The request body, gunzipped when `Content-Encoding: gzip`; bounded by
/// [`MAX_REQUEST_BYTES`].
fn decode_body(headers: &HeaderMap, body: Bytes) -> Result<Vec<u8>, String> {
    let encoding = headers.get(http::header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(body.to_vec()),
        "gzip" | "x-gzip" => {
            use std::io::Read;
            let mut out = Vec::new();
            let limit = (MAX_REQUEST_BYTES + 1) as u64;
            flate2::read::GzDecoder::new(&body[..])
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| format!("the request body is not valid gzip: {e}"))?;
            if out.len() > MAX_REQUEST_BYTES {
                return Err(format!("the request body is larger than {MAX_REQUEST_BYTES} bytes once decompressed"));
            }
            Ok(out)
        }
        other => Err(format!("unsupported Content-Encoding {other:?} (gzip or none)")),
    }
}

/// Runs `git upload-pack --stateless-rpc [--advertise-refs] <dir>` with `input` on stdin.
async fn upload_pack(dir: &Path, advertise: bool, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("upload-pack").arg("--stateless-rpc");
    if advertise {
        cmd.arg("--advertise-refs");
    }
    cmd.arg(dir)
        // Isolated from the machine's Git configuration, as the repositories were made.
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_PROTOCOL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run git: {e}"))?;
    let stdin = child.stdin.take();
    let input = input.to_vec();
    // Written from another task so a large answer cannot block on a full stdin pipe.
    let writer = tokio::spawn(async move {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&input).await;
            let _ = stdin.shutdown().await;
        }
    });
    let out = child.wait_with_output().await.map_err(|e| format!("git upload-pack: {e}"))?;
    let _ = writer.await;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("git upload-pack exited with {}: {}", out.status, err.trim()));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified() {
        let get = |u: &str| parse_op(&Method::GET, &u.parse().expect("uri"));
        let post = |u: &str| parse_op(&Method::POST, &u.parse().expect("uri"));
        assert_eq!(get("/o/r.git/info/refs?service=git-upload-pack"), Some((Op::Advertise, "/o/r.git".into())));
        assert_eq!(get("/o/r.git/info/refs?service=git-receive-pack"), Some((Op::Push, "/o/r.git".into())));
        assert_eq!(get("/o/r.git/info/refs"), Some((Op::Dumb, "/o/r.git".into())));
        assert_eq!(post("/o/r/git-upload-pack"), Some((Op::UploadPack, "/o/r".into())));
        assert_eq!(post("/o/r/git-receive-pack"), Some((Op::Push, "/o/r".into())));
        assert_eq!(get("/o/r/git-upload-pack"), None);
        assert_eq!(post("/o/r/info/refs"), None);
    }

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(split_url("https://GitHub.com:443/Org/Repo.git/"), Some(("github.com".into(), "/Org/Repo".into())));
        assert_eq!(split_url("http://git.local:8080/a"), Some(("git.local:8080".into(), "/a".into())));
        assert_eq!(split_url("git@github.com:org/repo.git"), None);
        assert_eq!(pkt_line("# service=git-upload-pack\n"), "001e# service=git-upload-pack\n");
    }

    #[test]
    fn gzip_bodies_are_decoded_and_bad_ones_refused() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"0032want abc\n").expect("write");
        let gz = enc.finish().expect("finish");
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
        assert_eq!(decode_body(&h, Bytes::from(gz)).expect("decoded"), b"0032want abc\n");
        let err = decode_body(&h, Bytes::from_static(b"not gzip")).expect_err("bad gzip");
        assert!(err.starts_with("the request body is not valid gzip"), "{err}");
        h.insert(http::header::CONTENT_ENCODING, http::HeaderValue::from_static("br"));
        assert!(decode_body(&h, Bytes::new()).is_err());
    }
}
