package io.vltava.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.kafka.config.KafkaListenerEndpointRegistry;
import org.springframework.kafka.core.KafkaTemplate;

/**
 * A transactional KafkaTemplate (its producer factory has a
 * transactionIdPrefix) and a listener container running in the
 * KafkaTransactionManager's transactions ({@link TransferListener}).
 */
class TransactionTest extends SpringKafkaTest {
    @Autowired
    @Qualifier("txTemplate")
    KafkaTemplate<String, String> txTemplate;
    @Autowired
    KafkaTemplate<String, String> kafkaTemplate;
    @Autowired
    KafkaListenerEndpointRegistry registry;
    @Autowired
    TransferListener transfer;
    @Autowired
    Offsets offsets;
    @Value("${spring.kafka.bootstrap-servers}")
    String bootstrap;

    private List<String> read(String topic, String isolation, String prefix) {
        return Records.values(Records.readAll(bootstrap, topic, isolation)).stream()
                .filter(v -> v.startsWith(prefix)).sorted().toList();
    }

    @Test
    void executeInTransactionCommitIsVisibleToReadCommitted() {
        txTemplate.executeInTransaction(t -> {
            for (int i = 0; i < 3; i++) {
                t.send(n("tx-plain"), "k", "committed-" + i);
            }
            return null;
        });
        List<String> want = List.of("committed-0", "committed-1", "committed-2");
        assertEquals(want, read(n("tx-plain"), "read_committed", "committed-"));
        assertEquals(want, read(n("tx-plain"), "read_uncommitted", "committed-"));
    }

    @Test
    void aTransactionThatThrowsIsAbortedAndInvisibleToReadCommitted() {
        RuntimeException boom = assertThrows(RuntimeException.class, () -> txTemplate.executeInTransaction(t -> {
            t.send(n("tx-plain"), "k", "aborted-0");
            t.send(n("tx-plain"), "k", "aborted-1");
            t.flush(); // the records are on the broker before the abort
            throw new IllegalStateException("boom");
        }));
        assertEquals("boom", boom.getMessage());
        // A later transaction commits after the aborted one, so the last stable offset moves past it.
        txTemplate.executeInTransaction(t -> t.send(n("tx-plain"), "k", "aborted-after"));

        assertEquals(List.of("aborted-after"), read(n("tx-plain"), "read_committed", "aborted-"));
        assertEquals(List.of("aborted-0", "aborted-1", "aborted-after"), read(n("tx-plain"), "read_uncommitted", "aborted-"));
    }

    @Test
    void consumeProcessProduceInTheContainersTransaction() {
        List<String> good = new ArrayList<>();
        List<String> bad = new ArrayList<>();
        for (int p = 0; p < 3; p++) {
            for (int i = 0; i < 4; i++) {
                String v = ((p == 0 && i == 1) || (p == 2 && i == 2) ? "boom-" : "move-") + p + "-" + i;
                (v.startsWith("boom") ? bad : good).add(v);
                kafkaTemplate.send(n("tx-in"), p, "k" + p, v);
            }
        }
        kafkaTemplate.flush();
        registry.getListenerContainer("transfer").start();
        try {
            Map<Integer, Long> end = new TreeMap<>(Map.of(0, 4L, 1, 4L, 2, 4L));
            waitFor("transfer: the group committed past every record of tx-in", Duration.ofSeconds(60),
                    () -> offsets.committed(n("transfer"), n("tx-in")).equals(end));
            Map<String, Integer> attempts = new TreeMap<>();
            transfer.attempts().forEach((v, n) -> attempts.put(v, n.get()));
            for (String v : good) {
                assertEquals(1, (int) attempts.getOrDefault(v, 0), v + ": processed once (" + attempts + ")");
            }
            for (String v : bad) {
                // DefaultAfterRollbackProcessor with FixedBackOff(0, 1): tried twice, then skipped.
                assertEquals(2, (int) attempts.getOrDefault(v, 0), v + ": attempts (" + attempts + ")");
            }
            List<String> committed = read(n("tx-out"), "read_committed", "out-");
            List<String> wantCommitted = good.stream().map(v -> "out-" + v).sorted().toList();
            assertEquals(wantCommitted, committed, "tx-out, read_committed: each good record's output once");

            List<String> wantAll = new ArrayList<>(wantCommitted);
            for (String v : bad) {
                wantAll.add("out-" + v); // once per attempt, both aborted
                wantAll.add("out-" + v);
            }
            Collections.sort(wantAll);
            assertEquals(wantAll, read(n("tx-out"), "read_uncommitted", "out-"),
                    "tx-out, read_uncommitted: also the aborted outputs of the failed attempts");
        } finally {
            registry.getListenerContainer("transfer").stop();
        }
    }
}
