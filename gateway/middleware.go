package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/souk/souk/platform/trace"
)

// HeaderRequestID is the HTTP header that carries the request id in and out.
const HeaderRequestID = "X-Request-Id"

// state is what the gateway knows about one request; pooled, so a request costs no
// allocation for it.
type state struct {
	id string
	// addr is the client address (see clientAddr) and ip its text, both set when first used.
	addr    net.IP
	ip      string
	route   *Route
	metrics *routeMetrics
	// edge is set when the edge middleware runs this request (it logs and measures it).
	edge bool
	// ctx carries the request's server span (see traced): the calls it makes are its
	// children. Nil before edge runs; see stateOf.
	ctx context.Context
	// idBuf holds a generated request id while it is built.
	idBuf [40]byte
}

var statePool = sync.Pool{New: func() any { return new(state) }}

type stateKey struct{}

// stateOf returns the request's state; a fresh one for a request that never passed edge
// (Fiber's server-level errors, such as a body over the limit).
func stateOf(c *fiber.Ctx) *state {
	if st, ok := c.Locals(stateKey{}).(*state); ok {
		return st
	}
	st := &state{ctx: context.Background()}
	st.id = requestID(c, st)
	c.Locals(stateKey{}, st)
	return st
}

// clientAddr is the TCP peer, or with trustProxy the last X-Forwarded-For entry: the address
// our one trusted proxy saw. Entries before it are whatever the client claimed. The bytes are
// the limiter key: no string is made for it.
func (st *state) clientAddr(c *fiber.Ctx, trustProxy bool) net.IP {
	if st.addr != nil {
		return st.addr
	}
	if trustProxy {
		xff := c.Get(fiber.HeaderXForwardedFor)
		if i := strings.LastIndexByte(xff, ','); i >= 0 {
			xff = xff[i+1:]
		}
		if ip := net.ParseIP(strings.TrimSpace(xff)); ip != nil {
			st.addr = ip
			return ip
		}
	}
	st.addr = c.Context().RemoteIP()
	return st.addr
}

// clientIP is clientAddr as text, for logs.
func (st *state) clientIP(c *fiber.Ctx, trustProxy bool) string {
	if st.ip == "" {
		st.ip = st.clientAddr(c, trustProxy).String()
	}
	return st.ip
}

// edge is the outermost middleware: request id, security headers, panic recovery, the error
// answer, metrics and the access log. It handles errors itself, so that what it measures and
// logs is the final status.
func (g *Gateway) edge(c *fiber.Ctx) error {
	start := time.Now()
	st := statePool.Get().(*state)
	st.id = requestID(c, st)
	st.edge = true
	c.Locals(stateKey{}, st)
	h := &c.Response().Header
	h.Set(HeaderRequestID, st.id)
	setSecurityHeaders(h)

	span := g.traced(c, st)
	if err := g.next(c); err != nil {
		_ = g.errorHandler(c, err) // it never fails: it only writes the response
	}

	status := c.Response().StatusCode()
	elapsed := time.Since(start)
	label := "unmatched"
	if st.metrics != nil {
		label = st.route.Path
	}
	endSpan(span, c, label, status)
	if st.metrics != nil {
		st.metrics.observe(status, elapsed)
	} else {
		method := methodLabel(c.Method())
		g.red.Requests.WithLabelValues(method, label, statusLabel(status)).Inc()
		g.red.Duration.WithLabelValues(method, label).Observe(elapsed.Seconds())
	}
	if ev := g.deps.Log.Info(); ev != nil { // nil when info is off: skip building the fields
		ev = ev.Str("method", c.Method()).
			Str("route", label).
			Int("status", status).
			Dur("duration", elapsed).
			Str("request_id", st.id).
			Str("ip", st.clientIP(c, g.cfg.TrustProxy))
		trace.Fields(st.ctx, ev).Msg("http request")
	}

	c.Locals(stateKey{}, nil)
	*st = state{}
	statePool.Put(st)
	return nil
}

// panicError is a recovered panic; the error handler logs it with its stack.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// next runs the rest of the chain and turns a panic into a 500.
func (g *Gateway) next(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return c.Next()
}

// securityHeaders are the names and values setSecurityHeaders sets, as bytes once: the names
// are canonical already, so no answer pays for normalising and copying them again.
var securityHeaders = func() (kv [][2][]byte) {
	for _, h := range [][2]string{
		{fiber.HeaderXContentTypeOptions, "nosniff"},
		{fiber.HeaderXFrameOptions, "DENY"},
		{fiber.HeaderReferrerPolicy, "no-referrer"},
		{fiber.HeaderContentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'"},
		{fiber.HeaderStrictTransportSecurity, "max-age=63072000; includeSubDomains"},
		{fiber.HeaderCacheControl, "no-store"},
	} {
		kv = append(kv, [2][]byte{[]byte(h[0]), []byte(h[1])})
	}
	return kv
}()

func setSecurityHeaders(h *fasthttp.ResponseHeader) {
	for _, kv := range securityHeaders {
		h.SetCanonical(kv[0], kv[1])
	}
}

// limitIP is the per-client-IP bucket every request spends from.
func (g *Gateway) limitIP(c *fiber.Ctx) error {
	if err := g.limits.ip.allowBytes(stateOf(c).clientAddr(c, g.cfg.TrustProxy)); err != nil {
		return err
	}
	return c.Next()
}

// Request ids: an incoming sane X-Request-Id is kept; otherwise the id is a per-process random
// prefix and a counter, unique across instances without a random read per request.
var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

func requestID(c *fiber.Ctx, st *state) string {
	if in := c.Get(HeaderRequestID); saneRequestID(in) {
		return strings.Clone(in) // c.Get's string is only valid during the request
	}
	b := append(st.idBuf[:0], idPrefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, idCounter.Add(1), 36)
	return string(b)
}

// saneRequestID accepts 1..64 characters of [A-Za-z0-9._-].
func saneRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// routeMetrics are a route's RED instruments, resolved once at registration.
type routeMetrics struct {
	inFlight prometheus.Gauge
	duration prometheus.Observer
	requests *prometheus.CounterVec // curried with method and route; code varies
	// ok counts the route's success status.
	ok       prometheus.Counter
	okStatus int
}

func (g *Gateway) routeMetrics(rt *Route) *routeMetrics {
	labels := prometheus.Labels{"method": rt.Method, "route": rt.Path}
	m := &routeMetrics{
		inFlight: g.red.InFlight.With(labels),
		duration: g.red.Duration.With(labels),
		requests: g.red.Requests.MustCurryWith(labels),
		okStatus: rt.status(),
	}
	m.ok = m.requests.WithLabelValues(statusLabel(m.okStatus))
	return m
}

func (m *routeMetrics) observe(status int, elapsed time.Duration) {
	if status == m.okStatus {
		m.ok.Inc() // the common case, without a label lookup
	} else {
		m.requests.WithLabelValues(statusLabel(status)).Inc()
	}
	m.duration.Observe(elapsed.Seconds())
}

// methodLabel returns the constant of Fiber's method list equal to method. c.Method() is a
// view of the request's buffer, which fasthttp reuses: kept as a metric label it would
// change under the series (a GET counted as a PUT once the buffer held the next request).
func methodLabel(method string) string {
	for _, m := range fiber.DefaultMethods {
		if method == m {
			return m
		}
	}
	return "OTHER"
}

// statusLabels holds the code label of every status, so counting allocates nothing.
var statusLabels = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return strconv.Itoa(code)
}
