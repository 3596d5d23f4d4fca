package main

import (
	"errors"
	"os"
	"strings"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/plugins/accesslog"
	"gatehouse/plugins/audit"
	"gatehouse/plugins/cors"
	"gatehouse/plugins/identityheaders"
	"gatehouse/plugins/ipfilter"
	"gatehouse/plugins/jwtassertion"
	"gatehouse/plugins/ratelimit"
	"gatehouse/plugins/requestid"
	"gatehouse/plugins/securityheaders"
	"gatehouse/plugins/webhooks"
	"gatehouse/providers/emailcode"
	"gatehouse/providers/github"
	"gatehouse/providers/google"
	"gatehouse/providers/oidc"
	"gatehouse/providers/passkey"
	"gatehouse/providers/password"
)

// builtinPlugins is the only list of compiled-in plugins: adding one is
// one package and one line here.
func builtinPlugins() []gateway.PluginInfo {
	return []gateway.PluginInfo{
		requestid.Info(),
		accesslog.Info(),
		securityheaders.Info(),
		cors.Info(),
		ipfilter.Info(),
		ratelimit.Info(),
		identityheaders.Info(),
		jwtassertion.Info(),
		audit.Info(),
		webhooksInfo(os.Getenv),
	}
}

// builtinProviders is the only list of compiled-in sign-in providers:
// adding one is one package and one line here.
func builtinProviders() []gateway.ProviderInfo {
	return []gateway.ProviderInfo{
		password.Info(),
		emailcode.Info(),
		google.Info(),
		github.Info(),
		oidc.Info(),
		passkey.Info(),
	}
}

// webhooksInfo is the webhooks plugin, allowed to reach private addresses
// when the operator sets GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE=1: the
// top-level webhooks list has no key for it, and the core reads no
// plugin's environment.
func webhooksInfo(getenv func(string) string) gateway.PluginInfo {
	if getenv(webhooks.EnvAllowPrivate) == "1" {
		return webhooks.InfoAllowPrivate()
	}
	return webhooks.Info()
}

func newRegistry() (*gateway.Registry, error) {
	return gateway.NewRegistry(builtinPlugins(), builtinProviders())
}

// checkModules builds and validates (without provisioning) every provider
// and plugin instance the config names: unknown names and bad options are
// reported with their key path, all at once. Provider problems come as
// config.Problems (with lines), plugin problems as plain errors.
func checkModules(cfg *config.Config, reg *gateway.Registry) ([]config.Problem, error) {
	var problems []config.Problem
	if _, err := reg.BuildProviders(cfg.Providers); err != nil {
		var ce *config.Errors
		if !errors.As(err, &ce) {
			return nil, err
		}
		problems = ce.Problems
	}
	var errs []error
	if _, err := reg.BuildChain(named(cfg.GlobalPlugins()), nil); err != nil {
		errs = append(errs, err)
	}
	for _, r := range cfg.Routes {
		if _, err := reg.BuildChain(nil, named(r.Plugins)); err != nil {
			errs = append(errs, err)
		}
	}
	return problems, errors.Join(errs...)
}

// named leaves out the plugin entries without a name: config reports them.
func named(specs []config.PluginSpec) []config.PluginSpec {
	out := make([]config.PluginSpec, 0, len(specs))
	for _, s := range specs {
		if s.Name != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkConfig is `config check`: every problem of the file at path, the
// config's and its modules', one line each ("path: message"), the config's
// and the providers' in file order, then the plugins'.
func checkConfig(path string, reg *gateway.Registry) ([]string, error) {
	cfg, err := config.Inspect(path)
	var all config.Errors
	var ce *config.Errors
	switch {
	case errors.As(err, &ce):
		all.Problems = append(all.Problems, ce.Problems...)
	case err != nil:
		return nil, err
	}
	if cfg == nil {
		return lines(&all, nil), nil
	}
	if len(all.Problems) > 0 {
		// The webhooks entries are checked by config already; a bad one
		// would be reported twice.
		cfg.Webhooks = nil
	}
	problems, perr := checkModules(cfg, reg)
	all.Problems = append(all.Problems, problems...)
	all.Sort()
	return lines(&all, perr), nil
}

func lines(e *config.Errors, plugins error) []string {
	var out []string
	for _, p := range e.Problems {
		out = append(out, p.String())
	}
	if plugins != nil {
		for _, l := range strings.Split(plugins.Error(), "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}
