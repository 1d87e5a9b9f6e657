package authn

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/nats-io/nats.go/jetstream"
)

// KeyCacheKey is the key the last fetched key set is kept under (CachedKeySource).
const KeyCacheKey = "jwks"

// CachedKeySource is src that keeps the last key set it fetched in kv, and answers from kv
// when src fails: an edge site whose link to the hub (the auth service) is cut, or that was
// restarted while cut, still verifies the tokens the hub issued before. It holds public keys
// only.
func CachedKeySource(src KeySource, kv jetstream.KeyValue) KeySource {
	return func(ctx context.Context) (jwk.Set, error) {
		set, err := src(ctx)
		if err == nil {
			if raw, merr := json.Marshal(set); merr == nil {
				_, _ = kv.Put(ctx, KeyCacheKey, raw) // best effort: the next fetch puts it again
			}
			return set, nil
		}
		e, kerr := kv.Get(ctx, KeyCacheKey)
		if kerr != nil {
			return nil, fmt.Errorf("%w (and no kept key set: %w)", err, kerr)
		}
		return jwk.Parse(e.Value())
	}
}
