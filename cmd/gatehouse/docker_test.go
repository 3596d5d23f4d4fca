package main

import (
	"os"
	"strings"
	"testing"

	"gatehouse/config"
)

// The container's config loads with a secret, refuses to start without
// one (naming the variable), listens on every interface and keeps its
// SQLite file in the /app/data volume the Dockerfile creates for the
// image's user.
func TestDockerConfig(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/docker/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEHOUSE_SECRET": strings.Repeat("s", 40)}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Parse(raw, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "0.0.0.0:8080" || !strings.HasPrefix(cfg.Database.DSN.Value(), "file:/app/data/") {
		t.Errorf("listen %q, dsn %q", cfg.Server.Listen, cfg.Database.DSN.Value())
	}
	delete(env, "GATEHOUSE_SECRET")
	if _, err := config.Parse(raw, lookup); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET not set") {
		t.Errorf("without GATEHOUSE_SECRET: %v", err)
	}
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"COPY deploy/docker/gateway.yaml /app/gateway.yaml", "--chown=65532:65532 /out/data /app/data", "USER 65532:65532"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
