// Package product holds the catalog's domain: products, categories and their tree, reviews,
// the rules their fields follow, and the caller's language preferences. It does no I/O. The
// catalog service (its store and endpoints) and its search wing (services/catalog/search)
// both import it, so that no wing imports the service.
package product

import (
	"errors"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/subjects"
)

// Domain errors. The catalog's store returns them; its wireError maps them to the wire.
var (
	// ErrNotFound is an unknown or deleted product.
	ErrNotFound = errors.New("product not found")
	// ErrCategoryNotFound is an unknown category.
	ErrCategoryNotFound = errors.New("category not found")
	// ErrSKUTaken is a SKU that a listed product has already.
	ErrSKUTaken = errors.New("sku taken")
	// ErrSlugTaken is a category slug that a sibling has already.
	ErrSlugTaken = errors.New("slug taken")
	// ErrStale is an edit that names a version which is no longer current.
	ErrStale = errors.New("stale version")
	// ErrCycle is a category move under its own subtree.
	ErrCycle = errors.New("category cycle")
	// ErrReviewed is a second review of one product by one customer.
	ErrReviewed = errors.New("already reviewed")
	// ErrNotPurchased is a review by a customer who has not paid for the product.
	ErrNotPurchased = errors.New("not purchased")
	// ErrReviewNotFound is an unknown review.
	ErrReviewNotFound = errors.New("review not found")
)

// Limits of what a product, a category and a review may hold.
const (
	MaxNameRunes        = 200
	MaxDescriptionRunes = 5000
	MaxAttributes       = 30
	MaxAttrNameBytes    = 40
	MaxAttrValueRunes   = 100
	MaxImages           = 20
	MaxURLBytes         = 2048
	MaxTranslations     = 20
	MaxSlugBytes        = 64
	MaxAmount           = 1_000_000_000_00 // a billion in major units: beyond any price
	MaxReviewTitleRunes = 200
	MaxReviewBodyRunes  = 5000
	MaxAuthorNameRunes  = 60
	// DefaultAuthorName is shown for a review whose author chose no name.
	DefaultAuthorName = "Customer"
)

var (
	slugPattern     = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	attrNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// CheckSlug checks a category slug: lower-case letters and digits in dash-separated words.
func CheckSlug(slug string) string {
	switch {
	case slug == "":
		return "is required"
	case len(slug) > MaxSlugBytes:
		return "must be at most " + strconv.Itoa(MaxSlugBytes) + " characters"
	case !slugPattern.MatchString(slug):
		return "must be lower-case letters and digits in words joined by single dashes, such as running-shoes"
	}
	return ""
}

// CheckMoney checks a price: a whole amount of minor units from 0 to MaxAmount and a known
// ISO 4217 currency, which it returns in upper case.
func CheckMoney(field string, m subjects.Money, p *subjects.Problems) subjects.Money {
	if m.Amount < 0 {
		p.Add(field+".amount", "must not be negative")
	} else if m.Amount > MaxAmount {
		p.Add(field+".amount", "is beyond any price")
	}
	cur, ok := subjects.CheckCurrency(m.Currency)
	if !ok {
		p.Add(field+".currency", subjects.CurrencyProblem)
	}
	return subjects.Money{Amount: m.Amount, Currency: cur}
}

// ValidAttrName reports whether name may name an attribute: lower-case letters, digits and _,
// starting with a letter, at most MaxAttrNameBytes.
func ValidAttrName(name string) bool {
	return len(name) <= MaxAttrNameBytes && attrNamePattern.MatchString(name)
}

// CheckAttribute checks one attribute and returns its value trimmed; the message is empty
// when both are fine.
func CheckAttribute(name, value string) (string, string) {
	switch {
	case !ValidAttrName(name):
		return "", "name must be lower-case letters, digits and _, starting with a letter, at most " + strconv.Itoa(MaxAttrNameBytes) + " characters"
	}
	v, msg := subjects.CheckText(value, MaxAttrValueRunes, true, false)
	return v, msg
}

func checkAttributes(attrs map[string]string, p *subjects.Problems) map[string]string {
	if len(attrs) > MaxAttributes {
		p.Add("attributes", "at most "+strconv.Itoa(MaxAttributes)+" attributes")
		return nil
	}
	out := make(map[string]string, len(attrs))
	for _, name := range SortedKeys(attrs) {
		v, msg := CheckAttribute(name, attrs[name])
		if msg != "" {
			p.Add("attributes."+name, msg)
			continue
		}
		out[name] = v
	}
	return out
}

func checkImages(images []string, p *subjects.Problems) []string {
	if len(images) > MaxImages {
		p.Add("images", "at most "+strconv.Itoa(MaxImages)+" images")
		return nil
	}
	out := make([]string, 0, len(images))
	for i, raw := range images {
		field := "images[" + strconv.Itoa(i) + "]"
		u, err := url.Parse(strings.TrimSpace(raw))
		switch {
		case len(raw) > MaxURLBytes:
			p.Add(field, "must be at most "+strconv.Itoa(MaxURLBytes)+" bytes")
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil:
			p.Add(field, "must be an absolute http or https URL")
		default:
			out = append(out, u.String())
		}
	}
	return out
}

// checkProductText checks one translation (or the default text) of a product.
func checkProductText(field string, t subjects.ProductText, p *subjects.Problems) subjects.ProductText {
	name, msg := subjects.CheckText(t.Name, MaxNameRunes, true, false)
	if msg != "" {
		p.Add(field+"name", msg)
	}
	desc, msg := subjects.CheckText(t.Description, MaxDescriptionRunes, false, true)
	if msg != "" {
		p.Add(field+"description", msg)
	}
	return subjects.ProductText{Name: name, Description: desc}
}

// checkTranslationKey canonicalises a translation's locale, refusing the default locale
// (whose text is the product's own name and description).
func checkTranslationKey(key, defaultLocale string, p *subjects.Problems) (string, bool) {
	l, ok := subjects.CheckLocale(key)
	switch {
	case !ok:
		p.Add("translations."+key, "the key must be a BCP 47 language tag, such as de or fr-CA")
		return "", false
	case l == defaultLocale:
		p.Add("translations."+key, "the default language's text is the product's name and description")
		return "", false
	}
	return l, true
}

// New checks a create request and returns the product it describes, without id and
// category (the store resolves CategoryID, which may be a path), or the 400 of every problem.
func New(req subjects.ProductCreateRequest, defaultLocale string) (Product, error) {
	var p subjects.Problems
	pr := Product{SKU: strings.TrimSpace(req.SKU)}
	if msg := subjects.CheckSKU(pr.SKU); msg != "" {
		p.Add("sku", msg)
	}
	text := checkProductText("", subjects.ProductText{Name: req.Name, Description: req.Description}, &p)
	pr.Name, pr.Description = text.Name, text.Description
	pr.Price = CheckMoney("price", req.Price, &p)
	if strings.TrimSpace(req.CategoryID) == "" {
		p.Add("category_id", "is required")
	}
	pr.Attributes = checkAttributes(req.Attributes, &p)
	pr.Images = checkImages(req.Images, &p)
	pr.Translations = mergeTranslations(nil, pointers(req.Translations), defaultLocale, &p, checkProductText)
	return pr, p.Err()
}

// Patch applies a checked update request to pr (the product under its row lock) and returns
// the names of the fields that changed. The category is resolved by the store.
func (pr *Product) Patch(req subjects.ProductUpdateRequest, defaultLocale string) ([]string, error) {
	var p subjects.Problems
	var changed []string
	if req.Version != nil && *req.Version != pr.Version {
		return nil, ErrStale
	}
	if req.Name != nil {
		if name, msg := subjects.CheckText(*req.Name, MaxNameRunes, true, false); msg != "" {
			p.Add("name", msg)
		} else if name != pr.Name {
			pr.Name, changed = name, append(changed, "name")
		}
	}
	if req.Description != nil {
		if desc, msg := subjects.CheckText(*req.Description, MaxDescriptionRunes, false, true); msg != "" {
			p.Add("description", msg)
		} else if desc != pr.Description {
			pr.Description, changed = desc, append(changed, "description")
		}
	}
	if req.Price != nil {
		if price := CheckMoney("price", *req.Price, &p); price != pr.Price {
			pr.Price, changed = price, append(changed, "price")
		}
	}
	if req.Attributes != nil && pr.patchAttributes(req.Attributes, &p) {
		changed = append(changed, "attributes")
	}
	if req.Images != nil {
		if images := checkImages(*req.Images, &p); !slices.Equal(images, pr.Images) {
			pr.Images, changed = images, append(changed, "images")
		}
	}
	if req.Translations != nil && pr.patchTranslations(req.Translations, defaultLocale, &p) {
		changed = append(changed, "translations")
	}
	return changed, p.Err()
}

func (pr *Product) patchAttributes(patch map[string]*string, p *subjects.Problems) bool {
	attrs := CloneMap(pr.Attributes)
	for _, name := range SortedKeys(patch) {
		if patch[name] == nil {
			delete(attrs, name)
			continue
		}
		v, msg := CheckAttribute(name, *patch[name])
		if msg != "" {
			p.Add("attributes."+name, msg)
			continue
		}
		attrs[name] = v
	}
	if len(attrs) > MaxAttributes {
		p.Add("attributes", "at most "+strconv.Itoa(MaxAttributes)+" attributes")
	}
	if maps.Equal(attrs, pr.Attributes) {
		return false
	}
	pr.Attributes = attrs
	return true
}

func (pr *Product) patchTranslations(patch map[string]*subjects.ProductText, defaultLocale string, p *subjects.Problems) bool {
	tr := mergeTranslations(pr.Translations, patch, defaultLocale, p, checkProductText)
	if maps.Equal(tr, pr.Translations) {
		return false
	}
	pr.Translations = tr
	return true
}

// mergeTranslations applies a JSON merge patch to the translations tr and returns the result,
// tr unchanged: keys become canonical locales, a null removes its locale, a value replaces
// it once check has checked it (naming its fields after field). Problems go to p.
func mergeTranslations[T any](tr map[string]T, patch map[string]*T, defaultLocale string, p *subjects.Problems,
	check func(field string, t T, p *subjects.Problems) T) map[string]T {
	out := CloneMap(tr)
	if len(patch) > len(tr)+MaxTranslations { // bounds the loop: no useful patch is longer
		p.Add("translations", "at most "+strconv.Itoa(MaxTranslations)+" translations")
		return out
	}
	for _, key := range SortedKeys(patch) {
		l, ok := checkTranslationKey(key, defaultLocale, p)
		switch {
		case !ok:
		case patch[key] == nil:
			delete(out, l)
		default:
			out[l] = check("translations."+key+".", *patch[key], p)
		}
	}
	if len(out) > MaxTranslations {
		p.Add("translations", "at most "+strconv.Itoa(MaxTranslations)+" translations")
	}
	return out
}

// pointers is m with every value behind a pointer: a create is a merge patch with no nulls.
func pointers[T any](m map[string]T) map[string]*T {
	out := make(map[string]*T, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

// NewCategory checks a create request and returns the category it describes, with a new id
// and without its parent (the caller resolves ParentID, which may be a path); problems go to p.
func NewCategory(req subjects.CategoryCreateRequest, defaultLocale string, p *subjects.Problems) Category {
	c := Category{ID: uuid.Must(uuid.NewV7()), Slug: strings.TrimSpace(req.Slug)}
	var msg string
	if c.Name, msg = subjects.CheckText(req.Name, MaxNameRunes, true, false); msg != "" {
		p.Add("name", msg)
	}
	if msg := CheckSlug(c.Slug); msg != "" {
		p.Add("slug", msg)
	}
	c.Translations = mergeTranslations(nil, pointers(req.Translations), defaultLocale, p, checkCategoryText)
	return c
}

// checkCategoryText checks a category's name in one language.
func checkCategoryText(field string, t subjects.CategoryText, p *subjects.Problems) subjects.CategoryText {
	name, msg := subjects.CheckText(t.Name, MaxNameRunes, true, false)
	if msg != "" {
		p.Add(field+"name", msg)
	}
	return subjects.CategoryText{Name: name}
}

// Patch applies a category update (its parent already resolved: parent is the new one when
// req.ParentID is set) to c under its row lock, and reports whether anything changed.
func (c *Category) Patch(req subjects.CategoryUpdateRequest, parent *uuid.UUID, defaultLocale string) (bool, error) {
	var p subjects.Problems
	before := *c
	var msg string
	if req.Name != nil {
		if c.Name, msg = subjects.CheckText(*req.Name, MaxNameRunes, true, false); msg != "" {
			p.Add("name", msg)
		}
	}
	if req.Slug != nil {
		c.Slug = strings.TrimSpace(*req.Slug)
		if msg := CheckSlug(c.Slug); msg != "" {
			p.Add("slug", msg)
		}
	}
	if req.ParentID != nil {
		c.ParentID = parent
	}
	c.Translations = mergeTranslations(c.Translations, req.Translations, defaultLocale, &p, checkCategoryText)
	sameParent := (c.ParentID == nil) == (before.ParentID == nil) && (c.ParentID == nil || *c.ParentID == *before.ParentID)
	return c.Name != before.Name || c.Slug != before.Slug || !sameParent || !maps.Equal(c.Translations, before.Translations), p.Err()
}

// CheckReview checks a review request and returns its fields trimmed.
func CheckReview(req subjects.ReviewCreateRequest) (subjects.ReviewCreateRequest, error) {
	var p subjects.Problems
	if req.Rating < 1 || req.Rating > 5 {
		p.Add("rating", "must be a whole number from 1 to 5")
	}
	var msg string
	if req.Title, msg = subjects.CheckText(req.Title, MaxReviewTitleRunes, true, false); msg != "" {
		p.Add("title", msg)
	}
	if req.Body, msg = subjects.CheckText(req.Body, MaxReviewBodyRunes, false, true); msg != "" {
		p.Add("body", msg)
	}
	if req.AuthorName, msg = subjects.CheckText(req.AuthorName, MaxAuthorNameRunes, false, false); msg != "" {
		p.Add("author_name", msg)
	}
	if req.AuthorName == "" {
		req.AuthorName = DefaultAuthorName
	}
	return req, p.Err()
}

// SortedKeys returns the keys of m in order, never nil.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CloneMap copies m into a map that is never nil, so that it can be written to.
func CloneMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	maps.Copy(out, m)
	return out
}

// Product is a product row: the aggregate the store reads and writes.
type Product struct {
	ID uuid.UUID
	// Seq is a number per product in creation order, for engines that page by numbers.
	Seq          int64
	SKU          string
	Name         string
	Description  string
	Price        subjects.Money
	CategoryID   uuid.UUID
	Attributes   map[string]string
	Images       []string
	Translations map[string]subjects.ProductText
	// RatingSum and RatingCount are the exact sum and count of the visible reviews' ratings.
	RatingSum   int64
	RatingCount int
	InStock     bool
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeletedAt   *time.Time
}

// Rating is the product's rating as the wire shows it: the average rounded to two decimals.
func (pr *Product) Rating() subjects.Rating {
	if pr.RatingCount == 0 {
		return subjects.Rating{}
	}
	avg := math.Round(float64(pr.RatingSum)*100/float64(pr.RatingCount)) / 100
	return subjects.Rating{Average: avg, Count: pr.RatingCount}
}

// Wire returns the product as shoppers see it, its text in the first of prefs (locales in
// the caller's order of preference) that it has a translation for, else in defaultLocale.
// staff replies also carry every translation.
func (pr *Product) Wire(prefs []string, defaultLocale string, staff bool) subjects.Product {
	w := subjects.Product{
		ID: pr.ID.String(), SKU: pr.SKU, Name: pr.Name, Description: pr.Description, Locale: defaultLocale,
		Price: pr.Price, CategoryID: pr.CategoryID.String(), Attributes: pr.Attributes, Images: pr.Images,
		Rating: pr.Rating(), InStock: pr.InStock, Version: pr.Version,
		CreatedAt: pr.CreatedAt.UTC(), UpdatedAt: pr.UpdatedAt.UTC(),
	}
	if w.Attributes == nil {
		w.Attributes = map[string]string{}
	}
	if w.Images == nil {
		w.Images = []string{}
	}
	if l, ok := PickLocale(prefs, defaultLocale, pr.Translations); ok {
		t := pr.Translations[l]
		w.Name, w.Locale = t.Name, l
		if t.Description != "" {
			w.Description = t.Description
		}
	}
	if staff {
		w.Translations = pr.Translations
	}
	return w
}

// Category is a category row.
type Category struct {
	ID           uuid.UUID
	ParentID     *uuid.UUID
	Name         string
	Slug         string
	Translations map[string]subjects.CategoryText
}

// Review is a review row.
type Review struct {
	ID         uuid.UUID
	ProductID  uuid.UUID
	UserID     uuid.UUID
	Rating     int
	Title      string
	Body       string
	AuthorName string
	Hidden     bool
	CreatedAt  time.Time
}

// Wire returns the review as the API shows it; the author's id never leaves the service.
func (r *Review) Wire() subjects.Review {
	return subjects.Review{ID: r.ID.String(), ProductID: r.ProductID.String(), Rating: r.Rating, Title: r.Title,
		Body: r.Body, AuthorName: r.AuthorName, VerifiedPurchase: true, Hidden: r.Hidden, CreatedAt: r.CreatedAt.UTC()}
}
