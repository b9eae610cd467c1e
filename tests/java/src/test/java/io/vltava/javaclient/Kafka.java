package io.vltava.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.TestInfo;

/** Client factories and small helpers shared by the tests. */
public final class Kafka {
    private Kafka() {}

    public static final Duration TIMEOUT = Duration.ofSeconds(30);

    /** A topic or group name unique to this test. */
    public static String name(TestInfo info) {
        String base = info.getTestMethod().map(m -> m.getName()).orElse("t")
                + info.getDisplayName().replaceAll("[^A-Za-z0-9._-]", "-");
        if (base.length() > 100) {
            base = base.substring(0, 100);
        }
        return base + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    public static Admin admin(VltavaBroker b) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, b.bootstrap());
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        return Admin.create(p);
    }

    public static KafkaProducer<String, String> producer(VltavaBroker b, Object... kv) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, b.bootstrap());
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30000);
        put(p, kv);
        return new KafkaProducer<>(p);
    }

    public static KafkaConsumer<String, String> consumer(VltavaBroker b, Object... kv) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, b.bootstrap());
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        put(p, kv);
        return new KafkaConsumer<>(p);
    }

    private static void put(Properties p, Object... kv) {
        if (kv.length % 2 != 0) {
            throw new IllegalArgumentException("key/value pairs expected");
        }
        for (int i = 0; i < kv.length; i += 2) {
            p.put((String) kv[i], kv[i + 1]);
        }
    }

    public static void createTopic(VltavaBroker b, String name, int partitions, Map<String, String> configs)
            throws Exception {
        try (Admin admin = admin(b)) {
            admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs)))
                    .all().get(30, TimeUnit.SECONDS);
        }
    }

    public static void createTopic(VltavaBroker b, String name, int partitions) throws Exception {
        createTopic(b, name, partitions, Map.of());
    }

    /**
     * Polls an assigned consumer until it has {@code n} records (failing
     * after {@link #TIMEOUT}); returns exactly the records polled.
     */
    public static List<ConsumerRecord<String, String>> pollN(KafkaConsumer<String, String> c, int n) {
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (out.size() < n) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("got " + out.size() + " of " + n + " records: " + out);
            }
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                out.add(r);
            }
        }
        return out;
    }

    /** Polls for {@code ms} and returns whatever came. */
    public static List<ConsumerRecord<String, String>> pollFor(KafkaConsumer<String, String> c, long ms) {
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
        while (System.nanoTime() < deadline) {
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                out.add(r);
            }
        }
        return out;
    }

    /** Every record of the given partitions from the beginning, read by an unassigned consumer. */
    public static List<ConsumerRecord<String, String>> readAll(VltavaBroker b, Collection<TopicPartition> tps,
            String isolation) {
        try (KafkaConsumer<String, String> c = consumer(b, ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation)) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            List<ConsumerRecord<String, String>> out = new ArrayList<>();
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (!tps.stream().allMatch(tp -> c.position(tp) >= end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("did not reach " + end + "; got " + out);
                }
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    out.add(r);
                }
            }
            return out;
        }
    }

    public static void waitUntil(String what, BooleanSupplier cond) {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            VltavaBroker.sleep(50);
        }
    }

    /** The cause of the ExecutionException a failed future throws, checked to be of {@code type}. */
    public static <T extends Throwable> T failure(Class<T> type, Future<?> f) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(30, TimeUnit.SECONDS));
        return assertInstanceOf(type, e.getCause(), () -> "cause: " + e.getCause());
    }

    public static Map<String, Long> offsets(Map<TopicPartition, Long> m) {
        Map<String, Long> out = new HashMap<>();
        m.forEach((tp, o) -> out.put(tp.toString(), o));
        return out;
    }

    public static void assertValues(List<String> expected, List<ConsumerRecord<String, String>> records) {
        List<String> got = new ArrayList<>();
        records.forEach(r -> got.add(r.value()));
        assertEquals(expected, got);
    }
}
