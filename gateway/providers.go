package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"gatehouse/config"
)

// ProviderInstance is one configured provider: a module, its method and
// its place in gateway.yaml.
type ProviderInstance struct {
	// Name is the module's name: google, oidc.
	Name string
	// Method is the X-Auth-Method value: google, oidc:acme.
	Method string
	// Provider is the instance, decoded and validated.
	Provider Provider
	// Path is its dotted key: providers.google, providers.oidc[0].
	Path string
	node *yaml.Node
}

// BuildProviders builds and validates the provider instances of the
// providers section: for each registered provider, in registration order,
// New → strict decode of its section → Validate; an instance that is a
// Switch and not Active is left out. A section of a provider that is not
// registered, bad options and two instances with the same method are
// reported all at once, as a *config.Errors in file order, each naming its
// key, e.g. `providers.google.client_id: required when client_secret is
// set`. It does no I/O: `config check` calls it.
func (r *Registry) BuildProviders(pc config.Providers) ([]*ProviderInstance, error) {
	var errs config.Errors
	for _, name := range slices.Sorted(maps.Keys(pc)) {
		if _, ok := r.providers[name]; !ok {
			n := pc[name]
			errs.Problems = append(errs.Problems, config.Problem{Path: "providers." + name, Line: n.Line,
				Message: fmt.Sprintf("unknown provider (known: %s)", strings.Join(r.ProviderNames(), ", "))})
		}
	}
	var out []*ProviderInstance
	methods := map[string]string{}
	for _, name := range r.order {
		list, problems := r.sectionInstances(name, pc)
		errs.Problems = append(errs.Problems, problems...)
		for _, in := range list {
			if first, dup := methods[in.Method]; dup {
				errs.Problems = append(errs.Problems, config.Problem{Path: in.Path, Line: in.node.Line,
					Message: fmt.Sprintf("duplicate method %q (also %s)", in.Method, first)})
				continue
			}
			methods[in.Method] = in.Path
			out = append(out, in)
		}
	}
	if len(errs.Problems) > 0 {
		errs.Sort()
		return nil, &errs
	}
	return out, nil
}

// sectionInstances builds the instances of one provider's section.
func (r *Registry) sectionInstances(name string, pc config.Providers) ([]*ProviderInstance, []config.Problem) {
	info := r.providers[name]
	n, present := pc[name]
	at := "providers." + name
	if !info.List {
		if !present {
			n = yaml.Node{}
		}
		in, err := newProvider(info, &n, at)
		if err != nil {
			return nil, err.Problems
		}
		return keepActive(in), nil
	}
	if !present || n.ShortTag() == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, []config.Problem{{Path: at, Line: n.Line, Message: "want a list (one entry per instance)"}}
	}
	var out []*ProviderInstance
	var problems []config.Problem
	for i, entry := range n.Content {
		in, err := newProvider(info, entry, fmt.Sprintf("%s[%d]", at, i))
		if err != nil {
			problems = append(problems, err.Problems...)
			continue
		}
		out = append(out, keepActive(in)...)
	}
	return out, problems
}

// newProvider is New → strict decode → Validate for one instance. When
// some options fail to decode, the rest is still validated, so that one
// run shows every problem (those about a key that failed are left out).
func newProvider(info ProviderInfo, n *yaml.Node, at string) (*ProviderInstance, *config.Errors) {
	p := info.New()
	var errs config.Errors
	if err := config.DecodeOptions(n, p, at); err != nil {
		var ce *config.Errors
		if !errors.As(err, &ce) {
			return nil, config.Rebase(err, at, n)
		}
		errs.Problems = append(errs.Problems, ce.Problems...)
	}
	if v, ok := p.(Validator); ok {
		if ve := config.Rebase(v.Validate(), at, n); ve != nil {
			for _, vp := range ve.Problems {
				if !coveredBy(vp.Path, errs.Problems) {
					errs.Problems = append(errs.Problems, vp)
				}
			}
		}
	}
	if len(errs.Problems) > 0 {
		return nil, &errs
	}
	if p.Method() == "" {
		return nil, &config.Errors{Problems: []config.Problem{{Path: at, Line: n.Line, Message: "the provider has no method name"}}}
	}
	return &ProviderInstance{Name: info.Name, Method: p.Method(), Provider: p, Path: at, node: n}, nil
}

// coveredBy reports whether path is at or under a key that failed to decode.
func coveredBy(path string, decoded []config.Problem) bool {
	for _, p := range decoded {
		if path == p.Path || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[") {
			return true
		}
	}
	return false
}

func keepActive(in *ProviderInstance) []*ProviderInstance {
	if s, ok := in.Provider.(Switch); ok && !s.Active() {
		return nil
	}
	return []*ProviderInstance{in}
}

// ProvisionProviders builds the providers (BuildProviders) and provisions
// each with h.For("provider", name, method). A failed Provision closes
// those already provisioned; its error names the instance's key
// (`providers.oidc[0].issuer: discovery: ...` when the provider returns a
// *config.Errors, else `providers.oidc[0] (oidc:acme): provision: ...`).
func (r *Registry) ProvisionProviders(ctx context.Context, pc config.Providers, h *Host) (*ProviderSet, error) {
	list, err := r.BuildProviders(pc)
	if err != nil {
		return nil, err
	}
	if h == nil {
		h = &Host{}
	}
	set := &ProviderSet{}
	for _, in := range list {
		if err := in.Provider.Provision(ctx, h.For("provider", in.Name, in.Method)); err != nil {
			set.list = append(set.list, in) // closed with the others
			_ = set.Close()
			var ce *config.Errors
			if errors.As(err, &ce) {
				return nil, config.Rebase(ce, in.Path, in.node)
			}
			return nil, fmt.Errorf("%s (%s): provision: %w", in.Path, in.Method, err)
		}
		set.list = append(set.list, in)
	}
	return set, nil
}

// ValidatedProviders builds and validates the providers (BuildProviders)
// without provisioning them: for tools, which sign no one in and should
// do no I/O (no OIDC discovery). Methods and Has answer as for a
// provisioned set; the providers themselves must not be used.
func (r *Registry) ValidatedProviders(pc config.Providers) (*ProviderSet, error) {
	list, err := r.BuildProviders(pc)
	if err != nil {
		return nil, err
	}
	return &ProviderSet{list: list}, nil
}

// ProviderSet is the provisioned providers, read-only.
type ProviderSet struct {
	list []*ProviderInstance
}

// Methods lists the methods on, in registration and config order.
func (s *ProviderSet) Methods() []string {
	out := make([]string, 0, len(s.list))
	for _, in := range s.list {
		out = append(out, in.Method)
	}
	return out
}

// Has reports whether the provider of method is on: "password" and
// "email_code" tell the core which credential sign-ins to offer.
func (s *ProviderSet) Has(method string) bool {
	return slices.ContainsFunc(s.list, func(in *ProviderInstance) bool { return in.Method == method })
}

// Redirectors are the redirect (OAuth/OIDC) providers by method name.
func (s *ProviderSet) Redirectors() map[string]Redirector {
	out := map[string]Redirector{}
	for _, in := range s.list {
		if rd, ok := in.Provider.(Redirector); ok {
			out[in.Method] = rd
		}
	}
	return out
}

// Close closes the providers that are io.Closers, in reverse order.
func (s *ProviderSet) Close() error {
	var errs []error
	for i := len(s.list) - 1; i >= 0; i-- {
		if c, ok := s.list[i].Provider.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	s.list = nil
	return errors.Join(errs...)
}

// Passkey is the passkey provider when it is on.
func (s *ProviderSet) Passkey() (PasskeyProvider, bool) {
	for _, in := range s.list {
		if p, ok := in.Provider.(PasskeyProvider); ok {
			return p, true
		}
	}
	return nil, false
}
