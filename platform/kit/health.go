package kit

import (
	"sync"

	"github.com/souk/souk/platform/background"
)

// Health is what one process knows of the services it runs: whether each serves, and its
// loops' state (the same background.Group the loops endpoint, $SRV.STATS and souk_loop_up
// report). souk run gives one to the services it starts (Deps.Health) and the ops listener's
// /readyz reads it: the gateway's /readyz asks every instance over NATS, a probe must ask
// this process alone. A nil *Health records nothing, so tests and tools leave it out.
type Health struct {
	mu       sync.Mutex
	services []string
	serving  map[string]*background.Group
}

// NewHealth returns the health of a process that runs services, none of them serving yet.
func NewHealth(services ...string) *Health {
	return &Health{services: services, serving: map[string]*background.Group{}}
}

// serve records that service serves its endpoints, its loops supervised by g.
func (h *Health) serve(service string, g *background.Group) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.serving[service] = g
}

// stop records that service serves no more (it stops, or failed).
func (h *Health) stop(service string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.serving, service)
}

// Missing lists what keeps the process's services from being ready, named as the gateway's
// /readyz names it: a service that does not serve (yet, or any more), "<service>: <loop>
// down" for each loop down. Empty when every service serves with every loop up.
func (h *Health) Missing() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var missing []string
	for _, name := range h.services {
		g, ok := h.serving[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		for _, loop := range g.Down() {
			missing = append(missing, name+": "+loop+" down")
		}
	}
	return missing
}
