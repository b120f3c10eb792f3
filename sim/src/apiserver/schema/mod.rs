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

/// A compiled regular expression from a process-wide cache: CRD patterns and format checks
/// repeat across every simulated platform of a run, and compiling is far costlier than
/// matching. `None` if `pattern` does not compile.
pub(crate) fn compiled_regex(pattern: &str) -> Option<regex::Regex> {
    // Patterns come from CRDs, so the set is finite in practice; the bound keeps a stream of
    // generated CRDs from growing it without end.
    static CACHE: crate::cache::Cache<Option<regex::Regex>> = crate::cache::Cache::new(4096);
    CACHE.get_or_insert_with(pattern, || regex::Regex::new(pattern).ok())
}
