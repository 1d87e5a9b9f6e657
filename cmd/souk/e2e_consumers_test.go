package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/nats/bus"
)

// Every durable consumer `souk run` starts on an interest stream is declared in
// nats/bus/consumers.go with the service's own filter, and every declared one is started. An
// undeclared consumer would be created only when its service starts, and the stream skips
// what it publishes before then; a declared one nobody starts holds its events until the
// stream is full.
func TestEveryConsumerOfAnInterestStreamIsDeclared(t *testing.T) {
	nc, err := nats.Connect(launch(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var running map[string]jetstream.ConsumerConfig
	expect.Within(t, 60*time.Second, func() error {
		running, err = durables(ctx, js)
		if err != nil {
			return err
		}
		for _, c := range bus.Consumers {
			if cfg, ok := running[c.Stream+"/"+c.Name]; !ok || cfg.Description == bus.DeclaredDescription {
				return fmt.Errorf("declared consumer %s of %s not started by souk run", c.Name, c.Stream)
			}
		}
		return nil
	})
	for _, c := range bus.Consumers {
		key := c.Stream + "/" + c.Name
		cfg := running[key]
		delete(running, key)
		got := cfg.FilterSubjects
		if cfg.FilterSubject != "" {
			got = []string{cfg.FilterSubject}
		}
		if !sameSet(got, c.Subjects) {
			t.Errorf("consumer %s runs with filter %v, declared %v", key, got, c.Subjects)
		}
	}
	for key := range running {
		t.Errorf("consumer %s is not declared in nats/bus/consumers.go", key)
	}
}

// durables returns the durable consumers of the interest streams by "stream/name".
func durables(ctx context.Context, js jetstream.JetStream) (map[string]jetstream.ConsumerConfig, error) {
	out := map[string]jetstream.ConsumerConfig{}
	for _, cfg := range bus.Streams {
		if cfg.Retention != jetstream.InterestPolicy {
			continue
		}
		s, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			return nil, err
		}
		list := s.ListConsumers(ctx)
		for c := range list.Info() {
			if c.Config.Durable != "" {
				out[cfg.Name+"/"+c.Name] = c.Config
			}
		}
		if err := list.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// embeddedURL is the embedded NATS server's address, from souk run's log.
func embeddedURL(t *testing.T, logs *logtest.Buffer) string {
	t.Helper()
	for _, l := range logs.Lines() {
		if l["message"] == "embedded NATS server ready" {
			return l["url"].(string)
		}
	}
	t.Fatalf("no NATS URL in the log:\n%s", logs.String())
	return ""
}

// launch starts `souk run` in-process, as startShop does, but waits only for the embedded
// NATS server, not for every service to be ready (the user service's bcrypt is slow under
// the race detector), and returns the server's URL.
func launch(t *testing.T) string {
	t.Helper()
	env := shopEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logtest.Buffer{}
	exited := make(chan int, 1)
	go func() { exited <- cli(ctx, []string{"run"}, func(k string) string { return env[k] }, io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Errorf("souk run did not exit within 30 s of the signal")
		}
	})
	var url string
	expect.Within(t, 60*time.Second, func() error {
		for _, l := range logs.Lines() {
			if l["message"] == "embedded NATS server ready" {
				url = l["url"].(string)
				return nil
			}
		}
		return errors.New("no embedded NATS server yet")
	})
	return url
}
