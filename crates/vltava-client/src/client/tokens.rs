//! Delegation tokens (CreateDelegationToken, RenewDelegationToken,
//! ExpireDelegationToken, DescribeDelegationToken), as Kafka's Admin
//! client asks for them (`kafka-delegation-tokens.sh`). Changes go to the
//! active controller; descriptions to any node.

use vltava_protocol::messages::{
    create_delegation_token_request, describe_delegation_token_request,
    CreateDelegationTokenRequest, DescribeDelegationTokenRequest, ExpireDelegationTokenRequest,
    RenewDelegationTokenRequest,
};
use vltava_protocol::ErrorCode;

use super::Client;
use crate::error::{Error, Result};

/// A delegation token as the broker describes it. Principals are
/// `Type:Name`; times ms since the epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegationToken {
    pub token_id: String,
    /// The HMAC: with the id, the token's SCRAM password (base64).
    pub hmac: Vec<u8>,
    pub owner: String,
    pub requester: String,
    pub renewers: Vec<String>,
    pub issue_ms: i64,
    pub expiry_ms: i64,
    pub max_ms: i64,
}

fn principal(kind: &str, name: &str) -> String {
    format!("{kind}:{name}")
}

fn split(principal: &str) -> Result<(String, String)> {
    principal
        .split_once(':')
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .ok_or_else(|| Error::Protocol(format!("{principal}: a principal is Type:Name")))
}

fn check(code: i16, what: &str) -> Result<()> {
    let code = ErrorCode(code);
    if code.is_error() {
        return Err(Error::broker(code, None, what.to_string()));
    }
    Ok(())
}

impl Client {
    /// Creates a token. `owner` (`Type:Name`) makes it for someone else
    /// (needs CreateTokens on that user); `renewers` may renew it;
    /// `max_lifetime_ms` of zero or less takes the broker's maximum.
    pub async fn create_delegation_token(
        &mut self,
        owner: Option<&str>,
        renewers: &[String],
        max_lifetime_ms: i64,
    ) -> Result<DelegationToken> {
        let (owner_principal_type, owner_principal_name) = match owner {
            Some(o) => {
                let (k, n) = split(o)?;
                (Some(k), Some(n))
            }
            None => (None, None),
        };
        let renewers = renewers
            .iter()
            .map(|r| {
                split(r).map(|(principal_type, principal_name)| {
                    create_delegation_token_request::CreatableRenewers {
                        principal_type,
                        principal_name,
                        ..Default::default()
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let request = CreateDelegationTokenRequest {
            owner_principal_type,
            owner_principal_name,
            renewers: renewers.clone(),
            max_lifetime_ms,
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        check(resp.error_code, "create a delegation token")?;
        Ok(DelegationToken {
            token_id: resp.token_id,
            hmac: resp.hmac.to_vec(),
            owner: principal(&resp.principal_type, &resp.principal_name),
            requester: principal(
                &resp.token_requester_principal_type,
                &resp.token_requester_principal_name,
            ),
            renewers: renewers
                .iter()
                .map(|r| principal(&r.principal_type, &r.principal_name))
                .collect(),
            issue_ms: resp.issue_timestamp_ms,
            expiry_ms: resp.expiry_timestamp_ms,
            max_ms: resp.max_timestamp_ms,
        })
    }

    /// Renews the token of `hmac` for `renew_period_ms` (zero or less: the
    /// broker's expiry time); returns its new expiry.
    pub async fn renew_delegation_token(
        &mut self,
        hmac: &[u8],
        renew_period_ms: i64,
    ) -> Result<i64> {
        let request = RenewDelegationTokenRequest {
            hmac: hmac.to_vec().into(),
            renew_period_ms,
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        check(resp.error_code, "renew a delegation token")?;
        Ok(resp.expiry_timestamp_ms)
    }

    /// Expires the token of `hmac` after `expiry_period_ms`, or now when it
    /// is negative; returns its expiry.
    pub async fn expire_delegation_token(
        &mut self,
        hmac: &[u8],
        expiry_period_ms: i64,
    ) -> Result<i64> {
        let request = ExpireDelegationTokenRequest {
            hmac: hmac.to_vec().into(),
            expiry_time_period_ms: expiry_period_ms,
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        check(resp.error_code, "expire a delegation token")?;
        Ok(resp.expiry_timestamp_ms)
    }

    /// The tokens of `owners` (`Type:Name`; all the principal may see when
    /// `None`).
    pub async fn describe_delegation_tokens(
        &mut self,
        owners: Option<&[String]>,
    ) -> Result<Vec<DelegationToken>> {
        let owners = owners
            .map(|owners| {
                owners
                    .iter()
                    .map(|o| {
                        split(o).map(|(principal_type, principal_name)| {
                            describe_delegation_token_request::DescribeDelegationTokenOwner {
                                principal_type,
                                principal_name,
                                ..Default::default()
                            }
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        let request = DescribeDelegationTokenRequest {
            owners,
            ..Default::default()
        };
        let key = self.any_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        check(resp.error_code, "describe delegation tokens")?;
        Ok(resp
            .tokens
            .into_iter()
            .map(|t| DelegationToken {
                token_id: t.token_id,
                hmac: t.hmac.to_vec(),
                owner: principal(&t.principal_type, &t.principal_name),
                requester: principal(
                    &t.token_requester_principal_type,
                    &t.token_requester_principal_name,
                ),
                renewers: t
                    .renewers
                    .iter()
                    .map(|r| principal(&r.principal_type, &r.principal_name))
                    .collect(),
                issue_ms: t.issue_timestamp,
                expiry_ms: t.expiry_timestamp,
                max_ms: t.max_timestamp,
            })
            .collect())
    }
}
