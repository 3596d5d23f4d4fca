// Package deploy_test checks the Helm chart in helm/gatehouse with the
// real helm (v4; scripts/helm.sh installs it): it lints, and what it
// renders with the default values and with helm/production-values.yaml is
// what Gatehouse needs, its gateway.yaml loading through the config
// package.
package deploy_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"gatehouse/config"
	"gatehouse/gateway/gatewaytest"
)

const (
	chart          = "helm/gatehouse"
	productionVals = "helm/production-values.yaml"
)

// helmBin finds helm v4: on PATH, then in $(go env GOPATH)/bin. Without
// it the test is skipped, or fails when the servers are required (CI=true
// or GATEHOUSE_REQUIRE_SERVERS=1).
func helmBin(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() { helmPath, helmMissing = findHelm() })
	if helmPath != "" {
		return helmPath
	}
	if gatewaytest.RequireServers() {
		t.Fatalf("%s (CI=true or GATEHOUSE_REQUIRE_SERVERS=1: tests never skip)", helmMissing)
	}
	t.Skip(helmMissing)
	return ""
}

var (
	helmOnce    sync.Once
	helmPath    string // the helm v4 found, or ""
	helmMissing string // why none was found
)

// findHelm returns the first helm v4 of PATH and $(go env GOPATH)/bin, or
// a message saying how to install one.
func findHelm() (string, string) {
	var candidates []string
	if p, err := exec.LookPath("helm"); err == nil {
		candidates = append(candidates, p)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			candidates = append(candidates, filepath.Join(dir, "bin", "helm"))
		}
	}
	var seen []string
	for _, p := range candidates {
		out, err := exec.Command(p, "version", "--short").Output()
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(out))
		if strings.HasPrefix(v, "v4.") {
			return p, ""
		}
		seen = append(seen, p+" is "+v)
	}
	msg := "helm v4 is not on PATH or in $(go env GOPATH)/bin; run bash scripts/helm.sh to install it"
	if len(seen) > 0 {
		msg += " (" + strings.Join(seen, ", ") + ")"
	}
	return "", msg
}

// helm runs helm with args, its caches and config in a temporary folder,
// and returns its standard output, or its error with the standard error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := helmBin(t)
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(err.Error() + ": " + stderr.String() + stdout.String())
	}
	return stdout.String(), nil
}

// object is one rendered Kubernetes object.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	node yaml.Node
}

// rendered is what helm template printed.
type rendered []object

// render runs helm template on the chart with args (-f, --set) and parses
// every document; a render error fails the test.
func render(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := helm(t, append([]string{"template", "gh", chart, "--namespace", "auth"}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	var objs rendered
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("helm template %v: not YAML: %v\n%s", args, err, out)
		}
		if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
			continue // an empty document
		}
		var o object
		if err := n.Decode(&o); err != nil {
			t.Fatal(err)
		}
		o.node = n
		objs = append(objs, o)
	}
	return objs
}

// kinds are the kinds rendered, sorted.
func (r rendered) kinds() []string {
	var out []string
	for _, o := range r {
		out = append(out, o.Kind)
	}
	slices.Sort(out)
	return out
}

// one decodes the only object of kind into v.
func (r rendered) one(t *testing.T, kind string, v any) object {
	t.Helper()
	var found []object
	for _, o := range r {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s, want 1 (kinds: %v)", len(found), kind, r.kinds())
	}
	if v != nil {
		if err := found[0].node.Decode(v); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	return found[0]
}

// The parts of the objects the tests read.
type (
	deployment struct {
		Spec struct {
			Replicas *int `yaml:"replicas"`
			Strategy struct {
				Type string `yaml:"type"`
			} `yaml:"strategy"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata struct {
					Labels      map[string]string `yaml:"labels"`
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"metadata"`
				Spec struct {
					SecurityContext struct {
						RunAsNonRoot *bool `yaml:"runAsNonRoot"`
						RunAsUser    int   `yaml:"runAsUser"`
						RunAsGroup   int   `yaml:"runAsGroup"`
					} `yaml:"securityContext"`
					TerminationGracePeriodSeconds int         `yaml:"terminationGracePeriodSeconds"`
					Containers                    []container `yaml:"containers"`
					Volumes                       []struct {
						Name      string `yaml:"name"`
						ConfigMap *struct {
							Name string `yaml:"name"`
						} `yaml:"configMap"`
						EmptyDir *struct{} `yaml:"emptyDir"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	container struct {
		Name  string `yaml:"name"`
		Image string `yaml:"image"`
		Env   []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom *struct {
				SecretKeyRef *struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe  *probe `yaml:"readinessProbe"`
		LivenessProbe   *probe `yaml:"livenessProbe"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	service struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	configMap struct {
		Data map[string]string `yaml:"data"`
	}
	secret struct {
		Data map[string]string `yaml:"data"`
	}
)

// gatehouse is the Deployment's gatehouse container.
func (d *deployment) gatehouse(t *testing.T) container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "gatehouse" {
			return c
		}
	}
	t.Fatal("the Deployment has no gatehouse container")
	return container{}
}

func (c container) env(name string) (value string, secretName, secretKey string, ok bool) {
	for _, e := range c.Env {
		if e.Name == name {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return "", e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key, true
			}
			return e.Value, "", "", true
		}
	}
	return "", "", "", false
}

func (c container) port(name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func (c container) mount(name string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m.MountPath
		}
	}
	return ""
}

// subset reports whether every label of want is in have.
func subset(want, have map[string]string) bool {
	if len(want) == 0 {
		return false
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// checkPod checks what every render must hold: the probes, the non-root
// read-only security context, resources, the config checksum, the
// config file mounted where GATEHOUSE_CONFIG points, GATEHOUSE_SECRET from
// a Secret, and a Service whose ports are the container's. It returns the
// Deployment, the container and the gateway.yaml text.
func checkPod(t *testing.T, r rendered) (deployment, container, string) {
	t.Helper()
	var d deployment
	dep := r.one(t, "Deployment", &d)
	c := d.gatehouse(t)
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port != "http" {
		t.Errorf("readinessProbe %+v, want GET /readyz on http", c.ReadinessProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port != "http" {
		t.Errorf("livenessProbe %+v, want GET /healthz on http", c.LivenessProbe)
	}
	psc, sc := d.Spec.Template.Spec.SecurityContext, c.SecurityContext
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser != 65532 || psc.RunAsGroup != 65532 {
		t.Errorf("pod securityContext %+v, want non-root 65532:65532 (the image's user)", psc)
	}
	if !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container securityContext %+v, want a read-only root, no privilege escalation, every capability dropped", sc)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
	if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) || !subset(d.Spec.Selector.MatchLabels, dep.Metadata.Labels) {
		t.Errorf("selector %v does not select the pods %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if d.Spec.Template.Spec.TerminationGracePeriodSeconds <= 30 {
		t.Errorf("terminationGracePeriodSeconds %d, want more than server.shutdown_timeout (30s)", d.Spec.Template.Spec.TerminationGracePeriodSeconds)
	}
	if sum := d.Spec.Template.Metadata.Annotations["checksum/config"]; len(sum) != 64 {
		t.Errorf("checksum/config %q, want a sha256", sum)
	}

	// The config: a ConfigMap mounted where GATEHOUSE_CONFIG points.
	var cm configMap
	cmObj := r.one(t, "ConfigMap", &cm)
	gw, ok := cm.Data["gateway.yaml"]
	if !ok {
		t.Fatalf("the ConfigMap holds %v, want gateway.yaml", cm.Data)
	}
	cfgPath, _, _, _ := c.env("GATEHOUSE_CONFIG")
	if path.Base(cfgPath) != "gateway.yaml" || c.mount("config") != path.Dir(cfgPath) {
		t.Errorf("GATEHOUSE_CONFIG %q, config mounted at %q", cfgPath, c.mount("config"))
	}
	mounted := false
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "config" && v.ConfigMap != nil && v.ConfigMap.Name == cmObj.Metadata.Name {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("the config volume is not the ConfigMap %s", cmObj.Metadata.Name)
	}
	if _, name, key, ok := c.env("GATEHOUSE_SECRET"); !ok || name == "" || key != "GATEHOUSE_SECRET" {
		t.Errorf("GATEHOUSE_SECRET: secretKeyRef %q/%q, want it from a Secret", name, key)
	}
	if !strings.Contains(gw, `secret: "${GATEHOUSE_SECRET}"`) {
		t.Errorf("gateway.yaml does not read the secret from GATEHOUSE_SECRET:\n%s", gw)
	}
	if c.mount("tmp") != "/tmp" {
		t.Error("no writable /tmp on the read-only root")
	}

	// The Service: the http and metrics ports, onto the container's.
	var svc service
	r.one(t, "Service", &svc)
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Name)
		if p.TargetPort != p.Name || c.port(p.Name) == 0 {
			t.Errorf("Service port %s targets %q, the container has no such port", p.Name, p.TargetPort)
		}
	}
	if !slices.Equal(ports, []string{"http", "metrics"}) {
		t.Errorf("Service ports %v, want http and metrics", ports)
	}
	if !subset(svc.Spec.Selector, d.Spec.Template.Metadata.Labels) {
		t.Errorf("the Service selects %v, not the pods %v", svc.Spec.Selector, d.Spec.Template.Metadata.Labels)
	}
	return d, c, gw
}

// loadConfig loads gateway.yaml through the config package with env,
// and checks that Gatehouse listens on the container's ports.
func loadConfig(t *testing.T, gw string, env map[string]string, c container) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(gw), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("the ConfigMap's gateway.yaml does not load: %v\n%s", err, gw)
	}
	for _, l := range []struct{ name, listen string }{{"http", cfg.Server.Listen}, {"metrics", cfg.Metrics.Listen}} {
		if want := "0.0.0.0:" + strconv.Itoa(c.port(l.name)); l.listen != want {
			t.Errorf("%s listens on %q, want %q (the container port)", l.name, l.listen, want)
		}
	}
	return cfg
}

// The chart passes helm lint, strict too, with its defaults and with the
// production-like values.
func TestHelmLint(t *testing.T) {
	for _, args := range [][]string{
		{"lint", chart},
		{"lint", "--strict", chart},
		{"lint", "--strict", chart, "-f", productionVals},
	} {
		if out, err := helm(t, args...); err != nil {
			t.Errorf("helm %s: %v", strings.Join(args, " "), err)
		} else if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm %s:\n%s", strings.Join(args, " "), out)
		}
	}
}

// With the default values the chart is one replica on SQLite (in an
// /app/data volume) with the in-process store and the demo upstream,
// with a generated secret in the chart's own Secret, never in the
// ConfigMap; no Ingress, HPA, PDB or ServiceMonitor.
func TestHelmTemplateDefaults(t *testing.T) {
	r := render(t)
	if want := []string{"ConfigMap", "Deployment", "Secret", "Service", "ServiceAccount"}; !slices.Equal(r.kinds(), want) {
		t.Errorf("kinds %v, want %v", r.kinds(), want)
	}
	d, c, gw := checkPod(t, r)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}

	var s secret
	sObj := r.one(t, "Secret", &s)
	raw, err := base64.StdEncoding.DecodeString(s.Data["GATEHOUSE_SECRET"])
	if err != nil || len(raw) < 32 {
		t.Fatalf("the Secret's GATEHOUSE_SECRET: %d bytes, %v; want 32 or more", len(raw), err)
	}
	if _, name, _, _ := c.env("GATEHOUSE_SECRET"); name != sObj.Metadata.Name {
		t.Errorf("GATEHOUSE_SECRET from %q, the chart's Secret is %q", name, sObj.Metadata.Name)
	}
	if strings.Contains(gw, string(raw)) {
		t.Error("the secret's value is in the ConfigMap")
	}

	cfg := loadConfig(t, gw, map[string]string{"GATEHOUSE_SECRET": string(raw)}, c)
	if cfg.Secret.Value() != string(raw) {
		t.Error("gateway.yaml's secret is not the Secret's")
	}
	if cfg.Database.Driver != config.DriverSQLite || cfg.Redis.Enabled() || cfg.Demo.Listen == "" {
		t.Errorf("driver %q, redis %v, demo %q: want SQLite, the in-process store and the demo upstream", cfg.Database.Driver, cfg.Redis.Enabled(), cfg.Demo.Listen)
	}
	// The SQLite file is in the data volume, writable on the read-only root.
	if dir := c.mount("data"); dir == "" || !strings.HasPrefix(cfg.Database.DSN.Value(), "file:"+dir+"/") {
		t.Errorf("database.dsn %q, data volume at %q", cfg.Database.DSN.Value(), dir)
	}

	// A given secret.value is what the Secret holds.
	r = render(t, "--set", "secret.value="+strings.Repeat("v", 40))
	r.one(t, "Secret", &s)
	if got, _ := base64.StdEncoding.DecodeString(s.Data["GATEHOUSE_SECRET"]); string(got) != strings.Repeat("v", 40) {
		t.Errorf("secret.value: the Secret holds %q", got)
	}
}

// The production-like values: three replicas under an HPA, PostgreSQL and
// Redis, an Ingress, a ServiceMonitor on the metrics port, a PDB, and the
// secrets from a Secret the chart does not create: the ConfigMap names
// them only as ${VAR}s that the pod's environment fills.
func TestHelmTemplateProduction(t *testing.T) {
	r := render(t, "-f", productionVals)
	want := []string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor"}
	if !slices.Equal(r.kinds(), want) {
		t.Errorf("kinds %v, want %v (no Secret: existingSecret)", r.kinds(), want)
	}
	d, c, gw := checkPod(t, r)
	if d.Spec.Replicas != nil {
		t.Errorf("replicas %d next to an HPA, want none (the HPA sets them)", *d.Spec.Replicas)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		if e.ValueFrom.SecretKeyRef.Name != "gatehouse-secrets" {
			t.Errorf("%s from the Secret %q, want existingSecret gatehouse-secrets", e.Name, e.ValueFrom.SecretKeyRef.Name)
		}
		env[e.Name] = "from-the-secret-" + strings.ToLower(e.Name) + "-0123456789abcdef"
	}
	if _, ok := env["GATEHOUSE_SECRET"]; !ok {
		t.Fatal("GATEHOUSE_SECRET is not from the Secret")
	}
	cfg := loadConfig(t, gw, env, c)
	if cfg.Database.Driver != config.DriverPostgres || !cfg.Redis.Enabled() || cfg.Demo.Listen != "" {
		t.Errorf("driver %q, redis %v, demo %q: want PostgreSQL, Redis and no demo", cfg.Database.Driver, cfg.Redis.Enabled(), cfg.Demo.Listen)
	}
	if cfg.Server.PublicURL.String() != "https://auth.example.com" || len(cfg.Routes) != 2 {
		t.Errorf("public_url %s, %d routes: not the values'", cfg.Server.PublicURL, len(cfg.Routes))
	}
	// Every secret reaches the config through the environment only.
	for name, v := range env {
		if !strings.Contains(cfg.Database.DSN.Value()+cfg.Redis.URL.Value()+cfg.Mail.SMTP.Password.Value()+cfg.Secret.Value(), v) {
			t.Errorf("%s is in the pod's environment but gateway.yaml does not use it", name)
		}
		if !strings.Contains(gw, "${"+name+"}") {
			t.Errorf("gateway.yaml does not name ${%s}", name)
		}
	}
	if c.mount("data") != "" {
		t.Error("a SQLite data volume with PostgreSQL")
	}

	var hpa struct {
		Spec struct {
			ScaleTargetRef struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicas int `yaml:"minReplicas"`
			MaxReplicas int `yaml:"maxReplicas"`
		} `yaml:"spec"`
	}
	hObj := r.one(t, "HorizontalPodAutoscaler", &hpa)
	dep := r.one(t, "Deployment", nil)
	if hObj.APIVersion != "autoscaling/v2" || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != dep.Metadata.Name ||
		hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 10 {
		t.Errorf("HPA %s %+v", hObj.APIVersion, hpa.Spec)
	}

	var pdb struct {
		Spec struct {
			MinAvailable int `yaml:"minAvailable"`
			Selector     struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	r.one(t, "PodDisruptionBudget", &pdb)
	if pdb.Spec.MinAvailable != 2 || !subset(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("PDB minAvailable %d, selector %v", pdb.Spec.MinAvailable, pdb.Spec.Selector.MatchLabels)
	}

	var ing struct {
		Spec struct {
			IngressClassName string `yaml:"ingressClassName"`
			TLS              []struct {
				Hosts []string `yaml:"hosts"`
			} `yaml:"tls"`
			Rules []struct {
				Host string `yaml:"host"`
				HTTP struct {
					Paths []struct {
						Path    string `yaml:"path"`
						Backend struct {
							Service struct {
								Name string `yaml:"name"`
								Port struct {
									Name string `yaml:"name"`
								} `yaml:"port"`
							} `yaml:"service"`
						} `yaml:"backend"`
					} `yaml:"paths"`
				} `yaml:"http"`
			} `yaml:"rules"`
		} `yaml:"spec"`
	}
	svc := r.one(t, "Service", nil)
	r.one(t, "Ingress", &ing)
	if ing.Spec.IngressClassName != "nginx" || len(ing.Spec.Rules) != 3 || len(ing.Spec.TLS) != 1 {
		t.Errorf("Ingress %+v", ing.Spec)
	}
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			if b := p.Backend.Service; b.Name != svc.Metadata.Name || b.Port.Name != "http" {
				t.Errorf("Ingress %s%s goes to %s:%s, want %s:http", rule.Host, p.Path, b.Name, b.Port.Name, svc.Metadata.Name)
			}
		}
	}
	if ing.Spec.Rules[0].Host != cfg.Server.PublicURL.Hostname() {
		t.Errorf("the Ingress's first host %q is not public_url's", ing.Spec.Rules[0].Host)
	}

	var sm struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	smObj := r.one(t, "ServiceMonitor", &sm)
	if smObj.APIVersion != "monitoring.coreos.com/v1" || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor %s %+v, want monitoring.coreos.com/v1 on the metrics port, /metrics", smObj.APIVersion, sm.Spec)
	}
	if !subset(sm.Spec.Selector.MatchLabels, svc.Metadata.Labels) {
		t.Errorf("the ServiceMonitor selects %v, not the Service %v", sm.Spec.Selector.MatchLabels, svc.Metadata.Labels)
	}
	if smObj.Metadata.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v, want serviceMonitor.labels", smObj.Metadata.Labels)
	}

	// Without the HPA: the Deployment runs replicaCount, and the PDB stays.
	r = render(t, "-f", productionVals, "--set", "autoscaling.enabled=false")
	r.one(t, "Deployment", &d)
	r.one(t, "PodDisruptionBudget", nil)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
}

// More than one replica on a per-pod store is refused with the chart's
// message: SQLite, or no Redis; one replica on SQLite has no PDB (it
// would block node drains).
func TestHelmMultiReplicaNeedsSharedStores(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "replicaCount=3"}, "needs config.database.driver: postgres"},
		{[]string{"--set", "autoscaling.enabled=true"}, "needs config.database.driver: postgres"},
		{[]string{"-f", productionVals, "--set", "config.database.driver=sqlite"}, "needs config.database.driver: postgres"},
		{[]string{"--set", "replicaCount=2", "--set", "config.database.driver=postgres", "--set", "config.database.dsn=postgres://db/gatehouse"}, "needs Redis (config.redis.url or config.redis.addrs)"},
		{[]string{"-f", productionVals, "--set", "config.redis.url="}, "needs Redis (config.redis.url or config.redis.addrs)"},
		{[]string{"--set", "secret.value=short"}, "secret.value must be at least 32 bytes"},
	} {
		_, err := helm(t, append([]string{"template", "gh", chart}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("helm template %v: %v, want it refused with %q", tc.args, err, tc.want)
		}
	}
	// Redis by addrs (Sentinel) counts as the shared store.
	r := render(t, "--set", "replicaCount=2", "--set", "config.database.driver=postgres",
		"--set", "config.database.dsn=postgres://db/gatehouse", "--set", "config.redis.url=",
		"--set", "config.redis.addrs={sentinel-0:26379,sentinel-1:26379}", "--set", "config.redis.master_name=mymaster")
	r.one(t, "PodDisruptionBudget", nil)
}

// The checksum annotation follows gateway.yaml: a config change rolls
// the pods, another change (resources) does not touch it.
func TestHelmConfigChecksum(t *testing.T) {
	sum := func(args ...string) string {
		var d deployment
		render(t, args...).one(t, "Deployment", &d)
		return d.Spec.Template.Metadata.Annotations["checksum/config"]
	}
	base := sum()
	if other := sum("--set", "config.server.public_url=https://other.example.com"); other == base {
		t.Error("the checksum did not change with the config")
	}
	if same := sum("--set", "resources.requests.cpu=1"); same != base {
		t.Error("the checksum changed without a config change")
	}
}

// opaqueValues are the values whose children are Kubernetes' or
// Gatehouse's own fields, documented as one row (config's keys that the
// table names are checked too).
var opaqueValues = []string{"config", "resources", "readinessProbe", "livenessProbe", "podSecurityContext", "securityContext"}

// valueKeys are the dotted keys of a values mapping: its leaves, and the
// opaque keys themselves; with every key of the opaque ones in all.
func valueKeys(n *yaml.Node, prefix string, leaves, all map[string]bool) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := prefix + n.Content[i].Value
		v := n.Content[i+1]
		all[key] = true
		top, _, _ := strings.Cut(key, ".")
		switch {
		case v.Kind == yaml.MappingNode && len(v.Content) > 0:
			if key == top && slices.Contains(opaqueValues, key) {
				leaves[key] = true
				valueKeys(v, key+".", map[string]bool{}, all)
			} else if slices.Contains(opaqueValues, top) {
				valueKeys(v, key+".", map[string]bool{}, all)
			} else {
				valueKeys(v, key+".", leaves, all)
			}
		case !slices.Contains(opaqueValues, top) || key == top:
			leaves[key] = true
		}
	}
}

var valuesRow = regexp.MustCompile("(?m)^\\| `([A-Za-z0-9_.]+)` \\|")

// docs/deploy.md's values table has a row for every key of values.yaml,
// and no row for a key values.yaml does not have.
func TestHelmValuesDocumented(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	leaves, all := map[string]bool{}, map[string]bool{}
	valueKeys(doc.Content[0], "", leaves, all)
	md, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(md), "### Values\n")
	if !ok {
		t.Fatal("docs/deploy.md has no ### Values section")
	}
	rows := map[string]bool{}
	for _, m := range valuesRow.FindAllStringSubmatch(table, -1) {
		rows[m[1]] = true
		if !all[m[1]] {
			t.Errorf("docs/deploy.md documents %s, which values.yaml does not have", m[1])
		}
	}
	for k := range leaves {
		if !rows[k] {
			t.Errorf("values.yaml's %s has no row in docs/deploy.md's values table", k)
		}
	}
	if len(rows) < 40 {
		t.Errorf("%d rows: the table was not found whole", len(rows))
	}
}
