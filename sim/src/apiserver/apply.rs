//! TEMPORARY shim until the server-side apply module lands.
use serde_json::Value;

use super::error::ApiError;
use super::schema::TypeNode;

pub struct ManagedEntry;

pub fn manager_from_user_agent(ua: &str) -> String {
    ua.split('/').next().unwrap_or("unknown").to_string()
}
pub fn decode_managed_fields(_v: &Value) -> Result<Vec<ManagedEntry>, String> {
    Ok(Vec::new())
}
pub fn encode_managed_fields(_e: &[ManagedEntry]) -> Value {
    Value::Array(Vec::new())
}
#[allow(clippy::too_many_arguments)]
pub fn record_update(_o: Option<&Value>, _n: &Value, _m: Vec<ManagedEntry>, _mgr: &str, _av: &str, _s: &TypeNode, _now: &str, _sub: Option<&str>) -> Vec<ManagedEntry> {
    Vec::new()
}
pub struct ApplyRequest<'a> {
    pub manager: String,
    pub api_version: String,
    pub force: bool,
    pub shape: &'a TypeNode,
    pub now: String,
    pub subresource: Option<String>,
}
pub struct Applied {
    pub object: Value,
    pub managed: Vec<ManagedEntry>,
}
pub struct ApplyConflicts;
impl ApplyConflicts {
    pub fn to_api_error(&self) -> ApiError {
        ApiError::internal("conflict")
    }
}
pub fn server_side_apply(live: Option<&Value>, config: &Value, _m: Vec<ManagedEntry>, _r: &ApplyRequest) -> Result<Applied, ApplyConflicts> {
    let mut out = live.cloned().unwrap_or(Value::Null);
    json_patch::merge(&mut out, config);
    Ok(Applied { object: out, managed: Vec::new() })
}
