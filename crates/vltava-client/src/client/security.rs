//! ACLs (CreateAcls, DescribeAcls, DeleteAcls) and SCRAM credentials
//! (AlterUserScramCredentials, DescribeUserScramCredentials), as Kafka's
//! Admin client asks for them: `kafka-acls.sh` and `kafka-configs.sh
//! --entity-type users`. All go to the active controller, so a description
//! right after a change sees it.
//!
//! As Kafka's Admin client does, the client salts the password (PBKDF2
//! with the mechanism's HMAC over a random salt) and sends only the salted
//! password; the controller keeps only the keys derived from it.

use std::io::Read;

use bytes::Bytes;
use vltava_acl::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType,
    ResourcePattern, ResourceType,
};
use vltava_protocol::messages::{
    alter_user_scram_credentials_request, create_acls_request, delete_acls_request,
    describe_user_scram_credentials_request, AlterUserScramCredentialsRequest, CreateAclsRequest,
    DeleteAclsRequest, DescribeAclsRequest, DescribeUserScramCredentialsRequest,
};
use vltava_protocol::ErrorCode;

use super::{nonempty, Client};
use crate::error::{Error, Result};

/// Kafka's `ScramMechanism` types.
pub const SCRAM_SHA_256: i8 = 1;
pub const SCRAM_SHA_512: i8 = 2;

/// The SCRAM mechanism type of a SASL mechanism name (`SCRAM-SHA-256`,
/// `SCRAM-SHA-512`, any case); `None` for any other name.
pub fn scram_mechanism(name: &str) -> Option<i8> {
    match name.to_ascii_uppercase().as_str() {
        "SCRAM-SHA-256" => Some(SCRAM_SHA_256),
        "SCRAM-SHA-512" => Some(SCRAM_SHA_512),
        _ => None,
    }
}

/// The SASL name of a SCRAM mechanism type.
pub fn scram_mechanism_name(mechanism: i8) -> Option<&'static str> {
    match mechanism {
        SCRAM_SHA_256 => Some("SCRAM-SHA-256"),
        SCRAM_SHA_512 => Some("SCRAM-SHA-512"),
        _ => None,
    }
}

/// A credential to set: what AlterUserScramCredentials carries.
#[derive(Clone, Debug)]
pub struct ScramUpsertion {
    pub user: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

impl ScramUpsertion {
    /// The credential for `password`, with a fresh random 32-byte salt.
    /// `None` for an unknown mechanism or a non-positive iteration count
    /// (the broker refuses counts outside 4096..=16384 itself).
    pub fn new(user: &str, mechanism: i8, iterations: i32, password: &str) -> Option<Self> {
        let salt = random_salt();
        let salted_password = salted_password(mechanism, password.as_bytes(), &salt, iterations)?;
        Some(ScramUpsertion {
            user: user.to_string(),
            mechanism,
            iterations,
            salt,
            salted_password,
        })
    }
}

/// Hi(password, salt, iterations) of RFC 5802: PBKDF2 with HMAC-SHA-256 or
/// HMAC-SHA-512, as long as the hash's output.
pub fn salted_password(
    mechanism: i8,
    password: &[u8],
    salt: &[u8],
    iterations: i32,
) -> Option<Vec<u8>> {
    let rounds = u32::try_from(iterations).ok().filter(|r| *r > 0)?;
    match mechanism {
        SCRAM_SHA_256 => {
            let mut out = vec![0u8; 32];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, rounds, &mut out);
            Some(out)
        }
        SCRAM_SHA_512 => {
            let mut out = vec![0u8; 64];
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, rounds, &mut out);
            Some(out)
        }
        _ => None,
    }
}

/// 32 bytes from the operating system's random source.
fn random_salt() -> Vec<u8> {
    let mut salt = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .expect("/dev/urandom is readable");
    salt
}

/// One user's credentials: (mechanism type, iterations) each.
pub type UserCredentials = Vec<(i8, i32)>;

fn binding(
    resource_type: i8,
    name: String,
    pattern_type: i8,
    principal: String,
    host: String,
    operation: i8,
    permission: i8,
) -> AclBinding {
    AclBinding::new(
        ResourcePattern::new(
            ResourceType::from_code(resource_type),
            name,
            PatternType::from_code(pattern_type),
        ),
        AccessControlEntry::new(
            principal,
            host,
            AclOperation::from_code(operation),
            AclPermissionType::from_code(permission),
        ),
    )
}

impl Client {
    /// Creates ACLs; one result per ACL, in order.
    pub async fn create_acls(&mut self, acls: &[AclBinding]) -> Result<Vec<Result<()>>> {
        let request = CreateAclsRequest {
            creations: acls
                .iter()
                .map(|a| create_acls_request::AclCreation {
                    resource_type: a.pattern.resource_type.code(),
                    resource_name: a.pattern.name.clone(),
                    resource_pattern_type: a.pattern.pattern_type.code(),
                    principal: a.entry.principal.clone(),
                    host: a.entry.host.clone(),
                    operation: a.entry.operation.code(),
                    permission_type: a.entry.permission.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        if resp.results.len() != acls.len() {
            return Err(Error::Protocol(format!(
                "CreateAcls answered {} results for {} ACLs",
                resp.results.len(),
                acls.len()
            )));
        }
        Ok(resp
            .results
            .into_iter()
            .zip(acls)
            .map(|(r, acl)| {
                let code = ErrorCode(r.error_code);
                if code.is_error() {
                    Err(Error::broker(
                        code,
                        nonempty(r.error_message),
                        format!("create ACL {acl:?}"),
                    ))
                } else {
                    Ok(())
                }
            })
            .collect())
    }

    /// The ACLs a filter selects.
    pub async fn describe_acls(&mut self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>> {
        let request = DescribeAclsRequest {
            resource_type_filter: filter.pattern.resource_type.code(),
            resource_name_filter: filter.pattern.name.clone(),
            pattern_type_filter: filter.pattern.pattern_type.code(),
            principal_filter: filter.entry.principal.clone(),
            host_filter: filter.entry.host.clone(),
            operation: filter.entry.operation.code(),
            permission_type: filter.entry.permission.code(),
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                nonempty(resp.error_message),
                "describe ACLs",
            ));
        }
        Ok(resp
            .resources
            .into_iter()
            .flat_map(|r| {
                r.acls.into_iter().map(move |a| {
                    binding(
                        r.resource_type,
                        r.resource_name.clone(),
                        r.pattern_type,
                        a.principal,
                        a.host,
                        a.operation,
                        a.permission_type,
                    )
                })
            })
            .collect())
    }

    /// Deletes the ACLs each filter selects; per filter, in order, the ACLs
    /// it deleted.
    pub async fn delete_acls(
        &mut self,
        filters: &[AclBindingFilter],
    ) -> Result<Vec<Result<Vec<AclBinding>>>> {
        let request = DeleteAclsRequest {
            filters: filters
                .iter()
                .map(|f| delete_acls_request::DeleteAclsFilter {
                    resource_type_filter: f.pattern.resource_type.code(),
                    resource_name_filter: f.pattern.name.clone(),
                    pattern_type_filter: f.pattern.pattern_type.code(),
                    principal_filter: f.entry.principal.clone(),
                    host_filter: f.entry.host.clone(),
                    operation: f.entry.operation.code(),
                    permission_type: f.entry.permission.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        if resp.filter_results.len() != filters.len() {
            return Err(Error::Protocol(format!(
                "DeleteAcls answered {} results for {} filters",
                resp.filter_results.len(),
                filters.len()
            )));
        }
        Ok(resp
            .filter_results
            .into_iter()
            .map(|r| {
                let code = ErrorCode(r.error_code);
                if code.is_error() {
                    return Err(Error::broker(
                        code,
                        nonempty(r.error_message),
                        "delete ACLs",
                    ));
                }
                Ok(r.matching_acls
                    .into_iter()
                    .map(|m| {
                        binding(
                            m.resource_type,
                            m.resource_name,
                            m.pattern_type,
                            m.principal,
                            m.host,
                            m.operation,
                            m.permission_type,
                        )
                    })
                    .collect())
            })
            .collect())
    }

    /// Deletes (user, mechanism) credentials and sets others; per user, in
    /// the broker's order, done or why not.
    pub async fn alter_scram_credentials(
        &mut self,
        deletions: &[(String, i8)],
        upsertions: &[ScramUpsertion],
    ) -> Result<Vec<(String, Result<()>)>> {
        let request = AlterUserScramCredentialsRequest {
            deletions: deletions
                .iter()
                .map(|(user, mechanism)| {
                    alter_user_scram_credentials_request::ScramCredentialDeletion {
                        name: user.clone(),
                        mechanism: *mechanism,
                        ..Default::default()
                    }
                })
                .collect(),
            upsertions: upsertions
                .iter()
                .map(
                    |u| alter_user_scram_credentials_request::ScramCredentialUpsertion {
                        name: u.user.clone(),
                        mechanism: u.mechanism,
                        iterations: u.iterations,
                        salt: Bytes::copy_from_slice(&u.salt),
                        salted_password: Bytes::copy_from_slice(&u.salted_password),
                        ..Default::default()
                    },
                )
                .collect(),
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        Ok(resp
            .results
            .into_iter()
            .map(|r| {
                let code = ErrorCode(r.error_code);
                let result = if code.is_error() {
                    Err(Error::broker(
                        code,
                        nonempty(r.error_message),
                        format!("alter the SCRAM credentials of {}", r.user),
                    ))
                } else {
                    Ok(())
                };
                (r.user, result)
            })
            .collect())
    }

    /// The SCRAM credentials of `users` (every user that has one when
    /// `None`): per user, its (mechanism, iterations), or why not.
    pub async fn describe_scram_credentials(
        &mut self,
        users: Option<&[&str]>,
    ) -> Result<Vec<(String, Result<UserCredentials>)>> {
        let request = DescribeUserScramCredentialsRequest {
            users: users.map(|us| {
                us.iter()
                    .map(|u| describe_user_scram_credentials_request::UserName {
                        name: u.to_string(),
                        ..Default::default()
                    })
                    .collect()
            }),
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                nonempty(resp.error_message),
                "describe SCRAM credentials",
            ));
        }
        Ok(resp
            .results
            .into_iter()
            .map(|r| {
                let code = ErrorCode(r.error_code);
                let result = if code.is_error() {
                    Err(Error::broker(
                        code,
                        nonempty(r.error_message),
                        format!("describe the SCRAM credentials of {}", r.user),
                    ))
                } else {
                    Ok(r.credential_infos
                        .into_iter()
                        .map(|c| (c.mechanism, c.iterations))
                        .collect())
                };
                (r.user, result)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_password_is_rfc_5802s_hi() {
        // RFC 7677's example: "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==
        // (base64), 4096 iterations of SCRAM-SHA-256.
        let salt = [
            0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36,
            0xfa, 0x81,
        ];
        let salted = salted_password(SCRAM_SHA_256, b"pencil", &salt, 4096).unwrap();
        let hex: String = salted.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d"
        );
        assert_eq!(
            salted_password(SCRAM_SHA_512, b"pencil", &salt, 4096)
                .unwrap()
                .len(),
            64
        );
        assert!(salted_password(3, b"pencil", &salt, 4096).is_none());
        assert!(salted_password(SCRAM_SHA_256, b"pencil", &salt, 0).is_none());
        assert_eq!(scram_mechanism("scram-sha-512"), Some(SCRAM_SHA_512));
        assert_eq!(scram_mechanism("PLAIN"), None);
        let u = ScramUpsertion::new("alice", SCRAM_SHA_256, 4096, "secret").unwrap();
        let v = ScramUpsertion::new("alice", SCRAM_SHA_256, 4096, "secret").unwrap();
        assert_ne!(u.salt, v.salt, "a fresh salt each time");
        assert_ne!(u.salted_password, v.salted_password);
    }
}
