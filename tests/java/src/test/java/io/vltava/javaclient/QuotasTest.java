package io.vltava.javaclient;

import static io.vltava.javaclient.Kafka.admin;
import static io.vltava.javaclient.Kafka.createTopic;
import static io.vltava.javaclient.Kafka.failure;
import static io.vltava.javaclient.Kafka.name;
import static io.vltava.javaclient.Kafka.producer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.clients.admin.AlterClientQuotasResult;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Client quotas through the Java client: Admin.alterClientQuotas and
 * describeClientQuotas (user, client id, user with client id, the default
 * entities, IP addresses; the contains, containsOnly and all filters;
 * Kafka's refusals, each entity answered on its own; validateOnly), and a
 * KafkaProducer over its producer_byte_rate, which the broker throttles:
 * the client's {@code produce-throttle-time-max} metric shows the broker's
 * throttle times, every record is delivered and the rate holds.
 *
 * <p>One broker for the class, measuring rates over two windows of one
 * second (so a client is over its quota within a second or two instead of
 * the ten a default broker takes). Entities are named uniquely per test, and
 * the default user, the default client id and the IP quotas are removed
 * again: they would apply to every other client of the broker.
 */
@ExtendWith(VltavaExtension.class)
@BrokerSettings({"quota.window.num=2", "quota.window.size.seconds=1"})
class QuotasTest {
    private static final long T = 30;
    private static final int RATE = 100 * 1024;
    private static final int COUNT = 600;
    private final VltavaBroker broker;

    QuotasTest(VltavaBroker broker) {
        this.broker = broker;
    }

    private static String uid(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** An entity of alternating type, name pairs; a null name is the type's default. */
    private static ClientQuotaEntity entity(String... typeName) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < typeName.length; i += 2) {
            m.put(typeName[i], typeName[i + 1]);
        }
        return new ClientQuotaEntity(m);
    }

    /** Key, value pairs as alteration ops; a null value removes the key. */
    private static ClientQuotaAlteration alteration(ClientQuotaEntity entity, Object... keyValue) {
        List<ClientQuotaAlteration.Op> ops = new ArrayList<>();
        for (int i = 0; i < keyValue.length; i += 2) {
            Object v = keyValue[i + 1];
            ops.add(new ClientQuotaAlteration.Op((String) keyValue[i], v == null ? null : ((Number) v).doubleValue()));
        }
        return new ClientQuotaAlteration(entity, ops);
    }

    private static void alter(Admin admin, ClientQuotaAlteration... alterations) throws Exception {
        admin.alterClientQuotas(Arrays.asList(alterations)).all().get(T, TimeUnit.SECONDS);
    }

    private static Map<ClientQuotaEntity, Map<String, Double>> describe(Admin admin, ClientQuotaFilter filter)
            throws Exception {
        return admin.describeClientQuotas(filter).entities().get(T, TimeUnit.SECONDS);
    }

    private static Map<String, Double> quotas(Object... keyValue) {
        Map<String, Double> m = new HashMap<>();
        for (int i = 0; i < keyValue.length; i += 2) {
            m.put((String) keyValue[i], ((Number) keyValue[i + 1]).doubleValue());
        }
        return m;
    }

    /** The entries of {@code all} whose entity is one of {@code mine}. */
    private static Map<ClientQuotaEntity, Map<String, Double>> only(Map<ClientQuotaEntity, Map<String, Double>> all,
            ClientQuotaEntity... mine) {
        Map<ClientQuotaEntity, Map<String, Double>> out = new HashMap<>(all);
        out.keySet().retainAll(Arrays.asList(mine));
        return out;
    }

    @Test
    void alterAndDescribeEveryKindOfEntity() throws Exception {
        String user = uid("alice");
        String client = uid("app");
        ClientQuotaEntity u = entity(ClientQuotaEntity.USER, user);
        ClientQuotaEntity c = entity(ClientQuotaEntity.CLIENT_ID, client);
        ClientQuotaEntity uc = entity(ClientQuotaEntity.USER, user, ClientQuotaEntity.CLIENT_ID, client);
        ClientQuotaEntity uDefaultClient = entity(ClientQuotaEntity.USER, user, ClientQuotaEntity.CLIENT_ID, null);
        ClientQuotaEntity defaultUser = entity(ClientQuotaEntity.USER, null);
        ClientQuotaEntity defaultClient = entity(ClientQuotaEntity.CLIENT_ID, null);
        ClientQuotaEntity defaultUserClient =
                entity(ClientQuotaEntity.USER, null, ClientQuotaEntity.CLIENT_ID, client);
        ClientQuotaEntity ip = entity(ClientQuotaEntity.IP, "10.20.30.40");
        ClientQuotaEntity defaultIp = entity(ClientQuotaEntity.IP, null);
        try (Admin admin = admin(broker)) {
            try {
                alter(admin,
                        alteration(u, "producer_byte_rate", 1024, "consumer_byte_rate", 2048),
                        alteration(c, "request_percentage", 12.5),
                        alteration(uc, "producer_byte_rate", 4096),
                        alteration(uDefaultClient, "request_percentage", 50),
                        // Rates no client of this broker comes near.
                        alteration(defaultUser, "consumer_byte_rate", 1e9),
                        alteration(defaultClient, "producer_byte_rate", 2e9),
                        alteration(defaultUserClient, "consumer_byte_rate", 3e9),
                        alteration(ip, "connection_creation_rate", 5),
                        alteration(defaultIp, "connection_creation_rate", 10000));

                // all(): every entity set, with its values.
                Map<ClientQuotaEntity, Map<String, Double>> expected = new HashMap<>();
                expected.put(u, quotas("producer_byte_rate", 1024, "consumer_byte_rate", 2048));
                expected.put(c, quotas("request_percentage", 12.5));
                expected.put(uc, quotas("producer_byte_rate", 4096));
                expected.put(uDefaultClient, quotas("request_percentage", 50));
                expected.put(defaultUser, quotas("consumer_byte_rate", 1e9));
                expected.put(defaultClient, quotas("producer_byte_rate", 2e9));
                expected.put(defaultUserClient, quotas("consumer_byte_rate", 3e9));
                expected.put(ip, quotas("connection_creation_rate", 5));
                expected.put(defaultIp, quotas("connection_creation_rate", 10000));
                ClientQuotaEntity[] mine = expected.keySet().toArray(new ClientQuotaEntity[0]);
                assertEquals(expected, only(describe(admin, ClientQuotaFilter.all()), mine));

                // contains: every entity with that part, whatever else it has.
                assertEquals(Map.of(u, expected.get(u), uc, expected.get(uc), uDefaultClient,
                        expected.get(uDefaultClient)),
                        describe(admin, ClientQuotaFilter.contains(List.of(
                                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user)))));
                // containsOnly: no other part.
                assertEquals(Map.of(u, expected.get(u)),
                        describe(admin, ClientQuotaFilter.containsOnly(List.of(
                                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user)))));
                assertEquals(Map.of(uc, expected.get(uc)),
                        describe(admin, ClientQuotaFilter.containsOnly(List.of(
                                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user),
                                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, client)))));
                assertEquals(Map.of(c, expected.get(c), uc, expected.get(uc), defaultUserClient,
                        expected.get(defaultUserClient)),
                        describe(admin, ClientQuotaFilter.contains(List.of(
                                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, client)))));
                // The default entities are matched as defaults, not as names.
                assertEquals(Map.of(uDefaultClient, expected.get(uDefaultClient)),
                        describe(admin, ClientQuotaFilter.contains(List.of(
                                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user),
                                ClientQuotaFilterComponent.ofDefaultEntity(ClientQuotaEntity.CLIENT_ID)))));
                assertEquals(Map.of(defaultUser, expected.get(defaultUser)),
                        describe(admin, ClientQuotaFilter.containsOnly(List.of(
                                ClientQuotaFilterComponent.ofDefaultEntity(ClientQuotaEntity.USER)))));
                assertEquals(Map.of(defaultClient, expected.get(defaultClient)),
                        describe(admin, ClientQuotaFilter.containsOnly(List.of(
                                ClientQuotaFilterComponent.ofDefaultEntity(ClientQuotaEntity.CLIENT_ID)))));
                assertEquals(Map.of(defaultUserClient, expected.get(defaultUserClient)),
                        describe(admin, ClientQuotaFilter.contains(List.of(
                                ClientQuotaFilterComponent.ofDefaultEntity(ClientQuotaEntity.USER),
                                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, client)))));
                // Any name of a type (ofEntityType): every entity with a part of it.
                Map<ClientQuotaEntity, Map<String, Double>> anyClient = describe(admin,
                        ClientQuotaFilter.contains(List.of(
                                ClientQuotaFilterComponent.ofEntityType(ClientQuotaEntity.CLIENT_ID))));
                assertEquals(Map.of(c, expected.get(c), uc, expected.get(uc), uDefaultClient,
                        expected.get(uDefaultClient), defaultClient, expected.get(defaultClient), defaultUserClient,
                        expected.get(defaultUserClient)), only(anyClient, mine));
                assertTrue(anyClient.keySet().stream()
                        .allMatch(e -> e.entries().containsKey(ClientQuotaEntity.CLIENT_ID)), anyClient::toString);
                assertEquals(Map.of(ip, expected.get(ip), defaultIp, expected.get(defaultIp)),
                        describe(admin, ClientQuotaFilter.contains(List.of(
                                ClientQuotaFilterComponent.ofEntityType(ClientQuotaEntity.IP)))));
                assertEquals(Map.of(ip, expected.get(ip)),
                        describe(admin, ClientQuotaFilter.containsOnly(List.of(
                                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.IP, "10.20.30.40")))));
                // Nothing for a user without quotas.
                assertEquals(Map.of(), describe(admin, ClientQuotaFilter.contains(List.of(
                        ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, uid("nobody"))))));

                // Changing one key leaves the others; removing every key
                // removes the entity.
                alter(admin, alteration(u, "producer_byte_rate", 8192),
                        alteration(c, "request_percentage", null));
                assertEquals(Map.of(u, quotas("producer_byte_rate", 8192, "consumer_byte_rate", 2048)),
                        describe(admin, ClientQuotaFilter.containsOnly(List.of(
                                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user)))));
                assertEquals(Map.of(), describe(admin, ClientQuotaFilter.containsOnly(List.of(
                        ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, client)))));
            } finally {
                // The defaults and IPs apply to every client of the broker.
                alter(admin,
                        alteration(defaultUser, "consumer_byte_rate", null),
                        alteration(defaultClient, "producer_byte_rate", null),
                        alteration(defaultUserClient, "consumer_byte_rate", null),
                        alteration(ip, "connection_creation_rate", null),
                        alteration(defaultIp, "connection_creation_rate", null));
            }
            Map<ClientQuotaEntity, Map<String, Double>> left = describe(admin, ClientQuotaFilter.all());
            for (ClientQuotaEntity e : List.of(defaultUser, defaultClient, defaultUserClient, ip, defaultIp)) {
                assertFalse(left.containsKey(e), () -> e + " still there: " + left);
            }
        }
    }

    @Test
    void refusedAlterationsAndValidateOnly() throws Exception {
        String bob = uid("bob");
        String carol = uid("carol");
        String dave = uid("dave");
        String erin = uid("erin");
        ClientQuotaEntity b = entity(ClientQuotaEntity.USER, bob);
        ClientQuotaEntity cEntity = entity(ClientQuotaEntity.USER, carol);
        ClientQuotaEntity d = entity(ClientQuotaEntity.CLIENT_ID, dave);
        ClientQuotaEntity e = entity(ClientQuotaEntity.USER, erin);
        ClientQuotaEntity ip = entity(ClientQuotaEntity.IP, "10.20.30.41");
        ClientQuotaEntity badIp = entity(ClientQuotaEntity.IP, "not-an-ip");
        ClientQuotaEntity userAndIp = entity(ClientQuotaEntity.USER, bob, ClientQuotaEntity.IP, "10.20.30.42");
        try (Admin admin = admin(broker)) {
            // One request: each entity answered on its own, the good one applied.
            AlterClientQuotasResult r = admin.alterClientQuotas(List.of(
                    alteration(b, "producer_byte_rate", 1.5), // byte rates are whole numbers
                    alteration(cEntity, "no_such_quota", 1),
                    alteration(d, "consumer_byte_rate", -5),
                    alteration(ip, "producer_byte_rate", 1000), // an IP takes connection_creation_rate only
                    alteration(badIp, "connection_creation_rate", 1),
                    alteration(userAndIp, "connection_creation_rate", 1),
                    alteration(e, "consumer_byte_rate", 4000)));
            Map<ClientQuotaEntity, ? extends Future<Void>> values = r.values();
            InvalidRequestException fractional = failure(InvalidRequestException.class, values.get(b));
            assertTrue(fractional.getMessage().contains("fractional"), fractional::getMessage);
            for (ClientQuotaEntity refused : List.of(cEntity, d, ip, badIp, userAndIp)) {
                failure(InvalidRequestException.class, values.get(refused));
            }
            values.get(e).get(T, TimeUnit.SECONDS);
            failure(InvalidRequestException.class, r.all());

            // validateOnly: checked, answered, not made.
            admin.alterClientQuotas(List.of(alteration(b, "producer_byte_rate", 1000)),
                    new AlterClientQuotasOptions().validateOnly(true)).all().get(T, TimeUnit.SECONDS);
            failure(InvalidRequestException.class, admin.alterClientQuotas(
                    List.of(alteration(b, "producer_byte_rate", 2.5)),
                    new AlterClientQuotasOptions().validateOnly(true)).all());
            // validateOnly on an existing entity does not change it either.
            admin.alterClientQuotas(List.of(alteration(e, "consumer_byte_rate", 1)),
                    new AlterClientQuotasOptions().validateOnly(true)).all().get(T, TimeUnit.SECONDS);

            Map<ClientQuotaEntity, Map<String, Double>> all = describe(admin, ClientQuotaFilter.all());
            assertEquals(Map.of(e, quotas("consumer_byte_rate", 4000)), only(all, b, cEntity, d, ip, badIp,
                    userAndIp, e));

            // A filter Kafka refuses: an IP with a user part.
            failure(InvalidRequestException.class, admin.describeClientQuotas(ClientQuotaFilter.contains(List.of(
                    ClientQuotaFilterComponent.ofEntityType(ClientQuotaEntity.IP),
                    ClientQuotaFilterComponent.ofEntityType(ClientQuotaEntity.USER)))).entities());
        }
    }

    // --- a producer over its byte rate ---

    private static double metric(KafkaProducer<?, ?> p, String name) {
        for (Map.Entry<MetricName, ? extends Metric> m : p.metrics().entrySet()) {
            if (m.getKey().name().equals(name) && m.getKey().group().equals("producer-metrics")) {
                return ((Number) m.getValue().metricValue()).doubleValue();
            }
        }
        throw new AssertionError("no producer metric " + name);
    }

    /** Produces COUNT values of 1000 bytes under clientId: (seconds, produce-throttle-time-max). */
    private double[] produce(String topic, String clientId, List<Long> offsets) throws Exception {
        try (KafkaProducer<String, String> p = producer(broker,
                ProducerConfig.CLIENT_ID_CONFIG, clientId,
                ProducerConfig.BATCH_SIZE_CONFIG, 16384,
                ProducerConfig.LINGER_MS_CONFIG, 5,
                ProducerConfig.ACKS_CONFIG, "all")) {
            String pad = "x".repeat(992);
            long start = System.nanoTime();
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < COUNT; i++) {
                sent.add(p.send(new ProducerRecord<>(topic, 0, null, String.format("%08d", i) + pad)));
            }
            p.flush();
            for (Future<RecordMetadata> f : sent) {
                offsets.add(f.get(T, TimeUnit.SECONDS).offset());
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            return new double[] {seconds, metric(p, "produce-throttle-time-max")};
        }
    }

    @Test
    void aProducerOverItsByteRateIsThrottled(TestInfo info) throws Exception {
        String topic = name(info);
        createTopic(broker, topic, 1);
        String slow = uid("slow-producer");
        try (Admin admin = admin(broker)) {
            alter(admin, alteration(entity(ClientQuotaEntity.CLIENT_ID, slow), "producer_byte_rate", RATE));
            assertEquals(Map.of(entity(ClientQuotaEntity.CLIENT_ID, slow), quotas("producer_byte_rate", RATE)),
                    describe(admin, ClientQuotaFilter.containsOnly(List.of(
                            ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, slow)))));
        }

        // Another client id: no throttle (the metric has no positive sample).
        List<Long> offsets = new ArrayList<>();
        double[] fast = produce(topic, uid("fast-producer"), offsets);
        System.out.printf("no quota: %.2f s, produce-throttle-time-max %s%n", fast[0], fast[1]);
        assertFalse(fast[1] > 0, "produce-throttle-time-max " + fast[1] + " without a quota");
        assertTrue(fast[0] < 2.5, "600 KB without a quota took " + fast[0] + " s");

        // 600 KB at 100 KiB/s: ~6 s, less the burst a fresh sensor lets through.
        double[] throttled = produce(topic, slow, offsets);
        System.out.printf("quota %d B/s: %.2f s, produce-throttle-time-max %s%n", RATE, throttled[0],
                throttled[1]);
        assertTrue(throttled[1] > 0, "produce-throttle-time-max " + throttled[1]);
        assertTrue(throttled[1] <= 10_000, "produce-throttle-time-max " + throttled[1]);
        assertTrue(throttled[0] >= 3.0, "600 KB under a 100 KiB/s quota went through in " + throttled[0] + " s");
        // Every record delivered once.
        List<Long> expected = new ArrayList<>();
        for (long o = 0; o < 2 * COUNT; o++) {
            expected.add(o);
        }
        Collections.sort(offsets);
        assertEquals(expected, offsets);
    }
}
