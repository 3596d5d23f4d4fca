package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/gateway/db"
)

func (c *cli) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Manage the database schema (up, down, status)"}
	run := func(f func(cmd *cobra.Command) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error { return f(cmd) }
	}
	cmd.AddCommand(
		&cobra.Command{Use: "up", Short: "Apply every pending migration", Args: cobra.NoArgs, RunE: run(func(cmd *cobra.Command) error {
			cfg, err := c.load()
			if err != nil {
				return err
			}
			gdb, err := openDB(cmd.Context(), cfg.Database, newLogger(c.errw))
			if err != nil {
				return err
			}
			defer closeDB(gdb)
			applied, err := db.Up(cmd.Context(), gdb, cfg.Database.Driver)
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
		&cobra.Command{Use: "down", Short: "Roll back the latest migration", Args: cobra.NoArgs, RunE: run(func(cmd *cobra.Command) error {
			cfg, err := c.load()
			if err != nil {
				return err
			}
			gdb, err := openDB(cmd.Context(), cfg.Database, newLogger(c.errw))
			if err != nil {
				return err
			}
			defer closeDB(gdb)
			name, err := db.Down(cmd.Context(), gdb, cfg.Database.Driver)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.out, "rolled back", name)
			return nil
		})},
		&cobra.Command{Use: "status", Short: "List migrations and whether each is applied", Args: cobra.NoArgs, RunE: run(func(cmd *cobra.Command) error {
			cfg, err := c.load()
			if err != nil {
				return err
			}
			gdb, err := openDB(cmd.Context(), cfg.Database, newLogger(c.errw))
			if err != nil {
				return err
			}
			defer closeDB(gdb)
			st, err := db.Status(cmd.Context(), gdb, cfg.Database.Driver)
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
