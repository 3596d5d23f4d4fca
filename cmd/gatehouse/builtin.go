package main

import (
	"errors"

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
	"gatehouse/providers/github"
	"gatehouse/providers/google"
	"gatehouse/providers/oidc"
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
		webhooks.Info(),
	}
}

// builtinProviders is the only list of compiled-in sign-in providers.
func builtinProviders() []gateway.ProviderInfo {
	return []gateway.ProviderInfo{
		password.Info(),
		google.Info(),
		github.Info(),
		oidc.Info(),
	}
}

func newRegistry() (*gateway.Registry, error) {
	return gateway.NewRegistry(builtinPlugins(), builtinProviders())
}

// checkModules builds (without provisioning) every plugin instance the
// config names: unknown names and bad options are reported, all at once.
func checkModules(cfg *config.Config) error {
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	var errs []error
	if _, err := reg.BuildChain(cfg.Plugins, nil); err != nil {
		errs = append(errs, err)
	}
	for _, r := range cfg.Routes {
		if _, err := reg.BuildChain(nil, r.Plugins); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
