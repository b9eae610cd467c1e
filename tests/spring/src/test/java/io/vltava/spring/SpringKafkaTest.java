package io.vltava.spring;

import io.vltava.javaclient.VltavaBroker;
import java.time.Duration;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.AfterEach;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The base of the test classes: the application ({@link VltavaSpringApp})
 * with spring.kafka.bootstrap-servers pointing at {@link TestBroker}. Every
 * test class extends this without changing the configuration, so they share
 * one Spring context (and one broker).
 */
@SpringBootTest(classes = VltavaSpringApp.class)
@Import(SpringKafkaTest.BrokerStopper.class)
abstract class SpringKafkaTest {
    @DynamicPropertySource
    static void broker(DynamicPropertyRegistry registry) {
        registry.add("spring.kafka.bootstrap-servers", TestBroker::bootstrap);
        registry.add("vltava.run", () -> TestBroker.RUN);
    }

    /** A topic's or group's name in this run. */
    static String n(String name) {
        return name + TestBroker.RUN;
    }

    /** The listener id of this run's topic. */
    static String id(String topic) {
        return topic.substring(0, topic.length() - TestBroker.RUN.length());
    }

    /** Stops our broker when the context closes (beans are destroyed after the containers stop). */
    @TestConfiguration
    static class BrokerStopper {
        @Bean
        DisposableBean vltavaBrokerStopper() {
            return TestBroker::stop;
        }
    }

    @AfterEach
    void brokerStillWell() {
        TestBroker.check();
    }

    static void waitFor(String what, Duration timeout, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what);
            }
            VltavaBroker.sleep(50);
        }
    }
}
