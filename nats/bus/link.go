package bus

import (
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
)

// NewSiteLinkGauge returns souk_site_link_up{site} of the edge site id whose embedded server
// is ns: 1 while ns has a leaf node connection up (a site's server has one remote, the
// hub's), 0 while the link is cut. Read at each scrape from the server itself, it costs no
// request and reports a cut within the server's own detection (a closed connection at once,
// a silent one after its pings go unanswered).
func NewSiteLinkGauge(ns *server.Server, id string) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "souk_site_link_up",
		Help:        "1 while the edge site's leaf node link to the hub is up, 0 while it is cut.",
		ConstLabels: prometheus.Labels{"site": id},
	}, func() float64 {
		if ns.NumLeafNodes() > 0 {
			return 1
		}
		return 0
	})
}
