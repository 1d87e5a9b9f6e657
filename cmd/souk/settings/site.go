package settings

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
)

// siteID is what SOUK_SITE accepts: it becomes part of a JetStream domain, a stream name and
// NATS subjects, so no dots, wildcards or upper case.
var siteID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// siteRules are the edge settings' rules: a site names its id and, when it embeds its NATS
// server, the hub it is a leaf of; a site is never a hub.
func (c Config) siteRules() []error {
	var errs []error
	if c.Site != "" && !siteID.MatchString(c.Site) {
		errs = append(errs, fmt.Errorf("SOUK_SITE (-site) %q: want 1 to 32 of a-z 0-9 - (not starting with -)", c.Site))
	}
	if c.LeafURL != "" {
		if u, err := url.Parse(c.LeafURL); err != nil || u.Host == "" || (u.Scheme != "nats-leaf" && u.Scheme != "nats" && u.Scheme != "tls") {
			errs = append(errs, errors.New("SOUK_LEAF_URL (-leaf): want nats-leaf://host:port (or tls://host:port)"))
		}
		if c.Site == "" {
			errs = append(errs, errors.New("SOUK_LEAF_URL needs SOUK_SITE: the site's id"))
		}
		if c.NATSURL != "" {
			errs = append(errs, errors.New("SOUK_LEAF_URL and NATS_URL exclude each other: a site embeds its own server as a leaf of the hub, or joins its site's server at NATS_URL"))
		}
	}
	if c.Site != "" && c.LeafURL == "" && c.NATSURL == "" {
		errs = append(errs, errors.New("SOUK_SITE needs SOUK_LEAF_URL (the hub's leaf node URL), or NATS_URL (the site's own NATS server, a leaf of the hub)"))
	}
	if c.Site != "" && c.NATSLeafListen != "" {
		errs = append(errs, errors.New("SOUK_NATS_LEAF_LISTEN is the hub's: an edge site (SOUK_SITE) accepts no leaf nodes"))
	}
	return errs
}
