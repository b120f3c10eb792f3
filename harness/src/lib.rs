//! idp-harness: end-to-end tests for Kubernetes developer platforms (Flux, Gatekeeper, Secrets
//! Store CSI, ACK, Crossplane) on a simulator, a kind cluster or an existing cluster.
//!
//! The binary is glue over this library: `scenario` (the format and its loader), `run` (the
//! runner, steps, expectations), `report` (terminal, JUnit, JSON), `backend` (sim, cluster),
//! `policy` (gator-compatible policy suites), `cli`, and `api` (running a scenario from Rust
//! tests).

pub mod api;
pub mod backend;
pub mod cli;
pub mod policy;
pub mod report;
pub mod run;
pub mod scenario;
