package engine

import (
	"context"
	"fmt"
	"slices"

	"gatehouse/config"
	"gatehouse/gateway"
)

// Plugins that are on by default: SPEC §3's identity at the upstream. The
// engine adds them by registry name, never by import.
const (
	identityHeaders = "identity_headers"
	jwtAssertion    = "jwt_assertion"
)

// defaultInstances builds and provisions one instance of each plugin that
// is on by default: identity_headers always, jwt_assertion with
// headers.assertion.enabled and a signer. They take their settings from
// the Host (headers.prefix, the signer), so they need no options. A
// default plugin missing from the registry is an error: without it the
// upstream would learn no identity.
func (s *Server) defaultInstances(ctx context.Context, reg *gateway.Registry, h *gateway.Host, o Options, d Deps) ([]*gateway.Instance, error) {
	names := []string{identityHeaders}
	if o.Headers.Assertion.Enabled && d.Assertions != nil {
		names = append(names, jwtAssertion)
	}
	s.named = map[string]bool{}
	for _, p := range o.Plugins {
		s.named[p.Name] = true
	}
	var out []*gateway.Instance
	for _, name := range names {
		if _, ok := reg.Plugin(name); !ok {
			return nil, fmt.Errorf("headers: the %s plugin is not registered", name)
		}
		in, err := reg.NewInstance(config.PluginSpec{Name: name, Path: "headers"})
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	if err := s.provision(ctx, h, out); err != nil {
		return nil, err
	}
	return out, nil
}

// defaultsFor are the default instances route rc gets: those whose name
// neither the global plugin list nor the route's names.
func (s *Server) defaultsFor(rc config.Route) []*gateway.Instance {
	var out []*gateway.Instance
	for _, in := range s.defaults {
		if s.named[in.Name] || slices.ContainsFunc(rc.Plugins, func(p config.PluginSpec) bool { return p.Name == in.Name }) {
			continue
		}
		out = append(out, in)
	}
	return out
}
