package io.vltava.spring;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.support.Acknowledgment;
import org.springframework.stereotype.Component;

/**
 * One {@code @KafkaListener} per AckMode, each with 3 consumers (concurrency
 * 3) on a 3-partition topic of its own, in a group of its own, started by the
 * tests (autoStartup false). max.poll.records=3 makes each poll small, so that
 * a topic of 9 records a partition takes several polls; {@link PollLog}
 * remembers them. Each record's handling notes what the group had committed
 * for the record's partition when the listener got the record (and, for the
 * manual modes, right after it acknowledged the record).
 */
@Component
public class AckModeListeners {
    /** The manual modes acknowledge only the records below this offset. */
    public static final long ACK_BELOW = 4;

    /** One record's handling. committedAfterAck is -2 when the record was not acknowledged. */
    public record Seen(int partition, long offset, long committedAtEntry, long committedAfterAck, long atNanos) {
    }

    private final Offsets offsets;
    private final Map<String, List<Seen>> seen = new ConcurrentHashMap<>();

    public AckModeListeners(Offsets offsets) {
        this.offsets = offsets;
    }

    public List<Seen> seen(String topic) {
        List<Seen> l = seen.getOrDefault(topic, List.of());
        synchronized (l) {
            return new ArrayList<>(l);
        }
    }

    private long committed(ConsumerRecord<?, ?> r) {
        // Each test's group is named after its topic.
        return offsets.committed(r.topic(), r.topic(), r.partition());
    }

    private void note(ConsumerRecord<?, ?> r, long atEntry, long afterAck) {
        List<Seen> l = seen.computeIfAbsent(r.topic(), t -> new ArrayList<>());
        synchronized (l) {
            l.add(new Seen(r.partition(), r.offset(), atEntry, afterAck, System.nanoTime()));
        }
    }

    private static final String PROPS_POLL = "max.poll.records=3";
    private static final String PROPS_LOG = "interceptor.classes=io.vltava.spring.PollLog";

    @KafkaListener(id = "ack-record", topics = "ack-record${vltava.run:}", groupId = "ack-record${vltava.run:}", containerFactory = "recordFactory",
            concurrency = "3", autoStartup = "false", properties = {PROPS_POLL, PROPS_LOG})
    public void record(ConsumerRecord<String, String> r) {
        note(r, committed(r), -2);
    }

    @KafkaListener(id = "ack-batch", topics = "ack-batch${vltava.run:}", groupId = "ack-batch${vltava.run:}", containerFactory = "batchFactory",
            concurrency = "3", autoStartup = "false", properties = {PROPS_POLL, PROPS_LOG})
    public void batch(ConsumerRecord<String, String> r) {
        note(r, committed(r), -2);
    }

    @KafkaListener(id = "ack-time", topics = "ack-time${vltava.run:}", groupId = "ack-time${vltava.run:}", containerFactory = "timeFactory",
            concurrency = "3", autoStartup = "false", properties = {PROPS_POLL, PROPS_LOG})
    public void time(ConsumerRecord<String, String> r) {
        note(r, committed(r), -2);
    }

    @KafkaListener(id = "ack-count", topics = "ack-count${vltava.run:}", groupId = "ack-count${vltava.run:}", containerFactory = "countFactory",
            concurrency = "3", autoStartup = "false", properties = {PROPS_POLL, PROPS_LOG})
    public void count(ConsumerRecord<String, String> r) {
        note(r, committed(r), -2);
    }

    @KafkaListener(id = "ack-manual", topics = "ack-manual${vltava.run:}", groupId = "ack-manual${vltava.run:}", containerFactory = "manualFactory",
            concurrency = "3", autoStartup = "false", properties = {PROPS_POLL, PROPS_LOG})
    public void manual(ConsumerRecord<String, String> r, Acknowledgment ack) {
        long atEntry = committed(r);
        long afterAck = -2;
        if (r.offset() < ACK_BELOW) {
            ack.acknowledge();
            afterAck = committed(r);
        }
        note(r, atEntry, afterAck);
    }

    @KafkaListener(id = "ack-manual-immediate", topics = "ack-manual-immediate${vltava.run:}", groupId = "ack-manual-immediate${vltava.run:}",
            containerFactory = "manualImmediateFactory", concurrency = "3", autoStartup = "false",
            properties = {PROPS_POLL, PROPS_LOG})
    public void manualImmediate(ConsumerRecord<String, String> r, Acknowledgment ack) {
        long atEntry = committed(r);
        long afterAck = -2;
        if (r.offset() < ACK_BELOW) {
            ack.acknowledge();
            afterAck = committed(r);
        }
        note(r, atEntry, afterAck);
    }
}
