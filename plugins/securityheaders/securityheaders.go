// Package securityheaders is the security_headers plugin: once the
// response is final (error answers included) it adds the browser security
// headers an upstream often forgets. By default it sets
// X-Content-Type-Options: nosniff, X-Frame-Options: DENY,
// Referrer-Policy: strict-origin-when-cross-origin and, for clients on
// https only, Strict-Transport-Security with a one-year max-age;
// Content-Security-Policy, Permissions-Policy and
// Cross-Origin-Opener-Policy are sent when configured. A header the
// upstream already set is kept unless override is on.
//
//	plugins:
//	  - name: security_headers
//	    options:
//	      hsts_max_age: 31536000
//	      hsts_include_subdomains: true
//	      frame_options: SAMEORIGIN
//	      referrer_policy: no-referrer
//	      content_security_policy: "default-src 'self'"
//	      permissions_policy: "camera=(), microphone=()"
//	      cross_origin_opener_policy: same-origin
//	      override: false
package securityheaders

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// Defaults of the options that have one.
const (
	DefaultHSTSMaxAge     = 31536000 // one year, in seconds
	DefaultFrameOptions   = "DENY"
	DefaultReferrerPolicy = "strict-origin-when-cross-origin"
)

// Info registers the plugin as security_headers, in the edge phase.
func Info() gateway.PluginInfo {
	return gateway.PluginInfo{
		Name:  "security_headers",
		Phase: gateway.PhaseEdge,
		New:   func() gateway.Plugin { return new(Plugin) },
	}
}

// Plugin adds security headers to responses.
type Plugin struct {
	// HSTSMaxAge is Strict-Transport-Security's max-age in seconds, sent only
	// to clients on https; omitted means 31536000 (one year), 0 tells
	// browsers to forget the policy.
	HSTSMaxAge *int `yaml:"hsts_max_age"`
	// HSTSIncludeSubdomains adds includeSubDomains to Strict-Transport-Security.
	HSTSIncludeSubdomains bool `yaml:"hsts_include_subdomains"`
	// HSTSPreload adds preload; it needs hsts_include_subdomains and a max-age
	// of at least one year.
	HSTSPreload bool `yaml:"hsts_preload"`
	// FrameOptions is X-Frame-Options: DENY (when omitted), SAMEORIGIN, or ""
	// to send none.
	FrameOptions *string `yaml:"frame_options"`
	// ReferrerPolicy is Referrer-Policy (when omitted,
	// strict-origin-when-cross-origin), or "" to send none.
	ReferrerPolicy *string `yaml:"referrer_policy"`
	// ContentSecurityPolicy is Content-Security-Policy; empty sends none.
	ContentSecurityPolicy string `yaml:"content_security_policy"`
	// PermissionsPolicy is Permissions-Policy; empty sends none.
	PermissionsPolicy string `yaml:"permissions_policy"`
	// CrossOriginOpenerPolicy is Cross-Origin-Opener-Policy (same-origin,
	// same-origin-allow-popups, noopener-allow-popups or unsafe-none);
	// empty sends none.
	CrossOriginOpenerPolicy string `yaml:"cross_origin_opener_policy"`
	// Override replaces the headers the upstream set; by default they win.
	Override bool `yaml:"override"`

	headers []header // sent on every response
	hsts    string   // Strict-Transport-Security value for https clients
}

type header struct{ name, value string }

var (
	_ gateway.Middleware = (*Plugin)(nil)
	_ gateway.Validator  = (*Plugin)(nil)
)

var referrerPolicies = map[string]bool{
	"no-referrer": true, "no-referrer-when-downgrade": true, "origin": true,
	"origin-when-cross-origin": true, "same-origin": true, "strict-origin": true,
	"strict-origin-when-cross-origin": true, "unsafe-url": true,
}

var openerPolicies = map[string]bool{
	"same-origin": true, "same-origin-allow-popups": true,
	"noopener-allow-popups": true, "unsafe-none": true,
}

// Validate checks each header's value.
func (p *Plugin) Validate() error {
	var errs []error
	maxAge := p.hstsMaxAge()
	if maxAge < 0 {
		errs = append(errs, fmt.Errorf("hsts_max_age: want seconds >= 0, got %d", maxAge))
	}
	if p.HSTSPreload && (!p.HSTSIncludeSubdomains || maxAge < DefaultHSTSMaxAge) {
		errs = append(errs, fmt.Errorf("hsts_preload: needs hsts_include_subdomains and hsts_max_age >= %d", DefaultHSTSMaxAge))
	}
	if v := p.frameOptions(); v != "" && !strings.EqualFold(v, "DENY") && !strings.EqualFold(v, "SAMEORIGIN") {
		errs = append(errs, fmt.Errorf(`frame_options: want DENY, SAMEORIGIN or "", got %q`, v))
	}
	if v := p.referrerPolicy(); v != "" {
		// A comma-separated list gives fallbacks for older browsers.
		for _, pol := range strings.Split(v, ",") {
			if !referrerPolicies[strings.ToLower(strings.TrimSpace(pol))] {
				errs = append(errs, fmt.Errorf("referrer_policy: unknown policy %q", strings.TrimSpace(pol)))
				break
			}
		}
	}
	if v := p.CrossOriginOpenerPolicy; v != "" {
		// A report-to parameter may follow the policy: `same-origin; report-to="coop"`.
		pol, _, _ := strings.Cut(v, ";")
		if !openerPolicies[strings.ToLower(strings.TrimSpace(pol))] {
			errs = append(errs, fmt.Errorf("cross_origin_opener_policy: unknown policy %q", strings.TrimSpace(pol)))
		}
	}
	for _, f := range []struct{ key, value string }{
		{"content_security_policy", p.ContentSecurityPolicy},
		{"permissions_policy", p.PermissionsPolicy},
		{"cross_origin_opener_policy", p.CrossOriginOpenerPolicy},
	} {
		if strings.ContainsFunc(f.value, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("%s: control characters are not allowed in a header value", f.key))
		}
	}
	return errors.Join(errs...)
}

func (p *Plugin) hstsMaxAge() int {
	if p.HSTSMaxAge == nil {
		return DefaultHSTSMaxAge
	}
	return *p.HSTSMaxAge
}

func (p *Plugin) frameOptions() string {
	if p.FrameOptions == nil {
		return DefaultFrameOptions
	}
	return strings.TrimSpace(*p.FrameOptions)
}

func (p *Plugin) referrerPolicy() string {
	if p.ReferrerPolicy == nil {
		return DefaultReferrerPolicy
	}
	return strings.TrimSpace(*p.ReferrerPolicy)
}

// Provision builds the header values once.
func (p *Plugin) Provision(_ context.Context, _ *gateway.Host) error {
	p.headers = []header{{"X-Content-Type-Options", "nosniff"}}
	for _, h := range []header{
		{"X-Frame-Options", strings.ToUpper(p.frameOptions())},
		{"Referrer-Policy", p.referrerPolicy()},
		{"Content-Security-Policy", strings.TrimSpace(p.ContentSecurityPolicy)},
		{"Permissions-Policy", strings.TrimSpace(p.PermissionsPolicy)},
		{"Cross-Origin-Opener-Policy", strings.TrimSpace(p.CrossOriginOpenerPolicy)},
	} {
		if h.value != "" {
			p.headers = append(p.headers, h)
		}
	}
	p.hsts = "max-age=" + strconv.Itoa(p.hstsMaxAge())
	if p.HSTSIncludeSubdomains {
		p.hsts += "; includeSubDomains"
	}
	if p.HSTSPreload {
		p.hsts += "; preload"
	}
	return nil
}

// Handle runs the rest of the chain, renders its error if any, then sets
// the headers on the final response.
func (p *Plugin) Handle(c *fiber.Ctx) error {
	gateway.Finish(c, c.Next())
	h := &c.Response().Header
	for _, hd := range p.headers {
		if p.Override || len(h.Peek(hd.name)) == 0 {
			h.Set(hd.name, hd.value)
		}
	}
	if gateway.ClientProto(c) == "https" && (p.Override || len(h.Peek("Strict-Transport-Security")) == 0) {
		h.Set("Strict-Transport-Security", p.hsts)
	}
	return nil
}
