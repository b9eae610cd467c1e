package io.vltava.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.Test;

/**
 * A word count with {@code processing.guarantee=exactly_once_v2} against the
 * broker at the system property {@code streams.bootstrap} (run.sh starts a
 * fresh Vltava or Apache Kafka and passes its address).
 *
 * <p>input (3 partitions) -> flatMapValues(split into words) ->
 * groupBy(word) (the repartition topic {@code <app>-by-word-repartition}) ->
 * count() into the persistent store {@code word-counts} (the changelog
 * {@code <app>-word-counts-changelog}) -> toStream -> output.
 *
 * <p>A seeded corpus is produced in two halves, and three Streams instances
 * with the same application.id work on it one after the other:
 * <ul>
 * <li>"killed", in a JVM of its own (KilledInstance), on the first half,
 * killed with SIGKILL once the group has committed an eighth of the input:
 * no commit, no abort, no LeaveGroup, and almost surely an open transaction
 * that the broker must abort on its timeout (-Dstreams.kill=false leaves
 * this instance out);
 * <li>"closed", in this JVM, which takes over, while the second half is
 * produced from another thread; closed cleanly (leaving the group) once the
 * group has committed a quarter of the input and 1,000 lines more than the
 * killed one;
 * <li>"final", which takes over while the second half may still be
 * produced, and runs until the output's last count of every word equals
 * the expected count.
 * </ul>
 * The test then checks:
 * <ol>
 * <li>every word's final count equals the expected count exactly;
 * <li>read_committed reading of the output sees each word's counts as
 * exactly 1, 2, ..., the expected count, in order (the record cache is off,
 * so every update is output; an aborted transaction's records would show as
 * a count that repeats or skips), and never sees records of a transaction
 * the test aborted itself; read_uncommitted does see those;
 * <li>the changelog topic exists with cleanup.policy=compact, the
 * repartition topic exists with the input's 3 partitions;
 * <li>each instance resumed where the one before committed: the counts are
 * exact although one instance was killed and one closed mid-way, and the
 * group's committed offsets are the input's end offsets.
 * </ol>
 * The final counts are written to {@code target/results/<target>-counts.txt}
 * (one "word count" a line, sorted) for run.sh to compare between brokers.
 */
class WordCountEosTest {
    static final String[] WORDS = {
        "alder", "birch", "cedar", "dogwood", "elm", "fir", "ginkgo", "hazel", "ilex", "juniper",
        "kapok", "larch", "maple", "nutmeg", "oak", "pine", "quince", "rowan", "spruce", "teak",
        "umbrella", "viburnum", "willow", "xylosma", "yew", "zelkova", "ash", "beech", "chestnut",
        "douglas", "eucalyptus", "fig", "hemlock", "hornbeam", "linden", "magnolia", "olive",
        "poplar", "redwood", "sequoia", "sycamore", "tamarack", "walnut", "acacia", "baobab",
        "cypress", "ebony", "holly", "laurel", "mahogany",
    };
    static final int LINES = Integer.getInteger("streams.lines", 20_000);
    static final long SEED = 20261206L;
    static final int PARTITIONS = 3;
    /** -Dstreams.kill=false leaves out the instance killed with SIGKILL. */
    static final boolean KILL = Boolean.parseBoolean(System.getProperty("streams.kill", "true"));
    static final Duration TIMEOUT = Duration.ofSeconds(Integer.getInteger("streams.timeout.s", 150));

    final String bootstrap = required("streams.bootstrap");
    /** Output records of the killed instance's open transaction when it was killed. */
    long openAtKill;
    final String target = System.getProperty("streams.target", "unnamed");
    final String run = Long.toString(System.currentTimeMillis(), 36);
    final String appId = "wordcount-" + run;
    final String input = "wc-input-" + run;
    final String output = "wc-output-" + run;
    final String repartition = appId + "-by-word-repartition";
    final String changelog = appId + "-word-counts-changelog";

    static String required(String name) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) {
            throw new IllegalStateException("-D" + name + " is not set: run tests/streams/run.sh");
        }
        return v;
    }

    static void log(String fmt, Object... args) {
        System.out.println("[wordcount] " + String.format(Locale.ROOT, fmt, args));
    }

    /** The seeded corpus: LINES lines of 1 to 8 words of WORDS, some upper-case. */
    static List<String> corpus() {
        Random r = new Random(SEED);
        List<String> lines = new ArrayList<>(LINES);
        for (int i = 0; i < LINES; i++) {
            int n = 1 + r.nextInt(8);
            StringBuilder sb = new StringBuilder();
            for (int j = 0; j < n; j++) {
                if (j > 0) {
                    sb.append(r.nextInt(4) == 0 ? "  " : " ");
                }
                String w = WORDS[r.nextInt(WORDS.length)];
                sb.append(r.nextInt(5) == 0 ? w.toUpperCase(Locale.ROOT) : w);
            }
            lines.add(sb.toString());
        }
        return lines;
    }

    static List<String> words(String line) {
        return Arrays.stream(line.toLowerCase(Locale.ROOT).split("\\s+"))
                .filter(w -> !w.isEmpty())
                .collect(Collectors.toList());
    }

    static Map<String, Long> expected(List<String> lines) {
        Map<String, Long> m = new TreeMap<>();
        for (String line : lines) {
            for (String w : words(line)) {
                m.merge(w, 1L, Long::sum);
            }
        }
        return m;
    }

    Topology topology() {
        return topology(input, output);
    }

    static Topology topology(String input, String output) {
        StreamsBuilder b = new StreamsBuilder();
        KStream<String, String> lines = b.stream(input, Consumed.with(Serdes.String(), Serdes.String()));
        lines.flatMapValues(WordCountEosTest::words)
                .groupBy((k, w) -> w, Grouped.with("by-word", Serdes.String(), Serdes.String()))
                .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("word-counts")
                        .withKeySerde(Serdes.String())
                        .withValueSerde(Serdes.Long()))
                .toStream()
                .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        return b.build();
    }

    Properties streamsProps(Path stateDir) {
        return streamsProps(bootstrap, appId, stateDir);
    }

    static Properties streamsProps(String bootstrap, String appId, Path stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        // A single broker: Streams' internal topics with one replica.
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        // No record cache: every count update goes to the output (and the
        // changelog) at once, so each word's committed counts must be
        // exactly 1, 2, ..., its expected count, and an open transaction
        // holds output records for read_committed to hide.
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        // After the killed instance: its member leaves the group after 6 s
        // (Kafka's group.min.session.timeout.ms), its open transaction is
        // aborted by the broker after 5 s (Streams' default is 10 s).
        p.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
        p.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1000);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), 5000);
        return p;
    }

    Properties clientProps() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return p;
    }

    /** The output read as read_committed: each word's counts in order. */
    final class OutputReader implements AutoCloseable {
        final KafkaConsumer<String, Long> consumer;
        final Map<String, Long> last = new TreeMap<>();
        final List<String> violations = new ArrayList<>();
        long records;

        OutputReader(String isolation) {
            strict = isolation.equals("read_committed");
            Properties p = clientProps();
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
            consumer = new KafkaConsumer<>(p, new StringDeserializer(), new LongDeserializer());
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < PARTITIONS; i++) {
                tps.add(new TopicPartition(output, i));
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
        }

        /** strict: each count must be the one before plus one (read_committed, no cache). */
        final boolean strict;

        void poll(Duration d, Map<String, Long> expected) {
            for (ConsumerRecord<String, Long> r : consumer.poll(d)) {
                records++;
                Long prev = last.put(r.key(), r.value());
                Long want = expected.get(r.key());
                if (want == null) {
                    violations.add("unexpected key " + r.key() + "=" + r.value() + " at " + r.partition() + "@" + r.offset());
                } else if (strict ? r.value() != (prev == null ? 1 : prev + 1) : prev != null && r.value() <= prev) {
                    violations.add(r.key() + ": count " + r.value() + " after " + prev + " at " + r.partition() + "@" + r.offset());
                } else if (r.value() > want) {
                    violations.add(r.key() + ": count " + r.value() + " > expected " + want + " at " + r.partition() + "@" + r.offset());
                }
            }
        }

        @Override
        public void close() {
            consumer.close();
        }
    }

    /**
     * A first instance in a JVM of its own, killed (SIGKILL) once the group
     * has committed at least {@code lines} lines of the input: it leaves a
     * member in the group and, almost surely, an open transaction (on the
     * repartition, changelog and output topics and the group's offsets)
     * that the broker must abort when it times out. Returns the input lines
     * committed when it was killed.
     */
    long killedInstance(Admin admin, Path stateDir, long lines, long all, long t0) throws Exception {
        Path logFile = Paths.get(System.getProperty("streams.results", "target/results"), target + "-killed-instance.log");
        Files.createDirectories(logFile.getParent());
        String java = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
                KilledInstance.class.getName(), bootstrap, appId, input, output, stateDir.toString());
        pb.redirectErrorStream(true);
        pb.redirectOutput(logFile.toFile());
        Process p = pb.start();
        try {
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            long done = 0;
            long lastEnd = -1;
            // Killed when the output holds records of an open transaction
            // (its end offset is past its last stable offset), so that the
            // broker's abort must hide output records from read_committed:
            // stopped (SIGSTOP) first, so that it cannot commit between the
            // check and the kill; let go on (SIGCONT) when it has no open
            // transaction on the output.
            while (true) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    fail("the killed instance " + (p.isAlive() ? "committed " + done + " lines in " + TIMEOUT
                            : "exited with " + p.exitValue()) + "; its log: " + logFile);
                }
                done = sum(committedInput(admin));
                if (done >= lines) {
                    signal(p, "STOP");
                    Thread.sleep(300); // a commit already sent completes
                    if (openOutput(admin) > 0) {
                        break;
                    }
                    long end = sum(endOffsets(admin, output));
                    if (done >= all && end == lastEnd) {
                        break; // the first half is done: no transaction left to catch open
                    }
                    lastEnd = end;
                    signal(p, "CONT");
                }
                Thread.sleep(20);
            }
            p.destroyForcibly();
            openAtKill = openOutput(admin);
            log("SIGKILL to the killed instance at %.1f s; group offsets on the input: %s; output records past "
                    + "the last stable offset: %d", secs(t0), committedInput(admin), openAtKill);
            return done;
        } finally {
            p.destroyForcibly().waitFor();
            log("killed instance gone at %.1f s; group offsets on the input: %s", secs(t0), committedInput(admin));
        }
    }

    static void signal(Process p, String sig) throws Exception {
        int rc = new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).inheritIO().start().waitFor();
        assertEquals(0, rc, "kill -" + sig + " " + p.pid());
    }

    /** The output's end offsets minus its last stable offsets: records of open transactions. */
    long openOutput(Admin admin) throws Exception {
        return sum(endOffsets(admin, output, IsolationLevel.READ_UNCOMMITTED))
                - sum(endOffsets(admin, output, IsolationLevel.READ_COMMITTED));
    }

    static long sum(Map<String, Long> offsets) {
        return offsets.values().stream().mapToLong(Long::longValue).sum();
    }

    /** Lines from..to, keyed by line number; a pause of pauseMs after every chunk lines. */
    void produce(List<String> lines, int from, int to, int chunk, long pauseMs) {
        Properties p = clientProps();
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = from; i < to; i++) {
                // Keyed by line number: spread over the 3 input partitions.
                producer.send(new ProducerRecord<>(input, Integer.toString(i), lines.get(i)));
                if (pauseMs > 0 && (i - from + 1) % chunk == 0) {
                    producer.flush();
                    try {
                        Thread.sleep(pauseMs);
                    } catch (InterruptedException e) {
                        throw new RuntimeException(e);
                    }
                }
            }
            producer.flush();
        }
    }

    /** A transaction the test aborts itself, on the output topic: read_committed must not show it. */
    void abortedTransaction() {
        Properties p = clientProps();
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, appId + "-aborter");
        try (KafkaProducer<String, Long> producer = new KafkaProducer<>(p, new StringSerializer(),
                new org.apache.kafka.common.serialization.LongSerializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < PARTITIONS; i++) {
                producer.send(new ProducerRecord<>(output, i, "aborted-" + i, -1L));
            }
            producer.flush();
            producer.abortTransaction();
        }
    }

    KafkaStreams start(Path stateDir, String name) throws InterruptedException {
        KafkaStreams s = new KafkaStreams(topology(), streamsProps(stateDir));
        AtomicReference<Throwable> error = new AtomicReference<>();
        s.setUncaughtExceptionHandler(e -> {
            error.set(e);
            log("%s: uncaught %s", name, e);
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        s.setStateListener((to, from) -> log("%s: %s -> %s", name, from, to));
        s.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (s.state() != KafkaStreams.State.RUNNING) {
            if (System.nanoTime() > deadline || s.state() == KafkaStreams.State.ERROR
                    || s.state() == KafkaStreams.State.PENDING_ERROR) {
                s.close(Duration.ofSeconds(10));
                fail(name + " did not reach RUNNING in 60 s: " + s.state() + " " + error.get());
            }
            Thread.sleep(50);
        }
        return s;
    }

    @Test
    void wordCountExactlyOnce() throws Exception {
        long t0 = System.nanoTime();
        List<String> lines = corpus();
        Map<String, Long> expected = expected(lines);
        long totalWords = expected.values().stream().mapToLong(Long::longValue).sum();
        log("target %s, bootstrap %s, app %s: %d lines, %d words, %d distinct", target, bootstrap, appId,
                lines.size(), totalWords, expected.size());
        Path stateDir = Files.createTempDirectory("vltava-streams-");

        try (Admin admin = Admin.create(clientProps())) {
            admin.createTopics(List.of(new NewTopic(input, PARTITIONS, (short) 1),
                    new NewTopic(output, PARTITIONS, (short) 1))).all().get(30, TimeUnit.SECONDS);
            abortedTransaction();

            int half = lines.size() / 2;
            produce(lines, 0, half, half, 0);
            log("first half produced (%d lines) at %.1f s", half, secs(t0));

            long killedAt = 0;
            if (KILL) {
                killedAt = killedInstance(admin, stateDir.resolve("killed"), lines.size() / 8, half, t0);
            }

            KafkaStreams first = start(stateDir.resolve("closed"), "closed");
            Thread second;
            Map<String, Long> seen;
            long committedRecords;
            try (OutputReader committed = new OutputReader("read_committed")) {
                // The second half is produced while the closed instance
                // works, in chunks, so that it is still being produced when
                // the instance is closed and the next one starts.
                AtomicReference<Throwable> producerError = new AtomicReference<>();
                second = new Thread(() -> {
                    try {
                        produce(lines, half, lines.size(), 500, 150);
                    } catch (Throwable e) {
                        producerError.set(e);
                    }
                }, "second-half");
                second.start();
                // Mid-way: the closed instance has committed output and a
                // quarter of the input (and 1,000 lines more than the
                // killed one), not all of it.
                long deadline = System.nanoTime() + TIMEOUT.toNanos();
                long closeAt = Math.max(lines.size() / 4, killedAt + 1000);
                while ((committed.records == 0 || sum(committedInput(admin)) < closeAt)
                        && System.nanoTime() < deadline) {
                    committed.poll(Duration.ofMillis(100), expected);
                }
                assertTrue(committed.records > 0, "the closed instance committed no output in " + TIMEOUT);
                log("closed instance has committed output at %.1f s; group offsets on the input: %s", secs(t0),
                        committedInput(admin));
                // Leaving the group, so that the next instance need not wait
                // for the session timeout (Streams does not leave by default).
                first.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                        .withTimeout(Duration.ofSeconds(60)));
                Map<String, Long> atClose = committedInput(admin);
                log("closed instance closed (%s) at %.1f s; group offsets on the input: %s (%d of %d lines; "
                        + "%d produced so far)", first.state(), secs(t0), atClose, sum(atClose), lines.size(),
                        sum(endOffsets(admin, input)));
                assertEquals(KafkaStreams.State.NOT_RUNNING, first.state(), "the closed instance did not close cleanly");

                KafkaStreams next = start(stateDir.resolve("final"), "final");
                try {
                    second.join(TIMEOUT.toMillis());
                    assertFalse(second.isAlive(), "the second half was not produced in " + TIMEOUT);
                    assertEquals(null, producerError.get(), "producing the second half");
                    log("second half produced at %.1f s", secs(t0));
                    while (!committed.last.equals(expected) && System.nanoTime() < deadline + TIMEOUT.toNanos()) {
                        committed.poll(Duration.ofMillis(200), expected);
                        if (next.state() != KafkaStreams.State.RUNNING && next.state() != KafkaStreams.State.REBALANCING) {
                            fail("the final instance is " + next.state());
                        }
                    }
                    // Keep reading a little: a double count would show as a
                    // count above the expected one.
                    long settle = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
                    while (System.nanoTime() < settle) {
                        committed.poll(Duration.ofMillis(200), expected);
                    }
                    log("output read_committed: %d records at %.1f s", committed.records, secs(t0));
                    seen = new TreeMap<>(committed.last);
                    committedRecords = committed.records;
                    assertEquals(List.of(), committed.violations.subList(0, Math.min(20, committed.violations.size())),
                            committed.violations.size() + " read_committed output records not the count before plus one "
                            + "(the first 20)");
                    assertEquals(expected, seen, "final counts (read_committed) differ from the expected ones");

                    // The group committed all of the input.
                    Map<String, Long> ends = endOffsets(admin, input);
                    Map<String, Long> done = committedInput(admin);
                    log("input end offsets %s, group offsets %s", ends, done);
                    assertEquals(ends, done, "the application's committed input offsets are not the input's end");

                    checkInternalTopics(admin);
                } finally {
                    next.close(Duration.ofSeconds(60));
                }
            }

            // read_uncommitted, for the record: how many records of aborted
            // transactions (the test's own, and any the Streams app aborted)
            // the output holds.
            try (OutputReader all = new OutputReader("read_uncommitted")) {
                Map<String, Long> anything = new HashMap<>(expected);
                for (int i = 0; i < PARTITIONS; i++) {
                    anything.put("aborted-" + i, Long.MAX_VALUE);
                }
                long quiet = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
                long before = -1;
                while (System.nanoTime() < quiet || all.records != before) {
                    before = all.records;
                    all.poll(Duration.ofMillis(300), anything);
                }
                long aborted = all.last.keySet().stream().filter(k -> k.startsWith("aborted-")).count();
                log("output read_uncommitted: %d records: %d read_committed, the test's %d aborted, %d more of "
                        + "transactions Streams aborted", all.records, committedRecords, aborted,
                        all.records - committedRecords - aborted);
                if (openAtKill > 0) {
                    assertTrue(all.records - committedRecords - aborted > 0,
                            "read_uncommitted shows no output record of the killed instance's aborted transaction");
                }
                assertEquals(PARTITIONS, aborted, "read_uncommitted does not show the test's aborted records");
            }

            writeResults(seen, expected, lines.size(), totalWords, secs(t0));
            log("PASS against %s in %.1f s", target, secs(t0));
        } finally {
            deleteTree(stateDir);
        }
    }

    void checkInternalTopics(Admin admin) throws Exception {
        Set<String> topics = admin.listTopics().names().get(30, TimeUnit.SECONDS);
        log("topics: %s", new TreeMap<>(topics.stream().collect(Collectors.toMap(t -> t, t -> ""))).keySet());
        assertTrue(topics.contains(changelog), "no changelog topic " + changelog + " in " + topics);
        assertTrue(topics.contains(repartition), "no repartition topic " + repartition + " in " + topics);
        Map<String, TopicDescription> d = admin.describeTopics(List.of(changelog, repartition)).allTopicNames()
                .get(30, TimeUnit.SECONDS);
        assertEquals(PARTITIONS, d.get(changelog).partitions().size(), "changelog partitions");
        assertEquals(PARTITIONS, d.get(repartition).partitions().size(), "repartition partitions");
        ConfigResource cl = new ConfigResource(ConfigResource.Type.TOPIC, changelog);
        ConfigResource rp = new ConfigResource(ConfigResource.Type.TOPIC, repartition);
        Map<ConfigResource, Config> configs = admin.describeConfigs(List.of(cl, rp)).all().get(30, TimeUnit.SECONDS);
        String clPolicy = configs.get(cl).get("cleanup.policy").value();
        String rpPolicy = configs.get(rp).get("cleanup.policy").value();
        log("%s cleanup.policy=%s; %s cleanup.policy=%s", changelog, clPolicy, repartition, rpPolicy);
        assertEquals("compact", clPolicy, "the changelog's cleanup.policy");
        assertEquals("delete", rpPolicy, "the repartition topic's cleanup.policy");
    }

    Map<String, Long> committedInput(Admin admin) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(appId).partitionsToOffsetAndMetadata()
                .get(30, TimeUnit.SECONDS);
        Map<String, Long> out = new TreeMap<>();
        m.forEach((tp, om) -> {
            if (tp.topic().equals(input) && om != null) {
                out.put(tp.toString(), om.offset());
            }
        });
        return out;
    }

    Map<String, Long> endOffsets(Admin admin, String topic) throws Exception {
        return endOffsets(admin, topic, IsolationLevel.READ_UNCOMMITTED);
    }

    Map<String, Long> endOffsets(Admin admin, String topic, IsolationLevel isolation) throws Exception {
        Map<TopicPartition, OffsetSpec> req = new HashMap<>();
        for (int i = 0; i < PARTITIONS; i++) {
            req.put(new TopicPartition(topic, i), OffsetSpec.latest());
        }
        Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> r = admin.listOffsets(req,
                new ListOffsetsOptions(isolation)).all()
                .get(30, TimeUnit.SECONDS);
        Map<String, Long> out = new TreeMap<>();
        r.forEach((tp, info) -> out.put(tp.toString(), info.offset()));
        return out;
    }

    void writeResults(Map<String, Long> seen, Map<String, Long> expected, int lines, long words, double secs)
            throws IOException {
        Path dir = Paths.get(System.getProperty("streams.results", "target/results"));
        Files.createDirectories(dir);
        String counts = seen.entrySet().stream().map(e -> e.getKey() + " " + e.getValue())
                .collect(Collectors.joining("\n", "", "\n"));
        Files.writeString(dir.resolve(target + "-counts.txt"), counts, StandardCharsets.UTF_8);
        String expectedCounts = expected.entrySet().stream().map(e -> e.getKey() + " " + e.getValue())
                .collect(Collectors.joining("\n", "", "\n"));
        Files.writeString(dir.resolve("expected-counts.txt"), expectedCounts, StandardCharsets.UTF_8);
        Files.writeString(dir.resolve(target + "-summary.txt"), String.format(Locale.ROOT,
                "%s: %d lines, %d words, %d distinct, exact counts, %.1f s%n", target, lines, words, seen.size(), secs),
                StandardCharsets.UTF_8);
    }

    static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
