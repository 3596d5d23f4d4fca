package password

import (
	"context"
	"testing"

	"gatehouse/gateway"
)

func TestInfo(t *testing.T) {
	info := Info()
	if info.Name != "password" {
		t.Errorf("Name = %q, want password", info.Name)
	}
	if _, err := gateway.NewRegistry(nil, []gateway.ProviderInfo{info}); err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	a, b := info.New(), info.New()
	if a == b {
		t.Error("New returned the same instance twice")
	}
	p, ok := a.(*Provider)
	if !ok {
		t.Fatalf("New() = %T, want *Provider", a)
	}
	if !p.Enabled {
		t.Error("New() is off; password sign-in is on by default")
	}
	if got := p.Method(); got != "password" {
		t.Errorf("Method = %q, want password", got)
	}
	if err := p.Provision(context.Background(), &gateway.Host{}); err != nil {
		t.Errorf("Provision: %v", err)
	}
}
