package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// An edge site's JetStream (its own domain, SiteDomain(id)) holds only what the site needs
// while it is cut off, and never a stream on the hub's subjects: a leaf forwards core
// messages both ways, so a site stream on souk.evt.order.> would also capture the hub's
// orders. What comes down from the hub comes by mirror (no subjects of its own); what goes
// up is on subjects that name the site.

// SiteBuckets are the KV buckets of the edge site id: mirrors of the hub's that the site
// reads while cut off.
func SiteBuckets() []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{
		// The revocations every verifier at the site watches (the gateway's and the site
		// service's); a revocation made at the hub reaches the site when the link is up.
		mirrorBucket(BucketRevocations, RevocationsTTL, RevocationsMaxBytes),
		// The catalog's documents, which the site's view serves browsing and search from.
		mirrorBucket(BucketProducts, 0, ProductsMaxBytes),
	}
}

// mirrorBucket is a read-only copy, at a site, of the hub's bucket name.
func mirrorBucket(name string, ttl time.Duration, maxBytes int64) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: name, Description: "mirror of the hub's " + name,
		TTL: ttl, MaxBytes: maxBytes, History: 1, Storage: jetstream.FileStorage,
		Mirror: &jetstream.StreamSource{Name: name, Domain: HubDomain}}
}

// EnsureSite creates the streams and buckets of the edge site id on js (the site's own
// domain), and updates one only when its config differs, as EnsureStreams does.
func EnsureSite(ctx context.Context, js jetstream.JetStream, id string) error {
	for _, cfg := range SiteBuckets() {
		_, err := js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			_, err = js.UpdateKeyValue(ctx, cfg)
		}
		if err != nil {
			return fmt.Errorf("site %s: kv bucket %s: %w", id, cfg.Bucket, err)
		}
	}
	for _, cfg := range SiteStreams(id) {
		_, err := js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			_, err = js.UpdateStream(ctx, cfg)
		}
		if err != nil {
			return fmt.Errorf("site %s: stream %s: %w", id, cfg.Name, err)
		}
	}
	return nil
}

// SiteStreams are the streams of the edge site id.
func SiteStreams(id string) []jetstream.StreamConfig { return nil }
