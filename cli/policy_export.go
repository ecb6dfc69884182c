package cli

import (
	"io"
	"os"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/spf13/cobra"
)

// policyExport is `policy export [-o FILE]`: the stored policy as CSV.
func policyExport(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "export", Short: "Write the stored policy as CSV", Args: cobra.NoArgs}
	out := cmd.Flags().StringP("output", "o", "", "file to write (default: standard output)")
	opts.withApp(cmd, readOnly, func(cmd *cobra.Command, a *app, _ []string) error {
		rules, err := a.enforcer.Rules()
		if err != nil {
			return err
		}
		text := policy.FormatCSV(rules, true)
		if *out == "" {
			_, err = io.WriteString(cmd.OutOrStdout(), text)
			return err
		}
		return os.WriteFile(*out, []byte(text), 0o644)
	})
	return cmd
}
