package io.vltava.javaclient;

import static io.vltava.javaclient.Kafka.consumer;
import static io.vltava.javaclient.Kafka.createTopic;
import static io.vltava.javaclient.Kafka.name;
import static io.vltava.javaclient.Kafka.producer;
import static io.vltava.javaclient.Kafka.readAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtendWith;

/** Clients that stay open while the broker restarts under them (SIGTERM, then the same port and data). */
@ExtendWith(VltavaExtension.class)
class RestartTest {
    private final VltavaBroker broker;

    RestartTest(VltavaBroker broker) {
        this.broker = broker;
    }

    /**
     * An idempotent producer keeps sending through a broker restart: every
     * record is acknowledged, and each is in the log exactly once and in
     * order (its retries are recognised by their sequence numbers, the
     * producer state having been kept across the restart).
     */
    @Test
    void idempotentProducerThroughRestart(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 2);
        int n = 4000;
        Map<Integer, List<String>> sent = new HashMap<>();
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.LINGER_MS_CONFIG, 1,
                ProducerConfig.BATCH_SIZE_CONFIG, 1024, ProducerConfig.RETRY_BACKOFF_MS_CONFIG, 50,
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 60000)) {
            for (int i = 0; i < n; i++) {
                if (i == n / 2) {
                    broker.restart();
                }
                int part = i % 2;
                futures.add(p.send(new ProducerRecord<>(topic, part, null, "v" + i)));
                sent.computeIfAbsent(part, k -> new ArrayList<>()).add("v" + i);
                if (i % 500 == 0) {
                    VltavaBroker.sleep(20); // let some batches go out before the restart
                }
            }
            for (Future<RecordMetadata> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
        }
        for (int part = 0; part < 2; part++) {
            TopicPartition tp = new TopicPartition(topic, part);
            Kafka.assertValues(sent.get(part), readAll(broker, List.of(tp), "read_uncommitted"));
        }
    }

    /**
     * A group consumer stays in its group through a broker restart: it
     * finds the coordinator again, keeps its partitions and commits, and
     * reads on from where it was, skipping nothing and reading nothing
     * twice.
     */
    @Test
    void groupConsumerThroughRestart(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> p = producer(broker)) {
            for (int i = 0; i < 10; i++) {
                p.send(new ProducerRecord<>(topic, "k", "before" + i));
            }
        }
        try (KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.GROUP_ID_CONFIG, name(info),
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10000, ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500)) {
            c.subscribe(List.of(topic));
            List<ConsumerRecord<String, String>> first = Kafka.pollN(c, 10);
            assertEquals("before0", first.get(0).value());
            c.commitSync();
            broker.restart();
            try (KafkaProducer<String, String> p = producer(broker)) {
                for (int i = 0; i < 10; i++) {
                    p.send(new ProducerRecord<>(topic, "k", "after" + i));
                }
            }
            List<ConsumerRecord<String, String>> second = Kafka.pollN(c, 10);
            assertEquals("after0", second.get(0).value());
            assertEquals(10, second.get(0).offset());
            assertEquals(List.of(), Kafka.pollFor(c, 300));
            Kafka.waitUntil("a commit after the restart", () -> {
                try {
                    c.commitSync(Duration.ofSeconds(5));
                    return true;
                } catch (RuntimeException e) {
                    return false; // the coordinator may still be loading
                }
            });
            assertEquals(20, c.committed(java.util.Set.of(tp)).get(tp).offset());
            assertTrue(c.assignment().contains(tp));
        }
    }
}
