package inventory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/inventory"
)

// A hold's length put in the config bucket is the length of the next hold, without a
// restart; the holds made before keep theirs.
func TestTheNextReservationHoldsForTheLiveTTL(t *testing.T) {
	shop := shoptest.NewEnv(t)
	kv := shop.FollowConfig()
	e := &env{shop: shop, t: t, ctx: shop.Ctx, db: shop.DB, nc: shop.NC, js: shop.JS, staff: shop.Staff, customer: shop.Customer}
	e.start(inventory.Config{ReservationTTL: 15 * time.Minute})
	e.set("LIVE-TTL", 1000)

	hold := func() time.Duration {
		t.Helper()
		start := time.Now()
		r, err := e.reserve(uuid.NewString(), "LIVE-TTL", 1)
		if err != nil {
			t.Fatal(err)
		}
		return r.ExpiresAt.Sub(start)
	}
	if d := hold(); d < 14*time.Minute {
		t.Fatalf("before any change a hold lasts %s; want the configured 15m", d)
	}
	if _, err := kv.PutString(e.ctx, "inventory.reservation_ttl", "90s"); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 10*time.Second, func() error {
		if d := hold(); d > 2*time.Minute {
			return fmt.Errorf("a hold lasts %s; want the live 90s", d)
		}
		return nil
	})
	if d := hold(); d < 80*time.Second {
		t.Fatalf("a hold lasts %s; want 90s", d)
	}
}
