//! The Kubernetes API server of the simulator: REST over HTTP (or in-process), backed by an
//! in-memory store with resourceVersions, watches, CRDs and an admission chain.

pub mod apply;
pub mod error;
pub mod schema;

pub use error::{ApiError, CauseType, FieldError};
