package notification

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Channel sends deliveries of one kind. Send must bound its own work by ctx; an error leaves
// the delivery for another try, unless it is permanent. It returns what it sent, for the
// customer's notification list (zero for a webhook).
type Channel interface {
	Send(ctx context.Context, d Delivery) (Sent, error)
}

// Sent is what an email said: its language and subject line, kept with the delivery.
type Sent struct {
	Lang, Subject string
}

// Mail is one rendered email to one addressee.
type Mail struct {
	To mail.Address
	Rendered
	// ID makes the Message-ID: the same delivery tried again is the same message, so a
	// mail client can tell a repeat after a lost answer.
	ID string
	// Secrets are strings of the message that must not be logged (the verification link).
	Secrets []string
}

// Mailer sends an email: over SMTP, or into the log when no server is configured.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// emailChannel renders a delivery's template in its recipient's language and mails it.
type emailChannel struct {
	renderer *Renderer
	mailer   Mailer
}

func (c *emailChannel) Send(ctx context.Context, d Delivery) (Sent, error) {
	if d.Recipient == nil {
		return Sent{}, errNoRecipient
	}
	var data Data
	if err := json.Unmarshal(d.Payload, &data); err != nil {
		return Sent{}, permanent(fmt.Errorf("template data: %w", err))
	}
	data.Name = d.Recipient.Name
	msg, err := c.renderer.Render(d.Template, d.Recipient.Locale, data)
	if err != nil {
		return Sent{}, permanent(err)
	}
	to := d.Recipient.Email
	if data.To != "" {
		to = data.To
	}
	err = c.mailer.Send(ctx, Mail{To: mail.Address{Name: d.Recipient.Name, Address: to},
		Rendered: msg, ID: d.ID.String(), Secrets: data.secrets()})
	return Sent{Lang: msg.Lang, Subject: msg.Subject}, err
}

// SMTP is where email goes, parsed from SOUK_SMTP_URL:
//
//	smtp://[user[:password]@]host[:port]?from=shop@example.com   port 587 by default; STARTTLS when the server offers it
//	smtps://[user[:password]@]host[:port]?from=shop@example.com  port 465 by default; TLS from the first byte
//
// Credentials are sent only over TLS (or to localhost): net/smtp's PLAIN auth refuses
// anything else. The password is never printed (String).
type SMTP struct {
	Host     string
	Port     string
	Implicit bool
	User     string
	Password string
	From     mail.Address
}

// ParseSMTPURL parses SOUK_SMTP_URL. Its errors never contain the password.
func ParseSMTPURL(raw string) (SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTP{}, errors.New("SOUK_SMTP_URL is not a URL (smtp://user:pass@host:587?from=shop@example.com)")
	}
	s := SMTP{Host: u.Hostname(), Port: u.Port()}
	switch u.Scheme {
	case "smtp":
		s.Port = cmpOr(s.Port, "587")
	case "smtps":
		s.Port, s.Implicit = cmpOr(s.Port, "465"), true
	default:
		return SMTP{}, fmt.Errorf("SOUK_SMTP_URL: scheme %q: want smtp or smtps", u.Scheme)
	}
	if s.Host == "" {
		return SMTP{}, errors.New("SOUK_SMTP_URL: no host")
	}
	if u.User != nil {
		s.User = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	from, err := mail.ParseAddress(u.Query().Get("from"))
	if err != nil {
		return SMTP{}, errors.New("SOUK_SMTP_URL: ?from= must be the sender's address, such as shop@example.com")
	}
	s.From = *from
	return s, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// String describes the server without the password.
func (s SMTP) String() string {
	scheme := "smtp"
	if s.Implicit {
		scheme = "smtps"
	}
	user := ""
	if s.User != "" {
		user = url.User(s.User).String() + ":[redacted]@"
	}
	return scheme + "://" + user + net.JoinHostPort(s.Host, s.Port) + "?from=" + url.QueryEscape(s.From.Address)
}

// smtpMailer speaks SMTP with one server, one connection per message, the whole
// conversation bounded by timeout.
type smtpMailer struct {
	cfg     SMTP
	timeout time.Duration
	// tls is the TLS configuration (nil: the system's roots, ServerName the host).
	tls *tls.Config
}

func (m *smtpMailer) tlsConfig() *tls.Config {
	if m.tls != nil {
		c := m.tls.Clone()
		c.ServerName = cmpOr(c.ServerName, m.cfg.Host)
		return c
	}
	return &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12}
}

func (m *smtpMailer) Send(ctx context.Context, msg Mail) error {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	addr := net.JoinHostPort(m.cfg.Host, m.cfg.Port)
	var conn net.Conn
	var err error
	if m.cfg.Implicit {
		conn, err = (&tls.Dialer{Config: m.tlsConfig()}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp: connect: %w", err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline) // every read and write of the conversation
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("smtp: greeting: %w", err)
	}
	defer c.Close()
	if err := m.converse(c, msg); err != nil {
		return smtpError(err)
	}
	return nil
}

// converse runs one transaction on c: STARTTLS when offered, AUTH when configured, the
// envelope and the message.
func (m *smtpMailer) converse(c *smtp.Client, msg Mail) error {
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !m.cfg.Implicit {
		if err := c.StartTLS(m.tlsConfig()); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if m.cfg.User != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.User, m.cfg.Password, m.cfg.Host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(m.cfg.From.Address); err != nil {
		return err
	}
	if err := c.Rcpt(msg.To.Address); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	body, err := buildMessage(m.cfg.From, msg, time.Now())
	if err != nil {
		return permanent(err)
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// smtpError marks a 5xx reply to the envelope or the message as permanent (the server
// refuses it for good, RFC 5321 4.2.1); anything else may pass on another try.
func smtpError(err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 && tp.Code != 530 && tp.Code != 535 { // not auth: configuration
		return permanent(fmt.Errorf("smtp: %w", err))
	}
	return fmt.Errorf("smtp: %w", err)
}

// buildMessage writes msg as a MIME message: multipart/alternative with the text and the
// HTML, quoted-printable UTF-8, the subject and names encoded for non-ASCII.
func buildMessage(from mail.Address, msg Mail, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	domain := "souk.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok {
		domain = d
	}
	h := []struct{ k, v string }{
		{"From", from.String()},
		{"To", msg.To.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", msg.Subject)},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + msg.ID + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Language", msg.Lang},
		{"Auto-Submitted", "auto-generated"},
		{"Content-Type", `multipart/alternative; boundary="` + mw.Boundary() + `"`},
	}
	var head bytes.Buffer
	for _, f := range h {
		head.WriteString(f.k + ": " + f.v + "\r\n")
	}
	head.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", msg.Text}, {"text/html", msg.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return append(head.Bytes(), buf.Bytes()...), nil
}

// logMailer writes what would have been sent into the log, secrets redacted: the channel
// when no SMTP server is configured.
type logMailer struct {
	log zerolog.Logger
}

func (m *logMailer) Send(_ context.Context, msg Mail) error {
	text := msg.Text
	for _, s := range msg.Secrets {
		text = strings.ReplaceAll(text, s, "[redacted]")
	}
	m.log.Info().Str("to", msg.To.Address).Str("lang", msg.Lang).Str("subject", msg.Subject).Str("text", text).
		Str("message_id", msg.ID).Msg("notification: email (no SOUK_SMTP_URL: logged, not sent)")
	return nil
}
