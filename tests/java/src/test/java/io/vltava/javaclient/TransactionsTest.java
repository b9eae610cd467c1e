package io.vltava.javaclient;

import static io.vltava.javaclient.Kafka.admin;
import static io.vltava.javaclient.Kafka.consumer;
import static io.vltava.javaclient.Kafka.createTopic;
import static io.vltava.javaclient.Kafka.name;
import static io.vltava.javaclient.Kafka.producer;
import static io.vltava.javaclient.Kafka.readAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtendWith;

/** Transactional producers, read_committed consumers and the transaction admin calls. */
@ExtendWith(VltavaExtension.class)
class TransactionsTest {
    private final VltavaBroker broker;

    TransactionsTest(VltavaBroker broker) {
        this.broker = broker;
    }

    private KafkaProducer<String, String> txProducer(String id) {
        return producer(broker, ProducerConfig.TRANSACTIONAL_ID_CONFIG, id,
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 60000);
    }

    private static List<String> values(List<ConsumerRecord<String, String>> records) {
        List<String> out = new ArrayList<>();
        records.forEach(r -> out.add(r.value()));
        return out;
    }

    /**
     * A committed transaction over two partitions: read_committed and
     * read_uncommitted consumers see all of it, each partition ends with a
     * commit marker (one offset past the last record).
     */
    @Test
    void commitIsVisibleToBoth(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 2);
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        try (KafkaProducer<String, String> p = txProducer(name(info))) {
            p.initTransactions();
            p.beginTransaction();
            for (int i = 0; i < 5; i++) {
                RecordMetadata md = p.send(new ProducerRecord<>(topic, i % 2, "k", "v" + i)).get();
                assertEquals(i / 2, md.offset());
            }
            p.commitTransaction();
        }
        assertEquals(List.of("v0", "v2", "v4"), values(readAll(broker, List.of(p0), "read_committed")));
        assertEquals(List.of("v1", "v3"), values(readAll(broker, List.of(p1), "read_committed")));
        assertEquals(List.of("v0", "v2", "v4"), values(readAll(broker, List.of(p0), "read_uncommitted")));
        try (Admin admin = admin(broker)) {
            var latest = admin.listOffsets(Map.of(p0, OffsetSpec.latest(), p1, OffsetSpec.latest()))
                    .all().get(30, TimeUnit.SECONDS);
            // Three records and the marker; two records and the marker.
            assertEquals(4, latest.get(p0).offset());
            assertEquals(3, latest.get(p1).offset());
        }
    }

    /**
     * An aborted transaction is invisible to read_committed and visible to
     * read_uncommitted; a committed one after it is visible to both.
     */
    @Test
    void abortIsInvisibleToReadCommitted(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> p = txProducer(name(info))) {
            p.initTransactions();
            p.beginTransaction();
            for (int i = 0; i < 5; i++) {
                p.send(new ProducerRecord<>(topic, "k", "aborted" + i));
            }
            p.flush();
            p.abortTransaction();
            p.beginTransaction();
            for (int i = 0; i < 3; i++) {
                p.send(new ProducerRecord<>(topic, "k", "committed" + i));
            }
            p.commitTransaction();
        }
        assertEquals(List.of("committed0", "committed1", "committed2"),
                values(readAll(broker, List.of(tp), "read_committed")));
        List<ConsumerRecord<String, String>> all = readAll(broker, List.of(tp), "read_uncommitted");
        assertEquals(List.of("aborted0", "aborted1", "aborted2", "aborted3", "aborted4",
                "committed0", "committed1", "committed2"), values(all));
        // Offsets 0-4 the aborted records, 5 the abort marker, 6-8 the committed ones, 9 the commit marker.
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 6L, 7L, 8L), all.stream().map(ConsumerRecord::offset).toList());
    }

    /**
     * While a transaction is open, read_committed stops at the last stable
     * offset (its first offset): endOffsets and ListOffsets with
     * READ_COMMITTED say so, and the admin sees the transaction ongoing
     * (ListTransactions, DescribeTransactions, DescribeProducers).
     */
    @Test
    void openTransactionHoldsBackReadCommitted(TestInfo info) throws Exception {
        String topic = name(info);
        String txnId = name(info);
        createTopic(broker, topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> plain = producer(broker);
                KafkaProducer<String, String> p = txProducer(txnId);
                Admin admin = admin(broker)) {
            plain.send(new ProducerRecord<>(topic, "k", "before")).get();
            p.initTransactions();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "k", "t0"));
            p.send(new ProducerRecord<>(topic, "k", "t1"));
            p.flush();
            plain.send(new ProducerRecord<>(topic, "k", "during")).get();

            assertEquals(List.of("before"), values(readAll(broker, List.of(tp), "read_committed")));
            assertEquals(List.of("before", "t0", "t1", "during"),
                    values(readAll(broker, List.of(tp), "read_uncommitted")));
            try (KafkaConsumer<String, String> rc = consumer(broker,
                    ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
                    KafkaConsumer<String, String> ru = consumer(broker)) {
                assertEquals(1L, rc.endOffsets(List.of(tp)).get(tp));
                assertEquals(4L, ru.endOffsets(List.of(tp)).get(tp));
            }
            assertEquals(1L, admin.listOffsets(Map.of(tp, OffsetSpec.latest()),
                    new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get().get(tp).offset());
            assertEquals(4L, admin.listOffsets(Map.of(tp, OffsetSpec.latest()),
                    new ListOffsetsOptions(IsolationLevel.READ_UNCOMMITTED)).all().get().get(tp).offset());

            List<TransactionListing> listed = new ArrayList<>(admin.listTransactions().all().get());
            listed.removeIf(l -> !l.transactionalId().equals(txnId));
            assertEquals(1, listed.size());
            assertEquals(TransactionState.ONGOING, listed.get(0).state());
            long producerId = listed.get(0).producerId();

            TransactionDescription d = admin.describeTransactions(Set.of(txnId)).description(txnId).get();
            assertEquals(TransactionState.ONGOING, d.state());
            assertEquals(producerId, d.producerId());
            assertEquals(0, d.producerEpoch());
            assertEquals(60000, d.transactionTimeoutMs());
            assertTrue(d.transactionStartTimeMs().isPresent());
            assertEquals(Set.of(tp), d.topicPartitions());
            assertEquals(1, d.coordinatorId());

            var producers = admin.describeProducers(List.of(tp)).partitionResult(tp).get().activeProducers();
            var txState = producers.stream().filter(s -> s.producerId() == producerId).findFirst().orElseThrow();
            assertEquals(0, txState.producerEpoch());
            assertEquals(1, txState.lastSequence());
            assertEquals(1L, (long) txState.currentTransactionStartOffset().orElseThrow());

            p.commitTransaction();

            assertEquals(List.of("before", "t0", "t1", "during"),
                    values(readAll(broker, List.of(tp), "read_committed")));
            assertEquals(5L, admin.listOffsets(Map.of(tp, OffsetSpec.latest()),
                    new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get().get(tp).offset());
            d = admin.describeTransactions(Set.of(txnId)).description(txnId).get();
            assertEquals(TransactionState.COMPLETE_COMMIT, d.state());
            assertEquals(Set.of(), d.topicPartitions());
            var after = admin.describeProducers(List.of(tp)).partitionResult(tp).get().activeProducers();
            assertFalse(after.stream().filter(s -> s.producerId() == producerId).findFirst().orElseThrow()
                    .currentTransactionStartOffset().isPresent());
        }
    }

    /** A second producer with the same transactional.id fences the first and aborts its transaction. */
    @Test
    void secondProducerFencesFirst(TestInfo info) throws Exception {
        String topic = name(info);
        String txnId = name(info);
        createTopic(broker, topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> first = txProducer(txnId)) {
            first.initTransactions();
            first.beginTransaction();
            first.send(new ProducerRecord<>(topic, "k", "zombie")).get();
            try (KafkaProducer<String, String> second = txProducer(txnId)) {
                second.initTransactions();
                assertThrows(ProducerFencedException.class, first::commitTransaction);
                second.beginTransaction();
                second.send(new ProducerRecord<>(topic, "k", "live"));
                second.commitTransaction();
            }
        }
        assertEquals(List.of("live"), values(readAll(broker, List.of(tp), "read_committed")));
        assertEquals(List.of("zombie", "live"), values(readAll(broker, List.of(tp), "read_uncommitted")));
        try (Admin admin = admin(broker)) {
            TransactionDescription d = admin.describeTransactions(Set.of(txnId)).description(txnId).get();
            assertEquals(TransactionState.COMPLETE_COMMIT, d.state());
            // As Kafka's coordinator does: one bump to abort the fenced
            // producer's transaction, one for the new producer's init.
            assertEquals(2, d.producerEpoch());
        }
    }

    /**
     * Consume-transform-produce: offsets sent with the transaction are
     * committed with it, and not at all when it aborts.
     */
    @Test
    void sendOffsetsToTransaction(TestInfo info) throws Exception {
        String in = name(info);
        String out = in + "-out";
        String group = in + "-group";
        createTopic(broker, in, 1);
        createTopic(broker, out, 1);
        TopicPartition inTp = new TopicPartition(in, 0);
        try (KafkaProducer<String, String> plain = producer(broker)) {
            for (int i = 0; i < 10; i++) {
                plain.send(new ProducerRecord<>(in, "k", "in" + i));
            }
        }
        try (KafkaConsumer<String, String> c = consumer(broker, ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
                KafkaProducer<String, String> p = txProducer(name(info));
                Admin admin = admin(broker)) {
            c.subscribe(List.of(in));
            List<ConsumerRecord<String, String>> got = Kafka.pollN(c, 10);
            p.initTransactions();

            // First the first five, aborted.
            p.beginTransaction();
            for (ConsumerRecord<String, String> r : got.subList(0, 5)) {
                p.send(new ProducerRecord<>(out, r.key(), r.value().replace("in", "out")));
            }
            p.sendOffsetsToTransaction(Map.of(inTp, new OffsetAndMetadata(5)), c.groupMetadata());
            p.abortTransaction();
            assertEquals(Map.of(), admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get());

            p.beginTransaction();
            for (ConsumerRecord<String, String> r : got) {
                p.send(new ProducerRecord<>(out, r.key(), r.value().replace("in", "out")));
            }
            p.sendOffsetsToTransaction(Map.of(inTp, new OffsetAndMetadata(10, "done")), c.groupMetadata());
            p.commitTransaction();
            OffsetAndMetadata committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                    .get().get(inTp);
            assertEquals(10, committed.offset());
            assertEquals("done", committed.metadata());
            assertEquals(10, c.committed(Set.of(inTp)).get(inTp).offset());
        }
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            expected.add("out" + i);
        }
        assertEquals(expected, values(readAll(broker, List.of(new TopicPartition(out, 0)), "read_committed")));
    }

    /**
     * A read_committed consumer in a group sees a transaction's records
     * only once it commits, and never an aborted one's.
     */
    @Test
    void readCommittedConsumerWaitsForCommit(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1);
        try (KafkaProducer<String, String> p = txProducer(name(info));
                KafkaConsumer<String, String> rc = consumer(broker, ConsumerConfig.GROUP_ID_CONFIG, name(info),
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
                KafkaConsumer<String, String> ru = consumer(broker, ConsumerConfig.GROUP_ID_CONFIG, name(info))) {
            rc.subscribe(List.of(topic));
            ru.subscribe(List.of(topic));
            p.initTransactions();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "k", "a"));
            p.send(new ProducerRecord<>(topic, "k", "b"));
            p.flush();
            assertEquals(List.of("a", "b"), values(Kafka.pollN(ru, 2)));
            assertEquals(List.of(), Kafka.pollFor(rc, 1000));
            p.commitTransaction();
            assertEquals(List.of("a", "b"), values(Kafka.pollN(rc, 2)));

            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "k", "x"));
            p.flush(); // else the client drops the unsent record at the abort
            p.abortTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "k", "c"));
            p.commitTransaction();
            List<ConsumerRecord<String, String>> next = Kafka.pollN(rc, 1);
            assertEquals(List.of("c"), values(next));
            assertEquals(List.of("x", "c"), values(Kafka.pollN(ru, 2)));
            assertEquals(List.of(), Kafka.pollFor(rc, 500));
        }
    }
}
