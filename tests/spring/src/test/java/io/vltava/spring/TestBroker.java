package io.vltava.spring;

import io.vltava.javaclient.VltavaBroker;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The broker the tests run against: a fresh {@code vltava server} (see
 * {@link VltavaBroker}, the class tests/java uses, linked into this project) started once for this test
 * JVM, or, when the system property vltava.bootstrap is set (run.sh
 * --bootstrap HOST:PORT), a broker already running there, e.g. Apache Kafka.
 *
 * <p>One broker for the whole run rather than one per test class (as
 * tests/java does): the Spring context, with its listener containers, is
 * cached by Spring's test framework across the test classes and would
 * outlive a per-class broker. Every test uses topics and groups of its own.
 */
final class TestBroker {
    /** This run's suffix of topic and group names (property vltava.run). */
    static final String RUN = "-" + java.util.UUID.randomUUID().toString().substring(0, 8);

    private static VltavaBroker vltava;
    private static String bootstrap;

    private TestBroker() {
    }

    static synchronized String bootstrap() {
        if (bootstrap == null) {
            String given = System.getProperty("vltava.bootstrap", "");
            if (!given.isBlank()) {
                bootstrap = given;
            } else {
                try {
                    vltava = new VltavaBroker("spring", List.of("group.initial.rebalance.delay.ms=0"));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                bootstrap = vltava.bootstrap();
            }
        }
        return bootstrap;
    }

    static synchronized boolean isVltava() {
        bootstrap();
        return vltava != null;
    }

    /** After each test: the broker (when it is ours) still runs and logged no bug. */
    static synchronized void check() {
        if (vltava == null) {
            return;
        }
        String bugs = vltava.newLog().lines()
                .filter(l -> VltavaBroker.BROKER_BUGS.matcher(l).find())
                .collect(Collectors.joining("\n"));
        if (!vltava.alive()) {
            throw new AssertionError("broker exited; log:\n" + vltava.logTail(40));
        }
        if (!bugs.isEmpty()) {
            throw new AssertionError("broker logged:\n" + bugs);
        }
    }

    /** Called when the Spring context closes, after its listener containers stopped. */
    static synchronized void stop() {
        if (vltava != null) {
            vltava.close();
            vltava = null;
        }
    }
}
