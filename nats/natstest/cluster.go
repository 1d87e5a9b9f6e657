package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
)

// A Cluster is a JetStream cluster of embedded servers in the test process, each with its
// own name, store (a t.TempDir()) and ports, routed to each other. A node can be stopped and
// started again with the same name, store and ports, as a restarted machine would be.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*node
}

type node struct {
	cfg bus.ServerConfig
	ns  *server.Server // nil while stopped
}

// NewCluster starts a cluster of n servers for t and shuts it down at t's cleanup. It does
// not wait for the cluster to form: poll Formed (with internal/expect, which nats/ may not
// import) before creating streams. Each of change, if any, changes every node's config
// before it first starts (SyncAlways, say).
func NewCluster(t testing.TB, n int, change ...func(*bus.ServerConfig)) *Cluster {
	t.Helper()
	routes := freePorts(t, n)
	c := &Cluster{t: t}
	name := "souk-test-" + strconv.Itoa(routes[0]) // unique: another test's cluster never merges in
	for i := range n {
		var others []string
		for j, p := range routes {
			if j != i {
				others = append(others, "nats-route://127.0.0.1:"+strconv.Itoa(p))
			}
		}
		c.nodes = append(c.nodes, &node{cfg: bus.ServerConfig{
			Listen: "127.0.0.1:0", StoreDir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 4 << 30,
			Name:    fmt.Sprintf("n%d", i+1),
			Cluster: bus.ClusterConfig{Name: name, Listen: "127.0.0.1:" + strconv.Itoa(routes[i]), Routes: others},
		}})
	}
	for _, nd := range c.nodes {
		for _, ch := range change {
			ch(&nd.cfg)
		}
	}
	t.Cleanup(c.shutdown)
	for i := range c.nodes {
		c.Start(i)
	}
	return c
}

// freePorts returns n ports free at the moment: the route ports must be known before the
// servers start, since each server's routes name the others'.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
		defer func() { _ = l.Close() }()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Start starts node i (0-based): the first time on a free client port, later on the port,
// name and store it had.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	if nd.ns != nil {
		c.t.Fatalf("natstest: node %s is running", nd.cfg.Name)
	}
	ns, err := bus.StartServer(nd.cfg, zerolog.Nop())
	if err != nil {
		c.t.Fatalf("natstest: node %s: %v", nd.cfg.Name, err)
	}
	nd.ns = ns
	nd.cfg.Listen, nd.cfg.ListenExplicit = ns.Addr().String(), true
}

// Stop shuts node i down, as a crash of its machine that leaves the disk would, short of
// the unsynced writes (see docs/decisions.md): its store stays for Start.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	nd := c.nodes[i]
	ns := nd.ns
	nd.ns = nil
	c.mu.Unlock()
	if ns == nil {
		c.t.Fatalf("natstest: node %s is stopped", nd.cfg.Name)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
}

func (c *Cluster) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nd := range c.nodes {
		if nd.ns != nil {
			nd.ns.Shutdown()
			nd.ns.WaitForShutdown()
			nd.ns = nil
		}
	}
}

// Name is node i's server name, as JetStream's cluster info reports it.
func (c *Cluster) Name(i int) string { return c.nodes[i].cfg.Name }

// Server is node i's server; nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].ns
}

// Index is the node named name; -1 when none is.
func (c *Cluster) Index(name string) int {
	for i, nd := range c.nodes {
		if nd.cfg.Name == name {
			return i
		}
	}
	return -1
}

// URLs are the client URLs of every node, comma-separated as NATS_URL takes them: a client
// given them all reconnects to another node when its own stops. Valid once every node has
// started once.
func (c *Cluster) URLs() string {
	var urls []string
	for _, nd := range c.nodes {
		urls = append(urls, "nats://"+nd.cfg.Listen)
	}
	return strings.Join(urls, ",")
}

// Connect returns a connection to the cluster given every node's URL, reconnecting forever,
// closed at t's cleanup.
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := bus.Connect(c.URLs(), t.Name(), zerolog.Nop(), opts...)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Formed succeeds when the running nodes agree on a JetStream meta leader, it sees every
// running node online, and every running node has caught up with it.
func (c *Cluster) Formed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	running := 0
	for _, nd := range c.nodes {
		if nd.ns != nil {
			running++
		}
	}
	for _, nd := range c.nodes {
		if nd.ns == nil || !nd.ns.JetStreamIsLeader() {
			continue
		}
		if peers := nd.ns.JetStreamClusterPeers(); len(peers) != running {
			return fmt.Errorf("meta leader %s sees %d peers online of %d running", nd.cfg.Name, len(peers), running)
		}
		for _, other := range c.nodes {
			if other.ns != nil && !other.ns.JetStreamIsCurrent() {
				return fmt.Errorf("%s has not caught up with the meta leader", other.cfg.Name)
			}
		}
		return nil
	}
	return errors.New("no JetStream meta leader")
}

// StreamLeader returns the index of the node leading stream, by asking the cluster over js.
func (c *Cluster) StreamLeader(ctx context.Context, js jetstream.JetStream, stream string) (int, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return -1, err
	}
	info := s.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return -1, fmt.Errorf("stream %s has no leader", stream)
	}
	i := c.Index(info.Cluster.Leader)
	if i < 0 {
		return -1, fmt.Errorf("stream %s is led by %s, not a node of this cluster", stream, info.Cluster.Leader)
	}
	return i, nil
}

// StreamCurrent succeeds when stream has a leader and as many current replicas as its
// config asks: every copy caught up.
func StreamCurrent(ctx context.Context, js jetstream.JetStream, stream string) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	info := s.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return fmt.Errorf("stream %s has no leader", stream)
	}
	current := 1 // the leader
	for _, r := range info.Cluster.Replicas {
		if !r.Current || r.Offline {
			return fmt.Errorf("stream %s: replica %s not current (offline %v, %d behind)", stream, r.Name, r.Offline, r.Lag)
		}
		current++
	}
	if current != info.Config.Replicas {
		return fmt.Errorf("stream %s: %d of %d copies", stream, current, info.Config.Replicas)
	}
	return nil
}
