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
		cli.WithEnv(nil), cli.WithInterpolation(true))
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
		if env(s, "SOUK_NATS_REPLICAS") != "3" {
			p.add("%s: SOUK_NATS_REPLICAS is not 3", name)
		}
		for _, dep := range []string{"nats-1", "nats-2", "nats-3", "postgres", "migrate"} {
			want := types.ServiceConditionHealthy
			if dep == "migrate" {
				want = types.ServiceConditionCompletedSuccessfully
			}
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != want {
				p.add("%s: does not wait for %s (%s)", name, dep, want)
			}
		}
	}
	for _, name := range []string{"nats-1", "nats-2", "nats-3", "postgres", "meilisearch", "prometheus", "grafana"} {
		s, ok := pr.Services[name]
		if !ok {
			p.add("no %s", name)
			continue
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			p.add("%s: no health check", name)
		}
	}
	if m, ok := pr.Services["migrate"]; !ok || !slices.Equal([]string(m.Command), []string{"migrate"}) {
		p.add("no one-shot migrate service")
	} else {
		checkComposeService(&p, m)
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
	if s.Name != "migrate" && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
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

// compose.yaml's NATS servers read a configuration the NATS server accepts: a cluster of
// three routes, JetStream in the domain hub, and the users make-secrets.sh writes, one per
// service. The script runs in a copy of infra/compose.
func TestComposeNATSConfig(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"nats.conf", "make-secrets.sh"} {
		b, err := os.ReadFile(filepath.Join(root(t), "infra", "compose", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "sh", filepath.Join(dir, "make-secrets.sh")).CombinedOutput(); err != nil {
		t.Fatalf("make-secrets.sh: %v\n%s", err, out)
	}
	t.Setenv("SERVER_NAME", "nats-2")
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if opts.ServerName != "nats-2" || len(opts.Routes) != 3 || opts.JetStreamDomain != "hub" || !opts.JetStream {
		t.Errorf("server %q, %d routes, JetStream %v in domain %q; want nats-2, 3, true, hub", opts.ServerName, len(opts.Routes), opts.JetStream, opts.JetStreamDomain)
	}
	users := map[string]string{}
	for _, u := range opts.Users {
		if u.Account != nil {
			users[u.Username] = u.Account.Name
		}
	}
	for _, s := range append(serviceNames(t), "gateway") {
		if users[s] != "SOUK" {
			t.Errorf("NATS user %s: in account %q, want SOUK", s, users[s])
		}
		b, err := os.ReadFile(filepath.Join(dir, "secrets", "nats-"+s))
		if err != nil || len(b) < 16 {
			t.Errorf("secrets/nats-%s: %v, %d bytes", s, err, len(b))
		}
	}
}
