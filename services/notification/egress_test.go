package notification

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/subjects"
)

// zone is a DNS server on a loopback port whose answers the test sets and changes: what a
// webhook's host name resolves to, as the resolver of the process would ask it. A name it
// does not know is NXDOMAIN.
type zone struct {
	mu    sync.Mutex
	addrs map[string][]netip.Addr
	addr  string
}

func newZone(t testing.TB) *zone {
	t.Helper()
	z := &zone{addrs: map[string][]netip.Addr{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(z.answer), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the DNS server did not start")
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	return z
}

// set makes name resolve to addrs (none: the name exists without addresses).
func (z *zone) set(name string, addrs ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.addrs[name] = nil
	for _, a := range addrs {
		z.addrs[name] = append(z.addrs[name], netip.MustParseAddr(a))
	}
}

func (z *zone) answer(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, q := range r.Question {
		addrs, ok := z.addrs[strings.TrimSuffix(strings.ToLower(q.Name), ".")]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, a := range addrs {
			hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 0}
			switch {
			case q.Qtype == dns.TypeA && a.Is4():
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			case q.Qtype == dns.TypeAAAA && a.Is6():
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	}
	_ = w.WriteMsg(m)
}

// resolver is a resolver that asks only this zone.
func (z *zone) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", z.addr)
	}}
}

// listener is a TCP listener on loopback that counts the connections it accepts, and
// answers each with greet (nothing: it holds the connection until the test ends): at once,
// as a NATS server does, or once it has read a request's head when afterRequest.
type listener struct {
	l        net.Listener
	accepted atomic.Int32
}

func listen(t testing.TB, greet string, afterRequest bool) *listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &listener{l: l}
	var conns sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		_ = l.Close()
		conns.Wait()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			conns.Go(func() {
				defer c.Close()
				if afterRequest {
					readHead(c)
				}
				_, _ = c.Write([]byte(greet))
				<-done
			})
		}
	}()
	return s
}

// readHead reads from c until the blank line that ends an HTTP request's head, or EOF.
func readHead(c net.Conn) {
	var seen []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(seen), "\r\n\r\n") {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		seen = append(seen, buf[:n]...)
	}
}

func (s *listener) port() string {
	_, p, _ := net.SplitHostPort(s.l.Addr().String())
	return p
}

// public is a public address (example.com's) that nothing in these tests connects to.
const public, public6 = "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

// startResolving runs the service with the address rule on (the default) and its DNS
// lookups going to a zone of the test's.
func startResolving(t *testing.T) (*env, *zone) {
	e, z := newEnv(t), newZone(t)
	cfg := fast()
	cfg.Resolver = z.resolver()
	e.start(cfg)
	return e, z
}

func TestWebhookRegistrationRefusesInternalTargets(t *testing.T) {
	e, z := startResolving(t)
	z.set("hooks.example.com", public, public6)
	z.set("internal.example.com", "10.1.2.3")
	z.set("half.example.com", public, "::1")
	z.set("meta.example.com", "169.254.169.254")
	z.set("mapped.example.com", "::ffff:127.0.0.1")
	z.set("empty.example.com")

	refused := []string{
		"http://127.0.0.1/", "http://127.9.9.9:4222/", "http://10.0.0.5/", "http://172.16.3.4/", "http://192.168.1.1/",
		"http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://0.0.0.0/", "http://0.1.2.3/",
		"http://224.0.0.1/", "http://255.255.255.255/", "http://198.18.0.1/", "http://192.0.2.1/", "http://203.0.113.9/",
		"http://[::]/", "http://[::1]:8080/", "http://[fc00::1]/", "http://[fd12:3456::1]/", "http://[fe80::1%25eth0]/",
		"http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::ffff:169.254.169.254]/", "http://[64:ff9b::7f00:1]/",
		"http://[::127.0.0.1]/", "http://[2001:db8::1]/", "http://[2002:7f00:1::]/", "http://[ff02::1]/",
		"http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://127.1/", "http://017700000001/",
		"http://localhost/", "http://LOCALHOST.:8080/", "http://api.localhost/", "http://nats:4222/", "http://metadata.google.internal/",
		"http://printer.local/", "http://router.home.arpa/",
		"http://internal.example.com/", "http://half.example.com/", "http://meta.example.com/", "http://mapped.example.com/",
		"http://nowhere.example.com/", "http://empty.example.com/",
		"https://user:pw@hooks.example.com/", "https://token@hooks.example.com/", "ftp://hooks.example.com/", "file:///etc/passwd",
		"gopher://hooks.example.com/", "//hooks.example.com/", "http:///x",
	}
	for _, u := range refused {
		_, err := subjects.WebhookCreate.Call(e.admin, e.nc, subjects.WebhookCreateRequest{URL: u, Events: []string{"order.paid"}})
		if err == nil {
			t.Errorf("%s was registered", u)
			continue
		}
		expect.Error(t, err, 400, "validation", "url")
	}
	var stored int
	if err := e.db.QueryRow(e.ctx, `select count(*) from notify.webhook_endpoints`).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("%d refused endpoints stored (%v)", stored, err)
	}

	for _, u := range []string{"https://hooks.example.com/souk", "https://HOOKS.example.com.:8443/x", "http://" + public + "/", "http://[" + public6 + "]/",
		"http://[::ffff:" + public + "]/"} {
		if _, err := subjects.WebhookCreate.Call(e.admin, e.nc, subjects.WebhookCreateRequest{URL: u, Events: []string{"order.paid"}}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestWebhookRebindingRefusedAtDial(t *testing.T) {
	e, z := startResolving(t)
	target := listen(t, "HTTP/1.1 204 No Content\r\n\r\n", true)
	z.set("hooks.rebind.example", public)
	if _, err := subjects.WebhookCreate.Call(e.admin, e.nc, subjects.WebhookCreateRequest{
		URL: "http://hooks.rebind.example:" + target.port() + "/souk", Events: []string{"order.paid"}}); err != nil {
		t.Fatal(err)
	}
	z.set("hooks.rebind.example", "127.0.0.1") // the name's owner rebinds it after registration

	order := e.paid(newID(), 4200)
	d := e.waitStatus(order.EventID, subjects.ChannelWebhook, subjects.DeliveryFailed)
	if d.lastError != reasonPrivate || d.tries != DefaultMaxAttempts {
		t.Fatalf("delivery %+v, want failed with %q after %d tries", d, reasonPrivate, DefaultMaxAttempts)
	}
	if n := target.accepted.Load(); n != 0 {
		t.Fatalf("the loopback target got %d connections", n)
	}
}
