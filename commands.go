package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/cluster"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/spf13/cobra"
)

// errExit is a failure whose message is already printed (a failed matrix,
// lint findings, a denied check): the process only exits 1.
var errExit = errors.New("")

// cliApp is what a CLI command works on: the database, the enforcer and a
// server (for its catalogue and shared role logic), never listening.
type cliApp struct {
	store    *store.Store
	enforcer *policy.Enforcer
	server   *handlers.Server

	// What the command changed, for announce: the policy's new revision
	// (when policyChanged) and the users written.
	policyChanged bool
	revision      int64
	users         []uint
}

// withApp binds the settings flags to cmd and runs fn on an opened app;
// then it announces fn's changes to the running instances (announce), even
// when fn failed after changing something.
func withApp(cmd *cobra.Command, fn func(cmd *cobra.Command, a *cliApp, args []string) error) {
	load := bindConfig(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		a, err := openCLI(cmd.Context(), cfg, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		defer a.store.Close()
		err = fn(cmd, a, args)
		a.announce(cmd.Context(), cfg.RedisURL, cmd.ErrOrStderr())
		return err
	}
}

func openCLI(ctx context.Context, cfg config.Config, stderr io.Writer) (*cliApp, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, enforcer, err := open(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	// The CLI issues no token: a throwaway secret satisfies the server.
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	srv, err := handlers.New(handlers.Config{Store: st, Enforcer: enforcer, Secret: secret, Logger: log})
	if err != nil {
		st.Close()
		return nil, err
	}
	a := &cliApp{store: st, enforcer: enforcer, server: srv}
	// The hooks run on the command's goroutine, once each write is committed.
	enforcer.OnChange(func(revision int64) { a.policyChanged, a.revision = true, revision })
	st.OnUserChange(func(id uint) { a.users = append(a.users, id) })
	return a, nil
}

// cliAnnounceTimeout bounds reaching Redis and publishing the notices.
const cliAnnounceTimeout = 3 * time.Second

// announce tells the running instances what the command changed, with the
// notices they send each other: a policy notice makes them reload the
// policy, a user notice drop the user from their cache. It does nothing
// without REDIS_URL or without a change. The change is committed already,
// so a Redis that does not answer only earns a warning: the instances then
// apply it at their periodic policy reload, and see a user written within
// their user cache's 2s lifetime.
func (a *cliApp) announce(ctx context.Context, redisURL string, stderr io.Writer) {
	if redisURL == "" || (!a.policyChanged && len(a.users) == 0) {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cliAnnounceTimeout)
	defer cancel()
	err := func() error {
		peers, err := cluster.Connect(ctx, redisURL, cluster.Options{})
		if err != nil {
			return err
		}
		defer peers.Close()
		if a.policyChanged {
			if err := peers.AnnouncePolicy(ctx, a.revision); err != nil {
				return err
			}
		}
		for _, id := range a.users {
			if err := peers.AnnounceUser(ctx, id); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		fmt.Fprintf(stderr, "warning: the change is saved, but the running instances could not be told through Redis (%v);\n"+
			"  they apply it at their next periodic policy reload (POLICY_RELOAD_INTERVAL; if that is 0, restart them),\n"+
			"  and see a changed user within 2s\n", err)
	}
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

func policyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Export, import, check, diff, lint and test the policy"}

	export := &cobra.Command{Use: "export", Short: "Write the stored policy as CSV", Args: cobra.NoArgs}
	out := export.Flags().StringP("output", "o", "", "file to write (default: standard output)")
	withApp(export, func(cmd *cobra.Command, a *cliApp, _ []string) error {
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

	imp := &cobra.Command{Use: "import FILE", Short: "Replace the stored policy with a CSV file (prints the decision changes)", Args: cobra.ExactArgs(1)}
	dry := imp.Flags().Bool("dry-run", false, "only print what would change")
	withApp(imp, func(cmd *cobra.Command, a *cliApp, args []string) error {
		rules, err := readPolicyFile(args[0])
		if err != nil {
			return err
		}
		if len(rules) == 0 {
			return fmt.Errorf("%s holds no rule: an empty policy would deny everything", args[0])
		}
		roles, err := a.store.Roles().Types(cmd.Context())
		if err != nil {
			return err
		}
		flips, err := a.enforcer.Plan(rules, roles, a.server.Catalog())
		var le *policy.LineError
		if errors.As(err, &le) {
			return fmt.Errorf("%s:%d: %s", args[0], le.Line, le.Err)
		}
		if err != nil {
			return err
		}
		printFlips(cmd.OutOrStdout(), flips)
		if *dry {
			fmt.Fprintln(cmd.OutOrStdout(), "dry run: nothing changed")
			return nil
		}
		if err := a.enforcer.Replace(cmd.Context(), rules); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "imported %d rules (revision %d)\n", len(rules), a.enforcer.Revision())
		return nil
	})

	check := &cobra.Command{Use: "check ROLE METHOD PATH", Short: "Explain a decision (exit 1 when denied)", Args: cobra.ExactArgs(3)}
	withApp(check, func(cmd *cobra.Command, a *cliApp, args []string) error {
		method := strings.ToUpper(args[1])
		fn, ok := a.server.Catalog().Lookup(method, args[2])
		if !ok {
			return fmt.Errorf("no route matches %s %s", method, args[2])
		}
		ex, err := a.enforcer.Explain(args[0], fn.Route, method)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "%s %s %s → %s\n", args[0], method, args[2], map[bool]string{true: "allow", false: "deny"}[ex.Allowed])
		fmt.Fprintf(w, "  route:     %s (%s)\n  roles:     %s\n", fn.Route, fn.Name, strings.Join(ex.RoleChain, " → "))
		if ex.Allowed {
			fmt.Fprintf(w, "  rule:      %s\n", ex.MatchedRule)
			return nil
		}
		fmt.Fprintf(w, "  allow it:  %s\n", ex.Suggestion)
		return errExit
	})

	diff := &cobra.Command{Use: "diff OLD.csv NEW.csv", Short: "Print the decisions that differ between two policy files", Args: cobra.ExactArgs(2)}
	diff.RunE = func(cmd *cobra.Command, args []string) error {
		var enforcers [2]*policy.Enforcer
		for i, path := range args {
			rules, err := readPolicyFile(path)
			if err != nil {
				return err
			}
			if enforcers[i], err = policy.NewFromRules(modelText, rules); err != nil {
				return err
			}
		}
		flips, err := policy.DecisionDiff(enforcers[0], enforcers[1], []string{handlers.PublicRole}, handlers.DefaultCatalog())
		if err != nil {
			return err
		}
		printFlips(cmd.OutOrStdout(), flips)
		return nil
	}

	lint := &cobra.Command{Use: "lint", Short: "Find unreachable routes, public writes, dead and shadowed rules, cycles", Args: cobra.NoArgs}
	lintFile := lint.Flags().String("policy", "", "lint this CSV file instead of the stored policy")
	withApp(lint, func(cmd *cobra.Command, a *cliApp, _ []string) error {
		rules, err := rulesFrom(a, *lintFile)
		if err != nil {
			return err
		}
		roles, err := a.store.Roles().Types(cmd.Context())
		if err != nil {
			return err
		}
		findings, err := policy.Lint(rules, a.server.Catalog(), roles)
		if err != nil {
			return err
		}
		for _, f := range findings {
			fmt.Fprintln(cmd.OutOrStdout(), f)
		}
		if len(findings) > 0 {
			fmt.Fprintf(cmd.OutOrStdout(), "%d finding(s)\n", len(findings))
			return errExit
		}
		fmt.Fprintln(cmd.OutOrStdout(), "no findings")
		return nil
	})

	test := &cobra.Command{Use: "test MATRIX", Short: "Check a permission matrix (role,method,path,expect); exit 1 on any mismatch", Args: cobra.ExactArgs(1)}
	junit := test.Flags().String("junit", "", "also write JUnit XML to this file")
	testFile := test.Flags().String("policy", "", "test this CSV policy file instead of the stored policy")
	withApp(test, func(cmd *cobra.Command, a *cliApp, args []string) error {
		raw, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		rows, err := policy.ParseMatrix(string(raw))
		var le *policy.LineError
		if errors.As(err, &le) {
			return fmt.Errorf("%s:%d: %s", args[0], le.Line, le.Err)
		}
		if err != nil {
			return err
		}
		e := a.enforcer
		if *testFile != "" {
			rules, err := readPolicyFile(*testFile)
			if err != nil {
				return err
			}
			if e, err = policy.NewFromRules(modelText, rules); err != nil {
				return err
			}
		}
		start := time.Now()
		results := policy.RunMatrix(e, a.server.Catalog(), rows)
		w := cmd.OutOrStdout()
		passed, failed := policy.Summary(results)
		if failed > 0 {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LINE\tROLE\tMETHOD\tPATH\tWANT\tPROBLEM")
			for _, r := range results {
				if !r.Passed() {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Row.Line, r.Row.Role, r.Row.Method, r.Row.Path,
						map[bool]string{true: "allow", false: "deny"}[r.Row.Allow], r.Problem)
				}
			}
			tw.Flush()
		}
		if *junit != "" {
			f, err := os.Create(*junit)
			if err != nil {
				return err
			}
			if err := policy.WriteJUnit(f, "gatehouse.policy", results, time.Since(start)); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
		if failed > 0 {
			return errExit
		}
		return nil
	})

	cmd.AddCommand(export, imp, check, diff, lint, test)
	return cmd
}

// rulesFrom reads a CSV file, or the stored policy when path is "".
func rulesFrom(a *cliApp, path string) ([]policy.Rule, error) {
	if path != "" {
		return readPolicyFile(path)
	}
	return a.enforcer.Rules()
}

func roleCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "role", Short: "List, create and delete roles"}
	list := &cobra.Command{Use: "list", Short: "List roles with their user counts", Args: cobra.NoArgs}
	withApp(list, func(cmd *cobra.Command, a *cliApp, _ []string) error {
		roles, err := a.store.Roles().List(cmd.Context())
		if err != nil {
			return err
		}
		counts, err := a.store.Users().CountByRole(cmd.Context())
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tNAME\tUSERS\tINHERITS")
		for _, r := range roles {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", r.ID, r.Type, r.Name, counts[r.ID], strings.Join(a.enforcer.RoleChain(r.Type)[1:], ", "))
		}
		return tw.Flush()
	})
	create := &cobra.Command{Use: "create NAME", Short: "Create a role (no permissions yet: grant them in the policy)", Args: cobra.ExactArgs(1)}
	roleType := create.Flags().String("type", "", "role type (default: derived from the name)")
	description := create.Flags().String("description", "", "description")
	withApp(create, func(cmd *cobra.Command, a *cliApp, args []string) error {
		role, err := a.server.CreateRole(cmd.Context(), args[0], *roleType, *description)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created role %s (type %s, id %d)\n", role.Name, role.Type, role.ID)
		return nil
	})
	del := &cobra.Command{Use: "delete TYPE", Short: "Delete a role; its users move to the default role", Args: cobra.ExactArgs(1)}
	withApp(del, func(cmd *cobra.Command, a *cliApp, args []string) error {
		role, err := a.store.Roles().ByType(cmd.Context(), args[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("role %q does not exist", args[0])
		}
		if err != nil {
			return err
		}
		if err := a.server.DeleteRole(cmd.Context(), role); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted role %s\n", role.Type)
		return nil
	})
	cmd.AddCommand(list, create, del)
	return cmd
}

func userCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	setRole := &cobra.Command{Use: "set-role EMAIL ROLE", Short: "Give a user another role", Args: cobra.ExactArgs(2)}
	withApp(setRole, func(cmd *cobra.Command, a *cliApp, args []string) error {
		users, err := a.store.Users().ByEmail(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if len(users) == 0 {
			return fmt.Errorf("no user has the email %q", strings.ToLower(args[0]))
		}
		role, err := a.store.Roles().ByType(cmd.Context(), args[1])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("role %q does not exist", args[1])
		}
		if err != nil {
			return err
		}
		for _, u := range users {
			if err := a.store.Users().Update(cmd.Context(), u.ID, map[string]any{"role_id": role.ID, "updated_at": time.Now().UTC()}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s <%s> (%s) is now %s\n", u.Username, u.Email, u.Provider, role.Type)
		}
		return nil
	})
	cmd.AddCommand(setRole)
	return cmd
}
