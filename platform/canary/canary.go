// Package canary gives a canary release its share of a service's requests, and moves that
// share without restarting anything.
//
// A canary instance (kit.Service.Canary, set by SOUK_CANARY) serves its endpoints on the
// canary subjects (subjects.Canary) and nothing on the stable ones. A weighted subject
// mapping on the NATS server sends percent of what is published on souk.<service>.v1.> to
// souk.<service>.canary.v1.> and the rest where it was going; the servers apply it when a
// message is published, so a new share holds from the next request on, and 0 sends none,
// 100 all (a blue-green switch). The share of each service is live configuration: the key
// canary.<service> (an integer percent, 0..100) of the config bucket.
//
// Where the mapping comes from: a process that embeds the NATS server applies the shares to
// its server's account as the keys change (Applier); a cluster of external servers is given
// the mappings block Config renders, in its config file, and reloaded (nats-server --signal
// reload). Every server a request may be published on needs the same mapping: it is applied
// where the publisher is connected, not where the subscriber is.
package canary

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/souk/souk/subjects"
)

// checkService refuses a service name that is not one subject token.
func checkService(service string) error {
	if service == "" || strings.ContainsAny(service, ". *>\t\r\n") {
		return fmt.Errorf("canary: bad service name %q", service)
	}
	return nil
}

// destinations are the weighted destinations of service's requests for a share of percent
// (1..100): percent to the canary subjects, the rest to the stable ones. The stable
// destination is named, not left to the server to add, so the config file says the same.
func destinations(service string, percent int) []*server.MapDest {
	dests := []*server.MapDest{server.NewMapDest(subjects.CanaryRequests(service), uint8(percent))}
	if percent < 100 {
		dests = append(dests, server.NewMapDest(subjects.Requests(service), uint8(100-percent)))
	}
	return dests
}

// Apply sets service's canary share on acc, an embedded server's account: messages published
// from then on are mapped with it; 0 removes the mapping.
func Apply(acc *server.Account, service string, percent int) error {
	if err := checkService(service); err != nil {
		return err
	}
	if percent < 0 || percent > 100 {
		return fmt.Errorf("canary %s: share %d%%: want 0 to 100", service, percent)
	}
	if percent == 0 {
		acc.RemoveMapping(subjects.Requests(service))
		return nil
	}
	if err := acc.AddWeightedMappings(subjects.Requests(service), destinations(service, percent)...); err != nil {
		return fmt.Errorf("canary %s: map %d%%: %w", service, percent, err)
	}
	return nil
}

// Config renders the shares (service → percent) as a nats-server `mappings` block, for the
// config file of every server of a cluster: at the top level for the global account, or
// inside the block of the account Souk's users belong to. A share of 0 has no mapping.
func Config(shares map[string]int) (string, error) {
	var b strings.Builder
	b.WriteString("# Canary shares of Souk's services (souk canary): every server of the cluster\n")
	b.WriteString("# needs the same block; apply a change with nats-server --signal reload.\n")
	b.WriteString("mappings {\n")
	names := make([]string, 0, len(shares))
	for name := range shares {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := shares[name]
		if err := checkService(name); err != nil {
			return "", err
		}
		if p < 0 || p > 100 {
			return "", fmt.Errorf("canary %s: share %d%%: want 0 to 100", name, p)
		}
		if p == 0 {
			fmt.Fprintf(&b, "  # %s: 0%%, every request to the stable instances\n", name)
			continue
		}
		fmt.Fprintf(&b, "  %q: [\n", subjects.Requests(name))
		for _, d := range destinations(name, p) {
			fmt.Fprintf(&b, "    {destination: %q, weight: %d%%}\n", d.Subject, d.Weight)
		}
		b.WriteString("  ]\n")
	}
	b.WriteString("}\n")
	return b.String(), nil
}
