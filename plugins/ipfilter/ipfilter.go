// Package ipfilter is the ip_filter plugin: it refuses requests by the
// client's address with 403 forbidden. The address is the core's
// gateway.ClientIP, so X-Forwarded-For counts only from trusted proxies.
// Deny wins over allow; when allow is not empty, an address must also be
// in it. A request whose address cannot be told is refused. Entries are
// CIDRs or bare addresses, parsed once at start.
//
//	plugins:
//	  - name: ip_filter
//	    options:
//	      allow: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7]
//	      deny: [10.6.6.0/24]
package ipfilter

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/config"
	"gatehouse/gateway"
)

// Info registers the plugin as ip_filter, in the edge phase.
func Info() gateway.PluginInfo {
	return gateway.PluginInfo{
		Name:  "ip_filter",
		Phase: gateway.PhaseEdge,
		New:   func() gateway.Plugin { return new(Plugin) },
	}
}

// Plugin refuses requests by client address.
type Plugin struct {
	// Allow lists the CIDRs or addresses that may pass; empty means any
	// address that deny does not list.
	Allow []string `yaml:"allow"`
	// Deny lists the CIDRs or addresses that are refused, even when allow
	// lists them too.
	Deny []string `yaml:"deny"`

	allow, deny []netip.Prefix
	refused     map[reason]prometheus.Counter
}

// reason is why a request was refused; it labels the refused counter.
type reason string

const (
	reasonDenied     reason = "denied"      // in deny
	reasonNotAllowed reason = "not_allowed" // allow is set and does not list it
	reasonNoAddress  reason = "no_address"  // the client's address is unknown
)

var (
	_ gateway.Middleware = (*Plugin)(nil)
	_ gateway.Validator  = (*Plugin)(nil)
)

// Validate checks every entry.
func (p *Plugin) Validate() error {
	var errs []error
	if len(p.Allow) == 0 && len(p.Deny) == 0 {
		errs = append(errs, errors.New("allow, deny: list at least one CIDR (an empty filter lets everyone through)"))
	}
	_, err := parseList("allow", p.Allow)
	errs = append(errs, err)
	_, err = parseList("deny", p.Deny)
	errs = append(errs, err)
	return errors.Join(errs...)
}

// parseList parses CIDRs and bare addresses; errors name the entry,
// e.g. `allow[1]: not a CIDR: "x"`.
func parseList(key string, list []string) ([]netip.Prefix, error) {
	var errs []error
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		c, err := config.ParseCIDR(s)
		p := c.Prefix
		if err != nil || !p.IsValid() || strings.Contains(s, "%") { // no IPv6 zones
			errs = append(errs, fmt.Errorf("%s[%d]: not a CIDR: %q", key, i, s))
			continue
		}
		// The core unmaps client addresses, so ::ffff:10.0.0.0/104 must
		// become 10.0.0.0/8 to ever match.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// Provision parses the lists and registers the refused counter.
func (p *Plugin) Provision(_ context.Context, h *gateway.Host) error {
	var err error
	if p.allow, err = parseList("allow", p.Allow); err != nil {
		return err
	}
	if p.deny, err = parseList("deny", p.Deny); err != nil {
		return err
	}
	vec, err := refusedVec(h.Metrics)
	if err != nil {
		return err
	}
	p.refused = map[reason]prometheus.Counter{}
	for _, r := range []reason{reasonDenied, reasonNotAllowed, reasonNoAddress} {
		p.refused[r] = vec.WithLabelValues(string(r))
	}
	return nil
}

// refusedVec registers gatehouse_ip_filter_refused_total with reg (nil:
// not exported). Instances that share a registerer share the counter.
func refusedVec(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_ip_filter_refused_total",
		Help: "Requests refused by ip_filter, by reason (denied, not_allowed, no_address).",
	}, []string{"reason"})
	if reg == nil {
		return vec, nil
	}
	if err := reg.Register(vec); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return vec, nil
}

// Handle refuses the request with 403 forbidden or goes on.
func (p *Plugin) Handle(c *fiber.Ctx) error {
	if err := p.check(gateway.ClientIP(c)); err != nil {
		return err
	}
	return c.Next()
}

// check decides for one address. The refusal's cause (logged by the error
// handler, never shown) says which rule matched.
func (p *Plugin) check(a netip.Addr) error {
	if !a.IsValid() {
		return p.refuse(reasonNoAddress, errors.New("ip_filter: no client address"))
	}
	a = a.Unmap()
	for _, d := range p.deny {
		if d.Contains(a) {
			return p.refuse(reasonDenied, fmt.Errorf("ip_filter: %s is in deny %s", a, d))
		}
	}
	if len(p.allow) == 0 {
		return nil
	}
	for _, al := range p.allow {
		if al.Contains(a) {
			return nil
		}
	}
	return p.refuse(reasonNotAllowed, fmt.Errorf("ip_filter: %s is not in allow", a))
}

func (p *Plugin) refuse(r reason, cause error) error {
	p.refused[r].Inc()
	return gateway.Forbidden().Wrap(cause)
}
