package main

import (
	"context"
	"fmt"
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

// migrateDownCmd rolls back the latest applied migration, only with
// --yes: rolling back the first one drops every table, and the data with
// them.
func (c *cli) migrateDownCmd(withDB func(func(context.Context, *gorm.DB, string) error) func(*cobra.Command, []string) error) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "down --yes",
		Short: "Roll back the latest migration (asks for --yes)",
		Long: `Roll back the latest applied migration. Without --yes it only says which
one it would roll back. Rolling back 00001_initial drops every table and
the data in them: take a backup first.`,
		Example: "  gatehouse migrate down          # shows what it would roll back\n  gatehouse migrate down --yes    # rolls it back",
		Args:    cobra.NoArgs,
		RunE: withDB(func(ctx context.Context, gdb *gorm.DB, driver string) error {
			if !yes {
				st, err := db.Status(ctx, gdb, driver)
				if err != nil {
					return err
				}
				latest := ""
				for _, m := range st {
					if m.Applied {
						latest = m.Name
					}
				}
				if latest == "" {
					fmt.Fprintln(c.out, "no applied migration to roll back")
					return nil
				}
				return &exitError{code: 2, err: fmt.Errorf("this would roll back %s; run again with --yes to do it", latest)}
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
