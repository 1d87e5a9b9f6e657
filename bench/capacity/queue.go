package main

import (
	"math"
	"math/rand/v2"
)

// A Station is a first-come-first-served queue with C identical servers (cores, or a row
// lock when C is 1). It needs its arrivals in time order, which the event loop guarantees:
// then a job starts when it arrives or when the earliest server frees up, whichever is
// later, and that is all the state a FCFS multi-server queue has (free holds each server's
// next free time, as a min-heap).
//
// Background streams (reads, polls, sign-ins) are Poisson arrivals that visit only this
// station: they are drawn lazily, just before each foreground arrival and at the end, so
// millions of them cost no events in the loop.
type Station struct {
	Name string
	free floatHeap
	// busy is the service time started in each segment of the sale (utilisation).
	busy    []float64
	segment float64
	bg      []stream
	bgTotal float64 // the sum of the streams' base rates
	nextBG  float64 // the next background arrival
	rate    func(t float64) float64
	rng     *rand.Rand
	// waits records the background jobs' time in queue.
	waits histogram
	count int
}

// stream is one kind of background job: its arrival rate at share 1 of the profile and its
// mean service time.
type stream struct {
	rate, service float64
}

// newStation makes a station of c servers. profile scales the background rates over time
// (nil: constant); segment is the length of one profile step.
func newStation(name string, c int, profile []float64, segment float64, rng *rand.Rand) *Station {
	s := &Station{Name: name, free: make(floatHeap, c), segment: segment, rng: rng,
		busy: make([]float64, max(1, len(profile))), nextBG: math.Inf(1)}
	s.rate = func(float64) float64 { return 1 }
	if len(profile) > 0 {
		s.rate = func(t float64) float64 {
			i := int(t / segment)
			if i < 0 || i >= len(profile) {
				return 0
			}
			return profile[i] * float64(len(profile))
		}
	}
	return s
}

// addStream adds a background stream; call them all before the first Visit.
func (s *Station) addStream(rate, service float64) {
	if rate <= 0 {
		return
	}
	s.bg = append(s.bg, stream{rate, service})
	s.bgTotal += rate
	s.nextBG = s.arrivalAfter(0)
}

// arrivalAfter draws the next arrival of the merged background after t. Between steps of the
// profile the rate is constant; an exponential gap that crosses a step is redrawn from the
// step (memoryless, so exact).
func (s *Station) arrivalAfter(t float64) float64 {
	for {
		r := s.bgTotal * s.rate(t)
		end := (math.Floor(t/s.segment) + 1) * s.segment
		if r <= 0 {
			if end >= s.segment*float64(len(s.busy)) {
				return math.Inf(1)
			}
			t = end
			continue
		}
		next := t + s.rng.ExpFloat64()/r
		if next < end || len(s.busy) == 1 {
			return next
		}
		t = end
	}
}

// serve starts a job arriving at t with service time d and returns when it is done and how
// long it waited.
func (s *Station) serve(t, d float64) (done, wait float64) {
	start := math.Max(t, s.free[0])
	s.free.replaceMin(start + d)
	if i := min(int(start/s.segment), len(s.busy)-1); i >= 0 {
		s.busy[i] += d
	}
	s.count++
	return start + d, start - t
}

// drain serves the background arrivals before t.
func (s *Station) drain(t float64) {
	for s.nextBG < t {
		at := s.nextBG
		u := s.rng.Float64() * s.bgTotal
		k := 0
		for k < len(s.bg)-1 && u >= s.bg[k].rate {
			u -= s.bg[k].rate
			k++
		}
		_, wait := s.serve(at, s.rng.ExpFloat64()*s.bg[k].service)
		s.waits.add(wait)
		s.nextBG = s.arrivalAfter(at)
	}
}

// Visit serves a foreground job arriving at t with mean service mean (exponential), after
// the background that arrived before it, and returns when it is done.
func (s *Station) Visit(t, mean float64) float64 {
	s.drain(t)
	done, _ := s.serve(t, s.rng.ExpFloat64()*mean)
	return done
}

// Utilisation is the busy share of the station's servers in segment i.
func (s *Station) Utilisation(i int) float64 {
	return s.busy[i] / (s.segment * float64(len(s.free)))
}

// floatHeap is a min-heap of times. Its only change is replacing the minimum, so it sifts
// down by hand (container/heap's interface calls were most of a run's time).
type floatHeap []float64

// replaceMin puts v in place of the minimum and restores the heap.
func (h floatHeap) replaceMin(v float64) {
	i, n := 0, len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h[r] < h[l] {
			l = r
		}
		if v <= h[l] {
			break
		}
		h[i] = h[l]
		i = l
	}
	h[i] = v
}

// histogram keeps counts in buckets 2 % apart from 1 µs (times in seconds), enough for
// quantiles of millions of waits without keeping them; zero waits have their own count.
type histogram struct {
	zero    int
	buckets []int
	n       int
	sum     float64
}

const histBase, histStep = 1e-6, 1.02

func (h *histogram) add(v float64) {
	h.n++
	h.sum += v
	if v < histBase {
		h.zero++
		return
	}
	i := int(math.Log(v/histBase) / math.Log(histStep))
	for len(h.buckets) <= i {
		h.buckets = append(h.buckets, 0)
	}
	h.buckets[i]++
}

// quantile returns the q-quantile (upper edge of its bucket; 0 when it falls among zeros).
func (h *histogram) quantile(q float64) float64 {
	rank := int(math.Ceil(q * float64(h.n)))
	if rank <= h.zero {
		return 0
	}
	seen := h.zero
	for i, c := range h.buckets {
		seen += c
		if seen >= rank {
			return histBase * math.Pow(histStep, float64(i+1))
		}
	}
	return 0
}

// mean is the average of what was added.
func (h *histogram) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}
