//! The definition tables: one per scope, sorted by name, the single place
//! to add or change a key.
//!
//! Names, types, defaults, valid ranges, importance, update modes and
//! synonyms follow Apache Kafka 4.1. Where Vltava differs on purpose the
//! entry says so in a comment. Docs are one line in our own words.

use crate::net;
use crate::types::ConfigType::{Boolean, Double, Int, List, Long, Password, Short};
use crate::types::Importance::{High, Low, Medium};
use crate::types::UpdateMode::{ClusterWide, PerBroker, PerTopic, ReadOnly};
use crate::types::{
    BrokerSynonym, ConfigDef, ConfigType, CustomValidator, Importance, SynonymUnit, UpdateMode,
    Validator,
};

const LONG_MAX: &str = "9223372036854775807";
const INT_MAX: &str = "2147483647";

const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
const PROCESS_ROLES: &[&str] = &["broker", "controller"];
const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
const SSL_CLIENT_AUTH: &[&str] = &["required", "requested", "none"];

const fn broker(
    name: &'static str,
    ty: ConfigType,
    default: Option<&'static str>,
    importance: Importance,
    mode: UpdateMode,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef::new(name, ty, default, importance, mode, doc)
}

const fn topic(
    name: &'static str,
    ty: ConfigType,
    default: Option<&'static str>,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef::new(name, ty, default, Medium, PerTopic, doc)
}

const fn same(name: &'static str) -> BrokerSynonym {
    BrokerSynonym {
        name,
        unit: SynonymUnit::Same,
    }
}

const fn minutes(name: &'static str) -> BrokerSynonym {
    BrokerSynonym {
        name,
        unit: SynonymUnit::MinutesToMillis,
    }
}

const fn hours(name: &'static str) -> BrokerSynonym {
    BrokerSynonym {
        name,
        unit: SynonymUnit::HoursToMillis,
    }
}

static NO_TIERED_STORAGE: CustomValidator = CustomValidator {
    rule: "false (tiered storage is not available)",
    check: |v| match v.as_bool() {
        Some(true) => Err("tiered storage is not available on this broker".to_string()),
        _ => Ok(()),
    },
};

/// Every broker key Vltava accepts, sorted by name.
pub static BROKER_CONFIGS: &[ConfigDef] = &[
    broker("advertised.listeners", ConfigType::String, None, High, ReadOnly,
        "Listener addresses published to clients and other brokers; falls back to listeners.")
        .check(Validator::Custom(&net::ADVERTISED_LISTENERS)),
    // Authorization (issue 12): Kafka's StandardAuthorizer is the one
    // authorizer; its class name switches ACL checks on.
    broker("allow.everyone.if.no.acl.found", Boolean, Some("false"), Medium, ReadOnly,
        "With an authorizer: allow a request on a resource that has no ACL at all."),
    broker("authorizer.class.name", ConfigType::String, Some(""), Low, ReadOnly,
        "The authorizer; org.apache.kafka.metadata.authorizer.StandardAuthorizer turns ACL checks on, empty leaves them off."),
    broker("auto.create.topics.enable", Boolean, Some("true"), High, ReadOnly,
        "Create a topic on first use (metadata request or produce) when it does not exist."),
    broker("auto.leader.rebalance.enable", Boolean, Some("true"), High, ReadOnly,
        "Periodically give leadership back to in-sync preferred replicas (active controller)."),
    broker("background.threads", Int, Some("10"), High, ClusterWide,
        "Threads for background housekeeping work.")
        .at_least(1),
    broker("broker.heartbeat.interval.ms", Int, Some("2000"), Medium, ReadOnly,
        "How often a broker sends BrokerHeartbeat to the active controller.")
        .at_least(1),
    broker("broker.id", Int, Some("-1"), High, ReadOnly,
        "Older name of node.id; when both are set they must agree."),
    broker("broker.rack", ConfigType::String, None, Medium, ReadOnly,
        "Rack (or zone) of this broker, for spreading replicas across failure domains."),
    broker("broker.session.timeout.ms", Int, Some("9000"), Medium, ReadOnly,
        "A broker whose heartbeats stop this long is fenced by the controller.")
        .at_least(1),
    broker("compression.gzip.level", Int, Some("-1"), Medium, ClusterWide,
        "Gzip level used when compression.type is gzip.")
        .check(Validator::Custom(&net::GZIP_LEVEL)),
    broker("compression.lz4.level", Int, Some("9"), Medium, ClusterWide,
        "LZ4 level used when compression.type is lz4.")
        .between(1, 17),
    broker("compression.type", ConfigType::String, Some("producer"), High, ClusterWide,
        "Codec batches are stored with; producer keeps whatever the producer used.")
        .check(Validator::OneOf(COMPRESSION_TYPES)),
    broker("compression.zstd.level", Int, Some("3"), Medium, ClusterWide,
        "Zstandard level used when compression.type is zstd.")
        .between(-131_072, 22),
    broker("connection.failed.authentication.delay.ms", Int, Some("100"), Low, ReadOnly,
        "How long a connection whose authentication failed is held before it is closed (slows password guessing).")
        .at_least(0),
    broker("connections.max.idle.ms", Long, Some("600000"), Medium, ReadOnly,
        "Close client connections that have been idle this long."),
    broker("connections.max.reauth.ms", Long, Some("0"), Medium, PerBroker,
        "Longest a SASL session lasts before the client must authenticate again (KIP-368); 0 means forever.")
        .at_least(0),
    broker("controller.listener.names", ConfigType::String, None, High, ReadOnly,
        "Names of the listeners the controller quorum is reached on, comma-separated.")
        .check(Validator::Custom(&net::LISTENER_NAMES)),
    broker("controller.quorum.auto.join.enable", Boolean, Some("false"), High, ReadOnly,
        "Whether a controller of a dynamic quorum (KIP-853) that is not a voter adds itself as one once it has caught up."),
    broker("controller.quorum.bootstrap.servers", List, Some(""), High, ReadOnly,
        "host:port addresses used to discover the controller quorum.")
        .check(Validator::Custom(&net::BOOTSTRAP_SERVERS)),
    broker("controller.quorum.election.backoff.max.ms", Int, Some("1000"), High, ReadOnly,
        "Cap of the exponential backoff between lost elections.")
        .at_least(0),
    broker("controller.quorum.election.timeout.ms", Int, Some("1000"), High, ReadOnly,
        "Base of the random wait before a voter without a leader stands.")
        .at_least(1),
    broker("controller.quorum.fetch.timeout.ms", Int, Some("2000"), High, ReadOnly,
        "A follower that hears nothing from its leader this long starts a pre-vote.")
        .at_least(1),
    broker("controller.quorum.request.timeout.ms", Int, Some("2000"), Medium, ReadOnly,
        "An unanswered quorum request is sent again after this long.")
        .at_least(1),
    broker("controller.quorum.retry.backoff.ms", Int, Some("20"), Low, ReadOnly,
        "Wait before retrying a failed quorum request.")
        .at_least(0),
    broker("controller.quorum.voters", List, Some(""), High, ReadOnly,
        "Fixed set of metadata quorum voters as id@host:port entries.")
        .check(Validator::Custom(&net::QUORUM_VOTERS)),
    broker("default.replication.factor", Int, Some("1"), Medium, ReadOnly,
        "Replication factor for auto-created topics and for creates that pass -1."),
    broker("delegation.token.expiry.check.interval.ms", Long, Some("3600000"), Low, ReadOnly,
        "How often the active controller removes expired delegation tokens.")
        .at_least(1),
    broker("delegation.token.expiry.time.ms", Long, Some("86400000"), Medium, ReadOnly,
        "How long a delegation token lives from its creation or last renewal.")
        .at_least(1),
    broker("delegation.token.master.key", Password, None, Low, ReadOnly,
        "Deprecated name of delegation.token.secret.key, read when that is not set."),
    broker("delegation.token.max.lifetime.ms", Long, Some("604800000"), Medium, ReadOnly,
        "The longest a delegation token can live, however often it is renewed.")
        .at_least(1),
    broker("delegation.token.secret.key", Password, None, Medium, ReadOnly,
        "Secret for signing delegation tokens (the same on every node); unset disables them."),
    broker("delete.topic.enable", Boolean, Some("true"), High, ReadOnly,
        "Allow topics to be deleted; when false, deletes are refused."),
    broker("fetch.max.bytes", Int, Some("57671680"), Medium, ReadOnly,
        "Upper bound on the bytes one fetch response carries.")
        .at_least(1024),
    broker("follower.replication.throttled.rate", Long, Some("9223372036854775807"), Medium, PerBroker,
        "Bytes per second a follower fetches for its throttled replicas while outside the ISR.")
        .at_least(0),
    broker("group.consumer.heartbeat.interval.ms", Int, Some("5000"), Medium, ReadOnly,
        "How often members of consumer groups of the new protocol (KIP-848) are told to heartbeat.")
        .at_least(1),
    broker("group.consumer.max.size", Int, Some(INT_MAX), Medium, ReadOnly,
        "Most members one consumer group of the new protocol (KIP-848) may have.")
        .at_least(1),
    broker("group.consumer.session.timeout.ms", Int, Some("45000"), Medium, ReadOnly,
        "How long a member of a consumer group of the new protocol (KIP-848) may go without a heartbeat before it is removed.")
        .at_least(1),
    broker("group.initial.rebalance.delay.ms", Int, Some("3000"), Medium, ReadOnly,
        "How long a new, empty group waits for more members before its first rebalance."),
    broker("group.max.session.timeout.ms", Int, Some("1800000"), Medium, ReadOnly,
        "Largest session timeout a consumer may ask for."),
    broker("group.max.size", Int, Some(INT_MAX), Medium, ReadOnly,
        "Most members one classic consumer group may have.")
        .at_least(1),
    broker("group.min.session.timeout.ms", Int, Some("6000"), Medium, ReadOnly,
        "Smallest session timeout a consumer may ask for."),
    // Vltava's own (no Kafka equivalent): the HTTP listener for health
    // probes, /metrics and consumer-lag evaluation. Empty: no listener;
    // `vltava server` on a single node sets 127.0.0.1:9644 when unset.
    broker("http.authentication", ConfigType::String, Some("none"), Medium, ReadOnly,
        "basic: the HTTP listener needs Basic credentials or a client certificate (not /health/*); none: anonymous allowed.")
        .check(Validator::OneOf(&["none", "basic"])),
    broker("http.lag.intervals", Int, Some("10"), Low, ReadOnly,
        "Committed offsets kept per group and partition for lag evaluation (Burrow's intervals).")
        .at_least(2),
    broker("http.lag.notifier.threshold", ConfigType::String, Some("WARN"), Low, ReadOnly,
        "Lowest group status (WARN or ERR) whose changes are POSTed to http.lag.notifier.url, with the change back below it.")
        .check(Validator::OneOf(&["WARN", "ERR"])),
    broker("http.lag.notifier.timeout.ms", Int, Some("5000"), Low, ReadOnly,
        "How long one webhook POST of a group's status change may take.")
        .at_least(1),
    broker("http.lag.notifier.url", ConfigType::String, Some(""), Low, ReadOnly,
        "URL POSTed a JSON body when a group's lag status changes (Burrow's HTTP notifier); empty: none."),
    broker("http.lag.sample.interval.ms", Int, Some("5000"), Low, ReadOnly,
        "How often committed offsets and log end offsets are sampled for lag evaluation.")
        .at_least(100),
    broker("http.listener.security.protocol", ConfigType::String, Some("PLAINTEXT"), Medium, ReadOnly,
        "PLAINTEXT or SSL for the HTTP listener; SSL takes listener.name.http.ssl.* (else ssl.*) as a Kafka listener does.")
        .check(Validator::OneOf(&["PLAINTEXT", "SSL"])),
    broker("http.listeners", List, Some(""), Medium, ReadOnly,
        "host:port addresses of the HTTP listener (health, metrics, consumer lag); empty turns it off.")
        .check(Validator::Custom(&net::BOOTSTRAP_SERVERS)),
    broker("inter.broker.listener.name", ConfigType::String, None, Medium, ReadOnly,
        "Listener brokers use to talk to each other; unset means security.inter.broker.protocol's name."),
    // Kafka 4.0's test-only escape hatch below metadata.log.segment.bytes' minimum; never described.
    broker("internal.metadata.log.segment.bytes", Int, None, Low, ReadOnly,
        "Test-only metadata log segment size that overrides metadata.log.segment.bytes without its minimum.")
        .at_least(12)
        .internal(),
    broker("leader.imbalance.check.interval.seconds", Long, Some("300"), High, ReadOnly,
        "How often the active controller checks for leadership imbalance.")
        .at_least(1),
    broker("leader.replication.throttled.rate", Long, Some("9223372036854775807"), Medium, PerBroker,
        "Bytes per second a leader sends its throttled replicas while they are outside the ISR.")
        .at_least(0),
    broker("listener.security.protocol.map", ConfigType::String,
        Some("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"), Low, PerBroker,
        "Security protocol of each listener name, as NAME:PROTOCOL pairs.")
        .check(Validator::Custom(&net::PROTOCOL_MAP)),
    broker("listeners", ConfigType::String, Some("PLAINTEXT://:9092"), High, PerBroker,
        "Addresses to accept connections on, as NAME://host:port; an empty host means all interfaces.")
        .check(Validator::Custom(&net::LISTENERS)),
    broker("log.cleaner.backoff.ms", Long, Some("15000"), Medium, ClusterWide,
        "How long the cleaner sleeps when no log needs cleaning.")
        .at_least(0),
    broker("log.cleaner.dedupe.buffer.size", Long, Some("134217728"), Medium, ClusterWide,
        "Memory for the key-offset map shared by all cleaner threads."),
    broker("log.cleaner.delete.retention.ms", Long, Some("86400000"), Medium, ClusterWide,
        "Broker default for delete.retention.ms.")
        .at_least(0),
    broker("log.cleaner.enable", Boolean, Some("true"), Medium, ReadOnly,
        "Run the log cleaner, which compacted topics (including the offsets topic) need."),
    broker("log.cleaner.io.buffer.load.factor", Double, Some("0.9"), Medium, ClusterWide,
        "How full the cleaner's dedupe buffer may get."),
    broker("log.cleaner.io.buffer.size", Int, Some("524288"), Medium, ClusterWide,
        "Memory for cleaner read and write buffers across all cleaner threads.")
        .at_least(0),
    broker("log.cleaner.io.max.bytes.per.second", Double, Some("1.7976931348623157E308"), Medium, ClusterWide,
        "Throttle on the cleaner's combined read and write rate."),
    broker("log.cleaner.max.compaction.lag.ms", Long, Some(LONG_MAX), Medium, ClusterWide,
        "Broker default for max.compaction.lag.ms.")
        .at_least(1),
    broker("log.cleaner.min.cleanable.ratio", Double, Some("0.5"), Medium, ClusterWide,
        "Broker default for min.cleanable.dirty.ratio.")
        .check(Validator::DoubleBetween(0.0, 1.0)),
    broker("log.cleaner.min.compaction.lag.ms", Long, Some("0"), Medium, ClusterWide,
        "Broker default for min.compaction.lag.ms.")
        .at_least(0),
    broker("log.cleaner.threads", Int, Some("1"), Medium, ClusterWide,
        "Threads that compact logs.")
        .at_least(0),
    broker("log.cleanup.policy", List, Some("delete"), Medium, ClusterWide,
        "Broker default for cleanup.policy.")
        .check(Validator::ListOf(CLEANUP_POLICIES)),
    broker("log.dir", ConfigType::String, Some("/tmp/kafka-logs"), High, ReadOnly,
        "Data directory, used when log.dirs is not set."),
    broker("log.dirs", ConfigType::String, None, High, ReadOnly,
        "Data directories, comma-separated; overrides log.dir."),
    broker("log.flush.interval.messages", Long, Some(LONG_MAX), High, ClusterWide,
        "Broker default for flush.messages.")
        .at_least(1),
    // Kafka leaves the broker key unchecked and rejects a negative value only
    // when a topic's config is built; Vltava rejects it up front.
    broker("log.flush.interval.ms", Long, None, High, ClusterWide,
        "Broker default for flush.ms; unset means log.flush.scheduler.interval.ms.")
        .at_least(0),
    broker("log.flush.offset.checkpoint.interval.ms", Int, Some("60000"), High, ReadOnly,
        "How often the recovery point of each log is written to disk.")
        .at_least(0),
    broker("log.flush.scheduler.interval.ms", Long, Some(LONG_MAX), High, ReadOnly,
        "How often the flusher looks for logs due a flush."),
    broker("log.flush.start.offset.checkpoint.interval.ms", Int, Some("60000"), High, ReadOnly,
        "How often the log start offset of each log is written to disk.")
        .at_least(0),
    broker("log.index.interval.bytes", Int, Some("4096"), Medium, ClusterWide,
        "Broker default for index.interval.bytes.")
        .at_least(0),
    broker("log.index.size.max.bytes", Int, Some("10485760"), Medium, ClusterWide,
        "Broker default for segment.index.bytes.")
        .at_least(4),
    broker("log.local.retention.bytes", Long, Some("-2"), Medium, ClusterWide,
        "Broker default for local.retention.bytes.")
        .at_least(-2),
    broker("log.local.retention.ms", Long, Some("-2"), Medium, ClusterWide,
        "Broker default for local.retention.ms.")
        .at_least(-2),
    // Removed in Kafka 4.0; accepted for older configs, with its 3.x default.
    broker("log.message.downconversion.enable", Boolean, Some("true"), Low, ClusterWide,
        "Deprecated (Kafka 3.x): broker default for message.downconversion.enable."),
    // Removed in Kafka 4.0; accepted for older configs, with its 3.x default.
    broker("log.message.format.version", ConfigType::String, Some("3.0-IV1"), Medium, ReadOnly,
        "Deprecated (Kafka 3.x): broker default for message.format.version; ignored.")
        .check(Validator::Custom(&net::FORMAT_VERSION)),
    broker("log.message.timestamp.after.max.ms", Long, Some("3600000"), Medium, ClusterWide,
        "Broker default for message.timestamp.after.max.ms.")
        .at_least(0),
    broker("log.message.timestamp.before.max.ms", Long, Some(LONG_MAX), Medium, ClusterWide,
        "Broker default for message.timestamp.before.max.ms.")
        .at_least(0),
    // Removed in Kafka 4.0; accepted for older configs, with its 3.x default.
    broker("log.message.timestamp.difference.max.ms", Long, Some(LONG_MAX), Medium, ClusterWide,
        "Deprecated (Kafka 3.x): broker default for message.timestamp.difference.max.ms.")
        .at_least(0),
    broker("log.message.timestamp.type", ConfigType::String, Some("CreateTime"), Medium, ClusterWide,
        "Broker default for message.timestamp.type.")
        .check(Validator::OneOf(TIMESTAMP_TYPES)),
    broker("log.preallocate", Boolean, Some("false"), Medium, ClusterWide,
        "Broker default for preallocate."),
    broker("log.retention.bytes", Long, Some("-1"), High, ClusterWide,
        "Broker default for retention.bytes; -1 means no size limit."),
    broker("log.retention.check.interval.ms", Long, Some("300000"), Medium, ReadOnly,
        "How often logs are checked for segments past retention.")
        .at_least(1),
    broker("log.retention.hours", Int, Some("168"), High, ReadOnly,
        "Retention in hours; used when neither log.retention.ms nor log.retention.minutes is set."),
    broker("log.retention.minutes", Int, None, High, ReadOnly,
        "Retention in minutes; used when log.retention.ms is not set."),
    broker("log.retention.ms", Long, None, High, ClusterWide,
        "Broker default for retention.ms; wins over the minutes and hours forms; negative means no limit."),
    broker("log.roll.hours", Int, Some("168"), High, ReadOnly,
        "Segment roll time in hours; used when log.roll.ms is not set.")
        .at_least(1),
    broker("log.roll.jitter.hours", Int, Some("0"), High, ReadOnly,
        "Segment roll jitter in hours; used when log.roll.jitter.ms is not set.")
        .at_least(0),
    // Kafka checks this range only when a topic's config is built; Vltava
    // rejects a bad value up front.
    broker("log.roll.jitter.ms", Long, None, High, ClusterWide,
        "Broker default for segment.jitter.ms; unset means log.roll.jitter.hours.")
        .at_least(0),
    // As above: Kafka defers the check, Vltava does it at startup.
    broker("log.roll.ms", Long, None, High, ClusterWide,
        "Broker default for segment.ms; unset means log.roll.hours.")
        .at_least(1),
    broker("log.segment.bytes", Int, Some("1073741824"), High, ClusterWide,
        "Broker default for segment.bytes.")
        .at_least(1_048_576),
    broker("log.segment.delete.delay.ms", Long, Some("60000"), High, ClusterWide,
        "Broker default for file.delete.delay.ms.")
        .at_least(0),
    broker("max.connection.creation.rate", Int, Some(INT_MAX), Medium, ClusterWide,
        "Most new connections per second the broker accepts.")
        .at_least(0),
    broker("max.connections", Int, Some(INT_MAX), Medium, ClusterWide,
        "Most connections the broker holds open at once.")
        .at_least(0),
    broker("max.connections.per.ip", Int, Some(INT_MAX), Medium, ClusterWide,
        "Most connections from a single IP address.")
        .at_least(0),
    broker("max.connections.per.ip.overrides", ConfigType::String, Some(""), Medium, ClusterWide,
        "Per-host exceptions to max.connections.per.ip, as host:count pairs."),
    broker("message.max.bytes", Int, Some("1048588"), High, ClusterWide,
        "Broker default for max.message.bytes: largest record batch accepted.")
        .at_least(0),
    broker("metadata.log.dir", ConfigType::String, None, High, ReadOnly,
        "Directory of the metadata log; unset means the first data directory."),
    broker("metadata.log.max.record.bytes.between.snapshots", Long, Some("20971520"), High, ReadOnly,
        "Snapshot the metadata after this many new record bytes.")
        .at_least(1),
    broker("metadata.log.max.snapshot.interval.ms", Long, Some("3600000"), High, ReadOnly,
        "Snapshot new metadata at least this often (0: never by time).")
        .at_least(0),
    // Kafka's minimum: a metadata batch larger than a segment cannot be
    // appended at all, which would stop the node.
    broker("metadata.log.segment.bytes", Int, Some("1073741824"), High, ReadOnly,
        "Size of a metadata log segment; segments wholly before the latest snapshot are deleted.")
        .at_least(8 * 1024 * 1024),
    broker("metadata.max.retention.bytes", Long, Some("104857600"), High, ReadOnly,
        "Size of old metadata snapshots and log to keep (-1: no limit).")
        .at_least(-1),
    broker("metadata.max.retention.ms", Long, Some("604800000"), High, ReadOnly,
        "Age of old metadata snapshots and log to keep (-1: no limit).")
        .at_least(-1),
    broker("min.insync.replicas", Int, Some("1"), High, ClusterWide,
        "Broker default for min.insync.replicas.")
        .at_least(1),
    broker("node.id", Int, None, High, ReadOnly,
        "Id of this node in the cluster, for both the broker and the controller role.")
        .at_least(0),
    broker("num.io.threads", Int, Some("8"), High, ClusterWide,
        "Threads that handle requests (including their disk work).")
        .at_least(1),
    broker("num.network.threads", Int, Some("3"), High, ClusterWide,
        "Threads per listener that read requests and write responses.")
        .at_least(1),
    broker("num.partitions", Int, Some("1"), Medium, ReadOnly,
        "Partition count of topics created without one.")
        .at_least(1),
    broker("num.recovery.threads.per.data.dir", Int, Some("2"), High, ClusterWide,
        "Threads per data directory for log recovery at startup and flushing at shutdown.")
        .at_least(1),
    broker("num.replica.fetchers", Int, Some("1"), High, ClusterWide,
        "Fetcher threads per source broker for follower replication."),
    broker("offset.metadata.max.bytes", Int, Some("4096"), High, ReadOnly,
        "Largest metadata string allowed with a committed offset."),
    broker("offsets.commit.timeout.ms", Int, Some("5000"), High, ReadOnly,
        "How long an offset commit waits for the offsets topic's replicas.")
        .at_least(1),
    broker("offsets.load.buffer.size", Int, Some("5242880"), High, ReadOnly,
        "Read size when loading group state from the offsets topic.")
        .at_least(1),
    broker("offsets.retention.check.interval.ms", Long, Some("600000"), High, ReadOnly,
        "How often expired committed offsets are looked for.")
        .at_least(1),
    broker("offsets.retention.minutes", Int, Some("10080"), High, ReadOnly,
        "How long committed offsets of an empty or unsubscribed group are kept.")
        .at_least(1),
    broker("offsets.topic.num.partitions", Int, Some("50"), High, ReadOnly,
        "Partitions of __consumer_offsets; do not change once the topic exists.")
        .at_least(1),
    broker("offsets.topic.replication.factor", Short, Some("3"), High, ReadOnly,
        "Replication factor of __consumer_offsets; it is not created until that many brokers exist.")
        .at_least(1),
    broker("offsets.topic.segment.bytes", Int, Some("104857600"), High, ReadOnly,
        "Segment size of __consumer_offsets, kept small for fast compaction and loading.")
        .at_least(1),
    broker("principal.builder.class", ConfigType::String, Some("org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"), Medium, PerBroker,
        "How a connection's principal is built; only Kafka's default builder (User:<name>) is offered."),
    // Kafka has no default and requires the key; Vltava's default runs one
    // node in both roles.
    broker("process.roles", List, Some("broker,controller"), High, ReadOnly,
        "Roles this process plays: broker, controller, or both.")
        .check(Validator::NonEmptyListOf(PROCESS_ROLES)),
    broker("producer.id.expiration.ms", Int, Some("86400000"), Low, ClusterWide,
        "How long a partition leader keeps the state of an idle producer id.")
        .at_least(1),
    broker("queued.max.request.bytes", Long, Some("-1"), Medium, ReadOnly,
        "Bytes of queued requests before no more are read; -1 means no limit."),
    broker("queued.max.requests", Int, Some("500"), High, ReadOnly,
        "Requests queued for the handler threads before network threads stop reading.")
        .at_least(1),
    broker("quota.window.num", Int, Some("11"), Low, ReadOnly,
        "Samples kept to measure client quota rates: the window is this many samples.")
        .at_least(1),
    broker("quota.window.size.seconds", Int, Some("1"), Low, ReadOnly,
        "Length of one client quota sample, in seconds.")
        .at_least(1),
    broker("replica.fetch.backoff.ms", Int, Some("1000"), Medium, ReadOnly,
        "How long a follower waits after a fetch error.")
        .at_least(0),
    broker("replica.fetch.max.bytes", Int, Some("1048576"), Medium, ReadOnly,
        "Bytes a follower asks for per partition (a larger first batch still comes through).")
        .at_least(0),
    broker("replica.fetch.min.bytes", Int, Some("1"), High, ReadOnly,
        "Bytes a follower fetch waits for before the leader answers."),
    broker("replica.fetch.response.max.bytes", Int, Some("10485760"), Medium, ReadOnly,
        "Bytes a follower asks for per fetch response in total.")
        .at_least(0),
    broker("replica.fetch.wait.max.ms", Int, Some("500"), High, ReadOnly,
        "Longest a follower fetch waits on the leader; keep below replica.lag.time.max.ms."),
    broker("replica.high.watermark.checkpoint.interval.ms", Long, Some("5000"), High, ReadOnly,
        "How often high watermarks are written to disk."),
    broker("replica.lag.time.max.ms", Long, Some("30000"), High, ReadOnly,
        "A follower that has not caught up for this long leaves the ISR."),
    broker("replica.selector.class", ConfigType::String, None, Medium, ReadOnly,
        "Replica selector for consumers with client.rack (KIP-392): RackAwareReplicaSelector, or unset.")
        .check(Validator::OneOf(&[RACK_AWARE_REPLICA_SELECTOR])),
    broker("replica.socket.receive.buffer.bytes", Int, Some("65536"), High, ReadOnly,
        "Socket receive buffer of follower connections."),
    broker("replica.socket.timeout.ms", Int, Some("30000"), High, ReadOnly,
        "Socket timeout of follower connections."),
    broker("replication.quota.window.num", Int, Some("11"), Low, ReadOnly,
        "Samples kept to measure replication throttle rates: the window is this many samples.")
        .at_least(1),
    broker("replication.quota.window.size.seconds", Int, Some("1"), Low, ReadOnly,
        "Length of one replication throttle sample, in seconds.")
        .at_least(1),
    broker("request.timeout.ms", Int, Some("30000"), High, ReadOnly,
        "How long the broker's own client requests wait for an answer."),
    broker("sasl.enabled.mechanisms", List, Some("GSSAPI"), Medium, PerBroker,
        "SASL mechanisms the broker offers."),
    broker("sasl.jaas.config", Password, None, Medium, PerBroker,
        "JAAS login settings for SASL connections."),
    // The Kerberos and login-refresh keys: per-listener reconfigurable in
    // Kafka (DynamicListenerConfig), so AlterConfigs on a broker takes them.
    broker("sasl.kerberos.kinit.cmd", ConfigType::String, Some("/usr/bin/kinit"), Medium, PerBroker,
        "Kerberos kinit command path."),
    broker("sasl.kerberos.min.time.before.relogin", Long, Some("60000"), Medium, PerBroker,
        "Login thread sleep time between refresh attempts, in milliseconds."),
    broker("sasl.kerberos.principal.to.local.rules", List, Some("DEFAULT"), Medium, PerBroker,
        "Rules mapping principal names to short names."),
    broker("sasl.kerberos.service.name", ConfigType::String, None, Medium, PerBroker,
        "Kerberos principal name Kafka runs as."),
    broker("sasl.kerberos.ticket.renew.jitter", Double, Some("0.05"), Medium, PerBroker,
        "Random jitter added to the ticket renewal time."),
    broker("sasl.kerberos.ticket.renew.window.factor", Double, Some("0.8"), Medium, PerBroker,
        "Fraction of the ticket lifetime after which the login thread renews it."),
    broker("sasl.login.refresh.buffer.seconds", Short, Some("300"), Medium, PerBroker,
        "Seconds of credential lifetime to keep as buffer when refreshing (OAUTHBEARER).")
        .check(Validator::Between(0, 3600)),
    broker("sasl.login.refresh.min.period.seconds", Short, Some("60"), Medium, PerBroker,
        "Least seconds the login refresh thread waits between refreshes (OAUTHBEARER).")
        .check(Validator::Between(0, 900)),
    broker("sasl.login.refresh.window.factor", Double, Some("0.8"), Medium, PerBroker,
        "Fraction of the credential lifetime after which the login thread refreshes it (OAUTHBEARER).")
        .check(Validator::DoubleBetween(0.5, 1.0)),
    broker("sasl.login.refresh.window.jitter", Double, Some("0.05"), Medium, PerBroker,
        "Random jitter added to the login refresh time (OAUTHBEARER).")
        .check(Validator::DoubleBetween(0.0, 0.25)),
    broker("sasl.mechanism.controller.protocol", ConfigType::String, Some("GSSAPI"), High, ReadOnly,
        "SASL mechanism a node uses to reach the controllers."),
    broker("sasl.mechanism.inter.broker.protocol", ConfigType::String, Some("GSSAPI"), Medium, PerBroker,
        "SASL mechanism brokers use with each other."),
    // Signed OAUTHBEARER tokens (KIP-768), read when a listener starts;
    // usually given per listener as listener.name.<l>.oauthbearer.<key>.
    broker("sasl.oauthbearer.clock.skew.seconds", Int, Some("30"), Low, ReadOnly,
        "Seconds of clock difference with the identity provider allowed in exp, nbf and iat."),
    broker("sasl.oauthbearer.expected.audience", List, None, Low, ReadOnly,
        "Audiences a signed token's aud must name one of; unset, a token with an aud is refused."),
    broker("sasl.oauthbearer.expected.issuer", ConfigType::String, None, Low, ReadOnly,
        "The iss a signed token must carry; unset, any issuer."),
    broker("sasl.oauthbearer.jwks.endpoint.refresh.ms", Long, Some("3600000"), Low, ReadOnly,
        "How often the JWKS endpoint is fetched (or the JWKS file read) again.")
        .at_least(0),
    broker("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", Long, Some("10000"), Low, ReadOnly,
        "Longest wait between retries of a failed JWKS endpoint fetch."),
    broker("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", Long, Some("100"), Low, ReadOnly,
        "First wait before retrying a failed JWKS endpoint fetch (doubling after)."),
    broker("sasl.oauthbearer.jwks.endpoint.url", ConfigType::String, None, Medium, ReadOnly,
        "The identity provider's public keys: an https://, http:// or file: URL of a JWKS document."),
    broker("sasl.oauthbearer.scope.claim.name", ConfigType::String, Some("scope"), Low, ReadOnly,
        "The claim of a signed token that holds its scope."),
    broker("sasl.oauthbearer.sub.claim.name", ConfigType::String, Some("sub"), Low, ReadOnly,
        "The claim of a signed token that names the principal."),
    broker("sasl.server.callback.handler.class", ConfigType::Class, None, Medium, ReadOnly,
        "How a mechanism checks credentials; for OAUTHBEARER, Kafka's validator class switches to signed tokens."),
    broker("sasl.server.max.receive.size", Int, Some("524288"), Low, ReadOnly,
        "Largest SASL token accepted before authentication completes.")
        .at_least(1),
    broker("security.inter.broker.protocol", ConfigType::String, Some("PLAINTEXT"), Medium, ReadOnly,
        "Security protocol between brokers; do not set together with inter.broker.listener.name.")
        .check(Validator::OneOf(SECURITY_PROTOCOLS)),
    broker("socket.listen.backlog.size", Int, Some("50"), Medium, ReadOnly,
        "Pending connections the listen socket queues.")
        .at_least(1),
    broker("socket.receive.buffer.bytes", Int, Some("102400"), High, ReadOnly,
        "SO_RCVBUF of accepted sockets; -1 keeps the OS default."),
    broker("socket.request.max.bytes", Int, Some("104857600"), High, ReadOnly,
        "Largest request frame accepted.")
        .at_least(1),
    broker("socket.send.buffer.bytes", Int, Some("102400"), High, ReadOnly,
        "SO_SNDBUF of accepted sockets; -1 keeps the OS default."),
    broker("ssl.cipher.suites", List, Some(""), Medium, PerBroker,
        "TLS cipher suites allowed (IANA or Java names); empty allows every suite the TLS library offers."),
    broker("ssl.client.auth", ConfigType::String, Some("none"), Medium, PerBroker,
        "Whether TLS clients must, may or need not present a certificate.")
        .check(Validator::OneOf(SSL_CLIENT_AUTH)),
    broker("ssl.enabled.protocols", List, Some("TLSv1.2,TLSv1.3"), Medium, PerBroker,
        "TLS protocol versions allowed on SSL and SASL_SSL listeners."),
    broker("ssl.endpoint.identification.algorithm", ConfigType::String, Some("https"), Low, PerBroker,
        "Host name verification of the peer's certificate when this broker is the TLS client."),
    broker("ssl.key.password", Password, None, Medium, PerBroker,
        "Password of the private key: an encrypted PEM key, or a JKS key whose password differs from the store's."),
    broker("ssl.keystore.certificate.chain", Password, None, Medium, PerBroker,
        "The certificate chain in PEM, inline (with ssl.keystore.type=PEM)."),
    broker("ssl.keystore.key", Password, None, Medium, PerBroker,
        "The private key in PEM, inline (with ssl.keystore.type=PEM)."),
    broker("ssl.keystore.location", ConfigType::String, None, Medium, PerBroker,
        "Path of the key store file."),
    broker("ssl.keystore.password", Password, None, Medium, PerBroker,
        "Password of the key store file."),
    broker("ssl.keystore.type", ConfigType::String, Some("JKS"), Medium, PerBroker,
        "Format of the key store: PEM, PKCS12 or JKS (when not set, the file's content decides)."),
    broker("ssl.principal.mapping.rules", ConfigType::String, Some("DEFAULT"), Low, ReadOnly,
        "Rules mapping a client certificate's subject to a principal name (Kafka's RULE:pattern/replacement/[LU] list)."),
    broker("ssl.protocol", ConfigType::String, Some("TLSv1.3"), Medium, PerBroker,
        "The TLS protocol named when the context is made; the versions allowed are ssl.enabled.protocols."),
    broker("ssl.truststore.certificates", Password, None, Medium, PerBroker,
        "Trusted certificates in PEM, inline (with ssl.truststore.type=PEM)."),
    broker("ssl.truststore.location", ConfigType::String, None, Medium, PerBroker,
        "Path of the trust store file."),
    broker("ssl.truststore.password", Password, None, Medium, PerBroker,
        "Password of the trust store file."),
    broker("ssl.truststore.type", ConfigType::String, Some("JKS"), Medium, PerBroker,
        "Format of the trust store: PEM, PKCS12 or JKS (when not set, the file's content decides)."),
    broker("super.users", ConfigType::String, Some(""), Medium, ReadOnly,
        "Principals allowed everything by the authorizer, separated by semicolons (User:admin;User:ops)."),
    broker("transaction.abort.timed.out.transaction.cleanup.interval.ms", Int, Some("10000"), Low, ReadOnly,
        "How often transactions past their timeout are aborted.")
        .at_least(1),
    broker("transaction.max.timeout.ms", Int, Some("900000"), High, ReadOnly,
        "Largest transaction timeout a producer may ask for.")
        .at_least(1),
    broker("transaction.remove.expired.transaction.cleanup.interval.ms", Int, Some("3600000"), Low, ReadOnly,
        "How often expired transactional ids are removed.")
        .at_least(1),
    broker("transaction.state.log.min.isr", Int, Some("2"), High, ReadOnly,
        "min.insync.replicas of __transaction_state.")
        .at_least(1),
    broker("transaction.state.log.num.partitions", Int, Some("50"), High, ReadOnly,
        "Partitions of __transaction_state; do not change once the topic exists.")
        .at_least(1),
    broker("transaction.state.log.replication.factor", Short, Some("3"), High, ReadOnly,
        "Replication factor of __transaction_state; it is not created until that many brokers exist.")
        .at_least(1),
    broker("transaction.state.log.segment.bytes", Int, Some("104857600"), High, ReadOnly,
        "Segment size of __transaction_state.")
        .at_least(1),
    broker("transactional.id.expiration.ms", Int, Some("604800000"), High, ReadOnly,
        "A transactional id with no transaction activity for this long is forgotten.")
        .at_least(1),
    broker("unclean.leader.election.enable", Boolean, Some("false"), High, ClusterWide,
        "Broker default for unclean.leader.election.enable."),
];

/// The one `replica.selector.class` Vltava has (Kafka's class name): a
/// consumer is sent to a replica in its own rack (KIP-392).
pub const RACK_AWARE_REPLICA_SELECTOR: &str =
    "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// Topic keys that have no broker-level counterpart: their default comes
/// from the topic table alone.
pub static TOPIC_CONFIGS_WITHOUT_BROKER_SYNONYM: &[&str] = &[
    "follower.replication.throttled.replicas",
    "internal.segment.bytes",
    "leader.replication.throttled.replicas",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
];

/// Every topic key Vltava accepts, sorted by name.
pub static TOPIC_CONFIGS: &[ConfigDef] = &[
    topic(
        "cleanup.policy",
        List,
        Some("delete"),
        "What happens to old segments: delete them past retention, compact by key, or both.",
    )
    .check(Validator::ListOf(CLEANUP_POLICIES))
    .synonyms(&[same("log.cleanup.policy")]),
    topic(
        "compression.gzip.level",
        Int,
        Some("-1"),
        "Gzip level used when compression.type is gzip.",
    )
    .check(Validator::Custom(&net::GZIP_LEVEL))
    .synonyms(&[same("compression.gzip.level")]),
    topic(
        "compression.lz4.level",
        Int,
        Some("9"),
        "LZ4 level used when compression.type is lz4.",
    )
    .between(1, 17)
    .synonyms(&[same("compression.lz4.level")]),
    topic(
        "compression.type",
        ConfigType::String,
        Some("producer"),
        "Codec batches are stored with; producer keeps whatever the producer used.",
    )
    .check(Validator::OneOf(COMPRESSION_TYPES))
    .synonyms(&[same("compression.type")]),
    topic(
        "compression.zstd.level",
        Int,
        Some("3"),
        "Zstandard level used when compression.type is zstd.",
    )
    .between(-131_072, 22)
    .synonyms(&[same("compression.zstd.level")]),
    topic(
        "delete.retention.ms",
        Long,
        Some("86400000"),
        "How long tombstones stay readable in a compacted topic.",
    )
    .at_least(0)
    .synonyms(&[same("log.cleaner.delete.retention.ms")]),
    topic(
        "file.delete.delay.ms",
        Long,
        Some("60000"),
        "Grace period between dropping a segment and deleting its files.",
    )
    .at_least(0)
    .synonyms(&[same("log.segment.delete.delay.ms")]),
    topic(
        "flush.messages",
        Long,
        Some(LONG_MAX),
        "Force an fsync after this many messages (replication is the usual durability).",
    )
    .at_least(1)
    .synonyms(&[same("log.flush.interval.messages")]),
    topic(
        "flush.ms",
        Long,
        Some(LONG_MAX),
        "Force an fsync when data has waited this long (replication is the usual durability).",
    )
    .at_least(0)
    .synonyms(&[
        same("log.flush.interval.ms"),
        same("log.flush.scheduler.interval.ms"),
    ]),
    topic(
        "follower.replication.throttled.replicas",
        List,
        Some(""),
        "Replicas (partition:broker, or *) whose follower-side replication is throttled.",
    )
    .check(Validator::Custom(&net::THROTTLED_REPLICAS)),
    topic(
        "index.interval.bytes",
        Int,
        Some("4096"),
        "Bytes of log between offset index entries.",
    )
    .at_least(0)
    .synonyms(&[same("log.index.interval.bytes")]),
    // Kafka's internal escape hatch for tests that need segments smaller than
    // segment.bytes allows; never described. Kafka leaves it unchecked; Vltava
    // requires a positive size.
    topic(
        "internal.segment.bytes",
        Int,
        None,
        "Test-only segment size that overrides segment.bytes without its minimum.",
    )
    .at_least(1)
    .internal(),
    topic(
        "leader.replication.throttled.replicas",
        List,
        Some(""),
        "Replicas (partition:broker, or *) whose leader-side replication is throttled.",
    )
    .check(Validator::Custom(&net::THROTTLED_REPLICAS)),
    topic(
        "local.retention.bytes",
        Long,
        Some("-2"),
        "Local size limit when tiered storage is on; -2 means use retention.bytes.",
    )
    .at_least(-2)
    .synonyms(&[same("log.local.retention.bytes")]),
    topic(
        "local.retention.ms",
        Long,
        Some("-2"),
        "Local time limit when tiered storage is on; -2 means use retention.ms.",
    )
    .at_least(-2)
    .synonyms(&[same("log.local.retention.ms")]),
    topic(
        "max.compaction.lag.ms",
        Long,
        Some(LONG_MAX),
        "Longest a record may stay uncompacted in a compacted topic.",
    )
    .at_least(1)
    .synonyms(&[same("log.cleaner.max.compaction.lag.ms")]),
    topic(
        "max.message.bytes",
        Int,
        Some("1048588"),
        "Largest record batch (after compression) the topic accepts.",
    )
    .at_least(0)
    .synonyms(&[same("message.max.bytes")]),
    // Removed in Kafka 4.0 (down-conversion is gone); accepted with its 3.x default.
    ConfigDef::new(
        "message.downconversion.enable",
        Boolean,
        Some("true"),
        Low,
        PerTopic,
        "Deprecated (Kafka 3.x): allow converting batches down for old consumers; ignored.",
    )
    .synonyms(&[same("log.message.downconversion.enable")]),
    // Removed in Kafka 4.0; accepted with its 3.x default.
    topic(
        "message.format.version",
        ConfigType::String,
        Some("3.0-IV1"),
        "Deprecated (Kafka 3.x): on-disk message format version; ignored (always v2).",
    )
    .check(Validator::Custom(&net::FORMAT_VERSION))
    .synonyms(&[same("log.message.format.version")]),
    topic(
        "message.timestamp.after.max.ms",
        Long,
        Some("3600000"),
        "How far past broker time a CreateTime timestamp may be before the batch is refused.",
    )
    .at_least(0)
    .synonyms(&[same("log.message.timestamp.after.max.ms")]),
    topic(
        "message.timestamp.before.max.ms",
        Long,
        Some(LONG_MAX),
        "How far behind broker time a CreateTime timestamp may be before the batch is refused.",
    )
    .at_least(0)
    .synonyms(&[same("log.message.timestamp.before.max.ms")]),
    // Removed in Kafka 4.0; accepted with its 3.x default. Used for the
    // before/after bounds only when they are not set themselves.
    topic(
        "message.timestamp.difference.max.ms",
        Long,
        Some(LONG_MAX),
        "Deprecated (Kafka 3.x): one bound for both timestamp directions.",
    )
    .at_least(0)
    .synonyms(&[same("log.message.timestamp.difference.max.ms")]),
    topic(
        "message.timestamp.type",
        ConfigType::String,
        Some("CreateTime"),
        "Timestamp records keep: the producer's (CreateTime) or the broker's (LogAppendTime).",
    )
    .check(Validator::OneOf(TIMESTAMP_TYPES))
    .synonyms(&[same("log.message.timestamp.type")]),
    topic(
        "min.cleanable.dirty.ratio",
        Double,
        Some("0.5"),
        "Share of uncompacted log needed before the cleaner compacts a topic.",
    )
    .check(Validator::DoubleBetween(0.0, 1.0))
    .synonyms(&[same("log.cleaner.min.cleanable.ratio")]),
    topic(
        "min.compaction.lag.ms",
        Long,
        Some("0"),
        "Shortest time a record stays uncompacted in a compacted topic.",
    )
    .at_least(0)
    .synonyms(&[same("log.cleaner.min.compaction.lag.ms")]),
    topic(
        "min.insync.replicas",
        Int,
        Some("1"),
        "Replicas that must have a write before an acks=all produce succeeds.",
    )
    .at_least(1)
    .synonyms(&[same("min.insync.replicas")]),
    topic(
        "preallocate",
        Boolean,
        Some("false"),
        "Preallocate a new segment's file at its full size.",
    )
    .synonyms(&[same("log.preallocate")]),
    topic(
        "remote.log.copy.disable",
        Boolean,
        Some("false"),
        "Stop copying segments to tiered storage (tiered storage is not supported).",
    ),
    topic(
        "remote.log.delete.on.disable",
        Boolean,
        Some("false"),
        "Delete tiered data when tiered storage is turned off (tiered storage is not supported).",
    ),
    // Kafka accepts true when the broker has tiered storage turned on;
    // Vltava has no tiered storage, so (like Kafka without it) refuses true.
    topic(
        "remote.storage.enable",
        Boolean,
        Some("false"),
        "Keep old segments in tiered storage; Vltava has none, so only false is accepted.",
    )
    .check(Validator::Custom(&NO_TIERED_STORAGE)),
    topic(
        "retention.bytes",
        Long,
        Some("-1"),
        "Size a partition may grow to before old segments are deleted; -1 means no limit.",
    )
    .synonyms(&[same("log.retention.bytes")]),
    topic(
        "retention.ms",
        Long,
        Some("604800000"),
        "Age after which old segments are deleted; -1 means no limit.",
    )
    .at_least(-1)
    .synonyms(&[
        same("log.retention.ms"),
        minutes("log.retention.minutes"),
        hours("log.retention.hours"),
    ]),
    topic(
        "segment.bytes",
        Int,
        Some("1073741824"),
        "Size at which the active segment is rolled.",
    )
    .at_least(1_048_576)
    .synonyms(&[same("log.segment.bytes")]),
    topic(
        "segment.index.bytes",
        Int,
        Some("10485760"),
        "Size the offset index file of a segment is preallocated to.",
    )
    .at_least(4)
    .synonyms(&[same("log.index.size.max.bytes")]),
    topic(
        "segment.jitter.ms",
        Long,
        Some("0"),
        "Most random time taken off segment.ms, so partitions do not all roll together.",
    )
    .at_least(0)
    .synonyms(&[same("log.roll.jitter.ms"), hours("log.roll.jitter.hours")]),
    topic(
        "segment.ms",
        Long,
        Some("604800000"),
        "Age at which the active segment is rolled even if not full.",
    )
    .at_least(1)
    .synonyms(&[same("log.roll.ms"), hours("log.roll.hours")]),
    topic(
        "unclean.leader.election.enable",
        Boolean,
        Some("false"),
        "Let an out-of-sync replica become leader as a last resort, losing data.",
    )
    .synonyms(&[same("unclean.leader.election.enable")]),
];

/// The broker key's definition.
pub fn broker_def(name: &str) -> Option<&'static ConfigDef> {
    lookup(BROKER_CONFIGS, name)
}

/// The topic key's definition (internal keys included).
pub fn topic_def(name: &str) -> Option<&'static ConfigDef> {
    lookup(TOPIC_CONFIGS, name)
}

fn lookup(table: &'static [ConfigDef], name: &str) -> Option<&'static ConfigDef> {
    table
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .map(|i| &table[i])
}
