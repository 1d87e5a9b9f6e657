package authn_test

import (
	"context"
	"errors"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/authn/authntest"
)

// A site whose link to the auth service is cut, even one restarted meanwhile (a new source
// over the same bucket), verifies with the key set it kept.
func TestCachedKeySourceAnswersWhenTheSourceFails(t *testing.T) {
	_, nc := natstest.Server(t)
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "keys"})
	if err != nil {
		t.Fatal(err)
	}
	keys := authntest.NewKeys(t, "k1")
	up := true
	src := func(ctx context.Context) (jwk.Set, error) {
		if !up {
			return nil, errors.New("no responders")
		}
		return keys.Source(ctx)
	}
	if _, err := authn.CachedKeySource(src, kv)(ctx); err != nil {
		t.Fatal(err)
	}
	up = false
	set, err := authn.CachedKeySource(src, kv)(ctx)
	if err != nil {
		t.Fatalf("cut off: %v", err)
	}
	if _, ok := set.LookupKeyID("k1"); !ok {
		t.Fatalf("the kept set lacks k1: %v", set)
	}
}
