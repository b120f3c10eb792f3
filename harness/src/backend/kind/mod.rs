//! The kind backend: a real kind cluster with the real platform components installed, an AWS
//! emulator container on the `kind` Docker network, the scenario repos served to Flux over Git
//! smart HTTP, and STS interception for the Secrets Store CSI driver's AWS provider.
//!
//! The pieces:
//! * [`readiness`]: what "installed and ready" means for each component, checked over the
//!   Kubernetes API (shared with the `cluster` backend's precondition checks).
//!
//! This module must not know about scenarios' steps or expectations.

pub mod readiness;
