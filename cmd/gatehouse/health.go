package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// healthCmd is "gatehouse health": a probe for container healthchecks
// (the distroless image has no shell or HTTP client). It asks the running
// gateway's /readyz (or --url) and exits 0 when the answer is 200.
func (c *cli) healthCmd() *cobra.Command {
	var target string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health [--url URL]",
		Short: "Exit 0 when the running gateway is ready (GET /readyz answers 200), else 1",
		Long: `Asks the running gateway whether it is ready: GET /readyz on server.listen
(an unspecified host such as 0.0.0.0 is asked on 127.0.0.1), or on --url.
For a container healthcheck, where the image has no shell or curl:
  healthcheck: {test: ["CMD", "/gatehouse", "health"]}`,
		Example: `  gatehouse health
  gatehouse health --url http://127.0.0.1:8080/healthz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				cfg, err := c.load()
				if err != nil {
					return err
				}
				if target, err = readyURL(cfg.Server.Listen); err != nil {
					return &exitError{code: 1, err: err}
				}
			}
			if err := probe(cmd.Context(), target, timeout); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintln(c.out, "ready")
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", "", "the URL to ask (default: /readyz on server.listen)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}

// readyURL is /readyz on the listen address, asked on loopback when the
// address binds every interface.
func readyURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("server.listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// probe GETs target and wants a 200.
func probe(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	// No proxy from the environment: the gateway is asked directly.
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %s", target, resp.Status)
	}
	return nil
}
