package io.vltava.javaclient;

import static io.vltava.javaclient.Kafka.admin;
import static io.vltava.javaclient.Kafka.consumer;
import static io.vltava.javaclient.Kafka.createTopic;
import static io.vltava.javaclient.Kafka.name;
import static io.vltava.javaclient.Kafka.producer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * KafkaConsumer with the KIP-848 consumer group protocol
 * ({@code group.protocol=consumer}): the broker assigns partitions (its
 * "uniform" assignor by default, "range" when {@code group.remote.assignor}
 * asks), members join and leave with incremental revocation, and commits
 * carry the member epoch. Each test checks what the rebalance listeners
 * were told, that assignments are disjoint and complete, and that every
 * record is consumed exactly once across the group.
 *
 * <p>With this protocol the client refuses session.timeout.ms,
 * heartbeat.interval.ms and partition.assignment.strategy (the broker owns
 * them). The broker's default heartbeat interval is 5 s: a member hears of
 * a rebalance on its next heartbeat, so the bounds allow a few of them.
 */
@ExtendWith(VltavaExtension.class)
class ConsumerProtocolTest {
    private static final Set<Integer> ALL = Set.of(0, 1, 2, 3);
    private static final Duration REBALANCE_TIMEOUT = Duration.ofSeconds(30);

    private final VltavaBroker broker;

    ConsumerProtocolTest(VltavaBroker broker) {
        this.broker = broker;
    }

    /** Records what a consumer's rebalance listener was told (empty calls left out). */
    static final class Listener implements ConsumerRebalanceListener {
        final List<Set<Integer>> assigned = new CopyOnWriteArrayList<>();
        final List<Set<Integer>> revoked = new CopyOnWriteArrayList<>();
        final List<Set<Integer>> lost = new CopyOnWriteArrayList<>();

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                assigned.add(indexes(partitions));
            }
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                revoked.add(indexes(partitions));
            }
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                lost.add(indexes(partitions));
            }
        }

        void clear() {
            assigned.clear();
            revoked.clear();
            lost.clear();
        }

        @Override
        public String toString() {
            return "assigned " + assigned + " revoked " + revoked + " lost " + lost;
        }
    }

    /** A subscribed consumer of the consumer protocol with its listener and the records it polled. */
    final class Member implements AutoCloseable {
        final String name;
        final KafkaConsumer<String, String> c;
        final Listener listener = new Listener();
        final List<ConsumerRecord<String, String>> records = new ArrayList<>();
        boolean closed;

        Member(String name, String group, String topic, Object... extra) {
            this.name = name;
            List<Object> kv = new ArrayList<>(List.of(ConsumerConfig.GROUP_ID_CONFIG, group,
                    ConsumerConfig.CLIENT_ID_CONFIG, name,
                    ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer"));
            kv.addAll(List.of(extra));
            this.c = consumer(broker, kv.toArray());
            c.subscribe(List.of(topic), listener);
        }

        void poll() {
            if (!closed) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(50))) {
                    records.add(r);
                }
            }
        }

        Set<Integer> owned() {
            return closed ? Set.of() : indexes(c.assignment());
        }

        /** The values of the records from index {@code from} on, sorted. */
        List<String> values(int from) {
            return records.subList(from, records.size()).stream().map(ConsumerRecord::value).sorted()
                    .collect(Collectors.toList());
        }

        Set<Integer> partitionsRead() {
            return records.stream().map(ConsumerRecord::partition).collect(Collectors.toSet());
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                c.close(Duration.ofSeconds(30));
            }
        }

        @Override
        public String toString() {
            return name + "(owns " + owned() + ", " + records.size() + " records, " + listener + ")";
        }
    }

    static Set<Integer> indexes(Collection<TopicPartition> tps) {
        return tps.stream().map(TopicPartition::partition).collect(Collectors.toCollection(TreeSet::new));
    }

    static Set<Integer> union(List<Set<Integer>> sets) {
        return sets.stream().flatMap(Set::stream).collect(Collectors.toCollection(TreeSet::new));
    }

    /** Polls every member in turn until {@code until} holds (failing after {@code timeout}). */
    private static void pump(String what, Duration timeout, BooleanSupplier until, Member... members) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            for (Member m : members) {
                m.poll();
            }
            if (until.getAsBoolean()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what + ": "
                        + List.of(members));
            }
        }
    }

    private static void pump(String what, BooleanSupplier until, Member... members) {
        pump(what, REBALANCE_TIMEOUT, until, members);
    }

    /** Keeps polling for a while, so duplicates or a pending rebalance would show. */
    private static void settle(long ms, Member... members) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
        while (System.nanoTime() < deadline) {
            for (Member m : members) {
                m.poll();
            }
        }
    }

    /** Writes "p{partition}-{i}" for i in start..start+n to each of the first {@code partitions} partitions. */
    private void produce(String topic, int partitions, int start, int n) throws Exception {
        try (KafkaProducer<String, String> p = producer(broker)) {
            for (int part = 0; part < partitions; part++) {
                for (int i = start; i < start + n; i++) {
                    p.send(new ProducerRecord<>(topic, part, "k", "p" + part + "-" + i));
                }
            }
            p.flush();
        }
    }

    /** The values produce() wrote to the given partitions, sorted. */
    private static List<String> expected(Collection<Integer> partitions, int start, int n) {
        List<String> out = new ArrayList<>();
        for (int part : partitions) {
            for (int i = start; i < start + n; i++) {
                out.add("p" + part + "-" + i);
            }
        }
        out.sort(null);
        return out;
    }

    private static List<String> sorted(List<String> a, List<String> b) {
        List<String> out = new ArrayList<>(a);
        out.addAll(b);
        out.sort(null);
        return out;
    }

    /**
     * Two members of one group with the uniform assignor (the broker's
     * default): the second to join gets two of the four partitions, which
     * the first revokes (and only those); records produced then are each
     * consumed once, by the member owning their partition; when one
     * member commits and leaves, the other is assigned its two partitions
     * (nothing revoked) and goes on from its commits.
     */
    @Test
    void twoMembersShareAndTheSurvivorTakesOver(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 4);
        try (Member a = new Member("a", group, topic, ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, "uniform")) {
            // The 3.9 client updates assignment() a poll before it calls the listener.
            pump("a owns all four partitions", () -> a.owned().equals(ALL) && !a.listener.assigned.isEmpty(), a);
            assertEquals(List.of(ALL), a.listener.assigned);
            try (Member b = new Member("b", group, topic, ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, "uniform")) {
                shareThenLeave(topic, a, b);
            }
        }
    }

    private void shareThenLeave(String topic, Member a, Member b) throws Exception {
        pump("a and b have two partitions each", () -> a.owned().size() == 2 && b.owned().size() == 2, a, b);
        settle(1000, a, b);
        Set<Integer> aOwns = a.owned();
        Set<Integer> bOwns = b.owned();
        assertTrue(aOwns.stream().noneMatch(bOwns::contains), "disjoint: " + aOwns + " " + bOwns);
        Set<Integer> both = new HashSet<>(aOwns);
        both.addAll(bOwns);
        assertEquals(ALL, both);
        assertNotEquals(a.c.groupMetadata().memberId(), b.c.groupMetadata().memberId());
        // Incremental: a revoked just what b got, lost nothing, and was never unassigned.
        assertEquals(bOwns, union(a.listener.revoked), a.toString());
        assertEquals(List.of(), a.listener.lost);
        assertEquals(List.of(ALL), a.listener.assigned);
        assertEquals(bOwns, union(b.listener.assigned), b.toString());
        assertEquals(List.of(), b.listener.revoked);

        produce(topic, 4, 0, 10);
        pump("40 records", () -> a.records.size() + b.records.size() >= 40, a, b);
        settle(1000, a, b);
        assertEquals(expected(ALL, 0, 10), sorted(a.values(0), b.values(0)));
        assertEquals(aOwns, a.partitionsRead());
        assertEquals(bOwns, b.partitionsRead());

        // b commits and leaves: a gets b's partitions, keeps its own.
        b.c.commitSync();
        a.listener.clear();
        long t0 = System.nanoTime();
        b.close();
        pump("a owns all four partitions again", () -> a.owned().equals(ALL), a);
        long tookMs = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(tookMs < REBALANCE_TIMEOUT.toMillis(), "took " + tookMs + " ms");
        settle(500, a);
        assertEquals(bOwns, union(a.listener.assigned), a.toString());
        assertEquals(List.of(), a.listener.revoked);
        assertEquals(List.of(), a.listener.lost);

        // a reads b's partitions from b's commits: only the new records.
        int n = a.records.size();
        produce(topic, 4, 10, 3);
        pump("12 new records", () -> a.records.size() >= n + 12, a);
        settle(500, a);
        assertEquals(expected(ALL, 10, 3), a.values(n));
    }

    /** {@code group.remote.assignor=range}: each of two members gets a contiguous half. */
    @Test
    void rangeAssignorGivesContiguousHalves(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 4);
        try (Member a = new Member("a", group, topic, ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, "range")) {
            pump("a owns all four partitions", () -> a.owned().equals(ALL) && !a.listener.assigned.isEmpty(), a);
            try (Member b = new Member("b", group, topic, ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, "range")) {
                halves(topic, a, b);
            }
        }
    }

    private void halves(String topic, Member a, Member b) throws Exception {
        pump("a and b have two partitions each", () -> a.owned().size() == 2 && b.owned().size() == 2, a, b);
        settle(1000, a, b);
        Set<Set<Integer>> halves = Set.of(a.owned(), b.owned());
        assertEquals(Set.of(Set.of(0, 1), Set.of(2, 3)), halves);
        assertEquals(b.owned(), union(a.listener.revoked), a.toString());
        assertEquals(List.of(), a.listener.lost);

        produce(topic, 4, 0, 3);
        pump("12 records", () -> a.records.size() + b.records.size() >= 12, a, b);
        settle(500, a, b);
        assertEquals(expected(ALL, 0, 3), sorted(a.values(0), b.values(0)));
        assertEquals(a.owned(), a.partitionsRead());
        assertEquals(b.owned(), b.partitionsRead());
    }

    /**
     * commitSync of the positions and of an explicit offset with metadata;
     * committed() and the admin read them back; a new member of the group
     * resumes from them.
     */
    @Test
    void commitSyncAndResume(TestInfo info) throws Exception {
        String topic = name(info);
        String group = name(info);
        createTopic(broker, topic, 4);
        produce(topic, 4, 0, 5);
        Set<TopicPartition> tps = ALL.stream().map(p -> new TopicPartition(topic, p)).collect(Collectors.toSet());
        TopicPartition p0 = new TopicPartition(topic, 0);
        String firstMemberId;
        try (Member a = new Member("a", group, topic)) {
            pump("20 records", () -> a.records.size() >= 20, a);
            settle(500, a);
            assertEquals(expected(ALL, 0, 5), a.values(0));
            assertEquals(ALL, a.owned());
            firstMemberId = a.c.groupMetadata().memberId();
            assertFalse(firstMemberId.isEmpty());
            assertTrue(a.c.groupMetadata().generationId() > 0, "member epoch " + a.c.groupMetadata().generationId());

            a.c.commitSync();
            Map<TopicPartition, OffsetAndMetadata> got = a.c.committed(tps);
            for (TopicPartition tp : tps) {
                assertEquals(5, got.get(tp).offset(), tp.toString());
            }
            a.c.commitSync(Map.of(p0, new OffsetAndMetadata(3, "three")));
            OffsetAndMetadata three = a.c.committed(Set.of(p0)).get(p0);
            assertEquals(3, three.offset());
            assertEquals("three", three.metadata());
        }
        try (Admin admin = admin(broker)) {
            Map<TopicPartition, OffsetAndMetadata> got = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            Map<Integer, Long> offsets = new HashMap<>();
            got.forEach((tp, o) -> offsets.put(tp.partition(), o.offset()));
            assertEquals(Map.of(0, 3L, 1, 5L, 2, 5L, 3, 5L), offsets);
        }

        produce(topic, 4, 5, 2);
        try (Member b = new Member("b", group, topic)) {
            // p0 from 3 (two old records, two new), the others from 5.
            pump("10 records", () -> b.records.size() >= 10, b);
            settle(1000, b);
            List<String> want = new ArrayList<>(List.of("p0-3", "p0-4"));
            want.addAll(expected(ALL, 5, 2));
            want.sort(null);
            assertEquals(want, b.values(0));
            assertNotEquals(firstMemberId, b.c.groupMetadata().memberId());
        }
    }
}
