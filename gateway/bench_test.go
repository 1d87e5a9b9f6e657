package gateway_test

import (
	"net"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/subjects"
)

// Benchmarks of an anonymous read through the gateway against the bare chain of docs/architecture.md's
// target (Fiber → NATS request → in-memory reply), both over an in-memory listener:
//
//	go test -run '^$' -bench . -benchmem ./gateway/
func BenchmarkGatewayAnonymousRead(b *testing.B) {
	h := newHarness(b, gateway.Config{})
	benchServe(b, h.nc)
	h.g = mustNew(b, h)
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = h.g.Serve(ln) }()
	b.Cleanup(func() { _ = h.g.App().Shutdown() })
	benchGet(b, ln, "/.well-known/jwks.json")
}

// BenchmarkGatewayProductRead is the anonymous product read, GET /v1/products/{id}: a
// request bound from the path and encoded per request, where the JWKS read's is static.
func BenchmarkGatewayProductRead(b *testing.B) {
	h := newHarness(b, gateway.Config{})
	benchServeSubject(b, h.nc, subjects.ProductGet.Subject)
	h.g = mustNew(b, h)
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = h.g.Serve(ln) }()
	b.Cleanup(func() { _ = h.g.App().Shutdown() })
	benchGet(b, ln, "/v1/products/0190c0de-0000-7000-8000-000000000001")
}

func BenchmarkBareFiberNATS(b *testing.B) {
	h := newHarness(b, gateway.Config{})
	benchServe(b, h.nc)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/mem", func(c *fiber.Ctx) error {
		msg, err := h.nc.Request(subjects.AuthJWKS.Subject, nil, time.Second)
		if err != nil {
			return err
		}
		c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
		return c.Send(msg.Data)
	})
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = app.Listener(ln) }()
	b.Cleanup(func() { _ = app.Shutdown() })
	benchGet(b, ln, "/mem")
}

func mustNew(b *testing.B, h *harness) *gateway.Gateway {
	deps := depsFor(h.nc)
	deps.Log = zerolog.Nop()
	g, err := gateway.New(gateway.Config{RateLimit: unlimited}, deps)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

func benchServe(b *testing.B, nc *nats.Conn) { benchServeSubject(b, nc, subjects.AuthJWKS.Subject) }

// benchServeSubject answers subject from memory, as the bare chain's service does.
func benchServeSubject(b *testing.B, nc *nats.Conn, subject string) {
	reply := []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	svc, err := micro.AddService(nc, micro.Config{Name: "bench", Version: "0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Stop() })
	if err := svc.AddEndpoint("read", micro.HandlerFunc(func(r micro.Request) { _ = r.Respond(reply) }),
		micro.WithEndpointSubject(subject)); err != nil {
		b.Fatal(err)
	}
}

func benchGet(b *testing.B, ln *fasthttputil.InmemoryListener, path string) {
	client := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }, MaxConnsPerHost: 64}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(res)
		req.SetRequestURI("http://gw" + path)
		for pb.Next() {
			if err := client.Do(req, res); err != nil || res.StatusCode() != 200 {
				b.Fatalf("%v %d %s", err, res.StatusCode(), res.Body())
			}
		}
	})
}
