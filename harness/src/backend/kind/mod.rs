//! The kind backend: a real kind cluster with the real platform components installed, an AWS
//! emulator container on the `kind` Docker network, the scenario repos served to Flux over Git
//! smart HTTP, and STS interception for the Secrets Store CSI driver's AWS provider.
//!
//! The pieces:
//! * [`readiness`]: what "installed and ready" means for each component, checked over the
//!   Kubernetes API (shared with the `cluster` backend's precondition checks), evaluated and
//!   waited on with progress;
//! * [`interception`]: the harness-run HTTPS front the cluster's DNS rewrites send intercepted
//!   names to, with [`tls`] (its CA and on-demand certificates), [`gitserver`] (Git smart HTTP
//!   for the scenario repos) and [`sts`] (AssumeRoleWithWebIdentity checked as STS does,
//!   tokens verified by [`jwt`] against the cluster's JWKS, then passed to the emulator).
//!
//! This module must not know about scenarios' steps or expectations.

pub mod gitserver;
pub mod interception;
pub mod jwt;
pub mod readiness;
pub mod sts;
pub mod tls;
