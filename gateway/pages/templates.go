package pages

import (
	"embed"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed templates/*.html templates/pages.js
var templateFS embed.FS

// TemplateNames are the page template files: each page's, and layout.html
// (the blocks "head" and "foot" every page includes).
func TemplateNames() []string {
	names := []string{"layout.html"}
	for _, h := range hosted {
		names = append(names, h.name+".html")
	}
	slices.Sort(names)
	return names
}

// funcs are the template functions beside the Data methods.
var funcs = template.FuncMap{
	"langName": func(l string) string {
		if n, ok := languageNames[l]; ok {
			return n
		}
		return l
	},
}

// languageNames are the languages' names in themselves.
var languageNames = map[string]string{"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}

// loadTemplates parses the built-in templates and then, from dir, each
// file that replaces one. A file of an unknown name, or one that does not
// parse, is an error that names it.
func loadTemplates(dir string, others []string) (*template.Template, error) {
	t, err := template.New("pages").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return t, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ui.templates_dir: %w", err)
	}
	known := TemplateNames()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || slices.Contains(others, name) {
			continue
		}
		path := filepath.Join(dir, name)
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("ui.templates_dir: %s is not a template name (pages: %s; emails: %s)",
				path, strings.Join(known, ", "), strings.Join(others, ", "))
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("ui.templates_dir: %w", err)
		}
		if _, err := t.New(name).Funcs(funcs).Parse(string(src)); err != nil {
			return nil, fmt.Errorf("ui.templates_dir: %s: %w", path, err)
		}
	}
	// Execute-time errors (a missing field) show only on use; a dry run
	// of each page with empty data finds them now.
	for _, h := range hosted {
		name := h.name + ".html"
		if h.own || !overridden(entries, name) {
			continue // own pages get their feature's data
		}
		if err := t.Lookup(name).Execute(discard{}, Data{}); err != nil {
			return nil, fmt.Errorf("ui.templates_dir: %s: %w", filepath.Join(dir, name), err)
		}
	}
	return t, nil
}

func overridden(entries []os.DirEntry, name string) bool {
	for _, e := range entries {
		if e.Name() == name {
			return true
		}
	}
	return false
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
