package io.vltava.javaclient;

import static io.vltava.javaclient.Kafka.admin;
import static io.vltava.javaclient.Kafka.consumer;
import static io.vltava.javaclient.Kafka.createTopic;
import static io.vltava.javaclient.Kafka.name;
import static io.vltava.javaclient.Kafka.pollN;
import static io.vltava.javaclient.Kafka.producer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * KafkaConsumer with the classic group protocol: assignors and
 * rebalances, static membership, commits, seeks, offsetsForTimes,
 * pause/resume, and resuming from committed offsets after a consumer and
 * a broker restart.
 */
@ExtendWith(VltavaExtension.class)
class ConsumerGroupTest {
    private final VltavaBroker broker;

    ConsumerGroupTest(VltavaBroker broker) {
        this.broker = broker;
    }

    /** Records what a consumer's rebalance listener was told. */
    static final class Listener implements ConsumerRebalanceListener {
        final List<Set<Integer>> revoked = new CopyOnWriteArrayList<>();
        final List<Set<Integer>> assigned = new CopyOnWriteArrayList<>();

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                revoked.add(indexes(partitions));
            }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            assigned.add(indexes(partitions));
        }

        void clear() {
            revoked.clear();
            assigned.clear();
        }
    }

    static Set<Integer> indexes(Collection<TopicPartition> tps) {
        return tps.stream().map(TopicPartition::partition).collect(Collectors.toSet());
    }

    private KafkaConsumer<String, String> member(String group, String clientId, String assignor, Object... extra) {
        List<Object> kv = new ArrayList<>(List.of(ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.CLIENT_ID_CONFIG, clientId,
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignor,
                ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500,
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10000,
                ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 30000));
        kv.addAll(List.of(extra));
        return consumer(broker, kv.toArray());
    }

    /** Polls every consumer in turn until each one's assignment is as wanted. */
    @SafeVarargs
    private static void pollUntilAssigned(Map<KafkaConsumer<String, String>, Set<Integer>> wanted,
            KafkaConsumer<String, String>... alsoPoll) {
        long deadline = System.nanoTime() + Kafka.TIMEOUT.toNanos();
        while (true) {
            boolean done = true;
            for (var e : wanted.entrySet()) {
                e.getKey().poll(Duration.ofMillis(50));
                if (!indexes(e.getKey().assignment()).equals(e.getValue())) {
                    done = false;
                }
            }
            for (var c : alsoPoll) {
                c.poll(Duration.ofMillis(50));
            }
            if (done) {
                return;
            }
            if (System.nanoTime() > deadline) {
                Map<String, Set<Integer>> got = new java.util.HashMap<>();
                wanted.keySet().forEach(c -> got.put(c.groupMetadata().memberId(), indexes(c.assignment())));
                throw new AssertionError("assignments did not become " + wanted.values() + ": " + got);
            }
        }
    }

    private static Map<KafkaConsumer<String, String>, Set<Integer>> want(Object... kv) {
        Map<KafkaConsumer<String, String>, Set<Integer>> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            @SuppressWarnings("unchecked")
            KafkaConsumer<String, String> c = (KafkaConsumer<String, String>) kv[i];
            @SuppressWarnings("unchecked")
            Set<Integer> s = (Set<Integer>) kv[i + 1];
            m.put(c, s);
        }
        return m;
    }

    private void produce(String topic, int partitions, int perPartition) throws Exception {
        try (KafkaProducer<String, String> p = producer(broker)) {
            for (int part = 0; part < partitions; part++) {
                for (int i = 0; i < perPartition; i++) {
                    p.send(new ProducerRecord<>(topic, part, "k", "p" + part + "-" + i));
                }
            }
            p.flush();
        }
    }

    /**
     * The range assignor: the first member alone gets all four partitions;
     * with a second member (client ids "a" < "b", so member ids sort the
     * same way) each gets a contiguous half; when "b" leaves, "a" gets all
     * four back. The admin sees both members and the "range" protocol.
     */
    @Test
    void rangeAssignorRebalancesOnJoinAndLeave(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 4);
        try (KafkaConsumer<String, String> a = member(group, "a", RangeAssignor.class.getName());
                Admin admin = admin(broker)) {
            a.subscribe(List.of(topic));
            pollUntilAssigned(want(a, Set.of(0, 1, 2, 3)));
            int firstGeneration = a.groupMetadata().generationId();
            try (KafkaConsumer<String, String> b = member(group, "b", RangeAssignor.class.getName())) {
                b.subscribe(List.of(topic));
                pollUntilAssigned(want(a, Set.of(0, 1), b, Set.of(2, 3)));
                assertTrue(a.groupMetadata().generationId() > firstGeneration);
                assertEquals(a.groupMetadata().generationId(), b.groupMetadata().generationId());

                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).describedGroups()
                        .get(group).get();
                assertEquals("range", d.partitionAssignor());
                assertEquals(2, d.members().size());
                Map<String, Set<Integer>> byClient = new java.util.HashMap<>();
                for (MemberDescription m : d.members()) {
                    byClient.put(m.clientId(), indexes(m.assignment().topicPartitions()));
                }
                assertEquals(Map.of("a", Set.of(0, 1), "b", Set.of(2, 3)), byClient);
            }
            // b's close sent LeaveGroup: a gets everything back at its next rebalance.
            pollUntilAssigned(want(a, Set.of(0, 1, 2, 3)));
        }
    }

    /** The round-robin assignor interleaves: a gets 0 and 2, b 1 and 3. */
    @Test
    void roundRobinAssignor(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 4);
        produce(topic, 4, 5);
        try (KafkaConsumer<String, String> a = member(group, "a", RoundRobinAssignor.class.getName());
                KafkaConsumer<String, String> b = member(group, "b", RoundRobinAssignor.class.getName())) {
            a.subscribe(List.of(topic));
            b.subscribe(List.of(topic));
            pollUntilAssigned(want(a, Set.of(0, 2), b, Set.of(1, 3)));
            // Between them they read all 20 records once (those polled while
            // the assignment settled are lost to this count, so seek back).
            a.seekToBeginning(a.assignment());
            b.seekToBeginning(b.assignment());
            List<ConsumerRecord<String, String>> ra = pollN(a, 10);
            List<ConsumerRecord<String, String>> rb = pollN(b, 10);
            assertEquals(Set.of(0, 2), ra.stream().map(ConsumerRecord::partition).collect(Collectors.toSet()));
            assertEquals(Set.of(1, 3), rb.stream().map(ConsumerRecord::partition).collect(Collectors.toSet()));
        }
    }

    /**
     * Cooperative-sticky: when b joins, a gives up only the two partitions
     * that move (it is never told all four are revoked) and keeps the other
     * two throughout; when b leaves, a is assigned the two back with no
     * revocation at all.
     */
    @Test
    void cooperativeStickyMovesOnlyWhatChanges(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 4);
        String coop = CooperativeStickyAssignor.class.getName();
        Listener la = new Listener();
        Listener lb = new Listener();
        try (KafkaConsumer<String, String> a = member(group, "a", coop)) {
            a.subscribe(List.of(topic), la);
            pollUntilAssigned(want(a, Set.of(0, 1, 2, 3)));
            assertEquals(List.of(Set.of(0, 1, 2, 3)), la.assigned);
            la.clear();
            Set<Integer> kept;
            Set<Integer> moved;
            try (KafkaConsumer<String, String> b = member(group, "b", coop)) {
                b.subscribe(List.of(topic), lb);
                long deadline = System.nanoTime() + Kafka.TIMEOUT.toNanos();
                while (b.assignment().size() != 2 || a.assignment().size() != 2) {
                    a.poll(Duration.ofMillis(50));
                    b.poll(Duration.ofMillis(50));
                    assertTrue(System.nanoTime() < deadline, "no 2+2 assignment: " + a.assignment() + " "
                            + b.assignment());
                }
                kept = indexes(a.assignment());
                moved = indexes(b.assignment());
                assertEquals(1, la.revoked.size(), "a revoked once: " + la.revoked);
                assertEquals(moved, la.revoked.get(0));
                assertTrue(la.revoked.get(0).size() == 2);
                assertTrue(lb.revoked.isEmpty());
                assertEquals(moved, lb.assigned.stream().flatMap(Set::stream).collect(Collectors.toSet()));
                Set<Integer> all = new HashSet<>(kept);
                all.addAll(moved);
                assertEquals(Set.of(0, 1, 2, 3), all);
                la.clear();
            }
            pollUntilAssigned(want(a, Set.of(0, 1, 2, 3)));
            assertTrue(la.revoked.isEmpty(), "nothing revoked from a: " + la.revoked);
            assertEquals(moved, la.assigned.stream().flatMap(Set::stream).collect(Collectors.toSet()));
        }
    }

    /**
     * Static membership (KIP-345): a member with a group.instance.id that
     * closes and comes back within session.timeout.ms gets its partitions
     * again without a rebalance (the other member's generation and
     * assignment do not change, its listener hears nothing); one that
     * stays away longer than the session timeout is removed and the group
     * rebalances.
     */
    @Test
    void staticMemberRestartDoesNotRebalance(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 4);
        String range = RangeAssignor.class.getName();
        Listener la = new Listener();
        try (KafkaConsumer<String, String> a = member(group, "a", range,
                ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-a");
                Admin admin = admin(broker)) {
            a.subscribe(List.of(topic), la);
            KafkaConsumer<String, String> b = member(group, "b", range,
                    ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-b",
                    ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000);
            b.subscribe(List.of(topic));
            pollUntilAssigned(want(a, Set.of(0, 1), b, Set.of(2, 3)));
            int generation = a.groupMetadata().generationId();
            String bMemberId = b.groupMetadata().memberId();
            la.clear();
            b.close(); // a static member sends no LeaveGroup

            KafkaConsumer<String, String> b2 = member(group, "b", range,
                    ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-b",
                    ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000);
            b2.subscribe(List.of(topic));
            pollUntilAssigned(want(b2, Set.of(2, 3)), a);
            assertEquals(generation, b2.groupMetadata().generationId());
            assertTrue(!bMemberId.equals(b2.groupMetadata().memberId()), "a new member id for the instance");
            Kafka.pollFor(a, 1500);
            Kafka.pollFor(b2, 200);
            assertEquals(generation, a.groupMetadata().generationId());
            assertEquals(Set.of(0, 1), indexes(a.assignment()));
            assertTrue(la.revoked.isEmpty() && la.assigned.isEmpty(), "a saw no rebalance: " + la.assigned);

            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).describedGroups()
                    .get(group).get();
            Set<String> instances = d.members().stream().map(m -> m.groupInstanceId().orElse("-"))
                    .collect(Collectors.toSet());
            assertEquals(Set.of("instance-a", "instance-b"), instances);

            // Gone for good: after its 6 s session timeout the group rebalances without it.
            b2.close();
            long closed = System.nanoTime();
            pollUntilAssigned(want(a, Set.of(0, 1, 2, 3)));
            long waitedMs = (System.nanoTime() - closed) / 1_000_000;
            assertTrue(waitedMs >= 4000, "removed only after the session timeout, not after " + waitedMs + " ms");
            assertTrue(a.groupMetadata().generationId() > generation);
        }
    }

    /**
     * commitSync with metadata, commitAsync with a callback; committed()
     * reads them back; a new consumer in the group starts from the
     * committed offset, also after the broker restarts.
     */
    @Test
    void commitsAndResumeAfterRestarts(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 1);
        produce(topic, 1, 20);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> c = member(group, "c", RangeAssignor.class.getName())) {
            c.subscribe(List.of(topic));
            List<ConsumerRecord<String, String>> got = pollN(c, 20);
            assertEquals("p0-0", got.get(0).value());
            assertNull(c.committed(Set.of(tp)).get(tp));
            c.commitSync(Map.of(tp, new OffsetAndMetadata(5, "five")));
            OffsetAndMetadata five = c.committed(Set.of(tp)).get(tp);
            assertEquals(5, five.offset());
            assertEquals("five", five.metadata());

            AtomicReference<Object> result = new AtomicReference<>();
            c.commitAsync(Map.of(tp, new OffsetAndMetadata(12)), (offsets, e) ->
                    result.set(e != null ? e : offsets));
            Kafka.waitUntil("commitAsync's callback", () -> {
                c.poll(Duration.ofMillis(50));
                return result.get() != null;
            });
            assertEquals(Map.of(tp, new OffsetAndMetadata(12)), result.get());
            assertEquals(12, c.committed(Set.of(tp)).get(tp).offset());
        }
        try (KafkaConsumer<String, String> c = member(group, "c", RangeAssignor.class.getName())) {
            c.subscribe(List.of(topic));
            List<ConsumerRecord<String, String>> got = pollN(c, 8);
            assertEquals(12, got.get(0).offset());
            assertEquals("p0-12", got.get(0).value());
            assertEquals(20, c.position(tp));
            c.commitSync(); // the position: 20
        }
        broker.restart();
        try (KafkaProducer<String, String> p = producer(broker)) {
            p.send(new ProducerRecord<>(topic, 0, "k", "after-restart")).get();
        }
        try (KafkaConsumer<String, String> c = member(group, "c", RangeAssignor.class.getName())) {
            c.subscribe(List.of(topic));
            List<ConsumerRecord<String, String>> got = pollN(c, 1);
            assertEquals(20, got.get(0).offset());
            assertEquals("after-restart", got.get(0).value());
            assertEquals(20, c.committed(Set.of(tp)).get(tp).offset());
        }
    }

    /** Auto-commit commits the polled position every auto.commit.interval.ms. */
    @Test
    void autoCommit(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 1);
        produce(topic, 1, 7);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> c = member(group, "c", RangeAssignor.class.getName(),
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true",
                ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, 100)) {
            c.subscribe(List.of(topic));
            pollN(c, 7);
            Kafka.waitUntil("the auto-commit", () -> {
                c.poll(Duration.ofMillis(50));
                OffsetAndMetadata o = c.committed(Set.of(tp)).get(tp);
                return o != null && o.offset() == 7;
            });
        }
    }

    /** seek, seekToBeginning, seekToEnd and position on an assigned consumer. */
    @Test
    void seekAndPosition(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1);
        produce(topic, 1, 10);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> c = consumer(broker)) {
            c.assign(List.of(tp));
            assertEquals(0, c.position(tp));
            c.seek(tp, 7);
            assertEquals(7, c.position(tp));
            List<ConsumerRecord<String, String>> got = pollN(c, 3);
            assertEquals(List.of(7L, 8L, 9L), got.stream().map(ConsumerRecord::offset).toList());
            assertEquals(10, c.position(tp));
            c.seekToBeginning(List.of(tp));
            assertEquals(0, c.position(tp));
            assertEquals("p0-0", pollN(c, 1).get(0).value());
            c.seekToEnd(List.of(tp));
            assertEquals(10, c.position(tp));
            assertEquals(List.of(), Kafka.pollFor(c, 300));
            c.seek(tp, new OffsetAndMetadata(3));
            assertEquals("p0-3", pollN(c, 1).get(0).value());
            assertEquals(Map.of(tp, 0L), c.beginningOffsets(List.of(tp)));
            assertEquals(Map.of(tp, 10L), c.endOffsets(List.of(tp)));
        }
    }

    /** An out-of-range position is reset by auto.offset.reset (earliest or latest). */
    @Test
    void outOfRangeResets(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1);
        produce(topic, 1, 5);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                "earliest")) {
            c.assign(List.of(tp));
            c.seek(tp, 100);
            assertEquals(0, pollN(c, 1).get(0).offset());
        }
        try (KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                "latest")) {
            c.assign(List.of(tp));
            c.seek(tp, 100);
            Kafka.pollFor(c, 500);
            assertEquals(5, c.position(tp));
        }
    }

    /**
     * offsetsForTimes: the first record at or after each timestamp (with
     * its own timestamp), null past the last one.
     */
    @Test
    void offsetsForTimes(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        long base = System.currentTimeMillis() - 60_000;
        try (KafkaProducer<String, String> p = producer(broker)) {
            for (int i = 0; i < 10; i++) {
                p.send(new ProducerRecord<>(topic, 0, base + i * 1000L, "k", "v" + i));
            }
            p.flush();
        }
        try (KafkaConsumer<String, String> c = consumer(broker)) {
            Map<TopicPartition, OffsetAndTimestamp> at = c.offsetsForTimes(Map.of(tp, base + 3500));
            assertEquals(4, at.get(tp).offset());
            assertEquals(base + 4000, at.get(tp).timestamp());
            assertEquals(0, c.offsetsForTimes(Map.of(tp, 0L)).get(tp).offset());
            assertEquals(9, c.offsetsForTimes(Map.of(tp, base + 9000)).get(tp).offset());
            assertNull(c.offsetsForTimes(Map.of(tp, base + 9001)).get(tp));
            // And the seek a consumer makes with it.
            c.assign(List.of(tp));
            c.seek(tp, at.get(tp).offset());
            assertEquals("v4", pollN(c, 1).get(0).value());
        }
    }

    /** pause stops fetching a partition; resume restarts it where it stopped. */
    @Test
    void pauseAndResume(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 2);
        produce(topic, 2, 5);
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        try (KafkaConsumer<String, String> c = consumer(broker)) {
            c.assign(List.of(p0, p1));
            c.pause(List.of(p0));
            assertEquals(Set.of(p0), c.paused());
            List<ConsumerRecord<String, String>> got = pollN(c, 5);
            got.addAll(Kafka.pollFor(c, 500));
            assertEquals(5, got.size());
            assertTrue(got.stream().allMatch(r -> r.partition() == 1), "only p1 while p0 is paused");
            assertEquals(0, c.position(p0));
            c.resume(List.of(p0));
            assertEquals(Set.of(), c.paused());
            got = pollN(c, 5);
            assertTrue(got.stream().allMatch(r -> r.partition() == 0));
            assertEquals("p0-0", got.get(0).value());
        }
    }

    /** A pattern subscription picks up a matching topic created later. */
    @Test
    void patternSubscription(TestInfo info) throws Exception {
        String prefix = name(info);
        createTopic(broker, prefix + "-one", 1);
        try (KafkaConsumer<String, String> c = member(name(info), "c", RangeAssignor.class.getName(),
                ConsumerConfig.METADATA_MAX_AGE_CONFIG, 500)) {
            c.subscribe(java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(prefix) + "-.*"));
            Kafka.waitUntil("the first topic assigned", () -> {
                c.poll(Duration.ofMillis(50));
                return c.assignment().size() == 1;
            });
            createTopic(broker, prefix + "-two", 1);
            Kafka.waitUntil("both topics assigned", () -> {
                c.poll(Duration.ofMillis(50));
                return c.assignment().size() == 2;
            });
            assertEquals(Set.of(prefix + "-one", prefix + "-two"),
                    c.assignment().stream().map(TopicPartition::topic).collect(Collectors.toSet()));
        }
    }

    /**
     * A record larger than fetch.max.bytes and max.partition.fetch.bytes
     * still comes back (KIP-74: the first batch is returned whole), so a
     * consumer never gets stuck behind it.
     */
    @Test
    void recordLargerThanFetchLimits(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1);
        String big = "b".repeat(200_000);
        try (KafkaProducer<String, String> p = producer(broker)) {
            p.send(new ProducerRecord<>(topic, "k", big)).get();
            p.send(new ProducerRecord<>(topic, "k", "small")).get();
        }
        try (KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.FETCH_MAX_BYTES_CONFIG, 1024,
                ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 1024)) {
            c.assign(List.of(new TopicPartition(topic, 0)));
            List<ConsumerRecord<String, String>> got = pollN(c, 2);
            assertEquals(big, got.get(0).value());
            assertEquals("small", got.get(1).value());
        }
    }

    /**
     * The KIP-848 consumer protocol (group.protocol=consumer): the client
     * joins with ConsumerGroupHeartbeat and the broker assigns (more in
     * ConsumerProtocolTest).
     */
    @Test
    void consumerGroupProtocol(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 2);
        produce(topic, 2, 3);
        try (KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.GROUP_ID_CONFIG, name(info),
                ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer")) {
            c.subscribe(List.of(topic));
            assertEquals(6, pollN(c, 6).size());
            assertEquals(Set.of(0, 1), indexes(c.assignment()));
        }
    }
}
