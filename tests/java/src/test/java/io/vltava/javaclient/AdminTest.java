package io.vltava.javaclient;

import static io.vltava.javaclient.Kafka.admin;
import static io.vltava.javaclient.Kafka.consumer;
import static io.vltava.javaclient.Kafka.createTopic;
import static io.vltava.javaclient.Kafka.failure;
import static io.vltava.javaclient.Kafka.name;
import static io.vltava.javaclient.Kafka.pollN;
import static io.vltava.javaclient.Kafka.producer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.AlterConfigsOptions;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.ListConsumerGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.MemberToRemove;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TopicListing;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ConsumerGroupState;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.GroupSubscribedToTopicException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidReplicaAssignmentException;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.OffsetOutOfRangeException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.TransactionalIdNotFoundException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.apache.kafka.common.errors.UnknownTopicIdException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The AdminClient calls Vltava serves, their results and Kafka's error
 * classes. The group calls use the API both the 3.9 and the 4.x clients
 * have (ConsumerGroupState, listConsumerGroups), deprecated in 4.x.
 */
@SuppressWarnings({"removal", "deprecation"})
@ExtendWith(VltavaExtension.class)
class AdminTest {
    private static final long T = 30;
    private final VltavaBroker broker;

    AdminTest(VltavaBroker broker) {
        this.broker = broker;
    }

    private static NewTopic topic(String name, int partitions) {
        return new NewTopic(name, partitions, (short) 1);
    }

    private static Config topicConfig(Admin admin, String topic) throws Exception {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        return admin.describeConfigs(List.of(r)).all().get(T, TimeUnit.SECONDS).get(r);
    }

    @Test
    void createDescribeAndListTopics(TestInfo info) throws Exception {
        String name = name(info);
        try (Admin admin = admin(broker)) {
            var created = admin.createTopics(List.of(topic(name, 3).configs(Map.of("retention.ms", "3600000",
                    "cleanup.policy", "compact"))));
            created.all().get(T, TimeUnit.SECONDS);
            assertEquals(3, created.numPartitions(name).get());
            assertEquals(1, created.replicationFactor(name).get());
            Uuid id = created.topicId(name).get();
            assertNotEquals(Uuid.ZERO_UUID, id);
            Map<String, String> createdConfigs = created.config(name).get().entries().stream()
                    .collect(Collectors.toMap(ConfigEntry::name, e -> String.valueOf(e.value())));
            assertEquals("3600000", createdConfigs.get("retention.ms"));
            assertEquals("compact", createdConfigs.get("cleanup.policy"));

            TopicDescription d = admin.describeTopics(List.of(name)).allTopicNames().get(T, TimeUnit.SECONDS)
                    .get(name);
            assertEquals(name, d.name());
            assertEquals(id, d.topicId());
            assertFalse(d.isInternal());
            assertEquals(3, d.partitions().size());
            for (int i = 0; i < 3; i++) {
                TopicPartitionInfo p = d.partitions().get(i);
                assertEquals(i, p.partition());
                assertEquals(1, p.leader().id());
                assertEquals(List.of(1), p.replicas().stream().map(Node::id).toList());
                assertEquals(List.of(1), p.isr().stream().map(Node::id).toList());
            }
            // By topic id too.
            TopicDescription byId = admin.describeTopics(TopicCollection.ofTopicIds(List.of(id)))
                    .allTopicIds().get(T, TimeUnit.SECONDS).get(id);
            assertEquals(name, byId.name());

            Map<String, TopicListing> listed = admin.listTopics().namesToListings().get(T, TimeUnit.SECONDS);
            assertEquals(id, listed.get(name).topicId());

            // validateOnly creates nothing.
            String dry = name + "-dry";
            admin.createTopics(List.of(topic(dry, 2)), new CreateTopicsOptions().validateOnly(true))
                    .all().get(T, TimeUnit.SECONDS);
            assertFalse(admin.listTopics().names().get(T, TimeUnit.SECONDS).contains(dry));
        }
    }

    @Test
    void createTopicErrors(TestInfo info) throws Exception {
        String name = name(info);
        try (Admin admin = admin(broker)) {
            admin.createTopics(List.of(topic(name, 1))).all().get(T, TimeUnit.SECONDS);
            failure(TopicExistsException.class, admin.createTopics(List.of(topic(name, 1))).all());
            // One broker: a replication factor of 2 cannot be met.
            failure(InvalidReplicationFactorException.class,
                    admin.createTopics(List.of(new NewTopic(name + "-rf", 1, (short) 2))).all());
            failure(InvalidPartitionsException.class,
                    admin.createTopics(List.of(new NewTopic(name + "-zero", 0, (short) 1))).all());
            failure(InvalidTopicException.class,
                    admin.createTopics(List.of(topic("bad/name", 1))).all());
            failure(InvalidTopicException.class,
                    admin.createTopics(List.of(topic("x".repeat(250), 1))).all());
            failure(InvalidConfigurationException.class, admin.createTopics(List.of(
                    topic(name + "-badvalue", 1).configs(Map.of("retention.ms", "soon")))).all());
            failure(InvalidConfigurationException.class, admin.createTopics(List.of(
                    topic(name + "-badname", 1).configs(Map.of("no.such.config", "1")))).all());
            // An explicit assignment naming a broker that does not exist.
            failure(InvalidReplicaAssignmentException.class, admin.createTopics(List.of(
                    new NewTopic(name + "-assign", Map.of(0, List.of(7))))).all());
            Set<String> names = admin.listTopics().names().get(T, TimeUnit.SECONDS);
            assertFalse(names.stream().anyMatch(n -> n.startsWith(name + "-")), "nothing half-created: " + names);
        }
    }

    @Test
    void deleteTopics(TestInfo info) throws Exception {
        String a = name(info);
        String b = a + "-b";
        try (Admin admin = admin(broker)) {
            var created = admin.createTopics(List.of(topic(a, 2), topic(b, 1)));
            created.all().get(T, TimeUnit.SECONDS);
            Uuid bId = created.topicId(b).get();
            admin.deleteTopics(List.of(a)).all().get(T, TimeUnit.SECONDS);
            admin.deleteTopics(TopicCollection.ofTopicIds(List.of(bId))).all().get(T, TimeUnit.SECONDS);
            Set<String> names = admin.listTopics().names().get(T, TimeUnit.SECONDS);
            assertFalse(names.contains(a));
            assertFalse(names.contains(b));
            failure(UnknownTopicOrPartitionException.class,
                    admin.describeTopics(List.of(a)).allTopicNames());
            failure(UnknownTopicOrPartitionException.class, admin.deleteTopics(List.of(a)).all());
            failure(UnknownTopicIdException.class,
                    admin.deleteTopics(TopicCollection.ofTopicIds(List.of(Uuid.randomUuid()))).all());
        }
    }

    @Test
    void createPartitions(TestInfo info) throws Exception {
        String name = name(info);
        try (Admin admin = admin(broker)) {
            admin.createTopics(List.of(topic(name, 1))).all().get(T, TimeUnit.SECONDS);
            admin.createPartitions(Map.of(name, NewPartitions.increaseTo(3))).all().get(T, TimeUnit.SECONDS);
            Kafka.waitUntil("three partitions", () -> {
                try {
                    return admin.describeTopics(List.of(name)).allTopicNames().get().get(name).partitions()
                            .size() == 3;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            try (KafkaProducer<String, String> p = producer(broker)) {
                assertEquals(2, p.send(new ProducerRecord<>(name, 2, "k", "v")).get().partition());
            }
            failure(InvalidPartitionsException.class,
                    admin.createPartitions(Map.of(name, NewPartitions.increaseTo(2))).all());
            failure(InvalidPartitionsException.class,
                    admin.createPartitions(Map.of(name, NewPartitions.increaseTo(3))).all());
            failure(UnknownTopicOrPartitionException.class,
                    admin.createPartitions(Map.of(name + "-none", NewPartitions.increaseTo(3))).all());
            // Two replicas for a new partition of a topic with one.
            failure(InvalidReplicaAssignmentException.class, admin.createPartitions(
                    Map.of(name, NewPartitions.increaseTo(4, List.of(List.of(1, 1))))).all());
        }
    }

    @Test
    void describeConfigs(TestInfo info) throws Exception {
        String name = name(info);
        try (Admin admin = admin(broker)) {
            admin.createTopics(List.of(topic(name, 1).configs(Map.of("retention.ms", "1234567"))))
                    .all().get(T, TimeUnit.SECONDS);
            Config c = topicConfig(admin, name);
            ConfigEntry retention = c.get("retention.ms");
            assertEquals("1234567", retention.value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, retention.source());
            assertFalse(retention.isReadOnly());
            assertFalse(retention.isSensitive());
            ConfigEntry segment = c.get("segment.bytes");
            assertEquals("1073741824", segment.value());
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, segment.source());
            assertEquals(ConfigEntry.ConfigType.INT, segment.type());
            ConfigEntry cleanup = c.get("cleanup.policy");
            assertEquals("delete", cleanup.value());
            assertEquals(ConfigEntry.ConfigType.LIST, cleanup.type());

            ConfigResource brokerRes = new ConfigResource(ConfigResource.Type.BROKER, "1");
            Config b = admin.describeConfigs(List.of(brokerRes)).all().get(T, TimeUnit.SECONDS).get(brokerRes);
            // Set with --set by the test fixture, as server.properties would.
            ConfigEntry delay = b.get("group.initial.rebalance.delay.ms");
            assertEquals("0", delay.value());
            assertEquals(ConfigEntry.ConfigSource.STATIC_BROKER_CONFIG, delay.source());
            ConfigEntry partitions = b.get("num.partitions");
            assertEquals("1", partitions.value());
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, partitions.source());

            ConfigResource missing = new ConfigResource(ConfigResource.Type.TOPIC, name + "-none");
            failure(UnknownTopicOrPartitionException.class, admin.describeConfigs(List.of(missing)).all());
        }
    }

    @Test
    void incrementalAlterConfigs(TestInfo info) throws Exception {
        String name = name(info);
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, name);
        try (Admin admin = admin(broker)) {
            admin.createTopics(List.of(topic(name, 1))).all().get(T, TimeUnit.SECONDS);
            admin.incrementalAlterConfigs(Map.of(r, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND))))
                    .all().get(T, TimeUnit.SECONDS);
            Config c = topicConfig(admin, name);
            assertEquals("7200000", c.get("retention.ms").value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, c.get("retention.ms").source());
            assertEquals("delete,compact", c.get("cleanup.policy").value());

            admin.incrementalAlterConfigs(Map.of(r, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", null), AlterConfigOp.OpType.DELETE),
                    new AlterConfigOp(new ConfigEntry("cleanup.policy", "delete"), AlterConfigOp.OpType.SUBTRACT))))
                    .all().get(T, TimeUnit.SECONDS);
            c = topicConfig(admin, name);
            assertEquals("604800000", c.get("retention.ms").value());
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, c.get("retention.ms").source());
            assertEquals("compact", c.get("cleanup.policy").value());

            // validateOnly changes nothing.
            admin.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(
                    new ConfigEntry("retention.ms", "1000"), AlterConfigOp.OpType.SET))),
                    new AlterConfigsOptions().validateOnly(true)).all().get(T, TimeUnit.SECONDS);
            assertEquals("604800000", topicConfig(admin, name).get("retention.ms").value());

            failure(InvalidConfigurationException.class, admin.incrementalAlterConfigs(Map.of(r, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all());
            failure(InvalidConfigurationException.class, admin.incrementalAlterConfigs(Map.of(r, List.of(
                    new AlterConfigOp(new ConfigEntry("no.such.config", "1"), AlterConfigOp.OpType.SET)))).all());
            ConfigResource missing = new ConfigResource(ConfigResource.Type.TOPIC, name + "-none");
            failure(UnknownTopicOrPartitionException.class, admin.incrementalAlterConfigs(Map.of(missing, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "1"), AlterConfigOp.OpType.SET)))).all());

            // A dynamic broker config, per broker.
            ConfigResource b = new ConfigResource(ConfigResource.Type.BROKER, "1");
            admin.incrementalAlterConfigs(Map.of(b, List.of(new AlterConfigOp(
                    new ConfigEntry("log.retention.ms", "86400000"), AlterConfigOp.OpType.SET))))
                    .all().get(T, TimeUnit.SECONDS);
            ConfigEntry e = admin.describeConfigs(List.of(b)).all().get(T, TimeUnit.SECONDS).get(b)
                    .get("log.retention.ms");
            assertEquals("86400000", e.value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_BROKER_CONFIG, e.source());
            admin.incrementalAlterConfigs(Map.of(b, List.of(new AlterConfigOp(
                    new ConfigEntry("log.retention.ms", null), AlterConfigOp.OpType.DELETE))))
                    .all().get(T, TimeUnit.SECONDS);
        }
    }

    @Test
    void describeCluster() throws Exception {
        try (Admin admin = admin(broker)) {
            DescribeClusterResult c = admin.describeCluster();
            String clusterId = c.clusterId().get(T, TimeUnit.SECONDS);
            assertNotNull(clusterId);
            assertEquals(22, clusterId.length(), "a base64 UUID: " + clusterId);
            Collection<Node> nodes = c.nodes().get(T, TimeUnit.SECONDS);
            assertEquals(1, nodes.size());
            Node n = nodes.iterator().next();
            assertEquals(1, n.id());
            assertEquals("127.0.0.1", n.host());
            assertEquals(broker.port(), n.port());
            assertEquals(1, c.controller().get(T, TimeUnit.SECONDS).id());
        }
    }

    @Test
    void describeMetadataQuorum() throws Exception {
        try (Admin admin = admin(broker)) {
            QuorumInfo q = admin.describeMetadataQuorum().quorumInfo().get(T, TimeUnit.SECONDS);
            assertEquals(1, q.leaderId());
            assertTrue(q.leaderEpoch() >= 1);
            assertTrue(q.highWatermark() > 0);
            assertEquals(List.of(1), q.voters().stream().map(QuorumInfo.ReplicaState::replicaId).toList());
            assertEquals(q.highWatermark(), q.voters().get(0).logEndOffset());
            assertTrue(q.observers().isEmpty());
        }
    }

    /**
     * A group seen from the admin while a member is active and after it
     * leaves: listed with its state, described with its member and
     * assignment, its offsets listed, altered only while empty, deleted
     * only while empty.
     */
    @Test
    void consumerGroups(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        TopicPartition tp = new TopicPartition(topic, 0);
        createTopic(broker, topic, 1);
        try (KafkaProducer<String, String> p = producer(broker)) {
            for (int i = 0; i < 10; i++) {
                p.send(new ProducerRecord<>(topic, "k", "v" + i));
            }
        }
        try (Admin admin = admin(broker)) {
            try (KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.GROUP_ID_CONFIG, group,
                    ConsumerConfig.CLIENT_ID_CONFIG, "member-1")) {
                c.subscribe(List.of(topic));
                pollN(c, 10);
                c.commitSync(Map.of(tp, new OffsetAndMetadata(6, "meta")));

                ConsumerGroupListing listing = admin.listConsumerGroups().all().get(T, TimeUnit.SECONDS).stream()
                        .filter(l -> l.groupId().equals(group)).findFirst().orElseThrow();
                assertEquals(Optional.of(ConsumerGroupState.STABLE), listing.state());
                assertFalse(listing.isSimpleConsumerGroup());
                Collection<ConsumerGroupListing> stable = admin.listConsumerGroups(
                        new ListConsumerGroupsOptions().inStates(Set.of(ConsumerGroupState.STABLE)))
                        .all().get(T, TimeUnit.SECONDS);
                assertTrue(stable.stream().anyMatch(l -> l.groupId().equals(group)));
                Collection<ConsumerGroupListing> empty = admin.listConsumerGroups(
                        new ListConsumerGroupsOptions().inStates(Set.of(ConsumerGroupState.EMPTY)))
                        .all().get(T, TimeUnit.SECONDS);
                assertFalse(empty.stream().anyMatch(l -> l.groupId().equals(group)));

                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).describedGroups()
                        .get(group).get(T, TimeUnit.SECONDS);
                assertEquals(ConsumerGroupState.STABLE, d.state());
                assertEquals("range", d.partitionAssignor());
                assertEquals(1, d.coordinator().id());
                assertEquals(1, d.members().size());
                var m = d.members().iterator().next();
                assertEquals("member-1", m.clientId());
                assertEquals(c.groupMetadata().memberId(), m.consumerId());
                assertEquals(Set.of(tp), m.assignment().topicPartitions());

                OffsetAndMetadata o = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                        .get(T, TimeUnit.SECONDS).get(tp);
                assertEquals(6, o.offset());
                assertEquals("meta", o.metadata());

                // Not while a member is active.
                failure(UnknownMemberIdException.class, admin.alterConsumerGroupOffsets(group,
                        Map.of(tp, new OffsetAndMetadata(2))).all());
                failure(GroupNotEmptyException.class, admin.deleteConsumerGroups(List.of(group)).all());
                failure(GroupSubscribedToTopicException.class,
                        admin.deleteConsumerGroupOffsets(group, Set.of(tp)).all());
            }
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).describedGroups()
                    .get(group).get(T, TimeUnit.SECONDS);
            assertEquals(ConsumerGroupState.EMPTY, d.state());
            assertTrue(d.members().isEmpty());

            admin.alterConsumerGroupOffsets(group, Map.of(tp, new OffsetAndMetadata(2, "reset")))
                    .all().get(T, TimeUnit.SECONDS);
            assertEquals(2, admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                    .get(T, TimeUnit.SECONDS).get(tp).offset());
            try (KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.GROUP_ID_CONFIG, group)) {
                c.subscribe(List.of(topic));
                assertEquals("v2", pollN(c, 1).get(0).value());
            }

            admin.deleteConsumerGroupOffsets(group, Set.of(tp)).all().get(T, TimeUnit.SECONDS);
            assertEquals(Map.of(), admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                    .get(T, TimeUnit.SECONDS));
            admin.deleteConsumerGroups(List.of(group)).all().get(T, TimeUnit.SECONDS);
            assertFalse(admin.listConsumerGroups().all().get(T, TimeUnit.SECONDS).stream()
                    .anyMatch(l -> l.groupId().equals(group)));
            failure(GroupIdNotFoundException.class, admin.deleteConsumerGroups(List.of(group)).all());
        }
    }

    /**
     * Kafka 4 answers a group that does not exist with GROUP_ID_NOT_FOUND
     * (ConsumerGroupDescribe, and DescribeGroups v6, KIP-1043), which the
     * 4.x client raises. Vltava serves DescribeGroups up to v5 and no
     * ConsumerGroupDescribe, so the client falls back to v5, where the
     * answer is a group in state Dead (see docs/compatibility.md).
     */
    @Test
    @Disabled("DescribeGroups v6 and ConsumerGroupDescribe are not served: an unknown group is described as Dead")
    void describeUnknownConsumerGroup(TestInfo info) throws Exception {
        try (Admin admin = admin(broker)) {
            failure(GroupIdNotFoundException.class,
                    admin.describeConsumerGroups(List.of(name(info))).all());
        }
    }

    /** The 3.9 client only sends DescribeGroups up to v5: Kafka answers an unknown group as Dead, with no members. */
    @Test
    @EnabledIfSystemProperty(named = "kafka.client.version", matches = "3\\..*")
    void describeUnknownConsumerGroupBeforeKafka4(TestInfo info) throws Exception {
        String group = name(info);
        try (Admin admin = admin(broker)) {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).describedGroups()
                    .get(group).get(T, TimeUnit.SECONDS);
            assertEquals(ConsumerGroupState.DEAD, d.state());
            assertTrue(d.members().isEmpty());
        }
    }

    @Test
    void deleteRecordsAndListOffsets(TestInfo info) throws Exception {
        String topic = name(info);
        TopicPartition tp = new TopicPartition(topic, 0);
        createTopic(broker, topic, 1);
        long base = System.currentTimeMillis() - 10_000;
        try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.LINGER_MS_CONFIG, 0)) {
            for (int i = 0; i < 10; i++) {
                // Timestamps out of order at offset 7: the max is not the last.
                long ts = i == 7 ? base + 100_000 : base + i * 100;
                p.send(new ProducerRecord<>(topic, 0, ts, "k", "v" + i)).get();
            }
        }
        try (Admin admin = admin(broker)) {
            Map<TopicPartition, ListOffsetsResultInfo> earliest = admin.listOffsets(Map.of(tp, OffsetSpec.earliest()))
                    .all().get(T, TimeUnit.SECONDS);
            assertEquals(0, earliest.get(tp).offset());
            assertEquals(10, admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all().get().get(tp).offset());
            ListOffsetsResultInfo max = admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).all().get().get(tp);
            assertEquals(7, max.offset());
            assertEquals(base + 100_000, max.timestamp());
            ListOffsetsResultInfo byTime = admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(base + 250)))
                    .all().get().get(tp);
            assertEquals(3, byTime.offset());
            assertEquals(base + 300, byTime.timestamp());
            failure(UnknownTopicOrPartitionException.class, admin.listOffsets(
                    Map.of(new TopicPartition(topic + "-none", 0), OffsetSpec.latest())).all());

            var deleted = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks();
            assertEquals(4, deleted.get(tp).get(T, TimeUnit.SECONDS).lowWatermark());
            assertEquals(4, admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).all().get().get(tp).offset());
            try (KafkaConsumer<String, String> c = consumer(broker)) {
                assertEquals(Map.of(tp, 4L), c.beginningOffsets(List.of(tp)));
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                assertEquals("v4", pollN(c, 1).get(0).value());
            }
            failure(OffsetOutOfRangeException.class,
                    admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(11))).all());
            // (For a topic that does not exist the client keeps looking up
            // its leader until its timeout, against Kafka as here.)
        }
    }

    @Test
    void describeLogDirs(TestInfo info) throws Exception {
        String topic = name(info);
        TopicPartition tp = new TopicPartition(topic, 0);
        createTopic(broker, topic, 1);
        try (KafkaProducer<String, String> p = producer(broker)) {
            p.send(new ProducerRecord<>(topic, "k", "v")).get();
        }
        try (Admin admin = admin(broker)) {
            Map<String, LogDirDescription> dirs = admin.describeLogDirs(List.of(1)).allDescriptions()
                    .get(T, TimeUnit.SECONDS).get(1);
            assertEquals(1, dirs.size(), "one log directory: " + dirs.keySet());
            var entry = dirs.entrySet().iterator().next();
            assertTrue(Path.of(entry.getKey()).startsWith(broker.dataDir()), entry.getKey());
            LogDirDescription d = entry.getValue();
            assertEquals(null, d.error());
            ReplicaInfo ri = d.replicaInfos().get(tp);
            assertNotNull(ri, "the partition is listed");
            assertTrue(ri.size() > 0);
            assertEquals(0, ri.offsetLag());
            assertFalse(ri.isFuture());
            assertTrue(d.totalBytes().isPresent() && d.totalBytes().getAsLong() > 0);
            assertTrue(d.usableBytes().isPresent() && d.usableBytes().getAsLong() > 0);
        }
    }

    @Test
    void transactionsAdmin(TestInfo info) throws Exception {
        String topic = name(info);
        String txnId = name(info);
        createTopic(broker, topic, 1);
        try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
                Admin admin = admin(broker)) {
            p.initTransactions();
            var empty = admin.describeTransactions(Set.of(txnId)).description(txnId).get(T, TimeUnit.SECONDS);
            assertEquals(TransactionState.EMPTY, empty.state());
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "k", "v")).get();
            Collection<TransactionListing> ongoing = admin.listTransactions(
                    new ListTransactionsOptions().filterStates(Set.of(TransactionState.ONGOING)))
                    .all().get(T, TimeUnit.SECONDS);
            assertEquals(Set.of(txnId), ongoing.stream().map(TransactionListing::transactionalId)
                    .filter(txnId::equals).collect(Collectors.toSet()));
            long pid = ongoing.stream().filter(l -> l.transactionalId().equals(txnId)).findFirst()
                    .orElseThrow().producerId();
            Collection<TransactionListing> byPid = admin.listTransactions(
                    new ListTransactionsOptions().filterProducerIds(Set.of(pid))).all().get(T, TimeUnit.SECONDS);
            assertEquals(List.of(txnId), byPid.stream().map(TransactionListing::transactionalId).toList());
            p.abortTransaction();
            var aborted = admin.describeTransactions(Set.of(txnId)).description(txnId).get(T, TimeUnit.SECONDS);
            assertEquals(TransactionState.COMPLETE_ABORT, aborted.state());
            assertEquals(pid, aborted.producerId());
            failure(TransactionalIdNotFoundException.class,
                    admin.describeTransactions(Set.of(txnId + "-none")).all());
        }
    }

    /** One node: every partition already has its preferred leader, and no unclean election is possible. */
    @Test
    void electLeaders(TestInfo info) throws Exception {
        String topic = name(info);
        TopicPartition tp = new TopicPartition(topic, 0);
        createTopic(broker, topic, 1);
        try (Admin admin = admin(broker)) {
            Map<TopicPartition, Optional<Throwable>> preferred = admin.electLeaders(ElectionType.PREFERRED,
                    Set.of(tp)).partitions().get(T, TimeUnit.SECONDS);
            assertInstanceOf(ElectionNotNeededException.class, preferred.get(tp).orElseThrow());
            Map<TopicPartition, Optional<Throwable>> unclean = admin.electLeaders(ElectionType.UNCLEAN,
                    Set.of(tp)).partitions().get(T, TimeUnit.SECONDS);
            assertInstanceOf(ElectionNotNeededException.class, unclean.get(tp).orElseThrow());
            Map<TopicPartition, Optional<Throwable>> unknown = admin.electLeaders(ElectionType.PREFERRED,
                    Set.of(new TopicPartition(topic + "-none", 0))).partitions().get(T, TimeUnit.SECONDS);
            assertInstanceOf(UnknownTopicOrPartitionException.class,
                    unknown.get(new TopicPartition(topic + "-none", 0)).orElseThrow());
        }
    }

    @Test
    void partitionReassignments(TestInfo info) throws Exception {
        String topic = name(info);
        TopicPartition tp = new TopicPartition(topic, 0);
        createTopic(broker, topic, 1);
        try (Admin admin = admin(broker)) {
            assertEquals(Map.of(), admin.listPartitionReassignments().reassignments().get(T, TimeUnit.SECONDS));
            failure(InvalidReplicaAssignmentException.class, admin.alterPartitionReassignments(
                    Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(2))))).all());
        }
    }

    /**
     * With no authorizer Kafka answers "every operation the resource type
     * supports" when a client asks for its authorized operations
     * (AclEntry.supportedOperations): topics, the cluster and groups.
     */
    @Test
    void authorizedOperationsWithoutAnAuthorizer(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 1);
        try (Admin admin = admin(broker);
                KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.GROUP_ID_CONFIG, group)) {
            c.subscribe(List.of(topic));
            Kafka.waitUntil("an assignment", () -> {
                c.poll(Duration.ofMillis(50));
                return !c.assignment().isEmpty();
            });
            TopicDescription t = admin.describeTopics(List.of(topic),
                    new DescribeTopicsOptions().includeAuthorizedOperations(true)).allTopicNames().get().get(topic);
            assertEquals(Set.of(AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE,
                    AclOperation.DELETE, AclOperation.ALTER, AclOperation.DESCRIBE_CONFIGS,
                    AclOperation.ALTER_CONFIGS), t.authorizedOperations());
            Set<AclOperation> cluster = admin.describeCluster(
                    new DescribeClusterOptions().includeAuthorizedOperations(true)).authorizedOperations().get();
            assertEquals(Set.of(AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
                    AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER,
                    AclOperation.DESCRIBE), cluster);
            ConsumerGroupDescription g = admin.describeConsumerGroups(List.of(group),
                    new DescribeConsumerGroupsOptions().includeAuthorizedOperations(true)).describedGroups()
                    .get(group).get();
            assertEquals(Set.of(AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE,
                    AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS), g.authorizedOperations());
            // Not asked for: none.
            assertEquals(null, admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic)
                    .authorizedOperations());
        }
    }

    /**
     * removeMembersFromConsumerGroup takes a static member out at once
     * (LeaveGroup by group.instance.id), where it would otherwise stay
     * until its session timeout; an instance id the group does not have
     * is UnknownMemberIdException.
     */
    @Test
    void removeStaticMember(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 1);
        try (Admin admin = admin(broker)) {
            try (KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.GROUP_ID_CONFIG, group,
                    ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "static-1",
                    ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 60000)) {
                c.subscribe(List.of(topic));
                Kafka.waitUntil("an assignment", () -> {
                    c.poll(Duration.ofMillis(50));
                    return !c.assignment().isEmpty();
                });
            }
            // Closed, but a static member stays in the group.
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).describedGroups()
                    .get(group).get(T, TimeUnit.SECONDS);
            assertEquals(ConsumerGroupState.STABLE, d.state());
            assertEquals(Optional.of("static-1"), d.members().iterator().next().groupInstanceId());

            var missing = admin.removeMembersFromConsumerGroup(group, new RemoveMembersFromConsumerGroupOptions(
                    List.of(new MemberToRemove("static-2"))));
            failure(UnknownMemberIdException.class, missing.all());

            admin.removeMembersFromConsumerGroup(group, new RemoveMembersFromConsumerGroupOptions(
                    List.of(new MemberToRemove("static-1")))).all().get(T, TimeUnit.SECONDS);
            d = admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(T, TimeUnit.SECONDS);
            assertEquals(ConsumerGroupState.EMPTY, d.state());
            assertTrue(d.members().isEmpty());
        }
    }

    /**
     * includeSynonyms: a topic config lists where its value could come
     * from, most specific first (the topic's override, then the broker's
     * log.* default, as Kafka names it); includeDocumentation gives its
     * description.
     */
    @Test
    void describeConfigsSynonymsAndDocumentation(TestInfo info) throws Exception {
        String name = name(info);
        try (Admin admin = admin(broker)) {
            admin.createTopics(List.of(topic(name, 1).configs(Map.of("retention.ms", "1234567"))))
                    .all().get(T, TimeUnit.SECONDS);
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, name);
            Config c = admin.describeConfigs(List.of(r), new DescribeConfigsOptions().includeSynonyms(true)
                    .includeDocumentation(true)).all().get(T, TimeUnit.SECONDS).get(r);
            ConfigEntry retention = c.get("retention.ms");
            List<String> synonyms = retention.synonyms().stream()
                    .map(s -> s.name() + "=" + s.value() + " " + s.source()).toList();
            assertEquals(List.of("retention.ms=1234567 DYNAMIC_TOPIC_CONFIG",
                    "log.retention.hours=168 DEFAULT_CONFIG"), synonyms);
            // Our own wording, shorter than Kafka's.
            assertNotNull(retention.documentation());
            assertFalse(retention.documentation().isBlank());
            ConfigEntry segment = c.get("segment.bytes");
            assertEquals(List.of("log.segment.bytes=1073741824 DEFAULT_CONFIG"), segment.synonyms().stream()
                    .map(s -> s.name() + "=" + s.value() + " " + s.source()).toList());
        }
    }
}
