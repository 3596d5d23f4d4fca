package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ByteSize
		wantStr string
		wantErr bool
	}{
		{name: "empty", in: "", want: 0, wantStr: "0"},
		{name: "bytes", in: "1500", want: 1500, wantStr: "1500B"},
		{name: "mebibytes", in: "1MiB", want: 1 << 20, wantStr: "1MiB"},
		{name: "kibibytes lower case", in: "64kib", want: 64 << 10, wantStr: "64KiB"},
		{name: "short unit", in: "2m", want: 2 << 20, wantStr: "2MiB"},
		{name: "decimal unit", in: "10MB", want: 10_000_000, wantStr: "10000000B"},
		{name: "space before unit", in: "512 KiB", want: 512 << 10, wantStr: "512KiB"},
		{name: "gibibytes", in: "1GiB", want: 1 << 30, wantStr: "1GiB"},
		{name: "word", in: "lots", wantErr: true},
		{name: "negative", in: "-1KiB", wantErr: true},
		{name: "fraction", in: "1.5MiB", wantErr: true},
		{name: "too big", in: "99999999GiB", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseByteSize(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseByteSize(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got != tc.want || got.String() != tc.wantStr {
				t.Errorf("ParseByteSize(%q) = %d (%s), want %d (%s)", tc.in, got, got, tc.want, tc.wantStr)
			}
			if back, err := ParseByteSize(got.String()); err != nil || back != got {
				t.Errorf("String() %q does not parse back: %d, %v", got.String(), back, err)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Rate
		wantStr string
		wantErr bool
	}{
		{name: "empty is no limit", in: "", want: Rate{}, wantStr: ""},
		{name: "per minute", in: "10/m", want: Rate{N: 10, Period: time.Minute}, wantStr: "10/m"},
		{name: "per hour word", in: "10/hour", want: Rate{N: 10, Period: time.Hour}, wantStr: "10/h"},
		{name: "per day", in: "100/d", want: Rate{N: 100, Period: 24 * time.Hour}, wantStr: "100/d"},
		{name: "go duration", in: "5/30s", want: Rate{N: 5, Period: 30 * time.Second}, wantStr: "5/30s"},
		{name: "spaces", in: " 3 / s ", want: Rate{N: 3, Period: time.Second}, wantStr: "3/s"},
		{name: "no period", in: "10", wantErr: true},
		{name: "zero", in: "0/m", wantErr: true},
		{name: "word", in: "ten/m", wantErr: true},
		{name: "bad period", in: "10/fortnight", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseRate(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseRate(%q) (-want +got):\n%s", tc.in, diff)
			}
			if got.String() != tc.wantStr {
				t.Errorf("String() = %q, want %q", got.String(), tc.wantStr)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Duration
		wantStr string
		wantErr bool
	}{
		{name: "empty", in: "", want: 0, wantStr: "0s"},
		{name: "hours", in: "720h", want: Duration(720 * time.Hour), wantStr: "720h"},
		{name: "mixed", in: "1h30m", want: Duration(90 * time.Minute), wantStr: "1h30m"},
		{name: "seconds", in: "60s", want: Duration(time.Minute), wantStr: "1m"},
		{name: "sub-second", in: "1500ms", want: Duration(1500 * time.Millisecond), wantStr: "1.5s"},
		{name: "no unit", in: "30", wantErr: true},
		{name: "negative", in: "-1s", wantErr: true},
		{name: "days are not Go", in: "1d", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseDuration(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got != tc.want || got.String() != tc.wantStr {
				t.Errorf("ParseDuration(%q) = %v (%s), want %v (%s)", tc.in, got.Std(), got, tc.want.Std(), tc.wantStr)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "empty", in: "", want: ""},
		{name: "http", in: "http://127.0.0.1:3000", want: "http://127.0.0.1:3000"},
		{name: "https with path", in: "https://app.internal/base", want: "https://app.internal/base"},
		{name: "upper-case scheme", in: "HTTPS://x", want: "https://x"},
		{name: "ftp", in: "ftp://x", wantErr: true},
		{name: "no scheme", in: "example.com", wantErr: true},
		{name: "no host", in: "http:///x", wantErr: true},
		{name: "user info", in: "http://u:p@x", wantErr: true},
		{name: "opaque", in: "http:x", wantErr: true},
		{name: "port only", in: "http://:80", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseURL(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseURL(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if got.String() != tc.want {
				t.Errorf("ParseURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "v4 prefix", in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{name: "masked", in: "10.1.2.3/8", want: "10.0.0.0/8"},
		{name: "v6 prefix", in: "::1/128", want: "::1/128"},
		{name: "bare v4", in: "192.168.1.1", want: "192.168.1.1/32"},
		{name: "bare v6", in: "fd00::1", want: "fd00::1/128"},
		{name: "too long", in: "10.0.0.0/33", wantErr: true},
		{name: "name", in: "localhost", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCIDR(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseCIDR(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if !tc.wantErr && got.String() != tc.want {
				t.Errorf("ParseCIDR(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const value = "hunter2-hunter2-hunter2-hunter2-"
	cfg := Default()
	cfg.Secret = NewSecret(value)
	cfg.Database.DSN = NewSecret("postgres://gh:" + value + "@db/gh")
	cfg.Redis.Password = NewSecret(value)

	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "secret", cfg.Secret, "redis", cfg.Redis)
	dump, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", cfg),
		"%+v":  fmt.Sprintf("%+v", cfg),
		"%#v":  fmt.Sprintf("%#v", cfg.Secret),
		"%s":   fmt.Sprintf("%s", cfg.Secret), //lint:ignore S1025 the test checks what %s prints
		"slog": logged.String(),
		"yaml": string(dump),
	}
	for name, out := range outputs {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s prints the secret: %s", name, out)
		}
	}
	if cfg.Secret.Value() != value {
		t.Errorf("Value() = %q", cfg.Secret.Value())
	}
}
