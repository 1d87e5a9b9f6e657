package bus

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// A source read through another domain's API (a site's SALES at the hub, the hub's buckets
// at a site) is named with its domain, so that the hub's sources of several sites differ.
func TestSourceLabelNamesTheDomain(t *testing.T) {
	for _, c := range []struct {
		src  jetstream.StreamSourceInfo
		want string
	}{
		{jetstream.StreamSourceInfo{Name: "SALES"}, "SALES"},
		{jetstream.StreamSourceInfo{Name: "SALES", External: &jetstream.ExternalStream{APIPrefix: "$JS.site-paris.API"}}, "SALES@site-paris"},
		{jetstream.StreamSourceInfo{Name: "KV_products", External: &jetstream.ExternalStream{APIPrefix: "$JS.hub.API"}}, "KV_products@hub"},
	} {
		if got := sourceLabel(&c.src); got != c.want {
			t.Errorf("sourceLabel(%+v) = %q, want %q", c.src, got, c.want)
		}
	}
}
