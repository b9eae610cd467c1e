package sarama_test

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
)

// Consumer: records written to chosen partitions are read back from the
// oldest offset, per partition, in order, with their keys and headers.
func TestConsumerFromOldest(t *testing.T) {
	const parts, n = 3, 150
	topic := createTopic(t, parts)
	cfg := newConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(brokers(t), cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	for part := int32(0); part < parts; part++ {
		// Different counts per partition so a mixed-up partition shows.
		for i := 0; i < n+int(part)*10; i++ {
			_, _, err := p.SendMessage(&sarama.ProducerMessage{
				Topic: topic, Partition: part,
				Key:     sarama.StringEncoder(fmt.Sprintf("k%d", i)),
				Value:   sarama.StringEncoder(fmt.Sprintf("p%d-%d", part, i)),
				Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(fmt.Sprint(part))}},
			})
			if err != nil {
				t.Fatalf("SendMessage: %v", err)
			}
		}
	}
	p.Close()

	client, err := sarama.NewClient(brokers(t), newConfig())
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer client.Close()
	ps, err := client.Partitions(topic)
	if err != nil || len(ps) != parts {
		t.Fatalf("Partitions: %v %v", ps, err)
	}
	for part := int32(0); part < parts; part++ {
		want := n + int(part)*10
		oldest, err := client.GetOffset(topic, part, sarama.OffsetOldest)
		if err != nil || oldest != 0 {
			t.Fatalf("GetOffset oldest %d: %d %v", part, oldest, err)
		}
		newest, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil || newest != int64(want) {
			t.Fatalf("GetOffset newest %d: %d %v, want %d", part, newest, err, want)
		}
		msgs := consumeAll(t, topic, part, want)
		checkSequence(t, msgs, fmt.Sprintf("p%d", part), 0)
		for i, m := range msgs {
			if m.Partition != part || m.Topic != topic {
				t.Fatalf("message %d: %s/%d, want %s/%d", i, m.Topic, m.Partition, topic, part)
			}
			if string(m.Key) != fmt.Sprintf("k%d", i) {
				t.Fatalf("message %d: key %q", i, m.Key)
			}
			if len(m.Headers) != 1 || string(m.Headers[0].Key) != "h" || string(m.Headers[0].Value) != fmt.Sprint(part) {
				t.Fatalf("message %d: headers %v", i, m.Headers)
			}
		}
	}
}
