package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// OpenAPIPath turns a Fiber path template into an OpenAPI one: ":id" becomes "{id}".
func OpenAPIPath(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/")
}

// pathParams lists the ":name" parameters of a Fiber path template.
func pathParams(path string) []string {
	var names []string
	for _, s := range strings.Split(path, "/") {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			names = append(names, name)
		}
	}
	return names
}

type obj = map[string]any

// OpenAPI document facts that are not in the routes.
const (
	// APILicense names the licence the API document is published under.
	APILicense = "Proprietary"
	// APILicenseID is its SPDX identifier: a LicenseRef, as no SPDX licence covers it.
	APILicenseID = "LicenseRef-Proprietary"
)

// tagDocs describe the tags routes are grouped by. A route's tag that is not here still
// appears, undescribed; the OpenAPI tests ask for a description.
var tagDocs = map[string]string{
	"auth":          "Accounts, sign-in, tokens and their signing keys.",
	"users":         "The signed-in user's profile, addresses and notifications.",
	"catalog":       "Categories, products, search and reviews.",
	"inventory":     "Stock per SKU (staff).",
	"sites":         "Edge sites: the till of a site that sells from its stock quota while cut off from the hub (staff).",
	"cart":          "The signed-in customer's cart, priced from the catalog on every read.",
	"orders":        "Checkout, orders, their payment, shipment and live status.",
	"payments":      "Calls from the payment provider.",
	"admin":         "Staff and administrator work: users, orders, shipments, refunds, coupons, webhooks, reviews.",
	"operations":    "Health, readiness, metrics and this document.",
	"notifications": "What the shop sent to its customers and to registered webhooks.",
	"shipping":      "Shipments and their tracking.",
}

// acceptLanguage is the header every forwarded route passes on to its service.
var acceptLanguage = Param{Name: "Accept-Language", Type: "string", MaxLength: 256,
	Description: "Preferred languages (RFC 9110), such as `de-AT, de;q=0.9, en;q=0.5`: they choose product and category translations and the language of messages where one exists."}

// The request headers routes read beyond Accept-Language, for their Headers.
var (
	idempotencyKey = Param{Name: "Idempotency-Key", Type: "string", MaxLength: MaxIdempotencyKey,
		Description: "A key the client makes up for this write, such as a UUID: the same key from the same user returns the first result and never does the work twice."}
	idempotencyKeyRequired = Param{Name: idempotencyKey.Name, Type: "string", MaxLength: MaxIdempotencyKey, Required: true,
		Description: idempotencyKey.Description + " Required here: a refund without one is refused (400)."}
	lastEventID = Param{Name: "Last-Event-ID", Type: "string",
		Description: "The id of the last event received: the stream resumes after it (EventSource sends it when it reconnects)."}
	stripeSignature = Param{Name: "Stripe-Signature", Type: "string", Required: true,
		Description: "Stripe's signature of the exact body (`t=<unix seconds>,v1=<hex HMAC-SHA256>`); a bad, old or future one is refused (400) and changes nothing."}
)

// stripeEvent documents Stripe's webhook body, verified over its exact bytes.
var stripeEvent = RawBody{Media: "application/json",
	Description: "A Stripe event object (https://docs.stripe.com/api/events/object), passed on undecoded: the signature covers its exact bytes."}

// buildOpenAPI renders the OpenAPI 3.1 document of routes. Request and reply schemas are
// derived from the Go types the routes decode and forward, and their descriptions and enums
// from those types' source, so the document follows the contract in subjects/ by
// construction.
func buildOpenAPI(routes []Route) ([]byte, error) {
	sg := newSchemaGen()
	sg.component(reflect.TypeFor[Problem]())
	paths := obj{}
	tags := map[string]bool{}
	for i := range routes {
		rt := &routes[i]
		p := OpenAPIPath(rt.Path)
		item, _ := paths[p].(obj)
		if item == nil {
			item = obj{}
			paths[p] = item
		}
		method := strings.ToLower(rt.Method)
		if _, dup := item[method]; dup {
			return nil, fmt.Errorf("route %s %s twice", rt.Method, rt.Path)
		}
		item[method] = sg.operation(rt)
		if rt.Tag != "" {
			tags[rt.Tag] = true
		}
	}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":   "Souk API",
			"version": "1",
			"description": "The public HTTP API of Souk, an e-commerce backend. JSON in and out, snake_case fields; " +
				"money is integer minor units with an ISO 4217 code; ids are strings; times are RFC 3339. " +
				"Errors are application/problem+json (RFC 9457). Lists are keyset-paginated with `limit` and `cursor`.",
			"license": obj{"name": APILicense, "identifier": APILicenseID},
		},
		"servers": []obj{{"url": "/", "description": "The gateway that serves this document"}},
		"tags":    tagList(tags),
		"paths":   paths,
		"components": obj{
			"schemas":    sg.components,
			"responses":  problemResponses(sg.problems),
			"parameters": obj{"AcceptLanguage": parameter(acceptLanguage, "header")},
			"headers": obj{
				"RetryAfter": obj{"description": "Seconds to wait before trying again", "schema": obj{"type": "integer", "minimum": 1}},
				"WWWAuthenticate": obj{"description": "The authentication scheme: `Bearer realm=\"souk\"`",
					"schema": obj{"type": "string"}},
			},
			"securitySchemes": obj{
				"bearer": obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
					"description": "An access token from POST /v1/auth/login or /v1/auth/refresh, in `Authorization: Bearer <token>`."},
			},
		},
	}
	return json.Marshal(doc)
}

func tagList(used map[string]bool) []obj {
	names := make([]string, 0, len(used))
	for name := range used {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]obj, 0, len(names))
	for _, name := range names {
		t := obj{"name": name}
		if d := tagDocs[name]; d != "" {
			t["description"] = d
		}
		out = append(out, t)
	}
	return out
}

func (sg *schemaGen) operation(rt *Route) obj {
	op := obj{
		"summary":     rt.Summary,
		"operationId": operationID(rt),
	}
	desc := rt.Description
	switch {
	case desc != "":
	case rt.Call.subject != "":
		desc = sg.docs.endpointDoc(rt.Call.subject)
	case rt.Call.serve != nil:
		desc = sg.docs.handlerDoc(rt.Call.serve)
	}
	if desc != "" {
		op["description"] = desc
	}
	if rt.Tag != "" {
		op["tags"] = []string{rt.Tag}
	}
	if params := sg.parameters(rt); len(params) > 0 {
		op["parameters"] = params
	}
	if body := sg.requestBody(rt); body != nil {
		op["requestBody"] = body
	}
	if rt.Access.IsPublic() {
		op["security"] = []obj{{}, {"bearer": []string{}}} // anonymous allowed; a token, when sent, is verified
	} else {
		op["security"] = []obj{{"bearer": []string{}}}
		op["x-permission"] = string(rt.Access.Permission())
	}
	op["responses"] = sg.responses(rt)
	return op
}

func (sg *schemaGen) parameters(rt *Route) []obj {
	var params []obj
	for _, name := range pathParams(rt.Path) {
		params = append(params, obj{"name": name, "in": "path", "required": true, "schema": obj{"type": "string"}})
	}
	for _, q := range rt.Call.query {
		params = append(params, parameter(q, "query"))
	}
	for _, h := range rt.Headers {
		params = append(params, parameter(h, "header"))
	}
	if rt.Call.forward {
		params = append(params, obj{"$ref": "#/components/parameters/AcceptLanguage"})
	}
	return params
}

// parameter is the OpenAPI parameter p, found in in ("query", "header").
func parameter(p Param, in string) obj {
	schema := obj{"type": p.Type}
	if p.EnumOf != "" {
		p.Enum = docsOnce().enum(subjectsPkg, p.EnumOf)
	}
	if len(p.Enum) > 0 {
		schema["enum"] = p.Enum
	}
	if len(p.Range) == 2 {
		schema["minimum"], schema["maximum"] = p.Range[0], p.Range[1]
	}
	if p.MaxLength > 0 {
		schema["maxLength"] = p.MaxLength
	}
	out := obj{"name": p.Name, "in": in, "schema": schema}
	if p.Description != "" {
		out["description"] = p.Description
	}
	if p.Required {
		out["required"] = true
	}
	return out
}

func (sg *schemaGen) requestBody(rt *Route) obj {
	switch {
	case rt.Call.raw != nil:
		return obj{
			"required":    true,
			"description": rt.Call.raw.Description,
			"content":     obj{rt.Call.raw.Media: obj{"schema": obj{}}},
		}
	case rt.Call.body != nil:
		body := obj{
			"required": !rt.Call.optional,
			"content":  obj{"application/json": obj{"schema": sg.bodySchema(rt.Call.body, pathParams(rt.Path))}},
		}
		if rt.Call.optional {
			body["description"] = "Optional: an empty body takes every default."
		}
		return body
	}
	return nil
}

func operationID(rt *Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, s := range strings.FieldsFunc(rt.Path, func(r rune) bool { return r == '/' || r == '-' || r == '.' || r == ':' || r == '_' }) {
		b.WriteString(strings.ToUpper(s[:1]) + s[1:])
	}
	return b.String()
}

func (sg *schemaGen) responses(rt *Route) obj {
	status := rt.status()
	ok := obj{"description": http.StatusText(status)}
	if status != http.StatusNoContent {
		ok["content"] = obj{rt.media(): obj{"schema": sg.replySchema(rt)}}
	}
	res := obj{strconv.Itoa(status): ok}
	codes := slices.Clone(rt.Errors)
	if rt.Call.body != nil || rt.Call.raw != nil || len(rt.Call.query) > 0 || len(pathParams(rt.Path)) > 0 || len(rt.Headers) > 0 {
		codes = append(codes, 400)
	}
	if rt.Call.body != nil || rt.Call.raw != nil {
		codes = append(codes, 413, 415)
	}
	if !rt.Access.IsPublic() {
		codes = append(codes, 401, 403)
	}
	codes = append(codes, 429)
	if rt.Call.forward {
		codes = append(codes, 503, 504)
	}
	for _, code := range append(codes, 0) {
		key := strconv.Itoa(code)
		if code == 0 {
			key = "default"
		}
		res[key] = obj{"$ref": "#/components/responses/" + problemName(code)}
		sg.problems[code] = true
	}
	return res
}

// media is the content type of the route's success body.
func (rt *Route) media() string {
	if rt.Call.media == "" {
		return "application/json"
	}
	return rt.Call.media
}

func (sg *schemaGen) replySchema(rt *Route) obj {
	media := rt.media()
	switch {
	case media == "application/json" && rt.Call.reply != nil:
		return sg.schema(rt.Call.reply)
	case media == "application/json":
		return obj{}
	case rt.Call.reply != nil: // a stream of JSON values, such as Server-Sent Events
		name := sg.component(rt.Call.reply)
		return obj{"type": "string", "description": "Each event's data is a JSON " + name +
			" (see the schema of that name): " + sg.docs.typeDoc(rt.Call.reply)}
	}
	return obj{"type": "string"}
}

// problemName names the component response of an error status; 0 is any other error.
func problemName(code int) string {
	name := strings.Map(func(r rune) rune {
		if ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			return r
		}
		return -1
	}, http.StatusText(code))
	switch {
	case code == 0:
		return "Problem"
	case name == "":
		return "Error" + strconv.Itoa(code)
	}
	return name
}

// problemResponses are the components.responses the routes' errors refer to: one per status
// in codes (0 is the default, any other error), each a problem+json.
func problemResponses(codes map[int]bool) obj {
	out := obj{}
	for code := range codes {
		desc := http.StatusText(code)
		if code == 0 || desc == "" {
			desc = "Any other error"
		}
		r := obj{
			"description": desc,
			"content":     obj{MIMEProblem: obj{"schema": obj{"$ref": "#/components/schemas/Problem"}}},
		}
		switch code {
		case 429, 503:
			r["headers"] = obj{"Retry-After": obj{"$ref": "#/components/headers/RetryAfter"}}
		case 401:
			r["headers"] = obj{"WWW-Authenticate": obj{"$ref": "#/components/headers/WWWAuthenticate"}}
		}
		out[problemName(code)] = r
	}
	return out
}
