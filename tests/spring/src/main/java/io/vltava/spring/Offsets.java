package io.vltava.spring;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.stereotype.Component;

/** A group's committed offsets, read from the broker with an AdminClient (listConsumerGroupOffsets). */
@Component
public class Offsets implements DisposableBean {
    /** What {@link #committed(String, String, int)} returns when the group has no offset for the partition. */
    public static final long NONE = -1;

    private final Admin admin;

    public Offsets(@Value("${spring.kafka.bootstrap-servers}") String bootstrap) {
        this.admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.CLIENT_ID_CONFIG, "offsets-probe"));
    }

    /** partition -> committed offset of the group on the topic. */
    public Map<Integer, Long> committed(String group, String topic) {
        try {
            Map<TopicPartition, OffsetAndMetadata> all = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
            Map<Integer, Long> out = new TreeMap<>();
            all.forEach((tp, om) -> {
                if (tp.topic().equals(topic) && om != null) {
                    out.put(tp.partition(), om.offset());
                }
            });
            return out;
        } catch (Exception e) {
            throw new IllegalStateException("listConsumerGroupOffsets(" + group + ")", e);
        }
    }

    public long committed(String group, String topic, int partition) {
        return committed(group, topic).getOrDefault(partition, NONE);
    }

    public Admin admin() {
        return admin;
    }

    @Override
    public void destroy() {
        admin.close();
    }
}
