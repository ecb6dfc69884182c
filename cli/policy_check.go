package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// policyCheck is `policy check ROLE METHOD PATH`: explain a decision, exit 1
// when denied.
func policyCheck(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "check ROLE METHOD PATH", Short: "Explain a decision (exit 1 when denied)", Args: cobra.ExactArgs(3)}
	opts = opts.withRoutesFile(cmd)
	opts.withApp(cmd, readOnly, func(cmd *cobra.Command, a *app, args []string) error {
		role, method, path := args[0], strings.ToUpper(args[1]), args[2]
		fn, ok := opts.catalog().Lookup(method, path)
		if !ok {
			return fmt.Errorf("no route matches %s %s", method, path)
		}
		ex, err := a.enforcer.Explain(role, fn.Route, method)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "%s %s %s → %s\n", role, method, path, word(ex.Allowed))
		fmt.Fprintf(w, "  route:     %s (%s)\n  roles:     %s\n", fn.Route, fn.Name, strings.Join(ex.RoleChain, " → "))
		if ex.Allowed {
			fmt.Fprintf(w, "  rule:      %s\n", ex.MatchedRule)
			return nil
		}
		fmt.Fprintf(w, "  allow it:  %s\n", ex.Suggestion)
		return ErrFailed
	})
	return cmd
}
