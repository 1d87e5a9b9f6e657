package catalog_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/subjects"
)

func TestCategoriesFormATreeWithSlugsUniquePerParent(t *testing.T) {
	e := newEnv(t)
	e.start(catalog.Config{})
	el := e.category("Electronics", "electronics", "", map[string]subjects.CategoryText{"de": {Name: "Elektronik"}})
	audio := e.category("Audio", "audio", el.ID, nil)
	hp := e.category("Headphones", "headphones", "electronics/audio", map[string]subjects.CategoryText{"de": {Name: "Kopfhörer"}})
	if hp.Path != "electronics/audio/headphones" || hp.ParentID != audio.ID || hp.Translations["de"].Name != "Kopfhörer" {
		t.Fatalf("created: %+v", hp)
	}
	// The same slug under another parent is fine; under the same parent it is taken.
	e.category("Headphones", "headphones", "", nil)
	_, err := subjects.CategoryCreate.Call(e.staff, e.nc, subjects.CategoryCreateRequest{Name: "Again", Slug: "headphones", ParentID: audio.ID})
	expect.Error(t, err, 409, "slug_taken", "slug")
	_, err = subjects.CategoryCreate.Call(e.staff, e.nc, subjects.CategoryCreateRequest{Name: "X", Slug: "Not A Slug", ParentID: "no/such/path"})
	expect.Error(t, err, 400, "validation", "slug")
	expect.Error(t, err, 400, "validation", "parent_id")
	_, err = subjects.CategoryCreate.Call(e.customer, e.nc, subjects.CategoryCreateRequest{Name: "X", Slug: "x"})
	expect.Error(t, err, 403, "", "")

	// The tree, in the caller's language.
	de := subjects.WithMeta(e.ctx, subjects.Meta{AcceptLanguage: "de-DE,de;q=0.9,en;q=0.5"})
	tree, err := subjects.CategoryList.Call(de, e.nc, subjects.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Items) != 2 || tree.Items[0].Name != "Elektronik" || tree.Items[0].Children[0].Children[0].Name != "Kopfhörer" {
		t.Fatalf("tree in German: %+v", tree)
	}

	// Moving a category below itself is refused; a real move re-paths the subtree.
	_, err = subjects.CategoryUpdate.Call(e.staff, e.nc, subjects.CategoryUpdateRequest{ID: el.ID, ParentID: ptr(hp.ID)})
	expect.Error(t, err, 409, "category_cycle", "parent_id")
	moved, err := subjects.CategoryUpdate.Call(e.staff, e.nc, subjects.CategoryUpdateRequest{ID: audio.ID, ParentID: ptr("")})
	if err != nil || moved.Path != "audio" || moved.ParentID != "" {
		t.Fatalf("move to the top: %+v %v", moved, err)
	}
	var ev subjects.CategoryChanged
	e.lastEvent(subjects.EvtCategoryUpdated.Subject(audio.ID), &ev)
	if ev.Path != "audio" {
		t.Fatalf("category_updated: %+v", ev)
	}
	_, err = subjects.CategoryUpdate.Call(e.staff, e.nc, subjects.CategoryUpdateRequest{ID: "not-an-id", Name: ptr("x")})
	expect.Error(t, err, 404, "category_not_found", "")
}

// headphones makes the category tree and a product of the product tests.
func headphones(e *env) (subjects.Category, subjects.Product) {
	e.category("Electronics", "electronics", "", nil)
	cat := e.category("Headphones", "headphones", "electronics", nil)
	p := e.product(subjects.ProductCreateRequest{SKU: "HP-1", Name: "Studio Headphones", Description: "Closed-back, deep bass.",
		Price: eur(8999), CategoryID: "electronics/headphones", Attributes: map[string]string{"color": "black", "brand": "Sonora"},
		Images:       []string{"https://img.example.com/hp1.jpg"},
		Translations: map[string]subjects.ProductText{"de": {Name: "Studiokopfhörer", Description: "Geschlossen, tiefer Bass."}, "fr": {Name: "Casque de studio"}}})
	return cat, p
}

func TestProductLifecycleIsPublishedAndLocalised(t *testing.T) {
	e := newEnv(t)
	e.start(catalog.Config{})
	cat, p := headphones(e)
	if p.CategoryID != cat.ID || p.Version != 1 || p.Locale != "en" || p.Translations["de"].Name != "Studiokopfhörer" || p.InStock {
		t.Fatalf("created: %+v", p)
	}
	var created subjects.ProductChanged
	e.lastEvent(subjects.EvtProductCreated.Subject(p.ID), &created)
	if created.ProductID != p.ID || created.SKU != "HP-1" || created.EventID == "" {
		t.Fatalf("product_created: %+v", created)
	}

	// Accept-Language picks the translation; the base language matches a regional tag; an
	// unknown language falls back to the default text. Shoppers never see all translations.
	for header, want := range map[string]string{
		"de-AT,de;q=0.9": "Studiokopfhörer", "fr-CA": "Casque de studio", "ja, en;q=0.1": "Studio Headphones", "": "Studio Headphones",
		"en-GB,de;q=0.5": "Studio Headphones", "*": "Studio Headphones",
	} {
		got, err := subjects.ProductGet.Call(subjects.WithMeta(e.ctx, subjects.Meta{AcceptLanguage: header}), e.nc, subjects.ProductIDRequest{ID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != want || got.Translations != nil {
			t.Errorf("Accept-Language %q: name %q (translations %v), want %q", header, got.Name, got.Translations, want)
		}
	}
	// Shoppers' replies come from the read model built in SQL, staff replies from Go: the two
	// must say the same thing.
	plain, err := subjects.ProductGet.Call(e.ctx, e.nc, subjects.ProductIDRequest{ID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	staff := p
	staff.Translations = nil
	if !plain.CreatedAt.Equal(staff.CreatedAt) || !plain.UpdatedAt.Equal(staff.UpdatedAt) {
		t.Fatalf("times differ: %v %v vs %v %v", plain.CreatedAt, plain.UpdatedAt, staff.CreatedAt, staff.UpdatedAt)
	}
	plain.CreatedAt, plain.UpdatedAt = staff.CreatedAt, staff.UpdatedAt
	if !reflect.DeepEqual(plain, staff) {
		t.Fatalf("the shopper's view differs from the staff reply:\n%+v\n%+v", plain, staff)
	}
	de, _ := subjects.ProductGet.Call(subjects.WithMeta(e.ctx, subjects.Meta{AcceptLanguage: "fr"}), e.nc, subjects.ProductIDRequest{ID: p.ID})
	if de.Description != "Closed-back, deep bass." || de.Locale != "fr" {
		t.Fatalf("a translation without a description keeps the default one: %+v", de)
	}

	// A price change: product_updated naming the fields, and price_changed with both prices.
	up, err := subjects.ProductUpdate.Call(e.staff, e.nc, subjects.ProductUpdateRequest{ID: p.ID, Version: ptr(int64(1)), Price: ptr(eur(7999)),
		Attributes: map[string]*string{"color": ptr("white"), "brand": nil}})
	if err != nil || up.Version != 2 || up.Price.Amount != 7999 || up.Attributes["color"] != "white" || up.Attributes["brand"] != "" {
		t.Fatalf("update: %+v %v", up, err)
	}
	var updated subjects.ProductChanged
	e.lastEvent(subjects.EvtProductUpdated.Subject(p.ID), &updated)
	if strings.Join(updated.Changed, ",") != "price,attributes" || updated.Version != 2 {
		t.Fatalf("product_updated: %+v", updated)
	}
	var price subjects.PriceChanged
	e.lastEvent(subjects.EvtPriceChanged.Subject(p.ID), &price)
	if price.Old.Amount != 8999 || price.New.Amount != 7999 {
		t.Fatalf("price_changed: %+v", price)
	}
	// The same patch again changes nothing and bumps nothing; a stale version is refused.
	again, err := subjects.ProductUpdate.Call(e.staff, e.nc, subjects.ProductUpdateRequest{ID: p.ID, Price: ptr(eur(7999))})
	if err != nil || again.Version != 2 {
		t.Fatalf("no-op update: %+v %v", again, err)
	}
	_, err = subjects.ProductUpdate.Call(e.staff, e.nc, subjects.ProductUpdateRequest{ID: p.ID, Version: ptr(int64(1)), Name: ptr("X")})
	expect.Error(t, err, 409, "stale_version", "version")

	// Delete: 204 twice, then 404 to readers; the SKU is free again.
	for range 2 {
		if _, err := subjects.ProductDelete.Call(e.staff, e.nc, subjects.ProductIDRequest{ID: p.ID}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = subjects.ProductGet.Call(e.ctx, e.nc, subjects.ProductIDRequest{ID: p.ID})
	expect.Error(t, err, 404, "product_not_found", "")
	var deleted subjects.ProductChanged
	e.lastEvent(subjects.EvtProductDeleted.Subject(p.ID), &deleted)
	if deleted.Version != 3 {
		t.Fatalf("product_deleted: %+v", deleted)
	}
	e.product(subjects.ProductCreateRequest{SKU: "hp-1", Name: "Successor", Price: eur(100), CategoryID: cat.ID})
	_, err = subjects.ProductDelete.Call(e.staff, e.nc, subjects.ProductIDRequest{ID: "0190c0de-0000-7000-8000-000000000000"})
	expect.Error(t, err, 404, "product_not_found", "")
}

func TestBadProductInputIsRefusedAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.start(catalog.Config{})
	cat, p := headphones(e)
	good := subjects.ProductCreateRequest{SKU: "OK-1", Name: "Fine", Price: eur(100), CategoryID: cat.ID}
	long := strings.Repeat("x", 201)
	for _, c := range []struct {
		name   string
		mutate func(*subjects.ProductCreateRequest)
		code   int
		field  string
	}{
		{"negative price", func(r *subjects.ProductCreateRequest) { r.Price.Amount = -1 }, 400, "price.amount"},
		{"unknown currency", func(r *subjects.ProductCreateRequest) { r.Price.Currency = "EUX" }, 400, "price.currency"},
		{"no currency", func(r *subjects.ProductCreateRequest) { r.Price.Currency = "" }, 400, "price.currency"},
		{"unknown category", func(r *subjects.ProductCreateRequest) { r.CategoryID = "no/such" }, 400, "category_id"},
		{"NUL in the category", func(r *subjects.ProductCreateRequest) { r.CategoryID = "electronics\x00" }, 400, "category_id"},
		{"duplicate sku", func(r *subjects.ProductCreateRequest) { r.SKU = "hp-1" }, 409, "sku"},
		{"sku with a dot", func(r *subjects.ProductCreateRequest) { r.SKU = "HP.1" }, 400, "sku"},
		{"oversized name", func(r *subjects.ProductCreateRequest) { r.Name = long }, 400, "name"},
		{"no name", func(r *subjects.ProductCreateRequest) { r.Name = "  " }, 400, "name"},
		{"control character", func(r *subjects.ProductCreateRequest) { r.Name = "a\x00b" }, 400, "name"},
		{"bad attribute name", func(r *subjects.ProductCreateRequest) { r.Attributes = map[string]string{"Color!": "x"} }, 400, "attributes.Color!"},
		{"empty attribute value", func(r *subjects.ProductCreateRequest) { r.Attributes = map[string]string{"color": ""} }, 400, "attributes.color"},
		{"image not a URL", func(r *subjects.ProductCreateRequest) { r.Images = []string{"javascript:alert(1)"} }, 400, "images[0]"},
		{"bad locale", func(r *subjects.ProductCreateRequest) {
			r.Translations = map[string]subjects.ProductText{"xx-!!": {Name: "x"}}
		}, 400, "translations.xx-!!"},
		{"translation without name", func(r *subjects.ProductCreateRequest) {
			r.Translations = map[string]subjects.ProductText{"de": {Description: "x"}}
		}, 400, "translations.de.name"},
	} {
		req := good
		c.mutate(&req)
		_, err := subjects.ProductCreate.Call(e.staff, e.nc, req)
		expect.Error(t, err, c.code, "", c.field)
	}
	// A fractional price does not even decode: the field is named.
	_, err := subjectsRaw(e, subjects.ProductCreate.Subject, `{"sku":"F-1","name":"F","price":{"amount":19.99,"currency":"EUR"},"category_id":"`+cat.ID+`"}`)
	expect.Error(t, err, 400, "validation", "")
	// Bad updates change nothing.
	for _, req := range []subjects.ProductUpdateRequest{
		{ID: p.ID, Name: ptr("Renamed"), Price: ptr(eur(-5))},
		{ID: p.ID, Name: ptr("Renamed"), CategoryID: ptr("nowhere")},
		{ID: p.ID, Name: ptr("Renamed"), Images: &[]string{"ftp://x"}},
	} {
		_, err := subjects.ProductUpdate.Call(e.staff, e.nc, req)
		expect.Error(t, err, 400, "validation", "")
	}
	got, err := subjects.ProductGet.Call(e.ctx, e.nc, subjects.ProductIDRequest{ID: p.ID})
	if err != nil || got.Name != "Studio Headphones" || got.Version != 1 {
		t.Fatalf("a refused update changed the product: %+v %v", got, err)
	}
	page := e.search(subjects.SearchRequest{})
	if page.Facets.Total != 1 {
		t.Fatalf("refused creates left products behind: %d listed", page.Facets.Total)
	}
	_, err = subjects.ProductCreate.Call(e.customer, e.nc, good)
	expect.Error(t, err, 403, "", "")
	_, err = subjects.ProductCreate.Call(context.Background(), e.nc, good)
	expect.Error(t, err, 401, "", "")
}

// subjectsRaw sends raw JSON to a subject as the staff user, as a client with a bad body
// would through the gateway.
func subjectsRaw(e *env, subject, body string) ([]byte, error) {
	return subjects.Request(e.staff, e.nc, subject, []byte(body))
}

// nasty are strings that have broken services: a NUL (PostgreSQL refuses it in text and
// jsonb), invalid UTF-8, control characters, a huge string, SQL and JSON punctuation.
var nasty = []string{"\x00", "a\x00b", "\xff\xfe", "\u202e\x07", strings.Repeat("x", 70000), `'; drop table catalog.products; --`, `{"a":`, `%_\`, "..", "../..", "*", ">"}

// No client input makes a 500: every string field of every request, set to each nasty
// string, is answered or refused with a 4xx.
func TestNoInputMakesA500(t *testing.T) {
	e := newEnv(t)
	e.start(catalog.Config{})
	cat, p := headphones(e)
	check := func(what string, err error) {
		t.Helper()
		var se *subjects.Error
		if errors.As(err, &se) && se.Code >= 500 {
			t.Errorf("%s: %v", what, err)
		}
	}
	for i, s := range nasty {
		sp := &s
		check("create "+strconv.Itoa(i), func() error {
			_, err := subjects.ProductCreate.Call(e.staff, e.nc, subjects.ProductCreateRequest{SKU: s, Name: s, Description: s,
				Price: subjects.Money{Amount: 1, Currency: s}, CategoryID: s, Attributes: map[string]string{s: s, "color": s},
				Images: []string{s}, Translations: map[string]subjects.ProductText{s: {Name: s}, "de": {Name: s, Description: s}}})
			return err
		}())
		check("create with a good category "+strconv.Itoa(i), func() error {
			_, err := subjects.ProductCreate.Call(e.staff, e.nc, subjects.ProductCreateRequest{SKU: "N-" + strconv.Itoa(i), Name: "n",
				Price: eur(1), CategoryID: cat.ID, Attributes: map[string]string{"color": s}})
			return err
		}())
		check("update "+strconv.Itoa(i), func() error {
			_, err := subjects.ProductUpdate.Call(e.staff, e.nc, subjects.ProductUpdateRequest{ID: p.ID, Name: sp, Description: sp,
				CategoryID: sp, Attributes: map[string]*string{s: sp, "color": sp}, Images: &[]string{s},
				Translations: map[string]*subjects.ProductText{s: {Name: s}, "fr": {Name: s}}})
			return err
		}())
		for _, id := range []string{s, p.ID} {
			_, err := subjects.ProductGet.Call(subjects.WithMeta(e.ctx, subjects.Meta{AcceptLanguage: s}), e.nc, subjects.ProductIDRequest{ID: id})
			check("get "+strconv.Itoa(i), err)
			_, err = subjects.ReviewList.Call(e.ctx, e.nc, subjects.ReviewListRequest{ProductID: id, Cursor: s})
			check("reviews "+strconv.Itoa(i), err)
			_, err = subjects.ReviewCreate.Call(e.customer, e.nc, subjects.ReviewCreateRequest{ProductID: id, Rating: 3, Title: s, Body: s, AuthorName: s})
			check("review "+strconv.Itoa(i), err)
		}
		_, err := subjects.ProductSearch.Call(subjects.WithMeta(e.ctx, subjects.Meta{AcceptLanguage: s}), e.nc, subjects.SearchRequest{Q: s, Category: s, Currency: s, Sort: s, Cursor: s,
			Attributes: map[string][]string{s: {s}, "color": {s}}})
		check("search "+strconv.Itoa(i), err)
		_, err = subjects.ProductSearch.Call(e.ctx, e.nc, subjects.SearchRequest{Q: s})
		check("search q "+strconv.Itoa(i), err)
		_, err = subjects.CategoryCreate.Call(e.staff, e.nc, subjects.CategoryCreateRequest{Name: s, Slug: s, ParentID: s, Translations: map[string]subjects.CategoryText{s: {Name: s}}})
		check("category "+strconv.Itoa(i), err)
		_, err = subjects.CategoryUpdate.Call(e.staff, e.nc, subjects.CategoryUpdateRequest{ID: cat.ID, Name: sp, Slug: sp, ParentID: sp})
		check("category update "+strconv.Itoa(i), err)
		_, err = subjects.ReviewModerate.Call(e.staff, e.nc, subjects.ReviewModerateRequest{ID: s, Hidden: true})
		check("moderate "+strconv.Itoa(i), err)
	}
}
