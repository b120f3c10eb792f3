//! The kind backend: a real kind cluster with the real platform components installed, an AWS
//! emulator container on the `kind` Docker network, the scenario repos served to Flux over Git
//! smart HTTP, and STS interception for the Secrets Store CSI driver's AWS provider.
//!
//! The pieces:
//! * [`readiness`]: what "installed and ready" means for each component, checked over the
//!   Kubernetes API (shared with the `cluster` backend's precondition checks), evaluated and
//!   waited on with progress;
//! * [`versions`]: every pinned version and image (kind, node image digest, charts, Flux,
//!   the Crossplane provider, the emulator images), each with its source;
//! * [`config`]: the kind cluster configuration, its hash, and create/reuse/recreate;
//! * [`install`]: the install plan (ordered steps, chart values, readiness waits);
//! * [`emulator`]: the AWS emulator container (moto or LocalStack) on the `kind` network;
//! * [`cluster_wiring`]: the cluster side of the interception (Service, EndpointSlice,
//!   CoreDNS rewrites, CA bundle, `SSL_CERT_FILE` patches);
//! * [`interception`]: the harness-run HTTPS front the cluster's DNS rewrites send intercepted
//!   names to, with [`tls`] (its CA and on-demand certificates), [`gitserver`] (Git smart HTTP
//!   for the scenario repos) and [`sts`] (AssumeRoleWithWebIdentity checked as STS does,
//!   tokens verified by [`jwt`] against the cluster's JWKS, then passed to the emulator);
//! * [`images`]: image preload (`docker save` + `kind load image-archive`, cached);
//! * [`sweep`]: owner labels and state records, and what a sweep or `kind down` removes;
//! * [`docker`]: external commands as data, and running them;
//! * [`up`]: `kind up | down | status`: the phases, with progress.
//!
//! This module must not know about scenarios' steps or expectations.

pub mod cluster_wiring;
pub mod config;
pub mod docker;
pub mod emulator;
pub mod gitserver;
pub mod images;
pub mod install;
pub mod interception;
pub mod jwt;
pub mod readiness;
pub mod sts;
pub mod sweep;
pub mod tls;
pub mod up;
pub mod versions;
