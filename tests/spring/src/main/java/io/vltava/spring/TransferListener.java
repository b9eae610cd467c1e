package io.vltava.spring;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.stereotype.Component;

/**
 * Consume-process-produce: the txFactory's container runs each delivery in a
 * Kafka transaction (KafkaTransactionManager), the template's send joins it
 * and the consumed offsets are committed in it. A record whose value starts
 * with "boom" fails after its output was sent: the transaction aborts.
 */
@Component
public class TransferListener {
    private final KafkaTemplate<String, String> txTemplate;
    private final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();

    private final String outTopic;

    public TransferListener(@Qualifier("txTemplate") KafkaTemplate<String, String> txTemplate,
            @Value("tx-out${vltava.run:}") String outTopic) {
        this.txTemplate = txTemplate;
        this.outTopic = outTopic;
    }

    public Map<String, AtomicInteger> attempts() {
        return attempts;
    }

    @KafkaListener(id = "transfer", topics = "tx-in${vltava.run:}", groupId = "transfer${vltava.run:}", containerFactory = "txFactory",
            concurrency = "3", autoStartup = "false", properties = "isolation.level=read_committed")
    public void onTransfer(ConsumerRecord<String, String> r) {
        attempts.computeIfAbsent(r.value(), v -> new AtomicInteger()).incrementAndGet();
        txTemplate.send(outTopic, r.key(), "out-" + r.value());
        if (r.value().startsWith("boom")) {
            // The output reaches the broker before the abort (else the producer
            // may just drop it from its buffer), so the tests can see it aborted.
            txTemplate.flush();
            throw new IllegalStateException("cannot transfer " + r.value());
        }
    }
}
