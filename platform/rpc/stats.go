package rpc

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/micro"
)

// EndpointStats is the $SRV.STATS data of one endpoint (micro's EndpointStats.Data): the
// instance's own finished requests by status code, the same counts as its
// souk_rpc_requests_total{service,endpoint,code}. micro's own num_requests counts the same
// requests (once their handler has returned); its num_errors counts only those refused
// before a handler ran (shed with 503), because a handler runs on a goroutine of its own and
// answers on the reply subject, past micro's Respond and Error: these counts are the whole
// story.
type EndpointStats struct {
	// Requests counts finished requests by status code ("200", "404", "503", …).
	Requests map[string]uint64 `json:"requests"`
	// Errors counts those answered with an error: every code but 200.
	Errors uint64 `json:"errors"`
}

// codeCounts are one endpoint's finished requests in this instance, by status code. The
// common case, a 200, is one atomic add.
type codeCounts struct {
	ok    atomic.Uint64
	mu    sync.Mutex
	other map[string]uint64
}

// add counts one request answered with code.
func (c *codeCounts) add(code string) {
	if code == "200" {
		c.ok.Add(1)
		return
	}
	c.mu.Lock()
	if c.other == nil {
		c.other = map[string]uint64{}
	}
	c.other[code]++
	c.mu.Unlock()
}

// read returns the counts as served in $SRV.STATS.
func (c *codeCounts) read() EndpointStats {
	c.mu.Lock()
	st := EndpointStats{Requests: maps.Clone(c.other)}
	c.mu.Unlock()
	if st.Requests == nil {
		st.Requests = map[string]uint64{}
	}
	for _, n := range st.Requests {
		st.Errors += n
	}
	st.Requests["200"] = c.ok.Load()
	return st
}

// stats is micro's StatsHandler: the loops endpoint's data is the instance's Loops, every
// other endpoint's its EndpointStats.
func (s *Service) stats(ep *micro.Endpoint) any {
	if ep.Name == LoopsEndpoint && s.deps.Loops != nil {
		return s.loops()
	}
	if e, ok := s.endpoints.Load(ep.Name); ok {
		return e.(*endpoint).codes.read()
	}
	return nil
}
