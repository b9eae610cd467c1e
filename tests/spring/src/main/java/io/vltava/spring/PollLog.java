package io.vltava.spring;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * A Kafka consumer interceptor that remembers what each {@code poll()}
 * returned (first and last offset per partition): the ack-mode tests need
 * the poll boundaries, since BATCH, COUNT and MANUAL commit at them.
 */
public class PollLog implements ConsumerInterceptor<Object, Object> {
    /** topic -> partition -> the polls, each {first, last} offset, in order. */
    private static final Map<String, Map<Integer, List<long[]>>> POLLS = new ConcurrentHashMap<>();

    public static List<long[]> polls(String topic, int partition) {
        List<long[]> l = POLLS.getOrDefault(topic, Map.of()).get(partition);
        if (l == null) {
            return List.of();
        }
        synchronized (l) {
            return new ArrayList<>(l);
        }
    }

    @Override
    public ConsumerRecords<Object, Object> onConsume(ConsumerRecords<Object, Object> records) {
        for (TopicPartition tp : records.partitions()) {
            List<ConsumerRecord<Object, Object>> rs = records.records(tp);
            if (rs.isEmpty()) {
                continue;
            }
            List<long[]> l = POLLS.computeIfAbsent(tp.topic(), t -> new ConcurrentHashMap<>())
                    .computeIfAbsent(tp.partition(), p -> new ArrayList<>());
            synchronized (l) {
                l.add(new long[] {rs.get(0).offset(), rs.get(rs.size() - 1).offset()});
            }
        }
        return records;
    }

    @Override
    public void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) {
    }

    @Override
    public void close() {
    }

    @Override
    public void configure(Map<String, ?> configs) {
    }
}
