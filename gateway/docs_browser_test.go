package gateway_test

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/souk/souk/gateway"
)

// chromium finds a Chromium binary: $SOUK_CHROMIUM, else Debian's chromium on the PATH. Without
// one the test skips, or fails when SOUK_REQUIRE_BROWSER is set (CI sets it).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SOUK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SOUK_REQUIRE_BROWSER") != "" {
		t.Fatal("SOUK_REQUIRE_BROWSER is set and no Chromium was found: apt-get install -y chromium (or set SOUK_CHROMIUM)")
	}
	t.Skip("no Chromium: apt-get install -y chromium to run this test (SOUK_REQUIRE_BROWSER=1 makes its absence a failure)")
	return ""
}

// browserLog is what the page did besides rendering: requests that left the gateway, and
// errors (uncaught exceptions, console errors such as a Content-Security-Policy violation).
type browserLog struct {
	mu      sync.Mutex
	outside []string
	errors  []string
	fetched []string
}

// snapshot copies what was recorded so far.
func (l *browserLog) snapshot() (outside, errs, fetched []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.outside), slices.Clone(l.errors), slices.Clone(l.fetched)
}

func (l *browserLog) add(list *[]string, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	*list = append(*list, s)
}

// The /docs page, in headless Chromium with every request to another origin refused, shows
// every operation of /openapi.json, loads nothing from elsewhere, and violates no policy.
func TestDocsRenderEveryOperationInChromium(t *testing.T) {
	bin := chromium(t)
	h := newHarness(t, gateway.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.g.Serve(ln) }()
	t.Cleanup(func() { _ = h.g.App().Shutdown() })
	origin := "http://" + ln.Addr().String()
	ops := documentOperations(t, h)

	start := time.Now()
	bctx := startBrowser(t, bin)
	t.Logf("browser started after %v", time.Since(start))
	log := &browserLog{}
	watch(bctx, origin, log)
	if err := chromedp.Run(bctx,
		cdplog.Enable(),
		fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "*"}}),
		chromedp.Navigate(origin+"/docs"),
		chromedp.WaitVisible(".opblock-summary-operation-id", chromedp.ByQuery),
	); err != nil {
		outside, errs, _ := log.snapshot()
		t.Fatalf("the page did not render an operation: %v (outside: %v, errors: %v)", err, outside, errs)
	}
	t.Logf("first operation shown after %v", time.Since(start))
	var shown []string
	// Swagger UI renders the operations of every tag at once; poll until all are there.
	poll := `(() => { const ids = [...document.querySelectorAll('.opblock-summary-operation-id')].map(e => e.textContent.trim());
		return ids.length >= ` + strconv.Itoa(len(ops)) + ` ? ids : null })()`
	if err := chromedp.Run(bctx, chromedp.Poll(poll, &shown, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		var partial []string
		_ = chromedp.Run(bctx, chromedp.Evaluate(`[...document.querySelectorAll('.opblock-summary-operation-id')].map(e => e.textContent.trim())`, &partial))
		t.Fatalf("the page shows %d of %d operations; missing %v", len(partial), len(ops), missing(ops, partial))
	}
	if m := missing(ops, shown); len(m) > 0 || len(shown) != len(ops) {
		t.Errorf("the page shows %d operations, the document has %d; missing %v", len(shown), len(ops), m)
	}
	outside, errs, fetched := log.snapshot()
	if len(outside) > 0 {
		t.Errorf("the page asked for something outside the gateway: %v", outside)
	}
	if len(errs) > 0 {
		t.Errorf("the page logged errors: %v", errs)
	}
	if !slices.Contains(fetched, origin+"/openapi.json") {
		t.Errorf("the page did not fetch /openapi.json: %v", fetched)
	}
}

// startBrowser starts headless Chromium bin for the test (60 s at most) and returns its tab.
func startBrowser(t *testing.T, bin string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		// Belt and braces: no name resolves but the gateway's address, so even a request
		// the interception missed cannot reach another host.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		// No session bus here: without this, Chromium waits seconds for one at start.
		chromedp.Env("DBUS_SESSION_BUS_ADDRESS=disabled:"),
	)...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Run(bctx); err != nil { // an empty run starts the browser
		t.Fatalf("chromium %s: %v", bin, err)
	}
	return bctx
}

// watch lets the page's requests to origin through and fails any other (recording it), and
// records uncaught exceptions and console errors.
func watch(ctx context.Context, origin string, log *browserLog) {
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *fetch.EventRequestPaused:
			u, err := url.Parse(ev.Request.URL)
			inside := err == nil && u.Scheme+"://"+u.Host == origin
			go func() { // a listener must not block: answer from another goroutine
				ectx := cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Target)
				if inside {
					log.add(&log.fetched, strings.TrimSuffix(ev.Request.URL, "?"))
					_ = fetch.ContinueRequest(ev.RequestID).Do(ectx)
					return
				}
				log.add(&log.outside, ev.Request.URL)
				_ = fetch.FailRequest(ev.RequestID, network.ErrorReasonBlockedByClient).Do(ectx)
			}()
		case *cdplog.EventEntryAdded: // a Content-Security-Policy violation is logged here
			if ev.Entry.Level == cdplog.LevelError {
				log.add(&log.errors, string(ev.Entry.Source)+": "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		case *runtime.EventExceptionThrown:
			log.add(&log.errors, ev.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				log.add(&log.errors, "console.error: "+strings.Join(args, " "))
			}
		}
	})
}

// documentOperations are the operation ids of the gateway's /openapi.json.
func documentOperations(t *testing.T, h *harness) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(h.do("GET", "/openapi.json", nil).body, &doc); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, item := range doc.Paths {
		for _, op := range item {
			ids = append(ids, op.OperationID)
		}
	}
	if len(ids) < 10 {
		t.Fatalf("the document has %d operations", len(ids))
	}
	return ids
}

func missing(want, got []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
		}
	}
	return out
}
