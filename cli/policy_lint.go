package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/spf13/cobra"
)

// policyLint is `policy lint [--policy FILE]`: unreachable routes, public
// writes, dead and shadowed rows, cycles and unknown roles, then a summary
// line; exit 1 on any finding.
func policyLint(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "lint", Short: "Find unreachable routes, public writes, dead and shadowed rules, cycles", Args: cobra.NoArgs}
	opts = opts.withRoutesFile(cmd)
	file := cmd.Flags().String("policy", "", "lint this CSV file instead of the stored policy")
	opts.withApp(cmd, readOnly, func(cmd *cobra.Command, a *app, _ []string) error {
		start := time.Now()
		rules, err := rulesFrom(a, *file)
		if err != nil {
			return err
		}
		roles, err := a.store.Roles().Types(cmd.Context())
		if err != nil {
			return err
		}
		catalog := opts.catalog()
		findings, err := policy.Lint(rules, catalog, roles)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		kinds := map[string]int{}
		for _, f := range findings {
			fmt.Fprintln(w, f)
			kinds[f.Kind]++
		}
		summary := "no findings"
		if len(findings) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(kinds)) {
				parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
			}
			summary = fmt.Sprintf("%d finding(s): %s", len(findings), strings.Join(parts, ", "))
		}
		fmt.Fprintf(w, "%s (%d rules, %d routes, %d roles, %s)\n", summary, len(rules), len(catalog), len(roles),
			time.Since(start).Round(time.Millisecond))
		if len(findings) > 0 {
			return ErrFailed
		}
		return nil
	})
	return cmd
}
