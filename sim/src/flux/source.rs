//! Placeholder while the source controller is being written: installs nothing.

use serde_json::Value;

use super::{Flux, FluxVersion};
use crate::platform::{Platform, PlatformError};

pub fn crds(_version: FluxVersion) -> Vec<Value> {
    Vec::new()
}

pub fn install(_platform: &Platform, _flux: &Flux) -> Result<(), PlatformError> {
    Ok(())
}
