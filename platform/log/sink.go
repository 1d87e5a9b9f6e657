package log

import (
	"bytes"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/subjects"
)

// DefaultSinkQueue is how many lines a Sink holds for publishing when SinkConfig.Queue is 0:
// a few seconds of a busy instance's lines, ~2 MiB at worst.
const DefaultSinkQueue = 4096

// SinkConfig configures a Sink.
type SinkConfig struct {
	// Origin is the JetStream domain of the instance (bus.HubDomain, or bus.SiteDomain(id)):
	// the first token of every subject.
	Origin string
	// Service names the lines that name no service of Services (the process's own lines:
	// start-up, the embedded server's): the process's only service, or "souk" for several.
	Service string
	// Services are the names a line's "service" field may give its subject (the process's
	// services and the gateway); a line naming another is filed under Service, so that the
	// process publishes only where its NATS user may. Nil takes any name.
	Services []string
	// Queue bounds the lines held while NATS is slow or away; DefaultSinkQueue when 0.
	Queue int
	// Off makes a sink that only counts lines (SOUK_LOG_STREAM=false): it publishes none and
	// drops none.
	Off bool
}

// Sink is a zerolog writer that publishes each JSON line, as it is, on
// subjects.LogSubject(origin, its service, its level), for the stream LOGS to capture. It
// never blocks the logger: a line goes into a bounded queue that one goroutine (Start)
// publishes from with core NATS (no acknowledgement to wait for), and a line that finds the
// queue full is dropped and counted (souk_log_dropped_total), as is one the connection
// refuses. It never logs about itself: a line that names a log subject (the connection's
// error about a publish the server refused) goes to stdout only, so a refused publish cannot
// feed itself. Safe for concurrent use.
type Sink struct {
	cfg SinkConfig
	// subjects are the subjects of each service of Services and of Service, by level index
	// (levelIndex): made once, so that a line costs no string building. Nil takes any name.
	subjects map[string]*levelSubjects
	fallback *levelSubjects
	queue    chan entry
	lines    *prometheus.CounterVec
	byLevel  [len(levelNames)]prometheus.Counter // lines's counters, by level index
	dropped  prometheus.Counter
}

// levelNames are zerolog's levels by index (levelIndex(zerolog.TraceLevel) is 0): the
// levels a subject ends in, in zerolog's order.
var levelNames = [zerolog.PanicLevel - zerolog.TraceLevel + 1]string(subjects.LogLevels)

// levelSubjects are one service's subjects by level index.
type levelSubjects [len(levelNames)]string

// levelIndex is l's index in levelNames; a line of no level (or an unknown one) reads as
// information.
func levelIndex(l zerolog.Level) int {
	if l < zerolog.TraceLevel || l > zerolog.PanicLevel {
		return int(zerolog.InfoLevel - zerolog.TraceLevel)
	}
	return int(l - zerolog.TraceLevel)
}

// entry is one line to publish.
type entry struct {
	subject string
	data    []byte
}

// NewSink returns a sink; nothing is published until Start.
func NewSink(cfg SinkConfig) *Sink {
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultSinkQueue
	}
	s := &Sink{cfg: cfg, queue: make(chan entry, cfg.Queue),
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "souk_log_lines_total",
			Help: "Log lines written by this process, by level."}, []string{"level"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "souk_log_dropped_total",
			Help: "Log lines not published to the LOGS stream: its queue was full, or the NATS connection refused them (stdout has them)."}),
	}
	s.fallback = s.subjectsOf(cfg.Service)
	if cfg.Services != nil {
		s.subjects = map[string]*levelSubjects{}
		for _, name := range cfg.Services {
			s.subjects[name] = s.subjectsOf(name)
		}
	}
	for i, l := range levelNames {
		s.byLevel[i] = s.lines.WithLabelValues(l) // every level shows, at 0, before its first line
	}
	return s
}

// subjectsOf are service's subjects.
func (s *Sink) subjectsOf(service string) *levelSubjects {
	var out levelSubjects
	for i, l := range levelNames {
		out[i] = subjects.LogSubject(s.cfg.Origin, service, l)
	}
	return &out
}

// Describe is prometheus.Collector's.
func (s *Sink) Describe(ch chan<- *prometheus.Desc) {
	s.lines.Describe(ch)
	s.dropped.Describe(ch)
}

// Collect is prometheus.Collector's.
func (s *Sink) Collect(ch chan<- prometheus.Metric) {
	s.lines.Collect(ch)
	s.dropped.Collect(ch)
}

// Dropped is the counter of lines not published (souk_log_dropped_total).
func (s *Sink) Dropped() prometheus.Counter { return s.dropped }

// Lines is the counter of lines written at level (souk_log_lines_total{level}).
func (s *Sink) Lines(level string) prometheus.Counter { return s.lines.WithLabelValues(level) }

// selfMention is in every line that names a log subject.
var selfMention = []byte(subjects.LogPrefix + ".")

// WriteLevel queues p, a JSON line at level l, for publishing, or drops it when the queue is
// full. It never blocks and never fails.
func (s *Sink) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	i := levelIndex(l)
	s.byLevel[i].Inc()
	if s.cfg.Off || bytes.Contains(p, selfMention) {
		return len(p), nil
	}
	e := entry{subject: s.subjectFor(p)[i], data: bytes.Clone(bytes.TrimRight(p, "\n"))}
	select {
	case s.queue <- e:
	default:
		s.dropped.Inc()
	}
	return len(p), nil
}

// Write is WriteLevel for a line of no known level.
func (s *Sink) Write(p []byte) (int, error) { return s.WriteLevel(zerolog.NoLevel, p) }

// serviceKey starts the first "service" field of a line: zerolog writes a logger's context
// fields (kit.Deps.Logger's service) before the event's, and a quote inside a string value
// is always escaped, so a value cannot fake it.
var serviceKey = []byte(`"service":"`)

// subjectFor are the subjects of the service line p names, if one of Services, else of
// SinkConfig.Service.
func (s *Sink) subjectFor(p []byte) *levelSubjects {
	i := bytes.Index(p, serviceKey)
	if i < 0 {
		return s.fallback
	}
	v := p[i+len(serviceKey):]
	end := bytes.IndexByte(v, '"')
	if end <= 0 || end > 64 {
		return s.fallback
	}
	if s.subjects == nil {
		return s.subjectsOf(string(v[:end]))
	}
	if subj, ok := s.subjects[string(v[:end])]; ok { // no allocation: a map lookup by bytes
		return subj
	}
	return s.fallback
}

// Start publishes the queued lines on nc from one goroutine until the returned stop is
// called; stop publishes what is still queued (into the connection's buffer: a Drain
// afterwards sends it) and returns once the goroutine has ended. A sink that is Off starts
// nothing.
func (s *Sink) Start(nc *nats.Conn) (stop func()) {
	if s.cfg.Off {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case e := <-s.queue:
				s.publish(nc, e)
			case <-quit:
				for n := len(s.queue); n > 0; n-- {
					s.publish(nc, <-s.queue)
				}
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}

// publish sends e, counting it dropped when the connection refuses it (closed, or its
// reconnect buffer full while NATS is away).
func (s *Sink) publish(nc *nats.Conn, e entry) {
	if err := nc.Publish(e.subject, e.data); err != nil {
		s.dropped.Inc()
	}
}
