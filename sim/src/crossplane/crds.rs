//! The CustomResourceDefinitions of the simulated provider-upjet-aws family providers
//! (provider-aws-iam, provider-aws-organizations, provider-family-aws's ProviderConfig): the
//! legacy cluster-scoped groups (`*.aws.upbound.io`) and, from v2, their namespaced twins
//! (`*.aws.m.upbound.io`).
//!
//! Schemas are written here from the documented fields of the upstream CRDs (field names,
//! enums and defaults as the provider's API reference lists them), with the shared builders of
//! `crate::crds`; they are structural, so unknown fields are pruned or rejected as with the real
//! CRDs. This module must not decide behaviour: it only describes shapes.

use serde_json::{json, Value};

use crate::crds::{
    array, boolean, conditions, crd, enum_of, integer, object, open_object, resource, string, string_map, strings,
    Version,
};

/// One managed resource kind the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// Namespaced (the v2 `.m.` groups) or cluster-scoped (the legacy groups).
    pub namespaced: bool,
    pub resource: Resource,
}

/// The external resource a kind manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    IamPolicy,
    IamRole,
    IamRolePolicyAttachment,
    OrgPolicy,
    OrgPolicyAttachment,
}

/// The legacy cluster-scoped IAM group.
pub const IAM_GROUP: &str = "iam.aws.upbound.io";
/// The namespaced IAM group (provider v2).
pub const IAM_M_GROUP: &str = "iam.aws.m.upbound.io";
/// The legacy cluster-scoped Organizations group.
pub const ORG_GROUP: &str = "organizations.aws.upbound.io";
/// The namespaced Organizations group (provider v2).
pub const ORG_M_GROUP: &str = "organizations.aws.m.upbound.io";
/// The cluster-scoped ProviderConfig's group.
pub const AWS_GROUP: &str = "aws.upbound.io";
/// The namespaced ProviderConfig's and the ClusterProviderConfig's group (provider v2).
pub const AWS_M_GROUP: &str = "aws.m.upbound.io";
/// The only version of every kind here.
pub const VERSION: &str = "v1beta1";

/// Every managed kind served: cluster-scoped first, then the namespaced twins.
pub const KINDS: &[Kind] = &[
    Kind { group: IAM_GROUP, kind: "Policy", plural: "policies", namespaced: false, resource: Resource::IamPolicy },
    Kind { group: IAM_GROUP, kind: "Role", plural: "roles", namespaced: false, resource: Resource::IamRole },
    Kind {
        group: IAM_GROUP,
        kind: "RolePolicyAttachment",
        plural: "rolepolicyattachments",
        namespaced: false,
        resource: Resource::IamRolePolicyAttachment,
    },
    Kind { group: ORG_GROUP, kind: "Policy", plural: "policies", namespaced: false, resource: Resource::OrgPolicy },
    Kind {
        group: ORG_GROUP,
        kind: "PolicyAttachment",
        plural: "policyattachments",
        namespaced: false,
        resource: Resource::OrgPolicyAttachment,
    },
    Kind { group: IAM_M_GROUP, kind: "Policy", plural: "policies", namespaced: true, resource: Resource::IamPolicy },
    Kind { group: IAM_M_GROUP, kind: "Role", plural: "roles", namespaced: true, resource: Resource::IamRole },
    Kind {
        group: IAM_M_GROUP,
        kind: "RolePolicyAttachment",
        plural: "rolepolicyattachments",
        namespaced: true,
        resource: Resource::IamRolePolicyAttachment,
    },
    Kind { group: ORG_M_GROUP, kind: "Policy", plural: "policies", namespaced: true, resource: Resource::OrgPolicy },
    Kind {
        group: ORG_M_GROUP,
        kind: "PolicyAttachment",
        plural: "policyattachments",
        namespaced: true,
        resource: Resource::OrgPolicyAttachment,
    },
];

/// Every CRD: the managed kinds and the three ProviderConfig kinds.
pub fn all() -> Vec<Value> {
    let mut out: Vec<Value> = KINDS.iter().map(managed_crd).collect();
    out.push(provider_config_crd(AWS_GROUP, "ProviderConfig", "providerconfigs", "Cluster", true));
    out.push(provider_config_crd(AWS_M_GROUP, "ProviderConfig", "providerconfigs", "Namespaced", false));
    out.push(provider_config_crd(AWS_M_GROUP, "ClusterProviderConfig", "clusterproviderconfigs", "Cluster", true));
    out
}

fn with_categories(mut crd: Value, categories: &[&str]) -> Value {
    crd["spec"]["names"]["categories"] = json!(categories);
    crd
}

fn managed_crd(k: &Kind) -> Value {
    let v = Version::storage(VERSION)
        .column("SYNCED", "string", ".status.conditions[?(@.type=='Synced')].status")
        .column("READY", "string", ".status.conditions[?(@.type=='Ready')].status")
        .column("EXTERNAL-NAME", "string", ".metadata.annotations.crossplane\\.io/external-name")
        .column("AGE", "date", ".metadata.creationTimestamp");
    let scope = if k.namespaced { "Namespaced" } else { "Cluster" };
    let schema = resource(managed_spec(k), managed_status(k.resource));
    with_categories(crd(k.group, k.kind, k.plural, scope, &[], &[v], &schema), &["crossplane", "managed", "aws"])
}

/// A reference to another managed resource (`policyArnRef`): cluster-scoped kinds name it,
/// namespaced ones may name its namespace too.
fn reference(namespaced: bool) -> Value {
    let mut props = vec![("name", string()), ("policy", ref_policy())];
    if namespaced {
        props.push(("namespace", string()));
    }
    object(&props, &["name"])
}

fn selector(namespaced: bool) -> Value {
    let mut props = vec![("matchControllerRef", boolean()), ("matchLabels", string_map()), ("policy", ref_policy())];
    if namespaced {
        props.push(("namespace", string()));
    }
    object(&props, &[])
}

fn ref_policy() -> Value {
    object(
        &[
            ("resolution", json!({"type": "string", "enum": ["Required", "Optional"], "default": "Required"})),
            ("resolve", enum_of(&["Always", "IfNotPresent"])),
        ],
        &[],
    )
}

/// `forProvider` (and `initProvider`, which has the same optional fields) of each resource.
fn parameters(r: Resource, namespaced: bool) -> Value {
    match r {
        Resource::IamPolicy => {
            object(&[("description", string()), ("path", string()), ("policy", string()), ("tags", string_map())], &[])
        }
        Resource::IamRole => object(
            &[
                ("assumeRolePolicy", string()),
                ("description", string()),
                ("forceDetachPolicies", boolean()),
                ("inlinePolicy", array(object(&[("name", string()), ("policy", string())], &[]))),
                ("managedPolicyArns", strings()),
                ("maxSessionDuration", integer()),
                ("path", string()),
                ("permissionsBoundary", string()),
                ("tags", string_map()),
            ],
            &[],
        ),
        Resource::IamRolePolicyAttachment => object(
            &[
                ("policyArn", string()),
                ("policyArnRef", reference(namespaced)),
                ("policyArnSelector", selector(namespaced)),
                ("role", string()),
                ("roleRef", reference(namespaced)),
                ("roleSelector", selector(namespaced)),
            ],
            &[],
        ),
        Resource::OrgPolicy => object(
            &[
                ("content", string()),
                ("description", string()),
                ("name", string()),
                ("skipDestroy", boolean()),
                ("tags", string_map()),
                ("type", string()),
            ],
            &[],
        ),
        Resource::OrgPolicyAttachment => object(
            &[
                ("policyId", string()),
                ("policyIdRef", reference(namespaced)),
                ("policyIdSelector", selector(namespaced)),
                ("skipDestroy", boolean()),
                ("targetId", string()),
            ],
            &[],
        ),
    }
}

fn managed_spec(k: &Kind) -> Value {
    let management = json!({
        "type": "array", "default": ["*"],
        "items": {"type": "string", "enum": ["Observe", "Create", "Update", "Delete", "LateInitialize", "*"]},
    });
    let mut props = vec![
        ("forProvider", parameters(k.resource, k.namespaced)),
        ("initProvider", parameters(k.resource, k.namespaced)),
        ("managementPolicies", management),
    ];
    if k.namespaced {
        // crossplane-runtime v2: a typed reference to a ProviderConfig or ClusterProviderConfig,
        // a connection Secret in the resource's own namespace, no deletionPolicy.
        props.push((
            "providerConfigRef",
            json!({"type": "object", "default": {"kind": "ClusterProviderConfig", "name": "default"},
                   "required": ["kind", "name"],
                   "properties": {"kind": {"type": "string"}, "name": {"type": "string"}}}),
        ));
        props.push(("writeConnectionSecretToRef", object(&[("name", string())], &["name"])));
    } else {
        props.push(("deletionPolicy", json!({"type": "string", "enum": ["Orphan", "Delete"], "default": "Delete"})));
        props.push((
            "providerConfigRef",
            json!({"type": "object", "default": {"name": "default"}, "required": ["name"],
                   "properties": {"name": {"type": "string"}, "policy": ref_policy()}}),
        ));
        props.push((
            "writeConnectionSecretToRef",
            object(&[("name", string()), ("namespace", string())], &["name", "namespace"]),
        ));
    }
    // Upstream marks the parameters a resource cannot be created without with CEL rules on
    // `spec`; the simulator reports them when it reconciles instead.
    object(&props, &["forProvider"])
}

fn at_provider(r: Resource) -> Value {
    match r {
        Resource::IamPolicy => object(
            &[
                ("arn", string()),
                ("attachmentCount", integer()),
                ("description", string()),
                ("id", string()),
                ("path", string()),
                ("policy", string()),
                ("policyId", string()),
                ("tags", string_map()),
                ("tagsAll", string_map()),
            ],
            &[],
        ),
        Resource::IamRole => object(
            &[
                ("arn", string()),
                ("assumeRolePolicy", string()),
                ("createDate", string()),
                ("description", string()),
                ("forceDetachPolicies", boolean()),
                ("id", string()),
                ("inlinePolicy", array(object(&[("name", string()), ("policy", string())], &[]))),
                ("managedPolicyArns", strings()),
                ("maxSessionDuration", integer()),
                ("path", string()),
                ("permissionsBoundary", string()),
                ("tags", string_map()),
                ("tagsAll", string_map()),
                ("uniqueId", string()),
            ],
            &[],
        ),
        Resource::IamRolePolicyAttachment => {
            object(&[("id", string()), ("policyArn", string()), ("role", string())], &[])
        }
        Resource::OrgPolicy => object(
            &[
                ("arn", string()),
                ("content", string()),
                ("description", string()),
                ("id", string()),
                ("name", string()),
                ("skipDestroy", boolean()),
                ("tags", string_map()),
                ("tagsAll", string_map()),
                ("type", string()),
            ],
            &[],
        ),
        Resource::OrgPolicyAttachment => {
            object(&[("id", string()), ("policyId", string()), ("skipDestroy", boolean()), ("targetId", string())], &[])
        }
    }
}

fn managed_status(r: Resource) -> Value {
    object(&[("atProvider", at_provider(r)), ("conditions", conditions()), ("observedGeneration", integer())], &[])
}

fn secret_selector(namespaced_secret: bool) -> Value {
    let mut props = vec![("key", string()), ("name", string())];
    if namespaced_secret {
        props.push(("namespace", string()));
    }
    object(&props, &["key", "name"])
}

fn provider_config_crd(group: &str, kind: &str, plural: &str, scope: &str, secret_namespace: bool) -> Value {
    let credentials = object(
        &[
            (
                "source",
                enum_of(&[
                    "None",
                    "Secret",
                    "IRSA",
                    "WebIdentity",
                    "PodIdentity",
                    "Upbound",
                    "Filesystem",
                    "Environment",
                ]),
            ),
            ("secretRef", secret_selector(secret_namespace)),
            ("env", object(&[("name", string())], &[])),
            ("fs", object(&[("path", string())], &[])),
            ("webIdentity", open_object()),
            ("upbound", open_object()),
        ],
        &["source"],
    );
    let endpoint = object(
        &[
            ("hostnameImmutable", boolean()),
            ("partitionId", string()),
            ("services", strings()),
            ("signingMethod", string()),
            ("signingName", string()),
            ("signingRegion", string()),
            ("source", string()),
            ("url", object(&[("type", enum_of(&["Static", "Auto"])), ("static", string())], &["type"])),
        ],
        &["url"],
    );
    let spec = object(
        &[
            ("credentials", credentials),
            (
                "assumeRoleChain",
                array(object(
                    &[("roleARN", string()), ("tags", array(open_object())), ("transitiveTagKeys", strings())],
                    &[],
                )),
            ),
            ("endpoint", endpoint),
            ("s3_use_path_style", boolean()),
            ("skip_credentials_validation", boolean()),
            ("skip_metadata_api_check", boolean()),
            ("skip_region_validation", boolean()),
            ("skip_requesting_account_id", boolean()),
        ],
        &["credentials"],
    );
    let status = object(&[("conditions", conditions()), ("users", integer())], &[]);
    let v = Version::storage(VERSION).column("AGE", "date", ".metadata.creationTimestamp");
    with_categories(
        crd(group, kind, plural, scope, &[], &[v], &resource(spec, status)),
        &["crossplane", "provider", "aws"],
    )
}
