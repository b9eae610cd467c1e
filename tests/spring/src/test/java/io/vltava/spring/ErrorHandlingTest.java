package io.vltava.spring;

import io.vltava.javaclient.VltavaBroker;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.kafka.config.KafkaListenerEndpointRegistry;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.listener.ListenerExecutionFailedException;
import org.springframework.kafka.support.KafkaHeaders;

/**
 * DefaultErrorHandler with FixedBackOff(50 ms, RETRIES) and a
 * DeadLetterPublishingRecoverer ({@link KafkaConfig#ordersErrorHandler}) on
 * {@link OrderListener}: 3 consumers, 3 partitions, 5 records a partition, 2
 * of which fail.
 */
class ErrorHandlingTest extends SpringKafkaTest {
    @Autowired
    KafkaListenerEndpointRegistry registry;
    @Autowired
    KafkaTemplate<String, String> kafkaTemplate;
    @Autowired
    OrderListener listener;
    @Autowired
    Offsets offsets;
    @Value("${spring.kafka.bootstrap-servers}")
    String bootstrap;

    @Test
    void failingRecordsAreRetriedThenDeadLetteredAndTheGroupMovesOn() {
        List<String> good = new ArrayList<>();
        List<String> bad = new ArrayList<>();
        for (int p = 0; p < 3; p++) {
            for (int i = 0; i < 5; i++) {
                // Offsets 1 and 3 of each partition fail; the last record is good.
                String v = (i == 1 || i == 3 ? "bad-" : "good-") + p + "-" + i;
                (v.startsWith("bad") ? bad : good).add(v);
                kafkaTemplate.send(n("orders"), p, "k" + i, v);
            }
        }
        kafkaTemplate.flush();
        registry.getListenerContainer("orders").start();
        try {
            Map<Integer, Long> end = new TreeMap<>(Map.of(0, 5L, 1, 5L, 2, 5L));
            waitFor("orders: the group committed past every record", Duration.ofSeconds(60),
                    () -> offsets.committed(n("orders"), n("orders")).equals(end));

            Map<String, Integer> attempts = new TreeMap<>();
            listener.attempts().forEach((v, n) -> attempts.put(v, n.get()));
            for (String v : bad) {
                assertEquals((int) (KafkaConfig.RETRIES + 1), (int) attempts.getOrDefault(v, 0), v + ": attempts (" + attempts + ")");
            }
            for (String v : good) {
                assertEquals(1, (int) attempts.getOrDefault(v, 0), v + ": processed once (" + attempts + ")");
            }

            List<ConsumerRecord<String, String>> dlt = Records.readAll(bootstrap, n("orders") + "-dlt", "read_committed");
            assertEquals(new TreeSet<>(bad), new TreeSet<>(Records.values(dlt)), "orders-dlt holds the failed records");
            assertEquals(bad.size(), dlt.size(), "each failed record on the DLT once");
            for (ConsumerRecord<String, String> r : dlt) {
                String[] parts = r.value().split("-");
                int partition = Integer.parseInt(parts[1]);
                long offset = Long.parseLong(parts[2]);
                assertEquals(partition, r.partition(), r.value() + ": the DLT partition is the original's");
                assertEquals(n("orders"), header(r, KafkaHeaders.DLT_ORIGINAL_TOPIC));
                assertEquals(partition, intHeader(r, KafkaHeaders.DLT_ORIGINAL_PARTITION));
                assertEquals(offset, longHeader(r, KafkaHeaders.DLT_ORIGINAL_OFFSET));
                assertEquals(n("orders"), header(r, KafkaHeaders.DLT_ORIGINAL_CONSUMER_GROUP));
                assertEquals(ListenerExecutionFailedException.class.getName(), header(r, KafkaHeaders.DLT_EXCEPTION_FQCN));
                assertEquals(IllegalStateException.class.getName(), header(r, KafkaHeaders.DLT_EXCEPTION_CAUSE_FQCN));
                String message = header(r, KafkaHeaders.DLT_EXCEPTION_MESSAGE);
                assertTrue(message.contains("cannot process order " + r.value()), message);
                assertTrue(header(r, KafkaHeaders.DLT_EXCEPTION_STACKTRACE).contains("OrderListener.onOrder"));
            }
            // Nothing more happens later: no redelivery after the commit.
            VltavaBroker.sleep(500);
            assertEquals(end, offsets.committed(n("orders"), n("orders")));
            assertEquals(bad.size() + good.size(), listener.attempts().size());
        } finally {
            registry.getListenerContainer("orders").stop();
        }
    }

    private static byte[] raw(ConsumerRecord<?, ?> r, String name) {
        Header h = r.headers().lastHeader(name);
        assertNotNull(h, r.value() + ": header " + name);
        return h.value();
    }

    private static String header(ConsumerRecord<?, ?> r, String name) {
        return new String(raw(r, name), StandardCharsets.UTF_8);
    }

    private static int intHeader(ConsumerRecord<?, ?> r, String name) {
        return java.nio.ByteBuffer.wrap(raw(r, name)).getInt();
    }

    private static long longHeader(ConsumerRecord<?, ?> r, String name) {
        return java.nio.ByteBuffer.wrap(raw(r, name)).getLong();
    }
}
