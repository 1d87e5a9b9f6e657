package notification

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/souk/souk/platform/secret"
	"github.com/souk/souk/subjects"
)

// webhookChannel POSTs a delivery's body to its endpoint, signed with the endpoint's
// secret. Any 2xx answer is success; anything else (a redirect included: it is not
// followed) is tried again.
type webhookChannel struct {
	client *http.Client
	now    func() time.Time
}

func newWebhookChannel(timeout time.Duration) *webhookChannel {
	return &webhookChannel{now: time.Now, client: &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *webhookChannel) Send(ctx context.Context, d Delivery) (Sent, error) {
	return Sent{}, c.post(ctx, d)
}

// post POSTs d's body to its endpoint, signed.
func (c *webhookChannel) post(ctx context.Context, d Delivery) error {
	if d.Endpoint == nil {
		return permanent(errors.New("the endpoint was deleted"))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return permanent(errors.New("the endpoint URL is unusable"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Souk-Webhooks/1")
	req.Header.Set(subjects.WebhookSignatureHeader, Sign(d.Endpoint.Secret, c.now(), d.Payload))
	resp, err := c.client.Do(req)
	if err != nil {
		// The URL may hold a secret of the receiver's (a token in its path): keep only the
		// cause, never the URL, in the error that is stored and logged.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: the receiver answered %d", resp.StatusCode)
	}
	return nil
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
