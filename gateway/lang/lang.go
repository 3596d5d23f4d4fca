// Package lang holds the languages of the hosted pages and emails: the
// message catalogues (locales/<lang>.yaml and, for an area such as the
// admin console, locales/<area>.<lang>.yaml; go-i18n's format: an id and
// its text, or its plural forms "one" and "other"), the choice of a page's
// language and the lookup of a message in it.
//
// A page's language is ?lang= (remembered in a cookie), else the best
// match of Accept-Language among the offered languages, else the default
// (Negotiate). Messages are text/template strings: {{.Count}},
// {{.Product}} and the like come from the arguments of T.
package lang

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"gopkg.in/yaml.v3"
)

//go:embed locales/*.yaml
var locales embed.FS

// Builtin are the languages whose catalogues ship with Gatehouse.
var Builtin = []string{"en", "de", "fr", "es"}

// Catalog is the messages of every offered language.
type Catalog struct {
	bundle  *i18n.Bundle
	offered []string
	matcher language.Matcher
	def     string
	ids     []string // every message id of the English catalogue
}

// New loads the built-in catalogues and offers the languages named
// (ui.languages) with def (ui.default_language) as the fallback. A
// language without a catalogue, or a default not offered, is an error.
func New(offered []string, def string) (*Catalog, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	files, err := fs.Glob(locales, "locales/*.yaml")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if _, err := b.LoadMessageFileFS(locales, f); err != nil {
			return nil, fmt.Errorf("lang: %s: %w", f, err)
		}
	}
	if len(offered) == 0 {
		offered = Builtin
	}
	if def == "" {
		def = offered[0]
	}
	c := &Catalog{bundle: b, def: def}
	tags := make([]language.Tag, 0, len(offered))
	for _, l := range offered {
		t, err := language.Parse(l)
		if err != nil {
			return nil, fmt.Errorf("lang: %q is not a language tag", l)
		}
		if !c.has(t) {
			return nil, fmt.Errorf("lang: no messages for %q (built in: %s)", l, strings.Join(Builtin, ", "))
		}
		tags = append(tags, t)
		c.offered = append(c.offered, t.String())
	}
	if !slices.Contains(c.offered, def) {
		return nil, fmt.Errorf("lang: default_language %q is not among languages", def)
	}
	c.matcher = language.NewMatcher(tags)
	c.ids = messageIDs("en")
	return c, nil
}

func (c *Catalog) has(t language.Tag) bool {
	for _, have := range c.bundle.LanguageTags() {
		if have == t {
			return true
		}
	}
	return false
}

// messageIDs are the message ids of language l: the top-level keys of
// its catalogue files.
func messageIDs(l string) []string {
	var ids []string
	for _, f := range catalogueFiles(l) {
		raw, err := locales.ReadFile(f)
		if err != nil {
			continue
		}
		var m map[string]any
		if yaml.Unmarshal(raw, &m) != nil {
			continue
		}
		for k := range m {
			ids = append(ids, k)
		}
	}
	sort.Strings(ids)
	return slices.Compact(ids)
}

// Offered are the offered languages, in order.
func (c *Catalog) Offered() []string { return c.offered }

// Default is the fallback language.
func (c *Catalog) Default() string { return c.def }

// Offers reports whether l is an offered language.
func (c *Catalog) Offers(l string) bool { return slices.Contains(c.offered, l) }

// Negotiate picks a page's language: the query's when offered, else the
// cookie's when offered, else the best Accept-Language match, else the
// default.
func (c *Catalog) Negotiate(query, cookie, acceptLanguage string) string {
	for _, l := range []string{query, cookie} {
		if c.Offers(l) {
			return l
		}
	}
	if acceptLanguage != "" {
		tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
		if err == nil && len(tags) > 0 {
			if _, i, conf := c.matcher.Match(tags...); conf != language.No {
				return c.offered[i]
			}
		}
	}
	return c.def
}

// Localizer is one language's messages.
type Localizer struct {
	Lang string
	l    *i18n.Localizer
}

// In returns the messages of lang (the default when lang is not offered).
func (c *Catalog) In(lang string) *Localizer {
	if !c.Offers(lang) {
		lang = c.def
	}
	return &Localizer{Lang: lang, l: i18n.NewLocalizer(c.bundle, lang, c.def)}
}

// T is the message id with its arguments, given as name, value pairs
// ("Count", 3, "Product", "Acme"); a Count argument picks the plural form.
// An unknown id is returned as is, so a missing message shows, never fails
// a page.
func (l *Localizer) T(id string, args ...any) string {
	if l == nil || l.l == nil {
		return id
	}
	cfg := &i18n.LocalizeConfig{MessageID: id}
	if len(args) > 1 {
		data := make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			k, _ := args[i].(string)
			data[k] = args[i+1]
			if k == "Count" {
				cfg.PluralCount = args[i+1]
			}
		}
		cfg.TemplateData = data
	}
	s, err := l.l.Localize(cfg)
	if err != nil || s == "" {
		return id
	}
	return s
}

// Has reports whether id is a message of the catalogue.
func (c *Catalog) Has(id string) bool {
	_, found := slices.BinarySearch(c.ids, id)
	return found
}

// IDs are every message id (of the English catalogue), sorted.
func (c *Catalog) IDs() []string { return c.ids }

// catalogueFiles are the embedded files of language l: <l>.yaml, then
// each area's <area>.<l>.yaml.
func catalogueFiles(l string) []string {
	files := []string{path.Join("locales", l+".yaml")}
	areas, _ := fs.Glob(locales, path.Join("locales", "*."+l+".yaml"))
	return append(files, areas...)
}
