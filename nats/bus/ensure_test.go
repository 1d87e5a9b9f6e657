package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
)

// ensureAll is what every service does when it starts.
func ensureAll(ctx context.Context, js jetstream.JetStream, opts ...bus.EnsureOption) error {
	if err := bus.EnsureStreams(ctx, js, opts...); err != nil {
		return err
	}
	return bus.EnsureBuckets(ctx, js, opts...)
}

// Ensuring streams and buckets that are as the code says sends the server no update: an
// update rewrites a stream's config under its readers, and nats-server races there.
func TestEnsureAgainUpdatesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, js := natstest.JetStream(t, ctx)
	if err := ensureAll(ctx, js); err != nil {
		t.Fatal(err)
	}
	noUpdate(t, nc, func() error { return ensureAll(ctx, js) })
}

// noUpdate fails t when ensure sends the server a stream update. It watches the update
// requests themselves, not the server's update advisories: a server that has just scaled a
// stream sends some of those on its own while it moves the stream's consumers.
func noUpdate(t *testing.T, nc *nats.Conn, ensure func() error) {
	t.Helper()
	updates, err := nc.SubscribeSync("$JS.API.STREAM.UPDATE.>")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = updates.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ensure(); err != nil {
		t.Fatal(err)
	}
	// The server delivers a request to this subscription as it receives it, before it
	// answers it; the flush's round trip comes after every answer ensure waited for.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if msg, err := updates.NextMsg(0); err == nil {
		t.Fatalf("ensuring unchanged streams and buckets sent an update: %s", msg.Subject)
	}
}

// A stream or bucket whose config changed in the code is updated on the server.
func TestEnsureAppliesAChangedConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := bare(t)
	old := bus.Streams[0]
	old.Description = "as an older release declared it"
	old.MaxAge = time.Hour
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	oldBucket := bus.Buckets[0]
	oldBucket.Description = "as an older release declared it"
	if _, err := js.CreateKeyValue(ctx, oldBucket); err != nil {
		t.Fatal(err)
	}
	if err := ensureAll(ctx, js); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, old.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config; got.Description != bus.Streams[0].Description || got.MaxAge != bus.Streams[0].MaxAge {
		t.Fatalf("stream %s kept %q, %v; want %q, %v", old.Name, got.Description, got.MaxAge, bus.Streams[0].Description, bus.Streams[0].MaxAge)
	}
	kv, err := js.KeyValue(ctx, oldBucket.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Description; got != bus.Buckets[0].Description {
		t.Fatalf("bucket %s kept %q; want %q", oldBucket.Bucket, got, bus.Buckets[0].Description)
	}
}

// The shape of `souk run` starting: services ensuring streams and buckets while the ones
// started before them create consumers, publish and read stream info. Under -race this
// caught nats-server's stream-update race when every ensure sent an update.
func TestEnsureBesideARunningShop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js := natstest.JetStream(t, ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 3 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := ensureAll(ctx, js); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 8 {
				for _, cfg := range bus.Streams {
					name := fmt.Sprintf("w%d-%d", w, i)
					if _, err := js.CreateOrUpdateConsumer(ctx, cfg.Name, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
						errs <- err
						return
					}
				}
				if _, err := js.Publish(ctx, "souk.evt.order.placed", []byte("{}"), jetstream.WithMsgID(nats.NewInbox())); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
