package cli

import (
	"github.com/spf13/cobra"
)

// policyImport is `policy import FILE [--dry-run]`: replace the stored
// policy, printing the decisions that flip.
func policyImport(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "import FILE", Short: "Replace the stored policy with a CSV file (prints the decision changes)", Args: cobra.ExactArgs(1)}
	opts = opts.withRoutesFile(cmd)
	dry := cmd.Flags().Bool("dry-run", false, "only print what would change")
	message := cmd.Flags().String("message", "", "a note recorded with the change in the policy history")
	opts.withApp(cmd, readWrite, func(cmd *cobra.Command, a *app, args []string) error {
		return replaceFromFile(cmd, a, opts, args[0], *dry, -1, *message, "imported")
	})
	return cmd
}
