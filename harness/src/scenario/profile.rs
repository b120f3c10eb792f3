//! A scenario's platform profile resolved to the simulator's [`sim::platform::Profile`]: the
//! shared file it names (`from`), the keys that override it, `none` to leave a component out,
//! versions checked against what the simulator models, and the virtual nodes (count checked).
//!
//! Used by `validate` (so a wrong version is caught before anything runs) and by the backends.
//! It must not start anything.

use std::path::Path;

use super::model::Profile;

/// `none` leaves a component out.
pub const NONE: &str = "none";
/// The most virtual nodes a scenario may ask for.
pub const MAX_NODES: usize = 50;

/// Resolves `profile` (relative paths against `dir`). Errors name the field and the file.
pub fn resolve(profile: Option<&Profile>, dir: &Path) -> Result<sim::platform::Profile, String> {
    let mut out = sim::platform::Profile::default();
    let Some(p) = profile else { return Ok(out) };
    if let Some(from) = &p.from {
        let path = dir.join(from);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("spec.profile.from: cannot read {}: {e}", path.display()))?;
        let shared: Profile =
            serde_saphyr::from_str(&text).map_err(|e| format!("spec.profile.from: {}: {e}", path.display()))?;
        if shared.from.is_some() {
            return Err(format!("spec.profile.from: {}: a profile file cannot name another (`from`)", path.display()));
        }
        apply(&mut out, &shared, &format!("{} ", path.display()))?;
    }
    apply(&mut out, p, "")?;
    Ok(out)
}

fn apply(out: &mut sim::platform::Profile, p: &Profile, origin: &str) -> Result<(), String> {
    let pick = |field: &str, v: &Option<String>, supported: &[&str], slot: &mut Option<String>| -> Result<(), String> {
        let Some(v) = v else { return Ok(()) };
        if v == NONE {
            *slot = None;
            return Ok(());
        }
        sim::platform::check_version("", v, supported).map_err(|_| {
            format!(
                "{origin}spec.profile.{field}: version {v:?} is not modelled; use one of {} or `none`",
                supported.join(", ")
            )
        })?;
        *slot = Some(v.clone());
        Ok(())
    };
    pick("flux", &p.flux, sim::flux::SUPPORTED_VERSIONS, &mut out.flux)?;
    pick("gatekeeper", &p.gatekeeper, sim::gatekeeper::controller::SUPPORTED_VERSIONS, &mut out.gatekeeper)?;
    pick("csi", &p.csi, sim::csi::SUPPORTED_VERSIONS, &mut out.csi)?;
    if let Some(r) = &p.region {
        // Region names: letters, digits and dashes, like `eu-north-1` or `us-gov-west-1`.
        let valid = r.split('-').count() >= 3
            && r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && r.chars().last().is_some_and(|c| c.is_ascii_digit());
        if !valid {
            return Err(format!("{origin}spec.profile.region: {r:?} is not an AWS region name (like eu-north-1)"));
        }
        out.region = Some(r.clone());
    }
    pick("ackIam", &p.ack_iam, sim::ack::SUPPORTED_IAM, &mut out.ack_iam)?;
    pick("ackRds", &p.ack_rds, sim::ack::SUPPORTED_RDS, &mut out.ack_rds)?;
    pick("ackSecretsmanager", &p.ack_secretsmanager, sim::ack::SUPPORTED_SECRETSMANAGER, &mut out.ack_secretsmanager)?;
    pick("crossplaneAws", &p.crossplane_aws, sim::crossplane::SUPPORTED_VERSIONS, &mut out.crossplane_aws)?;
    if let Some(nodes) = &p.nodes {
        if let Some(count) = nodes.count {
            if !(1..=MAX_NODES).contains(&count) {
                return Err(format!("{origin}spec.profile.nodes.count: {count} nodes; use 1 to {MAX_NODES}"));
            }
            out.nodes.count = count;
        }
        out.nodes.labels.extend(nodes.labels.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_none_and_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(resolve(None, dir.path()), Ok(sim::platform::Profile::default()));
        let p = Profile { flux: Some("2.7".into()), gatekeeper: Some("none".into()), ..Default::default() };
        let r = resolve(Some(&p), dir.path()).expect("resolves");
        assert_eq!((r.flux.as_deref(), r.gatekeeper.as_deref()), (Some("2.7"), None));
        let bad = Profile { flux: Some("1.0".into()), ..Default::default() };
        let e = resolve(Some(&bad), dir.path()).expect_err("unknown version");
        assert!(e.starts_with("spec.profile.flux: version \"1.0\" is not modelled; use one of 2.5"), "{e}");
        std::fs::write(dir.path().join("p.yaml"), "flux: \"2.6\"\ngatekeeper: \"3.19\"\n").expect("write");
        let p = Profile { from: Some("p.yaml".into()), gatekeeper: Some("3.20".into()), ..Default::default() };
        let r = resolve(Some(&p), dir.path()).expect("resolves");
        assert_eq!((r.flux.as_deref(), r.gatekeeper.as_deref()), (Some("2.6"), Some("3.20")));
        std::fs::write(dir.path().join("n.yaml"), "nodes: {count: 4, labels: {a: \"1\"}}\n").expect("write");
        let nodes = super::super::model::Nodes { count: None, labels: [("b".to_string(), "2".to_string())].into() };
        let p = Profile { from: Some("n.yaml".into()), nodes: Some(nodes), ..Default::default() };
        let r = resolve(Some(&p), dir.path()).expect("resolves");
        assert_eq!(r.nodes.count, 4, "the file's count stays when the scenario gives none");
        assert_eq!(
            r.nodes.labels.into_iter().collect::<Vec<_>>(),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        for bad in [0, 51] {
            let nodes = super::super::model::Nodes { count: Some(bad), ..Default::default() };
            let e =
                resolve(Some(&Profile { nodes: Some(nodes), ..Default::default() }), dir.path()).expect_err("count");
            assert_eq!(e, format!("spec.profile.nodes.count: {bad} nodes; use 1 to 50"));
        }
        let missing = Profile { from: Some("nope.yaml".into()), ..Default::default() };
        assert!(resolve(Some(&missing), dir.path())
            .expect_err("missing")
            .starts_with("spec.profile.from: cannot read"));
    }
}
