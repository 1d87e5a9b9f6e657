package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/souk/souk/subjects"
)

// Binding is one endpoint of the contract with the handler that serves it. It is made only by
// Bind, BindRaw and BindFast from a typed subjects.Endpoint, so the subject, the access rule
// and the handler's types all come from one declaration and a handler cannot be paired with
// another endpoint's subject.
type Binding struct {
	subject string
	access  subjects.Access
	fast    Fast
	h       subjects.RawHandler
}

// Subject is the subject served.
func (b Binding) Subject() string { return b.subject }

// Access is the rule the endpoint is guarded by.
func (b Binding) Access() subjects.Access { return b.access }

// Bind serves ep with fn: the request is decoded as Req (a malformed body is a 400 naming
// the problem) and fn's reply encoded.
func Bind[Req, Rep any](ep subjects.Endpoint[Req, Rep], fn func(ctx context.Context, req Req) (Rep, error)) Binding {
	return Binding{subject: ep.Subject, access: ep.Access, h: ep.Serve(fn)}
}

// BindRaw serves ep with a handler of bytes: for a reply kept encoded (a cache of reply
// bytes). The handler must still take Req and answer Rep.
func BindRaw[Req, Rep any](ep subjects.Endpoint[Req, Rep], h subjects.RawHandler) Binding {
	return Binding{subject: ep.Subject, access: ep.Access, h: h}
}

// BindFast is BindRaw with a fast path for anonymous requests of a public endpoint (see Fast).
func BindFast[Req, Rep any](ep subjects.Endpoint[Req, Rep], fast Fast, h subjects.RawHandler) Binding {
	b := BindRaw(ep, h)
	b.fast = fast
	return b
}

// Add serves the bindings. A binding whose endpoint declares no access rule is refused: an
// endpoint is Public or names the permission it needs, never open by omission.
func (s *Service) Add(bindings ...Binding) error {
	var errs []error
	for _, b := range bindings {
		if !b.access.Valid() {
			errs = append(errs, fmt.Errorf("%s: endpoint %s declares no Access in subjects", s.cfg.Name, b.subject))
			continue
		}
		errs = append(errs, s.handle(b))
	}
	return errors.Join(errs...)
}
