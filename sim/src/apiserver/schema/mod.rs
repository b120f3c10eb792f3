//! Type knowledge the API server needs beyond raw JSON: list semantics for merging (strategic
//! merge patch, server-side apply) and structural schemas for CRDs.
//!
//! Nothing here does I/O or touches the store.

pub mod builtin;
pub mod structural;
pub mod structural_check;
pub mod structural_prune;
pub mod structural_validate;
pub mod typenode;

pub use builtin::builtin_type;
pub use typenode::{ListType, SmpStrategy, TypeNode};

#[cfg(test)]
mod structural_tests;
