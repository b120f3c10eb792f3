//! The runner: runs scenarios on a backend and emits `events` for the reporters.

pub mod events;
