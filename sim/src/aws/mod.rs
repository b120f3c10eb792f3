//! AWS for the simulated platform: which endpoint and account the simulated controllers (ACK,
//! the CSI driver's AWS provider, Crossplane) and the harness's AWS checks talk to, and the
//! aws-sdk-rust clients built for them. [`emulator`] starts and stops the moto server,
//! [`localstack`] LocalStack (a host process or a Docker container).
//!
//! An [`AwsTarget`] is an endpoint (an emulator's URL, or none for real AWS), a region and
//! credentials. A scenario gets its own account on an emulator ([`AwsTarget::emulator`]): its
//! 12-digit account id is the access key id (LocalStack's rule) and every request names it in
//! the `x-moto-account-id` header (moto's). This module must not
//! decide anything about IAM (that is `crate::iam`) and must not print credentials.

pub mod emulator;
pub mod localstack;
pub mod roles;

/// The IAM model types callers need (scopes, statuses), without depending on the SDK crate.
pub use aws_sdk_iam::types as iam_types;
/// The RDS model types.
pub use aws_sdk_rds::types as rds_types;

use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use aws_types::sdk_config::SdkConfig;

/// The default region of the simulated platform (as the pod identity webhook and ACK default).
pub const DEFAULT_REGION: &str = "us-east-1";
/// The secret key used with emulators (they do not check signatures).
const EMULATOR_SECRET_KEY: &str = "idp-harness-emulator";

/// One AWS call, as the call log keeps it (no parameters, so no secret values).
#[derive(Debug, Clone)]
pub struct Call {
    /// When it started, since the log was made.
    pub at: Duration,
    pub took: Duration,
    pub service: String,
    pub operation: String,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The access key id that signed it (says which identity acted: the account's own keys, or
    /// an assumed role's).
    pub access_key_id: String,
}

/// The AWS calls made through a target and its clones, in order (evidence bundles show them).
#[derive(Debug)]
pub struct CallLog {
    started: std::time::Instant,
    calls: std::sync::Mutex<Vec<Call>>,
}

impl Default for CallLog {
    fn default() -> Self {
        CallLog { started: std::time::Instant::now(), calls: Default::default() }
    }
}

/// Most calls a log keeps (the oldest are dropped first).
const MAX_CALLS: usize = 5000;

impl CallLog {
    /// When the log started (call times count from here).
    pub fn started(&self) -> std::time::Instant {
        self.started
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, c: Call) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.len() == MAX_CALLS {
            calls.remove(0);
        }
        calls.push(c);
    }
}

/// Where AWS calls go, as whom.
#[derive(Clone)]
pub struct AwsTarget {
    /// `None`: the real AWS endpoints of the region.
    pub endpoint: Option<String>,
    pub region: String,
    credentials: Credentials,
    /// The account id, when known without a call (emulators: the access key id).
    account: Option<String>,
    /// Where calls are recorded, when someone listens.
    log: Option<std::sync::Arc<CallLog>>,
    /// The SDK clients, made on the first [`AwsTarget::clients`] (making them costs more than
    /// an emulator's answer) and shared by this target's clones. A changed credential or log
    /// makes a new target with an empty cache.
    made: std::sync::Arc<std::sync::OnceLock<Made>>,
}

/// The SDK clients of a target, with the endpoint and region they were made for (both are
/// public fields: a target changed after its clients were made gets fresh ones).
#[derive(Clone)]
struct Made {
    endpoint: Option<String>,
    region: String,
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    secretsmanager: aws_sdk_secretsmanager::Client,
    rds: aws_sdk_rds::Client,
    organizations: aws_sdk_organizations::Client,
}

impl std::fmt::Debug for AwsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials stay out of logs and reports.
        f.debug_struct("AwsTarget")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl AwsTarget {
    /// An emulator at `endpoint`, acting in `account` (a 12-digit id: moto and LocalStack take
    /// the account from the access key id).
    pub fn emulator(endpoint: &str, account: &str, region: &str) -> AwsTarget {
        AwsTarget {
            endpoint: Some(endpoint.trim_end_matches('/').to_string()),
            region: region.to_string(),
            credentials: Credentials::from_keys(account, EMULATOR_SECRET_KEY, None),
            account: Some(account.to_string()),
            log: None,
            made: Default::default(),
        }
    }

    /// An endpoint (or real AWS when `None`) with the given keys.
    pub fn with_keys(
        endpoint: Option<&str>,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<&str>,
    ) -> AwsTarget {
        AwsTarget {
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_string()),
            region: region.to_string(),
            credentials: Credentials::from_keys(access_key_id, secret_access_key, session_token.map(str::to_string)),
            account: None,
            log: None,
            made: Default::default(),
        }
    }

    /// The same endpoint and region acting as other credentials (an assumed role's).
    pub fn as_credentials(&self, credentials: Credentials) -> AwsTarget {
        AwsTarget { credentials, account: self.account.clone(), made: Default::default(), ..self.clone() }
    }

    /// The same target, recording every call (its clones and assumed-role variants too) in
    /// `log`.
    pub fn with_log(mut self, log: std::sync::Arc<CallLog>) -> AwsTarget {
        self.log = Some(log);
        self.made = Default::default();
        self
    }

    /// The call log, if any.
    pub fn log(&self) -> Option<&std::sync::Arc<CallLog>> {
        self.log.as_ref()
    }

    /// The account id, when known without asking STS.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The access key id in use (not secret; shown in evidence to say which account acted).
    pub fn access_key_id(&self) -> &str {
        self.credentials.access_key_id()
    }

    /// The environment a CLI tool (the AWS CLI, Terraform, boto3) needs to act as this target.
    /// Contains the credentials: for child processes only, never for output.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_REGION".to_string(), self.region.clone()),
            ("AWS_DEFAULT_REGION".to_string(), self.region.clone()),
            ("AWS_ACCESS_KEY_ID".to_string(), self.credentials.access_key_id().to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), self.credentials.secret_access_key().to_string()),
        ];
        if let Some(t) = self.credentials.session_token() {
            env.push(("AWS_SESSION_TOKEN".to_string(), t.to_string()));
        }
        if let Some(e) = &self.endpoint {
            env.push(("AWS_ENDPOINT_URL".to_string(), e.clone()));
        }
        env
    }

    /// The SDK configuration: few retries and short timeouts, because the emulator is local and
    /// a dead one must fail a scenario quickly.
    pub fn sdk_config(&self) -> SdkConfig {
        // One HTTP client for the process: building one loads the trusted roots again for
        // every client made from it, which cost more than the emulator's answer. Its
        // connections run on the runtime that opened them (one per process here; nextest runs
        // each test in its own process).
        static HTTP: std::sync::LazyLock<aws_smithy_runtime_api::client::http::SharedHttpClient> =
            std::sync::LazyLock::new(|| {
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https()
            });
        let http = HTTP.clone();
        let (attempts, connect) = if self.endpoint.is_some() { (2, 2) } else { (3, 5) };
        let mut b = SdkConfig::builder()
            .http_client(http)
            .region(Region::new(self.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(self.credentials.clone()))
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(connect))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(e) = &self.endpoint {
            b = b.endpoint_url(e.clone());
        }
        b.build()
    }

    /// Clients for every service the platform uses. On an emulator every request also names
    /// the account in moto's `x-moto-account-id` header (moto, unlike LocalStack, does not take
    /// the account from an unknown access key id).
    pub fn clients(&self) -> Clients {
        let fresh = |m: &Made| m.endpoint == self.endpoint && m.region == self.region;
        let made = match self.made.get() {
            Some(m) if fresh(m) => m.clone(),
            Some(_) => self.make_clients(),
            None => self.made.get_or_init(|| self.make_clients()).clone(),
        };
        Clients {
            iam: made.iam,
            sts: made.sts,
            secretsmanager: made.secretsmanager,
            rds: made.rds,
            organizations: made.organizations,
            target: self.clone(),
        }
    }

    fn make_clients(&self) -> Made {
        let c = self.sdk_config();
        let account = self.endpoint.as_ref().and(self.account.clone()).map(MotoAccount);
        let recorder = self.log.clone().map(|log| Recorder { log, key: self.credentials.access_key_id().to_string() });
        macro_rules! client {
            ($krate:ident) => {{
                let mut b = $krate::config::Builder::from(&c);
                if let Some(a) = &account {
                    b = b.interceptor(a.clone());
                }
                if let Some(r) = &recorder {
                    b = b.interceptor(r.clone());
                }
                $krate::Client::from_conf(b.build())
            }};
        }
        Made {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            iam: client!(aws_sdk_iam),
            sts: client!(aws_sdk_sts),
            secretsmanager: client!(aws_sdk_secretsmanager),
            rds: client!(aws_sdk_rds),
            organizations: client!(aws_sdk_organizations),
        }
    }
}

/// Records each call in a [`CallLog`].
#[derive(Debug, Clone)]
struct Recorder {
    log: std::sync::Arc<CallLog>,
    key: String,
}

#[derive(Debug, Clone, Copy)]
struct CallStart(std::time::Instant);

impl aws_smithy_types::config_bag::Storable for CallStart {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl aws_sdk_iam::config::Intercept for Recorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    fn read_before_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut aws_sdk_iam::config::ConfigBag,
    ) -> Result<(), aws_sdk_iam::error::BoxError> {
        cfg.interceptor_state().store_put(CallStart(std::time::Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_iam::config::RuntimeComponents,
        cfg: &mut aws_sdk_iam::config::ConfigBag,
    ) -> Result<(), aws_sdk_iam::error::BoxError> {
        let now = std::time::Instant::now();
        let began = cfg.load::<CallStart>().map_or(now, |s| s.0);
        let meta = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>();
        self.log.push(Call {
            at: began.saturating_duration_since(self.log.started),
            took: now.saturating_duration_since(began),
            service: meta.map(|m| m.service().to_string()).unwrap_or_default(),
            operation: meta.map(|m| m.name().to_string()).unwrap_or_default(),
            status: context.response().map(|r| r.status().as_u16()),
            access_key_id: self.key.clone(),
        });
        Ok(())
    }
}

/// A UUID-shaped AWS request id that is the same for the same seed, for errors the simulator
/// gives where AWS would (the same failure then repeats the same message).
pub fn stable_request_id(seed: &str) -> uuid::Uuid {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in seed.bytes() {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    uuid::Builder::from_random_bytes(h.to_be_bytes()).into_uuid()
}

/// Adds `x-moto-account-id` to every request: moto's way to act in an account.
#[derive(Debug, Clone)]
struct MotoAccount(String);

impl aws_sdk_iam::config::Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &aws_sdk_iam::config::RuntimeComponents,
        _cfg: &mut aws_sdk_iam::config::ConfigBag,
    ) -> Result<(), aws_sdk_iam::error::BoxError> {
        context.request_mut().headers_mut().insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// SDK clients for one [`AwsTarget`].
#[derive(Clone, Debug)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub rds: aws_sdk_rds::Client,
    pub organizations: aws_sdk_organizations::Client,
    pub target: AwsTarget,
}

/// An AWS error as users see it: `<Code>: <message>` (the SDK's Display says only "service
/// error"), or the transport failure with its causes.
pub fn error_text<E, R>(err: &aws_sdk_iam::error::SdkError<E, R>) -> String
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_iam::error::SdkError;
    match err {
        SdkError::ServiceError(e) => {
            let inner = e.err();
            match (inner.code(), inner.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => chain(inner),
            }
        }
        other => chain(other),
    }
}

/// The AWS error code of a service error (`NoSuchEntity`, `ResourceNotFoundException`), if any.
pub fn error_code<E, R>(err: &aws_sdk_iam::error::SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata,
{
    match err {
        aws_sdk_iam::error::SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_credentials() {
        let t = AwsTarget::with_keys(None, "eu-west-1", "AKIAEXAMPLE", "very-secret-key", Some("token-xyz"));
        let shown = format!("{t:?}");
        assert!(!shown.contains("very-secret-key") && !shown.contains("token-xyz"), "{shown}");
        assert!(shown.contains("eu-west-1"));
    }

    #[test]
    fn emulator_targets_carry_their_account() {
        let t = AwsTarget::emulator("http://127.0.0.1:5000/", "210987654321", "us-east-1");
        assert_eq!(t.account(), Some("210987654321"));
        assert_eq!(t.access_key_id(), "210987654321");
        assert_eq!(t.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    }
}
