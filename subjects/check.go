package subjects

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
)

// The wire's value checks, beside the types they check: every service that takes a SKU, a
// currency, a locale or a piece of text checks it with these, so the same input gets the same
// answer everywhere. A check returns what is wrong ("" when nothing is) for a FieldError's
// Message, or the canonical value and whether the input is one.

// MaxSKUBytes bounds a SKU.
const MaxSKUBytes = 64

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// CheckSKU checks a SKU: 1..MaxSKUBytes of A-Z a-z 0-9 _ -, starting with a letter or digit.
// It names stock in NATS subjects, so it can hold no dot, space or wildcard.
func CheckSKU(sku string) string {
	switch {
	case sku == "":
		return "is required"
	case len(sku) > MaxSKUBytes:
		return "must be at most " + strconv.Itoa(MaxSKUBytes) + " characters"
	case !skuPattern.MatchString(sku):
		return "may hold only letters, digits, _ and -, and must start with a letter or digit"
	}
	return ""
}

// CheckCurrency returns the ISO 4217 code c names, in upper case (surrounding spaces
// ignored), and whether it is one.
func CheckCurrency(c string) (string, bool) {
	c = strings.ToUpper(strings.TrimSpace(c))
	if len(c) != 3 {
		return "", false
	}
	if _, err := currency.ParseISO(c); err != nil {
		return "", false
	}
	return c, true
}

// CurrencyProblem is the message of a currency CheckCurrency refuses.
const CurrencyProblem = "must be an ISO 4217 currency code, such as EUR"

// CheckLocale returns the canonical BCP 47 form of l (surrounding spaces ignored), and
// whether it is a language tag. Empty is not one: a caller with a default applies it first.
func CheckLocale(l string) (string, bool) {
	l = strings.TrimSpace(l)
	if l == "" || len(l) > 35 {
		return "", false
	}
	tag, err := language.Parse(l)
	if err != nil {
		return "", false
	}
	return tag.String(), true
}

// LocaleProblem is the message of a locale CheckLocale refuses.
const LocaleProblem = "is not a valid BCP 47 language tag"

// CheckText trims s and checks that it is text to store: valid UTF-8, at most maxRunes, no
// control characters (NUL, escape sequences; line breaks and tabs allowed when multiline), in
// a single line no bidirectional embeddings, overrides or isolates (U+202A–U+202E,
// U+2066–U+2069: they make a name or an address read as something else; a multiline text,
// a description in a right-to-left language, may need them), and not empty when required. It returns the trimmed text and
// what is wrong, "" when nothing is.
func CheckText(s string, maxRunes int, required, multiline bool) (string, string) {
	t := strings.TrimSpace(s)
	switch {
	case t == "" && required:
		return "", "is required"
	case !utf8.ValidString(t):
		return "", "must be valid UTF-8"
	case utf8.RuneCountInString(t) > maxRunes:
		return "", "must be at most " + strconv.Itoa(maxRunes) + " characters"
	}
	if strings.IndexFunc(t, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r'))
	}) >= 0 {
		return "", "must not contain control characters"
	}
	if !multiline && strings.IndexFunc(t, bidiControl) >= 0 {
		return "", "must not contain bidirectional override characters"
	}
	return t, ""
}

// bidiControl reports the bidirectional embeddings, overrides and isolates.
func bidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// MaxAddressField bounds each text field of an Address, in characters.
const MaxAddressField = 200

// CheckAddressText checks the text fields of a (name, lines, city, region, postal code,
// country, phone) with CheckText, trimming them in place, and adds a problem per bad field
// under prefix ("shipping_address."). What a country must be is the caller's rule.
func CheckAddressText(prefix string, a *Address, p *Problems) {
	for _, f := range []struct {
		name     string
		v        *string
		required bool
	}{
		{"name", &a.Name, true}, {"line1", &a.Line1, true}, {"line2", &a.Line2, false}, {"city", &a.City, true},
		{"region", &a.Region, false}, {"postal_code", &a.PostalCode, true}, {"country", &a.Country, true}, {"phone", &a.Phone, false},
	} {
		var problem string
		*f.v, problem = CheckText(*f.v, MaxAddressField, f.required, false)
		p.Add(prefix+f.name, problem)
	}
}

// Problems collects the invalid fields of one request, so that a 400 names them all.
type Problems []FieldError

// Add records that field is wrong as message says; an empty message records nothing, so
// `p.Add("sku", CheckSKU(sku))` reads as the check it is.
func (p *Problems) Add(field, message string) {
	if message != "" {
		*p = append(*p, FieldError{Field: field, Message: message})
	}
}

// Err is the 400 listing every problem, or nil.
func (p Problems) Err() error { return Invalid(p) }

// CutBytes cuts s to at most n bytes, on a character boundary: for an error kept in a header
// or a column of bounded size.
func CutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
