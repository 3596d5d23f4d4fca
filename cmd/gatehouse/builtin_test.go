package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gatehouse/plugins/webhooks"
)

func TestRegistry(t *testing.T) {
	reg, err := newRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"email_code", "github", "google", "oidc", "password"} {
		if _, ok := reg.Provider(name); !ok {
			t.Errorf("provider %s (SPEC §2) is not built in", name)
		}
	}
	for _, tc := range []struct {
		env  string
		want bool
	}{{env: "", want: false}, {env: "1", want: true}, {env: "yes", want: false}} {
		p, ok := webhooksInfo(func(string) string { return tc.env }).New().(*webhooks.Plugin)
		if !ok {
			t.Fatal("webhooksInfo is not the webhooks plugin")
		}
		if got := p.AllowPrivate; got != tc.want {
			t.Errorf("GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE=%q: allow private %v, want %v", tc.env, got, tc.want)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	reg, err := newRegistry()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want []string
	}{
		{file: "check_ok.yaml"},
		{file: "check_broken.yaml", want: []string{
			"secret: must be at least 32 bytes",
			"providers.google.client_secret: required when client_id is set",
			"providers.github.userinfo_url: unknown key",
			"providers.oidc[0].client_id: required", // left out: the entry's line
			`providers.oidc[0].issuer: not an absolute http(s) URL: "id.example.com"`,
			`providers.oidc[0].scope: unknown key (did you mean "scopes"?)`,
			"providers.microsfot: unknown provider (known: " + strings.Join(reg.ProviderNames(), ", ") + ")",
			`providers.password.enabled: want true or false, got "maybe"`,
			"routes[0].plugins[1].name: required",
			`webhooks[0].events[0]: unknown event "user.exploded" (events are user.created, user.verified, user.login, user.updated, user.deleted, workspace.member_added, workspace.member_removed)`,
			`webhooks[0].secret: must hold at least 24 bytes after "whsec_", has 5`,
			`routes[0].plugins[0] (ratelimit).options: want N/period such as 10/m, got "ten"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := checkConfig(filepath.Join("testdata", tc.file), reg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config check (-want +got):\n%s", diff)
			}
		})
	}
}
