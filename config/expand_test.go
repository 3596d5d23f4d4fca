package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// env is a fake environment for lookupEnv.
type env map[string]string

func (e env) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

func TestExpand(t *testing.T) {
	vars := env{"HOST": "db.internal", "PORT": "5432", "EMPTY": "", "SECRET": "s3cr3t"}
	tests := []struct {
		name     string
		in       string
		want     string
		wantErrs []string
	}{
		{name: "no references", in: "a: b\n", want: "a: b\n"},
		{name: "set", in: "secret: ${SECRET}", want: "secret: s3cr3t"},
		{name: "unset without default is empty", in: "secret: ${NOPE}", want: "secret: "},
		{name: "unset with default", in: "port: ${NOPE:-587}", want: "port: 587"},
		{name: "set with default keeps value", in: "port: ${PORT:-1}", want: "port: 5432"},
		{name: "empty with default takes default", in: "x: ${EMPTY:-d}", want: "x: d"},
		{name: "empty without default", in: "x: ${EMPTY}", want: "x: "},
		{name: "default may be empty", in: "x: ${NOPE:-}", want: "x: "},
		{name: "default with colons and slashes", in: "u: ${NOPE:-http://127.0.0.1:3000/x}", want: "u: http://127.0.0.1:3000/x"},
		{name: "nested in a string", in: `dsn: "postgres://${HOST}:${PORT}/gh?sslmode=disable"`, want: `dsn: "postgres://db.internal:5432/gh?sslmode=disable"`},
		{name: "inside a flow mapping", in: "database: { dsn: ${HOST} }", want: "database: { dsn: db.internal }"},
		{name: "bare $VAR stays", in: "x: $HOST", want: "x: $HOST"},
		{name: "lone dollar stays", in: "x: costs 5$ or $", want: "x: costs 5$ or $"},
		{name: "double dollar escapes", in: "x: $$ and $${HOST}", want: "x: $ and ${HOST}"},
		{name: "expansion is not recursive", in: "x: ${NOPE:-${HOST}}", want: "x: ${HOST}"},
		{
			name:     "unterminated",
			in:       "a: 1\nx: ${HOST\ny: 2",
			want:     "a: 1\nx: ${HOST\ny: 2",
			wantErrs: []string{`line 2: unterminated "${": want ${VAR} or ${VAR:-default}`},
		},
		{
			name: "unsupported forms",
			in:   "a: ${HOST:?need}\nb: ${1X}\nc: ${}",
			want: "a: \nb: \nc: ",
			wantErrs: []string{
				`line 1: bad reference "${HOST:?need}": want ${VAR} or ${VAR:-default}`,
				`line 2: bad reference "${1X}": want ${VAR} or ${VAR:-default}`,
				`line 3: bad reference "${}": want ${VAR} or ${VAR:-default}`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := expand(tc.in, vars.lookup)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("expand(%q) (-want +got):\n%s", tc.in, diff)
			}
			var gotErrs []string
			for _, p := range problems {
				gotErrs = append(gotErrs, p.Message)
			}
			if diff := cmp.Diff(tc.wantErrs, gotErrs); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseExpandsEnv(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		env    env
		get    func(*Config) any
		want   any
		errSub string
	}{
		{
			name: "secret from env",
			src:  "secret: ${GATEHOUSE_SECRET}\n",
			env:  env{"GATEHOUSE_SECRET": testSecret},
			get:  func(c *Config) any { return c.Secret.Value() },
			want: testSecret,
		},
		{
			name:   "unset secret is required",
			src:    "secret: ${GATEHOUSE_SECRET}\n",
			errSub: "secret: required",
		},
		{
			name: "default typed as a number",
			src:  "secret: " + testSecret + "\nmail: { smtp: { port: ${SMTP_PORT:-2525} } }\n",
			get:  func(c *Config) any { return c.Mail.SMTP.Port },
			want: 2525,
		},
		{
			name: "set value typed as a bool",
			src:  "secret: " + testSecret + "\ndatabase: { auto_migrate: ${AUTO:-true} }\n",
			env:  env{"AUTO": "false"},
			get:  func(c *Config) any { return c.Database.AutoMigrate },
			want: false,
		},
		{
			name: "nested in a URL",
			src:  "secret: " + testSecret + "\nserver: { public_url: \"https://${DOMAIN}:${PORT:-8443}/\" }\n",
			env:  env{"DOMAIN": "gate.example.com"},
			get:  func(c *Config) any { return c.Server.PublicURL.String() },
			want: "https://gate.example.com:8443/",
		},
		{
			name:   "bad reference is reported",
			src:    "secret: ${GATEHOUSE_SECRET:?missing}\n",
			errSub: `line 1: bad reference "${GATEHOUSE_SECRET:?missing}"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.src), tc.env.lookup)
			if tc.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("Parse error = %v, want %q", err, tc.errSub)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, tc.get(cfg)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
