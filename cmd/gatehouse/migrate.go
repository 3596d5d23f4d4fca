package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

func (c *cli) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Manage the database schema (up, down, status)"}
	// withDB runs f on the configured database, closed afterwards.
	withDB := func(f func(ctx context.Context, gdb *gorm.DB, driver string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load()
			if err != nil {
				return err
			}
			gdb, err := openDB(cmd.Context(), cfg.Database, newLogger(c.errw))
			if err != nil {
				return err
			}
			defer closeDB(gdb)
			return f(cmd.Context(), gdb, cfg.Database.Driver)
		}
	}
	cmd.AddCommand(
		&cobra.Command{Use: "up", Short: "Apply every pending migration", Args: cobra.NoArgs,
			RunE: withDB(func(ctx context.Context, gdb *gorm.DB, driver string) error {
				applied, err := db.Up(ctx, gdb, driver)
				if err != nil {
					return err
				}
				for _, a := range applied {
					fmt.Fprintln(c.out, "applied", a)
				}
				if len(applied) == 0 {
					fmt.Fprintln(c.out, "no pending migrations")
				}
				return nil
			})},
		c.migrateDownCmd(withDB),
		&cobra.Command{Use: "status", Short: "List migrations and whether each is applied", Args: cobra.NoArgs,
			RunE: withDB(func(ctx context.Context, gdb *gorm.DB, driver string) error {
				st, err := db.Status(ctx, gdb, driver)
				if err != nil {
					return err
				}
				for _, m := range st {
					state := "pending"
					if m.Applied {
						state = "applied " + m.AppliedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(c.out, "%05d  %-40s %s\n", m.Version, m.Name, state)
				}
				return nil
			})},
	)
	return cmd
}

// migrateDownCmd rolls back the latest applied migration. Rolling back
// the first one drops every table, and the data with them: that one needs
// --yes.
func (c *cli) migrateDownCmd(withDB func(func(context.Context, *gorm.DB, string) error) func(*cobra.Command, []string) error) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "down [--yes]",
		Short: "Roll back the latest migration",
		Long: `Roll back the latest applied migration. At a terminal it asks first
(--yes does not). Rolling back the first one, 00001_initial, drops every
table and the data in them: it needs --yes (take a backup first).`,
		Example: "  gatehouse migrate down          # rolls back the latest migration\n  gatehouse migrate down --yes    # also when that is 00001_initial",
		Args:    cobra.NoArgs,
		RunE: withDB(func(ctx context.Context, gdb *gorm.DB, driver string) error {
			if !yes {
				st, err := db.Status(ctx, gdb, driver)
				if err != nil {
					return err
				}
				applied, latest := 0, ""
				for _, m := range st {
					if m.Applied {
						applied, latest = applied+1, m.Name
					}
				}
				if applied == 1 {
					return &exitError{code: 2, err: errors.New("this would roll back the first migration and drop every table with its data; run again with --yes to do it")}
				}
				if latest != "" && isTerminal(os.Stdin) {
					fmt.Fprintf(c.out, "roll back %s? [y/N] ", latest)
					answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
					if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
						return &exitError{code: 2, err: errors.New("not rolled back")}
					}
				}
			}
			name, err := db.Down(ctx, gdb, driver)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.out, "rolled back", name)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really roll back")
	return cmd
}
