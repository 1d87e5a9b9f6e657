package access_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
)

// connect connects to ns as user over TLS (certs' CA), failing t when it cannot.
func connect(t *testing.T, url, user, password string, certs natstest.Certs, opts ...nats.Option) *nats.Conn {
	t.Helper()
	auth := bus.Auth{User: user, Password: password, CA: certs.CA}
	nc, err := nats.Connect(url, append(auth.Options(), opts...)...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestShippedConfigsStart runs the shipped configs as they are, certificates and passwords
// aside: three nodes of cluster.conf form a cluster whose R3 stream spreads over three
// failure domains, and a server of leaf.conf joins it as a leaf node with JetStream domain
// site-1, from which domain hub is reached. Over TLS, with the users of accounts.conf.
func TestShippedConfigsStart(t *testing.T) {
	certs := natstest.NewCerts(t)
	passwords := natstest.Passwords(t)
	ports, leafPort := []int{freePort(t), freePort(t), freePort(t)}, freePort(t)
	var nodes []*server.Server
	for i := range 3 {
		t.Setenv("SOUK_NATS_SERVER_NAME", fmt.Sprintf("nats-%d", i))
		t.Setenv("SOUK_NATS_SERVER_TAGS", fmt.Sprintf("az:zone-%d", i))
		opts := natstest.Conf(t, "cluster.conf", certs)
		if opts.JetStreamDomain != "hub" || opts.JetStreamUniqueTag != "az" || !opts.Tags.Contains(fmt.Sprintf("az:zone-%d", i)) {
			t.Fatalf("cluster.conf: domain %q, unique tag %q, tags %v", opts.JetStreamDomain, opts.JetStreamUniqueTag, opts.Tags)
		}
		if opts.TLSConfig == nil || opts.Cluster.TLSConfig == nil || opts.LeafNode.TLSConfig == nil {
			t.Fatal("cluster.conf: TLS missing on clients, routes or leaf nodes")
		}
		opts.Cluster.Port = ports[i]
		opts.Routes = server.RoutesFromStr(fmt.Sprintf("nats://localhost:%d,nats://localhost:%d,nats://localhost:%d", ports[0], ports[1], ports[2]))
		opts.LeafNode.Port = 0 // one leaf listener is enough here
		if i == 0 {
			opts.LeafNode.Port = leafPort
		}
		nodes = append(nodes, natstest.Start(t, opts))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nc := connect(t, nodes[0].ClientURL(), "admin", passwords["admin"], certs)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 60*time.Second, func() error { // the meta group elects a leader; a request before is lost
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
		return err
	})
	info, err := js.AccountInfo(ctx)
	if err != nil || info.Domain != "hub" {
		t.Fatalf("hub account info: domain %q, %v", info.Domain, err)
	}

	t.Setenv("SOUK_NATS_SERVER_NAME", "site-1-nats-0")
	t.Setenv("SOUK_NATS_SITE_DOMAIN", "site-1")
	t.Setenv("SOUK_NATS_HUB_URL", "tls://leaf:"+passwords["leaf"]+"@localhost:"+strconv.Itoa(leafPort))
	leafOpts := natstest.Conf(t, "leaf.conf", certs)
	if leafOpts.JetStreamDomain != "site-1" || len(leafOpts.LeafNode.Remotes) != 1 || leafOpts.LeafNode.Remotes[0].TLSConfig == nil {
		t.Fatalf("leaf.conf: domain %q, remotes %v", leafOpts.JetStreamDomain, leafOpts.LeafNode.Remotes)
	}
	leaf := natstest.Start(t, leafOpts)
	expect.Within(t, 60*time.Second, func() error {
		if leaf.NumLeafNodes() == 0 {
			return fmt.Errorf("the leaf node has not connected to the hub")
		}
		return nil
	})
	site := connect(t, leaf.ClientURL(), "admin", passwords["admin"], certs)
	siteJS, err := jetstream.New(site)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := siteJS.AccountInfo(ctx); err != nil || info.Domain != "site-1" {
		t.Fatalf("site account info: domain %q, %v", info.Domain, err)
	}
	hubFromSite, err := jetstream.NewWithDomain(site, "hub")
	if err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 30*time.Second, func() error {
		_, err := hubFromSite.Stream(ctx, "R3")
		return err
	})
}
