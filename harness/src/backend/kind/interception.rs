//! The interception front: the one HTTPS endpoint, run by the harness on the host, that the
//! kind cluster's CoreDNS sends intercepted names to. Git hosts of the scenarios' repository
//! URLs (for example `github.com`) go to the Git smart-HTTP server ([`super::gitserver`]), and
//! `sts.amazonaws.com` / `sts.<region>.amazonaws.com` go to the STS interception
//! ([`super::sts`]), so the cluster reaches both with their real URLs. Certificates come from
//! the interception CA ([`super::tls`]), which source-controller and the AWS provider trust
//! through `SSL_CERT_FILE`.
//!
//! The front routes by the request's `Host`; a name it does not serve gets no certificate (the
//! handshake fails) or, over plain HTTP, a 404 naming what is served. It stops when its
//! [`Front`] is stopped or dropped, with every connection task. This module must not decide
//! anything about Git or STS, and must not write the cluster-side configuration (CoreDNS,
//! Services: that is the cluster wiring's job; [`Front::hosts`] says which names to send here).
//!
//! Wiring it up (the kind backend): make the CA with [`CertAuthority::load_or_create`] in the
//! harness state directory (its PEM, [`CertAuthority::ca_pem`], goes into the Secret or
//! ConfigMap mounted at `SSL_CERT_FILE` in source-controller and the AWS provider, appended to
//! the system bundle if they also reach real hosts); start the front on the kind network's
//! gateway address with the scenario [`Repos`] and an [`StsInterceptor`] built from
//! `Jwks::from_client(<the kind cluster's client>)` and the emulator's [`sim::aws::AwsTarget`];
//! then have CoreDNS rewrite every name of [`Front::hosts`] to the Service whose endpoint is
//! [`Front::addr`] (port 443 on the Service, the front's port on the endpoint).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sim::git::Repos;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::gitserver::{self, GitServer};
use super::sts::StsInterceptor;
use super::tls::{CertAuthority, MintingResolver, TlsError};

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body the front reads (compressed Git requests, STS forms).
const MAX_BODY: usize = gitserver::MAX_REQUEST_BYTES;

/// Errors starting the front.
#[derive(Debug, thiserror::Error)]
pub enum InterceptionError {
    #[error("the interception front cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot build the interception front's TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("the interception front has nothing to serve (no repositories and no STS)")]
    Empty,
}

/// The STS host names intercepted for `regions`: the global endpoint and each regional one.
pub fn sts_hosts(regions: &[String]) -> Vec<String> {
    let mut hosts = vec!["sts.amazonaws.com".to_string()];
    for r in regions {
        let h = format!("sts.{}.amazonaws.com", r.to_ascii_lowercase());
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    hosts
}

/// What the front serves.
pub struct FrontConfig {
    /// Where to listen (the kind network's gateway address in real use, 127.0.0.1 in tests;
    /// port 0 picks a free port).
    pub bind: SocketAddr,
    /// The CA its certificates are signed by.
    pub ca: Arc<CertAuthority>,
    /// The scenario repositories, served on the hosts of their URLs.
    pub git: Option<Repos>,
    /// Git hosts to answer for besides those of the repositories present at start (the hosts
    /// of repositories the run's scenarios will add).
    pub git_hosts: Vec<String>,
    /// The STS interception and the regions whose STS hosts it answers for.
    pub sts: Option<(Arc<StsInterceptor>, Vec<String>)>,
}

/// Routes requests by host.
struct Router {
    git: Option<GitServer>,
    git_hosts: Vec<String>,
    sts: Option<Arc<StsInterceptor>>,
    sts_hosts: Vec<String>,
    /// Plain-HTTP Git mode: every request goes to `git`, whatever its host.
    any_host: bool,
}

fn host_of<B>(req: &Request<B>) -> String {
    let raw = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    // Strip the port (and IPv6 brackets keep their colons inside).
    let host = match raw.rfind(':') {
        Some(i) if !raw[i..].contains(']') => raw[..i].to_string(),
        _ => raw,
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl Router {
    async fn route(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let host = host_of(&req);
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return gitserver::text(StatusCode::PAYLOAD_TOO_LARGE, format!("cannot read the request body: {e}"))
            }
        };
        if let Some(sts) = self.sts.as_ref().filter(|_| self.sts_hosts.contains(&host)) {
            return sts.handle(&parts.method, &parts.uri, &parts.headers, body).await;
        }
        if let Some(git) = self.git.as_ref().filter(|_| self.any_host || self.git_hosts.contains(&host)) {
            return git.handle(&host, &parts.method, &parts.uri, &parts.headers, body).await;
        }
        let mut served = self.git_hosts.clone();
        served.extend(self.sts_hosts.iter().cloned());
        gitserver::text(
            StatusCode::MISDIRECTED_REQUEST,
            format!("the harness's interception front does not serve host {host:?}; it serves: {}", served.join(", ")),
        )
    }
}

/// A running front. Dropping it stops it (abruptly); [`Front::stop`] waits for the end.
pub struct Front {
    addr: SocketAddr,
    hosts: Vec<String>,
    ca_pem: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front").field("addr", &self.addr).field("hosts", &self.hosts).finish_non_exhaustive()
    }
}

impl Front {
    /// Starts the HTTPS front.
    pub async fn start(config: FrontConfig) -> Result<Front, InterceptionError> {
        if config.git.is_none() && config.sts.is_none() {
            return Err(InterceptionError::Empty);
        }
        let git = config.git.map(GitServer::new);
        let mut git_hosts = git.as_ref().map(GitServer::hosts).unwrap_or_default();
        if git.is_some() {
            git_hosts.extend(config.git_hosts);
            git_hosts.sort();
            git_hosts.dedup();
        }
        let (sts, sts_hosts) = match config.sts {
            Some((s, regions)) => (Some(s), sts_hosts(&regions)),
            None => (None, Vec::new()),
        };
        let mut hosts = git_hosts.clone();
        hosts.extend(sts_hosts.iter().cloned());
        // A client connecting by IP address sends no SNI; it gets the first name's certificate.
        let resolver = MintingResolver::new(config.ca.clone(), hosts.clone(), hosts.first().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let router = Router { git, git_hosts, sts, sts_hosts, any_host: false };
        let mut front = Front::listen(config.bind, Some(TlsAcceptor::from(Arc::new(tls))), router).await?;
        front.hosts = hosts;
        front.ca_pem = Some(config.ca.ca_pem().to_string());
        Ok(front)
    }

    /// Serves `repos` over plain HTTP on `bind`, matching repositories by path only (for tests
    /// and local tools: `http://127.0.0.1:<port>/your-org/platform-repo.git`).
    pub async fn start_plain_git(bind: SocketAddr, repos: Repos) -> Result<Front, InterceptionError> {
        let git = GitServer::any_host(repos);
        let hosts = git.hosts();
        let router =
            Router { git: Some(git), git_hosts: hosts.clone(), sts: None, sts_hosts: Vec::new(), any_host: true };
        let mut front = Front::listen(bind, None, router).await?;
        front.hosts = hosts;
        Ok(front)
    }

    async fn listen(bind: SocketAddr, tls: Option<TlsAcceptor>, router: Router) -> Result<Front, InterceptionError> {
        let listener =
            TcpListener::bind(bind).await.map_err(|source| InterceptionError::Bind { addr: bind, source })?;
        let addr = listener.local_addr().map_err(|source| InterceptionError::Bind { addr: bind, source })?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, tls, Arc::new(router), stopped));
        Ok(Front { addr, hosts: Vec::new(), ca_pem: None, stop: Some(stop), task: Some(task) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The host names it serves: what the cluster's DNS must resolve to [`Front::addr`].
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The CA certificate clients must trust (none in plain-HTTP mode).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Stops accepting, ends every connection and waits for the tasks to finish.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            // Aborting the accept loop drops its JoinSet, which aborts every connection task.
            t.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Arc<Router>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    conns.spawn(serve_connection(tcp, tls.clone(), router.clone()));
                }
                Err(e) => {
                    tracing::warn!("interception front: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    conns.shutdown().await;
}

async fn serve_connection(tcp: tokio::net::TcpStream, tls: Option<TlsAcceptor>, router: Arc<Router>) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let router = router.clone();
        async move { Ok::<_, Infallible>(router.route(req).await) }
    });
    let http = hyper::server::conn::http1::Builder::new();
    let result = match tls {
        Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => http.serve_connection(TokioIo::new(stream), service).await,
            Ok(Err(e)) => {
                tracing::debug!("interception front: TLS handshake failed: {e}");
                return;
            }
            Err(_) => return,
        },
        None => http.serve_connection(TokioIo::new(tcp), service).await,
    };
    if let Err(e) = result {
        tracing::debug!("interception front: connection ended: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_hosts_cover_the_global_and_regional_endpoints() {
        assert_eq!(
            sts_hosts(&["us-east-1".into(), "EU-west-1".into(), "us-east-1".into()]),
            vec!["sts.amazonaws.com", "sts.us-east-1.amazonaws.com", "sts.eu-west-1.amazonaws.com"]
        );
    }

    #[test]
    fn hosts_lose_their_port_and_case() {
        let req = |h: &str| Request::builder().header("host", h).body(()).expect("request");
        assert_eq!(host_of(&req("GitHub.com:8443")), "github.com");
        assert_eq!(host_of(&req("sts.amazonaws.com.")), "sts.amazonaws.com");
        assert_eq!(host_of(&req("[::1]")), "[::1]");
        assert_eq!(host_of(&req("[::1]:80")), "[::1]");
    }
}
