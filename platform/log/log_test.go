package log_test

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/logtest"
	soukLog "github.com/souk/souk/platform/log"
)

func TestALevelChangeAppliesToEveryDerivedLogger(t *testing.T) {
	var out logtest.Buffer
	lvl, err := soukLog.ParseLevel("info")
	if err != nil {
		t.Fatal(err)
	}
	log, err := soukLog.NewAt(&out, lvl, "json")
	if err != nil {
		t.Fatal(err)
	}
	child := log.With().Str("service", "order").Logger()
	child.Debug().Msg("hidden")
	lvl.Set(zerolog.DebugLevel)
	child.Debug().Msg("shown")
	lvl.Set(zerolog.WarnLevel)
	child.Info().Msg("hidden again")
	log.Warn().Msg("warned")
	got := out.String()
	if strings.Contains(got, "hidden") || !strings.Contains(got, "shown") || !strings.Contains(got, "warned") {
		t.Fatalf("logged:\n%s", got)
	}
}
