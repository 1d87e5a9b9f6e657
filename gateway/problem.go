package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// MIMEProblem is the content type of every error answer (RFC 9457).
const MIMEProblem = "application/problem+json"

// ProblemBase prefixes the type URI of a problem with a slug.
const ProblemBase = "https://souk.dev/problems/"

// Problem is the body of every error answer (RFC 9457 problem details).
type Problem struct {
	// Type is a URI naming the kind of error: https://souk.dev/problems/ followed by the
	// error's slug (ProblemBase + slug), or "about:blank".
	Type string `json:"type" required:"true"`
	// Title is the status text of the HTTP status.
	Title string `json:"title" required:"true"`
	// Status is the HTTP status code.
	Status int `json:"status" required:"true"`
	// Detail explains this occurrence; masked for every 5xx.
	Detail string `json:"detail,omitempty"`
	// Instance is the request path.
	Instance string `json:"instance,omitempty"`
	// RequestID is the request's id, also in the X-Request-Id header and every log line.
	RequestID string `json:"request_id,omitempty"`
	// Errors lists the invalid fields of a validation failure.
	Errors []subjects.FieldError `json:"errors,omitempty"`
	// Missing lists what /readyz found not ready.
	Missing []string `json:"missing,omitempty"`
}

// errorHandler answers err as problem+json. It is the edge middleware's error path and
// Fiber's ErrorHandler for the errors Fiber raises before any middleware runs (413, 431).
// A 5xx is logged here, once, with its real cause; its detail is masked.
func (g *Gateway) errorHandler(c *fiber.Ctx, err error) error {
	st := stateOf(c)
	p := toProblem(err)
	var refused *shed
	if p.Status >= 500 && !errors.As(err, &refused) { // a refusal is counted, not logged
		ev := g.deps.Log.Error()
		if p.Status == fiber.StatusServiceUnavailable || p.Status == fiber.StatusGatewayTimeout {
			ev = g.deps.Log.Warn()
		}
		var pe *panicError
		if errors.As(err, &pe) {
			ev = ev.Bytes("stack", pe.stack)
		}
		trace.Fields(st.ctx, ev.Err(err).Str("request_id", st.id).Str("method", c.Method()).Str("route", routeLabel(st))).Msg("request failed")
	}
	if !st.edge {
		// Raised by the server before edge ran (413, 431, …): the body may be unread, and no
		// access-log line will follow.
		markLinger(c.Context().Conn())
		g.deps.Log.Info().Str("method", c.Method()).Str("route", "unmatched").Int("status", p.Status).
			Str("request_id", st.id).Str("ip", st.clientIP(c, g.cfg.TrustProxy)).Msg("http request") // no span: edge did not run
	}
	p.Instance = c.Path()
	p.RequestID = st.id
	retryAfter := 0
	var se *subjects.Error
	if errors.As(err, &se) {
		retryAfter = se.RetryAfter
	}
	writeProblem(c, p, retryAfter)
	return nil
}

func routeLabel(st *state) string {
	if st.route != nil {
		return st.route.Path
	}
	return "unmatched"
}

// writeProblem replaces whatever response was begun with the problem p.
func writeProblem(c *fiber.Ctx, p Problem, retryAfter int) {
	body, err := json.Marshal(p)
	if err != nil { // cannot happen for this type; keep an answer anyway
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
		p.Status = fiber.StatusInternalServerError
	}
	res := c.Response()
	res.ResetBody()
	res.SetStatusCode(p.Status)
	h := &res.Header
	h.SetContentType(MIMEProblem)
	h.Set(HeaderRequestID, p.RequestID)
	setSecurityHeaders(h)
	if p.Status == fiber.StatusTooManyRequests || p.Status == fiber.StatusServiceUnavailable {
		if retryAfter < 1 {
			retryAfter = 1
		}
		h.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfter))
	}
	if p.Status == fiber.StatusUnauthorized {
		h.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="souk"`)
	}
	res.SetBodyRaw(body)
}

// toProblem maps an error to its problem: *subjects.Error keeps its code, slug, message and
// fields (4xx) or is masked (5xx); Fiber's own errors keep their status; anything else is a
// masked 500.
func toProblem(err error) Problem {
	var se *subjects.Error
	var fe *fiber.Error
	var p Problem
	switch {
	case errors.As(err, &se):
		p = Problem{Status: se.Code, Type: slugType(se.Slug), Detail: se.Message, Errors: se.Fields}
		if p.Status < 400 || p.Status > 599 {
			p = Problem{Status: fiber.StatusBadGateway}
		}
	case errors.As(err, &fe):
		p = Problem{Status: fe.Code, Type: slugType(fiberSlug(fe.Code)), Detail: fiberDetail(fe.Code)}
		if p.Status < 400 || p.Status > 599 {
			p = Problem{Status: fiber.StatusInternalServerError}
		}
	default:
		p = Problem{Status: fiber.StatusInternalServerError}
	}
	if p.Status >= 500 {
		p.Errors = nil
		switch p.Status {
		case fiber.StatusServiceUnavailable:
			p.Type, p.Detail = slugType("unavailable"), "service unavailable"
		case fiber.StatusGatewayTimeout:
			p.Type, p.Detail = slugType("timeout"), "timed out"
		default:
			p.Type, p.Detail = slugType("internal"), "internal error"
		}
	}
	var paused *shed
	if errors.As(err, &paused) && paused.shown {
		p.Type, p.Detail = slugType(paused.err.Slug), paused.err.Message
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	p.Title = http.StatusText(p.Status)
	if p.Title == "" {
		p.Title = "Error " + strconv.Itoa(p.Status)
	}
	return p
}

func slugType(slug string) string {
	if slug == "" {
		return "about:blank"
	}
	return ProblemBase + slug
}

func fiberSlug(code int) string {
	switch code {
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusRequestEntityTooLarge:
		return "body_too_large"
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return "headers_too_large"
	case fiber.StatusRequestTimeout:
		return "request_timeout"
	case fiber.StatusBadRequest:
		return "bad_request"
	}
	return ""
}

// fiberDetail never echoes Fiber's message: it may quote the client's bytes.
func fiberDetail(code int) string {
	switch code {
	case fiber.StatusNotFound:
		return "no such route"
	case fiber.StatusMethodNotAllowed:
		return "method not allowed on this route"
	case fiber.StatusRequestEntityTooLarge:
		return "request body too large"
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return "request headers too large"
	case fiber.StatusRequestTimeout:
		return "request not received in time"
	}
	return "malformed request"
}

// errUnsupportedMedia is the 415 of a body that is not JSON.
var errUnsupportedMedia = &subjects.Error{Code: fiber.StatusUnsupportedMediaType, Slug: "unsupported_media_type",
	Message: "Content-Type must be application/json"}

// decodeBody decodes the JSON request body into v. It reads the raw body: a compressed
// request body is refused rather than inflated past the body limit.
func decodeBody(c *fiber.Ctx, v any) error {
	body := c.Request().Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return subjects.BadRequest("", "request body required: a JSON object")
	}
	if !isJSON(c.Get(fiber.HeaderContentType)) {
		return errUnsupportedMedia
	}
	if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		return &subjects.Error{Code: fiber.StatusUnsupportedMediaType, Slug: "unsupported_encoding",
			Message: "Content-Encoding is not supported on request bodies"}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return bodyError(err)
	}
	return nil
}

func isJSON(contentType string) bool {
	if contentType == fiber.MIMEApplicationJSON { // the common case, without parsing
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == fiber.MIMEApplicationJSON
}

// bodyError describes a decoding failure without echoing the client's bytes.
func bodyError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return subjects.BadRequest("", "request body must be a JSON object")
		}
		return subjects.BadRequest(typeErr.Field, "must be "+jsonKind(typeErr.Type))
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return subjects.BadRequest("", "malformed JSON at offset "+strconv.FormatInt(syntaxErr.Offset, 10))
	}
	return subjects.BadRequest("", "malformed JSON")
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}
