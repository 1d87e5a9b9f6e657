package gateway_test

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/subjects"
)

// The shipping routes forward the path's id (never one forged in the body), a customer is
// refused the staff route before the shipping service is asked, and the OpenAPI document
// shows the status body without the id the path carries.
func TestShippingRoutes(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	bodies := make(chan string, 4)
	var calls atomic.Int32
	svc, err := micro.AddService(h.nc, micro.Config{Name: "shipping", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	echo := micro.HandlerFunc(func(req micro.Request) {
		calls.Add(1)
		bodies <- string(req.Data())
		_ = req.Respond([]byte(`{"id":"s1","status":"shipped"}`))
	})
	for _, s := range []string{subjects.ShipmentGet.Subject, subjects.ShipmentSetStatus.Subject} {
		if err := svc.AddEndpoint(strings.ReplaceAll(s, ".", "_"), echo, micro.WithEndpointSubject(s)); err != nil {
			t.Fatal(err)
		}
	}
	customer := "Bearer " + h.token("u1", "customer")
	staff := "Bearer " + h.token("s1", "customer", "staff")

	if r := h.do("GET", "/v1/orders/o7/shipment", nil, "Authorization", customer); r.status != 200 {
		t.Fatalf("get shipment: %d %s", r.status, r.body)
	}
	expectJSON(t, <-bodies, `{"order_id":"o7"}`)

	move := map[string]any{"id": "forged", "status": "shipped", "tracking_number": "1Z999", "carrier": "ups"}
	h.do("POST", "/v1/admin/shipments/s9/status", move, "Authorization", customer).problem(t, 403)
	h.do("POST", "/v1/admin/shipments/s9/status", move).problem(t, 401)
	if n := calls.Load(); n != 1 {
		t.Fatalf("the shipping service was asked %d times, want once (refused callers never reach it)", n)
	}
	if r := h.do("POST", "/v1/admin/shipments/s9/status", move, "Authorization", staff); r.status != 200 {
		t.Fatalf("move: %d %s", r.status, r.body)
	}
	expectJSON(t, <-bodies, `{"id":"s9","status":"shipped","tracking_number":"1Z999","carrier":"ups"}`)
	p := h.do("POST", "/v1/admin/shipments/s9/status", `{"status": 7}`, "Authorization", staff, "Content-Type", "application/json").problem(t, 400)
	if !hasField(p, "status") {
		t.Fatalf("a status of the wrong type: %+v", p)
	}

	var doc struct {
		Paths map[string]map[string]struct {
			Permission  string `json:"x-permission"`
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Properties map[string]any `json:"properties"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(h.do("GET", "/openapi.json", nil).body, &doc); err != nil {
		t.Fatal(err)
	}
	if op, ok := doc.Paths["/v1/orders/{id}/shipment"]["get"]; !ok || op.Permission != "profile" {
		t.Fatalf("GET /v1/orders/{id}/shipment: %+v", op)
	}
	op := doc.Paths["/v1/admin/shipments/{id}/status"]["post"]
	props := op.RequestBody.Content["application/json"].Schema.Properties
	if op.Permission != "shipments:write" || props["status"] == nil || props["tracking_number"] == nil || props["carrier"] == nil || props["id"] != nil {
		t.Fatalf("POST /v1/admin/shipments/{id}/status: permission %q, body %v", op.Permission, props)
	}
}
