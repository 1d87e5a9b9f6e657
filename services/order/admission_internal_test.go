package order

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The estimate of checkouts in progress takes off the orders this instance decided since the
// last count: between two counts it follows the truth, not the count's age times the rate.
// (Without it, 64 customers who never have more than 64 orders undecided were refused under
// a bound of 96 at 244 checkouts/s.)
func TestAdmissionCountsDecisionsSinceTheLastCount(t *testing.T) {
	a := newAdmission(nil, 10, nil, zerolog.Nop(), nil)
	a.counted, a.snapshot = 9, time.Now().Add(-time.Millisecond) // 9 undecided at the count
	if err := a.admit(); err != nil {
		t.Fatalf("9 of 10: %v", err)
	}
	a.done(true, time.Now()) // the 10th, placed after the count
	if err := a.admit(); err == nil {
		t.Fatal("10 of 10 admitted an 11th")
	}
	for range 4 { // four of the counted ones paid since
		a.decided()
	}
	for i := range 4 {
		if err := a.admit(); err != nil {
			t.Fatalf("admission %d after 4 decisions: %v", i+1, err)
		}
		a.done(true, time.Now())
	}
	if err := a.admit(); err == nil {
		t.Fatal("10 undecided again, yet an 11th admitted")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if got := a.undecided(); got != 10 {
		t.Fatalf("estimate %d, want 10", got)
	}
}
