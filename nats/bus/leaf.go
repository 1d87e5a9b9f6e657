package bus

import (
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"
)

// JetStream domains. Each edge site runs its own domain, so its streams and buckets stay its
// own while the link to the hub is cut; mirrors and sources name the other side's domain.
const (
	// HubDomain is the JetStream domain of the hub: the embedded server of `souk run`, or
	// the NATS cluster a shop joins (its config sets jetstream { domain: hub }).
	HubDomain = "hub"
	// SiteDomainPrefix starts every edge site's domain: site-<id>.
	SiteDomainPrefix = "site-"
)

// SiteDomain is the JetStream domain (and the embedded server's name) of the edge site id.
func SiteDomain(id string) string { return SiteDomainPrefix + id }

// leafOptions adds to opts the leaf node listener of a hub or the remote of a site.
func leafOptions(opts *server.Options, cfg ServerConfig) error {
	if cfg.LeafListen != "" {
		host, portStr, err := net.SplitHostPort(cfg.LeafListen)
		if err != nil {
			return fmt.Errorf("SOUK_NATS_LEAF_LISTEN %q: %w", cfg.LeafListen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return fmt.Errorf("SOUK_NATS_LEAF_LISTEN %q: bad port", cfg.LeafListen)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts.LeafNode.Host, opts.LeafNode.Port = host, port
		// Sites reach the hub by the URL they are given (a proxy, a load balancer, a public
		// name), never by the addresses the hub would advertise to them: its own listener's
		// address is unreachable from a shop's network, or bypasses the way in.
		opts.LeafNode.NoAdvertise = true
	}
	if cfg.LeafRemote != "" {
		u, err := url.Parse(cfg.LeafRemote)
		if err != nil || u.Host == "" {
			return fmt.Errorf("SOUK_LEAF_URL: want nats-leaf://host:port")
		}
		// The server retries a remote forever, every ReconnectInterval (1 s by default): a
		// site cut off for days reconnects within a second of the link's return.
		opts.LeafNode.Remotes = []*server.RemoteLeafOpts{{URLs: []*url.URL{u}}}
	}
	return nil
}
