package notification

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/souk/souk/platform/secret"
	"github.com/souk/souk/subjects"
)

// webhookChannel POSTs a delivery's body to its endpoint, signed with the endpoint's
// secret, through the egress rule's client. Any 2xx answer is success; anything else (a
// redirect included: it is not followed) is tried again. A failure is kept, logged and shown
// to admins as a reason from a fixed vocabulary (see failure), never as what the receiver
// sent.
type webhookChannel struct {
	client *http.Client
	now    func() time.Time
}

func newWebhookChannel(e *egress, timeout time.Duration) *webhookChannel {
	return &webhookChannel{now: time.Now, client: e.client(timeout)}
}

func (c *webhookChannel) Send(ctx context.Context, d Delivery) (Sent, error) {
	return Sent{}, c.post(ctx, d)
}

// post POSTs d's body to its endpoint, signed.
func (c *webhookChannel) post(ctx context.Context, d Delivery) error {
	if d.Endpoint == nil {
		return permanent(failure{reason: reasonDeleted})
	}
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return permanent(failure{reason: reasonBadURL})
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Souk-Webhooks/1")
	req.Header.Set(subjects.WebhookSignatureHeader, Sign(d.Endpoint.Secret, c.now(), d.Payload))
	resp, err := c.client.Do(req)
	if err != nil {
		return failure{reason: reason(err, wrote.Load()), cause: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return failure{reason: "http " + strconv.Itoa(resp.StatusCode)}
	}
	return nil
}

// The reasons of a failed webhook attempt, besides "http <status>": the whole vocabulary
// an admin may read in a delivery's last_error.
const (
	reasonPrivate     = "refused: private address"
	reasonTimeout     = "timeout"
	reasonRefused     = "connection refused"
	reasonClosed      = "connection closed"
	reasonUnreachable = "unreachable"
	reasonNoHost      = "no such host"
	reasonDNS         = "dns error"
	reasonTLS         = "tls error"
	reasonNotHTTP     = "not an http answer"
	reasonFailed      = "connection failed"
	reasonDeleted     = "endpoint deleted"
	reasonBadURL      = "unusable url"
)

// failure is a failed webhook attempt. Its text is its reason alone: the cause (kept for
// errors.Is) may hold the receiver's bytes (Go's "malformed HTTP response" quotes them), an
// address of ours or the URL, which may carry a secret of the receiver's in its path.
type failure struct {
	reason string
	cause  error
}

func (f failure) Error() string { return f.reason }
func (f failure) Unwrap() error { return f.cause }

// reason classifies the error of a request that got no answer; wrote tells whether the
// request was sent, so that an error nothing else explains is an answer that was no HTTP.
func reason(err error, wrote bool) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, errPrivate):
		return reasonPrivate
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return reasonNoHost
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return reasonTimeout
	case dnsErr != nil:
		return reasonDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return reasonRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return reasonUnreachable
	case isTLS(err):
		return reasonTLS
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return reasonClosed
	case wrote:
		return reasonNotHTTP
	}
	return reasonFailed
}

// isTLS reports whether err is a failed TLS handshake: not TLS at all, a certificate that
// does not verify, or an alert from the receiver.
func isTLS(err error) bool {
	var header tls.RecordHeaderError
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &header) || errors.As(err, &verify) || errors.As(err, &alert) ||
		errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}

// Sign is the Souk-Signature header of body sent at t: "t=<unix seconds>,v1=<hex
// HMAC-SHA256 of "<t>.<body>" keyed with the secret>". Receivers recompute it (see the
// README) and compare in constant time; the timestamp lets them refuse old replays.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// newSecret returns a webhook signing secret: "whsec_" and 256 random bits.
func newSecret() (string, error) {
	tok, _, err := secret.NewToken()
	return "whsec_" + tok, err
}

// maxURL bounds a webhook URL.
const maxURL = 2048

// checkWebhook validates a registration: an absolute http(s) URL with a host and no
// credentials, and known event types, each once. Every problem names its field.
func checkWebhook(req subjects.WebhookCreateRequest) (string, []string, error) {
	var p subjects.Problems
	raw := strings.TrimSpace(req.URL)
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		p.Add("url", "is required")
	case len(raw) > maxURL:
		p.Add("url", "must be at most "+strconv.Itoa(maxURL)+" characters")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "":
		p.Add("url", "must be an absolute http or https URL")
	case u.User != nil:
		p.Add("url", "must not contain credentials; the signature authenticates Souk")
	case u.Fragment != "":
		p.Add("url", "must not contain a fragment")
	}
	if len(req.Events) == 0 {
		p.Add("events", "at least one event type is required")
	}
	if len(req.Events) > len(subjects.WebhookEventTypes) {
		p.Add("events", "too many event types")
		req.Events = nil
	}
	var events []string
	for i, e := range req.Events {
		field := "events[" + strconv.Itoa(i) + "]"
		switch {
		case !webhookTypes[e]:
			p.Add(field, "unknown event type; known are "+strings.Join(subjects.WebhookEventTypes, ", "))
		case slices.Contains(events, e):
			p.Add(field, "is listed twice")
		default:
			events = append(events, e)
		}
	}
	return raw, events, p.Err()
}
