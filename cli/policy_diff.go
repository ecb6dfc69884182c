package cli

import (
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/spf13/cobra"
)

// policyDiff is `policy diff OLD.csv NEW.csv [--exit-code]`: the decisions
// that differ between two policy files, over every route. It needs no
// database.
func policyDiff(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "diff OLD.csv NEW.csv", Short: "Print the decisions that differ between two policy files", Args: cobra.ExactArgs(2)}
	exitCode := cmd.Flags().Bool("exit-code", false, "exit 1 when some decision differs, 0 when none does (as git diff --exit-code)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var enforcers [2]*policy.Enforcer
		for i, path := range args {
			rules, err := readPolicyFile(path)
			if err != nil {
				return err
			}
			if enforcers[i], err = policy.NewFromRules(opts.model(), rules); err != nil {
				return err
			}
		}
		flips, err := policy.DecisionDiff(enforcers[0], enforcers[1], []string{handlers.PublicRole}, opts.catalog())
		if err != nil {
			return err
		}
		printFlips(cmd.OutOrStdout(), flips)
		if *exitCode && len(flips) > 0 {
			return ErrFailed
		}
		return nil
	}
	return cmd
}
