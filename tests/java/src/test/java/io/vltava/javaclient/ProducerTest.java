package io.vltava.javaclient;

import static io.vltava.javaclient.Kafka.createTopic;
import static io.vltava.javaclient.Kafka.name;
import static io.vltava.javaclient.Kafka.producer;
import static io.vltava.javaclient.Kafka.readAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** KafkaProducer: acks, compression, idempotence, record fields and errors. */
@ExtendWith(VltavaExtension.class)
class ProducerTest {
    private final VltavaBroker broker;

    ProducerTest(VltavaBroker broker) {
        this.broker = broker;
    }

    private List<RecordMetadata> sendAll(KafkaProducer<String, String> p, String topic, int n) throws Exception {
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            futures.add(p.send(new ProducerRecord<>(topic, "k" + i, "v" + i)));
        }
        p.flush();
        List<RecordMetadata> out = new ArrayList<>();
        for (Future<RecordMetadata> f : futures) {
            out.add(f.get(30, TimeUnit.SECONDS));
        }
        return out;
    }

    private static List<String> values(int n) {
        List<String> v = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            v.add("v" + i);
        }
        return v;
    }

    @ParameterizedTest(name = "acks={0}")
    @ValueSource(strings = {"0", "1", "all"})
    void acks(String acks, TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1);
        int n = 200;
        List<RecordMetadata> md;
        try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.ACKS_CONFIG, acks,
                ProducerConfig.LINGER_MS_CONFIG, 5)) {
            md = sendAll(p, topic, n);
        }
        for (int i = 0; i < n; i++) {
            assertEquals(topic, md.get(i).topic());
            assertEquals(0, md.get(i).partition());
            // With acks=0 the client learns no offset: Kafka's producer reports -1.
            assertEquals(acks.equals("0") ? -1 : i, md.get(i).offset(), "offset of record " + i);
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        List<ConsumerRecord<String, String>> got = readAll(broker, List.of(tp), "read_uncommitted");
        Kafka.assertValues(values(n), got);
        for (int i = 0; i < n; i++) {
            assertEquals(i, got.get(i).offset());
            assertEquals("k" + i, got.get(i).key());
        }
    }

    /**
     * Every codec, with the topic keeping the producer's compression: the
     * records read back equal those sent, and the partition on disk
     * (DescribeLogDirs) is much smaller than the values when compressed.
     */
    @ParameterizedTest(name = "compression.type={0}")
    @ValueSource(strings = {"none", "gzip", "snappy", "lz4", "zstd"})
    void compression(String codec, TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1);
        int n = 2000;
        String pad = "x".repeat(200);
        try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                ProducerConfig.LINGER_MS_CONFIG, 20, ProducerConfig.BATCH_SIZE_CONFIG, 64 * 1024)) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                fs.add(p.send(new ProducerRecord<>(topic, "k" + i, "v" + i + pad)));
            }
            for (int i = 0; i < n; i++) {
                assertEquals(i, fs.get(i).get(30, TimeUnit.SECONDS).offset());
            }
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        List<ConsumerRecord<String, String>> got = readAll(broker, List.of(tp), "read_uncommitted");
        assertEquals(n, got.size());
        for (int i = 0; i < n; i++) {
            assertEquals(i, got.get(i).offset());
            assertEquals("v" + i + pad, got.get(i).value());
        }
        long size = partitionSize(tp);
        long raw = (long) n * (pad.length() + 5);
        if (codec.equals("none")) {
            assertTrue(size > raw, "uncompressed size " + size + " > " + raw);
        } else {
            assertTrue(size < raw / 5, codec + ": " + size + " bytes on disk for " + raw + " bytes of values");
        }
    }

    /** A topic with compression.type=gzip recompresses what an lz4 producer sends; consumers read it back. */
    @Test
    void topicCompressionTypeRecompresses(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1, Map.of("compression.type", "gzip"));
        try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4")) {
            sendAll(p, topic, 100);
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        Kafka.assertValues(values(100), readAll(broker, List.of(tp), "read_uncommitted"));
    }

    @Test
    void headersTimestampsAndNulls(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 2);
        long ts = 1_700_000_000_000L;
        List<Header> headers = List.of(new RecordHeader("h1", "one".getBytes(StandardCharsets.UTF_8)),
                new RecordHeader("h2", (byte[]) null), new RecordHeader("h1", new byte[0]));
        try (KafkaProducer<String, String> p = producer(broker)) {
            RecordMetadata a = p.send(new ProducerRecord<>(topic, 1, ts, "key", "value", headers)).get();
            assertEquals(1, a.partition());
            assertEquals(0, a.offset());
            assertEquals(ts, a.timestamp());
            RecordMetadata b = p.send(new ProducerRecord<String, String>(topic, 1, ts + 1, null, null)).get();
            assertEquals(1, b.offset());
        }
        List<ConsumerRecord<String, String>> got = readAll(broker, List.of(new TopicPartition(topic, 1)),
                "read_uncommitted");
        assertEquals(2, got.size());
        ConsumerRecord<String, String> r = got.get(0);
        assertEquals("key", r.key());
        assertEquals("value", r.value());
        assertEquals(ts, r.timestamp());
        assertEquals(TimestampType.CREATE_TIME, r.timestampType());
        Header[] h = r.headers().toArray();
        assertEquals(3, h.length);
        assertEquals("h1", h[0].key());
        assertArrayEquals("one".getBytes(StandardCharsets.UTF_8), h[0].value());
        assertEquals("h2", h[1].key());
        assertNull(h[1].value());
        assertArrayEquals(new byte[0], h[2].value());
        assertNull(got.get(1).key());
        assertNull(got.get(1).value());
        assertEquals(ts + 1, got.get(1).timestamp());
    }

    @Test
    void logAppendTime(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1, Map.of("message.timestamp.type", "LogAppendTime"));
        long before = System.currentTimeMillis();
        RecordMetadata md;
        try (KafkaProducer<String, String> p = producer(broker)) {
            md = p.send(new ProducerRecord<>(topic, null, 42L, "k", "v")).get();
        }
        long after = System.currentTimeMillis();
        assertTrue(md.timestamp() >= before && md.timestamp() <= after, "broker's time " + md.timestamp());
        ConsumerRecord<String, String> r = readAll(broker, List.of(new TopicPartition(topic, 0)),
                "read_uncommitted").get(0);
        assertEquals(TimestampType.LOG_APPEND_TIME, r.timestampType());
        assertEquals(md.timestamp(), r.timestamp());
    }

    /**
     * An idempotent producer (acks=all, 5 in flight) over 3 partitions:
     * every record once, in order, and the producer id and last sequence
     * are what DescribeProducers reports.
     */
    @Test
    void idempotentProducer(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 3);
        int n = 3000;
        Map<Integer, List<String>> sent = new HashMap<>();
        try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5,
                ProducerConfig.LINGER_MS_CONFIG, 0, ProducerConfig.BATCH_SIZE_CONFIG, 512)) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                fs.add(p.send(new ProducerRecord<>(topic, i % 3, null, "v" + i)));
                sent.computeIfAbsent(i % 3, k -> new ArrayList<>()).add("v" + i);
            }
            for (Future<RecordMetadata> f : fs) {
                f.get(30, TimeUnit.SECONDS);
            }
        }
        for (int part = 0; part < 3; part++) {
            TopicPartition tp = new TopicPartition(topic, part);
            List<ConsumerRecord<String, String>> got = readAll(broker, List.of(tp), "read_uncommitted");
            Kafka.assertValues(sent.get(part), got);
        }
        try (Admin admin = Kafka.admin(broker)) {
            var producers = admin.describeProducers(List.of(new TopicPartition(topic, 0))).all()
                    .get(30, TimeUnit.SECONDS).get(new TopicPartition(topic, 0)).activeProducers();
            assertEquals(1, producers.size());
            var state = producers.get(0);
            assertTrue(state.producerId() >= 0);
            assertEquals(0, state.producerEpoch());
            assertEquals(n / 3 - 1, state.lastSequence());
            assertFalse(state.currentTransactionStartOffset().isPresent());
        }
    }

    @Test
    void recordTooLarge(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1, Map.of("max.message.bytes", "1024"));
        try (KafkaProducer<String, String> p = producer(broker)) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> p.send(new ProducerRecord<>(topic, "k", "x".repeat(10_000))).get(30, TimeUnit.SECONDS));
            assertInstanceOf(RecordTooLargeException.class, e.getCause());
            // A record that fits still goes through, at offset 0.
            assertEquals(0, p.send(new ProducerRecord<>(topic, "k", "small")).get().offset());
        }
    }

    /** A producer's metadata request auto-creates an unknown topic with num.partitions (1 by default). */
    @Test
    void autoCreatesTopic(TestInfo info) throws Exception {
        String topic = name(info);
        try (KafkaProducer<String, String> p = producer(broker)) {
            assertEquals(0, p.send(new ProducerRecord<>(topic, "k", "v")).get(30, TimeUnit.SECONDS).offset());
            assertEquals(1, p.partitionsFor(topic).size());
        }
        try (Admin admin = Kafka.admin(broker)) {
            TopicDescription d = admin.describeTopics(Set.of(topic)).allTopicNames().get().get(topic);
            assertEquals(1, d.partitions().size());
        }
    }

    private long partitionSize(TopicPartition tp) throws Exception {
        try (Admin admin = Kafka.admin(broker)) {
            Map<String, LogDirDescription> dirs = admin.describeLogDirs(List.of(1)).allDescriptions()
                    .get(30, TimeUnit.SECONDS).get(1);
            for (LogDirDescription d : dirs.values()) {
                ReplicaInfo ri = d.replicaInfos().get(tp);
                if (ri != null) {
                    return ri.size();
                }
            }
        }
        throw new AssertionError(tp + " not in DescribeLogDirs");
    }
}
