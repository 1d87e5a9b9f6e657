package gateway_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/subjects"
)

// servedDocument is the /openapi.json of a gateway with every route, as a third-party tool
// loads it: refs resolved, checked against OpenAPI 3.1 and JSON Schema 2020-12.
func servedDocument(t *testing.T) ([]byte, *openapi3.T) {
	t.Helper()
	h := newHarness(t, gateway.Config{})
	r := h.do("GET", "/openapi.json", nil)
	if r.status != 200 {
		t.Fatalf("/openapi.json: %d", r.status)
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.body)
	if err != nil {
		t.Fatalf("the document does not load: %v", err)
	}
	return r.body, doc
}

func operation(t *testing.T, doc *openapi3.T, method, path string) *openapi3.Operation {
	t.Helper()
	item := doc.Paths.Value(path)
	if item == nil || item.GetOperation(method) == nil {
		t.Fatalf("%s %s is not in the document", method, path)
	}
	return item.GetOperation(method)
}

func component(t *testing.T, doc *openapi3.T, name string) *openapi3.Schema {
	t.Helper()
	s := doc.Components.Schemas[name]
	if s == nil || s.Value == nil {
		t.Fatalf("no schema %s", name)
	}
	return s.Value
}

// jsonBody is the resolved schema of an operation's JSON request body.
func jsonBody(t *testing.T, op *openapi3.Operation) *openapi3.Schema {
	t.Helper()
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		t.Fatalf("%s: no request body", op.OperationID)
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		t.Fatalf("%s: no JSON body schema", op.OperationID)
	}
	return mt.Schema.Value
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	_, doc := servedDocument(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
}

// The Problem schema was a $ref to itself: no tool could read it, and no error had a schema.
func TestOpenAPIProblemIsAnObject(t *testing.T) {
	_, doc := servedDocument(t)
	p := component(t, doc, "Problem")
	if !p.Type.Is("object") {
		t.Fatalf("Problem is %v, want an object", p.Type)
	}
	for _, name := range []string{"type", "title", "status", "detail", "errors", "instance", "request_id"} {
		if p.Properties[name] == nil {
			t.Errorf("Problem has no %s", name)
		}
	}
	if !slices.Equal(p.Required, []string{"type", "title", "status"}) {
		t.Errorf("Problem requires %v, want type, title, status", p.Required)
	}
	items := p.Properties["errors"].Value.Items.Value
	if items.Properties["field"] == nil || items.Properties["message"] == nil {
		t.Errorf("Problem.errors items: %v", items.Properties)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code, res := range op.Responses.Map() {
				if code != "default" && code < "400" {
					continue
				}
				mt := res.Value.Content.Get(gateway.MIMEProblem)
				if mt == nil || mt.Schema == nil || mt.Schema.Value == nil || mt.Schema.Value.Properties["status"] == nil {
					t.Errorf("%s %s %s: no problem+json schema", method, path, code)
				}
			}
		}
	}
}

// order_id (payment, refund) and product_id (review) come from the path, not the body.
func TestOpenAPIBodiesLeaveOutPathParameters(t *testing.T) {
	_, doc := servedDocument(t)
	for _, c := range []struct{ method, path, field string }{
		{"POST", "/v1/orders/{id}/payment", "order_id"},
		{"POST", "/v1/admin/orders/{id}/refund", "order_id"},
		{"POST", "/v1/products/{id}/reviews", "product_id"},
		{"PUT", "/v1/admin/users/{id}/roles", "id"},
		{"PATCH", "/v1/cart/items/{product_id}", "product_id"},
	} {
		body := jsonBody(t, operation(t, doc, c.method, c.path))
		if body.Properties[c.field] != nil || slices.Contains(body.Required, c.field) {
			t.Errorf("%s %s: the body has %s, which comes from the path", c.method, c.path, c.field)
		}
	}
	if body := jsonBody(t, operation(t, doc, "POST", "/v1/cart/items")); !slices.Contains(body.Required, "product_id") {
		t.Errorf("POST /v1/cart/items: product_id is in the body there, required: %v", body.Required)
	}
	if body := jsonBody(t, operation(t, doc, "POST", "/v1/orders/{id}/payment")); !slices.Equal(body.Required, []string{"payment_method"}) {
		t.Errorf("payment body requires %v, want payment_method", body.Required)
	}
}

func header(op *openapi3.Operation, name string) *openapi3.Parameter {
	for _, p := range op.Parameters {
		if p.Value != nil && p.Value.In == "header" && p.Value.Name == name {
			return p.Value
		}
	}
	return nil
}

func TestOpenAPIDeclaresTheHeadersSoukReads(t *testing.T) {
	_, doc := servedDocument(t)
	for _, c := range []struct {
		method, path, header string
		required             bool
	}{
		{"POST", "/v1/orders", "Idempotency-Key", false},
		{"POST", "/v1/orders/{id}/payment", "Idempotency-Key", false},
		{"POST", "/v1/admin/orders/{id}/refund", "Idempotency-Key", true},
		{"POST", "/v1/webhooks/stripe", "Stripe-Signature", true},
		{"GET", "/v1/orders/{id}/events", "Last-Event-ID", false},
		{"GET", "/v1/products", "Accept-Language", false},
		{"GET", "/v1/products/{id}", "Accept-Language", false},
		{"GET", "/v1/categories", "Accept-Language", false},
	} {
		h := header(operation(t, doc, c.method, c.path), c.header)
		switch {
		case h == nil:
			t.Errorf("%s %s does not declare %s", c.method, c.path, c.header)
		case h.Required != c.required:
			t.Errorf("%s %s: %s required %v, want %v", c.method, c.path, c.header, h.Required, c.required)
		case h.Description == "":
			t.Errorf("%s %s: %s undescribed", c.method, c.path, c.header)
		}
	}
}

func TestOpenAPIEventStreamIsTextEventStream(t *testing.T) {
	_, doc := servedDocument(t)
	ok := operation(t, doc, "GET", "/v1/orders/{id}/events").Responses.Status(200).Value
	if ok.Content.Get("application/json") != nil {
		t.Error("the SSE route is described as JSON")
	}
	mt := ok.Content.Get("text/event-stream")
	if mt == nil || !mt.Schema.Value.Type.Is("string") {
		t.Fatalf("the SSE route's 200 is not a text/event-stream string: %v", ok.Content)
	}
}

func TestOpenAPIRefundAndStripeWebhookBodies(t *testing.T) {
	_, doc := servedDocument(t)
	refund := operation(t, doc, "POST", "/v1/admin/orders/{id}/refund")
	if body := jsonBody(t, refund); body.Properties["amount"] == nil || refund.RequestBody.Value.Required {
		t.Errorf("refund body: an optional {amount}, got required=%v %v", refund.RequestBody.Value.Required, body.Properties)
	}
	hook := operation(t, doc, "POST", "/v1/webhooks/stripe").RequestBody
	if hook == nil || !hook.Value.Required || hook.Value.Content.Get("application/json") == nil || hook.Value.Description == "" {
		t.Errorf("the Stripe webhook's body is not declared: %+v", hook)
	}
}

func TestOpenAPIServersLicenseAndTags(t *testing.T) {
	_, doc := servedDocument(t)
	if len(doc.Servers) == 0 || doc.Servers[0].URL == "" {
		t.Errorf("servers: %v", doc.Servers)
	}
	if doc.Info.License == nil || doc.Info.License.Name == "" {
		t.Errorf("no licence: %+v", doc.Info)
	}
	described := map[string]bool{}
	for _, tag := range doc.Tags {
		if tag.Description == "" {
			t.Errorf("tag %s has no description", tag.Name)
		}
		described[tag.Name] = true
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for _, tag := range op.Tags {
				if !described[tag] {
					t.Errorf("%s %s: tag %s is not declared", method, path, tag)
				}
			}
			if op.Description == "" {
				t.Errorf("%s %s has no description", method, path)
			}
		}
	}
}

func TestOpenAPIEnumsComeFromTheConstants(t *testing.T) {
	_, doc := servedDocument(t)
	enum := func(s *openapi3.Schema) []string {
		var out []string
		for _, v := range s.Enum {
			out = append(out, v.(string))
		}
		return out
	}
	orderStatuses := []string{subjects.OrderStatusPending, subjects.OrderStatusReserved, subjects.OrderStatusPaid,
		subjects.OrderStatusFulfilling, subjects.OrderStatusShipped, subjects.OrderStatusDelivered, subjects.OrderStatusCancelled}
	shipment := []string{subjects.ShipmentPending, subjects.ShipmentPacked, subjects.ShipmentShipped,
		subjects.ShipmentInTransit, subjects.ShipmentDelivered, subjects.ShipmentCancelled}
	for _, c := range []struct {
		what string
		got  []string
		want []string
	}{
		{"Order.status", enum(component(t, doc, "Order").Properties["status"].Value), orderStatuses},
		{"OrderStatus.status", enum(component(t, doc, "OrderStatus").Properties["status"].Value), orderStatuses},
		{"Shipment.status", enum(component(t, doc, "Shipment").Properties["status"].Value), shipment},
		{"CouponCreateRequest.kind", enum(component(t, doc, "CouponCreateRequest").Properties["kind"].Value), []string{subjects.CouponPercent, subjects.CouponFixed}},
		{"User.roles", enum(component(t, doc, "User").Properties["roles"].Value.Items.Value), subjects.UserRoles},
		{"WebhookCreateRequest.events", enum(component(t, doc, "WebhookCreateRequest").Properties["events"].Value.Items.Value), subjects.WebhookEventTypes},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: enum %v, want %v", c.what, c.got, c.want)
		}
	}
	var sort []string
	for _, p := range operation(t, doc, "GET", "/v1/products").Parameters {
		if p.Value.Name == "sort" {
			sort = enum(p.Value.Schema.Value)
		}
	}
	if want := []string{subjects.SortRelevance, subjects.SortPriceAsc, subjects.SortPriceDesc, subjects.SortNewest, subjects.SortRating}; !slices.Equal(sort, want) {
		t.Errorf("sort: enum %v, want %v", sort, want)
	}
}

// Required is declared (`required:"true"`), not guessed from omitempty.
func TestOpenAPIRequiredIsDeclared(t *testing.T) {
	_, doc := servedDocument(t)
	for _, c := range []struct {
		schema string
		want   []string
	}{
		{"RegisterRequest", []string{"email", "password", "name"}},
		{"OrderPlaceRequest", []string{"shipping_address"}},
		{"UpdateMeRequest", nil},
		{"Address", []string{"name", "line1", "city", "postal_code", "country"}},
		{"Money", []string{"amount", "currency"}},
	} {
		if got := component(t, doc, c.schema).Required; !slices.Equal(got, c.want) {
			t.Errorf("%s requires %v, want %v", c.schema, got, c.want)
		}
	}
}

// Descriptions come from the doc comments in subjects/, rewritten for readers of the API.
func TestOpenAPIDescriptionsComeFromDocComments(t *testing.T) {
	_, doc := servedDocument(t)
	order := component(t, doc, "Order")
	if !strings.HasPrefix(order.Description, "An order as its owner") {
		t.Errorf("Order: %q", order.Description)
	}
	if d := order.Properties["reserved_until"].Value.Description; !strings.HasPrefix(d, "When the stock hold runs out") {
		t.Errorf("Order.reserved_until: %q", d)
	}
	if d := operation(t, doc, "POST", "/v1/auth/register").Description; !strings.HasPrefix(d, "Creates an account") {
		t.Errorf("POST /v1/auth/register: %q", d)
	}
}
