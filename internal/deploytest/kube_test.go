package deploytest

import (
	"fmt"
	"net"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// manifests are the decoded objects of one kustomize build.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs        map[string]*policyv1.PodDisruptionBudget
	policies    map[string]*networkingv1.NetworkPolicy
	configMaps  map[string]*corev1.ConfigMap
	services    map[string]*corev1.Service
	jobs        map[string]*batchv1.Job
}

// build renders the kustomization in dir of fs, as `kustomize build dir` does, and decodes
// every object strictly into its API type: a misspelt field is an error, as the API server
// would refuse it.
func build(fs filesys.FileSystem, dir string) (*manifests, error) {
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, err
	}
	m := &manifests{deployments: map[string]*appsv1.Deployment{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, policies: map[string]*networkingv1.NetworkPolicy{},
		configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{}, jobs: map[string]*batchv1.Job{}}
	for _, r := range res.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		var into any
		name := r.GetName()
		switch r.GetKind() {
		case "Deployment":
			into = decodeInto(m.deployments, name)
		case "HorizontalPodAutoscaler":
			into = decodeInto(m.hpas, name)
		case "PodDisruptionBudget":
			into = decodeInto(m.pdbs, name)
		case "NetworkPolicy":
			into = decodeInto(m.policies, name)
		case "ConfigMap":
			into = decodeInto(m.configMaps, name)
		case "Service":
			into = decodeInto(m.services, name)
		case "Job":
			into = decodeInto(m.jobs, name)
		default:
			return nil, fmt.Errorf("%s %s: a kind the deployment test does not know", r.GetKind(), name)
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.GetKind(), name, err)
		}
	}
	return m, nil
}

// decodeInto puts a new T into m under name and returns it to decode into.
func decodeInto[T any](m map[string]*T, name string) *T {
	v := new(T)
	m[name] = v
	return v
}

// checkKube checks the manifests of one build against the services: a Deployment each (and
// the gateway's) with its probes, resources, security context and own NATS user and secret;
// an HPA and a PDB each; the network policies; the migrate Job.
func checkKube(m *manifests, services []string) problems {
	var p problems
	cfg := m.configMaps["souk-config"]
	if cfg == nil {
		p.add("no ConfigMap souk-config")
		cfg = &corev1.ConfigMap{}
	}
	for _, name := range append(slices.Clone(services), "gateway") {
		d := m.deployments["souk-"+name]
		if d == nil {
			p.add("service %s has no Deployment souk-%s", name, name)
			continue
		}
		checkDeployment(&p, d, name, cfg)
		checkScaling(&p, m, d)
	}
	for name := range m.deployments {
		if !slices.Contains(services, strings.TrimPrefix(name, "souk-")) && name != "souk-gateway" {
			p.add("Deployment %s runs no service souk services lists", name)
		}
	}
	checkPolicies(&p, m)
	for _, job := range []string{"migrate", "nats-setup"} {
		j := m.jobs["souk-"+job]
		if j == nil || !slices.Equal(soukContainer(&j.Spec.Template.Spec).Args, []string{job}) {
			p.add("no Job souk-%s running souk %s", job, job)
			continue
		}
		checkSecurity(&p, "Job souk-"+job, &j.Spec.Template.Spec)
	}
	if j := m.jobs["souk-nats-setup"]; j != nil && envOf(soukContainer(&j.Spec.Template.Spec))["SOUK_NATS_USER"] != "admin" {
		p.add("Job souk-nats-setup does not connect as admin: a service's user may not create streams")
	}
	if g := m.services["souk-gateway"]; g == nil || g.Spec.Selector["app.kubernetes.io/name"] != "souk-gateway" {
		p.add("no Service souk-gateway selecting the gateway's pods")
	}
	return p
}

// soukContainer is the pod's container named souk; an empty one when there is none.
func soukContainer(spec *corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == "souk" {
			return &spec.Containers[i]
		}
	}
	return &corev1.Container{}
}

func checkDeployment(p *problems, d *appsv1.Deployment, service string, cfg *corev1.ConfigMap) {
	what := "Deployment " + d.Name
	spec := &d.Spec.Template.Spec
	c := soukContainer(spec)
	if !slices.Equal(c.Args, []string{"run", service}) {
		p.add("%s: container souk runs %v, want [run %s]", what, c.Args, service)
	}
	checkProbes(p, what, c, service, cfg)
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if c.Resources.Requests.Name(r, "").IsZero() || c.Resources.Limits.Name(r, "").IsZero() {
			p.add("%s: no %s request and limit", what, r)
		}
	}
	checkSecurity(p, what, spec)
	env := envOf(c)
	checkMemoryLimit(p, what, c, env["GOMEMLIMIT"])
	if env["SOUK_NATS_USER"] != service {
		p.add("%s: SOUK_NATS_USER %q, want its own user %q", what, env["SOUK_NATS_USER"], service)
	}
	own := "souk-" + service
	if sec := secretOfFile(spec, c, env["SOUK_NATS_PASSWORD_FILE"]); sec != own {
		p.add("%s: SOUK_NATS_PASSWORD_FILE %q is not a file of its own Secret %s (found %q)", what, env["SOUK_NATS_PASSWORD_FILE"], own, sec)
	}
	if service != "gateway" && secretOfFile(spec, c, env["DATABASE_URL_FILE"]) == "" {
		p.add("%s: DATABASE_URL_FILE %q is not a file of a mounted Secret", what, env["DATABASE_URL_FILE"])
	}
	for _, v := range []string{"SOUK_NATS_CA", "SOUK_NATS_CERT", "SOUK_NATS_KEY"} {
		if f := cfg.Data[v]; f == "" || secretOfFile(spec, c, f) == "" {
			p.add("%s: %s %q is not a file of a mounted Secret", what, v, f)
		}
	}
	for k, v := range env {
		if strings.HasSuffix(k, "_FILE") && secretOfFile(spec, c, v) == "" {
			p.add("%s: %s %q is not a file of a mounted Secret", what, k, v)
		}
	}
	if !slices.ContainsFunc(c.EnvFrom, func(e corev1.EnvFromSource) bool {
		return e.ConfigMapRef != nil && e.ConfigMapRef.Name == "souk-config"
	}) {
		p.add("%s: settings not from the ConfigMap souk-config", what)
	}
}

// checkProbes wants a startup and a liveness probe on /healthz and a readiness probe on
// /readyz, on the port the process serves them: the gateway's, or the ops listener's of
// SOUK_OPS_ADDR.
func checkProbes(p *problems, what string, c *corev1.Container, service string, cfg *corev1.ConfigMap) {
	want := "8080"
	if service != "gateway" {
		_, want, _ = net.SplitHostPort(cfg.Data["SOUK_OPS_ADDR"])
	}
	for _, pr := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{{"startup", c.StartupProbe, "/healthz"}, {"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			p.add("%s: no %s probe", what, pr.kind)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path {
			p.add("%s: %s probe on %s, want %s", what, pr.kind, pr.probe.HTTPGet.Path, pr.path)
		}
		port := pr.probe.HTTPGet.Port.String()
		for _, cp := range c.Ports {
			if cp.Name == port {
				port = fmt.Sprint(cp.ContainerPort)
			}
		}
		if port != want {
			p.add("%s: %s probe on port %s, but the process serves it on %s", what, pr.kind, port, want)
		}
	}
}

// checkSecurity wants a non-root numeric user, a read-only root filesystem, no capabilities,
// no privilege escalation and the runtime's seccomp profile.
func checkSecurity(p *problems, what string, spec *corev1.PodSpec) {
	c := soukContainer(spec)
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	user := psc.RunAsUser
	if sc.RunAsUser != nil {
		user = sc.RunAsUser
	}
	if user == nil || *user == 0 {
		p.add("%s: no numeric non-root runAsUser", what)
	}
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		p.add("%s: runAsNonRoot not set", what)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		p.add("%s: root filesystem not read-only", what)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add("%s: privilege escalation not forbidden", what)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		p.add("%s: capabilities not all dropped", what)
	}
	seccomp := psc.SeccompProfile
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		p.add("%s: seccomp profile not RuntimeDefault", what)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// envOf is the container's literal environment.
func envOf(c *corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

// secretOfFile names the Secret whose volume, mounted in c, holds the file at file; "" when
// none does.
func secretOfFile(spec *corev1.PodSpec, c *corev1.Container, file string) string {
	if file == "" {
		return ""
	}
	for _, vm := range c.VolumeMounts {
		if path.Dir(file) != path.Clean(vm.MountPath) {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == vm.Name && v.Secret != nil {
				return v.Secret.SecretName
			}
		}
	}
	return ""
}

// checkScaling wants an HPA on d with sane bounds and a PDB selecting d's pods.
func checkScaling(p *problems, m *manifests, d *appsv1.Deployment) {
	h := m.hpas[d.Name]
	switch {
	case h == nil:
		p.add("Deployment %s has no HorizontalPodAutoscaler", d.Name)
	case h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != d.Name:
		p.add("HorizontalPodAutoscaler %s scales %s %s", h.Name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
	case h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas:
		p.add("HorizontalPodAutoscaler %s: want 2 ≤ min ≤ max", h.Name)
	}
	b := m.pdbs[d.Name]
	if b == nil || b.Spec.Selector == nil {
		p.add("Deployment %s has no PodDisruptionBudget", d.Name)
		return
	}
	for k, v := range b.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			p.add("PodDisruptionBudget %s does not select the pods of %s", b.Name, d.Name)
		}
	}
}

// checkPolicies wants a default deny of both directions and the gateway open to HTTP.
func checkPolicies(p *problems, m *manifests) {
	deny, gateway := false, false
	for _, np := range m.policies {
		if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
			len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 &&
			slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			deny = true
		}
		if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] == "souk-gateway" && len(np.Spec.Ingress) > 0 {
			gateway = true
		}
	}
	if !deny {
		p.add("no NetworkPolicy denying all ingress and egress by default")
	}
	if !gateway {
		p.add("no NetworkPolicy letting HTTP in to the gateway")
	}
}

func kubeDir(t *testing.T, sub string) string {
	return filepath.Join(root(t), "infra", "kubernetes", sub)
}

// checkMemoryLimit wants the Go runtime's soft memory limit (GOMEMLIMIT) set between half and
// 95 % of the container's memory limit: below it the collector keeps the heap from growing
// into an OOM kill; a limit changed without it (an overlay's) is caught here.
func checkMemoryLimit(p *problems, what string, c *corev1.Container, goLimit string) {
	limit := c.Resources.Limits.Memory().Value()
	soft, ok := goMemLimit(goLimit)
	switch {
	case limit == 0:
		return // reported as a missing limit
	case !ok:
		p.add("%s: GOMEMLIMIT %q is not a Go memory limit (e.g. 460MiB)", what, goLimit)
	case soft < limit/2 || soft > limit/100*95:
		p.add("%s: GOMEMLIMIT %s is not between half and 95 %% of the memory limit %s", what, goLimit, c.Resources.Limits.Memory())
	}
}

// goMemLimit parses a GOMEMLIMIT value as the Go runtime does: bytes, or a number with B,
// KiB, MiB, GiB or TiB.
func goMemLimit(s string) (int64, bool) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err == nil && n > 0
}
