package deploytest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"sigs.k8s.io/yaml"
)

// instruction is one line of a Dockerfile: its keyword (lower case), flags and arguments.
type instruction struct {
	cmd   string
	flags []string
	args  []string
}

// parseDockerfile parses text with BuildKit's parser, the one docker build runs.
func parseDockerfile(text string) ([]instruction, error) {
	res, err := parser.Parse(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	var out []instruction
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		out = append(out, in)
	}
	return out, nil
}

// checkDockerfile wants a build stage that compiles ./cmd/souk statically (CGO_ENABLED=0,
// -trimpath) with the version stamped, and a final stage on distroless static (or scratch)
// that holds only the binary, runs as a numeric non-root user and starts souk.
func checkDockerfile(ins []instruction) problems {
	var p problems
	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "from" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) < 2 {
		return append(p, "not a multi-stage build")
	}
	built := false
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st {
			run := strings.Join(in.args, " ")
			if in.cmd == "run" && strings.Contains(run, "go build") {
				built = true
				for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "./cmd/souk"} {
					if !strings.Contains(run, want) {
						p.add("the go build lacks %s", want)
					}
				}
			}
		}
	}
	if !built {
		p.add("no build stage runs go build")
	}
	final := stages[len(stages)-1]
	if base := final[0].args[0]; !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		p.add("final stage on %s, want distroless static or scratch", base)
	}
	user := ""
	for _, in := range final {
		switch in.cmd {
		case "user":
			user = in.args[0]
		case "run":
			p.add("the final stage runs %v: it has no shell", in.args)
		case "copy":
			if !slices.ContainsFunc(in.flags, func(f string) bool { return strings.HasPrefix(f, "--from=") }) {
				p.add("the final stage copies %v from the build context, not from the build stage", in.args)
			}
		case "entrypoint":
			if !slices.Contains(in.args, "/souk") {
				p.add("ENTRYPOINT %v does not start /souk", in.args)
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		p.add("the final stage's USER %q is not a numeric non-root user", user)
	}
	return p
}

func TestDockerfile(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(root(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := parseDockerfile(string(text))
	if err != nil {
		t.Fatal(err)
	}
	checkDockerfile(ins).report(t, "Dockerfile")
	// The version the build stamps is the binary's own variable.
	main, err := os.ReadFile(filepath.Join(root(t), "cmd", "souk", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^var version = `).Match(main) {
		t.Error("cmd/souk has no var version for -X main.version")
	}
	for _, tc := range []struct{ name, cut, with, want string }{
		{"root", "USER 65532:65532", "USER root", `USER "root" is not a numeric`},
		{"cgo", "CGO_ENABLED=0 ", "", "lacks CGO_ENABLED=0"},
		{"one stage", "FROM gcr.io/distroless/static-debian12:nonroot\nCOPY --from=build /out/souk /souk\n", "", "not a multi-stage build"},
	} {
		if !strings.Contains(string(text), tc.cut) {
			t.Fatalf("Dockerfile does not contain %q", tc.cut)
		}
		ins, err := parseDockerfile(strings.Replace(string(text), tc.cut, tc.with, 1))
		if err != nil {
			t.Fatal(err)
		}
		if p := checkDockerfile(ins); !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
			t.Errorf("Dockerfile with %s: the checks found %q, want %q among them", tc.name, p, tc.want)
		}
	}
}

// The NATS chart's values give a three-server cluster with JetStream on a volume each, in the
// domain the edge sites name.
func TestNATSValues(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "infra", "kubernetes", "nats-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Config struct {
			Cluster struct {
				Enabled  bool
				Replicas int
			}
			JetStream struct {
				Enabled   bool
				FileStore struct {
					Enabled bool
					PVC     struct{ Enabled bool } `json:"pvc"`
				} `json:"fileStore"`
				Merge map[string]any
			} `json:"jetstream"`
		}
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	c := v.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas < 3 {
		t.Errorf("cluster: enabled %v with %d servers, want 3 or more for R3", c.Cluster.Enabled, c.Cluster.Replicas)
	}
	if !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled || !c.JetStream.FileStore.PVC.Enabled {
		t.Error("JetStream not on a file store with a volume per server")
	}
	if c.JetStream.Merge["domain"] != "hub" {
		t.Errorf("JetStream domain %v, want hub", c.JetStream.Merge["domain"])
	}
	// Every password nats/ refers to is in the servers' environment.
	var env struct {
		Container struct{ Env map[string]any }
	}
	if err := yaml.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"accounts.conf", "cluster.conf"} {
		conf, err := os.ReadFile(filepath.Join(root(t), "nats", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range regexp.MustCompile(`\$(SOUK_NATS_PASSWORD_[A-Z0-9_]+)`).FindAllStringSubmatch(string(conf), -1) {
			if env.Container.Env[ref[1]] == nil {
				t.Errorf("nats/%s refers to %s, which the servers' environment lacks", f, ref[1])
			}
		}
	}
}
