package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"gatehouse/cmd/gatehouse/app"
	"gatehouse/providers/password"
)

func (c *cli) keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage the signing keys (assertions, access tokens)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Create new signing keys (ES256, and RS256 with the OpenID Connect provider): published by every replica within 60 s, signing 60 s after now",
		Args:  cobra.NoArgs,
		RunE: c.withApp(func(ctx context.Context, a *app.App) error {
			kid, err := a.Keys.Rotate(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "created signing key %s: published within 60 s, signing from 60 s on; older keys stay published until their tokens expire\n", kid)
			if a.RSAKeys != nil {
				if kid, err = a.RSAKeys.Rotate(ctx); err != nil {
					return err
				}
				fmt.Fprintf(c.out, "created RS256 signing key %s (OpenID Connect provider): published within 60 s, signing from 60 s on\n", kid)
			}
			return nil
		}),
	})
	return cmd
}

// withApp runs f on the services of the configured gateway (no HTTP
// server), closed afterwards: the CLI's tools.
func (c *cli) withApp(f func(ctx context.Context, a *app.App) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		cfg, err := c.load()
		if err != nil {
			return err
		}
		// Every module: the plugins, so that events the tools emit are
		// queued for the event sinks (webhooks, audit); the providers,
		// validated but not provisioned (app.Options.NoServer: tools sign
		// no one in, and OIDC discovery would only slow them down).
		reg, err := newRegistry()
		if err != nil {
			return err
		}
		pw, err := password.FromConfig(cfg.Accounts.Password)
		if err != nil {
			return err
		}
		a, err := app.Build(cmd.Context(), cfg, reg, newLogger(c.errw), app.Options{NoServer: true, Passwords: pw})
		if err != nil {
			return err
		}
		defer a.Close()
		return f(cmd.Context(), a)
	}
}
