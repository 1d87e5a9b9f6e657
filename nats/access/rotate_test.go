package access_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/access"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/subjects"
)

// TestPasswordRotatedWithoutRestart rotates a service's password with no restart of the
// service: the server's variable and a reload, then the service's password file, late. The
// server drops the service's connection and refuses the old password; once the file holds
// the new one the connection comes back with it and the service serves again.
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

	// The server first, the file a while later (a Secret's files lag): the connection is
	// refused meanwhile and keeps trying.
	t.Setenv(access.PasswordVar("order"), "rotated-password")
	hub.Reload(t)
	expect.Within(t, 30*time.Second, func() error {
		if err := order.LastError(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			return fmt.Errorf("the old password not refused yet (last error %v)", err)
		}
		return nil
	})
	if err := os.WriteFile(file, []byte("rotated-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
