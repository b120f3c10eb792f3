//! The sweep: everything the kind backend creates is labelled with its owner, and what a
//! crashed run left behind is found and removed. Rust testcontainers has no reaper, so this is
//! ours. Containers and networks carry Docker labels ([`Owner::labels`]); kind clusters
//! cannot carry Docker labels, so each cluster the harness makes has a state record
//! (`~/.cache/idp-harness/clusters/<name>.json`, [`ClusterState`]).
//!
//! What is stale: a labelled container or network whose owner process is gone (or ran on
//! another host) and which does not belong to a cluster whose bring-up finished (a finished
//! `kind up` leaves its cluster and emulator for the runs that follow); a cluster whose state
//! record says its bring-up never finished and whose owner is gone. Clusters without a record
//! were not made by the harness and are never touched.
//!
//! The selection is pure (over `docker ps` / `docker network ls` JSON lines, the cluster list
//! and the records); this module must not remove anything itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::docker::CommandLine;

pub const OWNED: &str = "dev.idp-harness.owned";
pub const RUN_ID: &str = "dev.idp-harness.run-id";
pub const PID: &str = "dev.idp-harness.pid";
pub const HOST: &str = "dev.idp-harness.host";
pub const CLUSTER: &str = "dev.idp-harness.cluster";

/// Who made something.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub run_id: String,
    pub pid: u32,
    pub host: String,
    /// The kind cluster it belongs to.
    pub cluster: String,
}

impl Owner {
    /// This process, for cluster `cluster`.
    pub fn this_process(cluster: &str) -> Owner {
        Owner {
            run_id: uuid::Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: this_host(),
            cluster: cluster.to_string(),
        }
    }

    /// The Docker labels of what it creates.
    pub fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            (OWNED, "true".to_string()),
            (RUN_ID, self.run_id.clone()),
            (PID, self.pid.to_string()),
            (HOST, self.host.clone()),
            (CLUSTER, self.cluster.clone()),
        ]
    }
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `HOSTNAME`, else "unknown").
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Whether process `pid` exists on this machine.
pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// How far a cluster's bring-up got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `kind up` is (or was, if it crashed) creating or installing it.
    Creating,
    /// `kind up` finished: the cluster is meant to stay until `kind down`.
    Ready,
}

/// The record of a cluster the harness made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClusterState {
    pub name: String,
    pub owner: Owner,
    pub phase: Phase,
    pub config_hash: String,
    /// The emulator's loopback endpoint for the harness (`http://127.0.0.1:<port>`), once known.
    #[serde(default)]
    pub aws_endpoint: Option<String>,
    /// The emulator's endpoint for pods.
    #[serde(default)]
    pub aws_cluster_endpoint: Option<String>,
    /// The hash of the install plan the cluster was brought up with.
    #[serde(default)]
    pub plan_hash: Option<String>,
    /// The components installed (`kind up --skip` leaves some out); empty in records written
    /// before this field existed, which mean every component.
    #[serde(default)]
    pub components: Vec<super::readiness::Component>,
}

/// `~/.cache/idp-harness` (or `$XDG_CACHE_HOME/idp-harness`); `None` without a home.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("idp-harness"))
}

/// Where cluster `name`'s record lives under `cache`.
pub fn state_path(cache: &Path, name: &str) -> PathBuf {
    cache.join("clusters").join(format!("{name}.json"))
}

/// Every readable record under `cache`.
pub fn read_states(cache: &Path) -> Vec<ClusterState> {
    let Ok(entries) = std::fs::read_dir(cache.join("clusters")) else { return Vec::new() };
    let mut out: Vec<ClusterState> = entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Writes a record (creating the directory).
pub fn write_state(cache: &Path, state: &ClusterState) -> std::io::Result<()> {
    let path = state_path(cache, &state.name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}

/// `docker ps -a` of the harness's containers, one JSON object a line.
pub fn list_containers() -> CommandLine {
    CommandLine::new("docker", ["ps", "-a", "--filter", &format!("label={OWNED}=true"), "--format", "{{json .}}"])
}

/// `docker network ls` of the harness's networks, one JSON object a line.
pub fn list_networks() -> CommandLine {
    CommandLine::new("docker", ["network", "ls", "--filter", &format!("label={OWNED}=true"), "--format", "{{json .}}"])
}

/// A labelled Docker object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub kind: ObjectKind,
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Container,
    Network,
}

/// Parses `--format '{{json .}}'` lines (`ID`, `Names`/`Name`, `Labels` as `k=v,k=v`).
/// Lines that are not such objects are skipped.
pub fn parse_lines(kind: ObjectKind, text: &str) -> Vec<Labelled> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter_map(|v| {
            let id = v.get("ID")?.as_str()?.to_string();
            let name =
                v.get("Names").or_else(|| v.get("Name")).and_then(|n| n.as_str()).unwrap_or_default().to_string();
            let labels = parse_labels(v.get("Labels").and_then(|l| l.as_str()).unwrap_or_default());
            Some(Labelled { kind, id, name, labels })
        })
        .collect()
}

/// `k=v,k2=v2` (Docker's table form; values with commas are not used by the harness).
pub fn parse_labels(s: &str) -> BTreeMap<String, String> {
    s.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.trim().to_string(), v.to_string())).collect()
}

/// Something to remove, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub what: Target,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Container { id: String, name: String },
    Network { id: String, name: String },
    Cluster { name: String },
}

impl Target {
    /// The command that removes it.
    pub fn remove(&self) -> CommandLine {
        match self {
            Target::Container { id, .. } => CommandLine::new("docker", ["rm", "-f", id]),
            Target::Network { id, .. } => CommandLine::new("docker", ["network", "rm", id]),
            Target::Cluster { name } => super::config::delete_cluster(name),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Container { name, id } => write!(f, "container {name} ({})", short(id)),
            Target::Network { name, id } => write!(f, "network {name} ({})", short(id)),
            Target::Cluster { name } => write!(f, "kind cluster {name}"),
        }
    }
}

/// The first 12 characters of an id, as `docker ps` shows it.
fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Why an owner no longer holds what it made, if it does not.
fn owner_gone(pid: Option<u32>, host: Option<&str>, this_host: &str, alive: &dyn Fn(u32) -> bool) -> Option<String> {
    match (pid, host) {
        (_, Some(h)) if h != this_host => Some(format!("its owner ran on host {h}, not this one ({this_host})")),
        (Some(p), _) if !alive(p) => Some(format!("its owner process {p} is gone")),
        (None, _) => Some("it has no owner pid label".to_string()),
        _ => None,
    }
}

/// What a sweep at start removes. `clusters`: `kind get clusters`; `states`: the records;
/// `alive`: whether a pid exists here.
pub fn select_stale(
    objects: &[Labelled],
    clusters: &[String],
    states: &[ClusterState],
    this_host: &str,
    alive: &dyn Fn(u32) -> bool,
) -> Vec<Stale> {
    // A finished bring-up keeps what belongs to its cluster, whichever run created it (a
    // reused cluster keeps the emulator container an earlier run started).
    let ready = |cluster: &str| {
        clusters.iter().any(|c| c == cluster) && states.iter().any(|s| s.name == cluster && s.phase == Phase::Ready)
    };
    let mut out = Vec::new();
    for o in objects {
        if o.labels.get(OWNED).map(String::as_str) != Some("true") {
            continue;
        }
        let cluster = o.labels.get(CLUSTER).map(String::as_str).unwrap_or_default();
        if ready(cluster) {
            continue;
        }
        let pid = o.labels.get(PID).and_then(|p| p.parse().ok());
        if let Some(why) = owner_gone(pid, o.labels.get(HOST).map(String::as_str), this_host, alive) {
            let what = match o.kind {
                ObjectKind::Container => Target::Container { id: o.id.clone(), name: o.name.clone() },
                ObjectKind::Network => Target::Network { id: o.id.clone(), name: o.name.clone() },
            };
            out.push(Stale { what, reason: format!("{why}, and cluster {cluster:?} of its run is not up") });
        }
    }
    for s in states {
        if s.phase != Phase::Creating || !clusters.iter().any(|c| c == &s.name) {
            continue;
        }
        if let Some(why) = owner_gone(Some(s.owner.pid), Some(&s.owner.host), this_host, alive) {
            out.push(Stale {
                what: Target::Cluster { name: s.name.clone() },
                reason: format!("its bring-up never finished and {why}"),
            });
        }
    }
    out
}

/// What `kind down --name <cluster>` removes: every labelled object of that cluster, then the
/// cluster itself when the harness made it (it has a record) or `force` is set.
pub fn select_down(
    objects: &[Labelled],
    clusters: &[String],
    states: &[ClusterState],
    cluster: &str,
    force: bool,
) -> Vec<Target> {
    let mut out: Vec<Target> = objects
        .iter()
        .filter(|o| o.labels.get(OWNED).map(String::as_str) == Some("true"))
        .filter(|o| o.labels.get(CLUSTER).map(String::as_str) == Some(cluster))
        .map(|o| match o.kind {
            ObjectKind::Container => Target::Container { id: o.id.clone(), name: o.name.clone() },
            ObjectKind::Network => Target::Network { id: o.id.clone(), name: o.name.clone() },
        })
        .collect();
    // Containers before networks (a network in use cannot be removed).
    out.sort_by_key(|t| matches!(t, Target::Network { .. }));
    if clusters.iter().any(|c| c == cluster) && (force || states.iter().any(|s| s.name == cluster)) {
        out.push(Target::Cluster { name: cluster.to_string() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // As `docker ps -a --format '{{json .}}'` prints them (abridged).
    const PS: &str = r#"{"Command":"\"/usr/local/bin/moto…\"","ID":"aaa111","Image":"motoserver/moto:5.2.5","Labels":"dev.idp-harness.owned=true,dev.idp-harness.run-id=r-old,dev.idp-harness.pid=999999,dev.idp-harness.host=ci-1,dev.idp-harness.cluster=crashed","Names":"crashed-aws","State":"exited"}
{"ID":"bbb222","Labels":"dev.idp-harness.owned=true,dev.idp-harness.run-id=r-ready,dev.idp-harness.pid=999998,dev.idp-harness.host=ci-1,dev.idp-harness.cluster=idp-harness","Names":"idp-harness-aws","State":"running"}
{"ID":"ccc333","Labels":"dev.idp-harness.owned=true,dev.idp-harness.run-id=r-live,dev.idp-harness.pid=100,dev.idp-harness.host=ci-1,dev.idp-harness.cluster=starting","Names":"starting-aws","State":"running"}
{"ID":"ddd444","Labels":"dev.idp-harness.owned=true,dev.idp-harness.run-id=r-x,dev.idp-harness.pid=100,dev.idp-harness.host=laptop,dev.idp-harness.cluster=elsewhere","Names":"foreign-aws","State":"running"}
not json
"#;
    const NETS: &str = r#"{"CreatedAt":"2026-11-24","Driver":"bridge","ID":"net1","Labels":"dev.idp-harness.owned=true,dev.idp-harness.run-id=r-old,dev.idp-harness.pid=999999,dev.idp-harness.host=ci-1,dev.idp-harness.cluster=crashed","Name":"idp-harness-git","Scope":"local"}"#;

    fn state(name: &str, run: &str, pid: u32, phase: Phase) -> ClusterState {
        ClusterState {
            name: name.into(),
            owner: Owner { run_id: run.into(), pid, host: "ci-1".into(), cluster: name.into() },
            phase,
            config_hash: "h".into(),
            aws_endpoint: None,
            aws_cluster_endpoint: None,
            plan_hash: None,
            components: Vec::new(),
        }
    }

    fn objects() -> Vec<Labelled> {
        let mut o = parse_lines(ObjectKind::Container, PS);
        o.extend(parse_lines(ObjectKind::Network, NETS));
        o
    }

    #[test]
    fn parses_docker_json_lines() {
        let o = objects();
        assert_eq!(o.len(), 5);
        assert_eq!(o[0].name, "crashed-aws");
        assert_eq!(o[0].labels[PID], "999999");
        assert_eq!(o[4].kind, ObjectKind::Network);
        assert_eq!(o[4].name, "idp-harness-git");
    }

    #[test]
    fn stale_means_owner_gone_or_foreign_and_not_part_of_a_ready_cluster() {
        let alive = |p: u32| p == 100;
        let clusters =
            vec!["idp-harness".to_string(), "crashed".to_string(), "half".to_string(), "foreign".to_string()];
        let states = vec![
            state("idp-harness", "r-newer", 999998, Phase::Ready),
            state("crashed", "r-old", 999999, Phase::Creating),
            state("half", "r-half", 100, Phase::Creating),
        ];
        let stale = select_stale(&objects(), &clusters, &states, "ci-1", &alive);
        let names: Vec<String> = stale.iter().map(|s| s.what.to_string()).collect();
        assert_eq!(
            names,
            vec![
                "container crashed-aws (aaa111)",
                "container foreign-aws (ddd444)",
                "network idp-harness-git (net1)",
                "kind cluster crashed"
            ]
        );
        assert!(stale[0].reason.contains("owner process 999999 is gone"), "{}", stale[0].reason);
        assert!(stale[1].reason.contains("host laptop"), "{}", stale[1].reason);
        assert!(stale[3].reason.contains("never finished"), "{}", stale[3].reason);
    }

    #[test]
    fn a_ready_clusters_emulator_goes_once_its_cluster_is_gone() {
        let states = vec![state("idp-harness", "r-ready", 999998, Phase::Ready)];
        let stale = select_stale(&objects(), &[], &states, "ci-1", &|p| p == 100);
        assert!(stale.iter().any(|s| s.what.to_string().starts_with("container idp-harness-aws")));
    }

    #[test]
    fn down_removes_the_clusters_objects_then_the_cluster() {
        let clusters = vec!["idp-harness".to_string(), "mine-not".to_string()];
        let states = vec![state("idp-harness", "r-ready", 1, Phase::Ready)];
        let t = select_down(&objects(), &clusters, &states, "idp-harness", false);
        let names: Vec<String> = t.iter().map(|t| t.to_string()).collect();
        assert_eq!(names, vec!["container idp-harness-aws (bbb222)", "kind cluster idp-harness"]);
        assert_eq!(t[1].remove().to_string(), "kind delete cluster --name idp-harness");
        assert!(select_down(&objects(), &clusters, &states, "mine-not", false).is_empty());
        assert_eq!(
            select_down(&objects(), &clusters, &states, "mine-not", true),
            vec![Target::Cluster { name: "mine-not".into() }]
        );
    }

    #[test]
    fn records_round_trip_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let s = state("idp-harness", "r", 1, Phase::Creating);
        write_state(dir.path(), &s).unwrap();
        assert_eq!(read_states(dir.path()), vec![s]);
        assert!(state_path(dir.path(), "x").ends_with("clusters/x.json"));
    }
}
