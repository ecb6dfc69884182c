package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/spf13/cobra"
)

// MailCommand is `mail`: the queue of reset and confirmation mail.
func MailCommand(opts Options) *cobra.Command {
	return group(&cobra.Command{Use: "mail", Short: "Inspect the queue of outgoing mail"}, mailQueue(opts))
}

// mailQueue is `mail queue [--limit N]`: the pending and failed mail, with
// attempts, next try and last error (never a token: the rows hold none).
func mailQueue(opts Options) *cobra.Command {
	queue := &cobra.Command{Use: "queue", Short: "List queued mail (pending and failed) with attempts, next try and last error", Args: cobra.NoArgs}
	limit := queue.Flags().Int("limit", 100, "most rows listed")
	opts.withApp(queue, readOnly, func(cmd *cobra.Command, a *app, _ []string) error {
		depth, err := a.store.MailQueue().Depth(cmd.Context())
		if err != nil {
			return err
		}
		jobs, err := a.store.MailQueue().List(cmd.Context(), *limit)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "%d pending, %d failed\n", depth.Pending, depth.Failed)
		if len(jobs) == 0 {
			return nil
		}
		// The rows hold no token and no body; the recipient and the error
		// are all there is to show.
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tTO\tSTATUS\tATTEMPTS\tQUEUED\tNEXT TRY\tLAST ERROR")
		for _, j := range jobs {
			next := j.NextAttemptAt.UTC().Format(time.RFC3339)
			if j.Status != store.MailPending {
				next = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", j.ID, j.Kind, j.Email, j.Status, j.Attempts,
				j.CreatedAt.UTC().Format(time.RFC3339), next, oneLine(j.LastError, 120))
		}
		return tw.Flush()
	})
	return queue
}

// oneLine flattens s to one line of at most n bytes.
func oneLine(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = ' '
		}
	}
	if len(b) > n {
		return string(b[:n-3]) + "..."
	}
	return string(b)
}
