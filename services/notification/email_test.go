package notification

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/subjects"
)

// parsed is a received email taken apart.
type parsed struct {
	subject, text, html string
	header              mail.Header
}

func parse(t testing.TB, m *mail.Message) parsed {
	t.Helper()
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	media, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || media != "multipart/alternative" {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	p := parsed{subject: subject, header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		switch ct := part.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain; charset=utf-8"):
			p.text = strings.ReplaceAll(string(b), "\r\n", "\n")
		case strings.HasPrefix(ct, "text/html; charset=utf-8"):
			p.html = string(b)
		default:
			t.Fatalf("unexpected part %q", ct)
		}
	}
	if p.text == "" || p.html == "" {
		t.Fatalf("want a text and an HTML part: %+v", p)
	}
	return p
}

// waitMail waits until n messages have arrived for address and returns them parsed, oldest
// first.
func waitMail(t testing.TB, s *smtpServer, address string, n int) []parsed {
	t.Helper()
	expect.Within(t, 20*time.Second, func() error {
		if got := len(s.to(address)); got < n {
			return fmt.Errorf("%d messages for %s, want %d", got, address, n)
		}
		return nil
	})
	var out []parsed
	for _, m := range s.to(address) {
		out = append(out, parse(t, m))
	}
	return out
}

func contains(t testing.TB, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

func TestEmailsOverSMTPInTheCustomersLanguage(t *testing.T) {
	e := newEnv(t)
	srv := startSMTP(t, "127.0.0.1:0")
	cfg := fast()
	cfg.SMTPURL = smtpURL(srv.addr)
	e.start(cfg)

	const link = "http://shop.test/verify-email?token=S3CRET-T0KEN-abc"
	jurgen := e.customer("Jürgen", "juergen@example.com", "de-AT", link)
	verify := waitMail(t, srv, "juergen@example.com", 1)[0]
	if verify.subject != "Bitte bestätigen Sie Ihre E-Mail-Adresse" {
		t.Errorf("subject %q", verify.subject)
	}
	contains(t, "verification text", verify.text, "Hallo Jürgen,", link)
	contains(t, "verification html", verify.html, `<html lang="de">`, `href="http://shop.test/verify-email?token=S3CRET-T0KEN-abc"`)

	order := e.paid(jurgen, 246912)
	got := waitMail(t, srv, "juergen@example.com", 2)[1]
	ref := order.OrderID[len(order.OrderID)-8:]
	if got.subject != "Ihre Bestellung "+ref+" ist bestätigt" {
		t.Errorf("subject %q", got.subject)
	}
	contains(t, "German text", got.text, "Hallo Jürgen,", "2 × HP-1000  1.234,56\u00a0€", "Gesamtbetrag: 2.469,12\u00a0€")
	contains(t, "German html", got.html, "1.234,56\u00a0€", "Gesamtbetrag: 2.469,12\u00a0€")
	if to, err := got.header.AddressList("To"); err != nil || to[0].Name != "Jürgen" || to[0].Address != "juergen@example.com" {
		t.Errorf("To %v, %v", to, err)
	}
	if _, err := got.header.Date(); err != nil || got.header.Get("Message-ID") == "" || got.header.Get("Content-Language") != "de" ||
		got.header.Get("MIME-Version") != "1.0" {
		t.Errorf("headers %v (%v)", got.header, err)
	}

	ada := e.customer("Ada", "ada@example.com", "en-GB", "")
	e.paid(ada, 246912)
	contains(t, "English text", waitMail(t, srv, "ada@example.com", 1)[0].text, "Hello Ada,", "€1,234.56", "Total: €2,469.12")
	zoe := e.customer("Zoé", "zoe@example.com", "fr-CA", "")
	e.paid(zoe, 246912)
	fr := waitMail(t, srv, "zoe@example.com", 1)[0]
	contains(t, "French text", fr.text, "Bonjour Zoé,", "1\u202f234,56\u00a0€", "Total : 2\u202f469,12\u00a0€")
	if !strings.HasPrefix(fr.subject, "Votre commande ") {
		t.Errorf("French subject %q", fr.subject)
	}

	t.Run("the customer's list shows what was sent", func(t *testing.T) {
		page, err := subjects.NotificationList.Call(e.as(jurgen, subjects.RoleCustomer), e.nc, subjects.ListRequest{})
		if err != nil || len(page.Items) != 2 {
			t.Fatalf("list: %+v, %v", page, err)
		}
		for i, want := range []struct{ template, subject string }{{TemplateOrderConfirmation, got.subject}, {TemplateVerifyEmail, verify.subject}} {
			n := page.Items[i]
			if n.Template != want.template || n.Channel != subjects.ChannelEmail || n.Status != subjects.DeliverySent || n.SentAt == nil {
				t.Errorf("item %d: %+v, want %s sent", i, n, want.template)
			}
			if n.Lang != "de" || n.Subject != want.subject {
				t.Errorf("item %d in %q, subject %q; want de, %q", i, n.Lang, n.Subject, want.subject)
			}
		}
		first, err := subjects.NotificationList.Call(e.as(jurgen, subjects.RoleCustomer), e.nc, subjects.ListRequest{Limit: 1})
		if err != nil || len(first.Items) != 1 || first.NextCursor == "" {
			t.Fatalf("page 1: %+v, %v", first, err)
		}
		second, err := subjects.NotificationList.Call(e.as(jurgen, subjects.RoleCustomer), e.nc, subjects.ListRequest{Limit: 1, Cursor: first.NextCursor})
		if err != nil || len(second.Items) != 1 || second.Items[0].Template != TemplateVerifyEmail || second.NextCursor != "" {
			t.Fatalf("page 2: %+v, %v", second, err)
		}
		other, err := subjects.NotificationList.Call(e.as(newID(), subjects.RoleCustomer), e.nc, subjects.ListRequest{})
		if err != nil || len(other.Items) != 0 {
			t.Fatalf("another customer sees %+v, %v", other, err)
		}
		_, err = subjects.NotificationList.Call(e.as(newID(), subjects.RoleCustomer), e.nc, subjects.ListRequest{Cursor: first.NextCursor})
		expect.Error(t, err, 400, "validation", "cursor") // a cursor is bound to its customer's list
	})

	t.Run("bad input is refused with the field named", func(t *testing.T) {
		_, err := subjects.NotificationList.Call(e.ctx, e.nc, subjects.ListRequest{})
		expect.Error(t, err, 401, "", "")
		me := e.as(jurgen, subjects.RoleCustomer)
		_, err = subjects.NotificationList.Call(me, e.nc, subjects.ListRequest{Limit: 101})
		expect.Error(t, err, 400, "validation", "limit")
		_, err = subjects.NotificationList.Call(me, e.nc, subjects.ListRequest{Cursor: "not a cursor!"})
		expect.Error(t, err, 400, "validation", "cursor")
	})

	t.Run("no secret is logged or kept", func(t *testing.T) {
		log := e.log.String()
		for _, secret := range []string{smtpPass, "S3CRET-T0KEN-abc"} {
			if strings.Contains(log, secret) {
				t.Errorf("the log holds %q", secret)
			}
		}
		var payload string
		if err := e.db.QueryRow(e.ctx, `select convert_from(payload, 'UTF8') from notify.deliveries where template = 'verify_email'`).Scan(&payload); err != nil || payload != "{}" {
			t.Errorf("the sent verification's payload is %q (%v), want it wiped", payload, err)
		}
	})
}

func TestSMTPServerDownThenBackSendsOnce(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0") // a port with nobody behind it, for now
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cfg := fast()
	cfg.SMTPURL = smtpURL(addr)
	e.start(cfg)

	user := e.customer("Ada", "ada@example.com", "en", "")
	order := e.paid(user, 1000)
	expect.Within(t, 20*time.Second, func() error {
		d, err := e.deliveryOf(order.EventID, subjects.ChannelEmail)
		if err != nil || d.attempts < 3 || d.status != subjects.DeliveryPending || !strings.Contains(d.lastError, "connect") {
			return fmt.Errorf("delivery %+v, %v: want three failed attempts and still pending", d, err)
		}
		return nil
	})

	srv := startSMTP(t, addr)
	d := e.waitStatus(order.EventID, subjects.ChannelEmail, subjects.DeliverySent)
	if n := len(srv.to("ada@example.com")); n != 1 {
		t.Fatalf("%d messages arrived, want 1", n)
	}
	if d.tries != d.attempts || d.lastError != "" {
		t.Fatalf("every attempt is recorded and the error cleared: %+v", d)
	}
	// Every attempt counted once, by what became of it.
	expect.Within(t, 10*time.Second, func() error { // counted just after the commit
		for outcome, want := range map[string]int{"sent": 1, "failed": d.attempts - 1, "dead": 0} {
			if got := e.inst.Counter(t, "souk_notification_emails_total", "outcome", outcome); got != float64(want) {
				return fmt.Errorf("souk_notification_emails_total{outcome=%q} = %v, want %d", outcome, got, want)
			}
		}
		return nil
	})
}

func TestDuplicateEventsSendOnce(t *testing.T) {
	e := newEnv(t)
	srv := startSMTP(t, "127.0.0.1:0")
	cfg := fast()
	cfg.SMTPURL = smtpURL(srv.addr)
	e.start(cfg)

	user := e.customer("Ada", "ada@example.com", "en", "")
	// Applied twice more: two more durables with the routes of notify-orders apply each
	// event afresh, as a redelivery or a republished copy is (notify-orders keeps no
	// processed rows: the deliveries' unique key is what makes a second time a no-op).
	names := []string{"notify-orders"}
	for i := range 2 {
		names = append(names, fmt.Sprintf("notify-orders-again-%d", i))
		e.run(&consumer.Consumer{Name: names[i+1], On: orderRoutes, Idempotent: true})
	}
	order := e.paid(user, 1000)
	for _, name := range names {
		e.k.Applied(name, order.EventID)
	}
	e.waitStatus(order.EventID, subjects.ChannelEmail, subjects.DeliverySent)
	var rows int
	if err := e.db.QueryRow(e.ctx, `select count(*) from notify.deliveries where event_id = $1`, order.EventID).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d deliveries (%v), want 1", rows, err)
	}
	// A later event is sent after the duplicates: they are long settled by then.
	later := e.paid(user, 2000)
	e.waitStatus(later.EventID, subjects.ChannelEmail, subjects.DeliverySent)
	if n := len(waitMail(t, srv, "ada@example.com", 2)); n != 2 {
		t.Fatalf("%d messages, want 2 (one per event)", n)
	}
}

func TestLogChannelWritesWhatWouldBeSentWithoutSecrets(t *testing.T) {
	e := newEnv(t)
	e.start(fast()) // no SMTP URL
	const token = "T0KEN-never-in-a-log"
	user := e.customer("Zoé", "zoe@example.com", "fr", "http://shop.test/verify-email?token="+token)
	expect.Within(t, 20*time.Second, func() error {
		if !strings.Contains(e.log.String(), "Confirmez votre adresse e-mail") {
			return errors.New("no email logged yet")
		}
		return nil
	})
	log := e.log.String()
	if strings.Contains(log, token) || !strings.Contains(log, "[redacted]") {
		t.Fatalf("the log channel leaks the link or does not say it redacted it:\n%s", log)
	}
	expect.Within(t, 10*time.Second, func() error { // the log line is written just before the row says sent
		page, err := subjects.NotificationList.Call(e.as(user, subjects.RoleCustomer), e.nc, subjects.ListRequest{})
		if err != nil || len(page.Items) != 1 || page.Items[0].Status != subjects.DeliverySent {
			return fmt.Errorf("list: %+v, %v", page, err)
		}
		return nil
	})
}
