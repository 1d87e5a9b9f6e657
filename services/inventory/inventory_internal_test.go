package inventory

import (
	"slices"
	"testing"

	"github.com/souk/souk/subjects"
)

func TestParseLinesSumsAndSorts(t *testing.T) {
	lines, err := ParseLines([]subjects.ReserveLine{{SKU: "b", Quantity: 2}, {SKU: "a", Quantity: 1}, {SKU: "b", Quantity: 3}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{{SKU: "a", Quantity: 1}, {SKU: "b", Quantity: 5}}
	if !slices.Equal(lines, want) {
		t.Fatalf("got %+v, want %+v", lines, want)
	}
}

func levels(counts ...int64) Levels {
	ls := Levels{}
	for i := 0; i+1 < len(counts); i += 2 {
		sku := string(rune('A' + i/2))
		ls[sku] = &Level{SKU: sku, OnHand: counts[i], Reserved: counts[i+1]}
	}
	return ls
}

func TestHoldIsAllOrNothing(t *testing.T) {
	ls := levels(5, 0, 2, 1) // A: 5 available, B: 1
	if short := ls.Hold([]Line{{"A", 5}, {"B", 2}}); !slices.Equal(short, []string{"B"}) {
		t.Fatalf("short %v", short)
	}
	if len(ls.Changed()) != 0 || ls["A"].Reserved != 0 {
		t.Fatalf("a refused hold changed %+v", ls["A"])
	}
	if short := ls.Hold([]Line{{"A", 1}, {"Z", 1}}); !slices.Equal(short, []string{"Z"}) {
		t.Fatalf("an unknown SKU has nothing: short %v", short)
	}
	if short := ls.Hold([]Line{{"A", 5}, {"B", 1}}); short != nil {
		t.Fatalf("short %v", short)
	}
	if a, b := ls["A"], ls["B"]; a.Available() != 0 || b.Available() != 0 || len(ls.Changed()) != 2 {
		t.Fatalf("after the hold: %+v %+v", a, b)
	}
	if short := ls.Hold([]Line{{"A", 1}}); short == nil {
		t.Fatal("held beyond what is available")
	}
}

func TestMovesKeepTheirDeltas(t *testing.T) {
	ls := levels(10, 4)
	ls.Commit([]Line{{"A", 3}})  // 7 on hand, 1 reserved
	ls.Release([]Line{{"A", 1}}) // 7, 0
	ls.Restore([]Line{{"A", 2}}) // 9, 0
	if short := ls.Take([]Line{{"A", 10}}); short == nil {
		t.Fatal("took more than available")
	}
	ls.Take([]Line{{"A", 4}}) // 5, 0
	a := ls["A"]
	if a.OnHand != 5 || a.Reserved != 0 || a.dOnHand != -5 || a.dReserved != -4 {
		t.Fatalf("level %+v", a)
	}
}
