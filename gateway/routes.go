package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/subjects"
)

// Route is one entry of the route table: everything the gateway serves and everything the
// OpenAPI document says about it comes from here. To add a route, add one Route to
// apiRoutes (or a sibling function for a new area) with Call: Forward(subjects.X, Input[...]{…}).
type Route struct {
	// Method is the HTTP method (fiber.MethodGet, …).
	Method string
	// Path is the Fiber path template; parameters are ":name" segments, which the OpenAPI
	// document shows as "{name}".
	Path string
	// Summary is the one-line description in the OpenAPI document.
	Summary string
	// Description is the operation's longer text in the OpenAPI document. A route without one
	// takes its endpoint's doc comment from subjects (Forward) or the first paragraph of its
	// handler's doc comment (Handle): the comments stay the one source of the text.
	Description string
	// Tag groups routes in the OpenAPI document ("auth", "users", "operations", …).
	Tag string
	// Access is what the caller must hold: subjects.Public or subjects.Require(perm). The token is
	// verified before the service is asked; an anonymous call of a public route does no
	// token work at all. A Forward route takes its endpoint's rule (subjects.Endpoint.Access),
	// the one the service checks too, and must leave this empty; a Handle route sets it.
	Access subjects.Access
	// Limit is the rate-limit class on top of the per-IP limit every request meets.
	Limit LimitClass
	// Feature, when set, is the live switch (platform/liveconfig, features.*) that turns
	// the route off: while it is off the route answers 503 with the slug <feature>_paused
	// and says so, without asking its service.
	Feature liveconfig.Key[bool]
	// Status is the success status: 200 when zero; a route whose endpoint replies
	// subjects.Empty answers 204.
	Status int
	// Errors lists route-specific error statuses for the document (409, 422, …); the generic
	// ones (400 on input, 401/403 on protected routes, 413/415 on bodies, 429, 503, 504) are
	// added by the document builder.
	Errors []int
	// CacheControl is sent on anonymous answers of a public route; every other answer is
	// "no-store".
	CacheControl string
	// Call is what the route does: Forward to a service endpoint, or Handle in the gateway.
	Call Call
	// Headers are the request headers the route reads, for the OpenAPI document
	// (Idempotency-Key, Stripe-Signature, Last-Event-ID…). Accept-Language is declared on
	// every forwarded route: the gateway passes it to every service.
	Headers []Param
}

// LimitClass picks the rate limits of a route beyond the per-IP limit of every request.
type LimitClass int

const (
	// LimitDefault applies the per-IP limit and, for a caller with a token, the per-account
	// limit.
	LimitDefault LimitClass = iota
	// LimitAuth adds the much stricter per-IP limit of the /v1/auth/* routes.
	LimitAuth
)

// Param documents a query parameter or a request header in the OpenAPI document.
type Param struct {
	// Name is the query key or the header name.
	Name string
	// Type is the JSON Schema type: "string", "integer", "number", "boolean".
	Type string
	// Description says what it does.
	Description string
	// Required is set when a request without it is refused (400).
	Required bool
	// Enum lists the accepted values, when they are a fixed set.
	Enum []string
	// EnumOf names the constants in subjects whose values are the accepted set, as the
	// `enum` struct tag does (a constant of the block, or a []string variable).
	EnumOf string
	// Range is the inclusive minimum and maximum of a number, when it is bounded.
	Range []float64
	// MaxLength bounds a string's length, when it is bounded.
	MaxLength int
}

// Call is the behaviour of a route, built by Forward or Handle. Its fields feed the route's
// handler and its OpenAPI entry.
type Call struct {
	handler func(g *Gateway, rt *Route) fiber.Handler
	// body is the JSON request body type, nil when the route takes none.
	body reflect.Type
	// reply is the success body type, nil for none (204, or a non-JSON reply).
	reply reflect.Type
	// media is the success content type; application/json when empty.
	media string
	query []Param
	// optional is set when the body may be left out (Input.OptionalBody).
	optional bool
	// raw documents a body the route reads as bytes (Input.Raw).
	raw *RawBody
	// empty is set when the endpoint replies subjects.Empty: the route answers 204.
	empty bool
	// forward is set for routes that ask a service (and so may answer 503 and 504).
	forward bool
	// access is the forwarded endpoint's rule.
	access subjects.Access
	// subject is the forwarded endpoint's subject: its doc comment describes the route.
	subject string
	// serve is a Handle route's handler: its doc comment describes the route.
	serve fiber.Handler
}

// Input says how a route builds the request Req of its endpoint from HTTP.
type Input[Req any] struct {
	// Body decodes the JSON request body into Req (Content-Type application/json required; an
	// empty or malformed body is a 400, a wrong type a 400 naming the field; unknown fields
	// are ignored).
	Body bool
	// OptionalBody is Body for a route whose body may be left out: an empty body leaves Req
	// as Bind finds it; a body that is sent is decoded as Body says.
	OptionalBody bool
	// Raw documents a body that Bind reads as bytes, undecoded (a webhook verified over its
	// exact bytes). Leave Body unset with it.
	Raw *RawBody
	// Query documents the query parameters that Bind reads.
	Query []Param
	// Bind fills Req from path and query parameters (or checks it) after the body is decoded.
	// Strings taken from c must be copied if kept beyond the request; encoding Req copies them.
	Bind func(c *fiber.Ctx, req *Req) error
}

// RawBody documents a request body the route passes on as bytes.
type RawBody struct {
	// Media is its content type.
	Media string
	// Description says what it is.
	Description string
}

var emptyType = reflect.TypeFor[subjects.Empty]()

// Forward makes a route that builds Req from the request as in says, sends it to ep with the
// caller's Authorization and the request id, and passes the reply bytes through unchanged.
func Forward[Req, Rep any](ep subjects.Endpoint[Req, Rep], in Input[Req]) Call {
	call := Call{query: in.Query, reply: reflect.TypeFor[Rep](), forward: true, access: ep.Access,
		optional: in.OptionalBody, raw: in.Raw, subject: ep.Subject}
	if in.Body || in.OptionalBody {
		call.body = reflect.TypeFor[Req]()
	}
	decode := in.Body || in.OptionalBody
	if call.reply == emptyType {
		call.reply, call.empty = nil, true
	}
	// A route that binds nothing sends the same bytes every time: encode them once.
	static, err := json.Marshal(new(Req))
	if err != nil {
		panic(fmt.Sprintf("gateway: %s: request type does not encode: %v", ep.Subject, err))
	}
	subject := ep.Subject
	var one *oneString
	if !decode && in.Bind != nil {
		one = oneStringOf(reflect.TypeFor[Req]())
	}
	call.handler = func(g *Gateway, rt *Route) fiber.Handler {
		status := rt.status()
		return func(c *fiber.Ctx) error {
			body := static
			if one != nil { // {"id":"…"} from the path: the product read
				return forwardOne(g, c, subject, status, one, in.Bind)
			}
			if decode || in.Bind != nil {
				var req Req
				if in.Body || (in.OptionalBody && len(bytes.TrimSpace(c.Body())) > 0) {
					if err := decodeBody(c, &req); err != nil {
						return err
					}
				}
				if in.Bind != nil {
					if err := in.Bind(c, &req); err != nil {
						return err
					}
				}
				// A variable of this request's own: Forward's err is shared by every request.
				enc, err := json.Marshal(&req)
				if err != nil {
					return fmt.Errorf("%s: encode request: %w", subject, err)
				}
				body = enc
			}
			return g.forward(c, subject, status, body)
		}
	}
	return call
}

// forward sends body to subject and answers with the reply as it is.
func (g *Gateway) forward(c *fiber.Ctx, subject string, status int, body []byte) error {
	data, err := g.request(c, subject, body)
	if err != nil {
		return err
	}
	c.Status(status)
	if status == fiber.StatusNoContent {
		return nil
	}
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	c.Response().SetBodyRaw(data) // the service's bytes, not decoded and re-encoded
	return nil
}

// forwardOne is Forward's handler for a request of one string field that Bind fills (the
// product read's {"id":"…"}): the request and its encoding come from pools and are written
// without reflection, where a value of its own and json.Marshal were two allocations and
// most of the gateway's own work on a cached read. A value that JSON would escape is
// encoded by encoding/json, as every other request is.
func forwardOne[Req any](g *Gateway, c *fiber.Ctx, subject string, status int, one *oneString, bind func(*fiber.Ctx, *Req) error) error {
	req := one.reqs.Get().(*Req)
	defer func() {
		*req = *new(Req)
		one.reqs.Put(req)
	}()
	if err := bind(c, req); err != nil {
		return err
	}
	buf := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(buf)
	body, ok := one.append((*buf)[:0], reflect.ValueOf(req).Elem().Field(0).String())
	if !ok {
		enc, err := json.Marshal(req)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", subject, err)
		}
		body = enc
	} else {
		*buf = body // keep what it grew to
	}
	return g.forward(c, subject, status, body) // the request is written out when it returns
}

// bodyPool holds the buffers forwardOne encodes requests in.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

// oneString is a request type of one string field, such as subjects.ProductIDRequest.
type oneString struct {
	// prefix is the JSON up to the value's opening quote: {"id":"
	prefix []byte
	// reqs are spare values of the type.
	reqs sync.Pool
}

// oneStringOf describes t when it is a struct of one exported string field that
// encoding/json writes as {"name":"value"} (no omitempty, no ",string"); nil otherwise.
func oneStringOf(t reflect.Type) *oneString {
	if t.Kind() != reflect.Struct || t.NumField() != 1 {
		return nil
	}
	f := t.Field(0)
	name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		name = f.Name
	}
	if !f.IsExported() || f.Type != reflect.TypeFor[string]() || opts != "" || name == "-" || !plainJSON(name) {
		return nil
	}
	return &oneString{prefix: []byte(`{"` + name + `":"`), reqs: sync.Pool{New: func() any { return reflect.New(t).Interface() }}}
}

// append appends the request of value v to b; ok is false when v is not written as it is.
func (o *oneString) append(b []byte, v string) ([]byte, bool) {
	if !plainJSON(v) {
		return b, false
	}
	b = append(b, o.prefix...)
	b = append(b, v...)
	return append(b, `"}`...), true
}

// plainJSON reports whether encoding/json writes s as it is between quotes: printable
// ASCII without the quote, the backslash and the characters it escapes for HTML (<, >, &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch < 0x20, ch >= 0x7f, ch == '"', ch == '\\', ch == '<', ch == '>', ch == '&':
			return false
		}
	}
	return true
}

// Handle makes a route served by the gateway itself. reply documents its 200 body (nil: not
// a JSON document) and media its content type.
func Handle(h fiber.Handler, reply reflect.Type, media string) Call {
	return Call{handler: func(*Gateway, *Route) fiber.Handler { return h }, reply: reply, media: media, serve: h}
}

func (rt *Route) status() int {
	switch {
	case rt.Status != 0:
		return rt.Status
	case rt.Call.empty:
		return fiber.StatusNoContent
	default:
		return fiber.StatusOK
	}
}

// MaxIdempotencyKey bounds the Idempotency-Key header.
const MaxIdempotencyKey = 255

// request sends body to subject with the caller's metadata and the per-request deadline.
func (g *Gateway) request(c *fiber.Ctx, subject string, body []byte) ([]byte, error) {
	meta := subjects.Meta{
		Authorization: c.Get(fiber.HeaderAuthorization),
		RequestID:     stateOf(c).id,
	}
	if tp := c.Get(subjects.HeaderTraceparent); len(tp) <= 128 {
		meta.Traceparent = tp
	}
	if al := c.Get(fiber.HeaderAcceptLanguage); len(al) <= 256 {
		meta.AcceptLanguage = al
	}
	if key := c.Get(subjects.HeaderIdempotencyKey); key != "" {
		if len(key) > MaxIdempotencyKey {
			return nil, subjects.BadRequest("Idempotency-Key", "must be at most "+strconv.Itoa(MaxIdempotencyKey)+" characters")
		}
		meta.IdempotencyKey = key
	}
	return subjects.RequestMeta(stateOf(c).ctx, g.deps.NC, subject, body, meta, g.cfg.RequestTimeout)
}

// register adds rt to the app: one handler that marks the route for metrics and logs, applies
// its rate limits and access check, then runs the call.
func (g *Gateway) register(rt *Route) error {
	if rt.Method == "" || !strings.HasPrefix(rt.Path, "/") || rt.Call.handler == nil {
		return fmt.Errorf("gateway: route %s %s is incomplete", rt.Method, rt.Path)
	}
	switch {
	case rt.Call.forward && rt.Access.Valid():
		return fmt.Errorf("gateway: route %s %s sets Access: a forwarded route takes its endpoint's rule from subjects", rt.Method, rt.Path)
	case rt.Call.forward:
		rt.Access = rt.Call.access
	}
	if !rt.Access.Valid() {
		return fmt.Errorf("gateway: route %s %s has no access rule", rt.Method, rt.Path)
	}
	rt.Method = strings.ToUpper(rt.Method)
	m := g.routeMetrics(rt)
	call := rt.Call.handler(g, rt)
	public := rt.Access.IsPublic()
	admit := g.admitterOf(rt)
	on, paused := g.feature(rt)
	g.app.Add(rt.Method, rt.Path, func(c *fiber.Ctx) error {
		st := stateOf(c)
		st.route, st.metrics = rt, m
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		if on != nil && !on.Load() {
			return paused
		}
		if admit != nil { // first: a refusal costs no token check
			if err := admit.enter(); err != nil {
				admit.refused(g.clientKey(c, st))
				return err
			}
			defer admit.leave()
		}
		if rt.Limit == LimitAuth {
			if err := g.limits.authIP.allowBytes(st.clientAddr(c, g.cfg.TrustProxy)); err != nil {
				return err
			}
		}
		header := c.Get(fiber.HeaderAuthorization)
		if header != "" || !public {
			// Not c.Context(): fasthttp's RequestCtx as a context.Context races with the
			// server's shutdown (its Done reads what Shutdown writes), seen under -race.
			claims, err := g.deps.Verifier.Authorize(c.UserContext(), header, rt.Access)
			if err != nil {
				return err
			}
			if err := g.limits.account.allow(claims.Subject); err != nil {
				return err
			}
		} else if rt.CacheControl != "" {
			c.Set(fiber.HeaderCacheControl, rt.CacheControl)
		}
		return call(c)
	})
	return nil
}

// The identity routes of docs/api.md.
func (g *Gateway) apiRoutes() []Route {
	return []Route{
		{Method: fiber.MethodPost, Path: "/v1/auth/register", Tag: "auth", Summary: "Create an account",
			Limit: LimitAuth, Feature: liveconfig.Registration, Status: fiber.StatusCreated, Errors: []int{409},
			Call: Forward(subjects.UserRegister, Input[subjects.RegisterRequest]{Body: true})},
		{Method: fiber.MethodPost, Path: "/v1/auth/login", Tag: "auth", Summary: "Exchange email and password for a token pair",
			Limit: LimitAuth, Errors: []int{401},
			Call: settleLogin(Forward(subjects.AuthLogin, Input[subjects.LoginRequest]{Body: true, Bind: g.limitLogin}))},
		{Method: fiber.MethodPost, Path: "/v1/auth/refresh", Tag: "auth", Summary: "Rotate a refresh token into a new pair",
			Limit: LimitAuth, Errors: []int{401},
			Call: Forward(subjects.AuthRefresh, Input[subjects.RefreshRequest]{Body: true})},
		{Method: fiber.MethodPost, Path: "/v1/auth/logout", Tag: "auth", Summary: "End the session of a refresh token",
			Limit: LimitAuth,
			Call:  Forward(subjects.AuthLogout, Input[subjects.RefreshRequest]{Body: true})},
		{Method: fiber.MethodPost, Path: "/v1/auth/verify-email", Tag: "auth", Summary: "Mark an email address verified",
			Limit: LimitAuth,
			Call:  Forward(subjects.UserVerifyEmail, Input[subjects.VerifyEmailRequest]{Body: true})},
		g.verifyEmailRoute(),
		{Method: fiber.MethodPost, Path: "/v1/auth/verify-email/resend", Tag: "auth", Summary: "Send a new verification link",
			Limit: LimitAuth, Status: fiber.StatusAccepted, Errors: []int{409},
			Call: Forward(subjects.UserResendVerification, Input[subjects.Empty]{})},
		{Method: fiber.MethodPost, Path: "/v1/auth/password/forgot", Tag: "auth", Summary: "Email a password reset link",
			Limit: LimitAuth, Status: fiber.StatusAccepted,
			Call: Forward(subjects.UserForgotPassword, Input[subjects.ForgotPasswordRequest]{Body: true})},
		{Method: fiber.MethodPost, Path: "/v1/auth/password/reset", Tag: "auth", Summary: "Set a new password with a reset token",
			Limit: LimitAuth,
			Call:  Forward(subjects.UserResetPassword, Input[subjects.ResetPasswordRequest]{Body: true})},
		{Method: fiber.MethodPost, Path: "/v1/users/me/password", Tag: "users", Summary: "Change the caller's password",
			Limit: LimitAuth, Errors: []int{409},
			Call: Forward(subjects.UserChangePassword, Input[subjects.ChangePasswordRequest]{Body: true})},
		{Method: fiber.MethodPost, Path: "/v1/users/me/email", Tag: "users", Summary: "Change the caller's email: the new address confirms it",
			Limit: LimitAuth, Status: fiber.StatusAccepted, Errors: []int{409},
			Call: Forward(subjects.UserChangeEmail, Input[subjects.ChangeEmailRequest]{Body: true})},
		{Method: fiber.MethodGet, Path: "/.well-known/jwks.json", Tag: "auth", Summary: "The public keys that sign access tokens",
			CacheControl: "public, max-age=60",
			Call:         Forward(subjects.AuthJWKS, Input[subjects.Empty]{})},
		{Method: fiber.MethodGet, Path: "/v1/users/me", Tag: "users", Summary: "The caller's profile",
			Call: Forward(subjects.UserMe, Input[subjects.Empty]{})},
		{Method: fiber.MethodPatch, Path: "/v1/users/me", Tag: "users", Summary: "Change the caller's name, locale or addresses",
			Call: Forward(subjects.UserUpdateMe, Input[subjects.UpdateMeRequest]{Body: true})},
		{Method: fiber.MethodGet, Path: "/v1/admin/users", Tag: "admin", Summary: "List users",
			Call: Forward(subjects.UserList, Input[subjects.ListRequest]{Query: pageParams, Bind: bindPage})},
		{Method: fiber.MethodPut, Path: "/v1/admin/users/:id/roles", Tag: "admin", Summary: "Replace a user's roles",
			Errors: []int{404},
			Call: Forward(subjects.UserSetRoles, Input[subjects.SetRolesRequest]{Body: true, Bind: func(c *fiber.Ctx, r *subjects.SetRolesRequest) error {
				r.ID = c.Params("id")
				return nil
			}})},
		{Method: fiber.MethodDelete, Path: "/v1/admin/users/:id", Tag: "admin",
			Summary: "Remove an account: it cannot log in, its sessions end and its tokens stop within a second; its profile is erased, its orders kept",
			Errors:  []int{400, 404},
			Call: Forward(subjects.UserRemove, Input[subjects.UserIDRequest]{Bind: func(c *fiber.Ctx, r *subjects.UserIDRequest) error {
				r.ID = c.Params("id")
				return nil
			}})},
	}
}

// pageParams are the keyset pagination parameters of every list.
var pageParams = []Param{
	{Name: "limit", Type: "integer", Description: "page size, 1.." + strconv.Itoa(page.Max) + " (" + strconv.Itoa(page.Default) + " when absent)",
		Range: []float64{1, page.Max}},
	{Name: "cursor", Type: "string", Description: "the next_cursor of the previous page"},
}

// bindPage reads ?limit and ?cursor; the service checks their ranges.
func bindPage(c *fiber.Ctx, r *subjects.ListRequest) error {
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return subjects.BadRequest("limit", "must be an integer")
		}
		r.Limit = n
	}
	r.Cursor = c.Query("cursor")
	return nil
}

// limitLogin admits a login by the failures of its client address on its email, of its email
// from any address and of its address across emails (see LoginLimits), and leaves the
// admitted attempt for settleLogin to settle by the reply.
func (g *Gateway) limitLogin(c *fiber.Ctx, r *subjects.LoginRequest) error {
	email := strings.ToLower(strings.TrimSpace(r.Email))
	if len(email) > 320 {
		email = email[:320]
	}
	if email == "" || g.limits.login == nil {
		return nil // the service answers 400 to no email
	}
	a, err := g.limits.login.admit(stateOf(c).clientAddr(c, g.cfg.TrustProxy), email)
	if err != nil {
		return err
	}
	c.Locals(loginAttemptKey{}, a)
	return nil
}
