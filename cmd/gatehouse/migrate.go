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
		&cobra.Command{Use: "down", Short: "Roll back the latest migration", Args: cobra.NoArgs,
			RunE: withDB(func(ctx context.Context, gdb *gorm.DB, driver string) error {
				name, err := db.Down(ctx, gdb, driver)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.out, "rolled back", name)
				return nil
			})},
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
