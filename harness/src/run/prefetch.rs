//! The scenarios of a run as kustomize build plans ([`sim::flux::kustomize::prefetch`]): each
//! scenario's repos, then its `apply` and `commit` steps in order (those inside `try` and
//! `finally` blocks too; `catch` and `cleanup` blocks run only sometimes and are left out).
//! Objects are read as written: bindings (`${account}`, `${namespace}`) are known only when
//! the scenario runs, so a Flux object that needs one is built by its reconcile instead.
//!
//! This module only reads scenario files; an apply or commit it cannot read is left out of the
//! plan (the scenario reports it when it runs).

use serde_saphyr::Spanned;
use sim::flux::kustomize::prefetch::{Plan, PlanStep};

use crate::scenario::{Loaded, Step};

/// The namespace objects without one are counted in (a scenario's own namespace has a name
/// only when it runs).
const SCENARIO_NAMESPACE: &str = "${namespace}";

/// One plan per scenario file, in the given order (a repeated scenario is planned once).
pub fn plans(scenarios: &[Loaded]) -> Vec<Plan> {
    let mut seen = std::collections::HashSet::new();
    scenarios.iter().filter(|l| seen.insert(l.path.clone())).map(plan).collect()
}

fn plan(loaded: &Loaded) -> Plan {
    let repos = loaded.scenario.spec.repos.iter().map(|r| super::scenario::repo_spec(loaded, &r.value)).collect();
    let mut steps = Vec::new();
    add_steps(loaded, &loaded.scenario.spec.steps, &mut steps);
    Plan { repos, steps }
}

fn add_steps(loaded: &Loaded, steps: &[Spanned<Step>], out: &mut Vec<PlanStep>) {
    for step in steps {
        let step = &step.value;
        if let Some(a) = &step.apply {
            if let Ok(objects) = super::steps::apply::documents_as_written(loaded.dir(), a) {
                out.push(PlanStep::Apply { objects, default_namespace: SCENARIO_NAMESPACE.to_string() });
            }
        }
        if let Some(c) = &step.commit {
            if let Ok(changes) = super::steps::commit::changes(loaded.dir(), c) {
                out.push(PlanStep::Commit { url: c.repo.clone(), branch: c.branch.clone(), changes });
            }
        }
        for block in [&step.try_, &step.finally].into_iter().flatten() {
            add_steps(loaded, block, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scenario's plan: its repos, then its applies and commits in order, `try` and `finally`
    /// blocks included and `catch` left out, objects as written.
    #[test]
    fn a_plan_follows_the_scenarios_applies_and_commits_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("platform")).expect("mkdir");
        std::fs::write(dir.path().join("platform/a.yaml"), "kind: x\n").expect("write");
        std::fs::write(dir.path().join("local.yaml"), "copied\n").expect("write");
        let file = dir.path().join("s.yaml");
        std::fs::write(
            &file,
            r#"apiVersion: idp-harness.dev/v1alpha1
kind: Scenario
metadata: {name: planned}
spec:
  repos:
    - {url: https://git.example.com/platform.git, from: platform, branch: trunk}
  steps:
    - apply:
        objects:
          - {apiVersion: v1, kind: ConfigMap, metadata: {name: vars}, data: {account: "${account}"}}
    - try:
        - commit:
            repo: https://git.example.com/platform.git
            files: {b.yaml: "kind: y\n"}
            copy: {c.yaml: local.yaml}
            remove: [a.yaml]
      catch:
        - apply:
            objects: [{apiVersion: v1, kind: ConfigMap, metadata: {name: caught}}]
      finally:
        - apply:
            inline: |
              apiVersion: v1
              kind: ConfigMap
              metadata: {name: last}
"#,
        )
        .expect("write scenario");
        let (loaded, errors) = crate::cli::discover::load_all(&[file]);
        assert!(errors.is_empty(), "{errors:?}");
        let repeated = [loaded[0].clone(), loaded[0].clone()];
        assert_eq!(plans(&repeated).len(), 1, "a repeated scenario is planned once");
        let plans = plans(&loaded);
        assert_eq!(plans.len(), 1);
        let plan = &plans[0];
        assert_eq!(plan.repos.len(), 1);
        assert_eq!(plan.repos[0].url, "https://git.example.com/platform.git");
        assert_eq!(plan.repos[0].branch.as_deref(), Some("trunk"));
        assert_eq!(plan.repos[0].from, dir.path().join("platform"));
        let names: Vec<String> = plan
            .steps
            .iter()
            .map(|s| match s {
                PlanStep::Apply { objects, default_namespace } => {
                    assert_eq!(default_namespace, SCENARIO_NAMESPACE);
                    let names: Vec<&str> =
                        objects.iter().filter_map(|o| o.pointer("/metadata/name").and_then(|n| n.as_str())).collect();
                    format!("apply {}", names.join(","))
                }
                PlanStep::Commit { url, branch, changes } => {
                    assert_eq!((url.as_str(), branch.as_deref()), ("https://git.example.com/platform.git", None));
                    assert_eq!(
                        changes,
                        &[
                            sim::git::Change::remove("a.yaml"),
                            sim::git::Change::write("c.yaml", "copied\n"),
                            sim::git::Change::write("b.yaml", "kind: y\n"),
                        ]
                    );
                    "commit".to_string()
                }
            })
            .collect();
        assert_eq!(names, ["apply vars", "commit", "apply last"]);
        let PlanStep::Apply { objects, .. } = &plan.steps[0] else { unreachable!("checked above") };
        assert_eq!(objects[0].pointer("/data/account").and_then(|v| v.as_str()), Some("${account}"), "as written");
    }
}
