package io.vltava.spring;

import io.vltava.javaclient.VltavaBroker;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongUnaryOperator;

import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.kafka.config.KafkaListenerEndpointRegistry;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.listener.ConcurrentMessageListenerContainer;
import org.springframework.kafka.listener.MessageListenerContainer;

import io.vltava.spring.AckModeListeners.Seen;

/**
 * What each AckMode commits and when, read from the broker with
 * listConsumerGroupOffsets: at every record the listener gets (and, in the
 * manual modes, right after it acknowledges one), and once all are processed.
 * Each listener runs 3 consumers on 3 partitions of 9 records, at most 3
 * records a poll ({@link AckModeListeners}); the expected commit points are
 * computed from the polls that really happened ({@link PollLog}).
 */
class AckModeTest extends SpringKafkaTest {
    static final int PARTITIONS = 3;
    static final int PER_PARTITION = 9;
    static final long NONE = Offsets.NONE;

    @Autowired
    KafkaListenerEndpointRegistry registry;
    @Autowired
    KafkaTemplate<String, String> kafkaTemplate;
    @Autowired
    AckModeListeners listeners;
    @Autowired
    Offsets offsets;

    /** Starts the listener, waits until each of its 3 consumers owns one partition, produces, waits until all are processed. */
    private long run(String topic) {
        ConcurrentMessageListenerContainer<?, ?> c =
                (ConcurrentMessageListenerContainer<?, ?>) registry.getListenerContainer(id(topic));
        long started = System.nanoTime();
        c.start();
        waitFor(topic + ": one partition for each of the 3 consumers", Duration.ofSeconds(30), () -> {
            List<? extends MessageListenerContainer> children = c.getContainers();
            return children.size() == PARTITIONS && children.stream().allMatch(
                    k -> k.getAssignedPartitions() != null && k.getAssignedPartitions().size() == 1);
        });
        produce(topic, 0);
        return started;
    }

    /** Produces PER_PARTITION records to each partition, waits until the listener got them. */
    private void produce(String topic, int round) {
        for (int p = 0; p < PARTITIONS; p++) {
            for (int i = 0; i < PER_PARTITION; i++) {
                kafkaTemplate.send(topic, p, "k" + i, "r" + round + "-p" + p + "-" + i);
            }
        }
        kafkaTemplate.flush();
        waitFor(topic + ": all records processed", Duration.ofSeconds(30),
                () -> listeners.seen(topic).size() >= (round + 1) * PARTITIONS * PER_PARTITION);
    }

    /** Polls the group's offsets until every partition has `want`; returns when each got there (System.nanoTime). */
    private Map<Integer, Long> whenCommitted(String topic, long want, Duration timeout) {
        Map<Integer, Long> when = new TreeMap<>();
        waitFor(topic + ": committed " + want + " on every partition", timeout, () -> {
            long now = System.nanoTime();
            offsets.committed(topic, topic).forEach((p, o) -> {
                if (o == want) {
                    when.putIfAbsent(p, now);
                }
            });
            return when.size() == PARTITIONS;
        });
        return when;
    }

    private void stop(String topic) {
        registry.getListenerContainer(id(topic)).stop();
    }

    private static Map<Integer, List<Seen>> byPartition(List<Seen> seen) {
        Map<Integer, List<Seen>> m = new TreeMap<>();
        for (Seen s : seen) {
            m.computeIfAbsent(s.partition(), p -> new ArrayList<>()).add(s);
        }
        m.values().forEach(l -> l.sort(Comparator.comparingLong(Seen::offset)));
        for (int p = 0; p < PARTITIONS; p++) {
            List<Seen> l = m.get(p);
            assertEquals(PER_PARTITION, l == null ? 0 : l.size(), "records processed on partition " + p);
            for (int i = 0; i < PER_PARTITION; i++) {
                assertEquals(i, l.get(i).offset(), "partition " + p + ": each record once, in order");
            }
        }
        return m;
    }

    /** The first offset of the poll that returned this offset. */
    private static long pollStart(String topic, int partition, long offset) {
        for (long[] poll : PollLog.polls(topic, partition)) {
            if (poll[0] <= offset && offset <= poll[1]) {
                return poll[0];
            }
        }
        throw new AssertionError("no poll of " + topic + "-" + partition + " returned offset " + offset);
    }

    private static String polls(String topic, int partition) {
        StringBuilder b = new StringBuilder();
        for (long[] poll : PollLog.polls(topic, partition)) {
            b.append(" [").append(poll[0]).append("..").append(poll[1]).append(']');
        }
        return b.toString().trim();
    }

    private static long noneIfZero(long offset) {
        return offset == 0 ? NONE : offset;
    }

    /** Checks, per partition, the committed offset seen at each record against expected(offset). */
    private static void assertAtEntry(String topic, Map<Integer, List<Seen>> seen, int partition, LongUnaryOperator expected) {
        for (Seen s : seen.get(partition)) {
            assertEquals(expected.applyAsLong(s.offset()), s.committedAtEntry(),
                    topic + "-" + partition + ": committed offset when the listener got offset " + s.offset()
                            + " (polls: " + polls(topic, partition) + ")");
        }
    }

    /** Waits until the group committed `expected` on every partition, then checks it stays there for 1 s. */
    private void assertFinal(String topic, long expected, boolean staysThere) {
        Map<Integer, Long> want = new TreeMap<>();
        for (int p = 0; p < PARTITIONS; p++) {
            want.put(p, expected);
        }
        assertFinal(topic, want, staysThere);
    }

    private void assertFinal(String topic, Map<Integer, Long> want, boolean staysThere) {
        try {
            waitFor(topic + ": committed offsets " + want, Duration.ofSeconds(15),
                    () -> offsets.committed(topic, topic).equals(want));
        } catch (AssertionError e) {
            assertEquals(want, offsets.committed(topic, topic), topic + ": committed offsets");
        }
        if (staysThere) {
            VltavaBroker.sleep(1000);
            assertEquals(want, offsets.committed(topic, topic), topic + ": committed offsets 1 s later");
        }
    }

    @Test
    void recordCommitsAfterEachRecord() {
        String topic = n("ack-record");
        run(topic);
        try {
            Map<Integer, List<Seen>> seen = byPartition(listeners.seen(topic));
            for (int p = 0; p < PARTITIONS; p++) {
                // The record before this one was committed before this one was handed over.
                assertAtEntry(topic, seen, p, o -> noneIfZero(o));
            }
            assertFinal(topic, PER_PARTITION, false);
        } finally {
            stop(topic);
        }
    }

    @Test
    void batchCommitsAfterEachPoll() {
        String topic = n("ack-batch");
        run(topic);
        try {
            Map<Integer, List<Seen>> seen = byPartition(listeners.seen(topic));
            for (int p = 0; p < PARTITIONS; p++) {
                int part = p;
                assertTrue(PollLog.polls(topic, p).size() >= 3, "at most 3 records a poll: " + polls(topic, p));
                // Committed up to the start of this record's poll: the previous polls', not this one's.
                assertAtEntry(topic, seen, p, o -> noneIfZero(pollStart(topic, part, o)));
            }
            assertFinal(topic, PER_PARTITION, false);
        } finally {
            stop(topic);
        }
    }

    @Test
    void countCommitsAfterAckCountRecords() {
        String topic = n("ack-count");
        run(topic);
        try {
            Map<Integer, List<Seen>> seen = byPartition(listeners.seen(topic));
            for (int p = 0; p < PARTITIONS; p++) {
                // Spring Kafka 3.3 counts after each record (not at the end of the
                // poll, as older reference docs say): the record that makes ackCount
                // since the last commit is committed before the next is handed over.
                assertAtEntry(topic, seen, p, o -> noneIfZero(o / KafkaConfig.ACK_COUNT * KafkaConfig.ACK_COUNT));
            }
            // The rest (fewer than ackCount) is committed by the next poll that returns nothing.
            assertFinal(topic, PER_PARTITION, false);
        } finally {
            stop(topic);
        }
    }

    @Test
    void timeCommitsAfterAckTime() {
        String topic = n("ack-time");
        run(topic);
        try {
            // TIME commits what was processed once ackTime has passed since the
            // consumer's last timed commit (or its start). The first round's commit
            // time depends on when the group settled; it is the reference for the
            // second round, produced right after it.
            Map<Integer, Long> first = whenCommitted(topic, PER_PARTITION, Duration.ofSeconds(15));
            int before = listeners.seen(topic).size();
            produce(topic, 1);
            long ackTime = Duration.ofMillis(KafkaConfig.ACK_TIME_MS).toNanos();
            List<Seen> second = listeners.seen(topic).subList(before, 2 * PARTITIONS * PER_PARTITION);
            long processed = second.stream().mapToLong(Seen::atNanos).max().orElseThrow();
            Map<Integer, Long> then = whenCommitted(topic, 2 * PER_PARTITION, Duration.ofSeconds(15));
            for (int p = 0; p < PARTITIONS; p++) {
                int part = p;
                for (Seen s : second) {
                    if (s.partition() == part && s.atNanos() < first.get(p) + ackTime - Duration.ofMillis(300).toNanos()) {
                        assertEquals(PER_PARTITION, s.committedAtEntry(),
                                topic + "-" + p + ": within ackTime of the last commit, offset " + s.offset() + " got nothing more committed");
                    }
                }
                long gapMs = Duration.ofNanos(then.get(p) - first.get(p)).toMillis();
                long waitedMs = Duration.ofNanos(then.get(p) - processed).toMillis();
                System.out.printf("%s-%d: second commit %d ms after the first, %d ms after the records were processed%n",
                        topic, p, gapMs, waitedMs);
                assertTrue(gapMs >= KafkaConfig.ACK_TIME_MS - 250,
                        topic + "-" + p + ": second commit only " + gapMs + " ms after the first (ackTime " + KafkaConfig.ACK_TIME_MS + ")");
                assertTrue(gapMs <= KafkaConfig.ACK_TIME_MS + 1500,
                        topic + "-" + p + ": second commit " + gapMs + " ms after the first (ackTime " + KafkaConfig.ACK_TIME_MS + ")");
            }
            long waitedMs = Duration.ofNanos(then.values().stream().mapToLong(Long::longValue).min().orElseThrow() - processed).toMillis();
            assertTrue(waitedMs >= 500, "the commit waited for ackTime, not for the records: " + waitedMs + " ms after processing");
        } finally {
            stop(topic);
        }
    }

    @Test
    void manualCommitsAcknowledgedAtNextPoll() {
        String topic = n("ack-manual");
        run(topic);
        try {
            Map<Integer, List<Seen>> seen = byPartition(listeners.seen(topic));
            for (int p = 0; p < PARTITIONS; p++) {
                int part = p;
                // Acknowledged records are committed when the container next polls:
                // at this record, what was acknowledged in earlier polls.
                LongUnaryOperator expected =
                        o -> noneIfZero(Math.min(pollStart(topic, part, o), AckModeListeners.ACK_BELOW));
                assertAtEntry(topic, seen, p, expected);
                for (Seen s : seen.get(p)) {
                    if (s.offset() < AckModeListeners.ACK_BELOW) {
                        assertEquals(expected.applyAsLong(s.offset()), s.committedAfterAck(),
                                topic + "-" + p + ": acknowledge() of offset " + s.offset() + " commits nothing at once");
                    }
                }
            }
            // Only the acknowledged records: the offset stops there.
            assertFinal(topic, AckModeListeners.ACK_BELOW, true);
        } finally {
            stop(topic);
        }
    }

    @Test
    void manualImmediateCommitsAtAcknowledge() {
        String topic = n("ack-manual-immediate");
        run(topic);
        try {
            Map<Integer, List<Seen>> seen = byPartition(listeners.seen(topic));
            for (int p = 0; p < PARTITIONS; p++) {
                assertAtEntry(topic, seen, p, o -> noneIfZero(Math.min(o, AckModeListeners.ACK_BELOW)));
                for (Seen s : seen.get(p)) {
                    if (s.offset() < AckModeListeners.ACK_BELOW) {
                        assertEquals(s.offset() + 1, s.committedAfterAck(),
                                topic + "-" + p + ": committed right after acknowledge() of offset " + s.offset());
                    }
                }
            }
            assertFinal(topic, AckModeListeners.ACK_BELOW, true);
        } finally {
            stop(topic);
        }
    }
}
