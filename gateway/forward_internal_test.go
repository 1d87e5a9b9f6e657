package gateway

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/souk/souk/subjects"
)

// A request of one string field is written as encoding/json writes it, or left to it.
func TestOneStringEncodesAsJSON(t *testing.T) {
	one := oneStringOf(reflect.TypeFor[subjects.ProductIDRequest]())
	if one == nil {
		t.Fatal("ProductIDRequest is a request of one string field")
	}
	for _, id := range []string{"0190c0de-0000-7000-8000-000000000001", "", "a b", `a"b`, `a\b`, "<script>", "a&b", "é", "\x00", "\x7f"} {
		want, err := json.Marshal(subjects.ProductIDRequest{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := one.append(nil, id)
		if ok && string(got) != string(want) {
			t.Errorf("%q: wrote %s, encoding/json writes %s", id, got, want)
		}
		if !ok && plainJSON(id) {
			t.Errorf("%q is plain JSON but was left to encoding/json", id)
		}
	}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[struct {
			ID string `json:"id,omitempty"`
		}](),
		reflect.TypeFor[struct{ A, B string }](),
		reflect.TypeFor[struct{ N int }](),
		reflect.TypeFor[struct {
			ID string `json:"-"`
		}](),
	} {
		if oneStringOf(typ) != nil {
			t.Errorf("%v is not written as {\"name\":\"value\"}", typ)
		}
	}
}
