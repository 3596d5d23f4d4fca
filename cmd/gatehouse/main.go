// Command gatehouse is the Gatehouse authentication gateway.
//
//	gatehouse [serve]                 run the gateway (default)
//	gatehouse config check            validate gateway.yaml, print every problem
//	gatehouse migrate up|down|status  manage the database schema
//	gatehouse version                 print the version
//
// The config file comes from --config (before or after the subcommand),
// else GATEHOUSE_CONFIG, else ./gateway.yaml.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"gatehouse/config"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// exitError carries an exit code without printing cobra's usage.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	root := newRoot(os.Stdout, os.Stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee *exitError
		code := 1
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(code)
	}
}

// cli is what every subcommand shares.
type cli struct {
	configPath string
	out, errw  io.Writer
}

func newRoot(out, errw io.Writer) *cobra.Command {
	c := &cli{out: out, errw: errw}
	root := &cobra.Command{
		Use:   "gatehouse",
		Short: "Gatehouse: an authentication gateway in front of your apps",
		Long: `Gatehouse signs people in and forwards each allowed request to your apps
with the caller's identity in X-Auth-* headers. Without a subcommand it
serves (as "gatehouse serve").

Environment:
  GATEHOUSE_CONFIG                   the config file (default gateway.yaml; --config wins)
  GATEHOUSE_SECRET                   the server secret, as the shipped gateway.yaml reads it (${GATEHOUSE_SECRET})
  GATEHOUSE_LOG_LEVEL                debug, info (default), warn or error
  GATEHOUSE_USER_PASSWORD            the password of "user create" when --password is not given
  GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE   1 lets webhooks reach private and loopback addresses
Any ${VAR} or ${VAR:-default} in the config file is read from the environment.`,
		Example: `  gatehouse                                  # serve with ./gateway.yaml
  gatehouse --config /etc/gatehouse/gateway.yaml serve
  gatehouse config check                     # every problem with its key, or OK
  gatehouse migrate status`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return c.serve(cmd.Context()) },
	}
	def := os.Getenv("GATEHOUSE_CONFIG")
	if def == "" {
		def = "gateway.yaml"
	}
	root.PersistentFlags().StringVarP(&c.configPath, "config", "c", def, "path to gateway.yaml (env GATEHOUSE_CONFIG)")
	root.SetOut(out)
	root.SetErr(errw)
	root.AddCommand(
		&cobra.Command{
			Use:     "serve",
			Short:   "Run the gateway",
			Example: "  GATEHOUSE_SECRET=$(openssl rand -hex 32) gatehouse serve --config gateway.yaml",
			Args:    cobra.NoArgs,
			RunE:    func(cmd *cobra.Command, _ []string) error { return c.serve(cmd.Context()) },
		},
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(c.out, versionLine()) },
		},
		c.configCmd(),
		c.migrateCmd(),
		c.userCmd(),
		c.keysCmd(),
		c.healthCmd(),
	)
	return root
}

// load reads and validates the config file.
func (c *cli) load() (*config.Config, error) {
	cfg, err := config.Load(c.configPath)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	return cfg, nil
}

func (c *cli) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate gateway.yaml and its provider and plugin options; print OK or every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := newRegistry()
			if err != nil {
				return err
			}
			problems, err := checkConfig(c.configPath, reg)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if len(problems) == 0 {
				fmt.Fprintln(c.out, "OK")
				return nil
			}
			for _, p := range problems {
				fmt.Fprintln(c.out, p)
			}
			return &exitError{code: 1, err: fmt.Errorf("%s: %d problem(s)", c.configPath, len(problems))}
		},
	})
	return cmd
}

// newLogger is the only root logger: JSON on stderr, level from
// GATEHOUSE_LOG_LEVEL (debug|info|warn|error).
func newLogger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(os.Getenv("GATEHOUSE_LOG_LEVEL"))); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// versionLine is the version set at build time (else the module version
// from the build info), the commit and its date, and the Go version:
// "gatehouse v1.2.3 (commit 1a2b3c4d5e6f, 2026-12-07T10:00:00Z, modified) go1.26".
func versionLine() string {
	v := version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "gatehouse " + v
	}
	if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	line := "gatehouse " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		line += " (commit " + rev
		if at != "" {
			line += ", " + at
		}
		if modified {
			line += ", modified"
		}
		line += ")"
	}
	return line + " " + info.GoVersion
}
