package notification

import (
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/souk/souk/subjects"
)

func TestFormatMoney(t *testing.T) {
	eur := func(n int64) subjects.Money { return subjects.Money{Amount: n, Currency: "EUR"} }
	for _, c := range []struct {
		m    subjects.Money
		lang string
		want string
	}{
		{eur(123456), "en", "€1,234.56"},
		{eur(123456), "de", "1.234,56\u00a0€"},
		{eur(123456), "de-AT", "1.234,56\u00a0€"},
		{eur(123456), "fr", "1\u202f234,56\u00a0€"},
		{eur(123456), "pt-BR", "€1,234.56"}, // unknown: English
		{eur(5), "en", "€0.05"},
		{eur(0), "de", "0,00\u00a0€"},
		{eur(-1999), "de", "-19,99\u00a0€"},
		{eur(123456789012), "en", "€1,234,567,890.12"},
		{subjects.Money{Amount: 1234, Currency: "JPY"}, "en", "¥1,234"},
		{subjects.Money{Amount: 1234, Currency: "JPY"}, "de", "1.234\u00a0¥"},
		{subjects.Money{Amount: 123456, Currency: "CHF"}, "en", "CHF\u00a01,234.56"},
		{subjects.Money{Amount: 123456, Currency: "CHF"}, "fr", "1\u202f234,56\u00a0CHF"},
		{subjects.Money{Amount: 1050, Currency: "USD"}, "en", "$10.50"},
		{subjects.Money{Amount: 123456, Currency: "XYZ"}, "en", "XYZ\u00a01,234.56"},
	} {
		if got := FormatMoney(c.m, language.MustParse(c.lang)); got != c.want {
			t.Errorf("%v in %s: got %q, want %q", c.m, c.lang, got, c.want)
		}
	}
}

// fullData fills every field any template reads.
func fullData() Data {
	return Data{Name: "<b>Zoë</b>", VerifyLink: "https://shop.test/verify?token=abc&x=1", OrderID: "0190c0de-0000-7000-8000-00000000abcd",
		Total: subjects.Money{Amount: 246912, Currency: "EUR"}, Amount: subjects.Money{Amount: 123456, Currency: "EUR"},
		Reason: subjects.ReasonOutOfStock, Carrier: "DHL", TrackingNumber: "JJD0001",
		Lines: []subjects.OrderLine{{ProductID: "p/1", SKU: "HP-1000", Quantity: 2, UnitPrice: subjects.Money{Amount: 123456, Currency: "EUR"}}}}
}

func TestTemplatesEveryLocaleAndFallback(t *testing.T) {
	r, err := NewRenderer("https://shop.test/products/{product_id}/reviews")
	if err != nil {
		t.Fatal(err)
	}
	// A phrase of each language's order confirmation, and how it writes 1.234,56 €.
	langs := map[string]struct{ phrase, amount string }{
		"en": {"is confirmed", "€1,234.56"},
		"de": {"Ihre Bestellung", "1.234,56\u00a0€"},
		"fr": {"Votre commande", "1\u202f234,56\u00a0€"},
	}
	for _, c := range []struct{ locale, lang string }{
		{"en", "en"}, {"de", "de"}, {"fr", "fr"},
		{"de-AT", "de"}, {"de-CH", "de"}, {"fr-CA", "fr"}, {"en-GB", "en"}, // by base language
		{"pt-BR", "en"}, {"ja", "en"}, {"", "en"}, {"not a tag", "en"}, // else English
	} {
		if got := r.Match(c.locale).String(); got != c.lang {
			t.Errorf("locale %q matches %s, want %s", c.locale, got, c.lang)
		}
		for _, name := range Templates {
			m, err := r.Render(name, c.locale, fullData())
			if err != nil {
				t.Fatalf("%s in %q: %v", name, c.locale, err)
			}
			if m.Lang != c.lang || m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") || m.Text == "" || !strings.Contains(m.HTML, `<html lang="`+c.lang+`">`) {
				t.Errorf("%s in %q: %+v", name, c.locale, m)
			}
			// The name is text in the text part and escaped in the HTML.
			if !strings.Contains(m.Text, "<b>Zoë</b>") || strings.Contains(m.HTML, "<b>Zoë</b>") || !strings.Contains(m.HTML, "&lt;b&gt;Zoë&lt;/b&gt;") {
				t.Errorf("%s in %q: the name is not escaped in HTML only:\n%s\n%s", name, c.locale, m.Text, m.HTML)
			}
		}
		confirm, _ := r.Render(TemplateOrderConfirmation, c.locale, fullData())
		want := langs[c.lang]
		if !strings.Contains(confirm.Subject+confirm.Text, want.phrase) || !strings.Contains(confirm.Text, want.amount) || !strings.Contains(confirm.HTML, want.amount) {
			t.Errorf("order confirmation in %q lacks %q or %q:\n%s\n%s", c.locale, want.phrase, want.amount, confirm.Subject, confirm.Text)
		}
	}
}

func TestTemplatesSayWhatHappened(t *testing.T) {
	r, err := NewRenderer("https://shop.test/products/{product_id}/reviews")
	if err != nil {
		t.Fatal(err)
	}
	d := fullData()
	for _, c := range []struct {
		name, locale string
		wants        []string
	}{
		{TemplateVerifyEmail, "en", []string{"https://shop.test/verify?token=abc&x=1"}},
		{TemplateShipped, "de", []string{"mit DHL", "Sendungsnummer: JJD0001", "0000abcd"}},
		{TemplateDelivered, "fr", []string{"https://shop.test/products/p%2F1/reviews", "HP-1000"}},
		{TemplateRefund, "en", []string{"refunded €1,234.56"}},
		{TemplatePaymentFailed, "de", []string{"1.234,56\u00a0€", "abgelehnt"}},
		{TemplateOrderCancelled, "en", []string{"because an item is out of stock"}},
	} {
		m, err := r.Render(c.name, c.locale, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.wants {
			if !strings.Contains(m.Text, w) {
				t.Errorf("%s in %s lacks %q:\n%s", c.name, c.locale, w, m.Text)
			}
		}
	}
	m, _ := r.Render(TemplateVerifyEmail, "en", d)
	if !strings.Contains(m.HTML, `href="https://shop.test/verify?token=abc&amp;x=1"`) {
		t.Errorf("the link in HTML: %s", m.HTML)
	}
	if _, err := r.Render("no_such_template", "en", d); err == nil {
		t.Error("an unknown template renders")
	}
}
