// Package rpc serves Souk's NATS micro endpoints with the parts every endpoint needs and no
// handler should write: a per-request context with the caller's deadline and metadata, token
// verification against the endpoint's Access, a bounded number of handlers in flight (excess
// is shed at once with a 503 rather than queued into a timeout), panic recovery, RED metrics,
// one log line per failure, and the error encoding of subjects.Error in the micro headers.
package rpc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// Config describes one micro service.
type Config struct {
	// Name is the micro service name, as `nats micro ls` shows it ("user", "auth", …).
	Name string
	// Version is the service's semantic version.
	Version string
	// Description is a line for operators.
	Description string
	// MaxInFlight bounds the handlers running at once in this instance; 256 when zero.
	MaxInFlight int
	// DefaultTimeout bounds a handler whose caller sent no deadline; 10 s when zero.
	DefaultTimeout time.Duration
	// SlowRequest is how long a request may take before its handling logs a warning with its
	// duration, trace_id and request_id: the line an operator finds a slow checkout's trace
	// by in every service it was slow in (`souk logs --trace`); 1 s when zero, none when
	// negative.
	SlowRequest time.Duration
	// Canary, when set, is the release label of a canary instance: every endpoint is served
	// on its canary subject (subjects.Canary), which gets only the share of requests the
	// NATS servers' weighted mapping sends there (platform/canary), and the label is in the
	// micro metadata ("canary"), so `nats micro info` and $SRV.STATS tell the instances apart.
	Canary string
}

// Deps are what a Service needs from its process.
type Deps struct {
	Log      zerolog.Logger
	NC       *nats.Conn
	Registry prometheus.Registerer
	// Verifier checks callers' tokens. Required unless every endpoint is Public.
	Verifier *authn.Verifier
	// Loops are the service's background loops, if it has any: their state is served on the
	// loops endpoint, in the micro stats (what the gateway's /readyz reads) and as the
	// souk_loop_up gauge.
	Loops *background.Group
	// Counters, when set with Loops, reads the instance's own work counters (the service
	// kit's: events its consumers applied, events its relay published), named as Prometheus
	// series; they are served with the loops, so that $SRV.STATS shows each instance's share.
	Counters func() map[string]uint64
	// Around, when set, wraps the handling of each request: it returns the context the
	// handler runs under and a func called once the handler has returned (its transaction is
	// over). The service kit kicks its outbox relay there when the request wrote events.
	Around func(ctx context.Context) (context.Context, func())
	// Metadata is shown by `nats micro info` (what the service publishes and consumes).
	Metadata map[string]string
	// Tracer makes a server span per request, the child of the caller's (the traceparent
	// header); nil is a no-op provider (see platform/trace).
	Tracer oteltrace.TracerProvider
}

// Service is a running micro service whose endpoints are added with Add.
type Service struct {
	cfg     Config
	deps    Deps
	svc     micro.Service
	red     *metrics.RED
	tracer  oteltrace.Tracer
	slots   chan struct{}
	running sync.WaitGroup
	failed  chan error
	once    sync.Once
	// uninstrument removes the loops' gauge when the service stops; a no-op without loops.
	uninstrument func()
	// endpoints are the served endpoints by micro endpoint name, for their stats.
	endpoints sync.Map
	// idle hands a request to a worker waiting for one (see work); waiting counts them, and
	// quit, closed when the service stops, ends them.
	idle     chan job
	waiting  atomic.Int32
	quit     chan struct{}
	quitOnce sync.Once
}

// job is a request a worker serves.
type job struct {
	ep *endpoint
	in inbound
}

// maxWaiting bounds the workers waiting for a request, per service: what a burst leaves
// behind beyond it ends.
const maxWaiting = 64

// Serve runs the micro service cfg until ctx ends: New, then register adds its endpoints
// (a failure stops it and is returned), then it serves and, once ctx ends, drains for up to
// 10 seconds (Wait).
func Serve(ctx context.Context, cfg Config, deps Deps, register func(*Service) error) error {
	svc, err := New(cfg, deps)
	if err != nil {
		return err
	}
	if err := register(svc); err != nil {
		_ = svc.Stop(context.Background())
		return err
	}
	deps.Log.Info().Str("service", cfg.Name).Msg("serving")
	return svc.Wait(ctx, 10*time.Second)
}

// New registers the micro service on deps.NC. Add endpoints with Add, then wait on Failed
// or stop it with Stop.
func New(cfg Config, deps Deps) (*Service, error) {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = 10 * time.Second
	}
	if cfg.SlowRequest == 0 {
		cfg.SlowRequest = time.Second
	}
	if deps.Tracer == nil {
		deps.Tracer = noop.NewTracerProvider()
	}
	s := &Service{
		tracer:       trace.Tracer(deps.Tracer),
		cfg:          cfg,
		deps:         deps,
		red:          metrics.RPC(deps.Registry),
		slots:        make(chan struct{}, cfg.MaxInFlight),
		failed:       make(chan error, 1),
		uninstrument: func() {},
		idle:         make(chan job),
		quit:         make(chan struct{}),
	}
	mc := micro.Config{
		Name:        cfg.Name,
		Version:     cfg.Version,
		Description: cfg.Description,
		Metadata:    metadata(cfg, deps),
		// micro stops the whole service on an async error such as a slow consumer; we
		// surface that to Run so the process fails loudly instead of running half-dead.
		ErrorHandler: func(_ micro.Service, e *micro.NATSError) {
			s.fail(fmt.Errorf("%s: nats error on %s: %s", cfg.Name, e.Subject, e.Description))
		},
	}
	mc.StatsHandler = s.stats
	svc, err := micro.AddService(deps.NC, mc)
	if err != nil {
		return nil, fmt.Errorf("add micro service %s: %w", cfg.Name, err)
	}
	s.svc = svc
	if deps.Loops != nil {
		if err := s.serveLoops(); err != nil {
			_ = svc.Stop()
			return nil, err
		}
	}
	return s, nil
}

// metadata is deps.Metadata with a canary's release label.
func metadata(cfg Config, deps Deps) map[string]string {
	if cfg.Canary == "" {
		return deps.Metadata
	}
	md := map[string]string{"canary": cfg.Canary}
	maps.Copy(md, deps.Metadata)
	return md
}

func (s *Service) fail(err error) {
	s.once.Do(func() {
		s.deps.Log.Error().Err(err).Str("service", s.cfg.Name).Msg("service failed")
		s.failed <- err
	})
}

// Failed delivers an error when the service stopped by itself (a NATS error).
func (s *Service) Failed() <-chan error { return s.failed }

// Fast answers a request on micro's subscription goroutine, before any handler goroutine is
// started: it must not block (a cache lookup is the model), and returns ok false to leave the
// request to the handler. It runs only for anonymous requests of public endpoints (a sent
// token is always verified, which may fetch keys), and its reply is sent as is.
type Fast func(data []byte, meta subjects.Meta) (reply []byte, ok bool)

// handle adds the endpoint of b. The micro endpoint's name is the subject's last two tokens
// ("user_register"). A fast path runs only on a public endpoint.
func (s *Service) handle(b Binding) error {
	subject, access, fast, h := b.subject, b.access, b.fast, b.h
	if !access.IsPublic() && s.deps.Verifier == nil {
		return fmt.Errorf("%s: endpoint %s needs a Verifier", s.cfg.Name, subject)
	}
	ep := &endpoint{subject: subject, access: access, h: h, log: s.deps.Log.With().Str("service", s.cfg.Name).Str("endpoint", subject).Logger(),
		inFlight: s.red.InFlight.WithLabelValues(s.cfg.Name, subject), duration: s.red.Duration.WithLabelValues(s.cfg.Name, subject),
		ok: s.red.Requests.WithLabelValues(s.cfg.Name, subject, "200"), codes: &codeCounts{}}
	if access.IsPublic() {
		ep.fast = fast
	}
	// The server span's options are the same for every request: built once, so a request
	// with tracing off pays for no option slices.
	ep.spanOpts = []oteltrace.SpanStartOption{oteltrace.WithSpanKind(oteltrace.SpanKindServer),
		oteltrace.WithAttributes(attribute.String("rpc.system", "nats"), attribute.String("rpc.service", s.cfg.Name))}
	s.endpoints.Store(endpointName(subject), ep)
	err := s.svc.AddEndpoint(endpointName(subject), micro.HandlerFunc(func(req micro.Request) {
		s.dispatch(ep, req)
	}), micro.WithEndpointSubject(s.served(subject)))
	if err != nil {
		return fmt.Errorf("%s: add endpoint %s: %w", s.cfg.Name, subject, err)
	}
	return nil
}

// endpoint is one served subject with its instruments, resolved once.
type endpoint struct {
	subject  string
	access   subjects.Access
	h        subjects.RawHandler
	fast     Fast
	log      zerolog.Logger
	inFlight prometheus.Gauge
	duration prometheus.Observer
	ok       prometheus.Counter
	// codes count this instance's requests for $SRV.STATS, as the series above do.
	codes *codeCounts
	// spanOpts start the server span of each request.
	spanOpts []oteltrace.SpanStartOption
}

// count records a finished request of code.
func (s *Service) count(ep *endpoint, code string, start time.Time) {
	s.countCode(ep, code)
	ep.duration.Observe(time.Since(start).Seconds())
}

// countCode counts a request of code in the series and in the instance's stats.
func (s *Service) countCode(ep *endpoint, code string) {
	if code == "200" {
		ep.ok.Inc()
	} else {
		s.red.Requests.WithLabelValues(s.cfg.Name, ep.subject, code).Inc()
	}
	ep.codes.add(code)
}

// served is the subject the endpoint of subject listens on: its canary subject in a canary
// instance. Metrics keep the contract's subject, so the two tracks line up on a dashboard.
func (s *Service) served(subject string) string {
	if s.cfg.Canary != "" {
		return subjects.Canary(subject)
	}
	return subject
}

func endpointName(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) >= 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, "_")
}

// dispatch runs on micro's subscription goroutine: it answers from the fast path when it
// can, else takes a slot or sheds the request, and hands it to its own goroutine so one slow
// handler does not hold the others back.
func (s *Service) dispatch(ep *endpoint, req micro.Request) {
	if ep.fast != nil {
		start := time.Now()
		header := nats.Header(req.Headers())
		if header.Get(subjects.HeaderAuthorization) == "" {
			meta, _ := subjects.ReadMeta(header)
			if reply, ok := ep.fast(req.Data(), meta); ok {
				if err := req.Respond(reply); err != nil {
					ep.log.Warn().Err(err).Msg("respond")
				}
				s.count(ep, "200", start)
				return
			}
		}
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.countCode(ep, "503")
		respondError(req, &subjects.Error{Code: 503, Slug: "overloaded", Message: s.cfg.Name + " is overloaded", RetryAfter: 1})
		return
	}
	// The worker must not touch req: micro reads its response state after this function
	// returns, so the reply goes out on the reply subject directly.
	j := job{ep: ep, in: inbound{data: req.Data(), header: nats.Header(req.Headers()), reply: req.Reply()}}
	s.running.Add(1)
	select {
	case s.idle <- j: // a worker waiting for one takes it
	default:
		go s.work(j)
	}
}

// work serves j on a goroutine of its own, then waits for the next request while fewer than
// maxWaiting workers wait and the service runs. A worker keeps the stack its requests grew
// (a query's calls are deep), where a goroutine per request grew a fresh one every time:
// newstack and copystack were 3 % of an uncached product read's CPU.
func (s *Service) work(j job) {
	for {
		s.serve(j.ep, j.in) // it frees the slot
		s.running.Done()
		j = job{} // keep nothing of it while waiting
		if s.waiting.Add(1) > maxWaiting {
			s.waiting.Add(-1)
			return
		}
		select {
		case j = <-s.idle:
			s.waiting.Add(-1)
		case <-s.quit:
			s.waiting.Add(-1)
			return
		}
	}
}

// endWorkers ends the workers waiting for a request, once the service takes no more.
func (s *Service) endWorkers() { s.quitOnce.Do(func() { close(s.quit) }) }

// inbound is what a handler goroutine needs of a request.
type inbound struct {
	data   []byte
	header nats.Header
	reply  string
}

// serve runs one request on its goroutine; the caller took a slot, which serve frees once
// the handler has returned (call recovers panics, so it always returns).
func (s *Service) serve(ep *endpoint, req inbound) {
	start := time.Now()
	ep.inFlight.Inc()
	defer ep.inFlight.Dec()

	meta, deadline := subjects.ReadMeta(req.header)
	if deadline.IsZero() {
		deadline = start.Add(s.cfg.DefaultTimeout)
	}
	ctx, span := trace.Start(trace.Extract(context.Background(), req.header), s.tracer, ep.subject, ep.spanOpts...)
	defer span.End()
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	log := trace.Logger(ctx, ep.log, meta.RequestID)
	ctx = log.WithContext(subjects.WithMeta(ctx, meta))

	var done func()
	if s.deps.Around != nil {
		ctx, done = s.deps.Around(ctx)
	}
	reply, err := s.call(ctx, ep.access, ep.h, meta, req.data)
	if done != nil {
		done()
	}
	// The slot bounds handlers at work: free it before the reply goes out, so that a caller
	// who sends its next request on the reply finds it free.
	<-s.slots
	code := "200"
	if err != nil {
		var se *subjects.Error
		if !errors.As(err, &se) {
			log.Error().Err(err).Msg("handler failed")
			se = subjects.Internal()
		} else if se.Code >= 500 {
			log.Warn().Err(se).Msg("handler unavailable")
		}
		code = strconv.Itoa(se.Code)
		reply = nil
		err = se
		if se.Code >= 500 { // a 4xx is the caller's mistake, not this server's failure
			span.SetStatus(codes.Error, se.Message)
		}
		span.SetAttributes(attribute.Int("rpc.code", se.Code))
	}
	if rerr := s.respond(req.reply, reply, err); rerr != nil {
		log.Warn().Err(rerr).Msg("respond")
	}
	if took := time.Since(start); s.cfg.SlowRequest > 0 && took >= s.cfg.SlowRequest {
		log.Warn().Dur("duration", took).Str("code", code).Msg("slow request")
	}
	s.count(ep, code, start)
}

// call verifies the caller and runs h, turning a panic into an error.
func (s *Service) call(ctx context.Context, access subjects.Access, h subjects.RawHandler, meta subjects.Meta, data []byte) (reply []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	// Add refuses a non-public endpoint without a Verifier, so a nil one means every
	// endpoint here is public and there is nothing to check.
	if s.deps.Verifier != nil {
		claims, err := s.deps.Verifier.Authorize(ctx, meta.Authorization, access)
		if err != nil {
			return nil, err
		}
		ctx = authn.WithClaims(ctx, claims)
	}
	return h(ctx, data)
}

// respond publishes the reply, or the error e (an *subjects.Error) in the micro error
// headers, to the caller's reply subject.
func (s *Service) respond(reply string, data []byte, e error) error {
	msg := nats.NewMsg(reply)
	msg.Data = data
	var se *subjects.Error
	if errors.As(e, &se) {
		code, desc, body := se.Encode()
		msg.Header.Set(micro.ErrorHeader, desc)
		msg.Header.Set(micro.ErrorCodeHeader, code)
		msg.Data = body
	}
	return s.deps.NC.PublishMsg(msg)
}

func respondError(req micro.Request, e *subjects.Error) {
	code, desc, body := e.Encode()
	_ = req.Error(code, desc, body)
}

// Stop drains the endpoints (no new requests), then waits for the handlers in flight until
// ctx ends.
func (s *Service) Stop(ctx context.Context) error {
	s.uninstrument()
	err := s.svc.Stop()
	s.endWorkers()
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("%s: handlers still running at shutdown: %w", s.cfg.Name, ctx.Err())
	}
	return err
}

// Wait blocks until ctx ends, then stops the service gracefully within shutdown; or returns at
// once with the error when the service fails by itself. A service's Run ends with it.
func (s *Service) Wait(ctx context.Context, shutdown time.Duration) error {
	select {
	case err := <-s.failed:
		s.uninstrument()
		_ = s.svc.Stop()
		s.endWorkers()
		return err
	case <-ctx.Done():
		stopCtx, cancel := context.WithTimeout(context.Background(), shutdown)
		defer cancel()
		return s.Stop(stopCtx)
	}
}
