package config

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// sampleOptions are the options of a made-up module.
type sampleOptions struct {
	Name     string   `yaml:"name"`
	Scopes   []string `yaml:"scopes"`
	Timeout  Duration `yaml:"timeout"`
	Enabled  bool     `yaml:"enabled"`
	Password Secret   `yaml:"password"`
}

func node(t *testing.T, snippet string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(snippet), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{}
	}
	return doc.Content[0]
}

func TestDecodeOptions(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    sampleOptions
		wantErr []string // "line: path: message"
	}{
		{name: "empty", yaml: "", want: sampleOptions{Enabled: true}},
		{name: "null", yaml: "~", want: sampleOptions{Enabled: true}},
		{name: "on top of defaults", yaml: "name: corp\nscopes: [email]", want: sampleOptions{Name: "corp", Scopes: []string{"email"}, Enabled: true}},
		{name: "set off", yaml: "enabled: false", want: sampleOptions{}},
		{
			name:    "every problem at once",
			yaml:    "name: corp\nscope: [email]\ntimeout: soon\nenabled: maybe",
			wantErr: []string{`2: providers.oidc[0].scope: unknown key (did you mean "scopes"?)`, `3: providers.oidc[0].timeout: want a duration such as 15m, got "soon"`, `4: providers.oidc[0].enabled: want true or false, got "maybe"`},
		},
		{name: "not a mapping", yaml: "[a]", wantErr: []string{"1: providers.oidc[0]: want a mapping, got a list"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := node(t, tc.yaml)
			before := cloneNode(n)
			got := sampleOptions{Enabled: true}
			err := DecodeOptions(n, &got, "providers.oidc[0]")
			if diff := cmp.Diff(before, n); diff != "" {
				t.Errorf("DecodeOptions changed the node:\n%s", diff)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(Secret{})); diff != "" {
					t.Errorf("decoded (-want +got):\n%s", diff)
				}
				return
			}
			e, ok := err.(*Errors)
			if !ok {
				t.Fatalf("error %T (%v), want *Errors", err, err)
			}
			var lines []string
			for _, p := range e.Problems {
				lines = append(lines, itoa(p.Line)+": "+p.String())
			}
			if diff := cmp.Diff(tc.wantErr, lines); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRebase(t *testing.T) {
	n := node(t, "client_id: abc\n\nscopes: [a b]")
	var e Errors
	e.Add("client_secret", "required when client_id is set")
	e.Add("scopes[0]", "want one scope without spaces, got %q", "a b")
	e.Add("", "whole")
	got := Rebase(e.Err(), "providers.google", n)
	want := []Problem{
		{Path: "providers.google.client_secret", Message: "required when client_id is set", Line: 1},
		{Path: "providers.google.scopes[0]", Message: `want one scope without spaces, got "a b"`, Line: 3},
		{Path: "providers.google", Message: "whole", Line: 1},
	}
	if diff := cmp.Diff(want, got.Problems); diff != "" {
		t.Errorf("Rebase (-want +got):\n%s", diff)
	}
	if Rebase(nil, "x", n) != nil {
		t.Error("Rebase(nil) is not nil")
	}
	plain := Rebase(errString("boom"), "providers.oidc[1]", n)
	if s := plain.Error(); s != "providers.oidc[1]: boom" {
		t.Errorf("plain error rebased to %q", s)
	}
	var none Errors
	if none.Err() != nil {
		t.Error("an empty Errors is an error")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestProvidersRedacted(t *testing.T) {
	cfg, err := Parse([]byte("secret: "+testSecret+"\nroutes: [{name: a, upstream: 'http://a'}]\nproviders:\n  google: {client_id: id, client_secret: hunter22}\n  oidc: [{name: x, client_secret: s3cr3t-value}]\n  smtp_thing: {password: pw-value, nested: {api_secret: deep-value}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(cfg.Providers)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"hunter22", "s3cr3t-value", "pw-value", "deep-value"} {
		if strings.Contains(string(out), s) {
			t.Errorf("printed providers show %q:\n%s", s, out)
		}
	}
	if !strings.Contains(string(out), "client_id: id") {
		t.Errorf("printed providers lose the options:\n%s", out)
	}
	if cfg.Providers["google"].Content[3].Value != "hunter22" {
		t.Error("printing redacted the config itself")
	}
}

func TestWebhookSpecs(t *testing.T) {
	list := []Webhook{
		{URL: "https://a.example.com/h", Events: []string{"user.created"}, Secret: NewSecret("whsec_x")},
		{URL: "https://b.example.com/h", Events: []string{"user.deleted", "user.login"}, Secret: NewSecret("whsec_y")},
		{URL: "https://a.example.com/h", Events: []string{"user.login"}, Secret: NewSecret("whsec_z")},
	}
	specs := WebhookSpecs(list)
	if len(specs) != 3 {
		t.Fatalf("%d specs, want 3", len(specs))
	}
	for i, s := range specs {
		if s.Name != WebhooksPlugin || s.Path != "webhooks["+itoa(i)+"]" {
			t.Errorf("spec %d: name %q path %q", i, s.Name, s.Path)
		}
	}
	if specs[0].ID != WebhookID(list[0].URL) || specs[2].ID != WebhookID(list[0].URL)+":2" || specs[1].ID == specs[0].ID {
		t.Errorf("ids %q %q %q", specs[0].ID, specs[1].ID, specs[2].ID)
	}
	var got struct {
		URL    string   `yaml:"url"`
		Events []string `yaml:"events"`
		Secret string   `yaml:"secret"`
	}
	if err := specs[1].Options.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.URL != list[1].URL || !cmp.Equal(got.Events, list[1].Events) || got.Secret != "whsec_y" {
		t.Errorf("options %+v", got)
	}
	cfg := &Config{Plugins: []PluginSpec{{Name: "request_id", Path: "plugins[0]"}}, Webhooks: list[:1]}
	all := cfg.GlobalPlugins()
	if len(all) != 2 || all[0].Name != "request_id" || all[1].Path != "webhooks[0]" || len(cfg.Plugins) != 1 {
		t.Errorf("GlobalPlugins = %+v", all)
	}
}
