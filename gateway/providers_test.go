package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"

	"gatehouse/config"
	"gatehouse/gateway"
)

// fakeToggle is a password-like provider: on by default.
type fakeToggle struct {
	Enabled bool `yaml:"enabled"`
	name    string
	closed  *[]string
}

func (p *fakeToggle) Method() string                                 { return p.name }
func (p *fakeToggle) Active() bool                                   { return p.Enabled }
func (p *fakeToggle) Provision(context.Context, *gateway.Host) error { return nil }
func (p *fakeToggle) Close() error {
	*p.closed = append(*p.closed, p.name)
	return nil
}

// fakeRedirect is a google-like provider: off without a client_id; its
// Provision fails for client_id "unreachable".
type fakeRedirect struct {
	ClientID string   `yaml:"client_id"`
	Scopes   []string `yaml:"scopes"`
	Name     string   `yaml:"name"` // list entries only
	module   string
	closed   *[]string
}

func (p *fakeRedirect) Method() string {
	if p.Name != "" {
		return p.module + ":" + p.Name
	}
	return p.module
}
func (p *fakeRedirect) Active() bool { return p.ClientID != "" }
func (p *fakeRedirect) Validate() error {
	var e config.Errors
	for i, s := range p.Scopes {
		if strings.Contains(s, " ") {
			e.Add(fmt.Sprintf("scopes[%d]", i), "want one scope without spaces, got %q", s)
		}
	}
	if p.ClientID == "bad" {
		e.Add("client_id", "bad")
	}
	return e.Err()
}
func (p *fakeRedirect) Provision(context.Context, *gateway.Host) error {
	switch p.ClientID {
	case "unreachable":
		var e config.Errors
		e.Add("client_id", "discovery: unreachable")
		return e.Err()
	case "boom":
		return errors.New("boom")
	}
	return nil
}
func (p *fakeRedirect) AuthURL(context.Context, gateway.Flow) (string, error) { return "", nil }
func (p *fakeRedirect) Exchange(context.Context, url.Values, gateway.Flow) (gateway.External, error) {
	return gateway.External{}, nil
}
func (p *fakeRedirect) Close() error {
	*p.closed = append(*p.closed, p.Method())
	return nil
}

var _ gateway.Redirector = (*fakeRedirect)(nil)

func fakeRegistry(t *testing.T, closed *[]string) *gateway.Registry {
	t.Helper()
	reg, err := gateway.NewRegistry(nil, []gateway.ProviderInfo{
		{Name: "toggle", New: func() gateway.Provider { return &fakeToggle{Enabled: true, name: "toggle", closed: closed} }},
		{Name: "redirect", New: func() gateway.Provider { return &fakeRedirect{module: "redirect", closed: closed} }},
		{Name: "many", List: true, New: func() gateway.Provider { return &fakeRedirect{module: "many", closed: closed} }},
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func providersSection(t *testing.T, src string) config.Providers {
	t.Helper()
	var doc struct {
		Providers config.Providers `yaml:"providers"`
	}
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Providers
}

func TestBuildProviders(t *testing.T) {
	tests := []struct {
		name        string
		yaml        string
		wantMethods []string
		wantErr     []string // "line: path: message"
	}{
		{name: "nothing set: defaults", yaml: "providers: {}", wantMethods: []string{"toggle"}},
		{name: "switched off", yaml: "providers: {toggle: {enabled: false}}"},
		{name: "empty section keeps the default", yaml: "providers: {toggle: {}, redirect: ~}", wantMethods: []string{"toggle"}},
		{name: "registration order, then list order", yaml: "providers:\n  many: [{name: b, client_id: x}, {name: a, client_id: y}]\n  redirect: {client_id: x}", wantMethods: []string{"toggle", "redirect", "many:b", "many:a"}},
		{name: "inactive list entry", yaml: "providers: {many: [{name: a}]}", wantMethods: []string{"toggle"}},
		{
			name:    "every problem at once, in file order",
			yaml:    "providers:\n  redirect:\n    client_id: bad\n    scopes: [ok, 'a b']\n  togle: {}\n  many:\n    - {name: a, client_id: x, scope: [x]}\n    - {name: a, client_id: x}\n  toggle: {enabled: maybe}",
			wantErr: []string{`3: providers.redirect.client_id: bad`, `4: providers.redirect.scopes[1]: want one scope without spaces, got "a b"`, `5: providers.togle: unknown provider (known: many, redirect, toggle)`, `7: providers.many[0].scope: unknown key (did you mean "scopes"?)`, `9: providers.toggle.enabled: want true or false, got "maybe"`},
		},
		{name: "duplicate method", yaml: "providers:\n  many:\n    - {name: a, client_id: x}\n    - {name: a, client_id: y}", wantErr: []string{`4: providers.many[1]: duplicate method "many:a" (also providers.many[0])`}},
		{name: "list given a mapping", yaml: "providers: {many: {name: a}}", wantErr: []string{"1: providers.many: want a list (one entry per instance)"}},
		{name: "mapping given a list", yaml: "providers: {toggle: [a]}", wantErr: []string{"1: providers.toggle: want a mapping, got a list"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var closed []string
			list, err := fakeRegistry(t, &closed).BuildProviders(providersSection(t, tc.yaml))
			if tc.wantErr != nil {
				var ce *config.Errors
				if !errors.As(err, &ce) {
					t.Fatalf("error %v (%T), want *config.Errors", err, err)
				}
				var got []string
				for _, p := range ce.Problems {
					got = append(got, fmt.Sprintf("%d: %s", p.Line, p))
				}
				if diff := cmp.Diff(tc.wantErr, got); diff != "" {
					t.Fatalf("problems (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			var methods []string
			for _, in := range list {
				methods = append(methods, in.Method)
			}
			if diff := cmp.Diff(tc.wantMethods, methods, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("methods (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProvisionProviders(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string
		wantErr    string
		wantClosed []string // closed by the failed start
	}{
		{name: "provision problem at its key", yaml: "providers:\n  redirect: {client_id: x}\n  many: [{name: a, client_id: unreachable}]", wantErr: "providers.many[0].client_id: discovery: unreachable", wantClosed: []string{"many:a", "redirect", "toggle"}},
		{name: "plain provision error", yaml: "providers: {redirect: {client_id: boom}}", wantErr: "providers.redirect (redirect): provision: boom", wantClosed: []string{"redirect", "toggle"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var closed []string
			_, err := fakeRegistry(t, &closed).ProvisionProviders(t.Context(), providersSection(t, tc.yaml), nil)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.wantClosed, closed); diff != "" {
				t.Errorf("closed (-want +got):\n%s", diff)
			}
		})
	}

	var closed []string
	set, err := fakeRegistry(t, &closed).ProvisionProviders(t.Context(), providersSection(t, "providers: {redirect: {client_id: x}, many: [{name: a, client_id: y}]}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !set.Has("toggle") || !set.Has("many:a") || set.Has("many") {
		t.Errorf("Has: methods %v", set.Methods())
	}
	rd := set.Redirectors()
	if len(rd) != 2 || rd["redirect"] == nil || rd["many:a"] == nil {
		t.Errorf("Redirectors = %v", rd)
	}
	if err := set.Close(); err != nil || !cmp.Equal(closed, []string{"many:a", "redirect", "toggle"}) {
		t.Errorf("Close: %v, closed %v", err, closed)
	}
}

func TestHostCallbackURL(t *testing.T) {
	u, _ := config.ParseURL("https://gate.example/")
	h := &gateway.Host{PublicURL: u.URL, AuthPrefix: "/auth"}
	if got := h.CallbackURL("oidc:acme"); got != "https://gate.example/auth/oauth/oidc:acme/callback" {
		t.Errorf("CallbackURL = %q", got)
	}
	if got := (&gateway.Host{}).CallbackURL("google"); got != "" {
		t.Errorf("CallbackURL without a public URL = %q", got)
	}
}
