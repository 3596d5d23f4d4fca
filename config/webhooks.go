package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// WebhooksPlugin is the registered name of the plugin that delivers the
// endpoints of the top-level webhooks list.
const WebhooksPlugin = "webhooks"

// GlobalPlugins is the global plugin list as the engine runs it: Plugins,
// then one webhooks plugin instance per entry of the top-level webhooks
// list (WebhookSpecs). The top-level list is a shorthand: the engine
// builds, provisions and subscribes those instances like any other.
func (c *Config) GlobalPlugins() []PluginSpec {
	out := make([]PluginSpec, 0, len(c.Plugins)+len(c.Webhooks))
	out = append(out, c.Plugins...)
	return append(out, WebhookSpecs(c.Webhooks)...)
}

// WebhookSpecs turns each entry of the top-level webhooks list into a spec
// of the webhooks plugin with options {url, events, secret} and Path
// "webhooks[i]". Its ID is WebhookID(url), not the entry's position: the
// outbox keeps items by sink id, so reordering the list must not send one
// endpoint's pending events to another. A URL listed twice gets ":i"
// appended to its second ID.
func WebhookSpecs(list []Webhook) []PluginSpec {
	out := make([]PluginSpec, 0, len(list))
	seen := map[string]bool{}
	for i, w := range list {
		id := WebhookID(w.URL)
		if seen[id] {
			id += fmt.Sprintf(":%d", i)
		}
		seen[id] = true
		var opts yaml.Node
		// Encoding strings and a list of strings cannot fail.
		_ = opts.Encode(struct {
			URL    string   `yaml:"url"`
			Events []string `yaml:"events,flow"`
			Secret string   `yaml:"secret"`
		}{URL: w.URL, Events: w.Events, Secret: w.Secret.Value()})
		out = append(out, PluginSpec{Name: WebhooksPlugin, ID: id, Options: opts, Path: fmt.Sprintf("webhooks[%d]", i)})
	}
	return out
}

// WebhookID is the sink id of a top-level webhook endpoint:
// "webhook:" + the first 8 bytes of the SHA-256 of the URL, in hex.
func WebhookID(rawURL string) string {
	h := sha256.Sum256([]byte(strings.TrimSpace(rawURL)))
	return "webhook:" + hex.EncodeToString(h[:8])
}
