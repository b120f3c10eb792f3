//! The merge shape of built-in kinds: which lists are merged by which keys, which are sets, which
//! are atomic, and which maps are plain string maps.
//!
//! The facts follow the Go struct tags of Kubernetes 1.3x (`patchStrategy`/`patchMergeKey` for
//! strategic merge patch, `+listType`/`+listMapKey`/`+mapType` for server-side apply). For a
//! list-map, `ListType::Map(keys)` holds the server-side-apply keys and `keys[0]` is the
//! strategic-merge `patchMergeKey`. Where strategic merge patch disagrees with server-side apply
//! in a way that cannot be expressed that way, the node is wrapped with
//! [`TypeNode::with_smp`]. Only fields that matter for merging are listed: everything else is
//! `Unknown` (maps merge key by key, lists are atomic), which is also what unlisted kinds get
//! apart from their `metadata`.
//!
//! This module holds shape only: it must not hold values, defaults or validation rules.

use std::sync::Arc;

use super::typenode::{SmpStrategy, TypeNode};

/// The merge shape of an object of built-in `kind` in API `group` (`""` for the core group).
/// Unknown kinds (custom resources included) get a shape where only `metadata` is known.
pub fn builtin_type(group: &str, kind: &str) -> Arc<TypeNode> {
    let node = match (group, kind) {
        ("", "Pod") => top(pod_spec(), pod_status()),
        ("", "PodTemplate") => TypeNode::object([("metadata", object_meta()), ("template", pod_template())]),
        ("", "ReplicationController") => {
            top(TypeNode::object([("selector", atomic_map()), ("template", pod_template())]), conditions_status())
        }
        ("", "Service") => top(service_spec(), service_status()),
        ("", "Node") => top(node_spec(), node_status()),
        ("", "Namespace") => top(TypeNode::object([("finalizers", atomic_scalars())]), conditions_status()),
        ("", "Secret") => {
            TypeNode::object([("metadata", object_meta()), ("data", string_map()), ("stringData", string_map())])
        }
        ("", "ConfigMap") => {
            TypeNode::object([("metadata", object_meta()), ("data", string_map()), ("binaryData", string_map())])
        }
        ("", "ServiceAccount") => TypeNode::object([
            ("metadata", object_meta()),
            ("secrets", TypeNode::list_map(&["name"], TypeNode::object([]))),
            ("imagePullSecrets", atomic_objects()),
        ]),
        ("", "PersistentVolumeClaim") => top(pvc_spec(), pvc_status()),
        ("", "PersistentVolume") => top(
            TypeNode::object([
                ("accessModes", atomic_scalars()),
                ("mountOptions", atomic_scalars()),
                ("capacity", string_map()),
                ("claimRef", TypeNode::object([])),
                ("nodeAffinity", TypeNode::object([("required", node_selector())])),
            ]),
            TypeNode::object([]),
        ),
        ("", "Endpoints") => TypeNode::object([("metadata", object_meta()), ("subsets", atomic_objects())]),
        ("", "LimitRange") => top(TypeNode::object([("limits", atomic_objects())]), TypeNode::Unknown),
        ("", "ResourceQuota") => top(
            TypeNode::object([
                ("hard", string_map()),
                ("scopes", atomic_scalars()),
                ("scopeSelector", TypeNode::object([("matchExpressions", atomic_objects())])),
            ]),
            TypeNode::object([("hard", string_map()), ("used", string_map())]),
        ),
        ("", "Event") | ("events.k8s.io", "Event") => TypeNode::object([("metadata", object_meta())]),
        ("apps", "Deployment") => top(
            TypeNode::object([
                ("selector", label_selector()),
                ("template", pod_template()),
                // patchStrategy=retainKeys: the server applies `$retainKeys` wherever it appears.
                ("strategy", TypeNode::object([])),
            ]),
            conditions_status(),
        ),
        ("apps", "ReplicaSet") | ("apps", "DaemonSet") => top(
            TypeNode::object([
                ("selector", label_selector()),
                ("template", pod_template()),
                ("updateStrategy", TypeNode::object([])),
            ]),
            conditions_status(),
        ),
        ("apps", "StatefulSet") => top(
            TypeNode::object([
                ("selector", label_selector()),
                ("template", pod_template()),
                ("volumeClaimTemplates", TypeNode::atomic_list(pvc())),
            ]),
            conditions_status(),
        ),
        ("apps", "ControllerRevision") => TypeNode::object([("metadata", object_meta())]),
        ("batch", "Job") => top(job_spec(), job_status()),
        ("batch", "CronJob") => top(
            TypeNode::object([("jobTemplate", TypeNode::object([("metadata", object_meta()), ("spec", job_spec())]))]),
            TypeNode::object([("active", atomic_objects())]),
        ),
        ("rbac.authorization.k8s.io", "Role") => {
            TypeNode::object([("metadata", object_meta()), ("rules", policy_rules())])
        }
        ("rbac.authorization.k8s.io", "ClusterRole") => TypeNode::object([
            ("metadata", object_meta()),
            ("rules", policy_rules()),
            ("aggregationRule", TypeNode::object([("clusterRoleSelectors", TypeNode::atomic_list(label_selector()))])),
        ]),
        ("rbac.authorization.k8s.io", "RoleBinding") | ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            TypeNode::object([
                ("metadata", object_meta()),
                ("subjects", atomic_objects()),
                ("roleRef", TypeNode::object([])),
            ])
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration")
        | ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            TypeNode::object([("metadata", object_meta()), ("webhooks", TypeNode::list_map(&["name"], webhook()))])
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => top(crd_spec(), crd_status()),
        ("networking.k8s.io", "Ingress") => top(
            TypeNode::object([
                ("tls", TypeNode::atomic_list(TypeNode::object([("hosts", atomic_scalars())]))),
                ("rules", atomic_objects()),
            ]),
            TypeNode::object([("loadBalancer", TypeNode::object([("ingress", atomic_objects())]))]),
        ),
        ("networking.k8s.io", "NetworkPolicy") => top(
            TypeNode::object([
                ("podSelector", label_selector()),
                ("ingress", atomic_objects()),
                ("egress", atomic_objects()),
                ("policyTypes", atomic_scalars()),
            ]),
            TypeNode::Unknown,
        ),
        ("policy", "PodDisruptionBudget") => top(
            // patchStrategy:"replace": a strategic merge patch replaces the selector as a whole.
            TypeNode::object([("selector", label_selector().with_smp(SmpStrategy::Replace))]),
            conditions_status(),
        ),
        ("autoscaling", "HorizontalPodAutoscaler") => top(
            TypeNode::object([("metrics", atomic_objects())]),
            TypeNode::object([("conditions", conditions()), ("currentMetrics", atomic_objects())]),
        ),
        ("discovery.k8s.io", "EndpointSlice") => TypeNode::object([
            ("metadata", object_meta()),
            ("endpoints", TypeNode::atomic_list(TypeNode::object([("addresses", TypeNode::set())]))),
            ("ports", atomic_objects()),
        ]),
        ("storage.k8s.io", "StorageClass") => TypeNode::object([
            ("metadata", object_meta()),
            ("parameters", string_map()),
            ("mountOptions", atomic_scalars()),
            ("allowedTopologies", atomic_objects()),
        ]),
        _ => TypeNode::object([("metadata", object_meta())]),
    };
    Arc::new(node)
}

/// An object with `metadata`, `spec` and `status`.
fn top(spec: TypeNode, status: TypeNode) -> TypeNode {
    TypeNode::object([("metadata", object_meta()), ("spec", spec), ("status", status)])
}

fn string_map() -> TypeNode {
    TypeNode::map_of(TypeNode::Scalar)
}

/// A map of scalars that server-side apply replaces as a whole (`+mapType=atomic`); strategic
/// merge patch still merges it key by key.
fn atomic_map() -> TypeNode {
    TypeNode::Object { fields: Default::default(), additional: Some(Arc::new(TypeNode::Scalar)), atomic: true }
}

fn atomic_scalars() -> TypeNode {
    TypeNode::atomic_list(TypeNode::Scalar)
}

fn atomic_objects() -> TypeNode {
    TypeNode::atomic_list(TypeNode::Unknown)
}

/// `ObjectMeta`.
pub(crate) fn object_meta() -> TypeNode {
    TypeNode::object([
        ("labels", string_map()),
        ("annotations", string_map()),
        ("finalizers", TypeNode::set()),
        ("ownerReferences", TypeNode::list_map(&["uid"], TypeNode::object([]))),
        ("managedFields", atomic_objects()),
    ])
}

fn label_selector() -> TypeNode {
    TypeNode::object([
        ("matchLabels", string_map()),
        ("matchExpressions", TypeNode::atomic_list(TypeNode::object([("values", atomic_scalars())]))),
    ])
}

fn node_selector() -> TypeNode {
    TypeNode::object([("nodeSelectorTerms", atomic_objects())])
}

/// `status` holding only `conditions` merged by `type`.
fn conditions_status() -> TypeNode {
    TypeNode::object([("conditions", conditions())])
}

fn conditions() -> TypeNode {
    TypeNode::list_map(&["type"], TypeNode::object([]))
}

fn probe() -> TypeNode {
    TypeNode::object([
        ("exec", TypeNode::object([("command", atomic_scalars())])),
        ("httpGet", TypeNode::object([("httpHeaders", atomic_objects())])),
    ])
}

fn lifecycle_handler() -> TypeNode {
    probe()
}

/// `Container` (also `EphemeralContainer`, which shares its merge shape).
fn container() -> TypeNode {
    TypeNode::object([
        ("command", atomic_scalars()),
        ("args", atomic_scalars()),
        ("ports", TypeNode::list_map(&["containerPort", "protocol"], TypeNode::object([]))),
        ("envFrom", atomic_objects()),
        ("env", TypeNode::list_map(&["name"], TypeNode::object([]))),
        (
            "resources",
            TypeNode::object([
                ("limits", string_map()),
                ("requests", string_map()),
                // listType=map (name) for server-side apply, no patchStrategy: replaced by SMP.
                ("claims", TypeNode::list_map(&["name"], TypeNode::object([])).with_smp(SmpStrategy::Replace)),
            ]),
        ),
        ("resizePolicy", atomic_objects()),
        ("restartPolicyRules", atomic_objects()),
        (
            "volumeMounts",
            TypeNode::list_map(
                &["mountPath"],
                // bindMountOptions: listType=set, no patchStrategy.
                TypeNode::object([("bindMountOptions", TypeNode::set().with_smp(SmpStrategy::Replace))]),
            ),
        ),
        ("volumeDevices", TypeNode::list_map(&["devicePath"], TypeNode::object([]))),
        ("livenessProbe", probe()),
        ("readinessProbe", probe()),
        ("startupProbe", probe()),
        ("lifecycle", TypeNode::object([("postStart", lifecycle_handler()), ("preStop", lifecycle_handler())])),
        (
            "securityContext",
            TypeNode::object([(
                "capabilities",
                TypeNode::object([("add", atomic_scalars()), ("drop", atomic_scalars())]),
            )]),
        ),
    ])
}

fn volume() -> TypeNode {
    let with_items = || TypeNode::object([("items", atomic_objects())]);
    TypeNode::object([
        ("configMap", with_items()),
        ("secret", with_items()),
        ("downwardAPI", with_items()),
        ("projected", TypeNode::object([("sources", atomic_objects())])),
        (
            "ephemeral",
            TypeNode::object([(
                "volumeClaimTemplate",
                TypeNode::object([("metadata", object_meta()), ("spec", pvc_spec())]),
            )]),
        ),
    ])
}

fn affinity_terms() -> TypeNode {
    TypeNode::object([
        ("requiredDuringSchedulingIgnoredDuringExecution", atomic_objects()),
        ("preferredDuringSchedulingIgnoredDuringExecution", atomic_objects()),
    ])
}

/// `PodSpec`.
fn pod_spec() -> TypeNode {
    TypeNode::object([
        ("volumes", TypeNode::list_map(&["name"], volume())),
        ("initContainers", TypeNode::list_map(&["name"], container())),
        ("containers", TypeNode::list_map(&["name"], container())),
        ("ephemeralContainers", TypeNode::list_map(&["name"], container())),
        ("nodeSelector", atomic_map()),
        ("imagePullSecrets", TypeNode::list_map(&["name"], TypeNode::object([]))),
        (
            "affinity",
            TypeNode::object([
                (
                    "nodeAffinity",
                    TypeNode::object([
                        ("requiredDuringSchedulingIgnoredDuringExecution", node_selector()),
                        ("preferredDuringSchedulingIgnoredDuringExecution", atomic_objects()),
                    ]),
                ),
                ("podAffinity", affinity_terms()),
                ("podAntiAffinity", affinity_terms()),
            ]),
        ),
        ("tolerations", atomic_objects()),
        ("hostAliases", TypeNode::list_map(&["ip"], TypeNode::object([("hostnames", atomic_scalars())]))),
        ("readinessGates", atomic_objects()),
        (
            "topologySpreadConstraints",
            TypeNode::list_map(
                &["topologyKey", "whenUnsatisfiable"],
                TypeNode::object([("labelSelector", label_selector()), ("matchLabelKeys", atomic_scalars())]),
            ),
        ),
        ("schedulingGates", TypeNode::list_map(&["name"], TypeNode::object([]))),
        ("resourceClaims", TypeNode::list_map(&["name"], TypeNode::object([]))),
        (
            "securityContext",
            TypeNode::object([("supplementalGroups", atomic_scalars()), ("sysctls", atomic_objects())]),
        ),
        (
            "dnsConfig",
            TypeNode::object([
                ("nameservers", atomic_scalars()),
                ("searches", atomic_scalars()),
                ("options", atomic_objects()),
            ]),
        ),
        ("overhead", string_map()),
    ])
}

fn pod_status() -> TypeNode {
    TypeNode::object([
        ("conditions", conditions()),
        // patchStrategy=merge by ip, but listType=atomic for server-side apply.
        ("hostIPs", TypeNode::atomic_list(TypeNode::object([])).with_smp(SmpStrategy::MergeKey("ip".to_string()))),
        ("podIPs", TypeNode::list_map(&["ip"], TypeNode::object([]))),
        ("initContainerStatuses", atomic_objects()),
        ("containerStatuses", atomic_objects()),
        ("ephemeralContainerStatuses", atomic_objects()),
        ("resourceClaimStatuses", TypeNode::list_map(&["name"], TypeNode::object([]))),
    ])
}

fn pod_template() -> TypeNode {
    TypeNode::object([("metadata", object_meta()), ("spec", pod_spec())])
}

fn pvc_spec() -> TypeNode {
    TypeNode::object([
        ("accessModes", atomic_scalars()),
        ("selector", label_selector()),
        ("resources", TypeNode::object([("limits", string_map()), ("requests", string_map())])),
    ])
}

fn pvc_status() -> TypeNode {
    TypeNode::object([("accessModes", atomic_scalars()), ("capacity", string_map()), ("conditions", conditions())])
}

fn pvc() -> TypeNode {
    top(pvc_spec(), pvc_status())
}

fn job_spec() -> TypeNode {
    TypeNode::object([
        ("selector", label_selector()),
        ("template", pod_template()),
        ("podFailurePolicy", TypeNode::object([("rules", atomic_objects())])),
        ("successPolicy", TypeNode::object([("rules", atomic_objects())])),
    ])
}

fn job_status() -> TypeNode {
    TypeNode::object([
        // patchStrategy=merge by type, but listType=atomic for server-side apply.
        ("conditions", TypeNode::atomic_list(TypeNode::object([])).with_smp(SmpStrategy::MergeKey("type".to_string()))),
        ("uncountedTerminatedPods", TypeNode::object([("succeeded", TypeNode::set()), ("failed", TypeNode::set())])),
    ])
}

fn service_spec() -> TypeNode {
    TypeNode::object([
        ("ports", TypeNode::list_map(&["port", "protocol"], TypeNode::object([]))),
        ("selector", atomic_map()),
        ("clusterIPs", atomic_scalars()),
        ("externalIPs", atomic_scalars()),
        ("loadBalancerSourceRanges", atomic_scalars()),
        ("ipFamilies", atomic_scalars()),
    ])
}

fn service_status() -> TypeNode {
    TypeNode::object([
        ("conditions", conditions()),
        ("loadBalancer", TypeNode::object([("ingress", atomic_objects())])),
    ])
}

fn node_spec() -> TypeNode {
    TypeNode::object([("podCIDRs", TypeNode::set()), ("taints", atomic_objects())])
}

fn node_status() -> TypeNode {
    TypeNode::object([
        ("conditions", conditions()),
        ("addresses", TypeNode::list_map(&["type"], TypeNode::object([]))),
        ("capacity", string_map()),
        ("allocatable", string_map()),
        ("images", atomic_objects()),
        ("volumesInUse", atomic_scalars()),
        ("volumesAttached", atomic_objects()),
        ("runtimeHandlers", atomic_objects()),
    ])
}

fn policy_rules() -> TypeNode {
    TypeNode::atomic_list(TypeNode::object([
        ("verbs", atomic_scalars()),
        ("apiGroups", atomic_scalars()),
        ("resources", atomic_scalars()),
        ("resourceNames", atomic_scalars()),
        ("nonResourceURLs", atomic_scalars()),
    ]))
}

fn webhook() -> TypeNode {
    TypeNode::object([
        ("rules", atomic_objects()),
        ("admissionReviewVersions", atomic_scalars()),
        ("matchConditions", TypeNode::list_map(&["name"], TypeNode::object([]))),
        ("namespaceSelector", label_selector()),
        ("objectSelector", label_selector()),
    ])
}

/// `CustomResourceDefinitionSpec`. Upstream `spec.versions` is `+listType=atomic` with no
/// `patchStrategy`, so both strategic merge patch and server-side apply replace it as a whole.
fn crd_spec() -> TypeNode {
    TypeNode::object([
        (
            "versions",
            TypeNode::atomic_list(TypeNode::object([
                ("additionalPrinterColumns", atomic_objects()),
                ("selectableFields", atomic_objects()),
            ])),
        ),
        ("names", TypeNode::object([("shortNames", atomic_scalars()), ("categories", atomic_scalars())])),
        (
            "conversion",
            TypeNode::object([("webhook", TypeNode::object([("conversionReviewVersions", atomic_scalars())]))]),
        ),
    ])
}

fn crd_status() -> TypeNode {
    TypeNode::object([
        // listType=map (type) for server-side apply, no patchStrategy: replaced by SMP.
        ("conditions", conditions().with_smp(SmpStrategy::Replace)),
        ("storedVersions", atomic_scalars()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::schema::ListType;

    fn keys(node: &TypeNode) -> Vec<String> {
        match node.list_type() {
            ListType::Map(k) => k.clone(),
            other => panic!("expected a list-map, got {other:?}"),
        }
    }

    #[test]
    fn deployment_containers_are_keyed_by_name_with_ports_by_port_and_protocol() {
        let d = builtin_type("apps", "Deployment");
        let containers = d.field("spec").field("template").field("spec").field("containers");
        assert_eq!(keys(containers), vec!["name"]);
        let ports = containers.items().field("ports");
        assert_eq!(keys(ports), vec!["containerPort", "protocol"]);
        assert_eq!(ports.smp_strategy(), SmpStrategy::MergeKey("containerPort".into()));
        assert_eq!(keys(containers.items().field("volumeMounts")), vec!["mountPath"]);
        assert_eq!(keys(containers.items().field("env")), vec!["name"]);
        assert_eq!(containers.items().field("envFrom").list_type(), &ListType::Atomic);
        assert_eq!(containers.items().field("args").smp_strategy(), SmpStrategy::Replace);
    }

    #[test]
    fn cronjob_pod_template_is_reached_through_job_template() {
        let c = builtin_type("batch", "CronJob");
        let spec = c.field("spec").field("jobTemplate").field("spec").field("template").field("spec");
        assert_eq!(keys(spec.field("volumes")), vec!["name"]);
        assert_eq!(keys(spec.field("initContainers")), vec!["name"]);
    }

    #[test]
    fn service_ports_use_port_then_protocol() {
        let s = builtin_type("", "Service");
        let ports = s.field("spec").field("ports");
        assert_eq!(keys(ports), vec!["port", "protocol"]);
        assert_eq!(ports.smp_strategy(), SmpStrategy::MergeKey("port".into()));
        assert!(s.field("spec").field("selector").is_atomic_map());
    }

    #[test]
    fn object_meta_is_shared_by_every_kind_including_unknown() {
        for (g, k) in [("", "Pod"), ("apps", "StatefulSet"), ("example.com", "Widget")] {
            let t = builtin_type(g, k);
            let meta = t.field("metadata");
            assert_eq!(keys(meta.field("ownerReferences")), vec!["uid"], "{g}/{k}");
            assert_eq!(meta.field("finalizers").list_type(), &ListType::Set);
            assert_eq!(meta.field("managedFields").list_type(), &ListType::Atomic);
            assert!(matches!(meta.field("labels").field("app"), TypeNode::Scalar));
        }
        let cr = builtin_type("example.com", "Widget");
        assert!(matches!(cr.field("spec"), TypeNode::Unknown));
    }

    #[test]
    fn smp_and_ssa_disagree_where_upstream_does() {
        let job = builtin_type("batch", "Job");
        let conds = job.field("status").field("conditions");
        assert_eq!(conds.list_type(), &ListType::Atomic);
        assert_eq!(conds.smp_strategy(), SmpStrategy::MergeKey("type".into()));
        assert!(matches!(conds.resolved(), TypeNode::List { .. }));

        let pod = builtin_type("", "Pod");
        let claims = pod.field("spec").field("containers").items().field("resources").field("claims");
        assert_eq!(keys(claims), vec!["name"]);
        assert_eq!(claims.smp_strategy(), SmpStrategy::Replace);
        assert_eq!(pod.field("spec").field("tolerations").smp_strategy(), SmpStrategy::Replace);
        assert_eq!(keys(pod.field("status").field("conditions")), vec!["type"]);

        let pdb = builtin_type("policy", "PodDisruptionBudget");
        let sel = pdb.field("spec").field("selector");
        assert_eq!(sel.smp_strategy(), SmpStrategy::Replace);
        assert!(matches!(sel.field("matchLabels").field("x"), TypeNode::Scalar));
    }

    #[test]
    fn status_conditions_are_keyed_by_type_for_workloads_nodes_namespaces() {
        for (g, k) in [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("", "Node"),
            ("", "Namespace"),
        ] {
            let t = builtin_type(g, k);
            assert_eq!(keys(t.field("status").field("conditions")), vec!["type"], "{g}/{k}");
        }
        let node = builtin_type("", "Node");
        assert_eq!(keys(node.field("status").field("addresses")), vec!["type"]);
    }

    #[test]
    fn rbac_webhooks_crds_secrets() {
        let role = builtin_type("rbac.authorization.k8s.io", "ClusterRole");
        assert_eq!(role.field("rules").list_type(), &ListType::Atomic);
        let rb = builtin_type("rbac.authorization.k8s.io", "RoleBinding");
        assert_eq!(rb.field("subjects").smp_strategy(), SmpStrategy::Replace);
        let vwc = builtin_type("admissionregistration.k8s.io", "ValidatingWebhookConfiguration");
        assert_eq!(keys(vwc.field("webhooks")), vec!["name"]);
        let mwc = builtin_type("admissionregistration.k8s.io", "MutatingWebhookConfiguration");
        assert_eq!(keys(mwc.field("webhooks").items().field("matchConditions")), vec!["name"]);
        let crd = builtin_type("apiextensions.k8s.io", "CustomResourceDefinition");
        assert_eq!(crd.field("spec").field("versions").list_type(), &ListType::Atomic);
        let secret = builtin_type("", "Secret");
        assert!(matches!(secret.field("data").field("password"), TypeNode::Scalar));
        let sts = builtin_type("apps", "StatefulSet");
        assert_eq!(sts.field("spec").field("volumeClaimTemplates").list_type(), &ListType::Atomic);
    }
}
