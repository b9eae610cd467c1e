//! The four enumerations an ACL is made of, with the one-byte codes Kafka
//! puts on the wire and in `AccessControlEntryRecord`, and the upper-case
//! names its tools print and parse.
//!
//! Every enumeration has an `Unknown` member at code 0: Kafka decodes a
//! code it does not know as UNKNOWN rather than failing, so that a newer
//! client's request can still be answered with a proper error. `from_code`
//! and `from_name` do the same here.

use std::fmt;

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every member, in code order.
            pub const VALUES: &'static [$name] = &[$($name::$variant,)+];

            /// The member with this wire code; `Unknown` for a code Kafka
            /// does not define.
            pub fn from_code(code: i8) -> Self {
                match code {
                    $( $code => $name::$variant, )+
                    _ => $name::Unknown,
                }
            }

            /// The wire code.
            pub fn code(self) -> i8 {
                match self {
                    $( $name::$variant => $code, )+
                }
            }

            /// Kafka's name for the member, as `kafka-acls.sh` prints it.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The member named `name`, ignoring ASCII case (Kafka upper-cases
            /// the string before looking it up); `Unknown` if there is none.
            pub fn from_name(name: &str) -> Self {
                Self::VALUES
                    .iter()
                    .copied()
                    .find(|v| v.name().eq_ignore_ascii_case(name))
                    .unwrap_or($name::Unknown)
            }

            /// Whether this is the member standing for a code or name that
            /// was not understood.
            pub fn is_unknown(self) -> bool {
                self == $name::Unknown
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

wire_enum! {
    /// What kind of thing an ACL protects.
    ResourceType {
        Unknown = 0 => "UNKNOWN",
        /// Only in filters: any resource type.
        Any = 1 => "ANY",
        Topic = 2 => "TOPIC",
        /// A consumer group.
        Group = 3 => "GROUP",
        /// The cluster as a whole; its only resource is named `kafka-cluster`.
        Cluster = 4 => "CLUSTER",
        TransactionalId = 5 => "TRANSACTIONAL_ID",
        DelegationToken = 6 => "DELEGATION_TOKEN",
        /// A user, for creating delegation tokens on its behalf (KIP-373).
        User = 7 => "USER",
    }
}

wire_enum! {
    /// How an ACL's resource name is compared with the name of a resource.
    PatternType {
        Unknown = 0 => "UNKNOWN",
        /// Only in filters: any pattern type, names compared exactly.
        Any = 1 => "ANY",
        /// Only in filters: every stored pattern that would apply to the
        /// filter's name (the literal name, the literal `*`, and prefixes).
        Match = 2 => "MATCH",
        /// The resource name equals the pattern's, or the pattern is `*`.
        Literal = 3 => "LITERAL",
        /// The resource name starts with the pattern's (KIP-290).
        Prefixed = 4 => "PREFIXED",
    }
}

wire_enum! {
    /// What an ACL allows or denies doing.
    AclOperation {
        Unknown = 0 => "UNKNOWN",
        /// Only in filters: any operation.
        Any = 1 => "ANY",
        /// Every operation.
        All = 2 => "ALL",
        Read = 3 => "READ",
        Write = 4 => "WRITE",
        Create = 5 => "CREATE",
        Delete = 6 => "DELETE",
        Alter = 7 => "ALTER",
        Describe = 8 => "DESCRIBE",
        ClusterAction = 9 => "CLUSTER_ACTION",
        DescribeConfigs = 10 => "DESCRIBE_CONFIGS",
        AlterConfigs = 11 => "ALTER_CONFIGS",
        IdempotentWrite = 12 => "IDEMPOTENT_WRITE",
        CreateTokens = 13 => "CREATE_TOKENS",
        DescribeTokens = 14 => "DESCRIBE_TOKENS",
    }
}

wire_enum! {
    /// Whether an ACL allows or denies.
    AclPermissionType {
        Unknown = 0 => "UNKNOWN",
        /// Only in filters: either.
        Any = 1 => "ANY",
        Deny = 2 => "DENY",
        Allow = 3 => "ALLOW",
    }
}
