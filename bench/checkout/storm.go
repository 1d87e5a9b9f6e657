package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// storm is the read storm of issue 12 item 12: pollers that each ask for one customer's
// latest order every period, as impatient clients do, beside the checkouts. A poller does
// not honour Retry-After (the worst client); what it counts is how it was answered.
type storm struct {
	c     *client
	users []*customer
	// latest holds each customer's newest order id (*string), set by its checkouts.
	latest []atomic.Pointer[string]
	every  time.Duration

	mu    sync.Mutex
	polls []poll
}

// poll is one answered (or failed) request of the storm.
type poll struct {
	at     time.Time
	status int // 0: transport error
	took   time.Duration
}

// placed records order id as customer i's newest.
func (s *storm) placed(i int, id string) {
	if s != nil {
		s.latest[i].Store(&id)
	}
}

// run starts n pollers until stop is set; wg waits for them.
func (s *storm) run(n int, stop *atomic.Bool, wg *sync.WaitGroup) {
	for p := range n {
		i := p % len(s.users)
		wg.Go(func() {
			tick := time.NewTicker(s.every)
			defer tick.Stop()
			var mine []poll
			for ; !stop.Load(); <-tick.C {
				id := s.latest[i].Load()
				if id == nil {
					continue
				}
				mine = append(mine, s.get(s.users[i].bearer(), *id))
			}
			s.mu.Lock()
			s.polls = append(s.polls, mine...)
			s.mu.Unlock()
		})
	}
}

// get asks for one order and times the answer.
func (s *storm) get(token, id string) poll {
	p := poll{at: time.Now()}
	req, _ := http.NewRequest("GET", s.c.base+"/v1/orders/"+id, nil)
	req.Header.Set("authorization", "Bearer "+token)
	res, err := s.c.http.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		p.status = res.StatusCode
	}
	p.took = time.Since(p.at)
	return p
}

// report prints the polls made inside the measured window: their rate, how they were
// answered, and the latency of the admitted (200) and of the refused ones.
func (s *storm) report(from time.Time, secs time.Duration) {
	if s == nil {
		return
	}
	byStatus := map[int][]time.Duration{}
	total := 0
	for _, p := range s.polls {
		if p.at.Before(from) || p.at.After(from.Add(secs)) {
			continue
		}
		total++
		byStatus[p.status] = append(byStatus[p.status], p.took)
	}
	fmt.Printf("read storm      %8.0f /s   (%d polls)\n", float64(total)/secs.Seconds(), total)
	for status, ds := range byStatus {
		fmt.Printf("  status %3d    %8.0f /s   %5.1f %%   p50 %-9s p99 %s\n", status, float64(len(ds))/secs.Seconds(),
			100*float64(len(ds))/float64(total), pct(ds, 50), pct(ds, 99))
	}
}
