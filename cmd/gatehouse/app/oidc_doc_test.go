package app_test

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"gatehouse/config"
)

// docSection is the text of a "## " section of a doc.
func docSection(t *testing.T, path, heading string) string {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", path, heading)
	}
	section, _, _ := strings.Cut(after, "\n## ")
	return section
}

// fenced returns the bodies of the ```lang blocks of text, in order
// (indented blocks of a list included, their indent removed).
func fenced(text, lang string) []string {
	re := regexp.MustCompile("(?ms)^( *)```" + lang + "\n(.*?)^ *```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		lines := strings.Split(m[2], "\n")
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, m[1])
		}
		out = append(out, strings.Join(lines, "\n"))
	}
	return out
}

// TestOIDCProviderDocDeviceWalkthrough runs docs/oidc-provider.md's
// device flow as written: its client config, then its curl commands
// against a running Gatehouse, with a person approving the code on the
// device page in between; and the introspection command of "Revocation".
func TestOIDCProviderDocDeviceWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed to run the doc's commands (scripts/proxies.sh installs it): ", err)
	}
	const doc = "../../../docs/oidc-provider.md"
	device := docSection(t, doc, "Device flow for a CLI")
	keys := docSection(t, doc, "Configuration keys")
	secret := strings.Repeat("wiki-secret-", 3)
	env := func(name string) (string, bool) { return secret, name == "WIKI_OIDC_SECRET" }
	var clients []config.OIDCClient
	for _, block := range []string{fenced(keys, "yaml")[0], fenced(device, "yaml")[0]} {
		cfg, err := config.Parse([]byte("secret: "+strings.Repeat("s", 40)+"\nroutes: [{name: app, upstream: \"http://127.0.0.1:3000\"}]\n"+block), env)
		if err != nil {
			t.Fatalf("the doc's config: %v\n%s", err, block)
		}
		clients = append(clients, cfg.OIDCProvider.Clients...)
	}
	s := newStack(t, "embedded", func(cfg *config.Config) {
		cfg.OIDCProvider.Enabled = true
		cfg.OIDCProvider.Clients = clients
	})
	userC := s.client()
	s.signUp(userC, uniqueEmail("oidc-doc"))

	// run runs one of the doc's commands against this Gatehouse and
	// decodes its JSON answer.
	run := func(cmd string, vars ...string) map[string]any {
		t.Helper()
		c := exec.Command("bash", "-c", strings.ReplaceAll(cmd, "https://gate.example.com", s.Base))
		c.Env = append(os.Environ(), vars...)
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s: not JSON: %s", cmd, out)
		}
		return m
	}
	cmds := fenced(device, "sh")
	if len(cmds) != 3 {
		t.Fatalf("the device section has %d commands, want 3 (ask, poll, refresh)", len(cmds))
	}
	ask := run(cmds[0])
	deviceCode, _ := ask["device_code"].(string)
	userCode, _ := ask["user_code"].(string)
	if deviceCode == "" || userCode == "" || ask["verification_uri"] != s.Base+"/auth/device" {
		t.Fatalf("step 1 answered %v", ask)
	}
	if got := run(cmds[1], "DEVICE_CODE="+deviceCode); got["error"] != "authorization_pending" {
		t.Fatalf("polling before the person answers: %v", got)
	}
	expect(t, userC.post("/auth/device", url.Values{"user_code": {userCode}, "decision": {"allow"}}), 200, "")
	tokens := run(cmds[1], "DEVICE_CODE="+deviceCode)
	refresh, _ := tokens["refresh_token"].(string)
	access, _ := tokens["access_token"].(string)
	if access == "" || refresh == "" || tokens["id_token"] == nil {
		t.Fatalf("polling after Allow: %v", tokens)
	}
	again := run(cmds[2], "REFRESH_TOKEN="+refresh)
	if again["access_token"] == nil || again["refresh_token"] == refresh {
		t.Fatalf("step 4 answered %v", again)
	}

	introspect := fenced(docSection(t, doc, "Revocation"), "sh")
	if len(introspect) != 1 {
		t.Fatalf("the revocation section has %d commands, want 1", len(introspect))
	}
	cmd, _, _ := strings.Cut(introspect[0], "\n") // the line after it is the answer
	if got := run(cmd, "WIKI_OIDC_SECRET="+secret, "ACCESS_TOKEN="+again["access_token"].(string)); got["active"] != true || got["client_id"] != "cli" {
		t.Fatalf("introspection as the doc shows it: %v", got)
	}
}
