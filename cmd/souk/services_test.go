package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/subjects"
)

// declarations builds every service's declaration, as `souk migrate` does: without running
// anything.
func declarations(t *testing.T) []kit.Service {
	t.Helper()
	out := make([]kit.Service, 0, len(services))
	for _, s := range services {
		svc, err := s.declare(Config{}, kit.Deps{})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := svc.Check(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		if svc.Name != s.name {
			t.Errorf("service %q declares itself %q", s.name, svc.Name)
		}
		out = append(out, svc)
	}
	return out
}

// The durables of the interest streams are created with their streams, before anything
// publishes (nats/bus.Consumers); each service builds its consumers' filters from their
// routes. The two must be the same consumers with the same filters, or an event published
// before a service first starts is skipped by the stream (an undeclared consumer), or waits
// for nobody (a declared one no service runs).
func TestDeclaredConsumersAreTheServicesOwn(t *testing.T) {
	interest := map[string]bool{}
	for _, s := range bus.Streams {
		interest[s.Name] = s.Retention == jetstream.InterestPolicy
	}
	declared := map[string]bus.Consumer{}
	for _, c := range bus.Consumers {
		declared[c.Name] = c
	}
	for _, svc := range declarations(t) {
		for _, c := range svc.Subscribes() {
			if !interest[c.Stream] {
				continue // a Limits stream keeps its messages for any consumer
			}
			d, ok := declared[c.Name]
			delete(declared, c.Name)
			switch {
			case !ok:
				t.Errorf("%s: consumer %s of %s is not declared in nats/bus/consumers.go", svc.Name, c.Name, c.Stream)
			case d.Stream != c.Stream || !sameSet(d.Subjects, c.Subjects):
				t.Errorf("%s: consumer %s takes %s %v; nats/bus declares %s %v", svc.Name, c.Name, c.Stream, c.Subjects, d.Stream, d.Subjects)
			}
		}
	}
	for name := range declared {
		t.Errorf("consumer %s is declared in nats/bus/consumers.go but no service runs it", name)
	}
}

// Each endpoint of the contract is served by one service, and each event kind is published by
// one, on its own stream.
func TestEveryEndpointAndEventHasOneOwner(t *testing.T) {
	served, published := map[string]string{}, map[string]string{}
	known := map[string]bool{}
	for _, k := range subjects.Events() {
		known[k.Kind] = true
	}
	for _, svc := range declarations(t) {
		for _, b := range svc.Endpoints {
			if other, ok := served[b.Subject()]; ok {
				t.Errorf("%s is served by %s and %s", b.Subject(), other, svc.Name)
			}
			served[b.Subject()] = svc.Name
		}
		for _, e := range svc.Publishes {
			if other, ok := published[e.Kind]; ok {
				t.Errorf("%s is published by %s and %s", e.Kind, other, svc.Name)
			}
			published[e.Kind] = svc.Name
			if !known[e.Kind] {
				t.Errorf("%s publishes %s, which subjects.Events does not list", svc.Name, e.Kind)
			}
		}
	}
	for kind := range known {
		if _, ok := published[kind]; !ok {
			t.Errorf("no service declares that it publishes %s", kind)
		}
	}
}

// `souk services` prints every declaration.
func TestServicesCommandDescribesEveryService(t *testing.T) {
	var out, errs bytes.Buffer
	if code := cli(t.Context(), []string{"services"}, func(string) string { return "" }, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	var got []kit.Description
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(got))
	for i, d := range got {
		names[i] = d.Name
	}
	if !slices.Equal(names, serviceNames()) {
		t.Fatalf("described %v, want %v", names, serviceNames())
	}
	order := got[slices.Index(names, "order")]
	if order.Endpoints[subjects.OrderPlace.Subject] != string(subjects.PermProfile) || len(order.Consumes) == 0 || len(order.Publishes) == 0 {
		t.Fatalf("order described as %s", fmt.Sprint(order))
	}
}
