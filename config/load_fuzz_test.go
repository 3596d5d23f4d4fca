package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics on any bytes; it returns either a Config
// that passes Validate, with every route normalised (a path starting with
// "/", a known auth policy, a positive timeout), or an *Errors with at
// least one problem, each with a message; and the same bytes give the
// same answer every time (problems are in a stable order).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "{}", "secret: ${GATEHOUSE_SECRET}\n", "secret: ${NOPE:-" + strings.Repeat("x", 32) + "}\n",
		"routes: [{ name: a, path: /app, upstream: \"http://a\" }]\n",
		"routes: [{ name: a, path: /app%2Fx, upstream: \"http://a\" }]\n",
		"server: { body_limit: 1MiB, trusted_proxies: [10.0.0.0/8] }\n",
		"rate_limits: { login: ten }\n", "session: { idle_timeout: abc }\n", "a: &x [*x]\n",
		"plugins: [{ name: ratelimit, options: { rate: 10/m } }]\n", "\t- :\n", "routes: 3\n",
	} {
		f.Add([]byte(s))
	}
	env := func(k string) (string, bool) {
		if k == "GATEHOUSE_SECRET" {
			return strings.Repeat("s", 40), true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, env)
		cfg2, err2 := Parse(data, env)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("two parses differ: %v / %v", err, err2)
		}
		if err != nil {
			var es *Errors
			if cfg != nil || !errors.As(err, &es) || len(es.Problems) == 0 {
				t.Fatalf("Parse: %v, %T with a config %v", err, err, cfg != nil)
			}
			for _, p := range es.Problems {
				if p.Message == "" {
					t.Fatalf("a problem without a message at %q", p.Path)
				}
			}
			return
		}
		_ = cfg2
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse returned a config that fails Validate: %v", err)
		}
		for i, r := range cfg.Routes {
			if !strings.HasPrefix(r.Path, "/") || r.Timeout <= 0 {
				t.Fatalf("routes[%d] not normalised: path %q timeout %v", i, r.Path, r.Timeout)
			}
			switch r.Auth {
			case AuthRequired, AuthOptional, AuthPublic:
			default:
				t.Fatalf("routes[%d] auth %q", i, r.Auth)
			}
		}
	})
}
