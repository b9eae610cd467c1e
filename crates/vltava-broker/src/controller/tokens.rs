//! The controller's delegation tokens (KIP-48 in the metadata log, as
//! KIP-900 keeps them): CreateDelegationToken, RenewDelegationToken and
//! ExpireDelegationToken, planned by `vltava_metadata::tokens` (Kafka's
//! `DelegationTokenControlManager` rules) and committed like every other
//! change, and the periodic removal of expired tokens.
//!
//! The controller needs `delegation.token.secret.key` to compute a token's
//! HMAC; without it every request answers DELEGATION_TOKEN_AUTH_DISABLED.

use tracing::{info, warn};
use vltava_metadata::image::DelegationTokenImage;
use vltava_metadata::tokens::{self, NewToken, TokenLifetimes};
use vltava_protocol::ErrorCode;
use vltava_storage::KafkaUuid;

use super::Controller;
use crate::error::KafkaError;

/// A token just created, with its HMAC.
#[derive(Clone, Debug)]
pub struct CreatedToken {
    pub token: DelegationTokenImage,
    pub hmac: Vec<u8>,
}

fn disabled() -> KafkaError {
    let code = ErrorCode::DELEGATION_TOKEN_AUTH_DISABLED;
    KafkaError::new(code, code.message())
}

impl Controller {
    fn token_secret(&self) -> Result<String, KafkaError> {
        self.metadata
            .static_config()
            .delegation_token_secret()
            .ok_or_else(disabled)
    }

    fn token_lifetimes(&self) -> TokenLifetimes {
        let config = self.metadata.static_config();
        TokenLifetimes {
            max_lifetime_ms: config.delegation_token_max_lifetime_ms(),
            expiry_time_ms: config.delegation_token_expiry_time_ms(),
        }
    }

    /// CreateDelegationToken for `owner`, asked by `requester` (both
    /// `Type:Name`; the caller checked that the requester may create a
    /// token for the owner).
    pub async fn create_delegation_token(
        &self,
        owner: String,
        requester: String,
        renewers: Vec<(String, String)>,
        max_lifetime_ms: i64,
    ) -> Result<CreatedToken, KafkaError> {
        let secret = self.token_secret()?;
        let lock = self.lead().await?;
        // Kafka's token ids are random UUIDs in their base64 text form.
        let token_id = KafkaUuid::random().to_string();
        let (record, token) = tokens::plan_create(
            self.token_lifetimes(),
            self.clock.now_ms(),
            NewToken {
                token_id,
                owner,
                requester,
                renewers,
                max_lifetime_ms,
            },
        )
        .map_err(KafkaError::from)?;
        self.commit(&lock, vec![record]).await?;
        info!(token = %token.token_id, owner = %token.owner, requester = %token.requester, "created a delegation token");
        let hmac = vltava_sasl::scram::delegation_token_hmac(&secret, &token.token_id);
        Ok(CreatedToken { token, hmac })
    }

    /// RenewDelegationToken: the token named by `hmac`, renewed by
    /// `requester`; returns its new expiry.
    pub async fn renew_delegation_token(
        &self,
        hmac: &[u8],
        requester: &str,
        renew_period_ms: i64,
    ) -> Result<i64, KafkaError> {
        let lifetimes = self.token_lifetimes();
        self.change_token(hmac, |token, now_ms| {
            tokens::plan_renew(lifetimes, now_ms, token, requester, renew_period_ms)
        })
        .await
    }

    /// ExpireDelegationToken: the token named by `hmac` expires after
    /// `expiry_period_ms`, or now (and is removed) when it is negative;
    /// returns its expiry (Kafka answers the negative period itself when
    /// the token is removed).
    pub async fn expire_delegation_token(
        &self,
        hmac: &[u8],
        requester: &str,
        expiry_period_ms: i64,
    ) -> Result<i64, KafkaError> {
        self.change_token(hmac, |token, now_ms| {
            tokens::plan_expire(now_ms, token, requester, expiry_period_ms)
        })
        .await
    }

    /// Finds the token named by `hmac` (none when no token has it), plans
    /// its change with `plan` and commits it; the expiry `plan` answered.
    async fn change_token(
        &self,
        hmac: &[u8],
        plan: impl FnOnce(
            Option<&DelegationTokenImage>,
            i64,
        ) -> Result<
            (vltava_metadata::records::MetadataRecord, i64),
            vltava_metadata::controller::Refusal,
        >,
    ) -> Result<i64, KafkaError> {
        let secret = self.token_secret()?;
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let token = tokens::token_by_hmac(&image, hmac, |id| {
            vltava_sasl::scram::delegation_token_hmac(&secret, id)
        });
        let (record, expiry) = plan(token, self.clock.now_ms()).map_err(KafkaError::from)?;
        self.commit(&lock, vec![record]).await?;
        Ok(expiry)
    }

    /// Removes every token past its expiry or maximum lifetime. The active
    /// controller runs this every `delegation.token.expiry.check.interval.ms`;
    /// elsewhere it does nothing.
    pub async fn remove_expired_delegation_tokens(&self) {
        if !self.is_active() {
            return;
        }
        let Ok(lock) = self.lead().await else { return };
        let records = tokens::plan_sweep(&self.metadata.image(), self.clock.now_ms());
        if records.is_empty() {
            return;
        }
        let n = records.len();
        match self.commit(&lock, records).await {
            Ok(()) => info!(tokens = n, "removed expired delegation tokens"),
            Err(e) => warn!("removing expired delegation tokens failed: {e}"),
        }
    }
}
