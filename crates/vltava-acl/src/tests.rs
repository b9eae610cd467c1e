use super::*;

use AclOperation as Op;
use AclPermissionType::{Allow, Deny};
use PatternType::{Literal, Prefixed};
use ResourceType::{Cluster, Group, Topic, TransactionalId};

fn id(n: u8) -> AclId {
    let mut id = [0; 16];
    id[15] = n;
    id
}

/// One ACL as the tables write it: resource type, name, pattern type,
/// principal, host, operation, permission.
type Row = (
    ResourceType,
    &'static str,
    PatternType,
    &'static str,
    &'static str,
    AclOperation,
    AclPermissionType,
);

fn binding(row: &Row) -> AclBinding {
    let &(t, name, pattern_type, principal, host, op, permission) = row;
    AclBinding::new(
        ResourcePattern::new(t, name, pattern_type),
        AccessControlEntry::new(principal, host, op, permission),
    )
}

fn authorizer_with(rows: &[Row], super_users: &[&str], allow_everyone: bool) -> Authorizer {
    let mut a = Authorizer::new(
        super_users.iter().map(|s| s.to_string()).collect(),
        allow_everyone,
    );
    for (n, row) in rows.iter().enumerate() {
        let b = binding(row);
        assert_eq!(validate_create(&b), Ok(()), "{b:?}");
        a.add_acl(id(n as u8), b);
    }
    a
}

fn ctx(principal: &str, host: &str) -> RequestContext {
    RequestContext::new(KafkaPrincipal::parse(principal).unwrap(), host)
}

const H1: &str = "10.0.0.1";
const H2: &str = "10.0.0.2";

struct Case {
    what: &'static str,
    acls: &'static [Row],
    super_users: &'static [&'static str],
    allow_everyone: bool,
    principal: &'static str,
    host: &'static str,
    op: AclOperation,
    resource: (ResourceType, &'static str),
    expected: Decision,
}

const fn case(
    what: &'static str,
    acls: &'static [Row],
    principal: &'static str,
    op: AclOperation,
    resource: (ResourceType, &'static str),
    expected: Decision,
) -> Case {
    Case {
        what,
        acls,
        super_users: &[],
        allow_everyone: false,
        principal,
        host: H1,
        op,
        resource,
        expected,
    }
}

use Decision::{Allowed, Denied};

const ALICE_READS_T: &[Row] = &[(Topic, "t", Literal, "User:alice", "*", Op::Read, Allow)];
const ALICE_READS_T_DENIED: &[Row] = &[
    (Topic, "t", Literal, "User:alice", "*", Op::Read, Allow),
    (Topic, "t", Literal, "User:alice", "*", Op::Read, Deny),
];
const EVERYONE_READS_T: &[Row] = &[(Topic, "t", Literal, "User:*", "*", Op::Read, Allow)];
const ALICE_FROM_H1: &[Row] = &[(Topic, "t", Literal, "User:alice", H1, Op::Read, Allow)];
const ALICE_DENIED_FROM_H1: &[Row] = &[
    (Topic, "t", Literal, "User:alice", "*", Op::Read, Allow),
    (Topic, "t", Literal, "User:alice", H1, Op::Read, Deny),
];
const ALICE_READS_ALL_TOPICS: &[Row] = &[(Topic, "*", Literal, "User:alice", "*", Op::Read, Allow)];
const WILDCARD_DENY: &[Row] = &[
    (Topic, "t", Literal, "User:alice", "*", Op::Read, Allow),
    (Topic, "*", Literal, "User:*", "*", Op::Read, Deny),
];
const PREFIX_FOO: &[Row] = &[(Topic, "foo", Prefixed, "User:alice", "*", Op::Write, Allow)];
const PREFIXES_ALLOW_LONG_DENY_SHORT: &[Row] = &[
    (
        Topic,
        "foo.bar",
        Prefixed,
        "User:alice",
        "*",
        Op::Write,
        Allow,
    ),
    (Topic, "foo", Prefixed, "User:alice", "*", Op::Write, Deny),
];
const PREFIXES_ALLOW_SHORT_DENY_LONG: &[Row] = &[
    (Topic, "f", Prefixed, "User:alice", "*", Op::Write, Allow),
    (
        Topic,
        "foo.bar",
        Prefixed,
        "User:alice",
        "*",
        Op::Write,
        Deny,
    ),
];
const LITERAL_STAR_PREFIX: &[Row] = &[(Topic, "*", Prefixed, "User:alice", "*", Op::Read, Allow)];
const ALICE_WRITES: &[Row] = &[(Topic, "t", Literal, "User:alice", "*", Op::Write, Allow)];
const ALICE_DELETES: &[Row] = &[(Topic, "t", Literal, "User:alice", "*", Op::Delete, Allow)];
const ALICE_ALTERS: &[Row] = &[(Topic, "t", Literal, "User:alice", "*", Op::Alter, Allow)];
const ALICE_CREATES: &[Row] = &[(Topic, "t", Literal, "User:alice", "*", Op::Create, Allow)];
const ALICE_ALTER_CONFIGS: &[Row] = &[(
    Topic,
    "t",
    Literal,
    "User:alice",
    "*",
    Op::AlterConfigs,
    Allow,
)];
const ALICE_DENIED_READ: &[Row] = &[
    (Topic, "t", Literal, "User:alice", "*", Op::Describe, Allow),
    (Topic, "t", Literal, "User:alice", "*", Op::Read, Deny),
];
const ALICE_DENIED_ALTER_CONFIGS: &[Row] = &[
    (
        Topic,
        "t",
        Literal,
        "User:alice",
        "*",
        Op::DescribeConfigs,
        Allow,
    ),
    (
        Topic,
        "t",
        Literal,
        "User:alice",
        "*",
        Op::AlterConfigs,
        Deny,
    ),
];
const ALICE_ALL: &[Row] = &[(Topic, "t", Literal, "User:alice", "*", Op::All, Allow)];
const ALICE_ALL_DENIED: &[Row] = &[
    (Topic, "t", Literal, "User:alice", "*", Op::Describe, Allow),
    (Topic, "t", Literal, "User:alice", "*", Op::All, Deny),
];
const BOB_READS_T: &[Row] = &[(Topic, "t", Literal, "User:bob", "*", Op::Read, Allow)];
const GROUP_T: &[Row] = &[(Group, "t", Literal, "User:alice", "*", Op::Read, Allow)];
const GROUP_ALL_DENIED: &[Row] = &[(Group, "*", Literal, "User:*", "*", Op::All, Deny)];
const CLUSTER_ACL: &[Row] = &[(
    Cluster,
    "kafka-cluster",
    Literal,
    "User:alice",
    "*",
    Op::ClusterAction,
    Allow,
)];
const CLUSTER_ALTER: &[Row] = &[(
    Cluster,
    "kafka-cluster",
    Literal,
    "User:alice",
    "*",
    Op::Alter,
    Allow,
)];
const TXN: &[Row] = &[(
    TransactionalId,
    "tx-",
    Prefixed,
    "User:alice",
    "*",
    Op::Write,
    Allow,
)];
const GROUP_PRINCIPAL: &[Row] = &[(Topic, "t", Literal, "Group:ops", "*", Op::Read, Allow)];

const CASES: &[Case] = &[
    case(
        "literal allow",
        ALICE_READS_T,
        "User:alice",
        Op::Read,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "literal allow, other op",
        ALICE_READS_T,
        "User:alice",
        Op::Write,
        (Topic, "t"),
        Denied,
    ),
    case(
        "literal allow, other name",
        ALICE_READS_T,
        "User:alice",
        Op::Read,
        (Topic, "t2"),
        Denied,
    ),
    case(
        "literal name is not a prefix",
        ALICE_READS_T,
        "User:alice",
        Op::Read,
        (Topic, "tt"),
        Denied,
    ),
    case(
        "literal allow, other principal",
        ALICE_READS_T,
        "User:bob",
        Op::Read,
        (Topic, "t"),
        Denied,
    ),
    case(
        "principal type counts",
        ALICE_READS_T,
        "Group:alice",
        Op::Read,
        (Topic, "t"),
        Denied,
    ),
    case(
        "deny wins over allow",
        ALICE_READS_T_DENIED,
        "User:alice",
        Op::Read,
        (Topic, "t"),
        Denied,
    ),
    case(
        "wildcard principal",
        EVERYONE_READS_T,
        "User:bob",
        Op::Read,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "User:* covers other principal types",
        EVERYONE_READS_T,
        "Group:x",
        Op::Read,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "specific host, same host",
        ALICE_FROM_H1,
        "User:alice",
        Op::Read,
        (Topic, "t"),
        Allowed,
    ),
    Case {
        host: H2,
        ..case(
            "specific host, other host",
            ALICE_FROM_H1,
            "User:alice",
            Op::Read,
            (Topic, "t"),
            Denied,
        )
    },
    case(
        "deny from the client's host",
        ALICE_DENIED_FROM_H1,
        "User:alice",
        Op::Read,
        (Topic, "t"),
        Denied,
    ),
    Case {
        host: H2,
        ..case(
            "deny from another host",
            ALICE_DENIED_FROM_H1,
            "User:alice",
            Op::Read,
            (Topic, "t"),
            Allowed,
        )
    },
    case(
        "literal * resource",
        ALICE_READS_ALL_TOPICS,
        "User:alice",
        Op::Read,
        (Topic, "anything"),
        Allowed,
    ),
    case(
        "literal * resource named *",
        ALICE_READS_ALL_TOPICS,
        "User:alice",
        Op::Read,
        (Topic, "*"),
        Allowed,
    ),
    case(
        "wildcard deny beats literal allow",
        WILDCARD_DENY,
        "User:alice",
        Op::Read,
        (Topic, "t"),
        Denied,
    ),
    case(
        "prefix matches",
        PREFIX_FOO,
        "User:alice",
        Op::Write,
        (Topic, "foo.bar"),
        Allowed,
    ),
    case(
        "prefix matches its own name",
        PREFIX_FOO,
        "User:alice",
        Op::Write,
        (Topic, "foo"),
        Allowed,
    ),
    case(
        "prefix does not match",
        PREFIX_FOO,
        "User:alice",
        Op::Write,
        (Topic, "fo"),
        Denied,
    ),
    case(
        "prefix does not match elsewhere",
        PREFIX_FOO,
        "User:alice",
        Op::Write,
        (Topic, "xfoo"),
        Denied,
    ),
    case(
        "shorter prefixed deny wins",
        PREFIXES_ALLOW_LONG_DENY_SHORT,
        "User:alice",
        Op::Write,
        (Topic, "foo.bar.baz"),
        Denied,
    ),
    case(
        "longer prefixed deny wins",
        PREFIXES_ALLOW_SHORT_DENY_LONG,
        "User:alice",
        Op::Write,
        (Topic, "foo.bar.baz"),
        Denied,
    ),
    case(
        "longer deny does not cover",
        PREFIXES_ALLOW_SHORT_DENY_LONG,
        "User:alice",
        Op::Write,
        (Topic, "foo.baz"),
        Allowed,
    ),
    case(
        "prefixed * is a prefix, not a wildcard",
        LITERAL_STAR_PREFIX,
        "User:alice",
        Op::Read,
        (Topic, "t"),
        Denied,
    ),
    case(
        "prefixed * matches names starting with *",
        LITERAL_STAR_PREFIX,
        "User:alice",
        Op::Read,
        (Topic, "*t"),
        Allowed,
    ),
    case(
        "read implies describe",
        ALICE_READS_T,
        "User:alice",
        Op::Describe,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "write implies describe",
        ALICE_WRITES,
        "User:alice",
        Op::Describe,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "delete implies describe",
        ALICE_DELETES,
        "User:alice",
        Op::Describe,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "alter implies describe",
        ALICE_ALTERS,
        "User:alice",
        Op::Describe,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "create does not imply describe",
        ALICE_CREATES,
        "User:alice",
        Op::Describe,
        (Topic, "t"),
        Denied,
    ),
    case(
        "read does not imply write",
        ALICE_READS_T,
        "User:alice",
        Op::Write,
        (Topic, "t"),
        Denied,
    ),
    case(
        "describe does not imply read",
        ALICE_DENIED_READ,
        "User:alice",
        Op::Read,
        (Topic, "t"),
        Denied,
    ),
    case(
        "alter configs implies describe configs",
        ALICE_ALTER_CONFIGS,
        "User:alice",
        Op::DescribeConfigs,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "alter configs does not imply describe",
        ALICE_ALTER_CONFIGS,
        "User:alice",
        Op::Describe,
        (Topic, "t"),
        Denied,
    ),
    case(
        "read does not imply describe configs",
        ALICE_READS_T,
        "User:alice",
        Op::DescribeConfigs,
        (Topic, "t"),
        Denied,
    ),
    case(
        "deny read does not deny describe",
        ALICE_DENIED_READ,
        "User:alice",
        Op::Describe,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "deny alter configs does not deny describe configs",
        ALICE_DENIED_ALTER_CONFIGS,
        "User:alice",
        Op::DescribeConfigs,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "all allows read",
        ALICE_ALL,
        "User:alice",
        Op::Read,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "all allows describe configs",
        ALICE_ALL,
        "User:alice",
        Op::DescribeConfigs,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "all allows idempotent write",
        ALICE_ALL,
        "User:alice",
        Op::IdempotentWrite,
        (Topic, "t"),
        Allowed,
    ),
    case(
        "deny all denies describe",
        ALICE_ALL_DENIED,
        "User:alice",
        Op::Describe,
        (Topic, "t"),
        Denied,
    ),
    Case {
        super_users: &["User:admin"],
        ..case(
            "super user with no acls",
            &[],
            "User:admin",
            Op::Alter,
            (Cluster, "kafka-cluster"),
            Allowed,
        )
    },
    Case {
        super_users: &["User:admin"],
        ..case(
            "super user despite a deny",
            WILDCARD_DENY,
            "User:admin",
            Op::Read,
            (Topic, "t"),
            Allowed,
        )
    },
    Case {
        super_users: &["User:admin"],
        ..case(
            "super user is by full principal",
            &[],
            "Group:admin",
            Op::Read,
            (Topic, "t"),
            Denied,
        )
    },
    case(
        "no acls, default deny",
        &[],
        "User:alice",
        Op::Read,
        (Topic, "t"),
        Denied,
    ),
    Case {
        allow_everyone: true,
        ..case(
            "no acls, allow everyone",
            &[],
            "User:alice",
            Op::Read,
            (Topic, "t"),
            Allowed,
        )
    },
    Case {
        allow_everyone: true,
        ..case(
            "acls on the resource for someone else",
            BOB_READS_T,
            "User:alice",
            Op::Read,
            (Topic, "t"),
            Denied,
        )
    },
    Case {
        allow_everyone: true,
        ..case(
            "acls on the resource for another op",
            ALICE_READS_T,
            "User:alice",
            Op::Write,
            (Topic, "t"),
            Denied,
        )
    },
    Case {
        allow_everyone: true,
        ..case(
            "acls on other resources only",
            ALICE_READS_T,
            "User:bob",
            Op::Write,
            (Topic, "u"),
            Allowed,
        )
    },
    Case {
        allow_everyone: true,
        ..case(
            "a prefixed acl counts as an acl on the resource",
            PREFIX_FOO,
            "User:bob",
            Op::Write,
            (Topic, "foo.x"),
            Denied,
        )
    },
    Case {
        allow_everyone: true,
        ..case(
            "a wildcard acl counts as an acl on every resource",
            ALICE_READS_ALL_TOPICS,
            "User:bob",
            Op::Read,
            (Topic, "u"),
            Denied,
        )
    },
    case(
        "group acl does not leak to a topic",
        GROUP_T,
        "User:alice",
        Op::Read,
        (Topic, "t"),
        Denied,
    ),
    case(
        "group acl applies to the group",
        GROUP_T,
        "User:alice",
        Op::Read,
        (Group, "t"),
        Allowed,
    ),
    Case {
        allow_everyone: true,
        ..case(
            "group deny does not leak to topics",
            GROUP_ALL_DENIED,
            "User:alice",
            Op::Read,
            (Topic, "t"),
            Allowed,
        )
    },
    Case {
        allow_everyone: true,
        ..case(
            "group wildcard deny",
            GROUP_ALL_DENIED,
            "User:alice",
            Op::Read,
            (Group, "g"),
            Denied,
        )
    },
    case(
        "cluster action on the cluster",
        CLUSTER_ACL,
        "User:alice",
        Op::ClusterAction,
        (Cluster, "kafka-cluster"),
        Allowed,
    ),
    case(
        "cluster alter does not allow cluster action",
        CLUSTER_ALTER,
        "User:alice",
        Op::ClusterAction,
        (Cluster, "kafka-cluster"),
        Denied,
    ),
    case(
        "cluster alter implies describe",
        CLUSTER_ALTER,
        "User:alice",
        Op::Describe,
        (Cluster, "kafka-cluster"),
        Allowed,
    ),
    case(
        "transactional id by prefix",
        TXN,
        "User:alice",
        Op::Write,
        (TransactionalId, "tx-1"),
        Allowed,
    ),
    case(
        "transactional id outside the prefix",
        TXN,
        "User:alice",
        Op::Write,
        (TransactionalId, "other"),
        Denied,
    ),
    case(
        "transactional id write implies describe",
        TXN,
        "User:alice",
        Op::Describe,
        (TransactionalId, "tx-1"),
        Allowed,
    ),
    case(
        "non-User principal",
        GROUP_PRINCIPAL,
        "Group:ops",
        Op::Read,
        (Topic, "t"),
        Allowed,
    ),
];

#[test]
fn authorization_decisions() {
    let mut failures = Vec::new();
    for c in CASES {
        let a = authorizer_with(c.acls, c.super_users, c.allow_everyone);
        let got = a.authorize(
            &ctx(c.principal, c.host),
            c.op,
            &Resource::new(c.resource.0, c.resource.1),
        );
        if got != c.expected {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                c.what, c.expected, got
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn decisions_do_not_depend_on_insertion_order() {
    for c in CASES {
        let mut reversed: Vec<Row> = c.acls.to_vec();
        reversed.reverse();
        let a = authorizer_with(&reversed, c.super_users, c.allow_everyone);
        let got = a.authorize(
            &ctx(c.principal, c.host),
            c.op,
            &Resource::new(c.resource.0, c.resource.1),
        );
        assert_eq!(got, c.expected, "{}", c.what);
    }
}

#[test]
fn codes_and_names() {
    assert_eq!(ResourceType::TransactionalId.code(), 5);
    assert_eq!(ResourceType::TransactionalId.name(), "TRANSACTIONAL_ID");
    assert_eq!(ResourceType::from_code(7), ResourceType::User);
    assert_eq!(ResourceType::from_code(8), ResourceType::Unknown);
    assert_eq!(ResourceType::from_code(-1), ResourceType::Unknown);
    assert_eq!(
        ResourceType::from_name("transactional_id"),
        ResourceType::TransactionalId
    );
    assert_eq!(
        ResourceType::from_name("TransactionalId"),
        ResourceType::Unknown
    );
    assert_eq!(PatternType::from_name("prefixed"), PatternType::Prefixed);
    assert_eq!(PatternType::Match.code(), 2);
    assert_eq!(AclOperation::IdempotentWrite.name(), "IDEMPOTENT_WRITE");
    assert_eq!(
        AclOperation::from_name("Describe_Configs"),
        AclOperation::DescribeConfigs
    );
    assert_eq!(AclOperation::from_code(14), AclOperation::DescribeTokens);
    assert_eq!(AclOperation::from_code(15), AclOperation::Unknown);
    assert_eq!(AclPermissionType::from_code(3), AclPermissionType::Allow);
    assert_eq!(AclPermissionType::Deny.to_string(), "DENY");
    for values in [ResourceType::VALUES.len(), PatternType::VALUES.len()] {
        assert!(values > 0);
    }
    for (i, v) in AclOperation::VALUES.iter().enumerate() {
        assert_eq!(v.code(), i as i8);
        assert_eq!(AclOperation::from_code(v.code()), *v);
        assert_eq!(AclOperation::from_name(v.name()), *v);
    }
    for (i, v) in ResourceType::VALUES.iter().enumerate() {
        assert_eq!(v.code(), i as i8);
        assert_eq!(ResourceType::from_name(&v.name().to_lowercase()), *v);
    }
}

#[test]
fn principals() {
    let p = KafkaPrincipal::parse("User:alice").unwrap();
    assert_eq!(p, KafkaPrincipal::user("alice"));
    assert_eq!(p.to_string(), "User:alice");
    // The type ends at the first colon; the name may hold more.
    let p: KafkaPrincipal = "User:CN=a:b".parse().unwrap();
    assert_eq!(
        (p.principal_type.as_str(), p.name.as_str()),
        ("User", "CN=a:b")
    );
    assert_eq!(KafkaPrincipal::parse("User:").unwrap().name, "");
    assert_eq!(KafkaPrincipal::parse(":x").unwrap().principal_type, "");
    assert!(KafkaPrincipal::parse("alice").is_err());
    let err = KafkaPrincipal::parse("").unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected a string in format principalType:principalName but got "
    );
    assert!(KafkaPrincipal::parse(WILDCARD_PRINCIPAL)
        .unwrap()
        .is_wildcard());
    assert!(!KafkaPrincipal::new("Group", "*").is_wildcard());
}

fn valid() -> AclBinding {
    binding(&(Topic, "t", Literal, "User:alice", "*", Op::Read, Allow))
}

#[test]
fn validation_of_new_acls() {
    assert_eq!(validate_create(&valid()), Ok(()));
    let prefixed = binding(&(Group, "g-", Prefixed, "User:alice", "*", Op::Read, Deny));
    assert_eq!(validate_create(&prefixed), Ok(()));

    let refused = |change: fn(&mut AclBinding)| {
        let mut b = valid();
        change(&mut b);
        let err = validate_create(&b).unwrap_err();
        assert_eq!(err.code(), 42);
        err.message()
    };
    assert_eq!(
        refused(|b| b.pattern.resource_type = ResourceType::Any),
        "Invalid resourceType ANY"
    );
    assert_eq!(
        refused(|b| b.pattern.resource_type = ResourceType::Unknown),
        "Invalid resourceType UNKNOWN"
    );
    assert_eq!(
        refused(|b| b.pattern.pattern_type = PatternType::Match),
        "Invalid patternType MATCH"
    );
    assert_eq!(
        refused(|b| b.pattern.pattern_type = PatternType::Any),
        "Invalid patternType ANY"
    );
    assert_eq!(
        refused(|b| b.pattern.pattern_type = PatternType::Unknown),
        "Invalid patternType UNKNOWN"
    );
    assert_eq!(
        refused(|b| b.entry.operation = Op::Any),
        "Invalid operation ANY"
    );
    assert_eq!(
        refused(|b| b.entry.operation = Op::Unknown),
        "Invalid operation UNKNOWN"
    );
    assert_eq!(
        refused(|b| b.entry.permission = AclPermissionType::Any),
        "Invalid permissionType ANY"
    );
    assert_eq!(
        refused(|b| b.entry.permission = AclPermissionType::Unknown),
        "Invalid permissionType UNKNOWN"
    );
    assert_eq!(
        refused(|b| b.pattern.name.clear()),
        "Invalid empty resource name"
    );
    assert_eq!(
        refused(|b| b.entry.principal = "alice".into()),
        "Could not parse principal from `alice` (no colon is present separating the \
         principal type from the principal name)"
    );
    assert_eq!(
        refused(|b| b.entry.principal.clear()),
        "Could not parse principal from `` (no colon is present separating the \
         principal type from the principal name)"
    );
    // Only the colon is checked: an empty type or name is accepted.
    let mut odd = valid();
    odd.entry.principal = ":x".into();
    assert_eq!(validate_create(&odd), Ok(()));
    assert_eq!(
        refused(|b| {
            b.pattern.resource_type = Cluster;
            b.pattern.name = "my-cluster".into();
        }),
        "The only valid name for the CLUSTER resource is kafka-cluster"
    );

    // The controller's own check of an empty name, without the broker's.
    let mut empty = valid();
    empty.pattern.name.clear();
    assert_eq!(
        validate_new_acl(&empty).unwrap_err().message(),
        "Resource name should not be empty"
    );
    // The broker's checks come first.
    let mut both = valid();
    both.pattern.name.clear();
    both.entry.operation = Op::Any;
    assert_eq!(validate_create(&both), Err(AclError::EmptyResourceName));
    assert_eq!(validate_on_broker(&valid()), Ok(()));
}

#[test]
fn validation_of_delete_filters() {
    assert_eq!(validate_delete_filter(&AclBindingFilter::ANY), Ok(()));
    let mut f = AclBindingFilter::ANY;
    f.pattern.pattern_type = PatternType::Match;
    assert_eq!(validate_delete_filter(&f), Ok(()));
    f.pattern.resource_type = ResourceType::Unknown;
    let err = validate_delete_filter(&f).unwrap_err();
    assert_eq!(
        (err.code(), err.message().as_str()),
        (42, "Unknown patternFilter.")
    );
    let mut f = AclBindingFilter::ANY;
    f.entry.permission = AclPermissionType::Unknown;
    assert_eq!(
        validate_delete_filter(&f),
        Err(AclError::UnknownEntryFilter)
    );
    assert_eq!(
        AclError::UnknownEntryFilter.message(),
        "Unknown entryFilter."
    );
}

const STORE: &[Row] = &[
    (Topic, "foo", Literal, "User:alice", "*", Op::Read, Allow), // 0
    (Topic, "*", Literal, "User:bob", "*", Op::Read, Allow),     // 1
    (Topic, "fo", Prefixed, "User:alice", H1, Op::Write, Deny),  // 2
    (Topic, "foo", Prefixed, "User:*", "*", Op::Describe, Allow), // 3
    (Topic, "bar", Literal, "User:alice", "*", Op::All, Allow),  // 4
    (Group, "foo", Literal, "User:alice", "*", Op::Read, Allow), // 5
    (
        Topic,
        "foobar",
        Prefixed,
        "User:alice",
        "*",
        Op::Read,
        Allow,
    ), // 6
];

fn selected(a: &Authorizer, filter: &AclBindingFilter) -> Vec<u8> {
    a.acls_matching(filter).map(|(id, _)| id[15]).collect()
}

fn pattern_filter(t: ResourceType, name: Option<&str>, p: PatternType) -> AclBindingFilter {
    AclBindingFilter::new(
        ResourcePatternFilter::new(t, name, p),
        AccessControlEntryFilter::ANY,
    )
}

#[test]
fn filters_by_resource_pattern() {
    let a = authorizer_with(STORE, &[], false);
    assert_eq!(selected(&a, &AclBindingFilter::ANY), [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(
        selected(&a, &pattern_filter(Topic, None, PatternType::Any)),
        [0, 1, 2, 3, 4, 6]
    );
    assert_eq!(
        selected(&a, &pattern_filter(ResourceType::Any, None, Prefixed)),
        [2, 3, 6]
    );
    // ANY with a name: exact name, either pattern type.
    assert_eq!(
        selected(
            &a,
            &pattern_filter(ResourceType::Any, Some("foo"), PatternType::Any)
        ),
        [0, 3, 5]
    );
    // LITERAL with a name: exact, literal only; "*" only the wildcard ACL.
    assert_eq!(
        selected(&a, &pattern_filter(Topic, Some("foo"), Literal)),
        [0]
    );
    assert_eq!(
        selected(&a, &pattern_filter(Topic, Some("*"), Literal)),
        [1]
    );
    assert_eq!(
        selected(&a, &pattern_filter(Topic, Some("foo"), Prefixed)),
        [3]
    );
    // MATCH: every ACL that would apply to a topic named foobar.
    assert_eq!(
        selected(
            &a,
            &pattern_filter(Topic, Some("foobar"), PatternType::Match)
        ),
        [1, 2, 3, 6]
    );
    assert_eq!(
        selected(&a, &pattern_filter(Topic, Some("foo"), PatternType::Match)),
        [0, 1, 2, 3]
    );
    assert_eq!(
        selected(
            &a,
            &pattern_filter(ResourceType::Any, Some("foo"), PatternType::Match)
        ),
        [0, 1, 2, 3, 5]
    );
    assert_eq!(
        selected(&a, &pattern_filter(Topic, None, PatternType::Match)),
        [0, 1, 2, 3, 4, 6]
    );
    assert_eq!(
        selected(&a, &pattern_filter(Topic, Some("zzz"), PatternType::Match)),
        [1]
    );
}

#[test]
fn filters_by_entry() {
    let a = authorizer_with(STORE, &[], false);
    let entry = |principal: Option<&str>, host: Option<&str>, op, permission| {
        AclBindingFilter::new(
            ResourcePatternFilter::ANY,
            AccessControlEntryFilter::new(principal, host, op, permission),
        )
    };
    use AclPermissionType::Any as AnyPerm;
    assert_eq!(
        selected(&a, &entry(Some("User:alice"), None, Op::Any, AnyPerm)),
        [0, 2, 4, 5, 6]
    );
    // The principal is compared as a string: User:* selects ACLs for
    // everyone, not everyone's ACLs.
    assert_eq!(
        selected(&a, &entry(Some("User:*"), None, Op::Any, AnyPerm)),
        [3]
    );
    assert_eq!(selected(&a, &entry(None, Some(H1), Op::Any, AnyPerm)), [2]);
    assert_eq!(
        selected(&a, &entry(None, Some("*"), Op::Any, AnyPerm)),
        [0, 1, 3, 4, 5, 6]
    );
    assert_eq!(
        selected(&a, &entry(None, None, Op::Read, AnyPerm)),
        [0, 1, 5, 6]
    );
    // ALL selects ACLs on All, not every operation.
    assert_eq!(selected(&a, &entry(None, None, Op::All, AnyPerm)), [4]);
    assert_eq!(selected(&a, &entry(None, None, Op::Any, Deny)), [2]);
    assert_eq!(
        selected(&a, &entry(None, None, Op::Any, Allow)),
        [0, 1, 3, 4, 5, 6]
    );
    let both = AclBindingFilter::new(
        ResourcePatternFilter::new(Topic, Some("foobar"), PatternType::Match),
        AccessControlEntryFilter::new(Some("User:alice"), None, Op::Any, AnyPerm),
    );
    assert_eq!(selected(&a, &both), [2, 6]);
}

#[test]
fn add_and_remove_by_id() {
    let mut a = Authorizer::new(vec![], true);
    let alice = ctx("User:alice", H1);
    let t = Resource::new(Topic, "t");
    assert!(a.is_empty());
    assert_eq!(a.authorize(&alice, Op::Read, &t), Allowed);

    let deny = binding(&(Topic, "t", Literal, "User:alice", "*", Op::Read, Deny));
    let allow = binding(&(Topic, "t", Prefixed, "User:alice", "*", Op::Read, Allow));
    assert_eq!(a.add_acl(id(1), deny.clone()), None);
    assert_eq!(a.add_acl(id(2), allow.clone()), None);
    assert_eq!(a.len(), 2);
    assert_eq!(a.get(&id(1)), Some(&deny));
    assert_eq!(a.id_of(&allow), Some(id(2)));
    assert_eq!(a.authorize(&alice, Op::Read, &t), Denied);

    assert_eq!(a.remove_acl(&id(1)), Some(deny.clone()));
    assert_eq!(a.remove_acl(&id(1)), None);
    assert_eq!(a.id_of(&deny), None);
    assert_eq!(a.authorize(&alice, Op::Read, &t), Allowed);
    assert_eq!(a.authorize(&ctx("User:bob", H1), Op::Read, &t), Denied);

    // Reusing an id replaces the ACL and its place in the index.
    let other = binding(&(Group, "g", Literal, "User:bob", "*", Op::Read, Allow));
    assert_eq!(a.add_acl(id(2), other.clone()), Some(allow));
    assert_eq!(a.len(), 1);
    assert_eq!(a.authorize(&ctx("User:bob", H1), Op::Read, &t), Allowed);
    assert_eq!(
        a.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
        [other]
    );

    assert!(a.remove_acl(&id(2)).is_some());
    assert!(a.is_empty());
    assert_eq!(a.authorize(&alice, Op::Read, &t), Allowed);
}

#[test]
fn a_principal_that_does_not_parse_concerns_nobody_but_still_counts() {
    let mut a = Authorizer::new(vec![], true);
    a.add_acl(
        id(1),
        binding(&(Topic, "t", Literal, "alice", "*", Op::Read, Allow)),
    );
    assert_eq!(
        a.authorize(&ctx("User:alice", H1), Op::Read, &Resource::new(Topic, "t")),
        Denied
    );
}

#[test]
fn non_ascii_names_and_prefixes() {
    let a = authorizer_with(
        &[(Topic, "čí", Prefixed, "User:alice", "*", Op::Read, Allow)],
        &[],
        false,
    );
    let alice = ctx("User:alice", H1);
    assert_eq!(
        a.authorize(&alice, Op::Read, &Resource::new(Topic, "číslo")),
        Allowed
    );
    assert_eq!(
        a.authorize(&alice, Op::Read, &Resource::new(Topic, "čas")),
        Denied
    );
}

struct ByType {
    what: &'static str,
    acls: &'static [Row],
    allow_everyone: bool,
    principal: &'static str,
    op: AclOperation,
    resource_type: ResourceType,
    expected: Decision,
}

const fn by_type(
    what: &'static str,
    acls: &'static [Row],
    principal: &'static str,
    op: AclOperation,
    expected: Decision,
) -> ByType {
    ByType {
        what,
        acls,
        allow_everyone: false,
        principal,
        op,
        resource_type: Topic,
        expected,
    }
}

const T1_ALLOW: &[Row] = &[(Topic, "t1", Literal, "User:alice", "*", Op::Write, Allow)];
const T1_ALLOW_DENY: &[Row] = &[
    (Topic, "t1", Literal, "User:alice", "*", Op::Write, Allow),
    (Topic, "t1", Literal, "User:alice", "*", Op::Write, Deny),
];
const T1_ALLOW_T2_ALLOW_T1_DENY: &[Row] = &[
    (Topic, "t1", Literal, "User:alice", "*", Op::Write, Allow),
    (Topic, "t2", Literal, "User:alice", "*", Op::Write, Allow),
    (Topic, "t1", Literal, "User:alice", "*", Op::Write, Deny),
];
const PREFIX_ALLOW_SHORTER_DENY: &[Row] = &[
    (Topic, "abc", Prefixed, "User:alice", "*", Op::Write, Allow),
    (Topic, "ab", Prefixed, "User:alice", "*", Op::Write, Deny),
];
const PREFIX_ALLOW_LONGER_DENY: &[Row] = &[
    (Topic, "ab", Prefixed, "User:alice", "*", Op::Write, Allow),
    (Topic, "abc", Prefixed, "User:alice", "*", Op::Write, Deny),
];
const PREFIX_ALLOW_LITERAL_DENY: &[Row] = &[
    (Topic, "ab", Prefixed, "User:alice", "*", Op::Write, Allow),
    (Topic, "ab", Literal, "User:alice", "*", Op::Write, Deny),
];
const LITERAL_ALLOW_PREFIX_DENY: &[Row] = &[
    (Topic, "abc", Literal, "User:alice", "*", Op::Write, Allow),
    (Topic, "a", Prefixed, "User:alice", "*", Op::Write, Deny),
];
const WILDCARD_ALLOW_ALL: &[Row] = &[(Topic, "*", Literal, "User:alice", "*", Op::All, Allow)];
const WILDCARD_DENY_WRITE: &[Row] = &[
    (Topic, "t1", Literal, "User:alice", "*", Op::Write, Allow),
    (Topic, "*", Literal, "User:*", "*", Op::Write, Deny),
];
const READ_ON_T1: &[Row] = &[(Topic, "t1", Literal, "User:alice", "*", Op::Read, Allow)];
const EVERYONE_T1: &[Row] = &[(Topic, "t1", Literal, "User:*", "*", Op::Write, Allow)];
const OTHER_HOST: &[Row] = &[(Topic, "t1", Literal, "User:alice", H2, Op::Write, Allow)];
const GROUP_WRITE: &[Row] = &[(Group, "g", Literal, "User:alice", "*", Op::Write, Allow)];
const SOMEONE_ELSE_ON_STAR: &[Row] = &[(Topic, "*", Literal, "User:bob", "*", Op::Read, Allow)];

const BY_TYPE: &[ByType] = &[
    by_type("no acls", &[], "User:alice", Op::Write, Denied),
    ByType {
        allow_everyone: true,
        ..by_type(
            "no acls, allow everyone",
            &[],
            "User:alice",
            Op::Write,
            Allowed,
        )
    },
    by_type(
        "one literal allow",
        T1_ALLOW,
        "User:alice",
        Op::Write,
        Allowed,
    ),
    by_type("for someone else", T1_ALLOW, "User:bob", Op::Write, Denied),
    by_type(
        "literal allow, literal deny on it",
        T1_ALLOW_DENY,
        "User:alice",
        Op::Write,
        Denied,
    ),
    by_type(
        "another literal still open",
        T1_ALLOW_T2_ALLOW_T1_DENY,
        "User:alice",
        Op::Write,
        Allowed,
    ),
    by_type(
        "prefix allow under a shorter prefix deny",
        PREFIX_ALLOW_SHORTER_DENY,
        "User:alice",
        Op::Write,
        Denied,
    ),
    by_type(
        "prefix allow over a longer prefix deny",
        PREFIX_ALLOW_LONGER_DENY,
        "User:alice",
        Op::Write,
        Allowed,
    ),
    by_type(
        "prefix allow, literal deny on the same name",
        PREFIX_ALLOW_LITERAL_DENY,
        "User:alice",
        Op::Write,
        Allowed,
    ),
    by_type(
        "literal allow under a prefix deny",
        LITERAL_ALLOW_PREFIX_DENY,
        "User:alice",
        Op::Write,
        Denied,
    ),
    by_type(
        "wildcard allow of all",
        WILDCARD_ALLOW_ALL,
        "User:alice",
        Op::Write,
        Allowed,
    ),
    by_type(
        "wildcard deny",
        WILDCARD_DENY_WRITE,
        "User:alice",
        Op::Write,
        Denied,
    ),
    by_type(
        "no implied operations",
        READ_ON_T1,
        "User:alice",
        Op::Describe,
        Denied,
    ),
    by_type(
        "other operation",
        READ_ON_T1,
        "User:alice",
        Op::Write,
        Denied,
    ),
    by_type(
        "wildcard principal",
        EVERYONE_T1,
        "User:carol",
        Op::Write,
        Allowed,
    ),
    by_type("other host", OTHER_HOST, "User:alice", Op::Write, Denied),
    ByType {
        resource_type: Group,
        ..by_type(
            "group acl, group type",
            GROUP_WRITE,
            "User:alice",
            Op::Write,
            Allowed,
        )
    },
    by_type(
        "group acl, topic type",
        GROUP_WRITE,
        "User:alice",
        Op::Write,
        Denied,
    ),
    // A literal "*" ACL for someone else puts an ACL on every topic, so
    // the allow-everyone default no longer applies.
    ByType {
        allow_everyone: true,
        ..by_type(
            "acls on * for someone else",
            SOMEONE_ELSE_ON_STAR,
            "User:alice",
            Op::Read,
            Denied,
        )
    },
    by_type(
        "any operation is refused",
        T1_ALLOW,
        "User:alice",
        Op::Any,
        Denied,
    ),
    ByType {
        resource_type: ResourceType::Any,
        ..by_type(
            "any resource type is refused",
            T1_ALLOW,
            "User:alice",
            Op::Write,
            Denied,
        )
    },
];

#[test]
fn authorization_by_resource_type() {
    let mut failures = Vec::new();
    for c in BY_TYPE {
        let a = authorizer_with(c.acls, &[], c.allow_everyone);
        let got = a.authorize_by_resource_type(&ctx(c.principal, H1), c.op, c.resource_type);
        if got != c.expected {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                c.what, c.expected, got
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn super_users_pass_by_resource_type_despite_a_wildcard_deny() {
    let a = authorizer_with(WILDCARD_DENY_WRITE, &["User:admin"], false);
    let admin = ctx("User:admin", H1);
    assert_eq!(
        a.authorize_by_resource_type(&admin, Op::Write, Topic),
        Allowed
    );
}

#[test]
fn super_users_are_compared_as_type_colon_name_strings() {
    let a = Authorizer::new(vec!["User:a:b".into(), "Group:ops".into()], false);
    let t = Resource::new(Topic, "t");
    for (principal, expected) in [
        (KafkaPrincipal::new("User", "a:b"), Allowed),
        // Kafka builds the same string from a type holding the colon.
        (KafkaPrincipal::new("User:a", "b"), Allowed),
        (KafkaPrincipal::new("User", "a"), Denied),
        (KafkaPrincipal::new("User", "a:bc"), Denied),
        (KafkaPrincipal::new("Group", "ops"), Allowed),
        (KafkaPrincipal::new("User", "ops"), Denied),
        (KafkaPrincipal::new("Group", "ops2"), Denied),
    ] {
        let c = RequestContext::new(principal.clone(), H1);
        assert_eq!(a.authorize(&c, Op::Alter, &t), expected, "{principal}");
        assert_eq!(
            a.authorize_by_resource_type(&c, Op::Write, Topic),
            expected,
            "{principal}"
        );
    }
}

#[test]
fn authorization_is_by_literal_resource_only() {
    // A resource whose name looks like a pattern is still one name.
    let a = authorizer_with(ALICE_READS_T, &[], false);
    let alice = ctx("User:alice", H1);
    assert_eq!(
        a.authorize(&alice, Op::Read, &Resource::new(Topic, "*")),
        Denied
    );
    assert_eq!(a.authorize(&alice, Op::Read, &Resource::cluster()), Denied);
}

/// The rules of `authorize`, written as a scan over every ACL, to check
/// the index against: same answers for random ACL sets and requests.
fn reference_decision(
    acls: &[AclBinding],
    super_users: &[String],
    allow_everyone: bool,
    ctx: &RequestContext,
    op: AclOperation,
    resource: &Resource,
) -> Decision {
    if super_users.contains(&ctx.principal.to_string()) {
        return Allowed;
    }
    let covering: Vec<&AclBinding> = acls.iter().filter(|b| b.pattern.covers(resource)).collect();
    if covering.is_empty() {
        return if allow_everyone { Allowed } else { Denied };
    }
    let concerns = |b: &AclBinding, allow: bool| {
        let p = KafkaPrincipal::parse(&b.entry.principal).unwrap();
        let op_ok = b.entry.operation == Op::All
            || b.entry.operation == op
            || (allow
                && ((op == Op::Describe
                    && [Op::Read, Op::Write, Op::Delete, Op::Alter].contains(&b.entry.operation))
                    || (op == Op::DescribeConfigs && b.entry.operation == Op::AlterConfigs)));
        (p == ctx.principal || p.is_wildcard())
            && (b.entry.host == "*" || b.entry.host == ctx.host)
            && op_ok
    };
    if covering
        .iter()
        .any(|b| b.entry.permission == Deny && concerns(b, false))
    {
        Denied
    } else if covering
        .iter()
        .any(|b| b.entry.permission == Allow && concerns(b, true))
    {
        Allowed
    } else {
        Denied
    }
}

#[test]
fn the_index_agrees_with_a_scan_of_every_acl() {
    // A small xorshift generator: the same sequence on every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let names = ["a", "ab", "abc", "abd", "b", "*", "*a", "č", "čx"];
    let principals = ["User:alice", "User:bob", "User:*", "Group:alice"];
    let hosts = ["*", H1, H2];
    let ops = [
        Op::All,
        Op::Read,
        Op::Write,
        Op::Describe,
        Op::Alter,
        Op::AlterConfigs,
        Op::DescribeConfigs,
        Op::Create,
    ];
    let types = [Topic, Group];
    for round in 0..300 {
        let allow_everyone = round % 2 == 0;
        let super_users = vec!["User:root".to_string()];
        let mut a = Authorizer::new(super_users.clone(), allow_everyone);
        let mut acls = Vec::new();
        for n in 0..next(8) {
            let b = AclBinding::new(
                ResourcePattern::new(
                    types[next(2)],
                    names[next(names.len())],
                    [Literal, Prefixed][next(2)],
                ),
                AccessControlEntry::new(
                    principals[next(principals.len())],
                    hosts[next(hosts.len())],
                    ops[next(ops.len())],
                    [Allow, Deny][next(2)],
                ),
            );
            a.add_acl(id(n as u8), b.clone());
            acls.push(b);
        }
        for _ in 0..20 {
            let principal = ["User:alice", "User:bob", "Group:alice", "User:root"][next(4)];
            let c = ctx(principal, [H1, H2][next(2)]);
            let op = ops[1 + next(ops.len() - 1)];
            let resource = Resource::new(types[next(2)], names[next(names.len())]);
            assert_eq!(
                a.authorize(&c, op, &resource),
                reference_decision(&acls, &super_users, allow_everyone, &c, op, &resource),
                "{acls:#?} {c:?} {op} {resource:?}"
            );
        }
    }
}
