package deploy_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gatehouse/config"
)

// TestGrafanaDashboard holds deploy/grafana/gatehouse-dashboard.json to
// what Gatehouse exports: every gatehouse_* metric its queries name is
// one the code defines (a renamed counter breaks this test, not a panel
// in production), every panel queries the dashboard's Prometheus data
// source variable, and the layout fits Grafana's 24 columns.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana/gatehouse-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct{ Name, Type string } `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int    `json:"id"`
			Title      string `json:"title"`
			Datasource struct{ Type, UID string }
			GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
			Targets    []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) < 10 {
		t.Fatalf("uid %q, %d panels", d.UID, len(d.Panels))
	}
	hasDS := false
	for _, v := range d.Templating.List {
		hasDS = hasDS || (v.Name == "datasource" && v.Type == "datasource")
	}
	if !hasDS {
		t.Error("no datasource variable")
	}

	defined := definedMetrics(t)
	name := regexp.MustCompile(`gatehouse_[a-z_]+`)
	ids := map[int]bool{}
	used := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v", p.Title, p.Datasource)
		}
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				used++
				if !defined[base] {
					t.Errorf("panel %q queries %s, which Gatehouse does not export", p.Title, m)
				}
			}
		}
	}
	for _, must := range []string{"gatehouse_sign_ins_total", "gatehouse_sign_ups_total", "gatehouse_lockouts_total",
		"gatehouse_codes_sent_total", "gatehouse_outbox_items", "gatehouse_http_requests_total"} {
		if !strings.Contains(string(raw), must) {
			t.Errorf("the dashboard shows no %s", must)
		}
	}
	t.Logf("%d panels, %d metric references, %d metrics defined", len(d.Panels), used, len(defined))
}

// definedMetrics are the gatehouse_* names the Go code (not its tests)
// gives a collector.
func definedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	re := regexp.MustCompile(`"(gatehouse_[a-z_]+)"`)
	out := map[string]bool{}
	for _, dir := range []string{"../gateway", "../plugins"} {
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				out[m[1]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %v", out)
	}
	return out
}

// docBlocks are the fenced ```yaml blocks of a doc.
func docBlocks(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	rest := string(raw)
	for {
		_, after, ok := strings.Cut(rest, "```yaml\n")
		if !ok {
			return out
		}
		block, next, _ := strings.Cut(after, "```")
		out = append(out, block)
		rest = next
	}
}

// TestObservabilityDocExamples: docs/observability.md's tracing example
// loads through the real config (its ${VAR} from the environment) with
// the values it names, and its alerts query only metrics Gatehouse
// defines.
func TestObservabilityDocExamples(t *testing.T) {
	blocks := docBlocks(t, "../docs/observability.md")
	if len(blocks) != 2 {
		t.Fatalf("%d yaml blocks, want the alerts and the tracing example", len(blocks))
	}
	alerts, tracing := blocks[0], blocks[1]
	env := map[string]string{"HONEYCOMB_API_KEY": "key-123"}
	cfg, err := config.Parse([]byte("secret: "+strings.Repeat("s", 40)+"\n"+tracing), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("the tracing example does not load: %v", err)
	}
	tr := cfg.Tracing
	if !tr.Enabled || tr.Endpoint.String() != "http://otel-collector:4318/v1/traces" || tr.SampleRatio != 0.1 ||
		tr.Incoming != config.IncomingTrustedProxies || tr.Headers["x-honeycomb-team"].Value() != "key-123" {
		t.Errorf("the tracing example loaded as %+v", tr)
	}
	defined := definedMetrics(t)
	names := regexp.MustCompile(`gatehouse_[a-z_]+`).FindAllString(alerts, -1)
	if len(names) < 3 {
		t.Fatalf("the alerts name %v", names)
	}
	for _, m := range names {
		if !defined[m] {
			t.Errorf("an alert queries %s, which Gatehouse does not export", m)
		}
	}
}
