package cli

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/spf13/cobra"
)

// policyTest is `policy test MATRIX [--policy FILE] [--junit FILE]`: check a
// permission matrix, print "N passed, M failed", exit 1 on a mismatch.
func policyTest(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "test MATRIX", Short: "Check a permission matrix (role,method,path,expect); exit 1 on any mismatch", Args: cobra.ExactArgs(1)}
	opts = opts.withRoutesFile(cmd)
	junit := cmd.Flags().String("junit", "", "also write JUnit XML to this file")
	file := cmd.Flags().String("policy", "", "test this CSV policy file instead of the stored policy")
	opts.withApp(cmd, readOnly, func(cmd *cobra.Command, a *app, args []string) error {
		return runMatrix(cmd, opts, a.enforcer, args[0], *junit)
	})
	// With --policy the stored policy is not read: no database is opened,
	// so CI can check a policy file on its own.
	withDatabase := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *file == "" {
			return withDatabase(cmd, args)
		}
		rules, err := readPolicyFile(*file)
		if err != nil {
			return err
		}
		e, err := policy.NewFromRules(opts.model(), rules)
		if err != nil {
			return err
		}
		return runMatrix(cmd, opts, e, args[0], *junit)
	}
	return cmd
}

// runMatrix checks the matrix file against e and prints the mismatches and
// "N passed, M failed"; ErrFailed on a mismatch.
func runMatrix(cmd *cobra.Command, opts Options, e *policy.Enforcer, matrixFile, junit string) error {
	raw, err := os.ReadFile(matrixFile)
	if err != nil {
		return err
	}
	rows, err := policy.ParseMatrix(string(raw))
	var le *policy.LineError
	if errors.As(err, &le) {
		return fmt.Errorf("%s:%d: %s", matrixFile, le.Line, le.Err)
	}
	if err != nil {
		return err
	}
	start := time.Now()
	results := policy.RunMatrix(e, opts.catalog(), rows)
	w := cmd.OutOrStdout()
	passed, failed := policy.Summary(results)
	if failed > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LINE\tROLE\tMETHOD\tPATH\tWANT\tPROBLEM")
		for _, r := range results {
			if !r.Passed() {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Row.Line, r.Row.Role, r.Row.Method, r.Row.Path, word(r.Row.Allow), r.Problem)
			}
		}
		tw.Flush()
	}
	if junit != "" {
		if err := writeJUnit(junit, results, time.Since(start)); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return ErrFailed
	}
	return nil
}

func writeJUnit(path string, results []policy.MatrixResult, elapsed time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := policy.WriteJUnit(f, "gatehouse.policy", results, elapsed); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
