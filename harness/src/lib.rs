//! idp-harness: end-to-end tests for Kubernetes developer platforms (Flux, Gatekeeper, Secrets
//! Store CSI, ACK, Crossplane) on a simulator, a kind cluster or an existing cluster.
//!
//! The binary is glue over this library. So far it holds the `sim up` command; the scenario
//! model, runner and reporters arrive with their issues.

pub mod backend;
pub mod cli;
pub mod report;
pub mod run;
pub mod scenario;
