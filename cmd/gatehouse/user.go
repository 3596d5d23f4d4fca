package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/cmd/gatehouse/app"
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
)

func (c *cli) userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	var email, pw, role, username, name string
	var cmdIn io.Reader = os.Stdin
	create := &cobra.Command{
		Use:   "create --email EMAIL [--password PASSWORD] [--role admin]",
		Short: "Create a verified user",
		Long: `Create a verified user (no email is sent).

The password comes from --password or, better in scripts (it stays out of
the process list and shell history), from GATEHOUSE_USER_PASSWORD, or
else from the first line of standard input when that is not a terminal.`,
		Example: `  GATEHOUSE_USER_PASSWORD='long-enough-1' gatehouse user create --email root@example.com --role admin
  gatehouse user create --email ann@example.com --password 'long-enough-2' --name "Ann Example"
  pass show gatehouse/root | gatehouse user create --email root@example.com`,
		Args: cobra.NoArgs,
		RunE: c.withApp(func(ctx context.Context, a *app.App) error {
			if pw == "" {
				pw = os.Getenv("GATEHOUSE_USER_PASSWORD")
			}
			if pw == "" {
				pw = passwordFromStdin(cmdIn)
			}
			if pw == "" {
				return &exitError{code: 2, err: errors.New("a password is required: --password, GATEHOUSE_USER_PASSWORD or a line on standard input")}
			}
			u, err := a.Auth.CreateVerifiedUser(ctx, auth.NewUserInput{Email: email, Password: pw, Role: role, Username: username, Name: name})
			if err != nil {
				return &exitError{code: 1, err: describe(err)}
			}
			fmt.Fprintf(c.out, "created user %s (%s, role %s)\n", u.ID, u.Email, u.Role)
			return nil
		}),
	}
	create.PreRun = func(cmd *cobra.Command, _ []string) { cmdIn = cmd.InOrStdin() }
	f := create.Flags()
	f.StringVar(&email, "email", "", "email address (required)")
	f.StringVar(&pw, "password", "", "password (default $GATEHOUSE_USER_PASSWORD, which scripts should prefer)")
	f.StringVar(&role, "role", "", "platform role (default: accounts.default_role; admin for the first user when first_user_admin)")
	f.StringVar(&username, "username", "", "username (optional)")
	f.StringVar(&name, "name", "", "display name (optional)")
	_ = create.MarkFlagRequired("email")
	cmd.AddCommand(create)
	return cmd
}

// describe is an error as a person at a terminal wants it: a refused
// field names the field and what is wrong with it.
func describe(err error) error {
	var ge *gateway.Error
	if !errors.As(err, &ge) || len(ge.Fields) == 0 {
		return err
	}
	names := make([]string, 0, len(ge.Fields))
	for f := range ge.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, f := range names {
		parts = append(parts, "--"+strings.ReplaceAll(f, "_", "-")+": "+ge.Fields[f])
	}
	return errors.New(strings.Join(parts, "; "))
}

// passwordFromStdin is the first line of in when it is not a terminal
// (a pipe or a file), "" otherwise.
func passwordFromStdin(in io.Reader) string {
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		return ""
	}
	line, _ := bufio.NewReader(io.LimitReader(in, 4097)).ReadString('\n')
	return strings.TrimRight(line, "\r\n")
}
