package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// invalidRequestHeader marks a request a test sends against the document on purpose (a
// malformed body, a missing token, a limit out of range: the 4xx is what it checks). send
// strips it and checks only the answer of such a request. doInvalid sets it.
const invalidRequestHeader = "Souk-Test-Invalid-Request"

// doInvalid is do for a request the document itself refuses, sent on purpose: its answer is
// still checked against the document, the request is not.
func (s *shop) doInvalid(method, path string, body any, token string, headers ...string) reply {
	s.t.Helper()
	return s.do(method, path, body, token, append([]string{invalidRequestHeader, "1"}, headers...)...)
}

// contract is the shop's served /openapi.json, loaded once per shop, with the router that
// finds a request's operation in it.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

// contract loads /openapi.json the first time it is needed; a document that does not load
// fails the test.
func (s *shop) contract() *contract {
	s.contractOnce.Do(func() {
		res, err := s.http.Get(s.base + "/openapi.json")
		if err != nil {
			s.t.Errorf("GET /openapi.json: %v", err)
			return
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != 200 {
			s.t.Errorf("GET /openapi.json: %d %v", res.StatusCode, err)
			return
		}
		doc, err := openapi3.NewLoader().LoadFromData(raw)
		if err == nil {
			err = doc.Validate(context.Background())
		}
		if err != nil {
			s.t.Errorf("the served /openapi.json does not load: %v", err)
			return
		}
		// The document names its server relatively ("/"); the router matches full URLs.
		doc.Servers = openapi3.Servers{{URL: s.base}}
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			s.t.Errorf("routing /openapi.json: %v", err)
			return
		}
		s.api = &contract{doc: doc, router: router}
	})
	return s.api
}

// bearerOnly is the AuthenticationFunc of the checks: a protected operation's request must
// carry a bearer token (whether it is valid is the gateway's to say).
func bearerOnly(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "bearer" {
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
		return errors.New("no bearer token")
	}
	return nil
}

// checkContract checks one exchange against the served document: the request (unless the test
// marked it invalid on purpose) and always the answer, status, headers and body, problems and
// 204s included. A mismatch fails the test, naming the request, the status and the
// validator's message. A request for no operation of the document must be refused with a
// problem (404 or 405).
func (s *shop) checkContract(req *http.Request, body []byte, r reply, deliberate bool) {
	s.t.Helper()
	api := s.contract()
	if api == nil {
		return
	}
	what := fmt.Sprintf("%s %s answered %d", req.Method, req.URL.RequestURI(), r.status)
	check := req.Clone(context.Background())
	check.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := api.router.FindRoute(check)
	if err != nil {
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			s.t.Errorf("%s, but the document has no such operation: %v", what, err)
		}
		if err := validateProblem(api.doc, r); err != nil {
			s.t.Errorf("%s: %v", what, err)
		}
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: bearerOnly, IncludeResponseStatus: true, MultiError: true}
	opts.WithCustomSchemaErrorFunc(schemaProblem)
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: opts}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !deliberate {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			s.t.Errorf("%s; the request does not match the document: %v", what, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.status, Header: r.header, Options: opts}
	out.SetBodyBytes(r.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		s.t.Errorf("%s; the answer does not match the document: %v", what, err)
	}
}

// schemaProblem is a schema mismatch in a line: where and what, without the schema's text.
func schemaProblem(err *openapi3.SchemaError) string {
	return "at /" + strings.Join(err.JSONPointer(), "/") + ": " + err.Reason
}

// validateProblem checks an answer outside the document's operations: a problem+json body.
func validateProblem(doc *openapi3.T, r reply) error {
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		return fmt.Errorf("content type %q, want application/problem+json", ct)
	}
	v, err := openapi3filter.JSONBodyDecoder(bytes.NewReader(r.body), nil, nil, nil)
	if err != nil {
		return fmt.Errorf("problem body: %w", err)
	}
	return doc.Components.Schemas["Problem"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}

// sendState is what a shop keeps for send's checks.
type sendState struct {
	contractOnce sync.Once
	api          *contract
}
