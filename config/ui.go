package config

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// builtinLanguages are the languages whose messages ship with Gatehouse.
var builtinLanguages = []string{"en", "de", "fr", "es"}

func (u UI) validate(e *Errors) {
	if strings.TrimSpace(u.ProductName) == "" {
		e.add("ui.product_name", "required")
	} else if strings.ContainsAny(u.ProductName, "\r\n") || len(u.ProductName) > 100 {
		e.add("ui.product_name", "one line of at most 100 bytes")
	}
	for key, v := range map[string]string{"ui.logo_url": u.LogoURL, "ui.favicon_url": u.FaviconURL, "ui.home_url": u.HomeURL} {
		if v != "" && !pageURL(v) {
			e.add(key, "want an absolute http(s) URL or a path starting with /, got %q", v)
		}
	}
	switch {
	case !hexColor.MatchString(u.PrimaryColor):
		e.add("ui.primary_color", "want a colour as #rrggbb, got %q", u.PrimaryColor)
	default:
		if r := ContrastWithWhite(u.PrimaryColor); r < 4.5 {
			e.add("ui.primary_color", "white text on %s has a contrast of %.2f:1; WCAG AA needs 4.5:1 (pick a darker colour)", u.PrimaryColor, r)
		}
	}
	if len(u.Languages) == 0 {
		e.add("ui.languages", "required (built in: %s)", strings.Join(builtinLanguages, ", "))
	}
	for i, l := range u.Languages {
		if !slices.Contains(builtinLanguages, l) {
			e.add(fmt.Sprintf("ui.languages[%d]", i), "no messages for %q (built in: %s)", l, strings.Join(builtinLanguages, ", "))
		}
	}
	if !slices.Contains(u.Languages, u.DefaultLanguage) {
		e.add("ui.default_language", "%q is not one of ui.languages", u.DefaultLanguage)
	}
}

// pageURL reports whether v may be put in a page as a link or image: an
// absolute http(s) URL or a path on this host (not //host).
func pageURL(v string) bool {
	if strings.ContainsAny(v, "\"'<> \t\r\n\\") {
		return false
	}
	if strings.HasPrefix(v, "/") {
		return !strings.HasPrefix(v, "//")
	}
	u, err := url.Parse(v)
	return err == nil && isHTTPURL(u)
}

// ContrastWithWhite is the WCAG 2 contrast ratio of white text on the
// colour #rrggbb (1 to 21; 0 for a malformed colour).
func ContrastWithWhite(hex string) float64 {
	if !hexColor.MatchString(hex) {
		return 0
	}
	var lum float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		lum += w * c
	}
	return 1.05 / (lum + 0.05)
}
