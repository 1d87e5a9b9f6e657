package monitoring

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaIntervals stand in for Grafana's interval variables, so that an expression parses
// as Prometheus will see it once Grafana has filled them in.
var grafanaIntervals = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// templateVariable is any other $var or ${var:format}: in Souk's queries they stand inside
// label matchers' strings only.
var templateVariable = regexp.MustCompile(`\$\{?\w+(:\w+)?\}?`)

// Parse parses expr with Prometheus's own parser, Grafana's variables filled in.
func Parse(expr string) (parser.Expr, error) {
	s := templateVariable.ReplaceAllString(grafanaIntervals.Replace(expr), "x")
	return parser.ParseExpr(s)
}

// Metrics returns the metric names expr selects.
func Metrics(expr string) ([]string, error) {
	e, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" {
				name = m.Value
			}
		}
		names = append(names, name)
		return nil
	})
	return names, nil
}

// prometheusOwn are series Prometheus writes itself, not a scrape.
var prometheusOwn = map[string]bool{"ALERTS": true, "ALERTS_FOR_STATE": true, "up": true}

// Missing is a metric an expression names that nobody exports, or an expression that does
// not parse (Err set).
type Missing struct {
	// Where is the expression's Where.
	Where string
	// Metric is the name not found.
	Metric string
	// Err is the parser's error.
	Err error
}

func (m Missing) String() string {
	if m.Err != nil {
		return fmt.Sprintf("%s: does not parse: %v", m.Where, m.Err)
	}
	return m.Where + ": " + m.Metric
}

// Unknown returns, for each expression, the metrics it names that are neither exported (a
// histogram's _bucket, _sum and _count count as its name) nor recorded by a rule nor
// Prometheus's own, once each; and the expressions that do not parse.
func Unknown(exprs []Expr, recorded, exported map[string]bool) []Missing {
	var out []Missing
	for _, e := range exprs {
		names, err := Metrics(e.PromQL)
		if err != nil {
			out = append(out, Missing{Where: e.Where, Err: err})
			continue
		}
		slices.Sort(names)
		for _, n := range slices.Compact(names) {
			if !known(n, recorded, exported) {
				out = append(out, Missing{Where: e.Where, Metric: n})
			}
		}
	}
	return out
}

func known(name string, recorded, exported map[string]bool) bool {
	if recorded[name] || exported[name] || prometheusOwn[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] {
			return true
		}
	}
	return false
}
