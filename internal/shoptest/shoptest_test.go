package shoptest

import (
	"context"
	"testing"

	"github.com/souk/souk/platform/pgtest"
)

// BenchmarkShopDatabase is the time to a database with every schema of the shop's services
// ready: an empty one migrated from scratch (as before templates) against a clone of the
// migrated template (what NewEnv does). pgtest's BenchmarkReadyDatabase measures one service.
func BenchmarkShopDatabase(b *testing.B) {
	ctx := context.Background()
	tmpl := shop()
	b.Run("migrate", func(b *testing.B) {
		for b.Loop() {
			if err := tmpl.Migrate(ctx, pgtest.Pool(b, ctx)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("clone", func(b *testing.B) {
		pgtest.Clone(b, ctx, tmpl) // the template, made once per hash
		for b.Loop() {
			pgtest.MigratedPool(b, ctx, tmpl)
		}
	})
}
