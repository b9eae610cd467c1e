//! The controller's ACL and SCRAM credential changes: CreateAcls,
//! DeleteAcls and AlterUserScramCredentials, planned against the image by
//! `vltava_metadata::security` (Kafka's `AclControlManager` and
//! `ScramControlManager` rules) and committed like every other change.

use bytes::Bytes;
use tracing::info;
use vltava_acl::{AclBinding, AclBindingFilter};
use vltava_metadata::image::{SCRAM_SHA_256, SCRAM_SHA_512};
use vltava_metadata::security::{self, ScramKeys, ScramUpsertion};
use vltava_storage::KafkaUuid;

use super::Controller;
use crate::error::KafkaError;

/// One credential to set, as AlterUserScramCredentials carries it: the
/// client salted the password (PBKDF2 with the mechanism's HMAC).
#[derive(Clone)]
pub struct ScramCredentialUpsertion {
    pub name: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Bytes,
    pub salted_password: Bytes,
}

impl Controller {
    /// CreateAcls: per ACL, in request order, created (or already there)
    /// or why not. The accepted ones are committed in one decision.
    pub async fn create_acls(
        &self,
        acls: Vec<AclBinding>,
    ) -> Result<Vec<Result<(), KafkaError>>, KafkaError> {
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let (records, results) =
            security::plan_create_acls(&image, &acls, || KafkaUuid::random().0);
        let created = records.len();
        self.commit(&lock, records).await?;
        if created > 0 {
            info!(acls = created, "created ACLs");
        }
        Ok(results
            .into_iter()
            .map(|r| r.map_err(KafkaError::from))
            .collect())
    }

    /// DeleteAcls: per filter, in request order, the ACLs it matched (all
    /// deleted in one decision) or why the filter was refused.
    pub async fn delete_acls(
        &self,
        filters: Vec<AclBindingFilter>,
    ) -> Result<Vec<Result<Vec<AclBinding>, KafkaError>>, KafkaError> {
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let (records, results) = security::plan_delete_acls(&image, &filters);
        let deleted = records.len();
        self.commit(&lock, records).await?;
        if deleted > 0 {
            info!(acls = deleted, "deleted ACLs");
        }
        Ok(results
            .into_iter()
            .map(|r| r.map_err(KafkaError::from))
            .collect())
    }

    /// AlterUserScramCredentials: per user, done or why not (deletions
    /// done, then upsertions done, then refusals). Only StoredKey and
    /// ServerKey are stored, never the salted password.
    pub async fn alter_user_scram_credentials(
        &self,
        deletions: Vec<(String, i8)>,
        upsertions: Vec<ScramCredentialUpsertion>,
    ) -> Result<Vec<(String, Result<(), KafkaError>)>, KafkaError> {
        let upsertions: Vec<ScramUpsertion> = upsertions
            .into_iter()
            .map(|u| ScramUpsertion {
                keys: scram_keys(u.mechanism, &u.salted_password),
                name: u.name,
                mechanism: u.mechanism,
                iterations: u.iterations,
                salt: u.salt,
            })
            .collect();
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let (records, results) =
            security::plan_alter_scram_credentials(&image, &deletions, &upsertions);
        let changed = records.len();
        self.commit(&lock, records).await?;
        if changed > 0 {
            info!(credentials = changed, "altered SCRAM credentials");
        }
        Ok(results
            .into_iter()
            .map(|(name, r)| (name, r.map_err(KafkaError::from)))
            .collect())
    }
}

/// StoredKey and ServerKey (RFC 5802) of a salted password, for the
/// mechanism's type (1 SCRAM-SHA-256, 2 SCRAM-SHA-512); `None` for an
/// unknown mechanism. The derivation is vltava-sasl's, which checks
/// clients against these keys.
fn scram_keys(mechanism: i8, salted_password: &[u8]) -> Option<ScramKeys> {
    let mechanism = match mechanism {
        SCRAM_SHA_256 => vltava_sasl::scram::ScramMechanism::Sha256,
        SCRAM_SHA_512 => vltava_sasl::scram::ScramMechanism::Sha512,
        _ => return None,
    };
    let (stored_key, server_key) = mechanism.keys_of(salted_password);
    Some(ScramKeys {
        stored_key: Bytes::from(stored_key),
        server_key: Bytes::from(server_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 7677's example password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
    /// 4096 iterations: the SaltedPassword (the RFC's for SHA-256), and the
    /// keys that follow, as Python's hashlib and hmac compute them.
    #[test]
    fn keys_of_known_salted_passwords() {
        let salted = unhex("c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d");
        let keys = scram_keys(SCRAM_SHA_256, &salted).unwrap();
        assert_eq!(
            hex(&keys.stored_key),
            "586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6"
        );
        assert_eq!(
            hex(&keys.server_key),
            "c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5"
        );
        let salted = unhex(
            "f16efe1be67f1d09502ebd5ed9262fddffba5a377ab4f0b687e5ed5ba0f50686\
             b8a4ae166476da8ab3b951d2fa9238b63998f45461bc33a464814949cec9631d",
        );
        let keys = scram_keys(SCRAM_SHA_512, &salted).unwrap();
        assert_eq!(
            hex(&keys.stored_key),
            "e8002e6f7d3ae446119b216933644dc2a2be7869eb918b8459b5e7d7d2ec1260\
             6aceef106825cd735170a675fd3611f684affad1dce3f43a0ee43bd590e1dbbe"
        );
        assert_eq!(
            hex(&keys.server_key),
            "8d91db6230b5687874fe129bc7206e1858c3ae08e02934f57ac03b6b05a229c4\
             59d28ff46f5c9611e6c179256490215ec1ff759cb0df285db89af0f99e613aac"
        );
        assert!(scram_keys(3, &salted).is_none());
        assert!(scram_keys(0, &salted).is_none());
    }
}
