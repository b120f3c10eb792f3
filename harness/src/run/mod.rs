//! The runner: runs scenarios on a backend and emits `events` for the reporters.

pub mod events;
pub mod kube_io;
pub mod matcher;
