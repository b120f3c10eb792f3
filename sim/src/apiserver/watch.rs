//! Watches: a stream of `{"type": ..., "object": ...}` lines from a resourceVersion on, with
//! initial events, bookmarks (including the `k8s.io/initial-events-end` bookmark of streaming
//! lists), selector transitions (an object leaving a selector is DELETED for that watcher),
//! `timeoutSeconds`, and 410 Expired as an ERROR event when the version is too old.
//!
//! Each watch is one task that reads the store's broadcast and writes to the response body;
//! it ends when the client goes away. It must not block the store.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::error::ApiError;
use super::http::{ChannelBody, Format};
use super::objects::{present, Filter, Req};
use super::resources::{GroupResource, ResourceDef};
use super::server::Shared;
use super::store::{namespace_of, Change, EventType, Store};
use super::table;

/// How often an idle watch with bookmarks enabled gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);

struct Watcher {
    def: Arc<ResourceDef>,
    /// Where `def`'s objects are stored (changes carry the storage group/resource and object;
    /// `render` and the filter convert them to the served shape).
    gr: GroupResource,
    namespace: Option<String>,
    filter: Filter,
    format: Format,
    bookmarks: bool,
    tx: mpsc::Sender<Bytes>,
    last_rv: u64,
}

impl Watcher {
    fn wants(&self, c: &Change) -> bool {
        c.gr == self.gr && self.namespace.as_deref().is_none_or(|ns| ns == c.namespace)
    }

    fn render(&self, obj: &Value) -> Value {
        let obj = present(&self.def, obj);
        match self.format {
            Format::Table => table::to_table(&self.def, &[Arc::new(obj)], None, None, None),
            Format::Metadata => table::partial_metadata(&obj),
            _ => obj,
        }
    }

    async fn send(&mut self, type_: &str, obj: Value) -> bool {
        let line = format!("{}\n", json!({"type": type_, "object": obj}));
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    /// Sends one change as this watcher sees it (with selector transitions). False when the
    /// client is gone.
    async fn change(&mut self, c: &Change) -> bool {
        // Every change read moves the bookmark forward, wanted or not.
        self.last_rv = c.rv;
        if !self.wants(c) {
            return true;
        }
        let now_matches = c.type_ != EventType::Deleted && self.filter.matches(&c.object);
        let was_matching = c.old.as_ref().is_some_and(|o| self.filter.matches(o));
        let type_ = match c.type_ {
            EventType::Added if now_matches => "ADDED",
            EventType::Modified if now_matches && was_matching => "MODIFIED",
            EventType::Modified if now_matches => "ADDED",
            EventType::Modified if was_matching => "DELETED",
            EventType::Deleted if was_matching || self.filter.matches(&c.object) => "DELETED",
            _ => return true,
        };
        let obj = self.render(&c.object);
        self.send(type_, obj).await
    }

    async fn bookmark(&mut self, rv: u64, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": meta});
        self.send("BOOKMARK", obj).await
    }

    async fn error(&mut self, e: &ApiError) {
        let _ = self.send("ERROR", e.to_status()).await;
    }
}

/// Starts a watch and returns the streaming body.
pub fn start(
    sh: Arc<Shared>,
    req: &Req,
    def: Arc<ResourceDef>,
    namespace: Option<String>,
) -> Result<ChannelBody, ApiError> {
    let filter = Filter::from_query(&def, &req.query)?;
    let rv = req.query.get("resourceVersion").map(str::to_string);
    let send_initial = req.query.flag("sendInitialEvents");
    let bookmarks = req.query.flag("allowWatchBookmarks");
    let timeout = req
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let from = match rv.as_deref() {
        None | Some("0") => None,
        Some(v) => Some(Store::parse_rv(v)?),
    };
    let gr = def.group_resource();
    // Initial state: sent for an unset or "0" version, or when asked for explicitly.
    let (initial, start) = if from.is_none() || send_initial {
        let (items, start) = sh.store.snapshot_and_watch(&gr, namespace.as_deref());
        (Some(items), Ok(start))
    } else {
        (None, sh.store.watch_from(from))
    };
    let (tx, rx) = mpsc::channel::<Bytes>(512);
    let mut w = Watcher { def, gr: gr.clone(), namespace, filter, format: req.format, bookmarks, tx, last_rv: 0 };
    tokio::spawn(async move {
        let start = match start {
            Ok(s) => s,
            Err(e) => {
                w.error(&e).await;
                return;
            }
        };
        w.last_rv = start.current_rv;
        if let Some(items) = initial {
            for obj in items.iter() {
                if namespace_of(obj).is_empty() && w.def.namespaced {
                    continue;
                }
                if w.filter.matches(obj) {
                    let o = w.render(obj);
                    if !w.send("ADDED", o).await {
                        return;
                    }
                }
            }
            if send_initial && !w.bookmark(start.current_rv, true).await {
                return;
            }
        }
        for c in &start.backlog {
            if !w.change(c).await {
                return;
            }
        }
        let mut rx = start.rx;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = w.tx.closed() => return,
                got = rx.recv() => match got {
                    Ok(c) => {
                        if !w.change(&c).await {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let e = ApiError::gone(format!("too old resource version: {} ({})", w.last_rv, w.last_rv + 1));
                        w.error(&e).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tokio::time::sleep(BOOKMARK_EVERY), if w.bookmarks => {
                    let rv = w.last_rv;
                    if !w.bookmark(rv, false).await {
                        return;
                    }
                }
            }
        }
    });
    Ok(ChannelBody::new(rx))
}
