package kittest

import (
	"sync"
	"testing"
	"time"
)

// TestParallelRunsTestsTogether: two tests that call parallel run at the same time (each
// waits for the other to start), and calling it again, or after t.Parallel, is no error.
func TestParallelRunsTestsTogether(t *testing.T) {
	var started sync.WaitGroup
	started.Add(2)
	both := make(chan struct{})
	go func() { started.Wait(); close(both) }()
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			parallel(t)
			parallel(t)
			started.Done()
			select {
			case <-both:
			case <-time.After(30 * time.Second):
				t.Fatal("the other test did not run beside this one")
			}
		})
	}
	t.Run("after t.Parallel", func(t *testing.T) {
		t.Parallel()
		parallel(t)
	})
}

// TestParallelKeepsATestThatSetsTheEnvironmentSerial: a test that set an environment
// variable stays serial instead of panicking.
func TestParallelKeepsATestThatSetsTheEnvironmentSerial(t *testing.T) {
	t.Setenv("SOUK_KITTEST", "1")
	parallel(t)
}
