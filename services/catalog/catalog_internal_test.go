package catalog

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// The product's cache key is its id's text, a bar and the preference's key; the group its
// events invalidate is the id's text, as the invalidation by event subject names it.
func TestProductKey(t *testing.T) {
	for _, id := range []uuid.UUID{uuid.Nil, uuid.MustParse("0190c0de-abcd-7ef0-8000-00000000ffaa"), uuid.New()} {
		for _, prefs := range []product.Prefs{{}, {List: []string{"de", "en"}, Key: "de,en"}} {
			key, group := productKey(id, prefs)
			if key != id.String()+"|"+prefs.Key || group != id.String() {
				t.Fatalf("productKey(%s, %q) = %q, %q", id, prefs.Key, key, group)
			}
		}
	}
}

// The gateway's request is read without reflection; anything else is left to the decoder.
func TestGatewayProductID(t *testing.T) {
	id := uuid.New()
	if got, ok := gatewayProductID([]byte(`{"id":"` + id.String() + `"}`)); !ok || got != id {
		t.Fatalf("got %v %v", got, ok)
	}
	for _, body := range []string{`{"id":"` + id.String() + `" }`, `{"id":"nope"}`, `{"ID":"` + id.String() + `"}`, ``, `{"id":"{` + id.String()[:34] + `}"}`} {
		if _, ok := gatewayProductID([]byte(body)); ok {
			t.Errorf("%s read as the gateway's request", body)
		}
	}
}

func TestEncodedPagesAreJSON(t *testing.T) {
	for _, next := range []string{"", "abc"} {
		b := encodePage([][]byte{[]byte(`{"id":"1"}`), []byte(`{"id":"2"}`)}, next, []byte(`{"total":2}`))
		var page subjects.ProductPage
		if err := json.Unmarshal(b, &page); err != nil || len(page.Items) != 2 || page.NextCursor != next || page.Facets.Total != 2 {
			t.Fatalf("%s: %+v %v", b, page, err)
		}
	}
}
