package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/subjects"
)

// partitions of the proof below.
const partitions = 4

// partitioned is a saga stream whose stored subjects carry a partition number computed by the
// server from the entity id (the last token): souk.evt.order.placed.<id> is stored as
// souk.evt.order.placed.<p>.<id>. docs/capacity.md, "Partitioning", builds on this.
func partitioned(name, family string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: []string{family + ".>"}, Storage: jetstream.FileStorage,
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: family + ".*.*",
			Destination: fmt.Sprintf("%s.{{wildcard(1)}}.{{partition(%d,2)}}.{{wildcard(2)}}", family, partitions)}}
}

// The partitioning path's NATS half works on the server Souk ships: a stream's subject
// transform puts every event of one order in one partition, the same in ORDERS and INVENTORY
// (both key on the order id), a consumer filtered on a partition sees exactly its orders, and
// any service can compute the partition itself (FNV-1a of the id, modulo the count).
func TestSagaEventsPartitionByOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, nc := natstest.Server(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []jetstream.StreamConfig{partitioned("ORDERS", "souk.evt.order"), partitioned("INVENTORY", "souk.evt.inventory")} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatalf("stream %s: %v", cfg.Name, err)
		}
	}
	const orders = 64
	want := map[string]int{} // order id → its partition
	for range orders {
		id := uuid.NewString()
		h := fnv.New32a()
		h.Write([]byte(id))
		want[id] = int(h.Sum32() % partitions)
		for _, subject := range []string{subjects.EvtOrderPlaced.Subject(id), subjects.EvtInventoryReserved.Subject(id), subjects.EvtOrderPaid.Subject(id)} {
			if _, err := js.Publish(ctx, subject, []byte(`{}`)); err != nil {
				t.Fatalf("publish %s: %v", subject, err)
			}
		}
	}
	for _, stream := range []string{"ORDERS", "INVENTORY"} {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(">"))
		if err != nil {
			t.Fatal(err)
		}
		for subject := range info.State.Subjects {
			tok := strings.Split(subject, ".") // souk.evt.<domain>.<kind>.<p>.<id>
			if len(tok) != 6 || tok[4] != fmt.Sprint(want[tok[5]]) {
				t.Errorf("%s: stored as %s, want partition %d", stream, subject, want[tok[5]])
			}
		}
	}
	perPartition := make([]int, partitions)
	for _, p := range want {
		perPartition[p]++
	}
	for p := range partitions {
		cons, err := js.CreateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: fmt.Sprintf("order-p%d", p),
			FilterSubject: fmt.Sprintf("souk.evt.order.*.%d.*", p), AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatal(err)
		}
		ci, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := int(ci.NumPending); got != 2*perPartition[p] || got == 0 {
			t.Errorf("partition %d: consumer has %d pending, want %d (two order events per order)", p, got, 2*perPartition[p])
		}
	}
}
