package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/gateway"
	"github.com/spf13/cobra"
)

// RoutesCommand is `routes`: check a protected app's functions file.
func RoutesCommand(opts Options) *cobra.Command {
	return group(&cobra.Command{Use: "routes", Short: "Check a protected app's functions file (ROUTES_FILE)"}, routesCheck(opts))
}

// routesCheck is `routes check FILE [--probe]`: the file's syntax, then
// duplicate names, patterns matching the same requests, patterns
// overlapping Gatehouse's own routes, and with --probe unreachable
// upstreams. Exit 1 on any error; warnings are printed.
func routesCheck(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "check FILE", Short: "Validate a functions file (exit 1 on errors)", Args: cobra.ExactArgs(1)}
	probe := cmd.Flags().Bool("probe", false, "also connect to each upstream and report those unreachable")
	timeout := cmd.Flags().Duration("probe-timeout", 2*time.Second, "how long each upstream has to accept a connection")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w := cmd.OutOrStdout()
		path := args[0]
		t, err := gateway.Load(path)
		if fe, ok := errors.AsType[*gateway.FileError](err); ok {
			fmt.Fprintln(w, fe.Error())
			return ErrFailed
		}
		if err != nil {
			return err
		}
		findings := t.Check(opts.ownRoutes())
		if *probe {
			findings = append(findings, t.Probe(cmd.Context(), *timeout)...)
		}
		for _, f := range findings {
			fmt.Fprintf(w, "%s:%d: %s: %s\n", path, f.Line, f.Severity, f.Message)
		}
		errs := len(gateway.Errors(findings))
		fmt.Fprintf(w, "%d function(s), %d error(s), %d warning(s)\n", len(t.Functions), errs, len(findings)-errs)
		if errs > 0 {
			return ErrFailed
		}
		return nil
	}
	return cmd
}
