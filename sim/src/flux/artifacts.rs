//! Artifacts: what source-controller produces and kustomize- and helm-controller consume. In
//! Flux they are tarballs served over HTTP; here each is a directory under the platform's work
//! directory, found by the source's kind, namespace and name.
//!
//! This module only stores and finds artifacts; fetching and building are the controllers'.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// One stored artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `main@sha1:<sha>` and the like.
    pub revision: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// The exported tree.
    pub dir: PathBuf,
    /// `status.artifact.path` (`gitrepository/<ns>/<name>/<sha>.tar.gz`).
    pub path: String,
    /// `status.artifact.url`, as source-controller's storage server would give it.
    pub url: String,
}

/// (kind, namespace, name) of a source.
pub type SourceKey = (String, String, String);

/// Where artifacts live. Clones share one store.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
    by_source: Arc<RwLock<HashMap<SourceKey, Artifact>>>,
}

impl ArtifactStore {
    pub fn new(root: PathBuf) -> Self {
        ArtifactStore { root, by_source: Arc::default() }
    }

    /// The directory an artifact of this source at this revision id should be exported to.
    pub fn dir_for(&self, kind: &str, namespace: &str, name: &str, id: &str) -> PathBuf {
        self.root.join(kind.to_lowercase()).join(namespace).join(name).join(id)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Records the current artifact of a source.
    pub fn put(&self, kind: &str, namespace: &str, name: &str, artifact: Artifact) {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        self.by_source.write().unwrap_or_else(|e| e.into_inner()).insert(key, artifact);
    }

    /// The current artifact of a source, if it has one.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Artifact> {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        self.by_source.read().unwrap_or_else(|e| e.into_inner()).get(&key).cloned()
    }

    /// Forgets a source's artifact (the source was deleted).
    pub fn remove(&self, kind: &str, namespace: &str, name: &str) {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        self.by_source.write().unwrap_or_else(|e| e.into_inner()).remove(&key);
    }
}
