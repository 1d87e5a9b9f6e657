// Package bus (directory nats/) is Souk's NATS plumbing: the embedded server, connecting, and
// the JetStream streams and KV buckets declared as code and created or updated at start-up.
// It is not named nats so that it never shadows nats.go.
package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
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
	// Name is the server name; "souk" when empty.
	Name string
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
	BucketIdempotency = "idempotency"
)

// Buckets are Souk's KV buckets as code.
var Buckets = []jetstream.KeyValueConfig{
	{Bucket: BucketSessions, Description: "refresh sessions: hashed tokens and session families", TTL: 30 * 24 * time.Hour, History: 1, Storage: jetstream.FileStorage},
	{Bucket: BucketCarts, Description: "carts, one per customer, updated with the revision", TTL: 30 * 24 * time.Hour, History: 1, Storage: jetstream.FileStorage},
	{Bucket: BucketIdempotency, Description: "idempotent responses by user and key", TTL: 24 * time.Hour, History: 1, Storage: jetstream.FileStorage},
}

// EnsureBuckets creates every bucket of Buckets, and updates one only when its config
// differs from the code's (see EnsureStreams for why an update is never sent blindly).
func EnsureBuckets(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range Buckets {
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

// DuplicateWindow is the JetStream de-duplication window of every stream. It exceeds the
// outbox relay's resend window after an unclean stop (3 min), so a republished event that
// had survived is dropped here.
const DuplicateWindow = 10 * time.Minute

// Streams are Souk's JetStream streams as code, one per publishing domain, plus the dead
// letters. File storage; limits keep a laptop's disk safe.
var Streams = []jetstream.StreamConfig{
	short(stream("USERS", "account events; user.registered carries a verification link, so they are kept a week only", "souk.evt.user.>"), 7*24*time.Hour),
	compacted(stream("CATALOG", "product and category changes; the latest event of each product and kind, forever", "souk.evt.catalog.>")),
	stream("INVENTORY", "stock levels and reservations", "souk.evt.inventory.>"),
	stream("ORDERS", "order lifecycle, the checkout saga", "souk.evt.order.>"),
	stream("PAYMENTS", "payments and refunds", "souk.evt.payment.>"),
	stream("PROMOTIONS", "coupon redemptions", "souk.evt.promotion.>"),
	stream("SHIPPING", "shipments and tracking", "souk.evt.shipping.>"),
	stream("DLQ", "dead letters: messages that failed past their redelivery limit, with the error", "souk.dlq.>"),
}

func stream(name, desc, subject string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: desc,
		Subjects:    []string{subject},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      30 * 24 * time.Hour,
		MaxBytes:    256 << 20,
		Duplicates:  DuplicateWindow,
		Discard:     jetstream.DiscardOld,
	}
}

// compacted keeps the latest message of every subject and nothing older, with no age limit:
// the CATALOG stream holds one event per product and kind, so a consumer created from the
// start (a fresh search index) sees every product, and the stream's size follows the
// catalog's, not its history.
func compacted(cfg jetstream.StreamConfig) jetstream.StreamConfig {
	cfg.MaxMsgsPerSubject = 1
	cfg.MaxAge = 0
	cfg.MaxBytes = 1 << 30
	return cfg
}

// short keeps the stream's messages for maxAge only. USERS holds email verification links
// (single-use secrets that expire after a day): a week bounds how long they stay at rest in
// JetStream's files while leaving a consumer a week to catch up after an outage.
func short(cfg jetstream.StreamConfig, maxAge time.Duration) jetstream.StreamConfig {
	cfg.MaxAge = maxAge
	return cfg
}

// EnsureStreams creates every stream of Streams, and updates one only when its config
// differs from the code's.
//
// Every service ensures the streams when it starts, and in `souk run` the services start
// while the first ones already consume and publish. Creating a stream that exists with the
// same config is a read on the server; an update rewrites the stream's config under
// everything reading it, even when nothing changed, and nats-server v2.15 races there (an
// update against a consumer being created, seen by the race detector in CI). So the server
// is asked to create first and gets an update only for a real change of config, once per
// upgrade.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range Streams {
		_, err := js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			_, err = js.UpdateStream(ctx, cfg)
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
