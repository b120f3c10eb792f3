//! STS interception for the kind backend. The Secrets Store CSI driver's AWS provider (ASCP)
//! always calls the real regional STS; the cluster's DNS sends that name to the harness's
//! interception front, which hands `AssumeRoleWithWebIdentity` here. The call is checked as
//! real STS checks it and emulators do not: the service-account token's signature against the
//! cluster's JWKS, `exp`/`nbf`/`iss`/`aud` ([`super::jwt`]), the role's existence, the OIDC
//! provider registration and the trust policy ([`sim::aws::roles`]). Only then is it passed on to
//! the AWS emulator's STS (in the role's account), whose credentials are answered in STS's XML.
//! Refusals are STS-format XML errors with STS's codes, statuses and wording.
//!
//! Every other STS action is refused (400, `InvalidAction`): the cluster's other AWS clients
//! (ACK, Crossplane) are pointed at the emulator directly. This module must not log or echo
//! tokens or credentials, and must not decide IAM questions itself (that is `sim::iam`).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, Uri};
use http_body_util::Full;
use sim::aws::roles::{check_web_identity, load_role, oidc_providers};
use sim::aws::AwsTarget;

use super::jwt::{self, Jwks, Refusal};

/// The STS API version and XML namespace.
const VERSION: &str = "2011-06-15";
const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The audience IRSA tokens carry (the CSI driver's `tokenRequests`).
pub const IRSA_AUDIENCE: &str = "sts.amazonaws.com";

/// The parameters of an `AssumeRoleWithWebIdentity` call.
#[derive(Clone, PartialEq, Eq)]
pub struct AssumeParams {
    pub role_arn: String,
    pub role_session_name: String,
    pub web_identity_token: String,
    pub duration_seconds: Option<i32>,
    pub policy: Option<String>,
}

impl std::fmt::Debug for AssumeParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("AssumeParams")
            .field("role_arn", &self.role_arn)
            .field("role_session_name", &self.role_session_name)
            .field("duration_seconds", &self.duration_seconds)
            .finish_non_exhaustive()
    }
}

/// Temporary credentials and who they belong to.
#[derive(Clone)]
pub struct Assumed {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// RFC 3339.
    pub expiration: String,
    pub assumed_role_arn: String,
    pub assumed_role_id: String,
    pub subject: String,
    pub audience: String,
    pub provider: String,
}

impl std::fmt::Debug for Assumed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assumed")
            .field("assumed_role_arn", &self.assumed_role_arn)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The STS side of the interception front.
pub struct StsInterceptor {
    jwks: Arc<Jwks>,
    /// The emulator (its endpoint and region; the account is taken from each role ARN).
    aws: AwsTarget,
    audiences: Vec<String>,
}

impl std::fmt::Debug for StsInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsInterceptor").field("aws", &self.aws).field("audiences", &self.audiences).finish()
    }
}

fn text_param(params: &[(String, String)], name: &str) -> Option<String> {
    params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// `1 validation error detected: ...` as STS words a constraint failure.
fn validation(message: String) -> Refusal {
    Refusal { code: "ValidationError", status: 400, message: format!("1 validation error detected: {message}") }
}

/// Parses the query string and (for a form POST) the body into the call's parameters.
pub fn parse_request(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<AssumeParams, Refusal> {
    let mut params: Vec<(String, String)> =
        uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let is_form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
        .unwrap_or(!body.is_empty());
    if is_form {
        params.extend(form_urlencoded::parse(body).into_owned());
    }
    let action = text_param(&params, "Action").unwrap_or_default();
    if action.is_empty() {
        return Err(Refusal { code: "MissingAction", status: 400, message: "Missing Action".into() });
    }
    if action != "AssumeRoleWithWebIdentity" {
        return Err(Refusal {
            code: "InvalidAction",
            status: 400,
            message: format!(
                "Could not find operation {action} for version {VERSION} (the harness's STS interception answers only AssumeRoleWithWebIdentity; point other STS clients at the AWS emulator)"
            ),
        });
    }
    let required = |name: &str, member: &str| {
        text_param(&params, name).filter(|v| !v.is_empty()).ok_or_else(|| {
            validation(format!("Value null at '{member}' failed to satisfy constraint: Member must not be null"))
        })
    };
    let role_arn = required("RoleArn", "roleArn")?;
    let role_session_name = required("RoleSessionName", "roleSessionName")?;
    let web_identity_token = required("WebIdentityToken", "webIdentityToken")?;
    let session_ok = (2..=64).contains(&role_session_name.len())
        && role_session_name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !session_ok {
        return Err(validation(format!(
            "Value '{role_session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    let duration_seconds = match text_param(&params, "DurationSeconds") {
        None => None,
        Some(d) => {
            let n: i32 = d.trim().parse().map_err(|_| {
                validation(format!(
                    "Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must be a number"
                ))
            })?;
            if n < 900 {
                return Err(validation(format!("Value '{n}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900")));
            }
            if n > 43200 {
                return Err(validation(format!("Value '{n}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200")));
            }
            Some(n)
        }
    };
    Ok(AssumeParams {
        role_arn,
        role_session_name,
        web_identity_token,
        duration_seconds,
        policy: text_param(&params, "Policy"),
    })
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn xml_response(status: u16, body: String, request_id: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/xml"));
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// An STS error document.
pub fn error_xml(refusal: &Refusal, request_id: &str) -> String {
    let kind = if refusal.status >= 500 { "Receiver" } else { "Sender" };
    format!(
        "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        xml_escape(refusal.code),
        xml_escape(&refusal.message)
    )
}

/// The `AssumeRoleWithWebIdentityResponse` document.
pub fn success_xml(a: &Assumed, request_id: &str) -> String {
    let e = xml_escape;
    format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"{XMLNS}\">\n  <AssumeRoleWithWebIdentityResult>\n    <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n    <Audience>{}</Audience>\n    <AssumedRoleUser>\n      <Arn>{}</Arn>\n      <AssumedRoleId>{}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n    <Provider>{}</Provider>\n  </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleWithWebIdentityResponse>\n",
        e(&a.subject),
        e(&a.audience),
        e(&a.assumed_role_arn),
        e(&a.assumed_role_id),
        e(&a.access_key_id),
        e(&a.secret_access_key),
        e(&a.session_token),
        e(&a.expiration),
        e(&a.provider),
    )
}

/// STS's refusal of a role it will not let this identity assume.
fn not_authorized() -> Refusal {
    Refusal {
        code: "AccessDenied",
        status: 403,
        message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
    }
}

fn internal(message: String) -> Refusal {
    Refusal { code: "InternalFailure", status: 500, message }
}

impl StsInterceptor {
    /// `jwks`: the cluster's keys; `aws`: the emulator whose IAM holds the roles and OIDC
    /// providers and whose STS issues the credentials.
    pub fn new(jwks: Jwks, aws: AwsTarget) -> StsInterceptor {
        StsInterceptor { jwks: Arc::new(jwks), aws, audiences: vec![IRSA_AUDIENCE.to_string()] }
    }

    /// The audiences accepted (the OIDC provider's client IDs; default `sts.amazonaws.com`).
    pub fn with_audiences(mut self, audiences: Vec<String>) -> StsInterceptor {
        self.audiences = audiences;
        self
    }

    /// Answers one HTTP request to an intercepted STS host.
    pub async fn handle(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response<Full<Bytes>> {
        let request_id = uuid::Uuid::new_v4().to_string();
        if method != Method::POST && method != Method::GET {
            let r = Refusal {
                code: "InvalidAction",
                status: 400,
                message: format!("STS does not answer {method} requests"),
            };
            return xml_response(r.status, error_xml(&r, &request_id), &request_id);
        }
        let outcome = match parse_request(uri, headers, &body) {
            Ok(p) => self.assume(&p, jiff::Timestamp::now().as_second()).await,
            Err(r) => Err(r),
        };
        match outcome {
            Ok(a) => xml_response(200, success_xml(&a, &request_id), &request_id),
            Err(r) => {
                tracing::info!("sts interception: refused AssumeRoleWithWebIdentity: {r}");
                xml_response(r.status, error_xml(&r, &request_id), &request_id)
            }
        }
    }

    /// The checks, then the emulator's call; `now` in Unix seconds.
    pub async fn assume(&self, p: &AssumeParams, now: i64) -> Result<Assumed, Refusal> {
        let verified = jwt::verify(&self.jwks, &p.web_identity_token, &self.audiences, now).await?;
        // arn:aws:iam::<account>:role/<path/>name
        let mut arn = p.role_arn.split(':');
        let (Some("arn"), Some(_partition), Some("iam"), Some(""), Some(account), Some(resource)) =
            (arn.next(), arn.next(), arn.next(), arn.next(), arn.next(), arn.next())
        else {
            return Err(validation(format!(
                "Value '{}' at 'roleArn' failed to satisfy constraint: Member must be a valid IAM role ARN",
                p.role_arn
            )));
        };
        let Some(role_name) =
            resource.strip_prefix("role/").and_then(|r| r.rsplit('/').next()).filter(|n| !n.is_empty())
        else {
            return Err(not_authorized());
        };
        let target = match &self.aws.endpoint {
            Some(endpoint) => AwsTarget::emulator(endpoint, account, &self.aws.region),
            None => self.aws.clone(),
        };
        let clients = target.clients();
        let role = match load_role(&clients, role_name).await {
            Ok(Some(r)) => r,
            // STS does not say whether the role exists.
            Ok(None) => return Err(not_authorized()),
            Err(e) => return Err(internal(format!("the harness could not read the role from the AWS emulator: {e}"))),
        };
        let registered = oidc_providers(&clients)
            .await
            .map_err(|e| internal(format!("the harness could not list OIDC providers: {e}")))?;
        if let Err(why) =
            check_web_identity(&role, &verified.issuer, &verified.subject, &verified.audience, &registered)
        {
            tracing::info!("sts interception: {} may not assume {}: {why}", verified.subject, role.arn);
            return Err(match why.strip_prefix("InvalidIdentityToken: ") {
                Some(msg) => Refusal::invalid(msg),
                None => not_authorized(),
            });
        }
        if let Some(asked) = p.duration_seconds {
            // STS caps sessions at the role's MaxSessionDuration (one hour unless raised).
            let max = clients
                .iam
                .get_role()
                .role_name(role_name)
                .send()
                .await
                .ok()
                .and_then(|r| r.role().and_then(|r| r.max_session_duration()))
                .unwrap_or(3600);
            if asked > max {
                return Err(Refusal {
                    code: "ValidationError",
                    status: 400,
                    message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.".into(),
                });
            }
        }
        let out = clients
            .sts
            .assume_role_with_web_identity()
            .role_arn(&p.role_arn)
            .role_session_name(&p.role_session_name)
            .web_identity_token(&p.web_identity_token)
            .set_duration_seconds(p.duration_seconds)
            .set_policy(p.policy.clone())
            .send()
            .await
            .map_err(|e| {
                let text = sim::aws::error_text(&e);
                match sim::aws::error_code(&e).map(str::to_string) {
                    Some(code) => {
                        let message = text.strip_prefix(&format!("{code}: ")).unwrap_or(&text).to_string();
                        let status = if code == "AccessDenied" { 403 } else { 400 };
                        Refusal { code: static_code(&code), status, message }
                    }
                    None => internal(format!("the AWS emulator's STS failed: {text}")),
                }
            })?;
        let c = out.credentials().ok_or_else(|| internal("the AWS emulator's STS returned no credentials".into()))?;
        let expiration = jiff::Timestamp::from_second(c.expiration().secs())
            .map(|t| t.to_string())
            .unwrap_or_else(|_| c.expiration().secs().to_string());
        let user = out.assumed_role_user();
        tracing::info!("sts interception: {} assumed {}", verified.subject, role.arn);
        Ok(Assumed {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            session_token: c.session_token().to_string(),
            expiration,
            assumed_role_arn: user.map(|u| u.arn().to_string()).unwrap_or_default(),
            assumed_role_id: user.map(|u| u.assumed_role_id().to_string()).unwrap_or_default(),
            subject: verified.subject,
            audience: verified.audience,
            provider: verified.issuer,
        })
    }
}

/// The emulator's error codes as `'static` strings (the common ones; others are generic).
fn static_code(code: &str) -> &'static str {
    match code {
        "AccessDenied" => "AccessDenied",
        "InvalidIdentityToken" => "InvalidIdentityToken",
        "ExpiredTokenException" => "ExpiredTokenException",
        "MalformedPolicyDocument" => "MalformedPolicyDocument",
        "PackedPolicyTooLarge" => "PackedPolicyTooLarge",
        "IDPRejectedClaim" => "IDPRejectedClaim",
        "RegionDisabledException" => "RegionDisabledException",
        "ValidationError" => "ValidationError",
        _ => "InvalidParameterValue",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Result<AssumeParams, Refusal> {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        parse_request(&"/".parse().expect("uri"), &h, body.as_bytes())
    }

    #[test]
    fn requests_parse_from_forms_and_query_strings() {
        let p = form("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fapp&RoleSessionName=s-1&WebIdentityToken=a.b.c&DurationSeconds=3600").expect("parses");
        assert_eq!(p.role_arn, "arn:aws:iam::111122223333:role/app");
        assert_eq!(p.duration_seconds, Some(3600));
        assert!(!format!("{p:?}").contains("a.b.c"), "the token stays out of Debug");
        let q: Uri =
            "/?Action=AssumeRoleWithWebIdentity&RoleArn=arn:aws:iam::1:role/x&RoleSessionName=ss&WebIdentityToken=t"
                .parse()
                .expect("uri");
        assert_eq!(parse_request(&q, &HeaderMap::new(), b"").expect("query").role_session_name, "ss");
    }

    #[test]
    fn bad_requests_are_refused_as_sts_words_them() {
        let err = form("Action=GetCallerIdentity").expect_err("other action");
        assert_eq!((err.code, err.status), ("InvalidAction", 400));
        assert!(err.message.starts_with("Could not find operation GetCallerIdentity for version 2011-06-15"), "{err}");
        let err = form("Action=AssumeRoleWithWebIdentity&RoleSessionName=s1&WebIdentityToken=t").expect_err("no role");
        assert_eq!(err.message, "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
        let err =
            form("Action=AssumeRoleWithWebIdentity&RoleArn=a&RoleSessionName=s1&WebIdentityToken=t&DurationSeconds=60")
                .expect_err("too short");
        assert!(err.message.contains("greater than or equal to 900"), "{err}");
        let err = form("Action=AssumeRoleWithWebIdentity&RoleArn=a&RoleSessionName=bad%20name&WebIdentityToken=t")
            .expect_err("session name");
        assert!(err.message.contains("'roleSessionName'"), "{err}");
        assert_eq!(form("").expect_err("no action").code, "MissingAction");
    }

    #[test]
    fn error_documents_escape_and_carry_the_code() {
        let x = error_xml(&Refusal::invalid("a <b> & c"), "rid");
        assert!(x.contains("<Code>InvalidIdentityToken</Code>"), "{x}");
        assert!(x.contains("<Message>a &lt;b&gt; &amp; c</Message>"), "{x}");
        assert!(x.contains("<Type>Sender</Type>") && x.contains("<RequestId>rid</RequestId>"), "{x}");
    }
}
