package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	nodeType        = reflect.TypeFor[yaml.Node]()
)

// walker checks a YAML tree against a Go type through its yaml tags,
// before anything is decoded, so that every unknown key and every bad
// value is reported with its dotted path instead of the first one with a
// line number. It prunes what it reports: a bad mapping entry is removed
// (the key keeps its default) and a bad list item becomes null (indices
// stay true), so that the rest can still be decoded and validated.
type walker struct {
	problems []Problem
	// lines maps each dotted path seen to its line in the file.
	lines map[string]int
}

func (w *walker) add(path string, line int, msg string) {
	w.problems = append(w.problems, Problem{Path: path, Message: msg, Line: line})
}

// lineOf is the line of path, or of its nearest enclosing key that is in
// the file, or 0.
func (w *walker) lineOf(path string) int {
	for p := path; p != ""; p = parent(p) {
		if l, ok := w.lines[p]; ok {
			return l
		}
	}
	return 0
}

// walk checks n against t and reports whether n may stay in the tree.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t == nodeType {
		return true
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return true // yaml.v3 leaves the value as it is, or nils a list
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		u := reflect.New(t).Interface().(yaml.Unmarshaler)
		if err := u.UnmarshalYAML(n); err != nil {
			w.add(path, n.Line, errText(err))
			return false
		}
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.add(path, n.Line, "want a mapping, got "+describe(n))
			return false
		}
		w.walkStruct(n, t, path, map[string]int{})
		return true
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.add(path, n.Line, "want a list, got "+describe(n))
			return false
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.lines[p] = item.Line
			if !w.walk(item, t.Elem(), p) {
				n.Content[i] = placeholder(t.Elem(), item)
			}
		}
		return true
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.add(path, n.Line, "want a mapping, got "+describe(n))
			return false
		}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			w.lines[p] = k.Line
			if w.walk(v, t.Elem(), p) {
				kept = append(kept, k, v)
			}
		}
		n.Content = kept
		return true
	}
	return w.walkScalar(n, t, path)
}

// placeholder stands in for a bad list item of type t so that the items
// after it keep their index: yaml.v3 drops null items from a list of
// structs. It decodes to t's zero value where that can be written.
func placeholder(t reflect.Type, item *yaml.Node) *yaml.Node {
	n := &yaml.Node{Line: item.Line, Column: item.Column}
	switch t.Kind() {
	case reflect.Struct:
		n.Kind, n.Tag = yaml.MappingNode, "!!map"
	case reflect.Slice:
		n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
	default:
		n.Kind, n.Tag = yaml.ScalarNode, "!!str"
	}
	if n.Decode(reflect.New(t).Interface()) != nil {
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!null", ""
	}
	return n
}

// walkStruct checks the entries of mapping n against struct type t. seen
// holds the keys met so far at this level (for duplicates); keys merged in
// with "<<" may be overridden and are not counted.
func (w *walker) walkStruct(n *yaml.Node, t reflect.Type, path string, seen map[string]int) {
	fields := yamlFields(t)
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.add(path, k.Line, "want a plain key, got "+describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			if w.walkMerge(v, t, path) {
				kept = append(kept, k, v)
			}
			continue
		}
		name := k.Value
		p := joinPath(path, name)
		if first, dup := seen[name]; dup {
			w.add(p, k.Line, fmt.Sprintf("duplicate key (first on line %d)", first))
			continue
		}
		seen[name] = k.Line
		f, ok := fields[name]
		if !ok {
			w.add(p, k.Line, unknownKey(name, fields))
			continue
		}
		w.lines[p] = k.Line
		if w.walk(v, f.Type, p) {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
}

// walkMerge checks the value of a "<<" merge key: a mapping, or a list of
// mappings, usually aliases.
func (w *walker) walkMerge(v *yaml.Node, t reflect.Type, path string) bool {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	var maps []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		maps = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, m := range v.Content {
			if m.Kind == yaml.AliasNode && m.Alias != nil {
				m = m.Alias
			}
			maps = append(maps, m)
		}
	}
	for _, m := range maps {
		if m.Kind != yaml.MappingNode {
			w.add(path, v.Line, "want a mapping to merge with <<, got "+describe(m))
			return false
		}
	}
	for _, m := range maps {
		w.walkStruct(m, t, path, map[string]int{})
	}
	return true
}

// walkScalar checks a scalar destined for a string, bool or number.
func (w *walker) walkScalar(n *yaml.Node, t reflect.Type, path string) bool {
	want := "a string"
	switch t.Kind() {
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		want = fmt.Sprintf("a whole number from %d to %d", minInt(t), maxInt(t))
		if t.Bits() == 64 {
			want = "a whole number"
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<t.Bits()-1)
		if t.Bits() == 64 {
			want = "a whole number of 0 or more"
		}
	case reflect.Float32, reflect.Float64:
		want = "a number"
	}
	if n.Kind != yaml.ScalarNode {
		w.add(path, n.Line, fmt.Sprintf("want %s, got %s", want, describe(n)))
		return false
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		w.add(path, n.Line, fmt.Sprintf("want %s, got %s", want, strconv.Quote(n.Value)))
		return false
	}
	return true
}

func minInt(t reflect.Type) int64 { return math.MinInt64 >> (64 - t.Bits()) }
func maxInt(t reflect.Type) int64 { return math.MaxInt64 >> (64 - t.Bits()) }

// yamlFields maps the yaml key of each field of struct t to the field;
// the fields of a struct embedded with ",inline" count as t's own (an
// inline map is not supported: its keys would be unknown).
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

// unknownKey is the message for an unknown key, with the closest known
// key when it is a likely typo.
func unknownKey(name string, fields map[string]reflect.StructField) string {
	best, bestDist := "", 3
	for k := range fields {
		d := editDistance(name, k)
		if d < bestDist || (d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	if best != "" && bestDist <= 2 && bestDist < len(name) {
		return fmt.Sprintf("unknown key (did you mean %q?)", best)
	}
	return "unknown key"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// joinPath appends a key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// errText is an UnmarshalYAML error without yaml.v3's "line N:" prefix.
func errText(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
			return rest
		}
		return msg
	}
	return err.Error()
}
