//! Turns a request path into what it addresses: discovery documents, OpenAPI documents, or a
//! resource (collection, object, subresource) in a group/version and maybe a namespace.
//!
//! Pure string parsing; whether the resource exists is the registry's business.

/// What a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Health(String),
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    GroupVersion {
        group: String,
        version: String,
    },
    OpenApiV3Root,
    OpenApiV3 {
        path: String,
    },
    OpenApiV2,
    Resource(ResourcePath),
    /// `/.well-known/openid-configuration`
    OidcDiscovery,
    /// `/openid/v1/jwks`
    Jwks,
    NotFound,
}

/// A resource path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses a request path (without query string).
pub fn route(path: &str) -> Route {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        [h @ ("healthz" | "livez" | "readyz"), ..] => Route::Health(h.to_string()),
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group(group.to_string()),
        ["openapi", "v3"] => Route::OpenApiV3Root,
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3 { path: rest.join("/") },
        ["openapi", "v2"] => Route::OpenApiV2,
        [".well-known", "openid-configuration"] => Route::OidcDiscovery,
        ["openid", "v1", "jwks"] => Route::Jwks,
        ["api", version, rest @ ..] => resource_route("", version, rest),
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let gv = |plural: &str| ResourcePath {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        ..Default::default()
    };
    let dec = |s: &str| percent_decode(s);
    let is_core_ns = group.is_empty();
    match rest {
        [] => Route::GroupVersion { group: group.into(), version: version.into() },
        ["namespaces", ns, plural] if !(is_core_ns && matches!(*plural, "status" | "finalize")) => {
            Route::Resource(ResourcePath { namespace: Some(dec(ns)), ..gv(plural) })
        }
        ["namespaces", ns, plural, name] => {
            Route::Resource(ResourcePath { namespace: Some(dec(ns)), name: Some(dec(name)), ..gv(plural) })
        }
        ["namespaces", ns, plural, name, sub] => Route::Resource(ResourcePath {
            namespace: Some(dec(ns)),
            name: Some(dec(name)),
            subresource: Some(sub.to_string()),
            ..gv(plural)
        }),
        [plural] => Route::Resource(gv(plural)),
        [plural, name] => Route::Resource(ResourcePath { name: Some(dec(name)), ..gv(plural) }),
        [plural, name, sub] => {
            Route::Resource(ResourcePath { name: Some(dec(name)), subresource: Some(sub.to_string()), ..gv(plural) })
        }
        _ => Route::NotFound,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes: Vec<u8> = form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_else(|| s.as_bytes().to_vec());
    String::from_utf8(bytes).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(r: Route) -> ResourcePath {
        match r {
            Route::Resource(p) => p,
            other => panic!("not a resource route: {other:?}"),
        }
    }

    #[test]
    fn parses_core_and_group_paths() {
        let p = res(route("/api/v1/namespaces/default/pods/web/status"));
        assert_eq!(
            (p.group.as_str(), p.plural.as_str(), p.namespace.as_deref(), p.name.as_deref(), p.subresource.as_deref()),
            ("", "pods", Some("default"), Some("web"), Some("status"))
        );
        let p = res(route("/apis/apps/v1/deployments"));
        assert_eq!((p.group.as_str(), p.plural.as_str(), p.namespace), ("apps", "deployments", None));
        let p = res(route("/api/v1/namespaces/kube-system"));
        assert_eq!((p.plural.as_str(), p.name.as_deref()), ("namespaces", Some("kube-system")));
        let p = res(route("/api/v1/namespaces/x/finalize"));
        assert_eq!(
            (p.plural.as_str(), p.name.as_deref(), p.subresource.as_deref()),
            ("namespaces", Some("x"), Some("finalize"))
        );
        assert_eq!(route("/apis/apps/v1"), Route::GroupVersion { group: "apps".into(), version: "v1".into() });
        assert_eq!(route("/nope"), Route::NotFound);
    }
}
