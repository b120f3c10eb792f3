//! `make bench`: figures for the simulator's API server. Prints numbers; asserts nothing about
//! time (timings belong in reports, not in tests).
//!
//! Measures: time until the server answers its first request; creates/s and gets/s from one
//! kube-rs client over loopback (sequential and with 32 requests in flight); watch delivery
//! latency with 100 watchers; resident memory with 100,000 ConfigMaps.

#[macro_use]
#[path = "common/figures.rs"]
mod figures;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::Client;
use serde_json::json;
use sim::apiserver::ApiServer;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn cm(name: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.to_string());
    c.data = Some(BTreeMap::from([("key".to_string(), "value".to_string())]));
    c
}

async fn loopback_client(server: &ApiServer) -> (Client, sim::apiserver::RunningServer) {
    let running = server.serve("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let config = kube::Config::new(running.url().parse().expect("uri"));
    (Client::try_from(config).expect("client"), running)
}

fn rate(n: usize, d: Duration) -> String {
    format!("{:>9.0}/s ({n} in {:.2}s)", n as f64 / d.as_secs_f64(), d.as_secs_f64())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn ready_time() {
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let server = ApiServer::default();
        let running = server.serve("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
        let mut stream = tokio::net::TcpStream::connect(running.addr).await.expect("connect");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("write");
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.expect("read");
        assert!(buf.starts_with(b"HTTP/1.1 200"), "server answered");
        times.push(t.elapsed());
        running.shutdown().await;
    }
    times.sort();
    figure!(
        "apiserver",
        "ready to serve (new server, first /version answered): median {:.2} ms, max {:.2} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 1.0).as_secs_f64() * 1e3
    );
}

async fn creates_and_gets() {
    let server = ApiServer::default();
    let (client, running) = loopback_client(&server).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let n = 5_000;
    let t = Instant::now();
    for i in 0..n {
        api.create(&PostParams::default(), &cm(&format!("seq-{i}"))).await.expect("create");
    }
    figure!("apiserver", "creates, 1 client, sequential:      {}", rate(n, t.elapsed()));
    let n = 20_000;
    let t = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &cm(&format!("par-{i}"))).await.expect("create") }
        })
        .buffer_unordered(32)
        .for_each(|_| async {})
        .await;
    figure!("apiserver", "creates, 1 client, 32 in flight:    {}", rate(n, t.elapsed()));
    let n = 20_000;
    let t = Instant::now();
    for i in 0..n {
        api.get(&format!("seq-{}", i % 5_000)).await.expect("get");
    }
    figure!("apiserver", "gets,    1 client, sequential:      {}", rate(n, t.elapsed()));
    let n = 50_000;
    let t = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move { api.get(&format!("par-{}", i % 20_000)).await.expect("get") }
        })
        .buffer_unordered(32)
        .for_each(|_| async {})
        .await;
    figure!("apiserver", "gets,    1 client, 32 in flight:    {}", rate(n, t.elapsed()));
    running.shutdown().await;
}

async fn watch_latency() {
    let server = ApiServer::default();
    let (client, running) = loopback_client(&server).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let watchers = 100;
    let events = 500;
    let start = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    let mut handles = Vec::new();
    for _ in 0..watchers {
        let api = api.clone();
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let mut s = Box::pin(api.watch(&WatchParams::default().timeout(290), "0").await.expect("watch"));
            let mut got = 0;
            while let Some(Ok(ev)) = s.next().await {
                if let WatchEvent::Added(c) = ev {
                    let sent: u64 =
                        c.data.as_ref().and_then(|d| d.get("sent")).and_then(|s| s.parse().ok()).unwrap_or(0);
                    let now = start.elapsed().as_nanos() as u64;
                    let _ = tx.send(Duration::from_nanos(now.saturating_sub(sent)));
                    got += 1;
                    if got == events {
                        return;
                    }
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writer: Api<ConfigMap> = api.clone();
    for i in 0..events {
        let mut c = cm(&format!("w-{i}"));
        c.data = Some(BTreeMap::from([("sent".to_string(), (start.elapsed().as_nanos() as u64).to_string())]));
        writer.create(&PostParams::default(), &c).await.expect("create");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut lat = Vec::new();
    while let Some(d) = rx.recv().await {
        lat.push(d);
    }
    for h in handles {
        let _ = h.await;
    }
    lat.sort();
    figure!("apiserver", 
        "watch delivery, {watchers} watchers x {events} events ({} deliveries): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        percentile(&lat, 1.0).as_secs_f64() * 1e3
    );
    running.shutdown().await;
}

fn memory() {
    let before = rss_mib();
    let server = ApiServer::default();
    let n = 100_000;
    let t = Instant::now();
    for i in 0..n {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("mem-{i}"), "labels": {"app": "bench"}}, "data": {"key": "value", "other": "a somewhat longer value to be realistic"}});
        server.create_internal("", "v1", "configmaps", Some("default"), body).expect("create");
    }
    let elapsed = t.elapsed();
    let after = rss_mib();
    figure!(
        "apiserver",
        "100,000 ConfigMaps held: RSS {after:.0} MiB (+{:.0} MiB over an empty server), created in-process at {}",
        after - before,
        rate(n, elapsed).trim()
    );
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    figure!(
        "apiserver",
        "idp-harness simulator API server benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    rt.block_on(ready_time());
    rt.block_on(creates_and_gets());
    rt.block_on(watch_latency());
    memory();
}
