package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/services/cart"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/services/catalog/search"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/services/notification"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/services/shipping"
	"github.com/souk/souk/services/site"
	"github.com/souk/souk/services/user"
)

// service is one runnable service of the binary: its name and its declaration (see
// platform/kit) from the process's configuration. Building a declaration does no I/O, so
// `souk migrate` and the tests read them without running anything.
type service struct {
	name    string
	declare func(cfg Config, d kit.Deps) (kit.Service, error)
}

// services lists every service, in start order.
var services = []service{
	{"user", func(c Config, d kit.Deps) (kit.Service, error) {
		return user.Service(user.Config{AdminEmail: c.AdminEmail, AdminPassword: c.AdminPassword, VerifyURL: c.VerifyURL, ResetURL: c.ResetURL,
			BcryptCost: c.BcryptCost}, d)
	}},
	{"auth", func(c Config, d kit.Deps) (kit.Service, error) { return auth.Service(auth.Config{Seal: c.Seal}, d) }},
	{"catalog", func(c Config, d kit.Deps) (kit.Service, error) {
		products, lists := int64(c.CatalogCacheMB)<<20*2/3, int64(c.CatalogCacheMB)<<20/3
		if c.CatalogCacheMB == 0 {
			products, lists = 1, 1 // smaller than any reply: nothing is kept
		}
		return catalog.Service(catalog.Config{DefaultLocale: c.Locale, DefaultCurrency: c.Currency,
			ProductCacheBytes: products, ListCacheBytes: lists, SearchMaxMatches: c.SearchMaxMatches,
			SearchConns: c.SearchConns, RelayRate: float64(c.CatalogRelayRate),
			Meili: search.MeiliConfig{URL: c.MeiliURL, APIKey: c.MeiliAPIKey}}, d)
	}},
	{"inventory", func(c Config, d kit.Deps) (kit.Service, error) {
		return inventory.Service(inventory.Config{ReservationTTL: c.ReservationTTL}, d)
	}},
	{"promotion", func(_ Config, d kit.Deps) (kit.Service, error) { return promotion.Service(promotion.Config{}, d) }},
	{"cart", func(c Config, d kit.Deps) (kit.Service, error) {
		return cart.Service(cart.Config{DefaultCurrency: c.Currency}, d)
	}},
	{"order", func(c Config, d kit.Deps) (kit.Service, error) {
		return order.Service(order.Config{PendingTimeout: c.ReservationTTL, MaxCheckouts: c.MaxCheckouts}, d)
	}},
	{"payment", func(c Config, d kit.Deps) (kit.Service, error) {
		return payment.Service(payment.Config{Provider: c.PaymentProvider, StripeSecretKey: c.StripeSecretKey,
			StripeWebhookSecret: c.StripeWebhookSecret, StripeAPIURL: c.StripeAPIURL, SandboxDelay: c.SandboxDelay, ActionTimeout: c.ActionTimeout,
			Currency: c.Currency}, d)
	}},
	{"shipping", func(_ Config, d kit.Deps) (kit.Service, error) { return shipping.Service(shipping.Config{}, d) }},
	{"notification", func(c Config, d kit.Deps) (kit.Service, error) {
		return notification.Service(notification.Config{SMTPURL: c.SMTPURL, ReviewURL: c.ReviewURL, AllowPrivateWebhooks: c.WebhookAllowPrivate, Seal: c.Seal}, d)
	}},
}

// siteService is the shop at an edge site (services/site); it runs only with SOUK_SITE, and
// there it is the only service.
var siteService = service{"site", func(c Config, d kit.Deps) (kit.Service, error) {
	return site.Service(site.Config{Site: c.Site, DefaultLocale: c.Locale, DefaultCurrency: c.Currency}, d)
}}

// siteTargets resolves the positional arguments of `souk run --site`: the site service and
// the gateway by default, or either alone.
func siteTargets(args []string) ([]service, bool, error) {
	if len(args) == 0 || slices.Contains(args, "all") {
		return []service{siteService}, true, nil
	}
	var picked []service
	withGateway := false
	for _, a := range args {
		switch a {
		case "gateway":
			withGateway = true
		case "site":
			picked = []service{siteService}
		default:
			return nil, false, fmt.Errorf("unknown target %q at an edge site: want all, gateway or site", a)
		}
	}
	return picked, withGateway, nil
}

// readyNames are the services the gateway's /readyz waits for: every service at the hub, the
// site service at an edge site.
func readyNames(cfg Config) []string {
	if cfg.Site != "" {
		return []string{siteService.name}
	}
	return serviceNames()
}

// run runs s in the process e until ctx ends.
func (s service) run(ctx context.Context, e *env) error {
	d := kit.Deps{Log: e.log, DB: e.db, NC: e.nc, JS: e.js, Registry: e.registry, Live: e.live, StreamsReady: true, Health: e.health, Keys: e.keys,
		Replicas: e.cfg.NATSReplicas, Tracing: e.tracing}
	svc, err := s.declare(e.cfg, d)
	if err != nil {
		return err
	}
	svc.Canary = e.cfg.Canary
	return kit.Run(ctx, d, svc)
}

// migrate applies s's migrations to db.
func (s service) migrate(ctx context.Context, cfg Config, db *pgxpool.Pool) error {
	svc, err := s.declare(cfg, kit.Deps{DB: db})
	if err != nil {
		return err
	}
	return kit.Migrate(ctx, db, svc)
}

// serviceNames are the names of every service, in start order.
func serviceNames() []string { return namesOf(services) }

// targets resolves the positional arguments of `souk run` into the services to run and
// whether to run the gateway.
func targets(args []string) ([]service, bool, error) {
	if len(args) == 0 || slices.Contains(args, "all") {
		return services, true, nil
	}
	var picked []service
	withGateway := false
	for _, a := range args {
		if a == "gateway" {
			withGateway = true
			continue
		}
		i := slices.IndexFunc(services, func(s service) bool { return s.name == a })
		if i < 0 {
			return nil, false, fmt.Errorf("unknown target %q: want all, gateway or one of %s", a, strings.Join(serviceNames(), ", "))
		}
		if !slices.ContainsFunc(picked, func(s service) bool { return s.name == a }) {
			picked = append(picked, services[i])
		}
	}
	return picked, withGateway, nil
}

func namesOf(ss []service) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.name
	}
	return out
}

// describeServices prints every service's declaration as operators and the NATS permissions
// need it: the endpoints with their access rules, the consumers with their filters, the
// events published.
func describeServices(w io.Writer) error {
	out, err := descriptions()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// descriptions are every service's declaration as kit.Describe says it, with every part a
// configuration can turn on: the Meilisearch indexer's consumer too, so that the NATS
// permissions generated from them (souk nats-accounts) fit any configuration.
func descriptions() ([]kit.Description, error) {
	out := make([]kit.Description, 0, len(services))
	for _, s := range services {
		svc, err := s.declare(Config{MeiliURL: "http://meilisearch.invalid:7700"}, kit.Deps{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		out = append(out, svc.Describe())
	}
	return out, nil
}
