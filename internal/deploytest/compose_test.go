package deploytest

import (
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
)

// loadCompose loads the compose file at file with compose-go, validating it against the
// Compose specification's schema, as `docker compose config` does.
func loadCompose(t *testing.T, file string) (*types.Project, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithWorkingDirectory(filepath.Dir(file)), cli.WithName("souk"),
		cli.WithEnv(nil), cli.WithInterpolation(true), cli.WithoutEnvironmentResolution)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(ctx)
}

// checkCompose wants, for every service and the gateway, containers of its own with a
// health check, a numeric non-root user, two replicas, its own NATS user whose password is
// a secret file, R3 streams, and a start after NATS, PostgreSQL and the migration; and the
// infrastructure: three NATS servers, PostgreSQL, Meilisearch, Prometheus, Grafana.
func checkCompose(pr *types.Project, services []string) problems {
	var p problems
	for _, name := range append(slices.Clone(services), "gateway") {
		s, ok := pr.Services[name]
		if !ok {
			p.add("service %s has no compose service", name)
			continue
		}
		if !slices.Equal([]string(s.Command), []string{"run", name}) {
			p.add("%s: command %v, want [run %s]", name, s.Command, name)
		}
		checkComposeService(&p, s)
		if s.GetScale() != 2 {
			p.add("%s: %d replicas, want 2 (it keeps nothing in the process)", name, s.GetScale())
		}
		if v := env(s, "SOUK_NATS_USER"); v != name {
			p.add("%s: SOUK_NATS_USER %q, want %q", name, v, name)
		}
		if env(s, "SOUK_NATS_PASSWORD_FILE") != "/run/secrets/nats_"+name {
			p.add("%s: SOUK_NATS_PASSWORD_FILE is not its own secret nats_%s", name, name)
		}
		// souk probe asks SOUK_OPS_ADDR when it is set, else the gateway's address: the
		// address the process serves its health on.
		if ops := env(s, "SOUK_OPS_ADDR"); (name == "gateway") != (ops == "") {
			p.add("%s: SOUK_OPS_ADDR %q, but its health check would then ask where nothing listens", name, ops)
		}
		if env(s, "SOUK_NATS_REPLICAS") != "3" {
			p.add("%s: SOUK_NATS_REPLICAS is not 3", name)
		}
		if env(s, "OTEL_EXPORTER_OTLP_ENDPOINT") != "http://jaeger:4317" {
			p.add("%s: its spans do not go to the jaeger service", name)
		}
		for _, dep := range []string{"nats-setup", "postgres", "migrate"} {
			want := types.ServiceConditionCompletedSuccessfully
			if dep == "postgres" {
				want = types.ServiceConditionHealthy
			}
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != want {
				p.add("%s: does not wait for %s (%s)", name, dep, want)
			}
		}
	}
	for _, name := range []string{"nats-0", "nats-1", "nats-2", "postgres", "meilisearch", "prometheus", "grafana", "jaeger"} {
		s, ok := pr.Services[name]
		if !ok {
			p.add("no %s", name)
			continue
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			p.add("%s: no health check", name)
		}
	}
	for _, one := range [][]string{{"migrate"}, {"nats-setup"}} {
		if m, ok := pr.Services[one[0]]; !ok || !slices.Equal([]string(m.Command), one) {
			p.add("no one-shot %s service", one[0])
		} else {
			checkComposeService(&p, m)
		}
	}
	return p
}

// checkComposeService wants a souk container locked down, checked, and its *_FILE settings
// pointing at secrets it is given.
func checkComposeService(p *problems, s types.ServiceConfig) {
	uid, _, _ := strings.Cut(s.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		p.add("%s: user %q is not a numeric non-root user", s.Name, s.User)
	}
	if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
		p.add("%s: not read-only with every capability dropped", s.Name)
	}
	if s.Name != "migrate" && s.Name != "nats-setup" && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
		p.add("%s: no health check", s.Name)
	}
	for k, v := range s.Environment {
		if !strings.HasSuffix(k, "_FILE") || v == nil {
			continue
		}
		secret := path.Base(*v)
		if path.Dir(*v) != "/run/secrets" || !slices.ContainsFunc(s.Secrets, func(c types.ServiceSecretConfig) bool { return c.Source == secret }) {
			p.add("%s: %s %q is not a secret it is given", s.Name, k, *v)
		}
	}
}

func env(s types.ServiceConfig, name string) string {
	if v := s.Environment[name]; v != nil {
		return *v
	}
	return ""
}

func TestCompose(t *testing.T) {
	pr, err := loadCompose(t, filepath.Join(root(t), "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checkCompose(pr, serviceNames(t)).report(t, "compose.yaml")
}

// The checks notice a service without containers, a missing health check and a root user,
// and the loader refuses what the Compose schema does not know.
func TestComposeChecksCatchBreakage(t *testing.T) {
	services := serviceNames(t)
	orig, err := os.ReadFile(filepath.Join(root(t), "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, cut, with, want string }{
		{"a service left out", "\n  order:\n", "\n  orders-old:\n", "service order has no compose service"},
		{"health checks off", `    test: ["CMD", "/souk", "probe", "/readyz"]`, "    disable: true", "cart: no health check"},
		{"root", `  user: "65532:65532"`, `  user: "0"`, `payment: user "0" is not a numeric non-root user`},
		{"one replica", "    deploy: {replicas: 2}\n", "", "shipping: 1 replicas"},
		{"the gateway probed on the ops port", `      SOUK_OPS_ADDR: "" #`, "      SOUK_FOO: \"\" #", `gateway: SOUK_OPS_ADDR ":9090"`},
		{"a misspelt key", "  healthcheck: &souk-health", "  healthchek: &souk-health", "healthchek"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(orig), tc.cut) {
				t.Fatalf("compose.yaml does not contain %q", tc.cut)
			}
			file := filepath.Join(t.TempDir(), "compose.yaml")
			if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(orig), tc.cut, tc.with)), 0o600); err != nil {
				t.Fatal(err)
			}
			pr, err := loadCompose(t, file)
			var found []string
			if err != nil {
				found = []string{err.Error()}
			} else {
				found = checkCompose(pr, services)
			}
			if !slices.ContainsFunc(found, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Fatalf("after %s the checks found %q, want %q among them", tc.name, found, tc.want)
			}
		})
	}
}

// compose.yaml's NATS servers run nats/cluster.conf with the passwords and the certificate
// make-secrets.sh writes, and the NATS server accepts them: every password the users of
// nats/accounts.conf need is there, the routes name compose's nodes, JetStream is in the
// domain hub. The script runs in a copy of the repository's layout; the configuration's
// /etc/nats/tls is the copy's.
func TestComposeNATSConfig(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(from, to string, edit func(string) string) {
		b, err := os.ReadFile(filepath.Join(root(t), from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, to)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), []byte(edit(string(b))), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	pr, err := loadCompose(t, filepath.Join(root(t), "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The NATS configuration files are the ones compose mounts into /etc/nats, and only
	// those: an include compose does not mount fails the parse below.
	tls := filepath.Join(dir, "infra", "compose", "secrets", "tls") + "/"
	for _, v := range pr.Services["nats-0"].Volumes {
		if v.Type != types.VolumeTypeBind || !strings.HasPrefix(v.Target, "/etc/nats/") || !strings.HasSuffix(v.Target, ".conf") {
			continue
		}
		from, err := filepath.Rel(root(t), v.Source)
		if err != nil {
			t.Fatal(err)
		}
		copyFile(from, filepath.Join("nats", strings.TrimPrefix(v.Target, "/etc/nats/")), func(s string) string {
			return strings.ReplaceAll(s, "/etc/nats/tls/", tls)
		})
	}
	copyFile("infra/compose/make-secrets.sh", "infra/compose/make-secrets.sh", func(s string) string { return s })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "sh", filepath.Join(dir, "infra", "compose", "make-secrets.sh")).CombinedOutput(); err != nil {
		t.Fatalf("make-secrets.sh: %v\n%s", err, out)
	}
	envFile, err := os.ReadFile(filepath.Join(dir, "infra", "compose", "secrets", "nats-passwords.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(envFile)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		t.Setenv(k, v)
	}
	var nodes []string
	for name, s := range pr.Services {
		if !strings.HasPrefix(name, "nats-") || name == "nats-setup" {
			continue
		}
		nodes = append(nodes, name)
		for k, v := range s.Environment {
			if v != nil {
				t.Setenv(k, *v)
			}
		}
		opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats", "cluster.conf"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if opts.ServerName != name || opts.JetStreamDomain != "hub" || !opts.JetStream {
			t.Errorf("%s: server %q, JetStream %v in domain %q", name, opts.ServerName, opts.JetStream, opts.JetStreamDomain)
		}
		for _, r := range opts.Routes {
			if !slices.Contains([]string{"nats-0", "nats-1", "nats-2"}, r.Hostname()) || pr.Services[r.Hostname()].Name == "" {
				t.Errorf("%s routes to %s, which compose does not run", name, r.Host)
			}
		}
	}
	if slices.Sort(nodes); !slices.Equal(nodes, []string{"nats-0", "nats-1", "nats-2"}) {
		t.Errorf("NATS nodes %v, want nats-0, nats-1, nats-2", nodes)
	}
	for _, s := range append(serviceNames(t), "gateway", "admin") {
		if b, err := os.ReadFile(filepath.Join(dir, "infra", "compose", "secrets", "nats-"+s)); err != nil || len(b) < 16 {
			t.Errorf("secrets/nats-%s: %v, %d bytes", s, err, len(b))
		}
	}
}
