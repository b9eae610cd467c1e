//! Delegation tokens (KIP-48, in the metadata log as KIP-900 keeps them):
//! the controller's planning of CreateDelegationToken,
//! RenewDelegationToken and ExpireDelegationToken, and of the removal of
//! expired tokens, pure, following Kafka's `DelegationTokenControlManager`.
//!
//! The caller brings what needs a clock, randomness or the secret: the
//! time, a fresh token id, and the token's HMAC
//! (HMAC-SHA512 of the id under `delegation.token.secret.key`), by which
//! Renew and Expire name the token.

use subtle::ConstantTimeEq;
use vltava_protocol::ErrorCode;

use crate::controller::Refusal;
use crate::image::{DelegationTokenImage, MetadataImage};
use crate::records::MetadataRecord;

/// The lifetimes the controller gives tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// `delegation.token.max.lifetime.ms`: a token is never renewed past
    /// its issue time plus this.
    pub max_lifetime_ms: i64,
    /// `delegation.token.expiry.time.ms`: how long a token lives from its
    /// creation or last renewal.
    pub expiry_time_ms: i64,
}

/// A CreateDelegationToken to plan.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub token_id: String,
    /// `Type:Name`: the request's owner, else the requester.
    pub owner: String,
    /// `Type:Name`: who sent the request.
    pub requester: String,
    /// Each renewer's (type, name).
    pub renewers: Vec<(String, String)>,
    /// The request's MaxLifetimeMs: at most the configured one; zero or
    /// less takes the configured one.
    pub max_lifetime_ms: i64,
}

/// CreateDelegationToken: the record of the new token and the token, or
/// INVALID_PRINCIPAL_TYPE for a renewer that is not a `User`.
pub fn plan_create(
    lifetimes: TokenLifetimes,
    now_ms: i64,
    request: NewToken,
) -> Result<(MetadataRecord, DelegationTokenImage), Refusal> {
    let mut renewers = Vec::with_capacity(request.renewers.len());
    for (kind, name) in &request.renewers {
        if kind != vltava_acl::USER_TYPE {
            return Err(Refusal::new(
                ErrorCode::INVALID_PRINCIPAL_TYPE,
                format!("renewer {kind}:{name}: only User principals renew tokens"),
            ));
        }
        renewers.push(format!("{kind}:{name}"));
    }
    let max_lifetime = if request.max_lifetime_ms > 0 {
        request.max_lifetime_ms.min(lifetimes.max_lifetime_ms)
    } else {
        lifetimes.max_lifetime_ms
    };
    let max_ms = now_ms.saturating_add(max_lifetime);
    let expiry_ms = max_ms.min(now_ms.saturating_add(lifetimes.expiry_time_ms));
    let token = DelegationTokenImage {
        token_id: request.token_id,
        owner: request.owner,
        requester: request.requester,
        renewers,
        issue_ms: now_ms,
        max_ms,
        expiry_ms,
    };
    Ok((token.record(), token))
}

/// The token whose HMAC is `hmac` (`hmac_of` computes a token's from its
/// id), compared in constant time.
pub fn token_by_hmac<'a>(
    image: &'a MetadataImage,
    hmac: &[u8],
    hmac_of: impl Fn(&str) -> Vec<u8>,
) -> Option<&'a DelegationTokenImage> {
    image
        .delegation_tokens()
        .find(|t| bool::from(hmac_of(&t.token_id).as_slice().ct_eq(hmac)))
}

/// The checks Renew and Expire share, in Kafka's order: the token exists,
/// has not expired, and the requester owns it or may renew it.
fn check<'a>(
    token: Option<&'a DelegationTokenImage>,
    requester: &str,
    now_ms: i64,
) -> Result<&'a DelegationTokenImage, Refusal> {
    let token = token.ok_or_else(|| {
        Refusal::new(
            ErrorCode::DELEGATION_TOKEN_NOT_FOUND,
            ErrorCode::DELEGATION_TOKEN_NOT_FOUND.message(),
        )
    })?;
    if token.expired_at(now_ms) {
        return Err(Refusal::new(
            ErrorCode::DELEGATION_TOKEN_EXPIRED,
            ErrorCode::DELEGATION_TOKEN_EXPIRED.message(),
        ));
    }
    if !token.owner_or_renewer(requester) {
        return Err(Refusal::new(
            ErrorCode::DELEGATION_TOKEN_OWNER_MISMATCH,
            ErrorCode::DELEGATION_TOKEN_OWNER_MISMATCH.message(),
        ));
    }
    Ok(token)
}

/// RenewDelegationToken: the token's new expiry (now plus the request's
/// period, at most the configured expiry time, and never past the token's
/// maximum) and its record.
pub fn plan_renew(
    lifetimes: TokenLifetimes,
    now_ms: i64,
    token: Option<&DelegationTokenImage>,
    requester: &str,
    renew_period_ms: i64,
) -> Result<(MetadataRecord, i64), Refusal> {
    let token = check(token, requester, now_ms)?;
    let period = if renew_period_ms > 0 {
        renew_period_ms.min(lifetimes.expiry_time_ms)
    } else {
        lifetimes.expiry_time_ms
    };
    let expiry_ms = token.max_ms.min(now_ms.saturating_add(period));
    let renewed = DelegationTokenImage {
        expiry_ms,
        ..token.clone()
    };
    Ok((renewed.record(), expiry_ms))
}

/// ExpireDelegationToken: a negative period removes the token now (the
/// answer's expiry is that negative period, as Kafka answers it);
/// otherwise it expires after the period, never past its maximum.
pub fn plan_expire(
    now_ms: i64,
    token: Option<&DelegationTokenImage>,
    requester: &str,
    expiry_period_ms: i64,
) -> Result<(MetadataRecord, i64), Refusal> {
    let token = check(token, requester, now_ms)?;
    if expiry_period_ms < 0 {
        return Ok((
            MetadataRecord::RemoveDelegationToken {
                token_id: token.token_id.clone(),
            },
            expiry_period_ms,
        ));
    }
    let expiry_ms = token.max_ms.min(now_ms.saturating_add(expiry_period_ms));
    let expired = DelegationTokenImage {
        expiry_ms,
        ..token.clone()
    };
    Ok((expired.record(), expiry_ms))
}

/// The removals of every token past its expiry or maximum at `now_ms`
/// (Kafka's expired-token sweep, every
/// `delegation.token.expiry.check.interval.ms`).
pub fn plan_sweep(image: &MetadataImage, now_ms: i64) -> Vec<MetadataRecord> {
    image
        .delegation_tokens()
        .filter(|t| t.expired_at(now_ms))
        .map(|t| MetadataRecord::RemoveDelegationToken {
            token_id: t.token_id.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIMES: TokenLifetimes = TokenLifetimes {
        max_lifetime_ms: 7_000,
        expiry_time_ms: 1_000,
    };

    fn new_token(max_lifetime_ms: i64) -> NewToken {
        NewToken {
            token_id: "t1".into(),
            owner: "User:alice".into(),
            requester: "User:admin".into(),
            renewers: vec![("User".into(), "bob".into())],
            max_lifetime_ms,
        }
    }

    fn image_with(records: &[MetadataRecord]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for r in records {
            image = image.apply(0, r).unwrap();
        }
        image
    }

    #[test]
    fn create_takes_the_configured_lifetimes_or_a_shorter_maximum() {
        let (record, t) = plan_create(LIFETIMES, 100, new_token(0)).unwrap();
        assert_eq!((t.issue_ms, t.max_ms, t.expiry_ms), (100, 7_100, 1_100));
        assert_eq!(t.renewers, vec!["User:bob".to_string()]);
        let image = image_with(&[record]);
        assert_eq!(image.delegation_token("t1"), Some(&t));
        // A shorter maximum than the expiry time caps the expiry; a longer
        // one than configured is cut to it.
        let (_, t) = plan_create(LIFETIMES, 100, new_token(500)).unwrap();
        assert_eq!((t.max_ms, t.expiry_ms), (600, 600));
        let (_, t) = plan_create(LIFETIMES, 100, new_token(99_000)).unwrap();
        assert_eq!(t.max_ms, 7_100);
        let mut group = new_token(0);
        group.renewers = vec![("Group".into(), "g".into())];
        let err = plan_create(LIFETIMES, 100, group).unwrap_err();
        assert_eq!(err.code, ErrorCode::INVALID_PRINCIPAL_TYPE);
    }

    #[test]
    fn renew_and_expire_check_the_token_and_who_asks() {
        let (record, _) = plan_create(LIFETIMES, 100, new_token(0)).unwrap();
        let image = image_with(&[record]);
        let hmac_of = |id: &str| format!("hmac-{id}").into_bytes();
        let token = token_by_hmac(&image, b"hmac-t1", hmac_of);
        assert!(token.is_some());
        assert!(token_by_hmac(&image, b"hmac-t2", hmac_of).is_none());

        // The owner and a renewer may renew; anyone else may not.
        let (_, expiry) = plan_renew(LIFETIMES, 500, token, "User:alice", 0).unwrap();
        assert_eq!(expiry, 1_500);
        let (_, expiry) = plan_renew(LIFETIMES, 500, token, "User:bob", 300).unwrap();
        assert_eq!(expiry, 800);
        let err = plan_renew(LIFETIMES, 500, token, "User:admin", 0).unwrap_err();
        assert_eq!(err.code, ErrorCode::DELEGATION_TOKEN_OWNER_MISMATCH);
        let err = plan_renew(LIFETIMES, 500, None, "User:alice", 0).unwrap_err();
        assert_eq!(err.code, ErrorCode::DELEGATION_TOKEN_NOT_FOUND);
        // Never past the maximum (1,600 for a token of 1,500 ms at most).
        let (_, short) = plan_create(LIFETIMES, 100, new_token(1_500)).unwrap();
        let (_, expiry) = plan_renew(LIFETIMES, 1_000, Some(&short), "User:alice", 0).unwrap();
        assert_eq!(expiry, 1_600);
        // Past its expiry (1,100) the token can be neither renewed nor
        // expired.
        let err = plan_renew(LIFETIMES, 1_101, token, "User:alice", 0).unwrap_err();
        assert_eq!(err.code, ErrorCode::DELEGATION_TOKEN_EXPIRED);
        let err = plan_expire(1_101, token, "User:alice", -1).unwrap_err();
        assert_eq!(err.code, ErrorCode::DELEGATION_TOKEN_EXPIRED);

        // Expire: later, or now (the token is removed).
        let (record, expiry) = plan_expire(500, token, "User:bob", 100).unwrap();
        assert_eq!(expiry, 600);
        let later = image_with(&[plan_create(LIFETIMES, 100, new_token(0)).unwrap().0, record]);
        assert_eq!(later.delegation_token("t1").unwrap().expiry_ms, 600);
        let (record, expiry) = plan_expire(500, token, "User:alice", -1).unwrap();
        assert_eq!(expiry, -1);
        let gone = image.apply(0, &record).unwrap();
        assert!(gone.delegation_token("t1").is_none());
        let err = plan_expire(500, token, "User:carol", -1).unwrap_err();
        assert_eq!(err.code, ErrorCode::DELEGATION_TOKEN_OWNER_MISMATCH);
    }

    #[test]
    fn the_sweep_removes_only_expired_tokens() {
        let (a, _) = plan_create(LIFETIMES, 100, new_token(0)).unwrap();
        let mut b_token = new_token(0);
        b_token.token_id = "t2".into();
        let (b, _) = plan_create(LIFETIMES, 900, b_token).unwrap();
        let image = image_with(&[a, b]);
        assert!(plan_sweep(&image, 1_100).is_empty());
        assert_eq!(
            plan_sweep(&image, 1_101),
            vec![MetadataRecord::RemoveDelegationToken {
                token_id: "t1".into()
            }]
        );
        assert_eq!(plan_sweep(&image, 10_000).len(), 2);
    }
}
