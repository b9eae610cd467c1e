package sarama_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// ClusterAdmin: create (with a config), describe (partitions, config), list,
// create again (TOPIC_ALREADY_EXISTS), delete, gone from the list.
func TestClusterAdmin(t *testing.T) {
	adm := newAdmin(t)
	name := uniqueName("sarama-admin")
	retention := "3600000"
	err := adm.CreateTopic(name, &sarama.TopicDetail{
		NumPartitions: 5, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention},
	}, false)
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}

	// Validate-only creation must not create anything.
	vname := uniqueName("sarama-validate")
	if err := adm.CreateTopic(vname, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, true); err != nil {
		t.Fatalf("CreateTopic validateOnly: %v", err)
	}

	var md []*sarama.TopicMetadata
	waitFor(t, 15*time.Second, func() error {
		md, err = adm.DescribeTopics([]string{name})
		if err != nil {
			return err
		}
		if len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != 5 {
			return fmt.Errorf("DescribeTopics: %+v", md)
		}
		return nil
	})
	for _, p := range md[0].Partitions {
		if len(p.Replicas) != 1 || len(p.Isr) != 1 || p.Leader != p.Replicas[0] {
			t.Fatalf("partition %d: leader %d replicas %v isr %v", p.ID, p.Leader, p.Replicas, p.Isr)
		}
	}

	cfgs, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: name, ConfigNames: []string{"retention.ms"}})
	if err != nil {
		t.Fatalf("DescribeConfig: %v", err)
	}
	if len(cfgs) != 1 || cfgs[0].Name != "retention.ms" || cfgs[0].Value != retention || cfgs[0].Default {
		t.Fatalf("DescribeConfig retention.ms: %+v", cfgs)
	}

	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	d, ok := topics[name]
	if !ok || d.NumPartitions != 5 {
		t.Fatalf("ListTopics: %s: %+v present=%v", name, d, ok)
	}
	if _, ok := topics[vname]; ok {
		t.Fatalf("validate-only topic %s was created", vname)
	}

	err = adm.CreateTopic(name, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("CreateTopic of an existing topic: %v, want %v", err, sarama.ErrTopicAlreadyExists)
	}

	if err := adm.CreatePartitions(name, 7, nil, false); err != nil {
		t.Fatalf("CreatePartitions: %v", err)
	}
	waitFor(t, 15*time.Second, func() error {
		md, err := adm.DescribeTopics([]string{name})
		if err != nil {
			return err
		}
		if len(md) != 1 || len(md[0].Partitions) != 7 {
			return fmt.Errorf("after CreatePartitions: %+v", md)
		}
		return nil
	})

	if err := adm.DeleteTopic(name); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	waitFor(t, 15*time.Second, func() error {
		topics, err := adm.ListTopics()
		if err != nil {
			return err
		}
		if _, ok := topics[name]; ok {
			return fmt.Errorf("%s still listed after DeleteTopic", name)
		}
		return nil
	})
	err = adm.DeleteTopic(name)
	if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("DeleteTopic of a deleted topic: %v, want %v", err, sarama.ErrUnknownTopicOrPartition)
	}
}
