package config

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecodeOptions decodes a module's raw options n strictly into v, a
// pointer to the module's options struct, on top of what v already holds
// (New's defaults). Like Parse, it reports every unknown key and every
// value of the wrong type or form at once, as an *Errors whose paths start
// at path and whose lines are n's, e.g.
// `providers.oidc[0].scope: unknown key (did you mean "scopes"?)`. An
// empty or null n leaves v as it is. n is not changed. With problems, v
// still gets what did decode (a bad key keeps its value), so that the
// caller may validate the rest and report everything at once.
func DecodeOptions(n *yaml.Node, v any, path string) error {
	if n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") {
		return nil
	}
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return errors.New("config.DecodeOptions: want a pointer")
	}
	w := &walker{lines: map[string]int{}}
	pruned := cloneNode(n)
	w.walk(pruned, t.Elem(), path)
	if len(w.problems) > 0 {
		_ = pruned.Decode(v) // best effort, see above
		return &Errors{Problems: w.problems}
	}
	raw, err := yaml.Marshal(n)
	if err != nil {
		return &Errors{Problems: []Problem{{Path: path, Message: err.Error(), Line: n.Line}}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return &Errors{Problems: []Problem{{Path: path, Message: errText(err), Line: n.Line}}}
	}
	return nil
}

// Rebase puts the problems of a module's Validate error under path, the
// module's key: each Problem of an *Errors (its Path relative to the
// module's options, "client_id" or "scopes[1]") becomes path.client_id,
// with the line of that key in n when n has it; any other error becomes
// one problem at path. nil stays nil.
func Rebase(err error, path string, n *yaml.Node) *Errors {
	if err == nil {
		return nil
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	var ce *Errors
	if !errors.As(err, &ce) {
		return &Errors{Problems: []Problem{{Path: path, Message: err.Error(), Line: line}}}
	}
	out := &Errors{Problems: make([]Problem, 0, len(ce.Problems))}
	for _, p := range ce.Problems {
		l := keyLine(n, p.Path)
		if l == 0 {
			l = line
		}
		at := path
		if p.Path != "" {
			at = path + "." + p.Path
			if strings.HasPrefix(p.Path, "[") {
				at = path + p.Path
			}
		}
		out.Problems = append(out.Problems, Problem{Path: at, Message: p.Message, Line: l})
	}
	return out
}

// keyLine is the line of the first segment of rel ("scopes[1]" → scopes)
// in mapping n, or 0.
func keyLine(n *yaml.Node, rel string) int {
	if n == nil || n.Kind != yaml.MappingNode || rel == "" {
		return 0
	}
	key := rel
	if i := strings.IndexAny(rel, ".["); i >= 0 {
		key = rel[:i]
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return 0
}

// Add records a problem at path (relative to a module's options when a
// module's Validate returns it; see Rebase).
func (e *Errors) Add(path, format string, args ...any) { e.add(path, format, args...) }

// Err is e as an error, or nil when it holds no problem.
func (e *Errors) Err() error { return e.err() }

// Sort puts the problems in file order, those without a line first.
func (e *Errors) Sort() {
	slices.SortStableFunc(e.Problems, func(a, b Problem) int { return a.Line - b.Line })
}

// cloneNode is a deep copy of n (the walker prunes what it reports).
func cloneNode(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	if n.Content != nil {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			c.Content[i] = cloneNode(k)
		}
	}
	return &c
}

// MarshalYAML prints the raw provider options (only tests and tools print
// a Config). Config does not know which options are secrets, so, as a
// safety net, the value of every key whose name ends in "secret" or
// "password" is printed as [redacted].
func (p Providers) MarshalYAML() (any, error) {
	out := make(map[string]*yaml.Node, len(p))
	for name, n := range p {
		c := cloneNode(&n)
		redact(c)
		out[name] = c
	}
	return out, nil
}

func redact(n *yaml.Node) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n.Alias = cloneNode(n.Alias)
		redact(n.Alias)
		return
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 1 {
			key := strings.ToLower(n.Content[i-1].Value)
			if (strings.HasSuffix(key, "secret") || strings.HasSuffix(key, "password")) && c.Kind == yaml.ScalarNode && c.Value != "" {
				c.Value, c.Tag, c.Style = NewSecret(c.Value).String(), "!!str", 0
				continue
			}
		}
		redact(c)
	}
}
