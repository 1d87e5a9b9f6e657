// Package archtest holds the rules of docs/architecture.md's "Layout" as a test: which folder may
// import which, and how packages are named. It reads the real imports with `go list`, which
// reports each package's Imports (its non-test files), TestImports (its _test.go files in
// the package) and XTestImports (its package x_test files) without compiling anything.
package archtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
)

// module is the module path our import paths start with.
const module = "github.com/souk/souk"

// pkg is one package as `go list -json` reports it; paths are relative to the module.
type pkg struct {
	ImportPath   string
	Name         string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Error        *struct{ Err string }
}

// areaRule says which other areas an area's non-test code may import (its own area always,
// and for a service its own folder only), and why.
type areaRule struct {
	may []string
	why string
}

// layers are docs/architecture.md's directions, cmd → gateway, services → platform, nats → subjects,
// read top-down: each area imports only the areas below it. cmd/, bench/ (binaries) and
// internal/ (test support and the demo data, for tests and cmd) sit on top and may import
// anything; who may import internal/ is checked by the area of the importer.
var layers = map[string]areaRule{
	// subjects is the contract every side compiles against: it imports nothing of ours.
	"subjects": {nil, "subjects imports nothing of ours"},
	// nats/ is streams, buckets and the embedded server as code: it knows the contract only.
	"nats": {[]string{"subjects"}, "nats → subjects: nats/ imports only subjects"},
	// platform/ is the shared kits: no kit knows a service, the gateway or a command.
	"platform": {[]string{"subjects", "nats"}, "services → platform: platform/ imports only subjects and nats"},
	// A service asks another over NATS, or keeps a copy from its events; it never imports
	// it, nor the gateway, a command or internal/.
	"services": {[]string{"subjects", "nats", "platform"}, "a service imports only subjects, nats, platform and its own folder"},
	// The gateway reaches services over NATS only.
	"gateway":  {[]string{"subjects", "nats", "platform"}, "the gateway imports only subjects, nats and platform, never a service"},
	"cmd":      {may: []string{"*"}},
	"bench":    {may: []string{"*"}},
	"internal": {may: []string{"*"}},
}

// unit is the folder a package belongs to for the rules: its area (the first element of its
// path), or services/<name> for a service and its wings.
func unit(rel string) (area, unit string) {
	parts := strings.Split(rel, "/")
	if parts[0] == "services" && len(parts) > 1 {
		return "services", "services/" + parts[1]
	}
	return parts[0], parts[0]
}

// violations lists every import of pkgs that breaks a rule, one message each, naming the
// importer and the import. Imports from outside the module are not ours to judge.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from := strings.TrimPrefix(p.ImportPath, module+"/")
		area, own := unit(from)
		layer, known := layers[area]
		if !known {
			out = append(out, fmt.Sprintf("%s is in no folder of docs/architecture.md's layout: add its area to docs/architecture.md and to archtest's layers", from))
			continue
		}
		for _, to := range ours(p.Imports) {
			toArea, toUnit := unit(to)
			switch {
			case toUnit == own:
				// A service imports its own wings and domain; a wing never imports the
				// service back: both import the domain package instead.
				if area == "services" && to == own && from != own {
					out = append(out, fmt.Sprintf("%s imports %s: a wing never imports its service back (both import the service's domain package)", from, to))
				}
			case !slices.Contains(layer.may, "*") && !slices.Contains(layer.may, toArea):
				out = append(out, fmt.Sprintf("%s imports %s: %s", from, to, layer.why))
			case supportOutsideInternal(to) && area != "internal" && !supportOutsideInternal(from):
				// pgtest, natstest, authntest: test support that lives beside what it
				// tests; production code of any area never imports it.
				out = append(out, fmt.Sprintf("%s imports %s: test support is imported by tests and test support only", from, to))
			}
		}
		// Tests may reach across layers (a bus test runs the outbox), not across services:
		// a service's tests start other services through internal/shoptest.
		for _, to := range ours(slices.Concat(p.TestImports, p.XTestImports)) {
			toArea, toUnit := unit(to)
			switch {
			case area == "services" && toArea == "services" && toUnit != own:
				out = append(out, fmt.Sprintf("%s imports %s in its tests: a service's tests never import another service (start it through internal/shoptest)", from, to))
			case area == "services" && toArea == "gateway":
				out = append(out, fmt.Sprintf("%s imports %s in its tests: a service never imports the gateway", from, to))
			case area == "gateway" && toArea == "services":
				out = append(out, fmt.Sprintf("%s imports %s in its tests: the gateway never imports a service", from, to))
			}
		}
	}
	return out
}

// ours keeps the imports of our module, relative to it.
func ours(imports []string) []string {
	var out []string
	for _, i := range imports {
		if rel, ok := strings.CutPrefix(i, module+"/"); ok {
			out = append(out, rel)
		}
	}
	return out
}

// supportOutsideInternal reports whether rel is a test-support package kept beside the
// package it helps test (platform/pgtest, nats/natstest): by convention its name ends in
// "test". Under internal/ the area rules already keep production code out.
func supportOutsideInternal(rel string) bool {
	return !strings.HasPrefix(rel, "internal/") && strings.HasSuffix(path.Base(rel), "test")
}

// misnamed lists the packages not named after their folder (main packages aside), any
// package named nats (it would shadow nats.go), and any package go list could not read.
func misnamed(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		switch {
		case p.Error != nil:
			out = append(out, fmt.Sprintf("%s: %s", rel, p.Error.Err))
		case p.Name == "nats":
			out = append(out, fmt.Sprintf("%s is package nats: no package is named nats, it shadows github.com/nats-io/nats.go", rel))
		case p.Name != "main" && p.Name != path.Base(rel):
			out = append(out, fmt.Sprintf("%s is package %s: a package is named after its folder", rel, p.Name))
		}
	}
	return out
}

// load lists every package of the module with its imports, once for all the tests.
func load(t *testing.T) []pkg {
	t.Helper()
	pkgs, err := listed()
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

var listed = sync.OnceValues(func() ([]pkg, error) {
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Name,Imports,TestImports,XTestImports,Error", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		return nil, fmt.Errorf("go list found %d packages: is the test running inside the module?", len(pkgs))
	}
	return pkgs, nil
})

// TestImportsFollowTheLayout fails on every import, in a package's code or in its tests,
// that breaks docs/architecture.md's directions.
func TestImportsFollowTheLayout(t *testing.T) {
	for _, v := range violations(load(t)) {
		t.Error(v)
	}
}

// TestPackagesAreNamedAfterTheirFolders fails on a package not named after its folder and
// on any package named nats.
func TestPackagesAreNamedAfterTheirFolders(t *testing.T) {
	for _, v := range misnamed(load(t)) {
		t.Error(v)
	}
}

// TestRulesCatchBreaks holds each rule to a break it must catch, and to the imports it must
// let through, so that a rule edited into one that never fires fails here.
func TestRulesCatchBreaks(t *testing.T) {
	p := func(rel string, imports ...string) pkg {
		pkg := pkg{ImportPath: module + "/" + rel, Name: path.Base(rel)}
		for _, i := range imports {
			pkg.Imports = append(pkg.Imports, module+"/"+i)
		}
		return pkg
	}
	inTests := func(p pkg) pkg { p.XTestImports, p.Imports = p.Imports, nil; return p }
	for _, c := range []struct {
		pkg  pkg
		want string // a part of the one message expected; "" for none
	}{
		{p("subjects", "platform/pg"), "subjects imports platform/pg: subjects imports nothing of ours"},
		{p("nats/bus", "platform/outbox"), "nats/bus imports platform/outbox: nats → subjects"},
		{p("platform/kit", "services/order"), "platform/kit imports services/order: services → platform"},
		{p("platform/kit", "internal/expect"), "platform/kit imports internal/expect"},
		{p("services/order", "services/payment"), "services/order imports services/payment: a service imports only"},
		{p("services/order", "gateway"), "services/order imports gateway"},
		{p("services/order", "internal/shoptest"), "services/order imports internal/shoptest"},
		{p("services/order", "platform/pgtest"), "services/order imports platform/pgtest: test support"},
		{p("cmd/souk", "platform/pgtest"), "cmd/souk imports platform/pgtest: test support"},
		{p("gateway", "services/catalog"), "gateway imports services/catalog: the gateway imports only"},
		{p("services/catalog/search", "services/catalog"), "services/catalog/search imports services/catalog: a wing never imports its service back"},
		{p("tools/gen", "subjects"), "tools/gen is in no folder of docs/architecture.md's layout"},
		{inTests(p("services/order", "services/payment")), "services/order imports services/payment in its tests"},
		{inTests(p("services/order", "gateway")), "services/order imports gateway in its tests"},
		{inTests(p("gateway", "services/catalog")), "gateway imports services/catalog in its tests"},
		// What the layout allows.
		{p("services/catalog", "services/catalog/search", "services/catalog/product", "platform/kit", "nats/bus", "subjects"), ""},
		{p("services/catalog/search", "services/catalog/product", "platform/consumer"), ""},
		{p("platform/kit", "nats/bus", "platform/pg", "subjects"), ""},
		{p("nats/natstest", "nats/bus"), ""},
		{p("cmd/souk", "gateway", "services/order", "internal/demodata"), ""},
		{p("internal/shoptest", "services/order", "platform/pgtest", "nats/natstest"), ""},
		{p("platform/pgtest", "platform/pg"), ""},
		{inTests(p("nats/bus", "platform/outbox", "platform/pgtest", "internal/expect")), ""},
		{inTests(p("services/order", "internal/shoptest", "services/order", "platform/pgtest")), ""},
	} {
		got := violations([]pkg{c.pkg})
		switch {
		case c.want == "" && len(got) > 0:
			t.Errorf("%s with imports %v: the layout allows it, got %q", c.pkg.ImportPath, slices.Concat(c.pkg.Imports, c.pkg.XTestImports), got)
		case c.want != "" && (len(got) != 1 || !strings.Contains(got[0], c.want)):
			t.Errorf("%s with imports %v: want one message with %q, got %q", c.pkg.ImportPath, slices.Concat(c.pkg.Imports, c.pkg.XTestImports), c.want, got)
		}
	}

	named := misnamed([]pkg{
		{ImportPath: module + "/nats", Name: "bus"},
		{ImportPath: module + "/nats/nats", Name: "nats"},
		{ImportPath: module + "/cmd/souk", Name: "main"},
		{ImportPath: module + "/platform/pg", Name: "pg"},
	})
	if len(named) != 2 || !strings.Contains(named[0], "nats is package bus") || !strings.Contains(named[1], "nats/nats is package nats") {
		t.Errorf("misnamed: want nats (package bus) and nats/nats (package nats), got %q", named)
	}
}
