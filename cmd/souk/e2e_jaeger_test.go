package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
)

// jaegerConfig runs Jaeger v2 (an OpenTelemetry collector) with what the test needs and
// nothing else: an OTLP receiver (grpc and http), in-memory storage, and the query service
// whose HTTP API the test reads the trace back from. Its own metrics are off, so that two
// runs at once do not fight over its metrics port.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: %s
    grpc:
      endpoint: %s
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`

// jaeger starts the Jaeger binary (SOUK_JAEGER, else jaeger on PATH; .ci/run builds it from
// tools/jaeger) on free ports and returns its OTLP/gRPC endpoint and its query API's base
// URL once the query API answers. Without the binary the test is skipped, unless
// SOUK_REQUIRE_JAEGER=1.
func jaeger(t *testing.T) (otlp, query string) {
	t.Helper()
	bin := os.Getenv("SOUK_JAEGER")
	if bin == "" {
		bin, _ = exec.LookPath("jaeger")
	}
	if _, err := os.Stat(bin); bin == "" || err != nil {
		if os.Getenv("SOUK_REQUIRE_JAEGER") == "1" {
			t.Fatalf("SOUK_REQUIRE_JAEGER=1 but no Jaeger binary (SOUK_JAEGER %q): build it with (cd tools/jaeger && go build -o <bin> github.com/jaegertracing/jaeger/cmd/jaeger)", bin)
		}
		t.Skip("no Jaeger binary: set SOUK_JAEGER (see .ci/run)")
	}
	queryAddr, otlpGRPC := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, jaegerConfig, queryAddr, freeAddr(t), otlpGRPC, freeAddr(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command(bin, "--config", "file:"+cfg)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	query = "http://" + queryAddr
	expect.Within(t, 60*time.Second, func() error {
		select {
		case err := <-exited:
			t.Fatalf("jaeger exited: %v\n%s", err, out.String())
		default:
		}
		res, err := http.Get(query + "/api/services")
		if err != nil {
			return err
		}
		res.Body.Close()
		return nil
	})
	return "http://" + otlpGRPC, query
}

// jaegerTrace is what Jaeger's query API (GET /api/traces/{id}) answers of one trace.
type jaegerTrace struct {
	Data []struct {
		Spans []struct {
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			ProcessID     string `json:"processID"`
			References    []struct {
				RefType string `json:"refType"`
				TraceID string `json:"traceID"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

// A checkout's trace, exported by the running shop over OTLP/gRPC to a real Jaeger, is read
// back by its id from Jaeger's query API whole: every service of the checkout, one tree
// under the client's span.
func TestCheckoutTraceInJaeger(t *testing.T) {
	otlp, query := jaeger(t)
	s := startShop(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
	checkoutToDelivered(s, "jaeger@example.com", clientTraceparent)

	var got jaegerTrace
	expect.Within(t, 60*time.Second, func() error {
		res, err := http.Get(query + "/api/traces/" + clientTraceID)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		got = jaegerTrace{}
		if err := json.NewDecoder(res.Body).Decode(&got); err != nil || len(got.Data) != 1 {
			return fmt.Errorf("trace %s: status %d, %v, %d traces", clientTraceID, res.StatusCode, err, len(got.Data))
		}
		tr := got.Data[0]
		for _, sp := range tr.Spans {
			if tr.Processes[sp.ProcessID].ServiceName == "notification" && sp.OperationName == "souk.evt.order.delivered" {
				return nil
			}
		}
		return fmt.Errorf("trace %s: %d spans, the notification of the delivery not among them yet", clientTraceID, len(tr.Spans))
	})
	tr := got.Data[0]
	ids, services := map[string]bool{}, map[string]bool{}
	for _, sp := range tr.Spans {
		ids[sp.SpanID] = true
		services[tr.Processes[sp.ProcessID].ServiceName] = true
	}
	for _, name := range servicesOfACheckout {
		if !services[name] {
			t.Errorf("no span of %s in Jaeger's trace; services %v", name, services)
		}
	}
	var underClient []string
	for _, sp := range tr.Spans {
		parent := ""
		for _, ref := range sp.References {
			if ref.RefType == "CHILD_OF" && ref.TraceID == clientTraceID {
				parent = ref.SpanID
			}
		}
		switch {
		case parent == clientSpanID:
			underClient = append(underClient, sp.OperationName)
		case !ids[parent]:
			t.Errorf("%s %q: parent %q not in the trace", tr.Processes[sp.ProcessID].ServiceName, sp.OperationName, parent)
		}
	}
	if len(underClient) != 1 || underClient[0] != "POST /v1/orders" {
		t.Errorf("the client span's children in Jaeger: %v, want the gateway's placement alone", underClient)
	}
}
