package natstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	mathrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TLSDir is where the shipped configs (nats/*.conf) read their certificates; Conf puts a
// test's own there instead.
const TLSDir = "/etc/nats/tls/"

// Certs are the PEM files of a test's certificate authority and of the certificates it
// signed, in one directory named as the shipped configs expect (ca.crt, tls.crt, tls.key)
// plus a client's (client.crt, client.key).
type Certs struct {
	Dir                                              string
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// NewCerts makes a CA, a server certificate for localhost, 127.0.0.1 and the cluster's
// names (nats, nats-0 … nats-2), good for server and client use (routes and leaf nodes
// show theirs to each other), and a client certificate, all in t.TempDir().
func NewCerts(t testing.TB) Certs {
	t.Helper()
	dir := t.TempDir()
	c := Certs{Dir: dir, CA: filepath.Join(dir, "ca.crt"), ServerCert: filepath.Join(dir, "tls.crt"), ServerKey: filepath.Join(dir, "tls.key"),
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key")}
	caKey := newKey(t)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "souk test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("natstest: CA: %v", err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatalf("natstest: CA: %v", err)
	}
	writePEM(t, c.CA, "CERTIFICATE", caDER)
	leaf := func(serial int64, name string, dns []string, ips []net.IP, certFile, keyFile string) {
		key := newKey(t)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: dns, IPAddresses: ips,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatalf("natstest: certificate %s: %v", name, err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	}
	leaf(2, "nats", []string{"localhost", "nats", "nats-0", "nats-1", "nats-2"}, []net.IP{net.IPv4(127, 0, 0, 1)}, c.ServerCert, c.ServerKey)
	leaf(3, "souk", nil, nil, c.ClientCert, c.ClientKey)
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("natstest: key: %v", err)
	}
	return key
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ConfDir is the folder of the shipped server configs, nats/.
func ConfDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// Conf reads the shipped config name (cluster.conf, leaf.conf) as nats-server does, with the
// certificates of certs in place of TLSDir, and returns its options with the client,
// monitoring, cluster and leaf node ports made random and JetStream's store in a temporary
// folder. The variables the file names (passwords, server name) come from the environment:
// set them with t.Setenv first.
func Conf(t testing.TB, name string, certs Certs) *server.Options {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{name, "accounts.conf", "canary.conf"} {
		b, err := os.ReadFile(filepath.Join(ConfDir(), f))
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
		text := strings.ReplaceAll(string(b), TLSDir, certs.Dir+string(filepath.Separator))
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("natstest: %s: %v", name, err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT, 0
	if opts.Cluster.Port != 0 {
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", server.RANDOM_PORT
	}
	if opts.LeafNode.Port != 0 {
		opts.LeafNode.Host, opts.LeafNode.Port = "127.0.0.1", server.RANDOM_PORT
	}
	opts.StoreDir = t.TempDir()
	opts.NoSigs = true
	return opts
}

// Start starts a server with opts for t, shut down when the test ends, and waits until it
// accepts clients.
func Start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatalf("natstest: server %s not ready after 30 s", opts.ServerName)
	}
	return ns
}

// passwordVar matches the password variables the shipped configs name.
var passwordVar = regexp.MustCompile(`\$(SOUK_NATS_PASSWORD_[A-Z0-9_]+)`)

// Passwords gives every password variable of the shipped configs (SOUK_NATS_PASSWORD_ORDER,
// …) a value of its own for t, with t.Setenv, and returns each user's password by user name
// (order, gateway, admin, leaf).
func Passwords(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range []string{"cluster.conf", "accounts.conf"} {
		b, err := os.ReadFile(filepath.Join(ConfDir(), f))
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
		for _, m := range passwordVar.FindAllStringSubmatch(string(b), -1) {
			user := strings.ToLower(strings.TrimPrefix(m[1], "SOUK_NATS_PASSWORD_"))
			out[user] = "pw-" + user + "-" + strconv.Itoa(mathrand.IntN(1_000_000))
			t.Setenv(m[1], out[user])
		}
	}
	return out
}

// Hub is one node of the shipped cluster.conf started for a test (StartHub).
type Hub struct {
	*server.Server
	// Passwords are every user's password, by user.
	Passwords map[string]string
	refusals  *refusals
	certs     Certs
	storeDir  string
	file      string
	mutualTLS bool
}

// StartHub starts one node of the shipped cluster.conf for t, without its cluster (no
// routes): TLS, the users of accounts.conf and JetStream in domain hub; with mutualTLS it
// demands a client certificate too. It sets the environment the file needs (Passwords).
func StartHub(t testing.TB, certs Certs, mutualTLS bool) Hub {
	t.Helper()
	passwords := Passwords(t)
	t.Setenv("SOUK_NATS_SERVER_NAME", "nats-0")
	t.Setenv("SOUK_NATS_SERVER_TAGS", "az:a")
	h := Hub{Passwords: passwords, refusals: &refusals{}, certs: certs, mutualTLS: mutualTLS}
	opts := h.opts(t)
	h.storeDir, h.file = opts.StoreDir, opts.ConfigFile
	h.Server = Start(t, opts)
	h.SetLogger(h.refusals, false, false)
	return h
}

// opts are the hub's options as cluster.conf and the environment give them now.
func (h Hub) opts(t testing.TB) *server.Options {
	opts := Conf(t, "cluster.conf", h.certs)
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	if h.mutualTLS { // what "verify: true" in its tls block does
		opts.TLSVerify, opts.TLSConfig.ClientAuth = true, tls.RequireAndVerifyClientCert
	}
	if h.storeDir != "" { // a reload: the same files as the server runs with
		opts.StoreDir, opts.ConfigFile = h.storeDir, h.file
	}
	return opts
}

// Reload has the hub read cluster.conf and its variables again, as nats-server --signal
// reload does: a password changed in the environment since takes effect.
func (h Hub) Reload(t testing.TB) {
	t.Helper()
	if err := h.ReloadOptions(h.opts(t)); err != nil {
		t.Fatalf("natstest: reload: %v", err)
	}
}

// Refused are the publishes and subscriptions the server has refused for want of a
// permission, as it reported them ("Publish Violation - Subject …").
func (h Hub) Refused() []string {
	h.refusals.mu.Lock()
	defer h.refusals.mu.Unlock()
	return slices.Clone(h.refusals.seen)
}

// refusals is the server's logger: it keeps the permissions violations and drops the rest.
type refusals struct {
	mu   sync.Mutex
	seen []string
}

func (r *refusals) Errorf(format string, v ...any) {
	if line := fmt.Sprintf(format, v...); strings.Contains(line, "Violation - Subject") {
		r.mu.Lock()
		r.seen = append(r.seen, line)
		r.mu.Unlock()
	}
}
func (r *refusals) Noticef(string, ...any) {}
func (r *refusals) Warnf(string, ...any)   {}
func (r *refusals) Fatalf(string, ...any)  {}
func (r *refusals) Debugf(string, ...any)  {}
func (r *refusals) Tracef(string, ...any)  {}
