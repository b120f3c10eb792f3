//! Deterministic names and identifiers for simulated workloads: the pod-template hash, pod
//! name suffixes, pod IPs and container and image ids.
//!
//! Upstream draws pod suffixes at random; here they derive from the owner's name and an
//! ordinal so that runs are reproducible. The alphabet and the hash encoding follow
//! k8s.io/apimachinery `rand.SafeEncodeString` (a fact about the output format, not its code).
//! This module must not touch the API server.

use serde_json::Value;

/// The characters Kubernetes uses in generated names (no vowels, no confusable digits).
pub const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1a, 32 bits.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// FNV-1a, 64 bits.
pub fn fnv64a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// JSON with object keys sorted, so equal values hash equally whatever their key order.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(x) = m.get(*k) {
                    write_canonical(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Each byte mapped into [`ALPHANUMS`], as `rand.SafeEncodeString` does.
pub fn safe_encode(s: &str) -> String {
    s.bytes().map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()])).collect()
}

/// The `pod-template-hash` of a pod template (with the Deployment's `collisionCount`): a
/// 32-bit FNV hash printed in decimal and safe-encoded, so it reads like upstream's
/// (`57586646f7`) though the hashed bytes differ (upstream hashes Go's dump of the struct).
pub fn template_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut bytes = canonical(template).into_bytes();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(c.to_string().as_bytes());
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// The 5-character suffix of the `ordinal`-th pod name tried for `owner`.
pub fn pod_suffix(owner: &str, ordinal: u32) -> String {
    let mut h = fnv64a(format!("{owner}/{ordinal}").as_bytes());
    let mut s = String::with_capacity(5);
    for _ in 0..5 {
        s.push(char::from(ALPHANUMS[(h % ALPHANUMS.len() as u64) as usize]));
        h /= ALPHANUMS.len() as u64;
    }
    s
}

/// A pod IP in the node's pod CIDR (`10.244.<node>.0/24`), derived from the pod's uid.
pub fn pod_ip(node_index: usize, pod_uid: &str) -> String {
    format!("10.244.{}.{}", node_index + 1, 2 + fnv32a(pod_uid.as_bytes()) % 250)
}

/// 64 hex digits derived from `seed` (container ids, image digests).
pub fn hex64(seed: &str) -> String {
    (0..4u8).map(|i| format!("{:016x}", fnv64a(format!("{i}:{seed}").as_bytes()))).collect()
}

/// The repository of an image as the container runtime reports it (`nginx:1.27` is
/// `docker.io/library/nginx`).
pub fn image_repository(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let repo = match without_digest[last_slash..].find(':') {
        Some(i) => &without_digest[..last_slash + i],
        None => without_digest,
    };
    let first = repo.split('/').next().unwrap_or(repo);
    let has_domain = repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_domain {
        repo.to_string()
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    }
}

/// The `imageID` a kubelet reports for `image`: its repository at a digest.
pub fn image_id(image: &str) -> String {
    format!("{}@sha256:{}", image_repository(image), hex64(image))
}
