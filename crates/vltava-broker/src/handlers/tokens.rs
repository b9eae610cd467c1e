//! Delegation tokens (KIP-48, KIP-373): CreateDelegationToken,
//! RenewDelegationToken and ExpireDelegationToken (changes, made by the
//! active controller: other nodes relay them in an Envelope with the
//! client's principal) and DescribeDelegationToken (answered from this
//! node's image).
//!
//! As in Kafka, token requests are refused (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED)
//! on a session authenticated with a delegation token, and on the node the
//! client is connected to when that connection is PLAINTEXT, or SSL
//! without a client certificate (anyone could ask). A token for someone
//! else needs CreateTokens on that user; describing another user's tokens
//! needs Describe on the token or DescribeTokens on its owner.

use vltava_acl::{AclOperation, ResourceType};
use vltava_config::SecurityProtocol;
use vltava_metadata::image::DelegationTokenImage;
use vltava_protocol::messages::describe_delegation_token_response::{
    DescribedDelegationToken, DescribedDelegationTokenRenewer,
};
use vltava_protocol::messages::*;
use vltava_protocol::{ErrorCode, ResponseBody};

use crate::broker::Broker;
use crate::handlers::authz::Access;
use crate::handlers::RequestContext;

/// Kafka's timestamp in a refused Renew or Expire answer
/// (`DelegationTokenManager.ErrorTimestamp`).
const ERROR_TIMESTAMP: i64 = -1;

/// Whether this session may make token requests (Kafka's
/// `allowTokenRequests`). A relayed request was checked on the node the
/// client is connected to.
fn allowed(context: &RequestContext<'_>) -> bool {
    let session = context.session;
    if session.token_authenticated {
        return false;
    }
    if session.relayed {
        return true;
    }
    match session.protocol {
        SecurityProtocol::Plaintext => false,
        SecurityProtocol::Ssl => session.principal != "User:ANONYMOUS",
        _ => true,
    }
}

fn split(principal: &str) -> (String, String) {
    match principal.split_once(':') {
        Some((kind, name)) => (kind.to_string(), name.to_string()),
        None => ("User".to_string(), principal.to_string()),
    }
}

/// The answer to a token request this session may not make, checked
/// before it is relayed (the controller sees the relaying node's
/// connection, not the client's); `None` when it may.
pub fn refuse_unless_allowed(
    context: &RequestContext<'_>,
    body: &RequestBody,
) -> Option<ResponseBody> {
    let token_request = matches!(
        body,
        RequestBody::CreateDelegationToken(_)
            | RequestBody::RenewDelegationToken(_)
            | RequestBody::ExpireDelegationToken(_)
            | RequestBody::DescribeDelegationToken(_)
    );
    // Every request passes here: its kind first, the session only for
    // token requests.
    if !token_request || allowed(context) {
        return None;
    }
    let code = ErrorCode::DELEGATION_TOKEN_REQUEST_NOT_ALLOWED.code();
    Some(match body {
        RequestBody::CreateDelegationToken(r) => {
            let owner = owner_of(context, r);
            ResponseBody::CreateDelegationToken(create_refused(code, &owner, context))
        }
        RequestBody::RenewDelegationToken(_) => {
            ResponseBody::RenewDelegationToken(RenewDelegationTokenResponse {
                error_code: code,
                expiry_timestamp_ms: ERROR_TIMESTAMP,
                ..Default::default()
            })
        }
        RequestBody::ExpireDelegationToken(_) => {
            ResponseBody::ExpireDelegationToken(ExpireDelegationTokenResponse {
                error_code: code,
                expiry_timestamp_ms: ERROR_TIMESTAMP,
                ..Default::default()
            })
        }
        RequestBody::DescribeDelegationToken(_) => {
            ResponseBody::DescribeDelegationToken(DescribeDelegationTokenResponse {
                error_code: code,
                ..Default::default()
            })
        }
        _ => return None,
    })
}

/// The owner a CreateDelegationToken asks for (v3), else the requester.
fn owner_of(context: &RequestContext<'_>, r: &CreateDelegationTokenRequest) -> String {
    match (&r.owner_principal_type, &r.owner_principal_name) {
        (Some(kind), Some(name)) if !name.is_empty() => format!("{kind}:{name}"),
        _ => context.session.principal.clone(),
    }
}

fn create_refused(
    code: i16,
    owner: &str,
    context: &RequestContext<'_>,
) -> CreateDelegationTokenResponse {
    let (principal_type, principal_name) = split(owner);
    let (token_requester_principal_type, token_requester_principal_name) =
        split(&context.session.principal);
    CreateDelegationTokenResponse {
        error_code: code,
        principal_type,
        principal_name,
        token_requester_principal_type,
        token_requester_principal_name,
        issue_timestamp_ms: -1,
        expiry_timestamp_ms: -1,
        max_timestamp_ms: -1,
        ..Default::default()
    }
}

pub async fn create(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: CreateDelegationTokenRequest,
) -> ResponseBody {
    let owner = owner_of(context, &request);
    let requester = context.session.principal.clone();
    // Anyone may create a token for themselves; for someone else, Kafka
    // asks CreateTokens on that user (KIP-373).
    if owner != requester
        && !Access::of(broker, context).allows(
            AclOperation::CreateTokens,
            ResourceType::User,
            &owner,
        )
    {
        return ResponseBody::CreateDelegationToken(create_refused(
            ErrorCode::DELEGATION_TOKEN_AUTHORIZATION_FAILED.code(),
            &owner,
            context,
        ));
    }
    let renewers = request
        .renewers
        .into_iter()
        .map(|r| (r.principal_type, r.principal_name))
        .collect();
    match broker
        .controller
        .create_delegation_token(owner.clone(), requester, renewers, request.max_lifetime_ms)
        .await
    {
        Ok(created) => {
            let t = created.token;
            let (principal_type, principal_name) = split(&t.owner);
            let (token_requester_principal_type, token_requester_principal_name) =
                split(&t.requester);
            ResponseBody::CreateDelegationToken(CreateDelegationTokenResponse {
                error_code: 0,
                principal_type,
                principal_name,
                token_requester_principal_type,
                token_requester_principal_name,
                issue_timestamp_ms: t.issue_ms,
                expiry_timestamp_ms: t.expiry_ms,
                max_timestamp_ms: t.max_ms,
                token_id: t.token_id,
                hmac: created.hmac.into(),
                ..Default::default()
            })
        }
        Err(e) => {
            ResponseBody::CreateDelegationToken(create_refused(e.code.code(), &owner, context))
        }
    }
}

pub async fn renew(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: RenewDelegationTokenRequest,
) -> ResponseBody {
    let answer = broker
        .controller
        .renew_delegation_token(
            &request.hmac,
            &context.session.principal,
            request.renew_period_ms,
        )
        .await;
    let (error_code, expiry_timestamp_ms) = match answer {
        Ok(expiry) => (0, expiry),
        Err(e) => (e.code.code(), ERROR_TIMESTAMP),
    };
    ResponseBody::RenewDelegationToken(RenewDelegationTokenResponse {
        error_code,
        expiry_timestamp_ms,
        ..Default::default()
    })
}

pub async fn expire(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: ExpireDelegationTokenRequest,
) -> ResponseBody {
    let answer = broker
        .controller
        .expire_delegation_token(
            &request.hmac,
            &context.session.principal,
            request.expiry_time_period_ms,
        )
        .await;
    let (error_code, expiry_timestamp_ms) = match answer {
        Ok(expiry) => (0, expiry),
        Err(e) => (e.code.code(), ERROR_TIMESTAMP),
    };
    ResponseBody::ExpireDelegationToken(ExpireDelegationTokenResponse {
        error_code,
        expiry_timestamp_ms,
        ..Default::default()
    })
}

/// DescribeDelegationToken from this node's image, as Kafka's
/// `DelegationTokenManager.filterToken` decides what a principal sees: of
/// the tokens of the owners asked for (all when null; none when empty),
/// those the principal owns or may renew, those it may Describe, and
/// those whose owner it may DescribeTokens.
pub fn describe(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DescribeDelegationTokenRequest,
) -> ResponseBody {
    let Some(secret) = broker.metadata.static_config().delegation_token_secret() else {
        return ResponseBody::DescribeDelegationToken(DescribeDelegationTokenResponse {
            error_code: ErrorCode::DELEGATION_TOKEN_AUTH_DISABLED.code(),
            ..Default::default()
        });
    };
    let owners: Option<Vec<String>> = request.owners.map(|owners| {
        owners
            .into_iter()
            .map(|o| format!("{}:{}", o.principal_type, o.principal_name))
            .collect()
    });
    let requester = &context.session.principal;
    let access = Access::of(broker, context);
    let visible = |t: &DelegationTokenImage| {
        if let Some(owners) = &owners {
            if !owners.iter().any(|o| t.owner_or_renewer(o)) {
                return false;
            }
        }
        t.owner_or_renewer(requester)
            || access.allows(
                AclOperation::Describe,
                ResourceType::DelegationToken,
                &t.token_id,
            )
            || access.allows(AclOperation::DescribeTokens, ResourceType::User, &t.owner)
    };
    let image = broker.metadata.image();
    let tokens = image
        .delegation_tokens()
        .filter(|t| visible(t))
        .map(|t| {
            let (principal_type, principal_name) = split(&t.owner);
            let (token_requester_principal_type, token_requester_principal_name) =
                split(&t.requester);
            DescribedDelegationToken {
                principal_type,
                principal_name,
                token_requester_principal_type,
                token_requester_principal_name,
                issue_timestamp: t.issue_ms,
                expiry_timestamp: t.expiry_ms,
                max_timestamp: t.max_ms,
                token_id: t.token_id.clone(),
                hmac: vltava_sasl::scram::delegation_token_hmac(&secret, &t.token_id).into(),
                renewers: t
                    .renewers
                    .iter()
                    .map(|r| {
                        let (principal_type, principal_name) = split(r);
                        DescribedDelegationTokenRenewer {
                            principal_type,
                            principal_name,
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    ResponseBody::DescribeDelegationToken(DescribeDelegationTokenResponse {
        error_code: 0,
        tokens,
        ..Default::default()
    })
}
