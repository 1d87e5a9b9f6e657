package notification

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"

	"github.com/souk/souk/subjects"
)

// lookupTimeout bounds the DNS lookup of a webhook's host at registration.
const lookupTimeout = 5 * time.Second

// egress is the rule for where webhooks may go: public addresses only, unless
// Config.AllowPrivateWebhooks. It is applied twice: to the URL at registration (an IP
// literal, or every address its name resolves to), and to the address each connection of a
// delivery actually dials (net.Dialer.Control), so that a DNS answer that changed since
// (rebinding) cannot reach an internal address either.
//
// The refused ranges are code.dny.dev/ssrf's, generated from IANA's special-purpose
// registries: for IPv4 this network (0/8), private (RFC 1918), shared CGNAT (100.64/10),
// loopback, link-local (169.254/16, cloud metadata), IETF and documentation ranges,
// benchmarking (198.18/15), multicast and reserved (240/4, broadcast included); for IPv6
// everything outside global unicast 2000::/3 (loopback, unspecified, IPv4-mapped and
// -compatible, NAT64, ULA fc00::/7, link-local, multicast) and the special ranges inside it
// (documentation, 6to4 and Teredo, which embed IPv4 addresses).
type egress struct {
	// allowPrivate turns the address rule off (development: receivers on loopback).
	allowPrivate bool
	resolver     *net.Resolver
	guard        *ssrf.Guardian
}

func newEgress(allowPrivate bool, resolver *net.Resolver) *egress {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	// Any port: receivers listen where they like; the address is what matters.
	return &egress{allowPrivate: allowPrivate, resolver: resolver, guard: ssrf.New(ssrf.WithAnyPort())}
}

// errPrivate is an address the rule refuses.
var errPrivate = errors.New("refused: private address")

// allowed reports whether a may be dialed: errPrivate when it is in a refused range. An
// IPv4 address in IPv6 form is judged as the IPv4 address it is; a scoped (zoned) address
// is refused, since it only means something on this host's link.
func (e *egress) allowed(a netip.Addr) error {
	if e.allowPrivate {
		return nil
	}
	if !a.IsValid() || a.Zone() != "" || e.guard.SafeAddr(a.Unmap()) != nil {
		return errPrivate
	}
	return nil
}

// control is the dialer's check of the address about to be connected to, after DNS.
func (e *egress) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || (network != "tcp4" && network != "tcp6") {
		return errPrivate
	}
	return e.allowed(ap.Addr())
}

// checkURL checks where a registration's URL (already checked to be an absolute http(s) URL)
// points: a 400 on `url` when its host is an address the rule refuses, a name that is no
// public DNS name, or a name that does not resolve or has an address the rule refuses. The
// lookup is bounded by lookupTimeout.
func (e *egress) checkURL(ctx context.Context, raw string) error {
	if e.allowPrivate {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return subjects.BadRequest("url", "must be an absolute http or https URL")
	}
	if p := e.hostProblem(ctx, strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))); p != "" {
		return subjects.BadRequest("url", p)
	}
	return nil
}

// hostProblem is what is wrong with a webhook's host, "" when nothing is.
func (e *egress) hostProblem(ctx context.Context, host string) string {
	if a, err := netip.ParseAddr(host); err == nil {
		if e.allowed(a) != nil {
			return "must not be a loopback, private, link-local or otherwise internal address"
		}
		return ""
	}
	if p := nameProblem(host); p != "" {
		return p
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := e.resolver.LookupNetIP(ctx, "ip", host)
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound, err == nil && len(addrs) == 0:
		return "its host name does not resolve"
	case err != nil:
		// The name's servers failed or did not answer in time: the name is the client's.
		return "its host name could not be resolved; try again if it should"
	}
	for _, a := range addrs {
		if e.allowed(a) != nil {
			return "its host name resolves to a loopback, private, link-local or otherwise internal address"
		}
	}
	return ""
}

// localSuffixes are names that only mean something inside a network or on this host.
var localSuffixes = []string{".localhost", ".local", ".internal", ".home.arpa", ".lan", ".localdomain"}

// nameProblem refuses host names that are no public DNS names: a single label (such as
// "localhost" or a cluster's service name), a local suffix, and numbers that are not in
// standard form but that some resolvers read as an IPv4 address ("2130706433",
// "0177.0.0.1", "0x7f.1", "127.1"): no top-level domain is numeric, so such a name is never a
// public one.
func nameProblem(host string) string {
	last := host[strings.LastIndexByte(host, '.')+1:]
	switch {
	case isNumeric(last):
		return "must be a DNS name or an IP address in standard form"
	case !strings.Contains(host, "."):
		return "must be a public DNS name, not a single-label name such as localhost"
	}
	for _, s := range localSuffixes {
		if strings.HasSuffix(host, s) {
			return "must be a public DNS name, not a name under " + s
		}
	}
	return ""
}

// isNumeric reports whether label is a number as inet_aton reads one: decimal, octal or
// 0x hexadecimal.
func isNumeric(label string) bool {
	digits := "0123456789"
	if l := strings.TrimPrefix(strings.TrimPrefix(label, "0x"), "0X"); l != label {
		label, digits = l, "0123456789abcdefABCDEF"
	}
	return strings.Trim(label, digits) == ""
}

// client is the HTTP client of deliveries: every connection's address is checked after DNS
// (Control), no proxy from the environment (a proxy would dial for us, unchecked),
// redirects are not followed (a 3xx is a failed attempt: following one would mean checking
// each hop, and a receiver has no reason to move), and every step is bounded by timeout.
func (e *egress) client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Resolver: e.resolver}
	if !e.allowPrivate {
		d.Control = e.control
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            d.DialContext,
			TLSHandshakeTimeout:    timeout,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: 64 << 10,
			MaxIdleConnsPerHost:    2,
			IdleConnTimeout:        90 * time.Second,
			ForceAttemptHTTP2:      true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
