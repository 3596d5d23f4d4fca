package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the gateway.yaml at path and parses it with the process
// environment (os.LookupEnv); see Parse. A file that cannot be read is a
// plain error wrapping the *fs.PathError; anything wrong inside it is an
// *Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, os.LookupEnv)
}

// Parse turns the text of a gateway.yaml into a valid Config:
//
//  1. ${VAR} and ${VAR:-default} are expanded in the raw text with
//     lookupEnv (nil means no variable is set). An unset ${VAR} becomes
//     ""; the default is used when VAR is unset or empty and is not
//     expanded again; "$$" is an escaped "$" ("$${X}" is the text
//     "${X}"); a bare $VAR is left alone. Values go in as they are: quote
//     a reference whose value may hold YAML syntax (": ", " #").
//  2. The YAML is checked against the schema: every unknown key, every
//     duplicate key and every value of the wrong type or form is a Problem
//     naming its dotted path ("server.listne: unknown key",
//     "session.idle_timeout: want a duration such as 15m, got \"abc\"").
//  3. It is decoded strictly (yaml.v3 KnownFields) on top of Default(),
//     so that keys left out keep their default.
//  4. It is normalised: each route gets path "/", auth "required" and
//     timeout 30s when left out; route hosts, trusted origins and the
//     cookie domain are lower-cased; trailing slashes are trimmed from
//     auth_prefix, route paths (except "/") and origins; PluginSpec.Path
//     is set ("plugins[0]", "routes[1].plugins[0]").
//  5. It is validated (Config.Validate).
//
// All problems are reported at once, as an *Errors, in file order (those
// with no line, such as a required key left out, first); the Config is nil
// then. Validation problems about keys that already failed to decode are
// left out: they would describe the default left in place.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	cfg, problems := parse(data, lookupEnv)
	if len(problems) > 0 {
		return nil, &Errors{Problems: problems}
	}
	return cfg, nil
}

// Inspect is Load for `gatehouse config check`: it returns the Config as
// far as it decoded (a key that failed keeps its default) together with
// every problem, so that the caller can check the modules it names too and
// report everything at once. The Config is nil only when the file cannot
// be read or is not YAML. Never run a gateway with a Config that came with
// problems.
func Inspect(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, problems := parse(data, os.LookupEnv)
	if len(problems) > 0 {
		return cfg, &Errors{Problems: problems}
	}
	return cfg, nil
}

// parse is Parse, with the best-effort Config kept next to the problems
// (nil when the text is not YAML).
func parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, []Problem) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	unset := unsetVars(string(data), lookupEnv)
	text, problems := expand(string(data), lookupEnv)
	if len(problems) > 0 {
		return nil, problems
	}
	root, p := parseDocument(text)
	if p != nil {
		return nil, []Problem{*p}
	}

	w := &walker{lines: map[string]int{}}
	if root != nil {
		w.walk(root, reflect.TypeFor[Config](), "")
	}
	cfg := Default()
	switch {
	case root == nil:
	case len(w.problems) == 0:
		// The authoritative decode: strict, from the text itself.
		dec := yaml.NewDecoder(strings.NewReader(text))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlProblems(err)
		}
	default:
		// The walk pruned what it reported; decode the rest only to find
		// the validation problems that remain, so that one run shows all.
		_ = root.Decode(cfg)
	}
	normalize(cfg)

	all := slices.Clone(w.problems)
	var verrs *Errors
	if errors.As(cfg.Validate(), &verrs) {
		for _, vp := range verrs.Problems {
			if covered(vp, w.problems) {
				continue
			}
			vp.Line = w.lineOf(vp.Path)
			all = append(all, vp)
		}
	}
	// A problem on a line whose ${VAR} is unset says so: "secret:
	// required" alone hides that the variable is missing.
	for i := range all {
		if names := unset[all[i].Line]; len(names) > 0 && all[i].Line > 0 {
			all[i].Message += fmt.Sprintf(" (%s not set in the environment)", strings.Join(names, ", "))
		}
	}
	// File order; problems with no line (absent keys) first.
	slices.SortStableFunc(all, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return cfg, all
}

// unsetVars are the ${VAR} references without a default whose variable is
// unset, by line.
func unsetVars(text string, lookupEnv func(string) (string, bool)) map[int][]string {
	out := map[int][]string{}
	for n, line := range strings.Split(text, "\n") {
		for _, m := range envRef.FindAllStringSubmatch(line, -1) {
			if _, ok := lookupEnv(m[1]); !ok {
				out[n+1] = append(out[n+1], m[1])
			}
		}
	}
	return out
}

// envRef is ${VAR} without a default (a $${VAR} is not one, and rarely
// matters here).
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// parseDocument parses text into its root node: a mapping, or nil for an
// empty document.
func parseDocument(text string) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		p := yamlProblems(err)[0]
		if at := failingLine(text); at > p.Line && p.Line > 0 {
			// yaml.v3 names the line of the enclosing block; the first
			// line whose prefix no longer parses is the one to fix.
			rest, _ := strings.CutPrefix(p.Message, fmt.Sprintf("line %d: ", p.Line))
			p = Problem{Line: at, Message: fmt.Sprintf("line %d: %s (in the block that starts on line %d)", at, rest, p.Line)}
		}
		return nil, &p
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, &yamlProblems(err)[0]
		}
		return nil, &Problem{Line: extra.Line, Message: fmt.Sprintf("line %d: want one YAML document, found another", extra.Line)}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Problem{Line: root.Line, Message: fmt.Sprintf("line %d: want a mapping of keys at the top level, got %s", root.Line, describe(root))}
	}
	return root, nil
}

// yamlProblems turns a yaml.v3 error into problems ("line 3: …").
func yamlProblems(err error) []Problem {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := make([]Problem, 0, len(te.Errors))
		for _, e := range te.Errors {
			out = append(out, Problem{Message: e, Line: lineIn(e)})
		}
		if len(out) > 0 {
			return out
		}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return []Problem{{Message: msg, Line: lineIn(msg)}}
}

// failingLine is the first line n such that the first n lines are no
// longer YAML (0 when every prefix parses).
func failingLine(text string) int {
	lines := strings.SplitAfter(text, "\n")
	var b strings.Builder
	for n, l := range lines {
		b.WriteString(l)
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(b.String()), &doc); err != nil {
			return n + 1
		}
	}
	return 0
}

// lineIn reads N from a message starting "line N:".
func lineIn(msg string) int {
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0
	}
	num, _, _ := strings.Cut(rest, ":")
	n, _ := strconv.Atoi(num)
	return n
}

// covered reports whether validation problem vp is about a key that
// already failed to decode: at or below it, or naming it in its message
// (a cross-key rule such as max_lifetime >= idle_timeout would otherwise
// compare against the default that the bad value left in place).
func covered(vp Problem, decoded []Problem) bool {
	for _, p := range decoded {
		if p.Path == "" {
			continue
		}
		if vp.Path == p.Path || strings.HasPrefix(vp.Path, p.Path+".") || strings.HasPrefix(vp.Path, p.Path+"[") ||
			mentions(vp.Message, p.Path) {
			return true
		}
	}
	return false
}

// mentions reports whether msg names path as a whole key ("routes[1]" is
// not named by "routes[10]", nor "session.idle" by "session.idle_timeout").
func mentions(msg, path string) bool {
	for i := 0; ; {
		j := strings.Index(msg[i:], path)
		if j < 0 {
			return false
		}
		end := i + j + len(path)
		if end == len(msg) || !isKeyByte(msg[end]) {
			return true
		}
		i = end
	}
}

func isKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// parent strips the last segment of a dotted path: "a.b[2]" → "a.b" → "a".
func parent(path string) string {
	i := max(strings.LastIndexByte(path, '.'), strings.LastIndexByte(path, '['))
	if i <= 0 {
		return ""
	}
	return path[:i]
}

// normalize puts a decoded Config into the form Validate and the
// components expect. It is the only step that changes values.
func normalize(c *Config) {
	c.Server.AuthPrefix = trimSlash(c.Server.AuthPrefix)
	for i, o := range c.Server.TrustedOrigins {
		c.Server.TrustedOrigins[i] = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(o)), "/")
	}
	c.Session.CookieDomain = strings.ToLower(c.Session.CookieDomain)
	for i := range c.Routes {
		r := &c.Routes[i]
		r.Host = strings.ToLower(r.Host)
		if r.Path == "" {
			r.Path = DefaultRoutePath
		} else {
			r.Path = trimSlash(r.Path)
		}
		if r.Auth == "" {
			r.Auth = DefaultRouteAuth
		}
		if r.Timeout == 0 {
			r.Timeout = DefaultRouteTimeout
		}
		for j := range r.Plugins {
			r.Plugins[j].Path = fmt.Sprintf("routes[%d].plugins[%d]", i, j)
		}
	}
	c.OIDCProvider.normalize()
	for j := range c.Plugins {
		c.Plugins[j].Path = fmt.Sprintf("plugins[%d]", j)
	}
}

// trimSlash trims trailing slashes from a path but keeps "/" as "/".
func trimSlash(p string) string {
	t := strings.TrimRight(p, "/")
	if t == "" && p != "" {
		return "/"
	}
	return t
}
