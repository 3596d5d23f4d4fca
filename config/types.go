package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// scalar returns the text of a scalar node, or an error saying what was
// wanted when n is a mapping or a list.
func scalar(n *yaml.Node, want string) (string, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("want %s, got %s", want, describe(n))
	}
	return n.Value, nil
}

// describe names what a node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		if n.Alias != nil {
			return describe(n.Alias)
		}
		return "an alias"
	}
	return strconv.Quote(n.Value)
}

// Duration is a time.Duration written as "15m", "24h", "60s" (Go syntax,
// time.ParseDuration). It is never negative; "" and "0" are zero.
type Duration time.Duration

// Std is the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String writes the duration compactly: "24h", "1h30m", "15m", "60s" → "1m".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseDuration parses a Go duration string; "" is zero, negatives are errors.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, nil
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 15m, got %q", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("want a duration of zero or more, got %q", s)
	}
	return Duration(v), nil
}

// UnmarshalYAML parses a duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n, "a duration such as 15m")
	if err != nil {
		return err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration as String does.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ByteSize is a size in bytes written as "1MiB", "512KiB", "1024", "10MB".
// Binary units: KiB, MiB, GiB (and the short K, M, G); decimal units: KB,
// MB, GB; B or no unit is bytes. Units are case-insensitive.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
}

// ParseByteSize parses "1MiB" and friends; "" is zero.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("want a size such as 1MiB, got %q", s)
	}
	return ByteSize(n * mult), nil
}

// String writes the size in the largest binary unit that divides it
// exactly: "1MiB", "64KiB", "1500B"; zero is "0".
func (b ByteSize) String() string {
	switch {
	case b == 0:
		return "0"
	case b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%dB", int64(b))
}

// UnmarshalYAML parses a size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n, "a size such as 1MiB")
	if err != nil {
		return err
	}
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML writes the size as String does, and zero as 0.
func (b ByteSize) MarshalYAML() (any, error) {
	if b == 0 {
		return 0, nil
	}
	return b.String(), nil
}

// Rate is "N/period": N events per period with a burst of N (SPEC §6).
// Periods: s, m, h, d (or second, minute, hour, day), or a Go duration
// ("10/30s"). The zero Rate, written "", means no limit.
type Rate struct {
	// N is the number of events allowed per Period (and the burst).
	N int
	// Period is the window N applies to.
	Period time.Duration
}

// IsZero reports an unset rate (no limit).
func (r Rate) IsZero() bool { return r.N == 0 }

// String writes the rate as ParseRate reads it: "10/m", "5/30s"; zero is "".
func (r Rate) String() string {
	if r.IsZero() {
		return ""
	}
	per := Duration(r.Period).String()
	switch r.Period {
	case time.Second:
		per = "s"
	case time.Minute:
		per = "m"
	case time.Hour:
		per = "h"
	case 24 * time.Hour:
		per = "d"
	}
	return fmt.Sprintf("%d/%s", r.N, per)
}

// ParseRate parses "10/m"; "" is the zero Rate.
func ParseRate(s string) (Rate, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Rate{}, nil
	}
	num, per, ok := strings.Cut(t, "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if !ok || err != nil || n <= 0 {
		return Rate{}, fmt.Errorf("want N/period such as 10/m, got %q", s)
	}
	var p time.Duration
	switch strings.TrimSpace(per) {
	case "s", "sec", "second":
		p = time.Second
	case "m", "min", "minute":
		p = time.Minute
	case "h", "hour":
		p = time.Hour
	case "d", "day":
		p = 24 * time.Hour
	default:
		p, err = time.ParseDuration(strings.TrimSpace(per))
		if err != nil || p <= 0 {
			return Rate{}, fmt.Errorf("want N/period such as 10/m, got %q", s)
		}
	}
	return Rate{N: n, Period: p}, nil
}

// UnmarshalYAML parses a rate.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n, "N/period such as 10/m")
	if err != nil {
		return err
	}
	v, err := ParseRate(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalYAML writes the rate as String does.
func (r Rate) MarshalYAML() (any, error) { return r.String(), nil }

// URL is an absolute http(s) URL without user info, or empty (nil).
type URL struct {
	*url.URL
}

// IsZero reports an empty URL.
func (u URL) IsZero() bool { return u.URL == nil }

// String is the URL as written, or "" when empty.
func (u URL) String() string {
	if u.URL == nil {
		return ""
	}
	return u.URL.String()
}

// ParseURL parses an absolute http(s) URL; "" is the zero URL.
func ParseURL(s string) (URL, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return URL{}, nil
	}
	u, err := url.Parse(t)
	if err != nil || !isHTTPURL(u) {
		return URL{}, fmt.Errorf("not an absolute http(s) URL: %q", s)
	}
	return URL{u}, nil
}

// isHTTPURL reports an absolute http(s) URL with a host and no user info.
func isHTTPURL(u *url.URL) bool {
	return u != nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Hostname() != "" && u.User == nil && u.Opaque == ""
}

// UnmarshalYAML parses a URL.
func (u *URL) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n, "an absolute http(s) URL")
	if err != nil {
		return err
	}
	v, err := ParseURL(s)
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// MarshalYAML writes the URL as a string.
func (u URL) MarshalYAML() (any, error) { return u.String(), nil }

// Secret is a string that never prints: String, LogValue and MarshalYAML
// redact it. Value gives the secret to the code that needs it.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Value is the secret itself; use it only where the secret is needed.
func (s Secret) Value() string { return s.v }

// IsZero reports an empty secret.
func (s Secret) IsZero() bool { return s.v == "" }

// String is "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret in %#v too.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// LogValue keeps the secret out of logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML redacts the secret in effective-config dumps.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads the secret.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalar(n, "a string")
	if err != nil {
		return err
	}
	s.v = v
	return nil
}

// CIDR is a network prefix; a bare address is a /32 or /128.
type CIDR struct{ netip.Prefix }

// ParseCIDR parses "10.0.0.0/8", "::1/128" or a bare address.
func ParseCIDR(s string) (CIDR, error) {
	t := strings.TrimSpace(s)
	if strings.Contains(t, "/") {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return CIDR{}, fmt.Errorf("not a CIDR: %q", s)
		}
		return CIDR{p.Masked()}, nil
	}
	a, err := netip.ParseAddr(t)
	if err != nil {
		return CIDR{}, fmt.Errorf("not a CIDR or address: %q", s)
	}
	return CIDR{netip.PrefixFrom(a, a.BitLen())}, nil
}

// MustCIDR is ParseCIDR for literals known to be valid; it panics otherwise.
func MustCIDR(s string) CIDR {
	c, err := ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return c
}

// UnmarshalYAML parses a CIDR.
func (c *CIDR) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n, "a CIDR such as 10.0.0.0/8")
	if err != nil {
		return err
	}
	v, err := ParseCIDR(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// MarshalYAML writes the prefix.
func (c CIDR) MarshalYAML() (any, error) { return c.String(), nil }

// Contains reports whether a (unmapped) is in the prefix.
func (c CIDR) Contains(a netip.Addr) bool { return c.Prefix.Contains(a.Unmap()) }
