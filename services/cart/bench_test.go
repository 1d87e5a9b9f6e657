package cart_test

import (
	"strconv"
	"testing"

	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/cart"
	"github.com/souk/souk/subjects"
)

// BenchmarkGet reads a cart of n lines, each priced from the catalog (whose cache is warm):
// one KV read and n concurrent catalog calls per read.
func BenchmarkGet(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run("lines="+strconv.Itoa(n), func(b *testing.B) {
			e := newEnv(b, cart.Config{})
			for i := range n {
				e.add(e.Customer, e.Product(b, "P-"+strconv.Itoa(i), shoptest.EUR(100)).ID, 1)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := subjects.CartGet.Call(e.Customer, e.NC, subjects.Empty{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSet changes a line of a 10-line cart: a catalog call, a KV read and a
// compare-and-swap write, then the reply priced.
func BenchmarkSet(b *testing.B) {
	e := newEnv(b, cart.Config{})
	var id string
	for i := range 10 {
		id = e.Product(b, "P-"+strconv.Itoa(i), shoptest.EUR(100)).ID
		e.add(e.Customer, id, 1)
	}
	i := 0
	for b.Loop() {
		i++
		req := subjects.CartItemRequest{ProductID: id, Quantity: i%999 + 1}
		if _, err := subjects.CartSetItem.Call(e.Customer, e.NC, req); err != nil {
			b.Fatal(err)
		}
	}
}
