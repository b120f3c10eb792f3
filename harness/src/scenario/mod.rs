//! The scenario model: the file format (`model`), loading with precise errors (`load`), time
//! spans (`duration`) and `${...}` bindings (`bindings`).
//!
//! This module stands apart from the runner: it parses and checks, and runs nothing.

pub mod aws;
pub mod bindings;
pub mod duration;
pub mod load;
pub mod model;
pub mod profile;
pub mod schema;

pub use duration::Duration;
pub use load::{load_file, load_str, LoadError, Loaded};
pub use model::*;
