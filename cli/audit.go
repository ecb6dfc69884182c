package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/spf13/cobra"
)

// AuditCommand is `audit [--since T] [--until T] [--actor A] [--action X]
// [--limit N] [--json]`: the audit log of administrative actions, newest
// first.
func AuditCommand(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "List the audit log of administrative actions, newest first", Args: cobra.NoArgs}
	actor := cmd.Flags().String("actor", "", "only actions by this actor")
	action := cmd.Flags().String("action", "", "only this action (role.create, user.block, settings.providers…)")
	lf := listFlags(cmd)
	opts.withApp(cmd, readOnly, func(cmd *cobra.Command, a *app, _ []string) error {
		f := store.AuditFilter{Actor: *actor, Action: *action}
		var err error
		if f.Since, f.Until, f.Limit, err = lf.window(); err != nil {
			return err
		}
		entries, _, err := a.store.Audit().List(cmd.Context(), f)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if *lf.json {
			if entries == nil {
				entries = []store.AuditEntry{}
			}
			return printJSON(w, entries)
		}
		if len(entries) == 0 {
			fmt.Fprintln(w, "no audit entry")
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tACTOR\tSOURCE\tACTION\tTARGET\tSUMMARY")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.CreatedAt.UTC().Format(time.RFC3339), e.Actor, e.Source, e.Action, e.Target, e.Summary)
		}
		return tw.Flush()
	})
	return cmd
}
