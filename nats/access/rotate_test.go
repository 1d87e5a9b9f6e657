package access_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/access"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/subjects"
)

// TestPasswordRotatedWithoutRestart rotates a service's password as docs/operations.md
// says: the new one into the service's password file, then into the server's variable and
// a reload. The server drops the service's connection, which comes back with the new
// password read from the file, with no restart of the service, and serves again.
func TestPasswordRotatedWithoutRestart(t *testing.T) {
	certs := natstest.NewCerts(t)
	hub := natstest.StartHub(t, certs, false)
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(hub.Passwords["order"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth := bus.Auth{User: "order", Password: hub.Passwords["order"], PasswordFile: file, CA: certs.CA}
	reconnected := make(chan struct{}, 1)
	order, err := nats.Connect(hub.ClientURL(), append(auth.Options(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))...)
	if err != nil {
		t.Fatal(err)
	}
	defer order.Close()
	if _, err := order.QueueSubscribe(subjects.OrderGet.Subject, "q", func(m *nats.Msg) { _ = m.Respond([]byte(`{}`)) }); err != nil {
		t.Fatal(err)
	}
	gateway := connect(t, hub.ClientURL(), "gateway", hub.Passwords["gateway"], certs)

	if err := os.WriteFile(file, []byte("rotated-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(access.PasswordVar("order"), "rotated-password")
	hub.Reload(t)
	select {
	case <-reconnected:
	case <-time.After(60 * time.Second):
		t.Fatalf("the order connection did not come back with the rotated password (status %v)", order.Status())
	}
	expect.Within(t, 30*time.Second, func() error {
		_, err := gateway.Request(subjects.OrderGet.Subject, []byte(`{}`), 5*time.Second)
		return err
	})
}
