package cli

import (
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/spf13/cobra"
)

// policyImport is `policy import FILE [--dry-run]`: replace the stored
// policy, printing the decisions that flip.
func policyImport(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "import FILE", Short: "Replace the stored policy with a CSV file (prints the decision changes)", Args: cobra.ExactArgs(1)}
	dry := cmd.Flags().Bool("dry-run", false, "only print what would change")
	opts.withApp(cmd, readWrite, func(cmd *cobra.Command, a *app, args []string) error {
		rules, err := readPolicyFile(args[0])
		if err != nil {
			return err
		}
		if len(rules) == 0 {
			return fmt.Errorf("%s holds no rule: an empty policy would deny everything", args[0])
		}
		roles, err := a.store.Roles().Types(cmd.Context())
		if err != nil {
			return err
		}
		flips, err := a.enforcer.Plan(rules, roles, opts.catalog())
		var le *policy.LineError
		if errors.As(err, &le) {
			return fmt.Errorf("%s:%d: %s", args[0], le.Line, le.Err)
		}
		if err != nil {
			return err
		}
		printFlips(cmd.OutOrStdout(), flips)
		if *dry {
			fmt.Fprintln(cmd.OutOrStdout(), "dry run: nothing changed")
			return nil
		}
		if err := a.enforcer.Replace(cmd.Context(), rules); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "imported %d rules (revision %d)\n", len(rules), a.enforcer.Revision())
		return nil
	})
	return cmd
}
