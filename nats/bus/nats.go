// Package bus (directory nats/bus) is Souk's NATS plumbing: the embedded server, connecting, and
// the JetStream streams and KV buckets declared as code and created or updated at start-up.
// It is not named nats so that it never shadows nats.go.
package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/subjects"
)

// ServerConfig configures the embedded NATS server.
type ServerConfig struct {
	// Listen is host:port for clients; port 0 picks a free one.
	Listen string
	// ListenExplicit says Listen was set by the operator: when its port is taken, that is an
	// error instead of a move to a free port.
	ListenExplicit bool
	// StoreDir holds JetStream's files. Never share it between servers.
	StoreDir string
	// MaxMemory and MaxStore cap JetStream (it takes up to 75 % of RAM otherwise).
	MaxMemory int64
	MaxStore  int64
	// Name is the server name; "souk" when empty. Every node of a cluster needs its own,
	// kept across restarts: JetStream knows its peers by name.
	Name string
	// Domain is the JetStream domain: HubDomain at the hub, SiteDomain(id) at an edge site.
	// Mirrors and sources name it to reach across a leaf connection.
	Domain string
	// LeafListen, when set, is host:port where the hub accepts edge sites' leaf connections.
	LeafListen string
	// LeafRemote, when set, makes this server a leaf node of the hub at that URL
	// (nats-leaf://host:port): an edge site.
	LeafRemote string
	// Cluster, when its Name is set, makes the server a node of a JetStream cluster.
	Cluster ClusterConfig
	// SyncAlways makes JetStream fsync every write before acknowledging it, instead of every
	// 2 minutes (docs/decisions.md, "A three-node JetStream cluster": what it costs).
	SyncAlways bool
}

// ClusterConfig joins the embedded server to a NATS cluster.
type ClusterConfig struct {
	// Name is the cluster's name, the same on every node.
	Name string
	// Listen is host:port for the routes from the other nodes; port 0 picks a free one.
	Listen string
	// Routes are the other nodes' route URLs (nats-route://host:port); the server finds the
	// rest of the cluster through them and keeps reconnecting to them.
	Routes []string
}

// StartServer starts an embedded NATS server with JetStream and waits until it accepts
// clients. When the configured port is taken and was not set explicitly it listens on a free
// port instead and logs the URL to give the nats CLI.
func StartServer(cfg ServerConfig, log zerolog.Logger) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("SOUK_NATS_LISTEN %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("SOUK_NATS_LISTEN %q: bad port", cfg.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else if taken(cfg.Listen) {
		if cfg.ListenExplicit {
			return nil, fmt.Errorf("SOUK_NATS_LISTEN %s: address already in use", cfg.Listen)
		}
		log.Warn().Str("listen", cfg.Listen).Msg("NATS port is taken (another NATS server on this machine?); listening on a free port instead")
		port = server.RANDOM_PORT
	}
	if cfg.Name == "" {
		cfg.Name = "souk"
	}
	if cfg.MaxMemory == 0 {
		cfg.MaxMemory = 256 << 20
	}
	if cfg.MaxStore == 0 {
		cfg.MaxStore = 8 << 30
	}
	opts := &server.Options{
		ServerName:         cfg.Name,
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		JetStreamMaxMemory: cfg.MaxMemory,
		JetStreamMaxStore:  cfg.MaxStore,
		NoSigs:             true,
		MaxPayload:         8 << 20,
		JetStreamDomain:    cfg.Domain,
		SyncAlways:         cfg.SyncAlways,
	}
	if err := cfg.Cluster.apply(opts); err != nil {
		return nil, err
	}
	if err := leafOptions(opts, cfg); err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	ns.SetLoggerV2(&serverLog{log: log.With().Str("component", "nats-server").Logger()}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 15s")
	}
	return ns, nil
}

// apply sets opts's cluster listener and routes; nothing when c has no name.
func (c ClusterConfig) apply(opts *server.Options) error {
	if c.Name == "" {
		return nil
	}
	host, portStr, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("cluster listen %q: %w", c.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("cluster listen %q: bad port", c.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port}
	opts.Routes = server.RoutesFromStr(strings.Join(c.Routes, ","))
	return nil
}

func taken(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	_ = l.Close()
	return false
}

// Connect connects to url as name, reconnecting forever, with every state change logged.
func Connect(url, name string, log zerolog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Msg("nats disconnected")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("nats reconnected") }),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			ev := log.Error().Err(err)
			if s != nil {
				ev = ev.Str("subject", s.Subject)
			}
			ev.Msg("nats async error")
		}),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}

// Bucket names.
const (
	BucketSessions    = "sessions"
	BucketCarts       = "carts"
	BucketRevocations = "revocations"
	// BucketConfig holds the live configuration (platform/liveconfig): dotted keys such as
	// gateway.rate_ip, watched by every process.
	BucketConfig = "config"
	// BucketProducts holds the catalog's documents for edge sites (subjects.CatalogDocument
	// by product, the category tree): the catalog writes it, every site mirrors it.
	BucketProducts = "products"
)

// ProductsMaxBytes bounds the products bucket: ~100 000 products of ~2.5 KiB (three
// languages). JetStream reserves it from the store's limit at creation.
const ProductsMaxBytes = 256 << 20

// RevocationsTTL is how long the revocations bucket keeps an entry (a user's not-before
// time, a session ended): longer than an access token can be accepted after a revocation,
// which is its lifetime (the auth service refuses a longer one) plus the verifiers' 30 s of
// clock skew, so an entry leaves only once no token it stops can still be valid.
const RevocationsTTL = 20 * time.Minute

// RevocationsMaxBytes bounds the revocations bucket, and so every verifier's copy of it:
// ~100 000 entries, far more than a shop revokes in RevocationsTTL. A full bucket refuses
// new entries (a KV bucket discards new): the revocation is retried by the auth service's
// consumer, and its lag is alerted on, rather than an older revocation being dropped.
const RevocationsMaxBytes = 32 << 20

// Buckets are Souk's KV buckets as code.
var Buckets = []jetstream.KeyValueConfig{
	{Bucket: BucketSessions, Description: "refresh sessions: hashed tokens and session families", TTL: 30 * 24 * time.Hour, History: 1, Storage: jetstream.FileStorage},
	{Bucket: BucketCarts, Description: "carts, one per customer, updated with the revision", TTL: 30 * 24 * time.Hour, History: 1, Storage: jetstream.FileStorage},
	{Bucket: BucketRevocations, Description: "revoked access tokens: user.<id> → not-before (Unix s), session.<sid> → ended; watched by every verifier",
		TTL: RevocationsTTL, MaxBytes: RevocationsMaxBytes, History: 1, Storage: jetstream.FileStorage},
	{Bucket: BucketConfig, Description: "live configuration: dotted keys (gateway.rate_ip, features.checkout, canary.<service>), watched by every process; nats kv put config <key> <value>",
		History: 5, Storage: jetstream.FileStorage},
	{Bucket: BucketProducts, Description: "catalog documents for edge sites: p.<product id> → views by locale, categories → the tree; mirrored by every site",
		MaxBytes: ProductsMaxBytes, History: 1, Storage: jetstream.FileStorage},
	// No idempotency bucket: a placement's Idempotency-Key is a unique index in the orders
	// table, and the order row is the answer (docs/decisions.md). A bucket "idempotency" left
	// by an older release is no longer used, and not deleted here: its keys expire within
	// 24 h, and an instance of the older release still starting during a rolling upgrade
	// needs it. Delete it once no such instance runs: nats kv del idempotency.
}

// EnsureBuckets creates every bucket of Buckets, and updates one only when its config
// differs from the code's (see EnsureStreams for why an update is never sent blindly); with
// Replicas, a bucket of another replica count is scaled to it (a KV bucket is a stream).
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, opts ...EnsureOption) error {
	o := ensureOptions(opts)
	for _, cfg := range Buckets {
		cfg.Replicas = o.replicas
		_, err := js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			_, err = js.UpdateKeyValue(ctx, cfg)
		}
		if err != nil {
			return fmt.Errorf("kv bucket %s: %w", cfg.Bucket, err)
		}
	}
	return nil
}

type serverLog struct{ log zerolog.Logger }

func (l *serverLog) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l *serverLog) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l *serverLog) Fatalf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l *serverLog) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l *serverLog) Debugf(format string, v ...any)  { l.log.Debug().Msgf(format, v...) }
func (l *serverLog) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }

// DuplicateWindow is the JetStream de-duplication window of every stream: how long a stream
// remembers each Nats-Msg-Id (memory per message). It is the outbox relay's resend window
// after an unclean stop (3 min, platform/outbox) plus a margin for a slow restart, so a
// republished event that had survived is dropped here. An event republished later than this
// (a resend after a long outage) is stored twice and delivered twice: harmless, every consumer
// either records its event ids in its processed table, in the transaction of the effect, or
// is idempotent by its own state (platform/consumer.Consumer.Idempotent). The window costs
// the server memory per message published within it (~150 B; at a few hundred events a
// second, tens of MiB: docs/performance.md, the soak of issue 17).
const DuplicateWindow = 5 * time.Minute

// Bounds of a saga stream. It keeps only what some consumer has not applied yet, so it is
// near empty while the consumers keep up; the bounds are its buffer for a consumer that is
// down or slow, and JetStream's memory at worst (~450 B of index per stored message, its
// subject ending in an entity id: 100 000 messages ≈ 45 MiB). When one is reached the stream
// refuses publishes (DiscardNew) and the events wait in the publishers' outboxes, in
// PostgreSQL, until the consumer catches up; the lag alert fires long before.
const (
	SagaMaxMsgs  = 100_000
	SagaMaxBytes = 128 << 20
)

// Streams are Souk's JetStream streams as code, one per publishing domain, plus the dead
// letters. File storage. The saga streams never drop an event a consumer has not applied
// (saga); CATALOG is a compacted log replayed from the start; DLQ is kept for operators.
var Streams = []jetstream.StreamConfig{
	saga(subjects.StreamUsers, "account events; user.registered carries a verification link, kept only until applied"),
	compacted(limits(subjects.StreamCatalog, "product and category changes; the latest event of each product and kind, forever")),
	saga(subjects.StreamInventory, "stock levels and reservations"),
	saga(subjects.StreamOrders, "order lifecycle, the checkout saga"),
	saga(subjects.StreamPayments, "payments and refunds"),
	saga(subjects.StreamPromotions, "coupon redemptions"),
	saga(subjects.StreamShipping, "shipments and tracking"),
	limits(subjects.StreamDLQ, "dead letters: messages that failed past their redelivery limit, with the error"),
	grants(subjects.StreamQuotas, "stock quotas granted to edge sites, mirrored by each site (its own grants)"),
}

// grants is a stream that keeps every message: the edge sites mirror it, each from where it
// was when its link was cut. It refuses publishes when full (the outbox holds them back).
func grants(name, desc string) jetstream.StreamConfig {
	cfg := stream(name, desc)
	cfg.Retention, cfg.Discard, cfg.MaxBytes = jetstream.LimitsPolicy, jetstream.DiscardNew, 64<<20
	return cfg
}

// Stream returns the declared config of the stream name; false when there is none.
func Stream(name string) (jetstream.StreamConfig, bool) {
	for _, cfg := range Streams {
		if cfg.Name == name {
			return cfg, true
		}
	}
	return jetstream.StreamConfig{}, false
}

// stream is what every stream shares: its subjects (subjects.StreamSubjects), file storage
// and the duplicate window.
func stream(name, desc string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Description: desc, Subjects: []string{subjects.StreamSubjects[name]},
		Storage: jetstream.FileStorage, Duplicates: DuplicateWindow}
}

// limits is a stream that keeps what its limits allow, consumed or not, and drops its oldest
// messages beyond them: for logs read by whoever comes (CATALOG, DLQ), never for the saga.
func limits(name, desc string) jetstream.StreamConfig {
	cfg := stream(name, desc)
	cfg.Retention, cfg.Discard = jetstream.LimitsPolicy, jetstream.DiscardOld
	cfg.MaxAge, cfg.MaxBytes = 30*24*time.Hour, 256<<20
	return cfg
}

// saga is a stream of events services act on. Interest retention: a message leaves once every
// consumer whose filter takes it has acknowledged it, so the store holds only the lag.
// DiscardNew: a full stream refuses the publish (503, "maximum messages exceeded" or
// "maximum bytes exceeded") and the relay keeps the row, instead of dropping the oldest
// undelivered event (what LimitsPolicy with DiscardOld did). No MaxAge: an age limit removes
// messages whether applied or not. Limits retention with DiscardNew would also never drop,
// but a stream full of applied messages would refuse every publish until they aged out.
func saga(name, desc string) jetstream.StreamConfig {
	cfg := stream(name, desc)
	cfg.Retention, cfg.Discard = jetstream.InterestPolicy, jetstream.DiscardNew
	cfg.MaxMsgs, cfg.MaxBytes = SagaMaxMsgs, SagaMaxBytes
	return cfg
}

// compacted keeps the latest message of every subject and nothing older, with no age limit:
// the CATALOG stream holds one event per product and kind, so a follower created from the
// start (a new instance's cache invalidation, a tool) sees every product, and the stream's
// size follows the catalog's, not its history. (A fresh search index is refilled from
// PostgreSQL, the record, not from here.)
func compacted(cfg jetstream.StreamConfig) jetstream.StreamConfig {
	cfg.MaxMsgsPerSubject = 1
	cfg.MaxAge = 0
	cfg.MaxBytes = 1 << 30
	return cfg
}

// EnsureStreams creates every stream of Streams with its declared consumers (Consumers), and
// updates a stream only when its config differs from the code's.
//
// Every service ensures the streams when it starts, and in `souk run` the services start
// while the first ones already consume and publish. Creating a stream that exists with the
// same config is a read on the server; an update rewrites the stream's config under
// everything reading it, even when nothing changed, and nats-server v2.15 races there (an
// update against a consumer being created, seen by the race detector in CI). So the server
// is asked to create first and gets an update only for a real change of config, once per
// upgrade.
//
// The consumers are created before an update: the update that turns an older release's
// Limits stream into an interest stream drops at once every message no existing consumer
// still has to apply (all of them when it has none).
//
// With Replicas every stream gets that many copies, and one of another count is scaled to
// it by the update (the server adds or removes peers and catches the new ones up). Its
// durable consumers follow the stream: they are declared without a replica count, which
// means the stream's, and an interest stream's consumers are moved with it whatever they say.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, opts ...EnsureOption) error {
	o := ensureOptions(opts)
	for _, cfg := range Streams {
		cfg.Replicas = o.replicas
		_, err := js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			if err = EnsureConsumers(ctx, js, cfg.Name); err == nil {
				_, err = js.UpdateStream(ctx, cfg)
			}
		}
		if err == nil {
			err = EnsureConsumers(ctx, js, cfg.Name)
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
