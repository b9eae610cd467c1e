package io.vltava.streams;

import java.nio.file.Paths;

import org.apache.kafka.streams.KafkaStreams;

/**
 * The word count of {@link WordCountEosTest} in a JVM of its own, for the
 * test to kill with SIGKILL mid-way: a crash, with no commit, no abort and
 * no LeaveGroup. Arguments: bootstrap application.id input output state.dir.
 */
public final class KilledInstance {
    public static void main(String[] args) throws Exception {
        KafkaStreams s = new KafkaStreams(WordCountEosTest.topology(args[2], args[3]),
                WordCountEosTest.streamsProps(args[0], args[1], Paths.get(args[4])));
        s.setStateListener((to, from) -> System.out.println("[killed] " + from + " -> " + to));
        s.start();
        Thread.sleep(Long.MAX_VALUE);
    }
}
