//! The CustomResourceDefinitions Gatekeeper installs: ConstraintTemplate
//! (`templates.gatekeeper.sh`, v1 stored, v1beta1 and v1alpha1 served), Config
//! (`config.gatekeeper.sh/v1alpha1`) and SyncSet (`syncset.gatekeeper.sh/v1alpha1`).
//!
//! The schemas are written here from the documented fields (not copied from Gatekeeper's
//! manifests); they are as strict as the real ones where it shows to users (unknown fields under
//! `spec` are pruned or rejected, Rego sources are strings) and open where Gatekeeper keeps
//! them open (`openAPIV3Schema` of the parameters, `status`). Constraint CRDs are generated per
//! template by [`super::ConstraintTemplate::constraint_crd`].

use serde_json::{json, Value};

use crate::crds::{array, boolean, crd, object, open_object, resource, string, strings, Version};

fn gvk_list() -> Value {
    array(object(&[("group", string()), ("version", string()), ("kind", string())], &[]))
}

fn template_schema() -> Value {
    let code = object(&[("engine", string()), ("source", crate::crds::any())], &["engine", "source"]);
    let target = object(
        &[
            ("target", string()),
            ("rego", string()),
            ("libs", strings()),
            ("operations", strings()),
            ("code", array(code)),
        ],
        &[],
    );
    let validation = object(&[("legacySchema", boolean()), ("openAPIV3Schema", open_object())], &[]);
    let names = object(&[("kind", string()), ("shortNames", strings())], &[]);
    let crd_spec = object(&[("names", names), ("validation", validation)], &[]);
    let spec = object(&[("crd", object(&[("spec", crd_spec)], &[])), ("targets", array(target))], &[]);
    resource(spec, open_object())
}

fn config_schema() -> Value {
    let exclusion = object(&[("excludedNamespaces", strings()), ("processes", strings())], &[]);
    let spec = object(
        &[
            ("sync", object(&[("syncOnly", gvk_list())], &[])),
            ("match", array(exclusion)),
            ("validation", object(&[("traces", array(open_object()))], &[])),
            ("readiness", object(&[("statsEnabled", boolean())], &[])),
        ],
        &[],
    );
    resource(spec, open_object())
}

fn syncset_schema() -> Value {
    resource(object(&[("gvks", gvk_list())], &[]), open_object())
}

/// Every CRD Gatekeeper installs, in install order, labelled as Gatekeeper's.
pub fn crds() -> Vec<Value> {
    let templates = [Version::storage("v1"), Version::served("v1beta1"), Version::served("v1alpha1")];
    let mut all = vec![
        crd(
            "templates.gatekeeper.sh",
            "ConstraintTemplate",
            "constrainttemplates",
            "Cluster",
            &[],
            &templates,
            &template_schema(),
        ),
        crd(
            "config.gatekeeper.sh",
            "Config",
            "configs",
            "Namespaced",
            &[],
            &[Version::storage("v1alpha1")],
            &config_schema(),
        ),
        crd(
            "syncset.gatekeeper.sh",
            "SyncSet",
            "syncsets",
            "Cluster",
            &[],
            &[Version::storage("v1alpha1")],
            &syncset_schema(),
        ),
    ];
    for c in &mut all {
        c["metadata"]["labels"] = json!({"gatekeeper.sh/system": "yes"});
    }
    all
}
