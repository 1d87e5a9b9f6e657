package gateway

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

// PingTimeout bounds the wait of /readyz for a service's first instance to answer.
const PingTimeout = time.Second

// StatsWindow is how long /readyz waits, after a service's first instance answered, for the
// others: instances on one NATS cluster answer within milliseconds of each other.
const StatsWindow = 100 * time.Millisecond

// Status is the body of /healthz and of a ready /readyz.
type Status struct {
	// Status is "ok".
	Status string `json:"status" required:"true"`
}

// The operations routes: health, readiness, metrics and the API document.
func (g *Gateway) opsRoutes() []Route {
	metricsHandler := adaptor.HTTPHandler(promhttp.HandlerFor(g.deps.Registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return []Route{
		{Method: fiber.MethodGet, Path: "/healthz", Tag: "operations", Summary: "The gateway process is alive",
			Access: subjects.Public, Call: Handle(healthz, reflect.TypeFor[Status](), "")},
		{Method: fiber.MethodGet, Path: "/readyz", Tag: "operations",
			Summary: "Ready when NATS is connected, every service answers and none has a background loop down; 503 listing what is missing",
			Access:  subjects.Public, Errors: []int{503}, Call: Handle(g.readyz, reflect.TypeFor[Status](), "")},
		{Method: fiber.MethodGet, Path: "/metrics", Tag: "operations", Summary: "Prometheus metrics",
			Description: "The process's metrics in the Prometheus text format: HTTP and NATS request rates, errors and durations, loops, outbox and consumers.",
			Access:      subjects.Public, Call: Handle(metricsHandler, nil, "text/plain")},
		{Method: fiber.MethodGet, Path: "/openapi.json", Tag: "operations", Summary: "This document",
			Access: subjects.Public, CacheControl: "public, max-age=300", Call: Handle(g.serveOpenAPI, nil, "")},
	}
}

var statusOK = []byte(`{"status":"ok"}`)

// healthz answers 200 while the gateway process runs; it asks nothing of NATS or the
// services (that is /readyz).
func healthz(c *fiber.Ctx) error {
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return c.Send(statusOK)
}

// readyz answers 200 when NATS is connected, every service of deps.Services answers, and no
// instance of any has a background loop down; otherwise 503 naming what is missing: the
// service that does not answer, or "<service>: <loop> down". A service that answers requests
// while its consumer is gone would take orders nobody processes, so it is not ready.
func (g *Gateway) readyz(c *fiber.Ctx) error {
	var missing []string
	if g.deps.Verifier.Ready() != nil {
		missing = append(missing, "gateway: revocations not loaded") // every token is refused meanwhile
	}
	if !g.deps.NC.IsConnected() {
		missing = append(missing, "nats")
	} else {
		found := make([][]string, len(g.deps.Services))
		var wg sync.WaitGroup
		for i, name := range g.deps.Services {
			wg.Go(func() { found[i] = g.serviceMissing(name) })
		}
		wg.Wait()
		for _, f := range found {
			missing = append(missing, f...)
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

// serviceMissing asks every instance of service name for its micro stats ($SRV.STATS
// reaches them all; $SRV.PING would too, but says nothing of the loops) and returns what
// keeps it from being ready: its name when no instance answers within PingTimeout, else
// "<name>: <loop> down" for each loop down in any instance. Replies are collected for
// StatsWindow after the first, the time other instances get to answer.
func (g *Gateway) serviceMissing(name string) []string {
	nc := g.deps.NC
	sub, err := nc.SubscribeSync(nc.NewRespInbox())
	if err != nil {
		return []string{name}
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$SRV.STATS."+name, sub.Subject, nil); err != nil {
		return []string{name}
	}
	deadline := time.Now().Add(PingTimeout)
	answered := false
	down := map[string]bool{}
	for {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil || (len(msg.Data) == 0 && msg.Header.Get("Status") == "503") {
			break // the window closed, or the server says no instance listens
		}
		if !answered {
			answered = true
			deadline = time.Now().Add(StatsWindow)
		}
		for _, loop := range loopsDown(msg.Data) {
			down[name+": "+loop+" down"] = true
		}
	}
	if !answered {
		return []string{name}
	}
	return slices.Sorted(maps.Keys(down))
}

// loopsDown reads the loops that are down from one instance's $SRV.STATS reply: the data of
// its rpc.LoopsEndpoint. A service without loops has no such endpoint and nothing down.
func loopsDown(stats []byte) []string {
	var st micro.Stats
	if json.Unmarshal(stats, &st) != nil {
		return nil
	}
	for _, ep := range st.Endpoints {
		if ep.Name != rpc.LoopsEndpoint {
			continue
		}
		var l rpc.Loops
		if json.Unmarshal(ep.Data, &l) != nil {
			return []string{"loops unreadable"}
		}
		return l.Down
	}
	return nil
}

var errNotReady = fiber.NewError(fiber.StatusServiceUnavailable)

// serveOpenAPI answers this OpenAPI 3.1 document, built from the route table when the gateway
// starts.
func (g *Gateway) serveOpenAPI(c *fiber.Ctx) error {
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return c.Send(g.openapi)
}
