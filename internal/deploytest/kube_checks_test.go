package deploytest

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func TestKubernetesBase(t *testing.T) {
	m, err := build(filesys.MakeFsOnDisk(), kubeDir(t, "base"))
	if err != nil {
		t.Fatal(err)
	}
	checkKube(m, serviceNames(t)).report(t, "base")
}

// The production overlay keeps everything the base checks and runs three of everything on
// R3 streams, from a released image.
func TestKubernetesProduction(t *testing.T) {
	m, err := build(filesys.MakeFsOnDisk(), kubeDir(t, filepath.Join("overlays", "production")))
	if err != nil {
		t.Fatal(err)
	}
	p := checkKube(m, serviceNames(t))
	if cfg := m.configMaps["souk-config"]; cfg == nil || cfg.Data["SOUK_NATS_REPLICAS"] != "3" {
		p.add("SOUK_NATS_REPLICAS is not 3")
	}
	for name, d := range m.deployments {
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 3 {
			p.add("Deployment %s: fewer than 3 replicas", name)
		}
		if img := soukContainer(&d.Spec.Template.Spec).Image; strings.HasSuffix(img, ":dev") || strings.HasSuffix(img, ":latest") || !strings.Contains(img, ":") {
			p.add("Deployment %s: image %q is not a released tag", name, img)
		}
	}
	for name, h := range m.hpas {
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 3 {
			p.add("HorizontalPodAutoscaler %s: fewer than 3 replicas at least", name)
		}
	}
	p.report(t, "production")
}

// The checks notice a service without a Deployment and a Deployment without a probe: the
// files are broken on purpose, in memory, and rendered again.
func TestKubernetesChecksCatchBreakage(t *testing.T) {
	services := serviceNames(t)
	for _, tc := range []struct {
		name, file, cut, with string
		services              []string
		want                  string
	}{
		{name: "a service the binary gained", services: append(slices.Clone(services), "loyalty"), want: "service loyalty has no Deployment"},
		{name: "a service left out", file: "base/kustomization.yaml", cut: "  - services/order.yaml\n", want: "service order has no Deployment"},
		{name: "a probe removed", file: "base/service-pod.yaml", cut: "          livenessProbe:\n            httpGet: {path: /healthz, port: ops}\n" +
			"            periodSeconds: 10\n            timeoutSeconds: 3\n            failureThreshold: 3\n",
			want: "Deployment souk-cart: no liveness probe"},
		{name: "limits removed", file: "base/service-pod.yaml", cut: "            limits: {cpu: \"1\", memory: 512Mi}\n",
			want: "Deployment souk-user: no cpu request and limit"},
		{name: "no soft memory limit", file: "base/service-pod.yaml", cut: "            - {name: GOMEMLIMIT, value: 460MiB}\n",
			want: "Deployment souk-user: GOMEMLIMIT \"\" is not a Go memory limit"},
		{name: "a memory limit raised alone", file: "base/service-pod.yaml", cut: "memory: 512Mi}", with: "memory: 2Gi}",
			want: "Deployment souk-order: GOMEMLIMIT 460MiB is not between half and 95 % of the memory limit 2Gi"},
		{name: "root", file: "base/migrate.yaml", cut: "            runAsUser: 65532\n", with: "            runAsUser: 0\n",
			want: "Job souk-migrate: no numeric non-root runAsUser"},
		{name: "a password of another service", file: "base/services/payment.yaml", cut: "secretName: souk-payment", with: "secretName: souk-order",
			want: "Deployment souk-payment: SOUK_NATS_PASSWORD_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := copyToMemory(t, kubeDir(t, ""), tc.file, tc.cut, tc.with)
			m, err := build(fs, "/k/base")
			if err != nil {
				t.Fatal(err)
			}
			names := services
			if tc.services != nil {
				names = tc.services
			}
			p := checkKube(m, names)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Fatalf("after %s the checks found %q, want %q among them", tc.name, p, tc.want)
			}
		})
	}
}

// copyToMemory copies the folder dir into an in-memory file system under /k, with cut
// replaced by with in file (relative to dir), which must contain it.
func copyToMemory(t *testing.T, dir, file, cut, with string) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == filepath.FromSlash(file) {
			if !strings.Contains(string(b), cut) {
				t.Fatalf("%s does not contain %q", file, cut)
			}
			b = []byte(strings.Replace(string(b), cut, with, 1))
		}
		return mem.WriteFile(filepath.Join("/k", rel), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mem
}
