package io.vltava.javaclient;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * A fresh {@code vltava server} per test class (and per {@code @Nested}
 * class), stopped and deleted after the class's last test. Test methods, constructors and {@code @BeforeAll}
 * methods get it as a {@link VltavaBroker} parameter. The class's
 * {@link BrokerSettings} are passed to the broker, after
 * {@code group.initial.rebalance.delay.ms=0} (the setting Kafka's own
 * integration tests use, so a group's first rebalance does not wait 3 s).
 *
 * <p>After each test the broker must still be running and must not have
 * logged a bug (a response it could not encode, a panic, a request with no
 * handler): else the test that caused it fails.
 */
public final class VltavaExtension implements ParameterResolver, BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(VltavaExtension.class);

    static VltavaBroker broker(ExtensionContext context) {
        Class<?> cls = context.getRequiredTestClass();
        // Kept in the store of the innermost class (a @Nested class gets a
        // broker of its own): closed when that class's tests end.
        ExtensionContext classContext = context;
        while (classContext.getTestMethod().isPresent() && classContext.getParent().isPresent()) {
            classContext = classContext.getParent().get();
        }
        return classContext.getStore(NS).getOrComputeIfAbsent("broker", k -> {
            List<String> settings = new ArrayList<>();
            settings.add("group.initial.rebalance.delay.ms=0");
            BrokerSettings s = cls.getAnnotation(BrokerSettings.class);
            if (s != null) {
                settings.addAll(List.of(s.value()));
            }
            try {
                return new CloseableBroker(new VltavaBroker(cls.getSimpleName(), settings));
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, CloseableBroker.class).broker;
    }

    /** Stops the broker when JUnit closes the class's store (it closes AutoCloseable values). */
    static final class CloseableBroker implements AutoCloseable {
        final VltavaBroker broker;

        CloseableBroker(VltavaBroker broker) {
            this.broker = broker;
        }

        @Override
        public void close() {
            broker.close();
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext p, ExtensionContext c) {
        return p.getParameter().getType() == VltavaBroker.class;
    }

    @Override
    public Object resolveParameter(ParameterContext p, ExtensionContext c) {
        return broker(c);
    }

    @Override
    public void beforeEach(ExtensionContext c) {
        broker(c).newLog();
    }

    @Override
    public void afterEach(ExtensionContext c) {
        VltavaBroker b = broker(c);
        String bugs = b.newLog().lines()
                .filter(l -> VltavaBroker.BROKER_BUGS.matcher(l).find())
                .collect(Collectors.joining("\n"));
        if (!b.alive()) {
            throw new AssertionError("broker exited; log:\n" + b.logTail(40));
        }
        if (!bugs.isEmpty()) {
            throw new AssertionError("broker logged:\n" + bugs);
        }
    }
}
