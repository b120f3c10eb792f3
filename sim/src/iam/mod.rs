//! AWS IAM policy evaluation for the simulator: the checks real AWS makes and the free AWS
//! emulators skip. Pure and synchronous: no AWS SDK, no network, no clock (callers put
//! `aws:CurrentTime` in the context when a policy needs it).
//!
//! # Evaluation logic
//!
//! A statement *applies* to a request when its Action (or NotAction) matches the action, its
//! Resource (or NotResource) matches the resource ARN, its Principal (or NotPrincipal), when it
//! has one, matches the request's principal, and every condition holds. Over a set of policies
//! (identity-based: managed and inline policies together): an applicable `Deny` statement
//! anywhere is an explicit deny and wins; otherwise an applicable `Allow` allows; otherwise the
//! request is implicitly denied.
//!
//! Matching: actions are case-insensitive globs (`*`, `?`) over `service:Action`; resources are
//! case-sensitive ARN globs matched colon-separated part by part (the last part may hold
//! colons). Conditions: keys of one operator are ANDed, values of one key
//! ORed, negated operators are NOR over values; a missing key makes positive operators false
//! and negated ones true (as the IAM documentation states), `...IfExists` true, `ForAllValues`
//! true, `ForAnyValue` false. Policy variables (`${aws:username}`, `${aws:PrincipalTag/team}`,
//! `${*}` `${?}` `${$}`, `${key, 'default'}`) are substituted in Resource and in string and ARN
//! condition values when the policy's Version is 2012-10-17; an unresolvable one makes that
//! resource or value match nothing.
//!
//! Web-identity trust ([`evaluate_trust`]): the role's trust policy must allow
//! `sts:AssumeRoleWithWebIdentity` for `{"Federated": <oidc provider ARN>}` with its conditions
//! over `<issuer host/path>:sub`, `:aud` and `:amr`.
//!
//! # Not modelled
//!
//! Permission boundaries, session policies, SCPs/RCPs and the cross-account rules combining
//! identity and resource policies (callers combine [`Decision`]s themselves); service-specific
//! context keys that AWS fills in (the caller provides the context); IAM's size limits and its
//! grammar checks of individual services' action names; case-insensitive matching of non-ASCII
//! letters (IgnoreCase folds ASCII only); a single-valued operator over a multivalued key is
//! treated as `ForAnyValue`. Condition values that do not parse as the operator's type
//! (a non-number for Numeric..., a bad CIDR) match nothing instead of being refused.
//!
//! This module must not talk to AWS, Kubernetes or the clock, and must not panic on any policy
//! or request.

mod conditions;
mod context;
mod matching;
mod policy;
#[cfg(test)]
mod tests;

use std::fmt;

pub use context::{Context, ContextValue, Value};
pub use policy::{Effect, Policy, PolicyError, PolicyKind, Statement, Version};

use conditions::ConditionEntry;
use policy::{ActionSpec, PrincipalSpec, Principals, ResourceSpec};

/// Who makes a request, for statements that name principals (resource and trust policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPrincipal<'a> {
    /// An IAM principal ARN (`arn:aws:iam::123456789012:role/x`, an assumed-role ARN, ...).
    Aws(&'a str),
    /// A federated identity provider ARN (OIDC or SAML provider) or `cognito-identity.amazonaws.com`.
    Federated(&'a str),
    /// A service principal such as `ec2.amazonaws.com`.
    Service(&'a str),
}

/// One request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `service:Action`, e.g. `secretsmanager:GetSecretValue`.
    pub action: &'a str,
    /// The resource ARN (or `*` for actions without a resource).
    pub resource: &'a str,
    /// The caller, checked only against statements that have a Principal/NotPrincipal.
    pub principal: Option<RequestPrincipal<'a>>,
    /// Condition keys and their values.
    pub context: &'a Context,
}

/// The outcome of evaluating a request against a set of policies. `policy` is the label the
/// caller gave the policy (its name or ARN); `statement` is the statement's index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    Allowed { policy: &'a str, sid: Option<&'a str>, statement: usize },
    ExplicitDeny { policy: &'a str, sid: Option<&'a str>, statement: usize },
    ImplicitDeny,
}

impl Decision<'_> {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// An AWS-style AccessDenied message for a denied request, `None` when allowed.
    pub fn access_denied_message(&self, caller: &str, action: &str, resource: &str) -> Option<String> {
        let head = format!("User: {caller} is not authorized to perform: {action} on resource: {resource}");
        match self {
            Decision::Allowed { .. } => None,
            Decision::ExplicitDeny { .. } => {
                Some(format!("{head} with an explicit deny in an identity-based policy ({self})"))
            }
            Decision::ImplicitDeny => {
                Some(format!("{head} because no identity-based policy allows the {action} action"))
            }
        }
    }
}

struct StatementName<'a>(Option<&'a str>, usize);

impl fmt::Display for StatementName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(sid) => write!(f, "statement \"{sid}\""),
            None => write!(f, "statement #{}", self.1),
        }
    }
}

impl fmt::Display for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed { policy, sid, statement } => {
                write!(f, "allowed by {} of policy {policy}", StatementName(*sid, *statement))
            }
            Decision::ExplicitDeny { policy, sid, statement } => {
                write!(f, "denied by {} of policy {policy}", StatementName(*sid, *statement))
            }
            Decision::ImplicitDeny => write!(f, "implicitly denied: no statement allows it"),
        }
    }
}

fn principal_in(set: &Principals, who: RequestPrincipal<'_>) -> bool {
    if set.everyone {
        return true;
    }
    match who {
        RequestPrincipal::Aws(arn) => set.aws.iter().any(|p| aws_principal_matches(p, arn)),
        RequestPrincipal::Federated(p) => set.federated.iter().any(|f| **f == *p || &**f == "*"),
        RequestPrincipal::Service(s) => set.service.iter().any(|v| **v == *s || &**v == "*"),
    }
}

/// An AWS principal value matches the caller's ARN exactly, or names its account (as
/// `123456789012` or `arn:aws:iam::123456789012:root`), or is `*`.
fn aws_principal_matches(value: &str, arn: &str) -> bool {
    if value == "*" || value == arn {
        return true;
    }
    let account = arn.split(':').nth(4).unwrap_or("");
    if account.is_empty() {
        return false;
    }
    if value == account {
        return true;
    }
    value
        .strip_suffix(":root")
        .and_then(|v| v.rsplit(':').next())
        .is_some_and(|acct| acct == account && value.starts_with("arn:"))
}

impl Statement {
    fn action_matches(&self, action: &str) -> bool {
        match &self.action {
            ActionSpec::Action(globs) => globs.iter().any(|g| g.matches(action, true)),
            ActionSpec::NotAction(globs) => !globs.iter().any(|g| g.matches(action, true)),
        }
    }

    fn resource_matches(&self, resource: &str, ctx: &Context) -> bool {
        match &self.resource {
            None => true,
            Some(ResourceSpec::Resource(ps)) => ps.iter().any(|p| p.matches(resource, ctx)),
            Some(ResourceSpec::NotResource(ps)) => !ps.iter().any(|p| p.matches(resource, ctx)),
        }
    }

    fn principal_matches(&self, who: Option<RequestPrincipal<'_>>) -> bool {
        match (&self.principal, who) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(PrincipalSpec::Principal(set)), Some(w)) => principal_in(set, w),
            (Some(PrincipalSpec::NotPrincipal(set)), Some(w)) => !principal_in(set, w),
        }
    }

    fn failed_condition(&self, ctx: &Context) -> Option<&ConditionEntry> {
        self.conditions.iter().find(|c| !c.evaluate(ctx))
    }

    /// Whether the statement applies to the request (cheapest checks first).
    fn applies(&self, req: &Request<'_>) -> bool {
        self.action_matches(req.action)
            && self.resource_matches(req.resource, req.context)
            && self.principal_matches(req.principal)
            && self.conditions.iter().all(|c| c.evaluate(req.context))
    }
}

impl Policy {
    /// Evaluates this policy alone; `label` names it in the decision.
    pub fn evaluate<'a>(&'a self, label: &'a str, req: &Request<'_>) -> Decision<'a> {
        evaluate([(label, self)], req)
    }
}

/// Evaluates a request against several policies together (labelled by the caller): explicit
/// deny wins, then allow, else implicit deny.
pub fn evaluate<'a, I>(policies: I, req: &Request<'_>) -> Decision<'a>
where
    I: IntoIterator<Item = (&'a str, &'a Policy)>,
{
    let mut allowed = Decision::ImplicitDeny;
    for (label, policy) in policies {
        for (i, stmt) in policy.statements.iter().enumerate() {
            if stmt.effect == Effect::Allow && allowed.is_allowed() {
                continue;
            }
            if !stmt.applies(req) {
                continue;
            }
            let sid = stmt.sid.as_deref();
            match stmt.effect {
                Effect::Deny => return Decision::ExplicitDeny { policy: label, sid, statement: i },
                Effect::Allow => allowed = Decision::Allowed { policy: label, sid, statement: i },
            }
        }
    }
    allowed
}

/// Named policies evaluated together, e.g. all identity policies of one role.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<(String, Policy)>,
}

impl PolicySet {
    pub fn new() -> PolicySet {
        PolicySet::default()
    }

    /// Adds a policy under a label (its name or ARN).
    pub fn add(&mut self, label: impl Into<String>, policy: Policy) {
        self.policies.push((label.into(), policy));
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    pub fn evaluate(&self, req: &Request<'_>) -> Decision<'_> {
        evaluate(self.policies.iter().map(|(l, p)| (l.as_str(), p)), req)
    }
}

/// The condition-key prefix of an OIDC issuer: its URL without `https://` (and without a
/// trailing `/`), e.g. `oidc.eks.us-east-1.amazonaws.com/id/ABC`.
pub fn issuer_context_prefix(issuer_url: &str) -> &str {
    let s = issuer_url.strip_prefix("https://").unwrap_or(issuer_url);
    s.strip_suffix('/').unwrap_or(s)
}

/// The IAM OIDC provider ARN for an issuer in an account.
pub fn oidc_provider_arn(account: &str, issuer_url: &str) -> String {
    format!("arn:aws:iam::{account}:oidc-provider/{}", issuer_context_prefix(issuer_url))
}

/// An `sts:AssumeRoleWithWebIdentity` call, as the trust policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct WebIdentityRequest<'a> {
    /// Normally `sts:AssumeRoleWithWebIdentity`.
    pub action: &'a str,
    /// `arn:aws:iam::<account>:oidc-provider/<issuer host/path>`.
    pub federated_provider_arn: &'a str,
    /// The token's `sub` claim, e.g. `system:serviceaccount:<ns>:<sa>`.
    pub sub: &'a str,
    /// The token's `aud` claim, e.g. `sts.amazonaws.com`.
    pub aud: &'a str,
    /// The token's `amr` claim values, if any.
    pub amr: &'a [&'a str],
    /// Further context keys (`aws:...`), if any.
    pub extra: Option<&'a Context>,
}

impl WebIdentityRequest<'_> {
    /// The issuer prefix of the condition keys, from the provider ARN.
    pub fn issuer_prefix(&self) -> &str {
        self.federated_provider_arn
            .split_once(":oidc-provider/")
            .map_or(self.federated_provider_arn, |(_, issuer)| issuer)
    }

    /// The request context AWS builds for the trust policy.
    pub fn context(&self) -> Context {
        let prefix = self.issuer_prefix();
        let mut ctx = Context::new();
        if let Some(extra) = self.extra {
            ctx.extend(extra);
        }
        ctx.insert(&format!("{prefix}:sub"), self.sub);
        ctx.insert(&format!("{prefix}:aud"), self.aud);
        if !self.amr.is_empty() {
            ctx.insert(&format!("{prefix}:amr"), self.amr);
        }
        ctx.insert("aws:FederatedProvider", self.federated_provider_arn);
        ctx
    }
}

/// Why a trust policy did not allow a web-identity request: the statement that came closest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustMiss {
    /// No Allow statement in the policy.
    NoAllowStatement,
    /// No Allow statement names the provider as its principal.
    Principal { statement: usize, sid: Option<String>, expected: Vec<String>, provider: String },
    /// The principal matched but the action is not allowed.
    Action { statement: usize, sid: Option<String>, expected: Vec<String>, action: String },
    /// Principal and action matched; this condition did not hold.
    Condition {
        statement: usize,
        sid: Option<String>,
        operator: String,
        key: String,
        expected: Vec<String>,
        actual: Option<String>,
    },
}

impl TrustMiss {
    fn rank(&self) -> u8 {
        match self {
            TrustMiss::NoAllowStatement => 0,
            TrustMiss::Principal { .. } => 1,
            TrustMiss::Action { .. } => 2,
            TrustMiss::Condition { .. } => 3,
        }
    }
}

fn one_or_list(values: &[String]) -> String {
    match values {
        [one] => one.clone(),
        _ => format!("[{}]", values.join(", ")),
    }
}

impl fmt::Display for TrustMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustMiss::NoAllowStatement => write!(f, "no statement allows it"),
            TrustMiss::Principal { expected, provider, .. } => {
                write!(f, "principal {} does not name provider {provider}", one_or_list(expected))
            }
            TrustMiss::Action { expected, action, .. } => {
                write!(f, "action {} does not allow {action}", one_or_list(expected))
            }
            TrustMiss::Condition { operator, key, expected, actual, .. } => {
                write!(f, "condition {operator} {key} = {} not met", one_or_list(expected))?;
                match actual {
                    Some(a) => write!(f, "; the request has {a}"),
                    None => write!(f, "; the request has no {key}"),
                }
            }
        }
    }
}

/// The outcome of a trust-policy evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustDecision {
    Allowed { statement: usize, sid: Option<String> },
    ExplicitDeny { statement: usize, sid: Option<String> },
    ImplicitDeny(TrustMiss),
}

impl TrustDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, TrustDecision::Allowed { .. })
    }

    /// A sentence for an error message, `None` when allowed: "trust policy of role R does not
    /// allow S (condition StringEquals k = v not met; the request has w)".
    pub fn explain(&self, role: &str, subject: &str) -> Option<String> {
        match self {
            TrustDecision::Allowed { .. } => None,
            TrustDecision::ExplicitDeny { statement, sid } => Some(format!(
                "trust policy of role {role} does not allow {subject} (denied by {})",
                StatementName(sid.as_deref(), *statement)
            )),
            TrustDecision::ImplicitDeny(miss) => {
                Some(format!("trust policy of role {role} does not allow {subject} ({miss})"))
            }
        }
    }
}

/// Evaluates a role's trust policy for `sts:AssumeRoleWithWebIdentity`.
pub fn evaluate_trust(policy: &Policy, req: &WebIdentityRequest<'_>) -> TrustDecision {
    let ctx = req.context();
    let who = Some(RequestPrincipal::Federated(req.federated_provider_arn));
    let mut allowed = None;
    let mut best = TrustMiss::NoAllowStatement;
    for (i, stmt) in policy.statements.iter().enumerate() {
        let sid = || stmt.sid.clone();
        let miss = if !stmt.principal_matches(who) {
            Some(TrustMiss::Principal {
                statement: i,
                sid: sid(),
                expected: stmt.principal_text.clone(),
                provider: req.federated_provider_arn.to_owned(),
            })
        } else if !stmt.action_matches(req.action) {
            Some(TrustMiss::Action {
                statement: i,
                sid: sid(),
                expected: stmt.action_text.clone(),
                action: req.action.to_owned(),
            })
        } else {
            stmt.failed_condition(&ctx).map(|c| TrustMiss::Condition {
                statement: i,
                sid: sid(),
                operator: c.op_name.to_string(),
                key: c.key_name.to_string(),
                expected: c.raw_values.iter().map(|v| v.to_string()).collect(),
                actual: c.actual(&ctx),
            })
        };
        match (stmt.effect, miss) {
            (Effect::Deny, None) => return TrustDecision::ExplicitDeny { statement: i, sid: sid() },
            (Effect::Deny, Some(_)) => {}
            (Effect::Allow, None) => {
                if allowed.is_none() {
                    allowed = Some(TrustDecision::Allowed { statement: i, sid: sid() });
                }
            }
            (Effect::Allow, Some(miss)) => {
                if miss.rank() > best.rank() {
                    best = miss;
                }
            }
        }
    }
    allowed.unwrap_or(TrustDecision::ImplicitDeny(best))
}
