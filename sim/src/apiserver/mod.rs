//! The Kubernetes API server of the simulator: REST over HTTP (or in-process), backed by an
//! in-memory store with resourceVersions, watches, CRDs and an admission chain.
//!
//! Entry point: [`ApiServer`]. Request flow: `router` → `server` → `objects`/`watch` →
//! `store`, with `lifecycle` running finalizers, garbage collection and namespace cleanup.

pub mod admission;
pub mod apply;
pub mod builtin_resources;
pub mod builtin_validation;
pub mod conversion;
pub mod crd;
pub mod discovery;
pub mod error;
pub mod gofmt;
pub mod http;
pub mod jsonpath;
pub mod kubeconfig;
pub mod lifecycle;
pub mod managed;
pub mod objects;
pub mod openapi;
pub mod patch;
pub mod resources;
pub mod router;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod store;
pub mod table;
pub mod tls;
pub mod validation;
pub mod watch;

pub use error::{ApiError, CauseType, FieldError};
pub use server::{ApiServer, ApiServerConfig, RunningServer, ServeError, ServerImage, WeakApiServer};
