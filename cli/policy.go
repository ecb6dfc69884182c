package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/spf13/cobra"
)

// PolicyCommand is `policy`: export, import, check, diff, lint and test the
// policy, against the routes of opts.Catalog; read its history, revert to a
// revision, apply a reviewed file.
// The commands that read the catalogue (check, diff, import, lint, test) take
// --routes-file (default $ROUTES_FILE): a protected app's functions join it.
func PolicyCommand(opts Options) *cobra.Command {
	return group(&cobra.Command{Use: "policy", Short: "Export, import, check, diff, lint and test the policy"},
		policyExport(opts), policyImport(opts), policyCheck(opts), policyDiff(opts), policyLint(opts), policyTest(opts),
		policyHistory(opts), policyShow(opts), policyRevert(opts), policyApply(opts))
}

// readPolicyFile reads a CSV policy file; errors name the file and line.
func readPolicyFile(path string) ([]policy.Rule, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rules, err := policy.ParseCSV(string(raw))
	var le *policy.LineError
	if errors.As(err, &le) {
		return nil, fmt.Errorf("%s:%d: %s: %s", path, le.Line, le.Err, strings.TrimSpace(le.Text))
	}
	return rules, err
}

// rulesFrom reads a CSV file, or the stored policy when path is "".
func rulesFrom(a *app, path string) ([]policy.Rule, error) {
	if path != "" {
		return readPolicyFile(path)
	}
	return a.enforcer.Rules()
}

// printFlips prints decision changes as a table with a count.
func printFlips(w io.Writer, flips []policy.Flip) {
	if len(flips) == 0 {
		fmt.Fprintln(w, "no decision changes")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tMETHOD\tROUTE\tFUNCTION\tCHANGE")
	for _, f := range flips {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s → %s\n", f.Role, f.Method, f.Route, f.Function, f.From, f.To)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d decision(s) change\n", len(flips))
}

// word is a decision as the commands print it.
func word(allowed bool) string {
	if allowed {
		return "allow"
	}
	return "deny"
}
