package sarama_test

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// The broker's address, from tests/go/sarama.sh. Never skip: a run without a
// broker is a failure.
func brokers(t *testing.T) []string {
	t.Helper()
	b := os.Getenv("VLTAVA_BROKERS")
	if b == "" {
		t.Fatal("VLTAVA_BROKERS is not set (run tests/go/sarama.sh)")
	}
	return strings.Split(b, ",")
}

// The protocol version the tests speak unless a test says otherwise.
var testVersion = sarama.V3_6_0_0

func newConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = testVersion
	c.ClientID = "vltava-sarama-test"
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	return c
}

var topicSeq atomic.Int64

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), topicSeq.Add(1))
}

func newAdmin(t *testing.T) sarama.ClusterAdmin {
	t.Helper()
	adm, err := sarama.NewClusterAdmin(brokers(t), newConfig())
	if err != nil {
		t.Fatalf("NewClusterAdmin: %v", err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

// createTopic creates a topic with n partitions and waits until its metadata
// shows n partitions with leaders.
func createTopic(t *testing.T, n int32) string {
	t.Helper()
	name := uniqueName("sarama")
	adm := newAdmin(t)
	if err := adm.CreateTopic(name, &sarama.TopicDetail{NumPartitions: n, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("CreateTopic %s: %v", name, err)
	}
	waitFor(t, 15*time.Second, func() error {
		md, err := adm.DescribeTopics([]string{name})
		if err != nil {
			return err
		}
		if len(md) != 1 || md[0].Err != sarama.ErrNoError {
			return fmt.Errorf("describe %s: %+v", name, md)
		}
		if int32(len(md[0].Partitions)) != n {
			return fmt.Errorf("%s has %d partitions, want %d", name, len(md[0].Partitions), n)
		}
		for _, p := range md[0].Partitions {
			if p.Err != sarama.ErrNoError || p.Leader < 0 {
				return fmt.Errorf("%s/%d: leader %d err %v", name, p.ID, p.Leader, p.Err)
			}
		}
		return nil
	})
	return name
}

func waitFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consumeAll reads partition p of topic from the oldest offset until it has
// want messages (or times out) and returns them.
func consumeAll(t *testing.T, topic string, p int32, want int) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewConsumer(brokers(t), newConfig())
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("ConsumePartition %s/%d: %v", topic, p, err)
	}
	defer pc.Close()
	var got []*sarama.ConsumerMessage
	timeout := time.After(30 * time.Second)
	for len(got) < want {
		select {
		case m := <-pc.Messages():
			got = append(got, m)
		case err := <-pc.Errors():
			t.Fatalf("consume %s/%d: %v", topic, p, err)
		case <-timeout:
			t.Fatalf("consume %s/%d: got %d messages, want %d", topic, p, len(got), want)
		}
	}
	// Nothing beyond what was produced.
	select {
	case m := <-pc.Messages():
		t.Fatalf("consume %s/%d: unexpected extra message at offset %d: %q", topic, p, m.Offset, m.Value)
	case <-time.After(500 * time.Millisecond):
	}
	return got
}

// checkSequence asserts msgs are values prefix-0 .. prefix-(n-1) at offsets
// first .. first+n-1, in order.
func checkSequence(t *testing.T, msgs []*sarama.ConsumerMessage, prefix string, first int64) {
	t.Helper()
	for i, m := range msgs {
		want := fmt.Sprintf("%s-%d", prefix, i)
		if string(m.Value) != want {
			t.Fatalf("message %d: value %q, want %q", i, m.Value, want)
		}
		if m.Offset != first+int64(i) {
			t.Fatalf("message %d: offset %d, want %d", i, m.Offset, first+int64(i))
		}
	}
}
