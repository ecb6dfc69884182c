package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/spf13/cobra"
)

// cliActor names whoever runs the command in the policy history:
// "cli:<os user>".
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:unknown"
}

// withMessage adds the --message to the command's change.
func withMessage(cmd *cobra.Command, message string) {
	if message == "" {
		return
	}
	c := history.ChangeFrom(cmd.Context())
	c.Message = message
	cmd.SetContext(history.WithChange(cmd.Context(), c))
}

// parseWhen reads --since and --until: an RFC 3339 time, a date
// (YYYY-MM-DD) or a span back from now ("24h", "7d").
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseSpan(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time, a date (2026-01-02) or a span back from now (24h, 7d)", flag, s)
}

// parseSpan reads "90m", "24h" or "7d".
func parseSpan(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad span %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// listOptions are the flags of a listing command: --since, --until,
// --limit, --json.
type listOptions struct {
	since, until *string
	limit        *int
	json         *bool
}

// listFlags adds a listing's flags to cmd.
func listFlags(cmd *cobra.Command) listOptions {
	return listOptions{
		since: cmd.Flags().String("since", "", "only entries at or after this time (RFC 3339, a date, or a span back such as 7d)"),
		until: cmd.Flags().String("until", "", "only entries before this time"),
		limit: cmd.Flags().Int("limit", 50, "at most this many entries (0: all)"),
		json:  cmd.Flags().Bool("json", false, "print JSON"),
	}
}

// window reads --since, --until and --limit.
func (o listOptions) window() (since, until time.Time, limit int, err error) {
	now := time.Now()
	if since, err = parseWhen("since", *o.since, now); err != nil {
		return
	}
	if until, err = parseWhen("until", *o.until, now); err != nil {
		return
	}
	if *o.limit < 0 {
		return since, until, 0, errors.New("--limit must be 0 or more")
	}
	return since, until, *o.limit, nil
}

// policyHistory is `policy history [--role R] [--actor A] [--since T]
// [--until T] [--limit N] [--json]`: the recorded policy changes, newest
// first.
func policyHistory(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "history", Short: "List the recorded policy changes, newest first", Args: cobra.NoArgs}
	role := cmd.Flags().String("role", "", "only changes naming this role")
	actor := cmd.Flags().String("actor", "", "only changes by this actor (a username, cli:<user>, sql, bootstrap)")
	lf := listFlags(cmd)
	opts.withApp(cmd, readOnly, func(cmd *cobra.Command, a *app, _ []string) error {
		f := history.Filter{Role: *role, Actor: *actor}
		var err error
		if f.Since, f.Until, f.Limit, err = lf.window(); err != nil {
			return err
		}
		entries, _, err := a.enforcer.History(cmd.Context(), f)
		if err != nil {
			return err
		}
		if *lf.json {
			return printJSON(cmd.OutOrStdout(), nonNilEntries(entries))
		}
		printEntries(cmd.OutOrStdout(), entries)
		return nil
	})
	return cmd
}

func nonNilEntries(e []history.Entry) []history.Entry {
	if e == nil {
		return []history.Entry{}
	}
	return e
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printEntries prints entries as a table.
func printEntries(w io.Writer, entries []history.Entry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no recorded change")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tTIME\tACTOR\tSOURCE\tROWS\tMESSAGE")
	for _, e := range entries {
		msg := e.Message
		if e.Reverts != 0 && msg == "" {
			msg = fmt.Sprintf("revert to revision %d", e.Reverts)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t+%d -%d\t%s\n", e.Revision, e.Time.UTC().Format(time.RFC3339), e.Actor, e.Source, e.AddedCount, e.RemovedCount, msg)
	}
	tw.Flush()
}

// parseRevision reads a REV argument.
func parseRevision(s string) (int64, error) {
	rev, err := strconv.ParseInt(s, 10, 64)
	if err != nil || rev < 1 {
		return 0, fmt.Errorf("revision %q: want a positive whole number (see `policy history`)", s)
	}
	return rev, nil
}

// policyShow is `policy show REV [--json]`: one recorded change, its rows
// and the decisions it flipped.
func policyShow(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "show REV", Short: "Print one recorded policy change: its rows and the decisions it flipped", Args: cobra.ExactArgs(1)}
	asJSON := cmd.Flags().Bool("json", false, "print JSON")
	opts = opts.withRoutesFile(cmd)
	opts.withApp(cmd, readOnly, func(cmd *cobra.Command, a *app, args []string) error {
		rev, err := parseRevision(args[0])
		if err != nil {
			return err
		}
		entry, err := a.enforcer.HistoryEntry(cmd.Context(), rev)
		if errors.Is(err, history.ErrNotFound) {
			return fmt.Errorf("no recorded change at revision %d (see `policy history`)", rev)
		}
		if err != nil {
			return err
		}
		roles, err := a.store.Roles().Types(cmd.Context())
		if err != nil {
			return err
		}
		flips, err := a.enforcer.Flips(cmd.Context(), entry, roles, opts.catalog())
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if *asJSON {
			return printJSON(w, struct {
				history.Entry
				Changes []policy.Flip `json:"changes"`
			}{entry, flips})
		}
		printEntries(w, []history.Entry{entry})
		fmt.Fprintln(w)
		for _, r := range entry.Added {
			fmt.Fprintln(w, "+ "+strings.Join(r, ", "))
		}
		for _, r := range entry.Removed {
			fmt.Fprintln(w, "- "+strings.Join(r, ", "))
		}
		fmt.Fprintln(w)
		printFlips(w, flips)
		return nil
	})
	return cmd
}

// policyRevert is `policy revert REV [--dry-run] [--message M]`: restore
// the policy as it was at a revision, as a new recorded change.
func policyRevert(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "revert REV", Short: "Restore the policy as it was at a revision (prints the decision changes)", Args: cobra.ExactArgs(1)}
	dry := cmd.Flags().Bool("dry-run", false, "only print what would change")
	message := cmd.Flags().String("message", "", "a note recorded with the change")
	opts = opts.withRoutesFile(cmd)
	opts.withApp(cmd, readWrite, func(cmd *cobra.Command, a *app, args []string) error {
		rev, err := parseRevision(args[0])
		if err != nil {
			return err
		}
		rules, err := a.enforcer.RulesAt(cmd.Context(), rev)
		switch {
		case errors.Is(err, history.ErrNotFound):
			return fmt.Errorf("no recorded change at revision %d (see `policy history`)", rev)
		case errors.Is(err, history.ErrPruned):
			return fmt.Errorf("revision %d is older than the policy history kept", rev)
		case err != nil:
			return err
		}
		if _, err := planFile(cmd, a, opts, fmt.Sprintf("revision %d", rev), rules); err != nil {
			return err
		}
		if *dry {
			fmt.Fprintln(cmd.OutOrStdout(), "dry run: nothing changed")
			return nil
		}
		withMessage(cmd, *message)
		if err := a.enforcer.Revert(cmd.Context(), rev); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "reverted to revision %d (now revision %d)\n", rev, a.enforcer.Revision())
		return nil
	})
	return cmd
}

// planFile checks proposed rules against the stored roles and prints the
// decisions they would flip.
func planFile(cmd *cobra.Command, a *app, opts Options, name string, rules []policy.Rule) ([]policy.Flip, error) {
	roles, err := a.store.Roles().Types(cmd.Context())
	if err != nil {
		return nil, err
	}
	flips, err := a.enforcer.Plan(rules, roles, opts.catalog())
	var le *policy.LineError
	if errors.As(err, &le) {
		return nil, fmt.Errorf("%s:%d: %s", name, le.Line, le.Err)
	}
	if err != nil {
		return nil, err
	}
	printFlips(cmd.OutOrStdout(), flips)
	return flips, nil
}

// policyApply is `policy apply FILE [--expect-revision N] [--message M]`:
// replace the stored policy with a reviewed file, from CI/CD. With
// --expect-revision it refuses (exit 2, listing the changes since) when the
// stored policy moved since the review.
func policyApply(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "apply FILE", Short: "Apply a reviewed policy file (optimistic: --expect-revision refuses a stale one, exit 2)", Args: cobra.ExactArgs(1)}
	expect := cmd.Flags().Int64("expect-revision", -1, "refuse (exit 2) unless the stored policy is at this revision (`policy export` or GET …/policy tell it)")
	message := cmd.Flags().String("message", "", "a note recorded with the change (a commit, a ticket)")
	dry := cmd.Flags().Bool("dry-run", false, "only print what would change")
	opts = opts.withRoutesFile(cmd)
	opts.withApp(cmd, readWrite, func(cmd *cobra.Command, a *app, args []string) error {
		if cmd.Flags().Changed("expect-revision") && *expect < 0 {
			return errors.New("--expect-revision must be 0 or more")
		}
		return replaceFromFile(cmd, a, opts, args[0], *dry, *expect, *message, "applied")
	})
	return cmd
}

// replaceFromFile replaces the stored policy with a CSV file, printing the
// decisions that flip: `policy import` and `policy apply`. With expect >= 0
// a stored policy at another revision is refused with ErrStale, the
// changes since listed on stderr.
func replaceFromFile(cmd *cobra.Command, a *app, opts Options, path string, dry bool, expect int64, message, done string) error {
	rules, err := readPolicyFile(path)
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		return fmt.Errorf("%s holds no rule: an empty policy would deny everything", path)
	}
	if _, err := planFile(cmd, a, opts, path, rules); err != nil {
		return err
	}
	if dry {
		fmt.Fprintln(cmd.OutOrStdout(), "dry run: nothing changed")
		return nil
	}
	withMessage(cmd, message)
	err = a.enforcer.ReplaceIf(cmd.Context(), rules, expect)
	var stale *policy.StaleError
	if errors.As(err, &stale) {
		w := cmd.ErrOrStderr()
		fmt.Fprintf(w, "refused: the file was reviewed against revision %d, the stored policy is at revision %d; changes since:\n", stale.Expected, stale.Current)
		since, herr := a.enforcer.HistoryAfter(cmd.Context(), stale.Expected)
		if herr != nil {
			return herr
		}
		printEntries(w, since)
		return ErrStale
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %d rules (revision %d)\n", done, len(rules), a.enforcer.Revision())
	return nil
}
