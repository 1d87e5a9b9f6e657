package page_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/subjects"
)

func TestPagesFollowTheirCursorAndOnlyTheirOwnList(t *testing.T) {
	ids := make([]uuid.UUID, 5)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	at := time.Date(2026, 12, 5, 9, 0, 0, 123456789, time.UTC)
	key := func(id uuid.UUID) page.Key { return page.Key{At: at, ID: id} }

	r, err := page.Read(subjects.ListRequest{Limit: 2}, "orders/u1")
	if err != nil || r.Limit != 2 || r.After != nil {
		t.Fatalf("first page request %+v, %v", r, err)
	}
	rows, next := page.Next(ids[:3], r, "orders/u1", key) // fetched Limit+1
	if len(rows) != 2 || next == "" {
		t.Fatalf("page of %d with cursor %q; want 2 and a cursor", len(rows), next)
	}
	r, err = page.Read(subjects.ListRequest{Limit: 2, Cursor: next}, "orders/u1")
	if err != nil || r.After == nil || r.After.ID != ids[1] || !r.After.At.Equal(at) {
		t.Fatalf("second page request %+v, %v; want after the second row", r, err)
	}
	if rows, next := page.Next(ids[2:4], r, "orders/u1", key); len(rows) != 2 || next != "" {
		t.Fatalf("last page %d rows, cursor %q; want 2 and none", len(rows), next)
	}

	for name, req := range map[string]subjects.ListRequest{
		"another list's cursor": {Cursor: next},
		"not base64":            {Cursor: "%%%"},
		"not ours":              {Cursor: "aGVsbG8"},
		"limit too big":         {Limit: page.Max + 1},
		"negative limit":        {Limit: -1},
	} {
		list := "orders/u1"
		if name == "another list's cursor" {
			list, req.Cursor = "orders/u2", page.Cursor("orders/u1", key(ids[0]))
		}
		_, err := page.Read(req, list)
		var se *subjects.Error
		if !errors.As(err, &se) || se.Code != 400 || len(se.Fields) != 1 {
			t.Errorf("%s: %v; want a 400 naming the field", name, err)
		}
	}
	if r, _ := page.Read(subjects.ListRequest{}, "x"); r.Limit != page.Default {
		t.Errorf("no limit gives %d, want %d", r.Limit, page.Default)
	}
}

func TestListReadsFetchesCutsAndConverts(t *testing.T) {
	ids := []uuid.UUID{uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())}
	var asked page.Request
	items, next, err := page.List(subjects.ListRequest{Limit: 2}, "things",
		func(r page.Request) ([]uuid.UUID, error) { asked = r; return ids, nil },
		func(id uuid.UUID) page.Key { return page.Key{ID: id} }, uuid.UUID.String)
	if err != nil || asked.Limit != 2 || len(items) != 2 || items[1] != ids[1].String() || next == "" {
		t.Fatalf("List: %v %q %v (asked %+v)", items, next, err, asked)
	}
	if _, _, err := page.List(subjects.ListRequest{Cursor: next + next}, "things",
		func(page.Request) ([]uuid.UUID, error) { t.Fatal("fetched with a bad cursor"); return nil, nil },
		func(id uuid.UUID) page.Key { return page.Key{ID: id} }, uuid.UUID.String); err == nil {
		t.Fatal("an overlong cursor was read")
	}
}
