package liveconfig_test

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/souk/souk/platform/liveconfig"
)

// BenchmarkPutUntilApplied measures how long a value put in the bucket takes to be in
// force in a process following it: the put's round trip, the watch's delivery, the parse.
// go test ./platform/liveconfig -run NONE -bench PutUntilApplied
func BenchmarkPutUntilApplied(b *testing.B) {
	e := newBenchEnv(b)
	e.run(b)
	v := liveconfig.RateIP.Bind(e.cfg, 50)
	b.ResetTimer()
	for i := range b.N {
		want := 1 + i%1000
		if want == v.Load() {
			want++
		}
		if _, err := e.kv.PutString(b.Context(), "gateway.rate_ip", strconv.Itoa(want)); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for v.Load() != want { // the watch applies it on its own goroutine
			if time.Now().After(deadline) {
				b.Fatalf("gateway.rate_ip %d not applied within 10 s", want)
			}
			runtime.Gosched()
		}
	}
}

// BenchmarkLoad is what reading a live value costs on every use.
func BenchmarkLoad(b *testing.B) {
	v := liveconfig.RateIP.Bind(nil, 50)
	n := 0
	for range b.N {
		n += v.Load()
	}
	_ = n
}
