package background_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/background"
)

// souk_loop_restarts_total counts a loop's restarts, added up over the instances of a
// service that share a registry, and is there at zero for a loop that never failed.
func TestLoopRestartsAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	start := func(failures int32) *background.Group {
		g := background.Start(context.Background(), zerolog.Nop(), fast)
		t.Cleanup(g.Stop)
		var runs atomic.Int32
		g.Go("relay", func(ctx context.Context) error {
			if runs.Add(1) <= failures {
				return errors.New("stream not found")
			}
			<-ctx.Done()
			return nil
		})
		g.Run("neighbour", func(ctx context.Context) { <-ctx.Done() })
		t.Cleanup(background.Instrument(reg, "thing", g))
		return g
	}
	a, b := start(2), start(3)
	expect.Within(t, 10*time.Second, func() error {
		if ra, rb := a.Loops()[0].Restarts, b.Loops()[0].Restarts; ra != 2 || rb != 3 {
			return fmt.Errorf("restarts %d and %d, want 2 and 3", ra, rb)
		}
		return nil
	})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "souk_loop_restarts_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()+"/"+m.GetLabel()[1].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if want := map[string]float64{"relay/thing": 5, "neighbour/thing": 0}; !maps.Equal(got, want) {
		t.Fatalf("souk_loop_restarts_total by loop/service: %v, want %v", got, want)
	}
}
