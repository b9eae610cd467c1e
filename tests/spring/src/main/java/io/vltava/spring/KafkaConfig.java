package io.vltava.spring;

import java.util.HashMap;
import java.util.Map;

import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.StringSerializer;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.kafka.config.ConcurrentKafkaListenerContainerFactory;
import org.springframework.kafka.config.TopicBuilder;
import org.springframework.kafka.core.ConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaProducerFactory;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.core.ProducerFactory;
import org.springframework.kafka.listener.ContainerProperties.AckMode;
import org.springframework.kafka.listener.DeadLetterPublishingRecoverer;
import org.springframework.kafka.listener.DefaultAfterRollbackProcessor;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.kafka.transaction.KafkaTransactionManager;
import org.springframework.util.backoff.FixedBackOff;

/**
 * Topics, templates and listener container factories. The consumer factory is
 * Spring Boot's (spring.kafka.consumer.* in application.properties).
 */
@Configuration
public class KafkaConfig {
    /** COUNT commits once this many records were processed since the last commit. */
    public static final int ACK_COUNT = 5;
    /** TIME commits once this long has passed since the last commit. */
    public static final long ACK_TIME_MS = 2000;
    /** DefaultErrorHandler's retries (so a failing record is tried RETRIES + 1 times). */
    public static final long RETRIES = 2;

    @Value("${spring.kafka.bootstrap-servers}")
    String bootstrap;

    /**
     * Appended to every topic and group name (set by the tests, one value a
     * run), so that runs against the same broker do not see each other's records.
     */
    @Value("${vltava.run:}")
    String run;

    // --- topics (created by Spring Boot's KafkaAdmin at startup) ---

    @Bean
    NewTopic ackRecord() { return TopicBuilder.name("ack-record" + run).partitions(3).replicas(1).build(); }
    @Bean
    NewTopic ackBatch() { return TopicBuilder.name("ack-batch" + run).partitions(3).replicas(1).build(); }
    @Bean
    NewTopic ackTime() { return TopicBuilder.name("ack-time" + run).partitions(3).replicas(1).build(); }
    @Bean
    NewTopic ackCount() { return TopicBuilder.name("ack-count" + run).partitions(3).replicas(1).build(); }
    @Bean
    NewTopic ackManual() { return TopicBuilder.name("ack-manual" + run).partitions(3).replicas(1).build(); }
    @Bean
    NewTopic ackManualImmediate() { return TopicBuilder.name("ack-manual-immediate" + run).partitions(3).replicas(1).build(); }
    @Bean
    NewTopic orders() { return TopicBuilder.name("orders" + run).partitions(3).replicas(1).build(); }
    /** DeadLetterPublishingRecoverer (Spring Kafka 3.3) publishes to the same partition of {@code <topic>-dlt}. */
    @Bean
    NewTopic ordersDlt() { return TopicBuilder.name("orders" + run + "-dlt").partitions(3).replicas(1).build(); }
    @Bean
    NewTopic txPlain() { return TopicBuilder.name("tx-plain" + run).partitions(1).replicas(1).build(); }
    @Bean
    NewTopic txIn() { return TopicBuilder.name("tx-in" + run).partitions(3).replicas(1).build(); }
    @Bean
    NewTopic txOut() { return TopicBuilder.name("tx-out" + run).partitions(1).replicas(1).build(); }

    // --- producers ---

    private Map<String, Object> producerProps() {
        Map<String, Object> p = new HashMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        return p;
    }

    @Bean
    ProducerFactory<String, String> producerFactory() {
        return new DefaultKafkaProducerFactory<>(producerProps());
    }

    @Bean
    KafkaTemplate<String, String> kafkaTemplate(ProducerFactory<String, String> producerFactory) {
        return new KafkaTemplate<>(producerFactory);
    }

    /** transactionIdPrefix set: every producer of this factory is transactional. */
    @Bean
    ProducerFactory<String, String> txProducerFactory() {
        DefaultKafkaProducerFactory<String, String> pf = new DefaultKafkaProducerFactory<>(producerProps());
        pf.setTransactionIdPrefix("vltava-tx-");
        return pf;
    }

    @Bean
    KafkaTemplate<String, String> txTemplate(@Qualifier("txProducerFactory") ProducerFactory<String, String> pf) {
        return new KafkaTemplate<>(pf);
    }

    @Bean
    KafkaTransactionManager<String, String> kafkaTransactionManager(
            @Qualifier("txProducerFactory") ProducerFactory<String, String> pf) {
        return new KafkaTransactionManager<>(pf);
    }

    // --- listener container factories, one per AckMode ---

    private ConcurrentKafkaListenerContainerFactory<Object, Object> factory(ConsumerFactory<Object, Object> cf, AckMode mode) {
        ConcurrentKafkaListenerContainerFactory<Object, Object> f = new ConcurrentKafkaListenerContainerFactory<>();
        f.setConsumerFactory(cf);
        f.getContainerProperties().setAckMode(mode);
        f.getContainerProperties().setPollTimeout(200);
        return f;
    }

    @Bean
    ConcurrentKafkaListenerContainerFactory<Object, Object> recordFactory(ConsumerFactory<Object, Object> cf) {
        return factory(cf, AckMode.RECORD);
    }

    @Bean
    ConcurrentKafkaListenerContainerFactory<Object, Object> batchFactory(ConsumerFactory<Object, Object> cf) {
        return factory(cf, AckMode.BATCH);
    }

    @Bean
    ConcurrentKafkaListenerContainerFactory<Object, Object> timeFactory(ConsumerFactory<Object, Object> cf) {
        ConcurrentKafkaListenerContainerFactory<Object, Object> f = factory(cf, AckMode.TIME);
        f.getContainerProperties().setAckTime(ACK_TIME_MS);
        return f;
    }

    @Bean
    ConcurrentKafkaListenerContainerFactory<Object, Object> countFactory(ConsumerFactory<Object, Object> cf) {
        ConcurrentKafkaListenerContainerFactory<Object, Object> f = factory(cf, AckMode.COUNT);
        f.getContainerProperties().setAckCount(ACK_COUNT);
        return f;
    }

    @Bean
    ConcurrentKafkaListenerContainerFactory<Object, Object> manualFactory(ConsumerFactory<Object, Object> cf) {
        return factory(cf, AckMode.MANUAL);
    }

    @Bean
    ConcurrentKafkaListenerContainerFactory<Object, Object> manualImmediateFactory(ConsumerFactory<Object, Object> cf) {
        return factory(cf, AckMode.MANUAL_IMMEDIATE);
    }

    // --- error handling: retries, then the dead-letter topic ---

    @Bean
    DefaultErrorHandler ordersErrorHandler(KafkaTemplate<String, String> kafkaTemplate) {
        return new DefaultErrorHandler(new DeadLetterPublishingRecoverer(kafkaTemplate), new FixedBackOff(50L, RETRIES));
    }

    @Bean
    ConcurrentKafkaListenerContainerFactory<Object, Object> ordersFactory(ConsumerFactory<Object, Object> cf,
            DefaultErrorHandler ordersErrorHandler) {
        ConcurrentKafkaListenerContainerFactory<Object, Object> f = factory(cf, AckMode.BATCH);
        f.setCommonErrorHandler(ordersErrorHandler);
        return f;
    }

    // --- consume-process-produce in the container's Kafka transaction ---

    @Bean
    ConcurrentKafkaListenerContainerFactory<Object, Object> txFactory(ConsumerFactory<Object, Object> cf,
            KafkaTransactionManager<String, String> tm) {
        ConcurrentKafkaListenerContainerFactory<Object, Object> f = factory(cf, AckMode.BATCH);
        f.getContainerProperties().setKafkaAwareTransactionManager(tm);
        // A failed record: rolled back, redelivered once more, then skipped
        // (its offset committed in a transaction of its own).
        f.setAfterRollbackProcessor(new DefaultAfterRollbackProcessor<>((r, e) -> { }, new FixedBackOff(0L, 1L),
                new KafkaTemplate<>(txProducerFactory()), true));
        return f;
    }
}
