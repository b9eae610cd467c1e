package sarama_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

var codecs = []sarama.CompressionCodec{
	sarama.CompressionNone,
	sarama.CompressionGZIP,
	sarama.CompressionSnappy,
	sarama.CompressionLZ4,
	sarama.CompressionZSTD,
}

var acks = map[string]sarama.RequiredAcks{
	"acks=all": sarama.WaitForAll,
	"acks=1":   sarama.WaitForLocal,
}

const perCase = 200

// SyncProducer: every acks setting and codec. Offsets returned must be
// contiguous from 0 and a consumer must read back exactly what was sent.
func TestSyncProducer(t *testing.T) {
	for an, a := range acks {
		for _, codec := range codecs {
			t.Run(fmt.Sprintf("%s/%s", an, codec), func(t *testing.T) {
				topic := createTopic(t, 1)
				cfg := newConfig()
				cfg.Producer.RequiredAcks = a
				cfg.Producer.Compression = codec
				cfg.Producer.Return.Successes = true
				p, err := sarama.NewSyncProducer(brokers(t), cfg)
				if err != nil {
					t.Fatalf("NewSyncProducer: %v", err)
				}
				defer p.Close()
				// One at a time, then a batch through SendMessages.
				for i := 0; i < perCase/2; i++ {
					part, off, err := p.SendMessage(&sarama.ProducerMessage{
						Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i)),
						Value: sarama.StringEncoder(fmt.Sprintf("v-%d", i)),
					})
					if err != nil {
						t.Fatalf("SendMessage %d: %v", i, err)
					}
					if part != 0 || off != int64(i) {
						t.Fatalf("SendMessage %d: partition %d offset %d, want 0/%d", i, part, off, i)
					}
				}
				var batch []*sarama.ProducerMessage
				for i := perCase / 2; i < perCase; i++ {
					batch = append(batch, &sarama.ProducerMessage{
						Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("v-%d", i)),
					})
				}
				if err := p.SendMessages(batch); err != nil {
					t.Fatalf("SendMessages: %v", err)
				}
				seen := map[int64]bool{}
				for _, m := range batch {
					if m.Offset < perCase/2 || m.Offset >= perCase || seen[m.Offset] {
						t.Fatalf("SendMessages: offset %d out of range or repeated", m.Offset)
					}
					seen[m.Offset] = true
				}
				checkSequence(t, consumeAll(t, topic, 0, perCase), "v", 0)
			})
		}
	}
}

// AsyncProducer: every acks setting and codec; every message acknowledged
// once, none errored, all read back.
func TestAsyncProducer(t *testing.T) {
	for an, a := range acks {
		for _, codec := range codecs {
			t.Run(fmt.Sprintf("%s/%s", an, codec), func(t *testing.T) {
				topic := createTopic(t, 1)
				cfg := newConfig()
				cfg.Producer.RequiredAcks = a
				cfg.Producer.Compression = codec
				cfg.Producer.Return.Successes = true
				cfg.Producer.Return.Errors = true
				cfg.Producer.Flush.Messages = 25
				cfg.Producer.Flush.Frequency = 5 * time.Millisecond
				cfg.Net.MaxOpenRequests = 1 // keep order across batches
				p, err := sarama.NewAsyncProducer(brokers(t), cfg)
				if err != nil {
					t.Fatalf("NewAsyncProducer: %v", err)
				}
				go func() {
					for i := 0; i < perCase; i++ {
						p.Input() <- &sarama.ProducerMessage{
							Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("v-%d", i)), Metadata: i,
						}
					}
				}()
				acked := map[int]int64{}
				timeout := time.After(30 * time.Second)
				for len(acked) < perCase {
					select {
					case m := <-p.Successes():
						i := m.Metadata.(int)
						if _, dup := acked[i]; dup {
							t.Fatalf("message %d acknowledged twice", i)
						}
						acked[i] = m.Offset
					case e := <-p.Errors():
						t.Fatalf("produce error: %v", e)
					case <-timeout:
						t.Fatalf("%d of %d acknowledged", len(acked), perCase)
					}
				}
				if err := p.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				for i, off := range acked {
					if off != int64(i) {
						t.Fatalf("message %d acknowledged at offset %d", i, off)
					}
				}
				checkSequence(t, consumeAll(t, topic, 0, perCase), "v", 0)
			})
		}
	}
}

// Idempotent producer (needs protocol 0.11+: InitProducerId and v2 record
// batches): at 0.11.0 and at the default test version, through both producers.
func TestIdempotentProducer(t *testing.T) {
	for _, v := range []sarama.KafkaVersion{sarama.V0_11_0_0, sarama.V2_8_0_0, testVersion} {
		t.Run(v.String(), func(t *testing.T) {
			topic := createTopic(t, 3)
			cfg := newConfig()
			cfg.Version = v
			cfg.Producer.Idempotent = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Retry.Max = 5
			cfg.Net.MaxOpenRequests = 1
			cfg.Producer.Return.Successes = true
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			if v.IsAtLeast(sarama.V2_1_0_0) {
				cfg.Producer.Compression = sarama.CompressionZSTD
			} else {
				cfg.Producer.Compression = sarama.CompressionLZ4
			}
			p, err := sarama.NewSyncProducer(brokers(t), cfg)
			if err != nil {
				t.Fatalf("NewSyncProducer (idempotent, %s): %v", v, err)
			}
			defer p.Close()
			for part := int32(0); part < 3; part++ {
				var batch []*sarama.ProducerMessage
				for i := 0; i < perCase; i++ {
					batch = append(batch, &sarama.ProducerMessage{
						Topic: topic, Partition: part, Value: sarama.StringEncoder(fmt.Sprintf("p%d-%d", part, i)),
					})
				}
				if err := p.SendMessages(batch); err != nil {
					t.Fatalf("SendMessages to %d: %v", part, err)
				}
				for i, m := range batch {
					if m.Partition != part || m.Offset != int64(i) {
						t.Fatalf("message %d: partition %d offset %d, want %d/%d", i, m.Partition, m.Offset, part, i)
					}
				}
			}
			for part := int32(0); part < 3; part++ {
				checkSequence(t, consumeAll(t, topic, part, perCase), fmt.Sprintf("p%d", part), 0)
			}
		})
	}
}
