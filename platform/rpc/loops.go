package rpc

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/platform/background"
)

// LoopsEndpoint is the name of the micro endpoint, added to a service with loops, whose
// $SRV.STATS data is the instance's Loops. micro answers $SRV.STATS.<service> from every
// instance, so the gateway's /readyz sees each instance's loops; `nats micro info <service>`
// and `nats micro stats <service> --json` show them to an operator. $SRV.PING stays a bare
// liveness ping.
const LoopsEndpoint = "loops"

// LoopsSubject is the subject of a service's loops endpoint: a request answers with one
// instance's Loops, for an operator's nats req with an empty body.
func LoopsSubject(service string) string { return "souk." + service + ".v1.loops.get" }

// Loops is the state of one instance's background loops.
type Loops struct {
	// Down names the loops that are down now; empty when all run.
	Down []string `json:"down"`
	// Loops is every loop's state, down ones with since when and their last error.
	Loops []background.LoopState `json:"loops"`
	// Counters are the instance's work counters since it started, by Prometheus series name
	// (souk_consumer_applied_total{consumer="order-payments"}; its consumers' failed and
	// dead-lettered deliveries, its relay's published events and its outbox's backlog too):
	// each instance counts its own share, so `nats micro stats <service> --json` shows how
	// the work is spread.
	Counters map[string]uint64 `json:"counters,omitempty"`
}

// loops reads the state of the instance's loops.
func (s *Service) loops() Loops {
	all := s.deps.Loops.Loops()
	l := Loops{Down: []string{}, Loops: all}
	if s.deps.Counters != nil {
		l.Counters = s.deps.Counters()
	}
	for _, st := range all {
		if !st.Up {
			l.Down = append(l.Down, st.Name)
		}
	}
	return l
}

// serveLoops adds the loops endpoint and the souk_loop_up gauge.
func (s *Service) serveLoops() error {
	err := s.svc.AddEndpoint(LoopsEndpoint, micro.HandlerFunc(func(req micro.Request) {
		body, err := json.Marshal(s.loops())
		if err == nil {
			err = req.Respond(body)
		}
		if err != nil {
			s.deps.Log.Warn().Err(err).Str("service", s.cfg.Name).Msg("respond loops")
		}
	}), micro.WithEndpointSubject(s.served(LoopsSubject(s.cfg.Name))))
	if err != nil {
		return fmt.Errorf("%s: add loops endpoint: %w", s.cfg.Name, err)
	}
	s.uninstrument = background.Instrument(s.deps.Registry, s.cfg.Name, s.deps.Loops)
	return nil
}
