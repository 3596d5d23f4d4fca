package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"
	"gopkg.in/yaml.v3"

	"gatehouse/config"
)

// Phase orders plugins in the request pipeline. The program fixes the order
// (CoreDNS's plugin.cfg): no config can run an identity step before the
// auth decision.
type Phase int

const (
	// PhaseEdge runs before authentication: request ids, logging, CORS, IP filters.
	PhaseEdge Phase = iota + 1
	// PhaseAuthenticated runs after the auth decision, with the identity known.
	PhaseAuthenticated
	// PhaseUpstream runs last, just before the request is forwarded.
	PhaseUpstream
)

func (p Phase) String() string {
	switch p {
	case PhaseEdge:
		return "edge"
	case PhaseAuthenticated:
		return "authenticated"
	case PhaseUpstream:
		return "upstream"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// PluginInfo describes a plugin module. Each plugin package exports
// Info() PluginInfo; cmd/gatehouse/builtin.go is the only list of them.
//
// Lifecycle: New (zero value, no side effects) → strict decode of options
// into the exported fields → Validate (pure, no I/O; `config check` stops
// here) → Provision (may do I/O) → serve → Close (reverse order).
type PluginInfo struct {
	Name  string // the SPEC's snake_case name, e.g. "security_headers"
	Phase Phase
	New   func() Plugin
}

// Plugin is a module instance.
type Plugin interface {
	Provision(ctx context.Context, h *Host) error
}

// Validator is implemented by plugins and providers that check their
// options. It must be pure: no I/O.
type Validator interface {
	Validate() error
}

// Middleware is a plugin that takes part in the request pipeline. It calls
// c.Next() to go on or returns an error (a *Error) to stop.
type Middleware interface {
	Handle(c *fiber.Ctx) error
}

// Event is an auth event (user.created, user.login, ...) delivered to
// EventSinks from the durable outbox.
type Event struct {
	ID   string         `json:"id"`
	Type string         `json:"type"`
	Time time.Time      `json:"timestamp"`
	Data map[string]any `json:"data"`
}

// EventSink is a plugin that reacts to auth events (audit, webhooks).
type EventSink interface {
	OnEvent(ctx context.Context, e Event) error
}

// Phaser lets one plugin instance override its PluginInfo's phase.
type Phaser interface {
	Phase() Phase
}

// Registry holds the compiled-in modules by name. It is read-only after
// NewRegistry.
type Registry struct {
	plugins   map[string]PluginInfo
	providers map[string]ProviderInfo
	order     []string // provider names in registration order
}

// NewRegistry builds a registry; an empty or duplicate name is an error.
func NewRegistry(plugins []PluginInfo, providers []ProviderInfo) (*Registry, error) {
	r := &Registry{plugins: map[string]PluginInfo{}, providers: map[string]ProviderInfo{}}
	for _, p := range plugins {
		if p.Name == "" || p.New == nil {
			return nil, errors.New("registry: plugin with empty name or no constructor")
		}
		if _, dup := r.plugins[p.Name]; dup {
			return nil, fmt.Errorf("registry: duplicate plugin %q", p.Name)
		}
		if p.Phase < PhaseEdge || p.Phase > PhaseUpstream {
			return nil, fmt.Errorf("registry: plugin %q has no valid phase", p.Name)
		}
		r.plugins[p.Name] = p
	}
	for _, p := range providers {
		if p.Name == "" || p.New == nil {
			return nil, errors.New("registry: provider with empty name or no constructor")
		}
		if _, dup := r.providers[p.Name]; dup {
			return nil, fmt.Errorf("registry: duplicate provider %q", p.Name)
		}
		r.providers[p.Name] = p
		r.order = append(r.order, p.Name)
	}
	return r, nil
}

// Plugin returns the named plugin module.
func (r *Registry) Plugin(name string) (PluginInfo, bool) {
	p, ok := r.plugins[name]
	return p, ok
}

// Provider returns the named provider module.
func (r *Registry) Provider(name string) (ProviderInfo, bool) {
	p, ok := r.providers[name]
	return p, ok
}

// PluginNames lists the registered plugins, sorted.
func (r *Registry) PluginNames() []string {
	names := make([]string, 0, len(r.plugins))
	for n := range r.plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ProviderNames lists the registered providers, sorted.
func (r *Registry) ProviderNames() []string {
	names := make([]string, 0, len(r.providers))
	for n := range r.providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Instance is one configured plugin: a module, its id and its place.
type Instance struct {
	Name   string
	ID     string
	Phase  Phase
	Plugin Plugin
	Path   string // dotted config key, for messages
	order  int
}

// DecodeOptions decodes a yaml options node strictly into v: unknown keys
// are errors. An empty node leaves v as it is.
func DecodeOptions(n *yaml.Node, v any) error {
	if n == nil || n.Kind == 0 {
		return nil
	}
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return errors.New("options: want a mapping")
	}
	raw, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("options: %s", yamlErrText(err))
	}
	return nil
}

func yamlErrText(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return te.Errors[0]
	}
	return err.Error()
}

// NewInstance builds and validates one plugin instance from its spec:
// New → strict decode → Validate. It does no I/O.
func (r *Registry) NewInstance(spec config.PluginSpec) (*Instance, error) {
	where := spec.Path
	if where == "" {
		where = "plugin"
	}
	info, ok := r.plugins[spec.Name]
	if !ok {
		return nil, fmt.Errorf("%s.name: unknown plugin %q", where, spec.Name)
	}
	p := info.New()
	label := fmt.Sprintf("%s (%s)", where, spec.Name)
	if err := DecodeOptions(&spec.Options, p); err != nil {
		return nil, fmt.Errorf("%s.%s", label, err)
	}
	if v, ok := p.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("%s.options: %s", label, err)
		}
	}
	phase := info.Phase
	if ph, ok := p.(Phaser); ok {
		phase = ph.Phase()
	}
	id := spec.ID
	if id == "" {
		id = spec.Name
	}
	return &Instance{Name: spec.Name, ID: id, Phase: phase, Plugin: p, Path: where}, nil
}

// BuildChain validates the global and a route's plugin specs and orders
// them: by phase, then global before route, then config order.
func (r *Registry) BuildChain(global, route []config.PluginSpec) ([]*Instance, error) {
	var out []*Instance
	var errs []error
	for i, list := range [][]config.PluginSpec{global, route} {
		for j, s := range list {
			in, err := r.NewInstance(s)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			in.order = i*100000 + j
			out = append(out, in)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Phase != out[b].Phase {
			return out[a].Phase < out[b].Phase
		}
		return out[a].order < out[b].order
	})
	return out, nil
}
