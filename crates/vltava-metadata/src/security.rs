//! The controller's planning of ACL and SCRAM credential changes, pure:
//! which records CreateAcls, DeleteAcls and AlterUserScramCredentials
//! write, and what each entry of the request is answered, following
//! Kafka's `AclControlManager` and `ScramControlManager`.
//!
//! The caller brings what needs I/O or randomness: new ACL ids, and the
//! SCRAM keys derived from each salted password.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use vltava_acl::{validate_create, validate_delete_filter, AclBinding, AclBindingFilter};
use vltava_protocol::{ErrorCode, Uuid};

use crate::controller::Refusal;
use crate::image::{scram_mechanism_name, MetadataImage};
use crate::records::MetadataRecord;

/// The fewest iterations Kafka accepts for either SCRAM mechanism
/// (`ScramMechanism.minIterations`).
pub const MIN_SCRAM_ITERATIONS: i32 = 4096;
/// The most iterations Kafka accepts (`ScramControlManager.MAX_ITERATIONS`).
pub const MAX_SCRAM_ITERATIONS: i32 = 16384;

/// CreateAcls: per ACL, in the request's order, accepted or why not; and
/// the records adding the accepted ones. `new_id` gives a fresh random id
/// (called again if it gives one in use). An ACL equal to one that exists,
/// or to one earlier in the same request, is accepted without a record of
/// its own, so no ACL is ever stored twice.
pub fn plan_create_acls(
    image: &MetadataImage,
    acls: &[AclBinding],
    mut new_id: impl FnMut() -> [u8; 16],
) -> (Vec<MetadataRecord>, Vec<Result<(), Refusal>>) {
    let existing: BTreeSet<&AclBinding> = image.acls().map(|(_, b)| b).collect();
    let mut taken: BTreeSet<[u8; 16]> = image.acls().map(|(id, _)| *id).collect();
    let mut adding: BTreeSet<&AclBinding> = BTreeSet::new();
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(acls.len());
    for acl in acls {
        if let Err(e) = validate_create(acl) {
            results.push(Err(Refusal::new(ErrorCode(e.code()), e.message())));
            continue;
        }
        if !existing.contains(acl) && adding.insert(acl) {
            let id = loop {
                let id = new_id();
                // Zero is Kafka's "no id"; never hand it out.
                if id != [0; 16] && taken.insert(id) {
                    break id;
                }
            };
            records.push(MetadataRecord::AccessControlEntry {
                id: Uuid(id),
                binding: acl.clone(),
            });
        }
        results.push(Ok(()));
    }
    (records, results)
}

/// DeleteAcls: per filter, in the request's order, the ACLs it matched
/// (each is deleted), or why the filter was refused; and the records
/// removing them. An ACL two filters match is listed under both and
/// removed once.
#[allow(clippy::type_complexity)]
pub fn plan_delete_acls(
    image: &MetadataImage,
    filters: &[AclBindingFilter],
) -> (Vec<MetadataRecord>, Vec<Result<Vec<AclBinding>, Refusal>>) {
    let mut removed: BTreeSet<[u8; 16]> = BTreeSet::new();
    let mut results = Vec::with_capacity(filters.len());
    for filter in filters {
        if let Err(e) = validate_delete_filter(filter) {
            results.push(Err(Refusal::new(ErrorCode(e.code()), e.message())));
            continue;
        }
        let mut matched = Vec::new();
        for (id, binding) in image.acls() {
            if filter.matches(binding) {
                removed.insert(*id);
                matched.push(binding.clone());
            }
        }
        results.push(Ok(matched));
    }
    let records = removed
        .into_iter()
        .map(|id| MetadataRecord::RemoveAccessControlEntry { id: Uuid(id) })
        .collect();
    (records, results)
}

/// One credential an AlterUserScramCredentials request sets, with the keys
/// the controller derived from its salted password.
#[derive(Clone, Debug)]
pub struct ScramUpsertion {
    pub name: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Bytes,
    /// `None` when the mechanism is unknown (nothing to derive them with).
    pub keys: Option<ScramKeys>,
}

/// StoredKey and ServerKey (RFC 5802) of a salted password.
#[derive(Clone, Debug)]
pub struct ScramKeys {
    pub stored_key: Bytes,
    pub server_key: Bytes,
}

const TWICE: &str = "A user credential cannot be altered twice in the same request";

fn check_user_and_mechanism(name: &str, mechanism: i8) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err(Refusal::new(
            ErrorCode::UNACCEPTABLE_CREDENTIAL,
            "Username must not be empty",
        ));
    }
    if scram_mechanism_name(mechanism).is_none() {
        return Err(Refusal::new(
            ErrorCode::UNSUPPORTED_SASL_MECHANISM,
            "Unknown SCRAM mechanism",
        ));
    }
    Ok(())
}

/// AlterUserScramCredentials, with `ScramControlManager.alterCredentials`'
/// rules: a user may appear once in the whole request (deletions and
/// upsertions together; every later mention makes it DUPLICATE_RESOURCE
/// and drops its earlier change), its name must not be empty
/// (UNACCEPTABLE_CREDENTIAL), the mechanism must be SCRAM-SHA-256 or -512
/// (UNSUPPORTED_SASL_MECHANISM), iterations within 4096..=16384
/// (UNACCEPTABLE_CREDENTIAL), and a deleted credential must exist
/// (RESOURCE_NOT_FOUND). The answer lists the deletions done, the
/// upsertions done, then the users refused, each in request order (Kafka
/// lists them in the same three groups, each in hash-map order).
#[allow(clippy::type_complexity)]
pub fn plan_alter_scram_credentials(
    image: &MetadataImage,
    deletions: &[(String, i8)],
    upsertions: &[ScramUpsertion],
) -> (Vec<MetadataRecord>, Vec<(String, Result<(), Refusal>)>) {
    // Each user's accepted change, by name: its index in `deletions` or in
    // `upsertions`.
    let mut deleting: BTreeMap<&str, usize> = BTreeMap::new();
    let mut upserting: BTreeMap<&str, usize> = BTreeMap::new();
    let mut refused: Vec<(String, Refusal)> = Vec::new();
    let is_refused =
        |refused: &Vec<(String, Refusal)>, name: &str| refused.iter().any(|(n, _)| n == name);

    for (i, (name, mechanism)) in deletions.iter().enumerate() {
        if is_refused(&refused, name) {
            continue;
        }
        if deleting.remove(name.as_str()).is_some() {
            refused.push((
                name.clone(),
                Refusal::new(ErrorCode::DUPLICATE_RESOURCE, TWICE),
            ));
            continue;
        }
        let check = check_user_and_mechanism(name, *mechanism).and_then(|()| {
            if image.scram_credential(*mechanism, name).is_none() {
                Err(Refusal::new(
                    ErrorCode::RESOURCE_NOT_FOUND,
                    "Attempt to delete a user credential that does not exist",
                ))
            } else {
                Ok(())
            }
        });
        match check {
            Ok(()) => {
                deleting.insert(name, i);
            }
            Err(r) => refused.push((name.clone(), r)),
        }
    }
    for (i, u) in upsertions.iter().enumerate() {
        if is_refused(&refused, &u.name) {
            continue;
        }
        if deleting.remove(u.name.as_str()).is_some() || upserting.remove(u.name.as_str()).is_some()
        {
            refused.push((
                u.name.clone(),
                Refusal::new(ErrorCode::DUPLICATE_RESOURCE, TWICE),
            ));
            continue;
        }
        let check = check_user_and_mechanism(&u.name, u.mechanism).and_then(|()| {
            if u.iterations < MIN_SCRAM_ITERATIONS {
                Err(Refusal::new(
                    ErrorCode::UNACCEPTABLE_CREDENTIAL,
                    "Too few iterations",
                ))
            } else if u.iterations > MAX_SCRAM_ITERATIONS {
                Err(Refusal::new(
                    ErrorCode::UNACCEPTABLE_CREDENTIAL,
                    "Too many iterations",
                ))
            } else if u.keys.is_none() {
                Err(Refusal::new(
                    ErrorCode::UNSUPPORTED_SASL_MECHANISM,
                    "Unknown SCRAM mechanism",
                ))
            } else {
                Ok(())
            }
        });
        match check {
            Ok(()) => {
                upserting.insert(&u.name, i);
            }
            Err(r) => refused.push((u.name.clone(), r)),
        }
    }

    let mut records = Vec::new();
    let mut results = Vec::new();
    let mut deleted: Vec<usize> = deleting.into_values().collect();
    deleted.sort_unstable();
    for i in deleted {
        let (name, mechanism) = &deletions[i];
        records.push(MetadataRecord::RemoveUserScramCredential {
            name: name.clone(),
            mechanism: *mechanism,
        });
        results.push((name.clone(), Ok(())));
    }
    let mut upserted: Vec<usize> = upserting.into_values().collect();
    upserted.sort_unstable();
    for i in upserted {
        let u = &upsertions[i];
        let keys = u.keys.as_ref().expect("checked above");
        records.push(MetadataRecord::UserScramCredential {
            name: u.name.clone(),
            mechanism: u.mechanism,
            salt: u.salt.clone(),
            stored_key: keys.stored_key.clone(),
            server_key: keys.server_key.clone(),
            iterations: u.iterations,
        });
        results.push((u.name.clone(), Ok(())));
    }
    results.extend(refused.into_iter().map(|(n, r)| (n, Err(r))));
    (records, results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{SCRAM_SHA_256, SCRAM_SHA_512};
    use vltava_acl::*;

    fn topic_acl(principal: &str, name: &str, pattern: PatternType) -> AclBinding {
        AclBinding::new(
            ResourcePattern::new(ResourceType::Topic, name, pattern),
            AccessControlEntry::new(principal, "*", AclOperation::Read, AclPermissionType::Allow),
        )
    }

    fn apply(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
        image
            .apply_all(records.iter().map(|r| (image.offset + 1, r)))
            .unwrap()
    }

    fn counter() -> impl FnMut() -> [u8; 16] {
        let mut n = 0u8;
        move || {
            n += 1;
            [n; 16]
        }
    }

    #[test]
    fn create_acls_validates_and_never_stores_one_twice() {
        let alice = topic_acl("User:alice", "orders", PatternType::Literal);
        let bad_name = topic_acl("User:alice", "", PatternType::Literal);
        let bad_pattern = topic_acl("User:alice", "x", PatternType::Match);
        let no_colon = topic_acl("alice", "x", PatternType::Literal);
        let image = MetadataImage::empty();
        let (records, results) = plan_create_acls(
            &image,
            &[
                alice.clone(),
                bad_name,
                alice.clone(),
                bad_pattern,
                no_colon,
            ],
            counter(),
        );
        assert_eq!(records.len(), 1);
        assert!(results[0].is_ok() && results[2].is_ok());
        for r in [&results[1], &results[3], &results[4]] {
            assert_eq!(r.as_ref().unwrap_err().code, ErrorCode::INVALID_REQUEST);
        }
        assert_eq!(
            results[1].as_ref().unwrap_err().message,
            "Invalid empty resource name"
        );
        let image = apply(&image, &records);
        // Already there: accepted, nothing written; a new id skips taken ones.
        let bob = topic_acl("User:bob", "orders-", PatternType::Prefixed);
        let (records, results) = plan_create_acls(&image, &[alice, bob.clone()], counter());
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(
            records,
            vec![MetadataRecord::AccessControlEntry {
                id: Uuid([2; 16]),
                binding: bob
            }]
        );
    }

    #[test]
    fn delete_acls_lists_matches_per_filter_and_removes_each_once() {
        let a = topic_acl("User:alice", "orders", PatternType::Literal);
        let b = topic_acl("User:bob", "ord", PatternType::Prefixed);
        let c = topic_acl("User:bob", "payments", PatternType::Literal);
        let image = MetadataImage::empty();
        let (records, _) = plan_create_acls(&image, &[a.clone(), b.clone(), c], counter());
        let image = apply(&image, &records);

        let matching_orders = AclBindingFilter::new(
            ResourcePatternFilter::new(ResourceType::Topic, Some("orders"), PatternType::Match),
            AccessControlEntryFilter::ANY,
        );
        let bob = AclBindingFilter::new(
            ResourcePatternFilter::ANY,
            AccessControlEntryFilter::new(
                Some("User:bob"),
                None,
                AclOperation::Any,
                AclPermissionType::Any,
            ),
        );
        let unknown = AclBindingFilter::new(
            ResourcePatternFilter::new(ResourceType::Unknown, None, PatternType::Any),
            AccessControlEntryFilter::ANY,
        );
        let (records, results) = plan_delete_acls(&image, &[matching_orders, unknown, bob]);
        assert_eq!(results[0].as_ref().unwrap(), &vec![a, b.clone()]);
        assert_eq!(
            results[1].as_ref().unwrap_err().code,
            ErrorCode::INVALID_REQUEST
        );
        assert_eq!(results[2].as_ref().unwrap().len(), 2);
        assert!(results[2].as_ref().unwrap().contains(&b));
        // a, b and c: b is matched twice but removed once.
        assert_eq!(records.len(), 3);
        let image = apply(&image, &records);
        assert_eq!(image.acls().count(), 0);
    }

    fn upsert(name: &str, mechanism: i8, iterations: i32) -> ScramUpsertion {
        ScramUpsertion {
            name: name.into(),
            mechanism,
            iterations,
            salt: Bytes::from_static(b"salt"),
            keys: scram_mechanism_name(mechanism).map(|_| ScramKeys {
                stored_key: Bytes::from_static(b"stored"),
                server_key: Bytes::from_static(b"server"),
            }),
        }
    }

    fn codes(results: &[(String, Result<(), Refusal>)]) -> Vec<(String, i16)> {
        results
            .iter()
            .map(|(n, r)| (n.clone(), r.as_ref().map_or_else(|e| e.code.code(), |()| 0)))
            .collect()
    }

    #[test]
    fn scram_credentials_follow_kafkas_rules() {
        let image = MetadataImage::empty();
        let (records, results) = plan_alter_scram_credentials(
            &image,
            &[("ghost".into(), SCRAM_SHA_256)],
            &[
                upsert("alice", SCRAM_SHA_256, 4096),
                upsert("bob", SCRAM_SHA_512, 16384),
                upsert("", SCRAM_SHA_256, 4096),
                upsert("carol", 3, 4096),
                upsert("dave", SCRAM_SHA_256, 4095),
                upsert("erin", SCRAM_SHA_256, 16385),
                upsert("frank", SCRAM_SHA_256, 8192),
                upsert("frank", SCRAM_SHA_512, 8192),
                upsert("frank", SCRAM_SHA_512, 8192),
            ],
        );
        assert_eq!(
            codes(&results),
            vec![
                ("alice".into(), 0),
                ("bob".into(), 0),
                ("ghost".into(), ErrorCode::RESOURCE_NOT_FOUND.code()),
                ("".into(), ErrorCode::UNACCEPTABLE_CREDENTIAL.code()),
                ("carol".into(), ErrorCode::UNSUPPORTED_SASL_MECHANISM.code()),
                ("dave".into(), ErrorCode::UNACCEPTABLE_CREDENTIAL.code()),
                ("erin".into(), ErrorCode::UNACCEPTABLE_CREDENTIAL.code()),
                ("frank".into(), ErrorCode::DUPLICATE_RESOURCE.code()),
            ]
        );
        assert_eq!(records.len(), 2);
        let image = apply(&image, &records);
        let alice = image.scram_credential(SCRAM_SHA_256, "alice").unwrap();
        assert_eq!(
            (alice.iterations, &alice.stored_key[..]),
            (4096, &b"stored"[..])
        );

        // Delete and set the same user in one request: a duplicate; the
        // deletion of a credential that exists goes through.
        let (records, results) = plan_alter_scram_credentials(
            &image,
            &[
                ("alice".into(), SCRAM_SHA_256),
                ("bob".into(), SCRAM_SHA_512),
            ],
            &[upsert("alice", SCRAM_SHA_512, 4096)],
        );
        assert_eq!(
            codes(&results),
            vec![
                ("bob".into(), 0),
                ("alice".into(), ErrorCode::DUPLICATE_RESOURCE.code())
            ]
        );
        assert_eq!(
            records,
            vec![MetadataRecord::RemoveUserScramCredential {
                name: "bob".into(),
                mechanism: SCRAM_SHA_512
            }]
        );
    }
}
