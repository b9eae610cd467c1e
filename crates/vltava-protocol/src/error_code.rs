//! Kafka protocol error codes.
//!
//! Every response in the Kafka protocol carries one or more `int16` error
//! codes. This module holds the complete table of codes defined by Apache
//! Kafka (through 4.1, highest code 133): the number, the canonical
//! upper-snake name, whether Kafka's client treats the error as retriable
//! (its exception is a `RetriableException`), and a short description.
//!
//! All of it is driven by the single `error_codes!` invocation below: one
//! row per code, in numeric order, dense from -1. Lookups by code index
//! straight into that table.

/// A Kafka protocol error code.
///
/// This is a thin wrapper over the `int16` sent on the wire, so any value can
/// be represented, including codes newer than this table; those report
/// [`ErrorCode::UNKNOWN_NAME`] as their name and are not retriable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ErrorCode(pub i16);

/// One row of the error table.
struct Entry {
    code: i16,
    name: &'static str,
    retriable: bool,
    message: &'static str,
}

/// Declares every error code once: emits the associated constants on
/// [`ErrorCode`] and the lookup table `TABLE`, both from the same rows.
macro_rules! error_codes {
    ($( ($name:ident, $code:literal, $retriable:literal, $message:literal) ),* $(,)?) => {
        impl ErrorCode {
            $(
                #[doc = $message]
                pub const $name: ErrorCode = ErrorCode($code);
            )*
        }

        /// All known codes in numeric order; `TABLE[i].code == i - 1`.
        const TABLE: &[Entry] = &[
            $(
                Entry {
                    code: $code,
                    name: stringify!($name),
                    retriable: $retriable,
                    message: $message,
                },
            )*
        ];
    };
}

// (NAME, code, retriable, description). Keep in numeric order with no gaps:
// a compile-time check below enforces it.
error_codes! {
    (UNKNOWN_SERVER_ERROR, -1, false, "The server hit an unexpected error while processing the request."),
    (NONE, 0, false, "No error."),
    (OFFSET_OUT_OF_RANGE, 1, false, "The requested offset is outside the range of offsets the server holds."),
    (CORRUPT_MESSAGE, 2, true, "The message failed its CRC check, exceeds the valid size, has a null key on a compacted topic, or is otherwise corrupt."),
    (UNKNOWN_TOPIC_OR_PARTITION, 3, true, "This server does not host the requested topic-partition."),
    (INVALID_FETCH_SIZE, 4, false, "The requested fetch size is not valid."),
    (LEADER_NOT_AVAILABLE, 5, true, "The topic-partition has no leader right now because a leader election is under way."),
    (NOT_LEADER_OR_FOLLOWER, 6, true, "This broker is not the partition leader (for leader-only requests) or not a replica of the partition (for requests any replica may serve)."),
    (REQUEST_TIMED_OUT, 7, true, "The request timed out."),
    (BROKER_NOT_AVAILABLE, 8, false, "The broker is not available."),
    (REPLICA_NOT_AVAILABLE, 9, true, "The replica for the requested topic-partition is not available."),
    (MESSAGE_TOO_LARGE, 10, false, "The request contained a message bigger than the largest message the server accepts."),
    (STALE_CONTROLLER_EPOCH, 11, false, "The controller has moved to another broker."),
    (OFFSET_METADATA_TOO_LARGE, 12, false, "The metadata attached to the offset commit is too large."),
    (NETWORK_EXCEPTION, 13, true, "The server disconnected before sending a response."),
    (COORDINATOR_LOAD_IN_PROGRESS, 14, true, "The coordinator is still loading its state and cannot serve requests yet."),
    (COORDINATOR_NOT_AVAILABLE, 15, true, "The coordinator is not available."),
    (NOT_COORDINATOR, 16, true, "This broker is not the right coordinator."),
    (INVALID_TOPIC_EXCEPTION, 17, false, "The request tried to operate on an invalid topic."),
    (RECORD_LIST_TOO_LARGE, 18, false, "The request contained a record batch larger than the server's configured segment size."),
    (NOT_ENOUGH_REPLICAS, 19, true, "The messages were rejected because fewer replicas are in sync than required."),
    (NOT_ENOUGH_REPLICAS_AFTER_APPEND, 20, true, "The messages were written to the log, but to fewer in-sync replicas than required."),
    (INVALID_REQUIRED_ACKS, 21, false, "The produce request asked for an invalid number of required acks."),
    (ILLEGAL_GENERATION, 22, false, "The group generation id given is not valid."),
    (INCONSISTENT_GROUP_PROTOCOL, 23, false, "The member's protocols are incompatible with those of the other group members, or the first member joined with an empty protocol type or list."),
    (INVALID_GROUP_ID, 24, false, "The group id is not valid."),
    (UNKNOWN_MEMBER_ID, 25, false, "The coordinator does not know this member."),
    (INVALID_SESSION_TIMEOUT, 26, false, "The session timeout is outside the range the broker allows (group.min.session.timeout.ms to group.max.session.timeout.ms)."),
    (REBALANCE_IN_PROGRESS, 27, false, "The group is rebalancing, so the member must rejoin."),
    (INVALID_COMMIT_OFFSET_SIZE, 28, false, "The size of the offset commit data is not valid."),
    (TOPIC_AUTHORIZATION_FAILED, 29, false, "Not authorized to access the topic."),
    (GROUP_AUTHORIZATION_FAILED, 30, false, "Not authorized to access the group."),
    (CLUSTER_AUTHORIZATION_FAILED, 31, false, "Not authorized to perform this cluster operation."),
    (INVALID_TIMESTAMP, 32, false, "The message timestamp is outside the acceptable range."),
    (UNSUPPORTED_SASL_MECHANISM, 33, false, "The broker does not support the requested SASL mechanism."),
    (ILLEGAL_SASL_STATE, 34, false, "The request is not allowed in the current SASL state."),
    (UNSUPPORTED_VERSION, 35, false, "This version of the API is not supported."),
    (TOPIC_ALREADY_EXISTS, 36, false, "A topic with this name already exists."),
    (INVALID_PARTITIONS, 37, false, "The number of partitions is below 1."),
    (INVALID_REPLICATION_FACTOR, 38, false, "The replication factor is below 1 or larger than the number of available brokers."),
    (INVALID_REPLICA_ASSIGNMENT, 39, false, "The replica assignment is not valid."),
    (INVALID_CONFIG, 40, false, "The configuration is not valid."),
    (NOT_CONTROLLER, 41, true, "This broker is not the active controller of the cluster."),
    (INVALID_REQUEST, 42, false, "The request is invalid, most likely malformed by the client library or sent to an incompatible broker; the broker logs have details."),
    (UNSUPPORTED_FOR_MESSAGE_FORMAT, 43, false, "The broker's message format version does not support this request."),
    (POLICY_VIOLATION, 44, false, "The request parameters violate the configured policy."),
    (OUT_OF_ORDER_SEQUENCE_NUMBER, 45, false, "The broker received a sequence number out of order."),
    (DUPLICATE_SEQUENCE_NUMBER, 46, false, "The broker received a sequence number it has already seen."),
    (INVALID_PRODUCER_EPOCH, 47, false, "The producer tried to produce with an outdated epoch."),
    (INVALID_TXN_STATE, 48, false, "The producer attempted a transactional operation in an invalid state."),
    (INVALID_PRODUCER_ID_MAPPING, 49, false, "The producer used a producer id that is not currently assigned to its transactional id."),
    (INVALID_TRANSACTION_TIMEOUT, 50, false, "The transaction timeout exceeds the broker's maximum (transaction.max.timeout.ms)."),
    (CONCURRENT_TRANSACTIONS, 51, true, "The producer tried to update a transaction while another operation on the same transaction was in progress."),
    (TRANSACTION_COORDINATOR_FENCED, 52, false, "The transaction coordinator that sent the transaction marker is no longer the current coordinator for this producer."),
    (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 53, false, "Not authorized to use this transactional id."),
    (SECURITY_DISABLED, 54, false, "Security features are disabled."),
    (OPERATION_NOT_ATTEMPTED, 55, false, "The broker did not attempt this operation, for example because an earlier operation in the same batched request failed."),
    (KAFKA_STORAGE_ERROR, 56, true, "A disk error occurred while accessing a log file."),
    (LOG_DIR_NOT_FOUND, 57, false, "The requested log directory is not among the broker's configured log directories."),
    (SASL_AUTHENTICATION_FAILED, 58, false, "SASL authentication failed."),
    (UNKNOWN_PRODUCER_ID, 59, false, "The broker has no metadata for this producer id, for example because retention removed all of its records."),
    (REASSIGNMENT_IN_PROGRESS, 60, false, "A partition reassignment is in progress."),
    (DELEGATION_TOKEN_AUTH_DISABLED, 61, false, "The delegation token feature is not enabled."),
    (DELEGATION_TOKEN_NOT_FOUND, 62, false, "The delegation token was not found on the server."),
    (DELEGATION_TOKEN_OWNER_MISMATCH, 63, false, "The given principal is not a valid owner or renewer of the token."),
    (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, 64, false, "Delegation token requests are not allowed on plaintext or one-way SSL channels, nor on channels authenticated by a delegation token."),
    (DELEGATION_TOKEN_AUTHORIZATION_FAILED, 65, false, "Not authorized for this delegation token operation."),
    (DELEGATION_TOKEN_EXPIRED, 66, false, "The delegation token has expired."),
    (INVALID_PRINCIPAL_TYPE, 67, false, "The given principal type is not supported."),
    (NON_EMPTY_GROUP, 68, false, "The group still has members."),
    (GROUP_ID_NOT_FOUND, 69, false, "No group with this id exists."),
    (FETCH_SESSION_ID_NOT_FOUND, 70, true, "The fetch session id was not found."),
    (INVALID_FETCH_SESSION_EPOCH, 71, true, "The fetch session epoch is not valid."),
    (LISTENER_NOT_FOUND, 72, true, "The leader broker has no listener matching the one on which the metadata request was served."),
    (TOPIC_DELETION_DISABLED, 73, false, "Topic deletion is disabled."),
    (FENCED_LEADER_EPOCH, 74, true, "The leader epoch in the request is older than the broker's."),
    (UNKNOWN_LEADER_EPOCH, 75, true, "The leader epoch in the request is newer than the broker's."),
    (UNSUPPORTED_COMPRESSION_TYPE, 76, false, "The client does not support the compression type of the partition."),
    (STALE_BROKER_EPOCH, 77, false, "The broker epoch has changed."),
    (OFFSET_NOT_AVAILABLE, 78, true, "The leader's high watermark has not caught up since a recent election, so offsets cannot yet be guaranteed to increase monotonically."),
    (MEMBER_ID_REQUIRED, 79, false, "The member must obtain a valid member id before it can join the group."),
    (PREFERRED_LEADER_NOT_AVAILABLE, 80, true, "The preferred leader is not available."),
    (GROUP_MAX_SIZE_REACHED, 81, false, "The group has reached its maximum size."),
    (FENCED_INSTANCE_ID, 82, false, "This static member is fenced: another member registered the same group.instance.id with a different member.id."),
    (ELIGIBLE_LEADERS_NOT_AVAILABLE, 83, true, "No eligible leaders are available for the partition."),
    (ELECTION_NOT_NEEDED, 84, true, "The partition does not need a leader election."),
    (NO_REASSIGNMENT_IN_PROGRESS, 85, false, "No partition reassignment is in progress."),
    (GROUP_SUBSCRIBED_TO_TOPIC, 86, false, "A topic's offsets cannot be deleted while the group is subscribed to it."),
    (INVALID_RECORD, 87, false, "The broker rejected this record because it failed validation."),
    (UNSTABLE_OFFSET_COMMIT, 88, true, "Unstable offsets are pending and must be cleared first."),
    (THROTTLING_QUOTA_EXCEEDED, 89, true, "The throttling quota was exceeded."),
    (PRODUCER_FENCED, 90, false, "A newer producer with the same transactional id has fenced this one."),
    (RESOURCE_NOT_FOUND, 91, false, "The request referred to a resource that does not exist."),
    (DUPLICATE_RESOURCE, 92, false, "The request referred to the same resource more than once."),
    (UNACCEPTABLE_CREDENTIAL, 93, false, "The requested credential does not meet the acceptance criteria."),
    (INCONSISTENT_VOTER_SET, 94, false, "The sender or receiver of a voter-only request is not one of the expected voters."),
    (INVALID_UPDATE_VERSION, 95, false, "The given update version is not valid."),
    (FEATURE_UPDATE_FAILED, 96, false, "The finalized features could not be updated because of an unexpected server error."),
    (PRINCIPAL_DESERIALIZATION_FAILURE, 97, false, "The request principal could not be deserialized while forwarding, which points to an internal security setup problem in the cluster."),
    (SNAPSHOT_NOT_FOUND, 98, false, "The requested snapshot was not found."),
    (POSITION_OUT_OF_RANGE, 99, false, "The requested position is negative or not less than the size of the snapshot."),
    (UNKNOWN_TOPIC_ID, 100, true, "This server does not host the topic with this id."),
    (DUPLICATE_BROKER_REGISTRATION, 101, false, "This broker id is already in use."),
    (BROKER_ID_NOT_REGISTERED, 102, false, "The given broker id is not registered."),
    (INCONSISTENT_TOPIC_ID, 103, true, "The topic id in the request does not match the topic id of the log."),
    (INCONSISTENT_CLUSTER_ID, 104, false, "The cluster id in the request does not match the server's."),
    (TRANSACTIONAL_ID_NOT_FOUND, 105, false, "The transactional id was not found."),
    (FETCH_SESSION_TOPIC_ID_ERROR, 106, true, "The fetch session saw inconsistent use of topic ids."),
    (INELIGIBLE_REPLICA, 107, false, "The new ISR contains at least one ineligible replica."),
    (NEW_LEADER_ELECTED, 108, false, "The AlterPartition request updated the partition state, but the leader has changed."),
    (OFFSET_MOVED_TO_TIERED_STORAGE, 109, false, "The requested offset has moved to tiered storage."),
    (FENCED_MEMBER_EPOCH, 110, false, "The group coordinator fenced the member epoch; the member must give up all its partitions and rejoin."),
    (UNRELEASED_INSTANCE_ID, 111, false, "Another member of the group still uses this instance id and must leave first."),
    (UNSUPPORTED_ASSIGNOR, 112, false, "The group does not support this assignor or its version range."),
    (STALE_MEMBER_EPOCH, 113, false, "The member epoch is stale; the member must retry once the ConsumerGroupHeartbeat API has given it its current epoch."),
    (MISMATCHED_ENDPOINT_TYPE, 114, false, "The request was sent to the wrong type of endpoint."),
    (UNSUPPORTED_ENDPOINT_TYPE, 115, false, "This endpoint type is not supported yet."),
    (UNKNOWN_CONTROLLER_ID, 116, false, "This controller id is not known."),
    (UNKNOWN_SUBSCRIPTION_ID, 117, false, "The push telemetry request carried an invalid or outdated subscription id."),
    (TELEMETRY_TOO_LARGE, 118, false, "The push telemetry request is larger than the broker accepts."),
    (INVALID_REGISTRATION, 119, false, "The controller considers the broker registration invalid."),
    (TRANSACTION_ABORTABLE, 120, false, "The transaction hit a server error; the client can abort it and keep using this transactional id."),
    (INVALID_RECORD_STATE, 121, false, "The record is in an invalid state, so its delivery could not be acknowledged."),
    (SHARE_SESSION_NOT_FOUND, 122, true, "The share session was not found."),
    (INVALID_SHARE_SESSION_EPOCH, 123, true, "The share session epoch is not valid."),
    (FENCED_STATE_EPOCH, 124, false, "The share coordinator rejected the request because the share-group state epoch did not match."),
    (INVALID_VOTER_KEY, 125, false, "The voter key does not match the key of the receiving replica."),
    (DUPLICATE_VOTER, 126, false, "The voter is already in the voter set."),
    (VOTER_NOT_FOUND, 127, false, "The voter is not in the voter set."),
    (INVALID_REGULAR_EXPRESSION, 128, false, "The regular expression is not valid."),
    (REBOOTSTRAP_REQUIRED, 129, false, "The client's metadata is stale; it should rebootstrap to get fresh metadata."),
    (STREAMS_INVALID_TOPOLOGY, 130, false, "The supplied topology is not valid."),
    (STREAMS_INVALID_TOPOLOGY_EPOCH, 131, false, "The supplied topology epoch is not valid."),
    (STREAMS_TOPOLOGY_FENCED, 132, false, "The supplied topology epoch is out of date."),
    (SHARE_SESSION_LIMIT_REACHED, 133, true, "No new share session can be opened because the share session limit has been reached."),
}

// The table must be dense and sorted from -1 so that `code + 1` indexes it.
const _: () = {
    assert!(!TABLE.is_empty());
    let mut i = 0;
    while i < TABLE.len() {
        assert!(TABLE[i].code as i32 == i as i32 - 1);
        i += 1;
    }
};

impl ErrorCode {
    /// The name reported for codes this table does not know.
    pub const UNKNOWN_NAME: &'static str = "UNKNOWN_ERROR_CODE";

    /// The smallest known code.
    pub const MIN: ErrorCode = ErrorCode(TABLE[0].code);

    /// The largest known code.
    pub const MAX: ErrorCode = ErrorCode(TABLE[TABLE.len() - 1].code);

    const UNKNOWN_MESSAGE: &'static str = "Unknown error code.";

    /// The table row for this code, if it is a known one. O(1).
    #[inline]
    const fn entry(self) -> Option<&'static Entry> {
        let index = self.0 as i32 + 1;
        if index >= 0 && (index as usize) < TABLE.len() {
            Some(&TABLE[index as usize])
        } else {
            None
        }
    }

    /// The raw `int16` value sent on the wire.
    #[inline]
    pub const fn code(self) -> i16 {
        self.0
    }

    /// Whether this code is in the table.
    #[inline]
    pub const fn is_known(self) -> bool {
        self.entry().is_some()
    }

    /// The canonical upper-snake name, e.g. `"NOT_LEADER_OR_FOLLOWER"`, or
    /// [`ErrorCode::UNKNOWN_NAME`] for a code not in the table.
    #[inline]
    pub const fn name(self) -> &'static str {
        match self.entry() {
            Some(e) => e.name,
            None => Self::UNKNOWN_NAME,
        }
    }

    /// Whether a client may retry the failed operation as is (Kafka's
    /// `RetriableException` family). Unknown codes are not retriable.
    #[inline]
    pub const fn is_retriable(self) -> bool {
        match self.entry() {
            Some(e) => e.retriable,
            None => false,
        }
    }

    /// A short human-readable description of the error.
    #[inline]
    pub const fn message(self) -> &'static str {
        match self.entry() {
            Some(e) => e.message,
            None => Self::UNKNOWN_MESSAGE,
        }
    }

    /// Whether this is anything other than [`ErrorCode::NONE`].
    #[inline]
    pub const fn is_error(self) -> bool {
        self.0 != 0
    }

    /// Looks a code up by its canonical name (exact, case-sensitive).
    /// A linear scan of the table; meant for configuration and tests, not
    /// for the request path.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        TABLE
            .iter()
            .find(|e| e.name == name)
            .map(|e| ErrorCode(e.code))
    }

    /// Every known code, in numeric order from [`ErrorCode::MIN`] to
    /// [`ErrorCode::MAX`].
    pub fn all() -> impl ExactSizeIterator<Item = ErrorCode> + DoubleEndedIterator + Clone {
        TABLE.iter().map(|e| ErrorCode(e.code))
    }
}

impl Default for ErrorCode {
    fn default() -> Self {
        ErrorCode::NONE
    }
}

impl std::fmt::Display for ErrorCode {
    /// Formats as `NAME (code)`, e.g. `NOT_COORDINATOR (16)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

impl From<ErrorCode> for i16 {
    #[inline]
    fn from(code: ErrorCode) -> i16 {
        code.0
    }
}

impl From<i16> for ErrorCode {
    #[inline]
    fn from(code: i16) -> ErrorCode {
        ErrorCode(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn well_known_numbers() {
        macro_rules! check {
            ($($name:ident = $number:literal),* $(,)?) => {$(
                assert_eq!(ErrorCode::$name.code(), $number, stringify!($name));
                assert_eq!(ErrorCode::$name.name(), stringify!($name));
                assert_eq!(ErrorCode::from($number), ErrorCode::$name);
                assert_eq!(i16::from(ErrorCode::$name), $number);
            )*};
        }
        check! {
            UNKNOWN_SERVER_ERROR = -1,
            NONE = 0,
            OFFSET_OUT_OF_RANGE = 1,
            CORRUPT_MESSAGE = 2,
            UNKNOWN_TOPIC_OR_PARTITION = 3,
            NOT_LEADER_OR_FOLLOWER = 6,
            MESSAGE_TOO_LARGE = 10,
            COORDINATOR_NOT_AVAILABLE = 15,
            NOT_COORDINATOR = 16,
            INVALID_TOPIC_EXCEPTION = 17,
            ILLEGAL_GENERATION = 22,
            UNKNOWN_MEMBER_ID = 25,
            REBALANCE_IN_PROGRESS = 27,
            UNSUPPORTED_VERSION = 35,
            TOPIC_ALREADY_EXISTS = 36,
            INVALID_PARTITIONS = 37,
            INVALID_REPLICATION_FACTOR = 38,
            INVALID_CONFIG = 40,
            INVALID_PRODUCER_EPOCH = 47,
            UNKNOWN_PRODUCER_ID = 59,
            MEMBER_ID_REQUIRED = 79,
            FENCED_INSTANCE_ID = 82,
            INVALID_RECORD = 87,
            PRODUCER_FENCED = 90,
            UNKNOWN_TOPIC_ID = 100,
            FENCED_MEMBER_EPOCH = 110,
            TRANSACTION_ABORTABLE = 120,
            INVALID_RECORD_STATE = 121,
            VOTER_NOT_FOUND = 127,
            REBOOTSTRAP_REQUIRED = 129,
            SHARE_SESSION_LIMIT_REACHED = 133,
        }
    }

    #[test]
    fn table_is_dense_and_sorted() {
        let codes: Vec<i16> = ErrorCode::all().map(ErrorCode::code).collect();
        let expected: Vec<i16> = (-1..=ErrorCode::MAX.0).collect();
        assert_eq!(codes, expected);
        assert_eq!(ErrorCode::MIN, ErrorCode::UNKNOWN_SERVER_ERROR);
        assert_eq!(ErrorCode::MAX, ErrorCode::SHARE_SESSION_LIMIT_REACHED);
        assert_eq!(ErrorCode::all().len(), 135);
    }

    #[test]
    fn names_unique_and_round_trip() {
        let mut seen = HashSet::new();
        for c in ErrorCode::all() {
            let name = c.name();
            assert!(seen.insert(name), "duplicate name {name}");
            assert_ne!(name, ErrorCode::UNKNOWN_NAME);
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            assert_eq!(ErrorCode::from_name(name), Some(c));
            assert!(!c.message().is_empty());
            assert!(c.is_known());
        }
        assert_eq!(ErrorCode::from_name("NOT_A_REAL_ERROR"), None);
        assert_eq!(ErrorCode::from_name("none"), None);
    }

    #[test]
    fn retriable_flags() {
        for c in [
            ErrorCode::CORRUPT_MESSAGE,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ErrorCode::LEADER_NOT_AVAILABLE,
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ErrorCode::REQUEST_TIMED_OUT,
            ErrorCode::REPLICA_NOT_AVAILABLE,
            ErrorCode::NETWORK_EXCEPTION,
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ErrorCode::NOT_COORDINATOR,
            ErrorCode::NOT_ENOUGH_REPLICAS,
            ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            ErrorCode::NOT_CONTROLLER,
            ErrorCode::CONCURRENT_TRANSACTIONS,
            ErrorCode::KAFKA_STORAGE_ERROR,
            ErrorCode::FENCED_LEADER_EPOCH,
            ErrorCode::UNKNOWN_LEADER_EPOCH,
            ErrorCode::THROTTLING_QUOTA_EXCEEDED,
            ErrorCode::UNKNOWN_TOPIC_ID,
            ErrorCode::SHARE_SESSION_NOT_FOUND,
            ErrorCode::INVALID_SHARE_SESSION_EPOCH,
        ] {
            assert!(c.is_retriable(), "{c} should be retriable");
        }
        for c in [
            ErrorCode::UNKNOWN_SERVER_ERROR,
            ErrorCode::NONE,
            ErrorCode::OFFSET_OUT_OF_RANGE,
            ErrorCode::BROKER_NOT_AVAILABLE,
            ErrorCode::MESSAGE_TOO_LARGE,
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            ErrorCode::ILLEGAL_GENERATION,
            ErrorCode::UNKNOWN_MEMBER_ID,
            ErrorCode::REBALANCE_IN_PROGRESS,
            ErrorCode::TOPIC_AUTHORIZATION_FAILED,
            ErrorCode::UNSUPPORTED_VERSION,
            ErrorCode::TOPIC_ALREADY_EXISTS,
            ErrorCode::INVALID_PRODUCER_EPOCH,
            ErrorCode::PRODUCER_FENCED,
            ErrorCode::FENCED_STATE_EPOCH,
            ErrorCode::TRANSACTION_ABORTABLE,
        ] {
            assert!(!c.is_retriable(), "{c} should not be retriable");
        }
        assert_eq!(ErrorCode::all().filter(|c| c.is_retriable()).count(), 32);
    }

    #[test]
    fn unknown_codes() {
        for raw in [-2, i16::MIN, ErrorCode::MAX.0 + 1, i16::MAX] {
            let c = ErrorCode(raw);
            assert!(!c.is_known());
            assert_eq!(c.name(), ErrorCode::UNKNOWN_NAME);
            assert!(!c.is_retriable());
            assert!(c.is_error());
            assert!(!c.message().is_empty());
        }
        assert_eq!(ErrorCode(-2).to_string(), "UNKNOWN_ERROR_CODE (-2)");
    }

    /// Cross-check numbers, names and retriable flags against the
    /// independent table of the `kafka-protocol` crate.
    #[test]
    fn agrees_with_kafka_protocol_crate() {
        use kafka_protocol::ResponseError;

        fn camel(upper_snake: &str) -> String {
            upper_snake
                .split('_')
                .map(|word| {
                    let mut chars = word.chars();
                    let first = chars.next().into_iter();
                    first
                        .chain(chars.flat_map(char::to_lowercase))
                        .collect::<String>()
                })
                .collect()
        }

        for c in ErrorCode::all().filter(|c| c.is_error()) {
            let theirs = ResponseError::try_from_code(c.code()).expect("non-zero code");
            assert!(
                !matches!(theirs, ResponseError::Unknown(_)),
                "{c} unknown to kafka-protocol"
            );
            assert_eq!(theirs.code(), c.code());
            assert_eq!(theirs.to_string(), camel(c.name()), "{c}");
            // kafka-protocol still marks CONCURRENT_TRANSACTIONS non-retriable, but
            // Kafka made ConcurrentTransactionsException a RetriableException in 3.4.
            if c != ErrorCode::CONCURRENT_TRANSACTIONS {
                assert_eq!(theirs.is_retriable(), c.is_retriable(), "{c}");
            }
        }
        // Nothing it knows is missing here.
        assert!(matches!(
            ResponseError::try_from_code(ErrorCode::MAX.0 + 1),
            Some(ResponseError::Unknown(_))
        ));
    }

    #[test]
    fn display_and_is_error() {
        assert_eq!(
            ErrorCode::NOT_COORDINATOR.to_string(),
            "NOT_COORDINATOR (16)"
        );
        assert_eq!(
            ErrorCode::UNKNOWN_SERVER_ERROR.to_string(),
            "UNKNOWN_SERVER_ERROR (-1)"
        );
        assert!(!ErrorCode::NONE.is_error());
        assert!(ErrorCode::UNKNOWN_SERVER_ERROR.is_error());
        assert_eq!(ErrorCode::default(), ErrorCode::NONE);
    }
}
