package cart

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
)

var lim = Limits{MaxLines: 2, MaxQuantity: 10}

func TestCartRules(t *testing.T) {
	cases := []struct {
		name string
		cart Cart
		op   func(*Cart) error
		want Cart
		err  error
	}{
		{"add to an empty cart takes the product's currency", Cart{},
			func(c *Cart) error { return c.Add("a", 2, "EUR", lim) },
			Cart{Items: []Line{{"a", 2}}, Currency: "EUR"}, nil},
		{"add to a line", Cart{Items: []Line{{"a", 2}}, Currency: "EUR"},
			func(c *Cart) error { return c.Add("a", 8, "EUR", lim) },
			Cart{Items: []Line{{"a", 10}}, Currency: "EUR"}, nil},
		{"a line past the limit", Cart{Items: []Line{{"a", 2}}, Currency: "EUR"},
			func(c *Cart) error { return c.Add("a", 9, "EUR", lim) },
			Cart{Items: []Line{{"a", 2}}, Currency: "EUR"}, ErrQuantity},
		{"add nothing", Cart{}, func(c *Cart) error { return c.Add("a", 0, "EUR", lim) }, Cart{}, ErrQuantity},
		{"another currency", Cart{Items: []Line{{"a", 1}}, Currency: "EUR"},
			func(c *Cart) error { return c.Add("b", 1, "USD", lim) },
			Cart{Items: []Line{{"a", 1}}, Currency: "EUR"}, ErrCurrency},
		{"the only line's product changed currency", Cart{Items: []Line{{"a", 1}}, Currency: "EUR"},
			func(c *Cart) error { return c.Set("a", 3, "USD", lim) },
			Cart{Items: []Line{{"a", 3}}, Currency: "USD"}, nil},
		{"too many lines", Cart{Items: []Line{{"a", 1}, {"b", 1}}, Currency: "EUR"},
			func(c *Cart) error { return c.Add("c", 1, "EUR", lim) },
			Cart{Items: []Line{{"a", 1}, {"b", 1}}, Currency: "EUR"}, ErrTooManyLines},
		{"a full cart's lines still grow", Cart{Items: []Line{{"a", 1}, {"b", 1}}, Currency: "EUR"},
			func(c *Cart) error { return c.Add("b", 1, "EUR", lim) },
			Cart{Items: []Line{{"a", 1}, {"b", 2}}, Currency: "EUR"}, nil},
		{"set 0 removes, the empty cart forgets its currency", Cart{Items: []Line{{"a", 1}}, Currency: "EUR"},
			func(c *Cart) error { return c.Set("a", 0, "EUR", lim) }, Cart{Items: []Line{}}, nil},
		{"clear keeps the orders taken", Cart{Items: []Line{{"a", 1}}, Currency: "EUR", Coupon: "X", CheckedOut: []string{"o1"}},
			func(c *Cart) error { c.Clear(); return nil }, Cart{CheckedOut: []string{"o1"}}, nil},
		{"checkout subtracts and drops the coupon it used", Cart{Items: []Line{{"a", 3}, {"b", 1}, {"c", 1}}, Currency: "EUR", Coupon: "SAVE10"},
			func(c *Cart) error { c.CheckOut("o1", []Line{{"a", 2}, {"b", 5}, {"z", 1}}, "save10"); return nil },
			Cart{Items: []Line{{"a", 1}, {"c", 1}}, Currency: "EUR", CheckedOut: []string{"o1"}}, nil},
		{"checkout keeps another coupon", Cart{Items: []Line{{"a", 1}}, Currency: "EUR", Coupon: "NEW"},
			func(c *Cart) error { c.CheckOut("o1", []Line{{"a", 1}}, "OLD"); return nil },
			Cart{Items: []Line{}, Coupon: "NEW", CheckedOut: []string{"o1"}}, nil},
		{"checkout twice is once", Cart{Items: []Line{{"a", 3}}, Currency: "EUR", CheckedOut: []string{"o1"}},
			func(c *Cart) error { c.CheckOut("o1", []Line{{"a", 2}}, ""); return nil },
			Cart{Items: []Line{{"a", 3}}, Currency: "EUR", CheckedOut: []string{"o1"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cart
			err := tc.op(&c)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(c, tc.want) {
				t.Fatalf("got %+v, want %+v", c, tc.want)
			}
		})
	}
}

func TestCartRemembersTheLastOrders(t *testing.T) {
	var c Cart
	for i := range RememberedOrders + 5 {
		if !c.CheckOut("o"+strconv.Itoa(i), nil, "") {
			t.Fatalf("order %d taken as a repeat", i)
		}
	}
	if len(c.CheckedOut) != RememberedOrders || c.CheckedOut[0] != "o5" {
		t.Fatalf("remembered: %v", c.CheckedOut)
	}
	if c.CheckOut("o14", nil, "") || !c.CheckOut("o0", nil, "") {
		t.Fatal("the last orders are remembered, older ones forgotten")
	}
}
