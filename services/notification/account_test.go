package notification

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/subjects"
)

// link publishes a user event of kind evt carrying link to address for user.
func (e *env) link(evt subjects.Event[subjects.UserLink], user, address, link string) {
	e.t.Helper()
	id := newID()
	e.publish(evt.Subject(user), id, subjects.UserLink{EventID: id, OccurredAt: time.Now().UTC(), UserID: user, Email: address,
		Link: link, ExpiresAt: time.Now().Add(30 * time.Minute).UTC()})
}

// The account flows' emails, each in the customer's language, through a real SMTP server: a
// new verification link, a reset link, a change of email (the link to the new address, a
// notice to the current one) and the notice of a changed password.
func TestAccountEmailsOverSMTP(t *testing.T) {
	e := newEnv(t)
	srv := startSMTP(t, "127.0.0.1:0")
	cfg := fast()
	cfg.SMTPURL = smtpURL(srv.addr)
	e.start(cfg)

	ada := e.customer("Ada", "ada@example.com", "en", "")
	const verify = "http://shop.test/v1/auth/verify-email?token=RESENT-abc"
	e.link(subjects.EvtUserVerificationRequested, ada, "ada@example.com", verify)
	expectMail(t, srv, "ada@example.com", 1, "Confirm your email address", []string{"Hello Ada,", verify}, `href="`+verify+`"`)

	zoe := e.customer("Zoé", "zoe@example.com", "fr-CA", "")
	const reset = "http://shop.test/reset-password?token=RESET-xyz"
	e.link(subjects.EvtUserPasswordResetRequested, zoe, "zoe@example.com", reset)
	expectMail(t, srv, "zoe@example.com", 1, "Réinitialisez votre mot de passe", []string{"Bonjour Zoé,", reset, "30 minutes"},
		`href="`+reset+`"`, `<html lang="fr">`)

	jurgen := e.customer("Jürgen", "juergen@example.com", "de", "")
	const change = "http://shop.test/v1/auth/verify-email?token=CHANGE-123"
	e.link(subjects.EvtUserEmailChangeRequested, jurgen, "neu@example.org", change)
	expectMail(t, srv, "neu@example.org", 1, "Bitte bestätigen Sie Ihre neue E-Mail-Adresse", []string{"Hallo Jürgen,", change}, `href="`+change+`"`)
	notice := expectMail(t, srv, "juergen@example.com", 1, "Eine Änderung Ihrer E-Mail-Adresse wurde angefordert", []string{"n***@example.org"})
	if strings.Contains(notice.text+notice.html, "CHANGE-123") || strings.Contains(notice.text, "neu@example.org") {
		t.Errorf("the notice to the old address carries the link or the new address:\n%s", notice.text)
	}

	ev := newID()
	e.publish(subjects.EvtUserPasswordChanged.Subject(ada), ev, subjects.UserPasswordChanged{EventID: ev, OccurredAt: time.Now().UTC(),
		UserID: ada, Reason: subjects.PasswordChangedByReset})
	expectMail(t, srv, "ada@example.com", 2, "Your password was changed", []string{"reset with a link sent to this address"})

	// Once sent, no delivery keeps a link.
	expect.Within(t, 10*time.Second, func() error {
		var n int
		err := e.db.QueryRow(e.ctx, `select count(*) from notify.deliveries where convert_from(payload, 'UTF8') like '%token=%'`).Scan(&n)
		if err == nil && n != 0 {
			return errors.New("a sent delivery still holds its link")
		}
		return err
	})
}

// expectMail waits for the nth message to address and checks its subject, that its text
// holds each of texts and its HTML each of htmls; it returns the message.
func expectMail(t *testing.T, srv *smtpServer, address string, n int, subject string, texts []string, htmls ...string) parsed {
	t.Helper()
	m := waitMail(t, srv, address, n)[n-1]
	if m.subject != subject {
		t.Errorf("subject %q, want %q", m.subject, subject)
	}
	contains(t, subject+" (text)", m.text, texts...)
	contains(t, subject+" (html)", m.html, htmls...)
	return m
}

func TestLogChannelRedactsResetLinks(t *testing.T) {
	e := newEnv(t)
	e.start(fast()) // no SMTP URL
	const token = "R3SET-never-in-a-log"
	user := e.customer("Ada", "ada@example.com", "en", "")
	e.link(subjects.EvtUserPasswordResetRequested, user, "ada@example.com", "http://shop.test/reset-password?token="+token)
	expect.Within(t, 20*time.Second, func() error {
		if !strings.Contains(e.log.String(), "Reset your password") {
			return errors.New("no email logged yet")
		}
		return nil
	})
	if log := e.log.String(); strings.Contains(log, token) || !strings.Contains(log, "[redacted]") {
		t.Fatalf("the log channel leaks the reset link:\n%s", log)
	}
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{"neu@example.org": "n***@example.org", "élise@exemple.fr": "é***@exemple.fr", "bad": "***"} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
