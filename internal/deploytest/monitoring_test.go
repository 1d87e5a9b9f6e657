package deploytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Grafana in compose.yaml is provisioned from infra/grafana's files: the data source, the
// dashboard provider and the dashboards at the path the provider reads; Prometheus gets the
// rules. Every mounted file exists.
func TestComposeProvisionsGrafanaAndPrometheus(t *testing.T) {
	pr, err := loadCompose(t, filepath.Join(root(t), "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	provider, err := os.ReadFile(filepath.Join(root(t), "infra/grafana/provisioning/dashboards/souk.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for service, mounts := range map[string]map[string]string{
		"grafana": {
			"infra/grafana/provisioning/datasources/souk.yml": "/etc/grafana/provisioning/datasources/souk.yml",
			"infra/grafana/provisioning/dashboards/souk.yml":  "/etc/grafana/provisioning/dashboards/souk.yml",
			"infra/grafana/dashboards":                        "/var/lib/grafana/dashboards/souk",
		},
		"prometheus": {"infra/prometheus/rules.yml": "/etc/prometheus/rules.yml"},
	} {
		got := map[string]string{}
		for _, v := range pr.Services[service].Volumes {
			rel, _ := filepath.Rel(root(t), v.Source)
			got[filepath.ToSlash(rel)] = v.Target
		}
		for source, target := range mounts {
			if got[source] != target {
				t.Errorf("%s: %s mounted at %q, want %s", service, source, got[source], target)
			}
			if _, err := os.Stat(filepath.Join(root(t), source)); err != nil {
				t.Errorf("%s mounts %s: %v", service, source, err)
			}
		}
	}
	if !strings.Contains(string(provider), "path: /var/lib/grafana/dashboards/souk") {
		t.Errorf("the dashboard provider does not read where compose.yaml mounts the dashboards")
	}
}

// infra/kubernetes/monitoring renders the rules and the dashboards as ConfigMaps, byte for
// byte the committed files, labelled for Grafana's sidecar, with the data source the
// dashboards ask.
func TestKubernetesMonitoring(t *testing.T) {
	m, err := build(filesys.MakeFsOnDisk(), kubeDir(t, "monitoring"))
	if err != nil {
		t.Fatal(err)
	}
	var p problems
	same := func(cm, key, file string) {
		want, err := os.ReadFile(filepath.Join(root(t), file))
		if err != nil {
			t.Fatal(err)
		}
		c := m.configMaps[cm]
		if c == nil || c.Data[key] != string(want) {
			p.add("ConfigMap %s: %s is not %s", cm, key, file)
		}
		if c != nil && c.Namespace != "monitoring" {
			p.add("ConfigMap %s in namespace %q, not monitoring", cm, c.Namespace)
		}
	}
	same("souk-prometheus-rules", "rules.yml", "infra/prometheus/rules.yml")
	dashboards, _ := filepath.Glob(filepath.Join(root(t), "infra/grafana/dashboards/*.json"))
	if len(dashboards) < 5 {
		p.add("%d dashboards in infra/grafana/dashboards", len(dashboards))
	}
	for _, f := range dashboards {
		same("souk-grafana-dashboards", filepath.Base(f), "infra/grafana/dashboards/"+filepath.Base(f))
	}
	if c := m.configMaps["souk-grafana-dashboards"]; c == nil || c.Labels["grafana_dashboard"] != "1" {
		p.add("ConfigMap souk-grafana-dashboards lacks the label grafana_dashboard=1")
	}
	ds := m.configMaps["souk-grafana-datasource"]
	if ds == nil || ds.Labels["grafana_datasource"] != "1" || !strings.Contains(ds.Data["souk-datasource.yml"], "uid: souk-prometheus") {
		p.add("ConfigMap souk-grafana-datasource lacks the label grafana_datasource=1 or the uid souk-prometheus")
	}
	p.report(t, "monitoring")
}
