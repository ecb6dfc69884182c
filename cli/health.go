package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// HealthCommand is `health [--url URL]`: ask a running server's /_health
// and exit 0 only when it answers 2xx, for container health checks (a
// scratch image has no curl).
func HealthCommand(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "health", Short: "Check that a running server answers /_health (exit 1 otherwise)", Args: cobra.NoArgs}
	port := "1337"
	if p, ok := opts.lookupEnv()("PORT"); ok && p != "" {
		port = p
	}
	url := cmd.Flags().String("url", "http://"+net.JoinHostPort("127.0.0.1", port)+"/_health", "health URL of the server (its port defaults to $PORT)")
	timeout := cmd.Flags().Duration("timeout", 5*time.Second, "how long to wait for the answer")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
		if err != nil {
			return fmt.Errorf("health: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("health: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("health: GET %s: %s", *url, resp.Status)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "healthy: GET %s: %s\n", *url, resp.Status)
		return nil
	}
	return cmd
}
