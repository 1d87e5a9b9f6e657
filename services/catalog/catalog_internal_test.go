package catalog

import (
	"encoding/json"
	"testing"

	"github.com/souk/souk/subjects"
)

func TestEncodedPagesAreJSON(t *testing.T) {
	for _, next := range []string{"", "abc"} {
		b := encodePage([][]byte{[]byte(`{"id":"1"}`), []byte(`{"id":"2"}`)}, next, []byte(`{"total":2}`))
		var page subjects.ProductPage
		if err := json.Unmarshal(b, &page); err != nil || len(page.Items) != 2 || page.NextCursor != next || page.Facets.Total != 2 {
			t.Fatalf("%s: %+v %v", b, page, err)
		}
	}
}
