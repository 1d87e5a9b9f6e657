package gateway

import (
	"reflect"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/souk/souk/platform/authn"
)

// PingTimeout bounds each service ping of /readyz.
const PingTimeout = time.Second

// Status is the body of /healthz and of a ready /readyz.
type Status struct {
	// Status is "ok".
	Status string `json:"status"`
}

// The operations routes: health, readiness, metrics and the API document.
func (g *Gateway) opsRoutes() []Route {
	metricsHandler := adaptor.HTTPHandler(promhttp.HandlerFor(g.deps.Registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return []Route{
		{Method: fiber.MethodGet, Path: "/healthz", Tag: "operations", Summary: "The gateway process is alive",
			Access: authn.Public, Call: Handle(healthz, reflect.TypeFor[Status](), "")},
		{Method: fiber.MethodGet, Path: "/readyz", Tag: "operations",
			Summary: "Ready when NATS is connected and every service answers its ping; 503 listing what is missing",
			Access:  authn.Public, Errors: []int{503}, Call: Handle(g.readyz, reflect.TypeFor[Status](), "")},
		{Method: fiber.MethodGet, Path: "/metrics", Tag: "operations", Summary: "Prometheus metrics",
			Access: authn.Public, Call: Handle(metricsHandler, nil, "text/plain")},
		{Method: fiber.MethodGet, Path: "/openapi.json", Tag: "operations", Summary: "This document",
			Access: authn.Public, CacheControl: "public, max-age=300", Call: Handle(g.serveOpenAPI, nil, "")},
	}
}

var statusOK = []byte(`{"status":"ok"}`)

func healthz(c *fiber.Ctx) error {
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return c.Send(statusOK)
}

// readyz answers 200 when NATS is connected and every service of deps.Services answers a
// micro ping within PingTimeout (pinged in parallel); otherwise 503 naming what is missing.
func (g *Gateway) readyz(c *fiber.Ctx) error {
	var missing []string
	if !g.deps.NC.IsConnected() {
		missing = append(missing, "nats")
	} else {
		alive := make([]bool, len(g.deps.Services))
		var wg sync.WaitGroup
		for i, name := range g.deps.Services {
			wg.Go(func() {
				_, err := g.deps.NC.Request("$SRV.PING."+name, nil, PingTimeout)
				alive[i] = err == nil
			})
		}
		wg.Wait()
		for i, ok := range alive {
			if !ok {
				missing = append(missing, g.deps.Services[i])
			}
		}
	}
	if len(missing) > 0 {
		p := toProblem(errNotReady)
		p.Detail = "not ready"
		p.Missing = missing
		p.Instance = c.Path()
		p.RequestID = stateOf(c).id
		writeProblem(c, p, 1)
		return nil
	}
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return c.Send(statusOK)
}

var errNotReady = fiber.NewError(fiber.StatusServiceUnavailable)

func (g *Gateway) serveOpenAPI(c *fiber.Ctx) error {
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return c.Send(g.openapi)
}
