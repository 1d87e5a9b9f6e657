package notification

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/subjects"
)

// env is kittest's harness (a database cloned with this service's schema, an embedded NATS
// server, test keys the service trusts) on which the notification service runs as cmd/souk
// runs it. Events are published onto the streams as the other services' outbox relays would.
type env struct {
	k     *kittest.Env
	t     testing.TB
	ctx   context.Context
	db    *pgxpool.Pool
	nc    *nats.Conn
	js    jetstream.JetStream
	log   *logtest.Buffer
	admin context.Context
	// inst is the service's instance once started, for its counters.
	inst *kittest.Instance
}

// schemas is the template of the tests' databases: the service's schema, migrated once.
var schemas = sync.OnceValue(func() pgtest.Template {
	return kittest.Schemas("notification", func(d kit.Deps) (kit.Service, error) { return Service(fast(), d) })
})

func newEnv(t testing.TB) *env {
	t.Helper()
	k := kittest.New(t, schemas())
	e := &env{k: k, t: t, ctx: k.Ctx, db: k.DB, nc: k.NC, js: k.JS, log: &logtest.Buffer{}, admin: k.Admin}
	k.Log = zerolog.New(e.log)
	return e
}

func newID() string { return kittest.NewID() }

// as returns a context whose calls carry a token of sub with roles.
func (e *env) as(sub string, roles ...string) context.Context { return e.k.As(sub, roles...) }

// fast is a configuration whose retries come quickly, sealing with testSeal.
func fast() Config {
	return Config{RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, Poll: 20 * time.Millisecond, SendTimeout: 3 * time.Second,
		Seal: testSeal()}
}

// start runs the service and waits until it answers.
func (e *env) start(cfg Config) {
	e.t.Helper()
	e.t.Cleanup(func() {
		if e.t.Failed() {
			e.t.Logf("service log:\n%s", e.log.String())
		}
	})
	e.inst = e.k.Start(func(d kit.Deps) (kit.Service, error) { return Service(cfg, d) }, func() error {
		_, err := subjects.WebhookList.Call(e.admin, e.nc, subjects.ListRequest{Limit: 1})
		return err
	})
}

// run runs c, a consumer of this service's, on the env's database and streams until the test
// ends or it is stopped, and waits until its durable exists: it takes every event published
// from then on, and those before that it has not taken yet.
func (e *env) run(c *consumer.Consumer) *expect.Running {
	e.t.Helper()
	c.Schema, c.DB, c.JS, c.Log = Schema, e.db, e.js, zerolog.New(e.log)
	r := expect.Start(e.t, c.Run)
	expect.Within(e.t, 10*time.Second, func() error {
		_, err := e.js.Consumer(e.ctx, c.StreamName(), c.Name)
		return err
	})
	return r
}

// deadLetter waits for a dead letter of the durable consumer of stream and returns the last.
func (e *env) deadLetter(stream, consumer string) *jetstream.RawStreamMsg {
	e.t.Helper()
	var m *jetstream.RawStreamMsg
	expect.Within(e.t, 10*time.Second, func() error {
		s, err := e.js.Stream(e.ctx, subjects.StreamDLQ)
		if err != nil {
			return err
		}
		m, err = s.GetLastMsgForSubject(e.ctx, subjects.DLQSubject(stream, consumer))
		return err
	})
	return m
}

// publish publishes an event with msgID as Nats-Msg-Id, as an outbox relay would.
func (e *env) publish(subject, msgID string, payload any) {
	e.t.Helper()
	e.k.Publish(subject, msgID, payload)
}

// customer publishes the user.registered event of a new customer and returns their id.
func (e *env) customer(name, email, locale, link string) string {
	id, ev := newID(), newID()
	e.publish(subjects.EvtUserRegistered.Subject(id), ev, subjects.UserRegistered{
		EventID: ev, OccurredAt: time.Now().UTC(), UserID: id, Email: email, Name: name, Locale: locale, VerifyLink: link})
	return id
}

// paid publishes an order.paid event of user and returns the event.
func (e *env) paid(user string, total int64) subjects.OrderPaid {
	ev := subjects.OrderPaid{EventID: newID(), OccurredAt: time.Now().UTC(), OrderID: newID(), UserID: user, Status: subjects.OrderStatusPaid,
		Lines: []subjects.OrderLine{{ProductID: newID(), SKU: "HP-1000", Quantity: 2, UnitPrice: subjects.Money{Amount: total / 2, Currency: "EUR"}}},
		Total: subjects.Money{Amount: total, Currency: "EUR"}}
	e.publish(subjects.EvtOrderPaid.Subject(ev.OrderID), ev.EventID, ev)
	return ev
}

// delivery is a delivery's row as the tests look at it.
type delivery struct {
	status, lastError string
	attempts, tries   int
}

// deliveryOf returns the delivery of event on channel.
func (e *env) deliveryOf(eventID, channel string) (delivery, error) {
	var d delivery
	err := e.db.QueryRow(e.ctx, `select status, last_error, attempts, (select count(*) from notify.attempts a where a.delivery_id = d.id)
		from notify.deliveries d where event_id = $1 and channel = $2`, eventID, channel).Scan(&d.status, &d.lastError, &d.attempts, &d.tries)
	return d, err
}

// waitStatus waits until the delivery of event on channel has status.
func (e *env) waitStatus(eventID, channel, status string) delivery {
	e.t.Helper()
	var d delivery
	expect.Within(e.t, 20*time.Second, func() error {
		var err error
		if d, err = e.deliveryOf(eventID, channel); err != nil {
			return err
		}
		if d.status != status {
			return fmt.Errorf("delivery %+v, want %s", d, status)
		}
		return nil
	})
	return d
}

// smtpServer is a real SMTP server (emersion/go-smtp) on a loopback port that keeps what it
// receives. It wants PLAIN auth with user and pass.
type smtpServer struct {
	addr string
	srv  *smtp.Server
	mu   sync.Mutex
	got  [][]byte
}

const smtpUser, smtpPass = "souk", "s3cret-smtp-pass"

// startSMTP serves SMTP on addr ("127.0.0.1:0" for any port) until the test ends.
func startSMTP(t testing.TB, addr string) *smtpServer {
	t.Helper()
	s := &smtpServer{}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	s.srv.Domain, s.srv.AllowInsecureAuth = "mx.test", true // loopback: no TLS here
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// url is the SOUK_SMTP_URL of a server at addr.
func smtpURL(addr string) string {
	return "smtp://" + smtpUser + ":" + smtpPass + "@" + addr + "?from=shop@souk.test"
}

// messages returns what arrived so far, each freshly parsed (a body is read once).
func (s *smtpServer) messages() []*mail.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*mail.Message, 0, len(s.got))
	for _, b := range s.got {
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err == nil {
			out = append(out, m)
		}
	}
	return out
}

// to returns the messages that arrived for address.
func (s *smtpServer) to(address string) []*mail.Message {
	var out []*mail.Message
	for _, m := range s.messages() {
		if to, err := mail.ParseAddress(m.Header.Get("To")); err == nil && to.Address == address {
			out = append(out, m)
		}
	}
	return out
}

type smtpSession struct {
	s      *smtpServer
	authed bool
	rcpt   []string
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != smtpUser || pass != smtpPass {
			return errors.New("bad credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !ss.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.rcpt = append(ss.rcpt, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if _, err := mail.ReadMessage(bytes.NewReader(b)); err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.got = append(ss.s.got, b)
	ss.s.mu.Unlock()
	return nil
}

func (ss *smtpSession) Reset()        { ss.rcpt = nil }
func (ss *smtpSession) Logout() error { return nil }
