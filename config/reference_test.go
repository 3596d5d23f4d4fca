package config

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestConfigurationReference holds the key table of docs/configuration.md
// equal to what the config schema says: every key that Load accepts, its
// type, its default and the doc comment of its field. A key added without
// a comment, or a comment changed without the doc, fails here; `go test
// ./config -update` rewrites the table.
func TestConfigurationReference(t *testing.T) {
	table, missing := reference(t)
	if len(missing) > 0 {
		t.Errorf("fields without a doc comment (the reference needs one): %s", strings.Join(missing, ", "))
	}
	const start, end = "<!-- reference:start -->\n", "<!-- reference:end -->"
	raw, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, start), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatal("docs/configuration.md has no reference:start/end markers")
	}
	if *update {
		doc = doc[:i+len(start)] + table + doc[j:]
		if err := os.WriteFile("../docs/configuration.md", []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := doc[i+len(start) : j]; got != table {
		t.Errorf("docs/configuration.md's key table differs from the schema (run go test ./config -update)")
	}
}

// reference renders the table, and lists the fields that lack a comment.
func reference(t *testing.T) (string, []string) {
	docs := fieldDocs(t)
	var b strings.Builder
	b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	var missing []string
	var walk func(prefix string, typ reflect.Type, def reflect.Value)
	walk = func(prefix string, typ reflect.Type, def reflect.Value) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			key := prefix + name
			var dv reflect.Value
			if def.IsValid() {
				dv = def.Field(i)
			}
			ft := f.Type
			text := meaning(f.Name, docs[typ.Name()+"."+f.Name])
			if text == "" {
				missing = append(missing, typ.Name()+"."+f.Name)
			}
			switch {
			case ft.Kind() == reflect.Struct && !leaf(ft):
				walk(key+".", ft, dv)
				continue
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && !leaf(ft.Elem()):
				fmt.Fprintf(&b, "| `%s` | list | %s | %s |\n", key, defaultOf(dv), cell(text))
				walk(key+"[].", ft.Elem(), reflect.Value{})
				continue
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", key, typeName(ft), defaultOf(dv), cell(text))
		}
	}
	walk("", reflect.TypeFor[Config](), reflect.ValueOf(*Default()))
	sort.Strings(missing)
	return b.String(), missing
}

// leaf types are values of their own in YAML (a duration, a URL ...).
func leaf(t reflect.Type) bool {
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) || t == nodeType {
		return true
	}
	return false
}

func typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return "duration"
	case reflect.TypeFor[ByteSize]():
		return "size"
	case reflect.TypeFor[Secret]():
		return "secret"
	case reflect.TypeFor[URL]():
		return "URL"
	case reflect.TypeFor[CIDR]():
		return "CIDR"
	case reflect.TypeFor[Rate]():
		return "rate"
	case nodeType:
		return "mapping"
	}
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "mapping of " + typeName(t.Elem())
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint8, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return "integer"
	case reflect.Float64:
		return "number"
	}
	return t.Kind().String()
}

// defaultOf is a default as YAML writes it ("" for none or an empty one).
func defaultOf(v reflect.Value) string {
	if !v.IsValid() || v.IsZero() {
		return ""
	}
	if v.Kind() == reflect.Slice && v.Len() > 0 && v.Type().Elem().Kind() == reflect.Struct && !leaf(v.Type().Elem()) {
		return ""
	}
	out, err := yaml.Marshal(v.Interface())
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(out))
	if v.Kind() == reflect.Slice || strings.Contains(s, "\n") {
		var items []any
		if yaml.Unmarshal(out, &items) == nil {
			parts := make([]string, len(items))
			for i, it := range items {
				parts[i] = fmt.Sprint(it)
			}
			s = "[" + strings.Join(parts, ", ") + "]"
		} else {
			return ""
		}
	}
	return "`" + strings.ReplaceAll(s, "|", "\\|") + "`"
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

var specRef = regexp.MustCompile(` ?\(?SPEC §\d+\)?`)

// meaning is a field's comment as the doc's sentence: without the Go name
// it starts with ("Listen is the host:port" → "The host:port") and without
// references to the working contract.
func meaning(field, comment string) string {
	s := specRef.ReplaceAllString(comment, "")
	if rest, ok := strings.CutPrefix(s, field+" "); ok {
		for _, verb := range []string{"is ", "are "} {
			if r, ok := strings.CutPrefix(rest, verb); ok {
				rest = r
				break
			}
		}
		s = strings.ToUpper(rest[:1]) + rest[1:]
	}
	return s
}

// fieldDocs are the doc comments of the config package's struct fields,
// by "Type.Field", as one line each.
func fieldDocs(t *testing.T) map[string]string {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fl := range st.Fields.List {
				text := ""
				if fl.Doc != nil {
					text = fl.Doc.Text()
				} else if fl.Comment != nil {
					text = fl.Comment.Text()
				}
				text = strings.Join(strings.Fields(text), " ")
				for _, id := range fl.Names {
					out[ts.Name.Name+"."+id.Name] = text
				}
			}
			return false
		})
	}
	return out
}
