package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"gatehouse/cmd/gatehouse/app"
	"gatehouse/gateway/auth"
)

func (c *cli) userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	var email, pw, role, username, name string
	create := &cobra.Command{
		Use:   "create --email EMAIL --password PASSWORD [--role admin]",
		Short: "Create a verified user",
		Args:  cobra.NoArgs,
		RunE: c.withApp(func(ctx context.Context, a *app.App) error {
			u, err := a.Auth.CreateVerifiedUser(ctx, auth.NewUserInput{Email: email, Password: pw, Role: role, Username: username, Name: name})
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(c.out, "created user %s (%s, role %s)\n", u.ID, u.Email, u.Role)
			return nil
		}),
	}
	f := create.Flags()
	f.StringVar(&email, "email", "", "email address (required)")
	f.StringVar(&pw, "password", "", "password (required; prefer GATEHOUSE_USER_PASSWORD in scripts)")
	f.StringVar(&role, "role", "", "platform role (default: accounts.default_role; admin for the first user when first_user_admin)")
	f.StringVar(&username, "username", "", "username (optional)")
	f.StringVar(&name, "name", "", "display name (optional)")
	_ = create.MarkFlagRequired("email")
	cmd.AddCommand(create)
	return cmd
}
