package cli

import (
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/spf13/cobra"
)

// policyDiff is `policy diff OLD.csv NEW.csv [--exit-code]`: the decisions
// that differ between two policy files, over every route. It needs no
// database. With --live, `policy diff --live FILE [--exit-code]` compares
// the stored policy with the file instead (drift detection): the rows that
// differ and the decisions the file would flip.
func policyDiff(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "diff OLD.csv NEW.csv | diff --live FILE", Short: "Print the decisions that differ between two policy files, or between the stored policy and a file (--live)",
		Args: func(cmd *cobra.Command, args []string) error {
			if live, _ := cmd.Flags().GetBool("live"); live {
				return cobra.ExactArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		}}
	opts = opts.withRoutesFile(cmd)
	exitCode := cmd.Flags().Bool("exit-code", false, "exit 1 when something differs, 0 when nothing does (as git diff --exit-code); with --live any row differing counts")
	live := cmd.Flags().Bool("live", false, "compare the stored policy (DATABASE_URL) with FILE")
	offline := func(cmd *cobra.Command, args []string) error {
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
	opts.withApp(cmd, readOnly, func(cmd *cobra.Command, a *app, args []string) error {
		rules, err := readPolicyFile(args[0])
		if err != nil {
			return err
		}
		stored, err := a.enforcer.Rules()
		if err != nil {
			return err
		}
		onlyFile, onlyStored := history.Diff(policy.Rows(stored), policy.Rows(rules))
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "stored policy at revision %d against %s\n", a.enforcer.Revision(), args[0])
		for _, r := range onlyStored {
			fmt.Fprintln(w, "- "+strings.Join(r, ", ")+"   (stored, not in the file)")
		}
		for _, r := range onlyFile {
			fmt.Fprintln(w, "+ "+strings.Join(r, ", ")+"   (in the file, not stored)")
		}
		roles, err := a.store.Roles().Types(cmd.Context())
		if err != nil {
			return err
		}
		fileEnforcer, err := a.enforcer.WithRules(rules)
		if err != nil {
			return err
		}
		flips, err := policy.DecisionDiff(a.enforcer, fileEnforcer, roles, opts.catalog())
		if err != nil {
			return err
		}
		printFlips(w, flips)
		if *exitCode && len(onlyFile)+len(onlyStored) > 0 {
			return ErrFailed
		}
		return nil
	})
	withDB := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *live {
			return withDB(cmd, args)
		}
		return offline(cmd, args)
	}
	return cmd
}
