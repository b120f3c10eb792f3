//! The embedded platform for idp-harness: a Kubernetes API server that kubectl and kube-rs use
//! unchanged, plus (in later modules) simulated platform controllers.
//!
//! This crate must not know about scenarios or reports: it is usable alone, from tests or from
//! `idp-harness sim up`.

/// The allocator of every program that links the simulator (the CLI, the tests, the
/// benchmarks): the API server and the controllers clone and drop JSON trees all the time, and
/// glibc's malloc, with its arena locks, was 40 % of a platform's boot. A program embedding
/// this crate cannot set its own allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod ack;
pub mod apiserver;
pub mod aws;
pub mod cache;
pub mod conditions;
pub mod crds;
pub mod crossplane;
pub mod csi;
pub mod flux;
pub mod gatekeeper;
pub mod git;
pub mod iam;
pub mod identity;
pub mod platform;
pub mod runtime;
pub mod scratch;
pub mod workloads;
