package io.vltava.javaclient;

import static io.vltava.javaclient.Kafka.admin;
import static io.vltava.javaclient.Kafka.consumer;
import static io.vltava.javaclient.Kafka.createTopic;
import static io.vltava.javaclient.Kafka.name;
import static io.vltava.javaclient.Kafka.producer;
import static io.vltava.javaclient.Kafka.readAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.NotEnoughReplicasException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** Behaviour that depends on broker settings: each nested class gets a broker of its own. */
class BrokerSettingsTest {

    /** Auto-created topics get num.partitions, from a producer's and from a consumer's metadata request. */
    @Nested
    @org.junit.jupiter.api.extension.ExtendWith(VltavaExtension.class)
    @BrokerSettings({"num.partitions=3"})
    class AutoCreation {
        @Test
        void producerAndConsumerCreateTopics(VltavaBroker broker, TestInfo info) throws Exception {
            String produced = name(info);
            String subscribed = produced + "-sub";
            try (KafkaProducer<String, String> p = producer(broker)) {
                assertEquals(2, p.send(new ProducerRecord<>(produced, 2, "k", "v")).get(30, TimeUnit.SECONDS)
                        .partition());
                assertEquals(3, p.partitionsFor(produced).size());
            }
            try (KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.GROUP_ID_CONFIG, name(info))) {
                c.subscribe(List.of(subscribed));
                Kafka.waitUntil("the new topic's three partitions assigned", () -> {
                    c.poll(Duration.ofMillis(100));
                    return c.assignment().size() == 3;
                });
            }
        }
    }

    /** With auto.create.topics.enable=false a producer waits for the topic until max.block.ms, as with Kafka. */
    @Nested
    @org.junit.jupiter.api.extension.ExtendWith(VltavaExtension.class)
    @BrokerSettings({"auto.create.topics.enable=false"})
    class NoAutoCreation {
        @Test
        void producerTimesOutOnAnUnknownTopic(VltavaBroker broker, TestInfo info) throws Exception {
            String topic = name(info);
            try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.MAX_BLOCK_MS_CONFIG, 1500)) {
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> p.send(new ProducerRecord<>(topic, "k", "v")).get(30, TimeUnit.SECONDS));
                assertInstanceOf(TimeoutException.class, e.getCause());
                assertTrue(e.getCause().getMessage().contains("not present in metadata"), e.getCause().getMessage());
            }
            try (Admin admin = admin(broker)) {
                assertFalse(admin.listTopics().names().get().contains(topic));
            }
            // Created explicitly, it takes records.
            createTopic(broker, topic, 1);
            try (KafkaProducer<String, String> p = producer(broker)) {
                assertEquals(0, p.send(new ProducerRecord<>(topic, "k", "v")).get(30, TimeUnit.SECONDS).offset());
            }
        }
    }

    /**
     * min.insync.replicas=2 on one node: acks=all is refused with
     * NOT_ENOUGH_REPLICAS before anything is appended; acks=1 is not
     * held to it.
     */
    @Nested
    @org.junit.jupiter.api.extension.ExtendWith(VltavaExtension.class)
    class MinInsyncReplicas {
        @Test
        void acksAllNeedsTheIsr(VltavaBroker broker, TestInfo info) throws Exception {
            String topic = name(info);
            createTopic(broker, topic, 1, Map.of("min.insync.replicas", "2"));
            try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.ACKS_CONFIG, "all",
                    ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false, ProducerConfig.RETRIES_CONFIG, 0)) {
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> p.send(new ProducerRecord<>(topic, "k", "refused")).get(30, TimeUnit.SECONDS));
                assertInstanceOf(NotEnoughReplicasException.class, e.getCause());
            }
            try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.ACKS_CONFIG, "1")) {
                assertEquals(0, p.send(new ProducerRecord<>(topic, "k", "taken")).get(30, TimeUnit.SECONDS)
                        .offset());
            }
            Kafka.assertValues(List.of("taken"),
                    readAll(broker, List.of(new TopicPartition(topic, 0)), "read_uncommitted"));
        }
    }

    /**
     * A transaction left open past its transaction.timeout.ms is aborted
     * by the coordinator, which bumps the epoch: the producer's commit is
     * then fenced, and read_committed never sees the records.
     */
    @Nested
    @org.junit.jupiter.api.extension.ExtendWith(VltavaExtension.class)
    @BrokerSettings({"transaction.abort.timed.out.transaction.cleanup.interval.ms=200"})
    class TransactionTimeout {
        @Test
        void timedOutTransactionIsAborted(VltavaBroker broker, TestInfo info) throws Exception {
            String topic = name(info);
            String txnId = name(info);
            TopicPartition tp = new TopicPartition(topic, 0);
            createTopic(broker, topic, 1);
            try (KafkaProducer<String, String> p = producer(broker, ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId,
                    ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 1000);
                    Admin admin = admin(broker)) {
                p.initTransactions();
                p.beginTransaction();
                p.send(new ProducerRecord<>(topic, "k", "late")).get();
                Kafka.waitUntil("the coordinator to abort the transaction", () -> {
                    try {
                        TransactionDescription d = admin.describeTransactions(Set.of(txnId)).description(txnId)
                                .get();
                        return d.state() == TransactionState.COMPLETE_ABORT;
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                TransactionDescription d = admin.describeTransactions(Set.of(txnId)).description(txnId).get();
                assertEquals(1, d.producerEpoch());
                assertThrows(ProducerFencedException.class, p::commitTransaction);
            }
            assertEquals(List.of(), readAll(broker, List.of(tp), "read_committed"));
            Kafka.assertValues(List.of("late"), readAll(broker, List.of(tp), "read_uncommitted"));
        }
    }
}
