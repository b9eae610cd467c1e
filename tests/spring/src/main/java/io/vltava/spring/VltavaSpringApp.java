package io.vltava.spring;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * A Spring Boot application written the way Spring Kafka users write one:
 * {@code @KafkaListener} beans (see {@link AckModeListeners},
 * {@link OrderListener}, {@link TransferListener}), container factories and
 * templates declared in {@link KafkaConfig}, the broker named by
 * {@code spring.kafka.bootstrap-servers}. The tests in src/test run it
 * against Vltava.
 */
@SpringBootApplication
public class VltavaSpringApp {
    public static void main(String[] args) {
        SpringApplication.run(VltavaSpringApp.class, args);
    }
}
