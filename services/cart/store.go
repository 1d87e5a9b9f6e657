package cart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/background"
)

// Store keeps carts in a JetStream KV bucket, one value per customer, and changes them only
// by compare-and-swap.
type Store struct {
	// kv is the bucket; a store declared without it gets it from open, before any use.
	kv jetstream.KeyValue
	// patience bounds how long the compare-and-swap loop of Update goes on losing races.
	patience time.Duration
	// stripes serialise the writes of one instance to one cart: two tabs of one customer
	// served by the same instance then queue instead of racing, and compare-and-swap is left
	// to settle races between instances. Each is a one-slot semaphore, so a wait ends with
	// its caller's context.
	stripes [64]chan struct{}
	// conflicts counts lost compare-and-swap rounds.
	conflicts prometheus.Counter
}

// NewStore returns a store over kv (nil: the bucket open binds at start) that tries a write
// again for as long as patience while it loses the race, and counts the conflicts it meets
// in conflicts.
func NewStore(kv jetstream.KeyValue, patience time.Duration, conflicts prometheus.Counter) *Store {
	s := &Store{kv: kv, patience: patience, conflicts: conflicts}
	for i := range s.stripes {
		s.stripes[i] = make(chan struct{}, 1)
	}
	return s
}

// open binds the store to the carts bucket. The kit calls it once at start (Service does no
// I/O), before any endpoint or loop runs.
func (s *Store) open(ctx context.Context, js jetstream.JetStream) error {
	kv, err := js.KeyValue(ctx, bus.BucketCarts)
	if err != nil {
		return fmt.Errorf("carts bucket: %w", err)
	}
	s.kv = kv
	return nil
}

// Get returns the cart under key and its revision; an absent cart is empty at revision 0.
func (s *Store) Get(ctx context.Context, key string) (Cart, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Cart{}, 0, nil
	}
	if err != nil {
		return Cart{}, 0, fmt.Errorf("read cart: %w", err)
	}
	var c Cart
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return Cart{}, 0, fmt.Errorf("decode cart at revision %d: %w", e.Revision(), err)
	}
	return c, e.Revision(), nil
}

// Update applies fn to the cart under key and writes the result with the revision it read:
// Create when there was no cart, Update otherwise. When another writer got there first it
// reads again and re-applies fn (so fn must depend on nothing but its argument), for as long
// as the store's patience (or ctx) allows, then gives up with ErrContention. fn's error, or its answer that nothing
// changed, ends the loop without a write. It returns the cart as written (or read) and its
// revision.
func (s *Store) Update(ctx context.Context, key string, fn func(*Cart) (changed bool, err error)) (Cart, uint64, error) {
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return Cart{}, 0, err
	}
	defer unlock()
	giveUp := time.Now().Add(s.patience)
	for attempt := 0; attempt == 0 || time.Now().Before(giveUp); attempt++ {
		c, rev, err := s.Get(ctx, key)
		if err != nil {
			return Cart{}, 0, err
		}
		changed, err := fn(&c)
		if err != nil || !changed {
			return c, rev, err
		}
		c.UpdatedAt = time.Now().UTC()
		newRev, err := s.write(ctx, key, c, rev)
		if errors.Is(err, errConflict) {
			s.conflicts.Inc()
			if err := backoff(ctx, attempt); err != nil {
				return Cart{}, 0, err
			}
			continue
		}
		if err != nil {
			return Cart{}, 0, err
		}
		return c, newRev, nil
	}
	return Cart{}, 0, ErrContention
}

// errConflict is a compare-and-swap write that found another revision than the one read.
var errConflict = errors.New("cart revision conflict")

// write stores c under key if the key is still at rev (0: absent). The two ways to lose the
// race come back as errConflict: Create over an existing key is jetstream.ErrKeyExists, and
// Update with a stale revision jetstream.ErrKeyRevisionMismatch (the server's wrong last
// sequence, code 10071, or 10164 on a replicated bucket). store_test.go pins both.
func (s *Store) write(ctx context.Context, key string, c Cart, rev uint64) (uint64, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("encode cart: %w", err)
	}
	var newRev uint64
	if rev == 0 {
		newRev, err = s.kv.Create(ctx, key, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, errConflict
		}
	} else {
		newRev, err = s.kv.Update(ctx, key, b, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, errConflict
		}
	}
	if err != nil {
		return 0, fmt.Errorf("write cart: %w", err)
	}
	return newRev, nil
}

// lock takes key's stripe, waiting no longer than ctx allows.
func (s *Store) lock(ctx context.Context, key string) (unlock func(), err error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	stripe := s.stripes[h.Sum32()%uint32(len(s.stripes))]
	select {
	case stripe <- struct{}{}:
		return func() { <-stripe }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// backoff waits a random time under a ceiling that doubles with attempt (1 ms up to 32 ms),
// so that writers on several instances who keep colliding spread out instead of colliding
// again in lockstep.
func backoff(ctx context.Context, attempt int) error {
	ceiling := background.Doubling(attempt+1, time.Millisecond, 32*time.Millisecond)
	t := time.NewTimer(rand.N(ceiling) + time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
