package io.vltava.spring;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.stereotype.Component;

/**
 * A listener that fails on the records whose value starts with "bad": the
 * ordersFactory's DefaultErrorHandler retries them (FixedBackOff) and then
 * the DeadLetterPublishingRecoverer sends them to orders-dlt.
 */
@Component
public class OrderListener {
    private final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();

    public Map<String, AtomicInteger> attempts() {
        return attempts;
    }

    @KafkaListener(id = "orders", topics = "orders${vltava.run:}", groupId = "orders${vltava.run:}", containerFactory = "ordersFactory",
            concurrency = "3", autoStartup = "false")
    public void onOrder(ConsumerRecord<String, String> r) {
        attempts.computeIfAbsent(r.value(), v -> new AtomicInteger()).incrementAndGet();
        if (r.value().startsWith("bad")) {
            throw new IllegalStateException("cannot process order " + r.value());
        }
    }
}
