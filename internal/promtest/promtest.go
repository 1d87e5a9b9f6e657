// Package promtest reads Prometheus series in tests: one way to find a series by its labels,
// whatever its type, shared by the packages that test their metrics.
package promtest

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Sum gathers g and returns the sum of the series of name whose labels include labels, given
// as pairs of name and value (every series of name when none): a counter's or a gauge's
// value, a histogram's sum of observations; 0 when no series matches.
func Sum(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("promtest: gather: %v", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if HasLabels(m, labels...) {
				sum += value(m)
			}
		}
	}
	return sum
}

// HasLabels reports whether m carries every label of pairs (name, value, name, value, …).
func HasLabels(m *dto.Metric, pairs ...string) bool {
	for k := 0; k+1 < len(pairs); k += 2 {
		if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
			return l.GetName() == pairs[k] && l.GetValue() == pairs[k+1]
		}) {
			return false
		}
	}
	return true
}

// value is m's value whatever its type.
func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetHistogram() != nil:
		return m.GetHistogram().GetSampleSum()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return m.GetGauge().GetValue()
}
