//! `ApiServer`: the simulator's Kubernetes API server. Serve it on a loopback port
//! ([`ApiServer::serve`]) for kubectl and other processes, or use it in-process through
//! [`ApiServer::client`], a `kube::Client` over a tower service with no socket.
//!
//! This module routes requests to discovery, OpenAPI and the resource verbs; the verbs
//! themselves are in `objects` and `watch`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::admission::AdmissionChain;
use super::error::ApiError;
use super::http::{self as h, Body, Format, Query};
use super::objects::{self, Intent, Req};
use super::patch::PatchType;
use super::resources::{GroupResource, Registry};
use super::router::{route, ResourcePath, Route};
use super::store::{Store, DEFAULT_HISTORY};
use super::{discovery, openapi, watch};

/// Settings of an API server.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    /// When set, every request must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// How many changes watches may resume from.
    pub history: usize,
    /// Serve https with a freshly generated CA (see [`RunningServer::ca_pem`]).
    pub tls: bool,
    /// The service-account token issuer URL (`--service-account-issuer`); None: the
    /// deterministic EKS-like default ([`crate::identity::default_issuer_url`]).
    pub service_account_issuer: Option<String>,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig { token: None, history: DEFAULT_HISTORY, tls: false, service_account_issuer: None }
    }
}

/// State shared by every request.
pub struct Shared {
    pub store: Store,
    pub registry: Registry,
    pub admission: AdmissionChain,
    pub config: ApiServerConfig,
    /// `host:port` the server is reachable at (for `/api`'s serverAddressByClientCIDRs).
    pub address: std::sync::RwLock<String>,
    /// The service-account token issuer.
    pub issuer: Arc<crate::identity::Issuer>,
    /// Set while a server made from an image is being installed again: see
    /// [`ApiServer::from_image`].
    replaying: std::sync::atomic::AtomicBool,
}

/// What a server stores and serves at one moment (not its admission plugins, issuer or
/// address): the state a simulated platform has once its components are installed, copied
/// for the next platform with the same components instead of installing them again.
#[derive(Clone)]
pub struct ServerImage {
    store: super::store::StoreImage,
    registry: super::resources::RegistryImage,
}

impl ServerImage {
    /// How many objects the image holds.
    pub fn objects(&self) -> usize {
        self.store.len()
    }
}

/// The API server. Clones share one store.
#[derive(Clone)]
pub struct ApiServer {
    shared: Arc<Shared>,
}

/// A handle that does not keep the server alive (for admission plugins, which the server
/// itself holds).
#[derive(Clone)]
pub struct WeakApiServer {
    shared: std::sync::Weak<Shared>,
}

impl WeakApiServer {
    pub fn upgrade(&self) -> Option<ApiServer> {
        self.shared.upgrade().map(|shared| ApiServer { shared })
    }
}

/// Errors starting to serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
}

/// A server listening on a socket; stops when dropped or on [`RunningServer::shutdown`].
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The CA that signed the server certificate (PEM), when serving TLS.
    pub ca_pem: Option<String>,
    tasks: JoinSet<()>,
}

impl RunningServer {
    /// The base URL, e.g. `http://127.0.0.1:34567` (`https://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting and closes every connection (watches included).
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
    }
}

impl Default for ApiServer {
    fn default() -> Self {
        ApiServer::new(ApiServerConfig::default())
    }
}

impl ApiServer {
    /// A server with the built-in resources and the namespaces every cluster has.
    ///
    /// Panics only if the system random generator cannot make the token signing key.
    pub fn new(config: ApiServerConfig) -> Self {
        let server = ApiServer::with_state(config, Store::new, Registry::with_builtins());
        server.bootstrap();
        server
    }

    fn with_state(config: ApiServerConfig, store: impl FnOnce(usize) -> Store, registry: Registry) -> Self {
        let issuer_url = config.service_account_issuer.clone().unwrap_or_else(crate::identity::default_issuer_url);
        let issuer = crate::identity::Issuer::new(issuer_url).expect("the system random generator works");
        let shared = Arc::new(Shared {
            issuer: Arc::new(issuer),
            store: store(config.history),
            registry,
            admission: AdmissionChain::default(),
            config,
            address: std::sync::RwLock::new("127.0.0.1:0".into()),
            replaying: std::sync::atomic::AtomicBool::new(false),
        });
        ApiServer { shared }
    }

    /// What the server stores and serves now.
    pub fn image(&self) -> ServerImage {
        ServerImage { store: self.shared.store.image(), registry: self.shared.registry.image() }
    }

    /// A server that starts with what `image` stores and serves, in replay: until
    /// [`ApiServer::end_replay`], [`ApiServer::install`] of an object the image holds does
    /// nothing, so the code that installed the image's objects can run again to register its
    /// plugins and controllers. Admission plugins are not part of an image; the
    /// service-account issuer is new.
    pub fn from_image(config: ApiServerConfig, image: &ServerImage) -> Self {
        let server = ApiServer::with_state(
            config,
            |history| Store::from_image(history, &image.store),
            Registry::from_image(&image.registry),
        );
        server.shared.replaying.store(true, std::sync::atomic::Ordering::SeqCst);
        server
    }

    /// Ends the replay [`ApiServer::from_image`] starts in.
    pub fn end_replay(&self) {
        self.shared.replaying.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    fn bootstrap(&self) {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            if let Err(e) = self.create_internal("", "v1", "namespaces", None, body) {
                tracing::error!("bootstrap namespace {ns}: {e}");
            }
        }
        for (ns, name) in [
            ("default", "default"),
            ("kube-system", "default"),
            ("kube-public", "default"),
            ("kube-node-lease", "default"),
        ] {
            let body =
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}});
            let _ = self.create_internal("", "v1", "serviceaccounts", Some(ns), body);
        }
    }

    /// Creates an object through the full pipeline (validation, admission), as the system.
    pub fn create_internal(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        ns: Option<&str>,
        body: Value,
    ) -> Result<Value, ApiError> {
        let def = self.shared.registry.get(group, version, plural).ok_or_else(ApiError::no_resource)?;
        let mut req = Req {
            query: Query::default(),
            format: Format::Json,
            content_type: "application/json".into(),
            user_agent: "idp-harness-sim".into(),
            user: "system:apiserver".into(),
            warnings: Vec::new(),
        };
        objects::create(&self.shared, &mut req, &def, ns, body).map(|(_, v)| v)
    }

    /// Creates an object a component installs, as [`ApiServer::create_internal`] does. On a
    /// server made from an image, until [`ApiServer::end_replay`], an object the image holds
    /// is already there and is left as it is (nothing is copied or checked again).
    pub fn install(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        ns: Option<&str>,
        body: &Value,
    ) -> Result<(), ApiError> {
        if self.shared.replaying.load(std::sync::atomic::Ordering::SeqCst) {
            let def = self.shared.registry.get(group, version, plural).ok_or_else(ApiError::no_resource)?;
            let at = |k: &str| body.pointer(&format!("/metadata/{k}")).and_then(Value::as_str).unwrap_or("");
            let ns = ns.unwrap_or_else(|| at("namespace"));
            if self.shared.store.get(&def.group_resource(), ns, at("name")).is_some() {
                return Ok(());
            }
        }
        self.create_internal(group, version, plural, ns, body.clone()).map(|_| ())
    }

    /// A handle that does not keep the server alive.
    pub fn downgrade(&self) -> WeakApiServer {
        WeakApiServer { shared: Arc::downgrade(&self.shared) }
    }

    /// The object store (for the simulator's controllers and for tests).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The resource registry.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// The service-account token issuer (for components that mint tokens for pods).
    pub fn issuer(&self) -> Arc<crate::identity::Issuer> {
        self.shared.issuer.clone()
    }

    /// `<scheme>://<host:port>` of this server as served (the address is `127.0.0.1:0` until
    /// [`ApiServer::serve`] runs).
    pub fn base_url(&self) -> String {
        let scheme = if self.shared.config.tls { "https" } else { "http" };
        let addr = self.shared.address.read().map(|a| a.clone()).unwrap_or_default();
        format!("{scheme}://{addr}")
    }

    /// The admission chain, where plugins register.
    pub fn admission(&self) -> &AdmissionChain {
        &self.shared.admission
    }

    /// A `kube::Client` talking to this server in-process (no socket).
    pub fn client(&self) -> kube::Client {
        let server = self.clone();
        let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
            let server = server.clone();
            async move { Ok::<_, Infallible>(server.handle(req).await) }
        });
        kube::Client::new(svc, "default")
    }

    /// Listens on `addr` (port 0: a free port) and serves until the returned handle is dropped
    /// or shut down.
    pub async fn serve(&self, addr: SocketAddr) -> Result<RunningServer, ServeError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
        if let Ok(mut a) = self.shared.address.write() {
            *a = local.to_string();
        }
        let tls = if self.shared.config.tls { Some(super::tls::generate()?) } else { None };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let acceptor = tls.map(|t| t.acceptor);
        let mut tasks = JoinSet::new();
        let server = self.clone();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let (stream, _) = match listener.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let server = server.clone();
                let acceptor = acceptor.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.handle(req).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let result = match acceptor {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls) => http.serve_connection(TokioIo::new(tls), svc).await,
                            Err(e) => {
                                tracing::debug!("TLS handshake failed: {e}");
                                return;
                            }
                        },
                        None => http.serve_connection(TokioIo::new(stream), svc).await,
                    };
                    if let Err(e) = result {
                        tracing::debug!("connection closed: {e}");
                    }
                });
                // Reap finished connections so the set does not grow without bound.
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(RunningServer { addr: local, ca_pem, tasks })
    }

    /// Handles one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let method = parts.method.clone();
        let uri = parts.uri.clone();
        let resp = self.handle_parts(parts, body).await;
        tracing::debug!(target: "sim::apiserver::requests", "{method} {uri} -> {}", resp.status().as_u16());
        resp
    }

    async fn handle_parts<B>(&self, parts: http::request::Parts, body: B) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let hdr = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        if let Some(token) = &self.shared.config.token {
            let ok = hdr(header::AUTHORIZATION).is_some_and(|a| a.strip_prefix("Bearer ").is_some_and(|t| t == token));
            if !ok {
                return h::error_response(&ApiError::unauthorized(), &[]);
            }
        }
        let accept = hdr(header::ACCEPT);
        let route = route(parts.uri.path());
        let query = Query::parse(parts.uri.query());
        let result = match route {
            Route::Version => Ok(h::object_response(200, &discovery::version(), Format::Json, &[])),
            Route::Health(_) => Ok(h::text_response(200, "ok")),
            Route::CoreVersions => Ok(match discovery::wants_aggregated(accept.as_deref()) {
                Some(v) => aggregated_response(discovery::aggregated(&self.shared.registry, true, v), v),
                None => {
                    let addr = self.shared.address.read().map(|a| a.clone()).unwrap_or_default();
                    h::object_response(200, &discovery::core_versions(&addr), Format::Json, &[])
                }
            }),
            Route::Groups => Ok(match discovery::wants_aggregated(accept.as_deref()) {
                Some(v) => aggregated_response(discovery::aggregated(&self.shared.registry, false, v), v),
                None => h::object_response(200, &discovery::groups(&self.shared.registry), Format::Json, &[]),
            }),
            Route::Group(g) => discovery::group(&self.shared.registry, &g)
                .map(|v| h::object_response(200, &v, Format::Json, &[]))
                .ok_or_else(ApiError::no_resource),
            Route::GroupVersion { group, version } => discovery::resource_list(&self.shared.registry, &group, &version)
                .map(|v| h::object_response(200, &v, Format::Json, &[]))
                .ok_or_else(ApiError::no_resource),
            Route::OpenApiV3Root => {
                Ok(h::object_response(200, &openapi::root(&self.shared.registry), Format::Json, &[]))
            }
            Route::OpenApiV3 { path } => {
                let (group, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
                    ["api", v] => (String::new(), v.to_string()),
                    ["apis", g, v] => (g.to_string(), v.to_string()),
                    _ => (String::from("-"), String::new()),
                };
                if (group.is_empty() && version == "v1") || self.shared.registry.has_group_version(&group, &version) {
                    Ok(h::object_response(
                        200,
                        &openapi::document(&self.shared.registry, &group, &version),
                        Format::Json,
                        &[],
                    ))
                } else {
                    Ok(h::text_response(404, "404 page not found\n"))
                }
            }
            Route::OpenApiV2 => {
                let (bytes, ctype) = openapi::v2(accept.as_deref());
                let mut resp = Response::new(h::full(bytes));
                resp.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static(ctype));
                Ok(resp)
            }
            Route::OidcDiscovery => {
                let jwks_uri = format!("{}/openid/v1/jwks", self.base_url());
                Ok(h::object_response(200, &self.shared.issuer.discovery_document(&jwks_uri), Format::Json, &[]))
            }
            Route::Jwks => {
                let mut resp = h::object_response(200, &self.shared.issuer.jwks(), Format::Json, &[]);
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/jwk-set+json"));
                Ok(resp)
            }
            Route::NotFound => Ok(h::text_response(404, "404 page not found\n")),
            Route::Resource(path) => {
                let format = match h::negotiate(accept.as_deref()) {
                    Ok(f) => f,
                    Err(e) => return h::error_response(&e, &[]),
                };
                let mut req = Req {
                    query,
                    format,
                    content_type: hdr(header::CONTENT_TYPE).unwrap_or_default(),
                    user_agent: hdr(header::USER_AGENT).unwrap_or_default(),
                    user: "kubernetes-admin".into(),
                    warnings: Vec::new(),
                };
                let resp = self.resource(&mut req, parts.method.clone(), path, body).await;
                match resp {
                    Ok(r) => Ok(r),
                    Err(e) => return h::error_response(&e, &req.warnings),
                }
            }
        };
        result.unwrap_or_else(|e| h::error_response(&e, &[]))
    }

    async fn resource<B>(
        &self,
        req: &mut Req,
        method: Method,
        p: ResourcePath,
        body: B,
    ) -> Result<Response<Body>, ApiError>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let sh = &self.shared;
        let def = sh.registry.get(&p.group, &p.version, &p.plural).ok_or_else(ApiError::no_resource)?;
        if let Some(w) = &def.deprecation_warning {
            req.warnings.push(w.clone());
        }
        if !def.namespaced && p.namespace.is_some() {
            return Err(ApiError::no_resource());
        }
        if def.namespaced && p.namespace.is_none() && p.name.is_some() {
            return Err(ApiError::no_resource());
        }
        let sub = p.subresource.as_deref();
        match sub {
            None => {}
            Some("status") if def.status => {}
            Some("scale") if def.scale.is_some() => {}
            Some("finalize") if def.group.is_empty() && def.plural == "namespaces" => {}
            Some("token") if def.group.is_empty() && def.plural == "serviceaccounts" => {}
            Some(_) => return Err(ApiError::no_resource()),
        }
        let ns = p.namespace.clone().unwrap_or_default();
        let bytes = if matches!(method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
            h::read_body(body).await?
        } else {
            Bytes::new()
        };
        if sub == Some("token") {
            return match (&method, p.name.as_deref()) {
                (&Method::POST, Some(name)) => {
                    let v = crate::identity::token_request::create(self, &ns, name, &bytes, &req.content_type)?;
                    Ok(h::object_response(201, &v, Format::Json, &req.warnings))
                }
                (m, _) => Err(ApiError::method_not_supported(&def.group, "serviceaccounts/token", m.as_str())),
            };
        }
        if req.content_type.starts_with("application/vnd.kubernetes.protobuf") {
            return Err(ApiError::unsupported_media_type_msg(
                "the simulator does not decode protobuf request bodies (typed clients such as `kubectl create namespace` send them); send JSON or YAML instead, e.g. `kubectl create -f` or `kubectl apply -f`".into(),
            ));
        }
        let decode = |req: &Req| h::decode_body(&bytes, &req.content_type);
        let respond = |req: &Req, code: u16, v: Value| {
            h::object_response(
                code,
                &v,
                if req.format == Format::Yaml { Format::Yaml } else { Format::Json },
                &req.warnings,
            )
        };
        match (&method, p.name.as_deref()) {
            (&Method::GET, None) if req.query.flag("watch") => {
                let body = watch::start(sh.clone(), req, def.clone(), p.namespace.clone())?;
                let mut resp = Response::new(body.boxed());
                resp.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
                h::add_warnings(&mut resp, &req.warnings);
                Ok(resp)
            }
            (&Method::GET, None) => {
                let v = objects::list(sh, req, &def, p.namespace.as_deref())?;
                Ok(h::object_response(200, &v, req.format, &req.warnings))
            }
            (&Method::GET, Some(name)) => {
                let v = objects::get(sh, req, &def, &ns, name, sub)?;
                let format = if sub == Some("scale") { Format::Json } else { req.format };
                Ok(h::object_response(200, &v, format, &req.warnings))
            }
            (&Method::POST, None) => {
                let body = decode(req)?;
                let (code, v) = objects::create(sh, req, &def, p.namespace.as_deref(), body)?;
                Ok(respond(req, code, v))
            }
            (&Method::PUT, Some(name)) => {
                let body = decode(req)?;
                let sub = if sub == Some("finalize") { Some("finalize") } else { sub };
                let (code, v) = if sub == Some("finalize") {
                    objects::update(sh, req, &def, &ns, name, None, Intent::Replace(body))?
                } else {
                    objects::update(sh, req, &def, &ns, name, sub, Intent::Replace(body))?
                };
                Ok(respond(req, code, v))
            }
            (&Method::PATCH, Some(name)) => {
                let media = req.content_type.split(';').next().unwrap_or("").trim().to_string();
                let intent = if media == "application/apply-patch+yaml" || media == "application/apply-patch+cbor" {
                    let force = req.query.flag("force");
                    Intent::Apply { config: decode(req)?, force }
                } else {
                    let kind = PatchType::from_content_type(&media)
                        .ok_or_else(|| ApiError::unsupported_media_type(&req.content_type))?;
                    if kind == PatchType::Strategic && matches!(def.codec, super::resources::Codec::Custom(_)) {
                        // kube-apiserver: custom resources take no strategic merge patches.
                        return Err(ApiError::unsupported_media_type_msg("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/apply-patch+cbor".to_string()));
                    }
                    let patch = serde_json::from_slice(&bytes)
                        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
                    Intent::Patch(kind, patch)
                };
                let (code, v) = objects::update(sh, req, &def, &ns, name, sub, intent)?;
                Ok(respond(req, code, v))
            }
            (&Method::DELETE, Some(name)) => {
                let opts = if bytes.iter().all(u8::is_ascii_whitespace) {
                    None
                } else {
                    Some(h::decode_body(&bytes, "application/json")?)
                };
                let (code, v) = objects::delete(sh, req, &def, &ns, name, opts.as_ref())?;
                Ok(respond(req, code, v))
            }
            (&Method::DELETE, None) => {
                let opts = if bytes.iter().all(u8::is_ascii_whitespace) {
                    None
                } else {
                    Some(h::decode_body(&bytes, "application/json")?)
                };
                let v = objects::delete_collection(sh, req, &def, p.namespace.as_deref(), opts.as_ref())?;
                Ok(respond(req, 200, v))
            }
            (m, _) => Err(ApiError::method_not_supported(&def.group, &def.plural, m.as_str())),
        }
    }

    /// A stored object, as the store holds it; for a resource stored as another one
    /// (events.k8s.io Events), converted to the served shape of its preferred version.
    pub fn get_object(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        match self.shared.registry.any_version(group, plural) {
            Some(def) if def.stored_as.is_some() => {
                let stored = self.shared.store.get(&def.group_resource(), ns, name)?;
                Some(Arc::new(objects::present(&def, &stored)))
            }
            _ => self.shared.store.get(&GroupResource::new(group, plural), ns, name),
        }
    }
}

fn aggregated_response(v: Value, version: &str) -> Response<Body> {
    let mut resp = h::object_response(200, &v, Format::Json, &[]);
    let ctype = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    if let Ok(hv) = http::HeaderValue::from_str(&ctype) {
        resp.headers_mut().insert(header::CONTENT_TYPE, hv);
    }
    resp
}
