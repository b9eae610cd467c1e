package io.vltava.streams;

import java.nio.file.Paths;
import java.util.Properties;

import org.apache.kafka.clients.producer.ProducerConfig;

import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;

/**
 * The word count of {@link WordCountEosTest} in a JVM of its own, for the
 * test to kill with SIGKILL mid-way: a crash, with no commit, no abort and
 * no LeaveGroup. Arguments: bootstrap application.id input output state.dir.
 */
public final class KilledInstance {
    public static void main(String[] args) throws Exception {
        Properties props = WordCountEosTest.streamsProps(args[0], args[1], Paths.get(args[4]));
        // Records go to the broker as they are made, not at commit time
        // (Streams' producer lingers 100 ms): the test can catch a
        // transaction open with output records on the broker.
        props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 0);
        KafkaStreams s = new KafkaStreams(WordCountEosTest.topology(args[2], args[3]), props);
        s.setStateListener((to, from) -> System.out.println("[killed] " + from + " -> " + to));
        s.start();
        Thread.sleep(Long.MAX_VALUE);
    }
}
