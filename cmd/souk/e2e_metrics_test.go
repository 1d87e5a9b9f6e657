package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/promtool"
	"github.com/souk/souk/platform/rpc"
)

// scrape is one /metrics body: the text and each sample by its series ("name{a="x",b="y"}",
// labels sorted as Prometheus writes them).
type scrape struct {
	body    []byte
	samples map[string]float64
}

// scrapeMetrics reads the shop's /metrics.
func (s *shop) scrapeMetrics() (scrape, error) {
	res, err := s.http.Get(s.base + "/metrics")
	if err != nil {
		return scrape{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		return scrape{}, fmt.Errorf("/metrics %d: %v", res.StatusCode, err)
	}
	sc := scrape{body: body, samples: map[string]float64{}}
	lines := bufio.NewScanner(bytes.NewReader(body))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return scrape{}, fmt.Errorf("/metrics line %q: %w", line, err)
		}
		sc.samples[line[:i]] = v
	}
	return sc, lines.Err()
}

// series are the scrape's series names with labels, histogram buckets left out (their le
// values are fixed; a histogram's series are its _count).
func (sc scrape) series() []string {
	var out []string
	for k := range sc.samples {
		if name, _, _ := strings.Cut(k, "{"); !strings.HasSuffix(name, "_bucket") && !strings.HasSuffix(name, "_sum") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// sum adds up the samples of name whose labels include every one of labels (`a="x"`).
func (sc scrape) sum(name string, labels ...string) float64 {
	var total float64
	for k, v := range sc.samples {
		if n, rest, _ := strings.Cut(k, "{"); n == name && containsAll(rest, labels) {
			total += v
		}
	}
	return total
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// settled is nil once the shop is at rest: every durable consumer has been delivered and
// has acknowledged everything, and every outbox is empty.
func (sc scrape) settled() error {
	for k, v := range sc.samples {
		name, _, _ := strings.Cut(k, "{")
		switch name {
		case "souk_jetstream_consumer_pending", "souk_jetstream_consumer_ack_pending", "souk_outbox_backlog":
			if v != 0 {
				return fmt.Errorf("%s = %v", k, v)
			}
		}
	}
	if sc.sum("souk_jetstream_lag_up") != 1 {
		return fmt.Errorf("souk_jetstream_lag_up is not 1")
	}
	return nil
}

// A whole shop, driven through a checkout, a declined payment and a few 4xx answers, exports
// metrics promtool finds clean; their label values come from fixed sets and route templates,
// never from the ids, emails and SKUs of the traffic, so more traffic of the same kind adds
// no series; and each service's $SRV.STATS reports the counts of its series.
func TestMetricsOfAWholeShop(t *testing.T) {
	s := startShop(t, nil)
	admin, _ := s.login(adminEmail, adminPassword)
	mug := s.mug(admin, "MUG-METRICS-1", 100)
	seen := []string{mug, "MUG-METRICS-1", adminEmail}
	round := func(n int) {
		email := fmt.Sprintf("buyer-%d@example.com", n)
		tok := s.customer(email)
		s.expect(s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 1}, tok), 200, "add to cart")
		r := s.do("POST", "/v1/orders", map[string]any{"shipping_address": address, "payment_method": "pm_card_visa"}, tok)
		s.expect(r, 201, "place order")
		paid := r.json(t)["id"].(string)
		s.await(paid, tok, "paid")
		s.expect(s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 1}, tok), 200, "add again")
		r = s.do("POST", "/v1/orders", map[string]any{"shipping_address": address, "payment_method": "pm_card_chargeDeclined"}, tok)
		s.expect(r, 201, "place a declined order")
		declined := r.json(t)["id"].(string)
		s.await(declined, tok, "cancelled")
		missing := uuid.NewString()
		s.expectProblem(s.do("GET", "/v1/orders/"+missing, nil, tok), 404, "", "an order that is not there")
		s.expectProblem(s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 0}, tok), 400, "quantity", "quantity 0")
		seen = append(seen, email, paid, declined, missing)
	}
	atRest := func() scrape {
		var sc scrape
		expect.Within(t, 60*time.Second, func() error {
			var err error
			if sc, err = s.scrapeMetrics(); err != nil {
				return err
			}
			return sc.settled()
		})
		return sc
	}
	round(1)
	first := atRest()
	round(2)
	round(3)
	later := atRest()

	promtool.Run(t, later.body, "check", "metrics")
	if added := slices.DeleteFunc(later.series(), func(k string) bool { _, ok := first.samples[k]; return ok }); len(added) > 0 {
		t.Errorf("two more rounds of the same traffic added %d series: %v", len(added), added)
	}
	checkLabelValues(t, later, seen)
	checkDocumented(t, later)
	for _, name := range []string{"souk_consumer_failed_total", "souk_consumer_batch_size_count", "souk_outbox_backlog",
		"souk_pg_pool_connections", "souk_pg_database_size_bytes", "souk_loop_restarts_total", "souk_jetstream_consumer_redelivered",
		"souk_jetstream_storage_bytes", "souk_jetstream_storage_limit_bytes"} {
		if !slices.ContainsFunc(later.series(), func(k string) bool { return k == name || strings.HasPrefix(k, name+"{") }) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if n := later.sum("souk_consumer_applied_total"); n == 0 {
		t.Errorf("no consumer applied anything after three checkouts")
	}
	checkStats(t, s)
}

// checkDocumented fails t for each family of Souk's own in sc that docs/observability.md does
// not name: its Metrics section is the reference of every series, which dashboards and rules
// are written from.
func checkDocumented(t *testing.T, sc scrape) {
	t.Helper()
	doc, err := os.ReadFile("../../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (souk_[a-z_]+) `).FindAllSubmatch(sc.body, -1) {
		if name := string(m[1]); !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/observability.md does not name %s, which /metrics exports", name)
		}
	}
}

// idLike matches what an id, an email or a path would put in a label value.
var idLike = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-|[^@\s]+@[^@\s]+\.[a-z]+|^/v1/.*/[0-9a-fA-F-]{16,}`)

// labelPair matches one label of a series.
var labelPair = regexp.MustCompile(`([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"`)

// checkLabelValues fails t when a label value of sc looks like an id, an email or a concrete
// path, or holds any of the values seen in the traffic; a route is a template or
// "unmatched".
func checkLabelValues(t *testing.T, sc scrape, seen []string) {
	t.Helper()
	for _, k := range sc.series() {
		for _, m := range labelPair.FindAllStringSubmatch(k, -1) {
			label, value := m[1], m[2]
			bad := idLike.MatchString(value) || slices.ContainsFunc(seen, func(v string) bool { return strings.Contains(value, v) })
			if label == "route" && value != "unmatched" && !strings.HasPrefix(value, "/") {
				bad = true
			}
			if bad {
				t.Errorf("series %s: label %s=%q comes from the traffic, not from a fixed set", k, label, value)
			}
		}
	}
}

// checkStats checks that every service's $SRV.STATS (one instance each) reports what its
// series say: per endpoint the requests by code, and the loops endpoint's counters. The
// stats and a scrape are read again until they agree, as a background loop's call may land
// between the two.
func checkStats(t *testing.T, s *shop) {
	t.Helper()
	nc, err := nats.Connect(embeddedURL(t, s.logs))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	expect.Within(t, 30*time.Second, func() error {
		sc, err := s.scrapeMetrics()
		if err != nil {
			return err
		}
		var errs []error
		for _, svc := range services {
			errs = append(errs, statsAgree(nc, svc.name, sc))
		}
		return errors.Join(errs...)
	})
}

// statsAgree compares the $SRV.STATS of service with sc.
func statsAgree(nc *nats.Conn, service string, sc scrape) error {
	msg, err := nc.Request("$SRV.STATS."+service, nil, 10*time.Second)
	if err != nil {
		return fmt.Errorf("$SRV.STATS.%s: %w", service, err)
	}
	var st micro.Stats
	if err := json.Unmarshal(msg.Data, &st); err != nil {
		return err
	}
	var errs []error
	for _, ep := range st.Endpoints {
		if ep.Name == rpc.LoopsEndpoint {
			var l rpc.Loops
			if err := json.Unmarshal(ep.Data, &l); err != nil {
				return err
			}
			for series, n := range l.Counters {
				name, labels, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
				if got := sc.sum(name, labels); got != float64(n) {
					errs = append(errs, fmt.Errorf("%s: $SRV.STATS counts %s = %d, /metrics %v", service, series, n, got))
				}
			}
			continue
		}
		var data rpc.EndpointStats
		if err := json.Unmarshal(ep.Data, &data); err != nil {
			return fmt.Errorf("%s %s stats data %s: %w", service, ep.Name, ep.Data, err)
		}
		var total uint64
		for code, n := range data.Requests {
			total += n
			want := sc.sum("souk_rpc_requests_total", `service="`+service+`"`, `endpoint="`+ep.Subject+`"`, `code="`+code+`"`)
			if float64(n) != want {
				errs = append(errs, fmt.Errorf("%s %s: $SRV.STATS counts %d answered %s, /metrics %v", service, ep.Subject, n, code, want))
			}
		}
		if uint64(ep.NumRequests) != total {
			errs = append(errs, fmt.Errorf("%s %s: micro's num_requests %d, the codes add up to %d", service, ep.Subject, ep.NumRequests, total))
		}
	}
	return errors.Join(errs...)
}
