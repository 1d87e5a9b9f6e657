package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
)

// A stream that sources another (as the hub's SITE_SALES sources each site's SALES, through
// the site's domain) shows how far behind it is, by source. The account's storage is shown
// against the embedded server's limit, since the account has none of its own.
func TestLagCollectorShowsSourcesAndStorage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := startServer(t, bus.ServerConfig{Domain: bus.HubDomain})
	_, js := connect(t, ns)
	for _, cfg := range []jetstream.StreamConfig{
		{Name: "SALES", Subjects: []string{"sales.>"}},
		{Name: "SITE_SALES", Sources: []*jetstream.StreamSource{{Name: "SALES"}}},
	} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := js.Publish(ctx, fmt.Sprintf("sales.%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(bus.NewLagCollector(js), bus.NewStorageCollector(js, ns))
	expect.Within(t, 30*time.Second, func() error {
		families, err := reg.Gather()
		if err != nil {
			return err
		}
		for _, c := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"souk_jetstream_stream_messages", map[string]string{"stream": "SITE_SALES"}, 5},
			{"souk_jetstream_source_lag", map[string]string{"stream": "SITE_SALES", "source": "SALES"}, 0},
			{"souk_jetstream_storage_limit_bytes", map[string]string{"type": "file"}, 1 << 30},
			{"souk_jetstream_storage_limit_bytes", map[string]string{"type": "memory"}, 64 << 20},
		} {
			if got, ok := gauge(families, c.name, c.labels); !ok || got != c.want {
				return fmt.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
			}
		}
		if used, _ := gauge(families, "souk_jetstream_storage_bytes", map[string]string{"type": "file"}); used <= 0 {
			return fmt.Errorf("souk_jetstream_storage_bytes{type=file} %v with 7 messages stored", used)
		}
		return nil
	})
}
