package notification

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"

	"golang.org/x/text/language"

	"github.com/souk/souk/subjects"
)

//go:embed templates/*.txt templates/*.html
var templatesFS embed.FS

// The messages, by template name. Each exists in every language as "<name>.subject" and
// "<name>.text" in templates/<lang>.txt and as "<name>" in templates/<lang>.html.
const (
	TemplateVerifyEmail       = "verify_email"
	TemplateOrderConfirmation = "order_confirmation"
	TemplatePaymentFailed     = "payment_failed"
	TemplateOrderCancelled    = "order_cancelled"
	TemplateRefund            = "refund"
	TemplateShipped           = "shipped"
	TemplateDelivered         = "delivered"
	// TemplatePasswordReset carries a password reset link (ResetLink).
	TemplatePasswordReset = "password_reset"
	// TemplatePasswordChanged tells that the password was changed or reset (Reason).
	TemplatePasswordChanged = "password_changed"
	// TemplateEmailChange carries the link that confirms a new address (VerifyLink), to it.
	TemplateEmailChange = "email_change"
	// TemplateEmailChangeNotice tells the current address of a change asked for (NewEmail).
	TemplateEmailChangeNotice = "email_change_notice"
)

// Templates lists every template name.
var Templates = []string{TemplateVerifyEmail, TemplateOrderConfirmation, TemplatePaymentFailed,
	TemplateOrderCancelled, TemplateRefund, TemplateShipped, TemplateDelivered,
	TemplatePasswordReset, TemplatePasswordChanged, TemplateEmailChange, TemplateEmailChangeNotice}

// Languages are the languages the templates are written in; the first is the fallback.
var Languages = []language.Tag{language.English, language.German, language.French}

// Data is what a message says: the template's fields, stored with the delivery as JSON
// (amounts in minor units, formatted only when rendered in the recipient's language).
type Data struct {
	// Name is the recipient's name, filled in when rendered.
	Name string `json:"-"`
	// VerifyLink is the email verification link (of an account, or of a new address): a secret.
	VerifyLink string `json:"verify_link,omitzero"`
	// ResetLink is the password reset link: a secret.
	ResetLink string `json:"reset_link,omitzero"`
	// To is the address of a message that does not go to the recipient's current one (the
	// new address of a change; the old one, for its notice); empty for the current one.
	To string `json:"to,omitzero"`
	// NewEmail is the masked new address of a change, in the notice to the old one.
	NewEmail       string               `json:"new_email,omitzero"`
	OrderID        string               `json:"order_id,omitzero"`
	Total          subjects.Money       `json:"total,omitzero"`
	Amount         subjects.Money       `json:"amount,omitzero"`
	Reason         string               `json:"reason,omitzero"`
	Carrier        string               `json:"carrier,omitzero"`
	TrackingNumber string               `json:"tracking_number,omitzero"`
	Lines          []subjects.OrderLine `json:"lines,omitzero"`
}

// secrets are the strings of d that must never be logged: its links.
func (d Data) secrets() []string {
	var out []string
	for _, s := range []string{d.VerifyLink, d.ResetLink} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Rendered is one message in one language.
type Rendered struct {
	// Lang is the language it is written in (en, de, fr).
	Lang    string
	Subject string
	Text    string
	HTML    string
}

// Renderer renders the embedded templates in the language that best matches a customer's
// locale: the locale itself, else its base language (de-AT → de), else English.
type Renderer struct {
	matcher   language.Matcher
	langs     []*langSet
	reviewURL string
}

// langSet is one language's templates.
type langSet struct {
	tag  language.Tag
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewRenderer parses the templates of every language and checks that each has every
// message. reviewURL is the review link, with {product_id} where the product id goes.
func NewRenderer(reviewURL string) (*Renderer, error) {
	r := &Renderer{matcher: language.NewMatcher(Languages), reviewURL: reviewURL}
	for _, tag := range Languages {
		set, err := r.parse(tag)
		if err != nil {
			return nil, err
		}
		r.langs = append(r.langs, set)
	}
	return r, nil
}

func (r *Renderer) parse(tag language.Tag) (*langSet, error) {
	funcs := map[string]any{
		"money":  func(m subjects.Money) string { return FormatMoney(m, tag) },
		"short":  shortID,
		"review": r.reviewLink,
	}
	lang := tag.String()
	text, err := texttemplate.New(lang).Funcs(funcs).ParseFS(templatesFS, "templates/"+lang+".txt")
	if err != nil {
		return nil, fmt.Errorf("notification: templates %s: %w", lang, err)
	}
	html, err := htmltemplate.New(lang).Funcs(funcs).ParseFS(templatesFS, "templates/"+lang+".html", "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("notification: templates %s: %w", lang, err)
	}
	for _, name := range Templates {
		if text.Lookup(name+".subject") == nil || text.Lookup(name+".text") == nil || html.Lookup(name) == nil {
			return nil, fmt.Errorf("notification: template %s is missing in %s", name, lang)
		}
	}
	return &langSet{tag: tag, text: text, html: html}, nil
}

// Match returns the language the templates use for locale (a BCP 47 tag; English when it is
// empty, malformed or matches none).
func (r *Renderer) Match(locale string) language.Tag {
	return r.set(locale).tag
}

func (r *Renderer) set(locale string) *langSet {
	tag, err := language.Parse(locale)
	if err != nil {
		return r.langs[0]
	}
	_, i, conf := r.matcher.Match(tag)
	if conf == language.No {
		return r.langs[0]
	}
	return r.langs[i]
}

// Render renders message name with data in the language that matches locale.
func (r *Renderer) Render(name, locale string, data Data) (Rendered, error) {
	set := r.set(locale)
	var subject, text, body bytes.Buffer
	if err := set.text.ExecuteTemplate(&subject, name+".subject", data); err != nil {
		return Rendered{}, fmt.Errorf("render %s: %w", name, err)
	}
	if err := set.text.ExecuteTemplate(&text, name+".text", data); err != nil {
		return Rendered{}, fmt.Errorf("render %s: %w", name, err)
	}
	if err := set.html.ExecuteTemplate(&body, name, data); err != nil {
		return Rendered{}, fmt.Errorf("render %s: %w", name, err)
	}
	out := Rendered{Lang: set.tag.String(), Subject: oneLine(subject.String()), Text: text.String()}
	var page bytes.Buffer
	err := set.html.ExecuteTemplate(&page, "layout", struct {
		Lang, Subject string
		Body          htmltemplate.HTML
	}{out.Lang, out.Subject, htmltemplate.HTML(body.String())}) // body: escaped by its own template
	if err != nil {
		return Rendered{}, fmt.Errorf("render %s: %w", name, err)
	}
	out.HTML = page.String()
	return out, nil
}

// reviewLink is the review link of a product.
func (r *Renderer) reviewLink(productID string) string {
	return strings.ReplaceAll(r.reviewURL, "{product_id}", url.PathEscape(productID))
}

// shortID is the reference of an order in a message: the last 8 characters of its id (a
// UUIDv7's first ones are its time, alike for orders of one day).
func shortID(id string) string {
	if len(id) <= 8 {
		return id
	}
	return id[len(id)-8:]
}

// oneLine folds a subject into one line: a header may hold no line break.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
