package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/subjects"
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
		// The live configuration (platform/liveconfig): a site follows the hub's settings,
		// and keeps the last ones it had while cut off.
		mirrorBucket(BucketConfig, 0, 0),
		{Bucket: BucketKeys, Description: "the last token key set fetched from the hub's auth service, for verifying tokens while cut off",
			History: 1, MaxBytes: 1 << 20, Storage: jetstream.FileStorage},
		{Bucket: BucketQuota, Description: "the site's stock quotas, taken by compare-and-set", History: 1,
			MaxBytes: SiteMaxBytes, Storage: jetstream.FileStorage},
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

// BucketQuota is an edge site's own bucket of stock quotas: quota.<sku> → the units the site
// may still sell and the last grant applied (taken by compare-and-set), sale.<id> → a sale
// being recorded.
const BucketQuota = "quota"

// BucketKeys is an edge site's own copy of the hub's token keys (public keys only).
const BucketKeys = "keys"

// SiteMaxBytes bounds each of a site's own streams. SALES refuses a sale when full
// (DiscardNew) rather than drop one the hub has not sourced: nothing leaves it by age.
const SiteMaxBytes = 256 << 20

// SiteStreams are the streams of the edge site id: its sales, on subjects naming the site
// (sourced by the hub's SITE_SALES), and its mirror of the hub's QUOTAS, filtered to its own
// grants.
func SiteStreams(id string) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{Name: subjects.StreamSales, Description: "sales at site " + id + ", sourced by the hub's " + subjects.StreamSiteSales,
			Subjects: []string{subjects.SiteSalesFilter(id)}, Storage: jetstream.FileStorage, Duplicates: DuplicateWindow,
			Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardNew, MaxBytes: SiteMaxBytes},
		{Name: subjects.StreamQuotas, Description: "mirror of the hub's quota grants to site " + id,
			Storage: jetstream.FileStorage, MaxBytes: SiteMaxBytes,
			Mirror: &jetstream.StreamSource{Name: subjects.StreamQuotas, Domain: HubDomain, FilterSubject: subjects.EvtQuotaGranted.Subject(id)}},
	}
}

// SiteSalesStream is the hub's stream of every site's sales: no subjects of its own, one
// source per site (its SALES stream, in its domain). A sale leaves after a year; the
// inventory's consumer records it in PostgreSQL long before.
func SiteSalesStream(sites []string) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{Name: subjects.StreamSiteSales, Description: "sales of the edge sites, sourced from each site's " + subjects.StreamSales,
		Storage: jetstream.FileStorage, Duplicates: DuplicateWindow, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
		MaxAge: 365 * 24 * time.Hour, MaxBytes: SiteMaxBytes}
	for _, id := range sites {
		cfg.Sources = append(cfg.Sources, &jetstream.StreamSource{Name: subjects.StreamSales, Domain: SiteDomain(id),
			FilterSubject: subjects.SiteSalesFilter(id)})
	}
	return cfg
}

// EnsureSiteSales creates the hub's SITE_SALES stream with a source for each of sites, or
// adds the sources it lacks: a new site needs no restart. It never removes a source (a site
// closed for good is removed by an operator, docs/operations.md).
//
// With Replicas the stream has that many copies, and one of another count is scaled to it.
func EnsureSiteSales(ctx context.Context, js jetstream.JetStream, sites []string, opts ...EnsureOption) error {
	want := SiteSalesStream(sites)
	want.Replicas = ensureOptions(opts).replicas
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return EnsureSiteSales(ctx, js, sites, opts...) // another instance was first
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", want.Name, err)
	}
	cfg := s.CachedInfo().Config
	missing := cfg.Replicas != want.Replicas
	cfg.Replicas = want.Replicas
	if addSources(&cfg, want.Sources) {
		missing = true
	}
	if !missing {
		return nil
	}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("stream %s: add sources or replicas: %w", want.Name, err)
	}
	return nil
}
