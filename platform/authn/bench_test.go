package authn_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/authn/authntest"
	"github.com/souk/souk/subjects"
)

// The cost of revocation on the path of every signed-in request: a remembered token's
// check, without revocations and with a watched bucket of 10 000 revoked users.
//
//	go test -run '^$' -bench Verify -benchmem ./platform/authn/
func BenchmarkVerifyRemembered(b *testing.B) {
	keys := authntest.NewKeys(b, "k1")
	benchVerify(b, authn.NewVerifier(keys.Source, time.Hour), keys)
}

func BenchmarkVerifyRememberedWithRevocations(b *testing.B) {
	ctx := b.Context()
	_, js := natstest.JetStream(b, ctx)
	if err := bus.EnsureBuckets(ctx, js); err != nil {
		b.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bus.BucketRevocations)
	if err != nil {
		b.Fatal(err)
	}
	const revoked = 10_000
	for i := range revoked {
		if err := authn.RevokeUser(ctx, kv, "revoked-"+strconv.Itoa(i), time.Now().Unix()); err != nil {
			b.Fatal(err)
		}
	}
	rev := authn.NewRevocations(js)
	expect.Start(b, rev.Run)
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rev.WaitLoaded(wait); err != nil {
		b.Fatal(err)
	}
	keys := authntest.NewKeys(b, "k1")
	benchVerify(b, authn.NewVerifier(keys.Source, time.Hour).WithRevocations(rev), keys)
}

func benchVerify(b *testing.B, v *authn.Verifier, keys *authntest.Keys) {
	tok := keys.Sign(b, "k1", "u1", []string{subjects.RoleStaff}, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
