// Package cli holds Gatehouse's commands (policy, role, user, admin,
// version, health) as cobra commands an app can mount on its own root, so
// that `myapp policy lint|check|test` know the app's routes:
//
//	opts := cli.Options{Catalog: append(handlers.DefaultCatalog(), myRoutes...)}
//	root.AddCommand(cli.PolicyCommand(opts), cli.RoleCommand(opts), cli.UserCommand(opts))
//
// Every command has its own typed flags only; those that open the database
// take --database-url (default $DATABASE_URL), and those that change
// something --redis-url, to tell the running instances. Commands that only
// read (policy export, check, lint and test, role list) never create or
// migrate a database: a DATABASE_URL naming one that does not exist is an
// error naming it.
package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/gatehouse/gatehouse/gateway"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/spf13/cobra"
)

// ErrFailed is a failure the command has already explained on its output (a
// denied check, lint findings, a failed matrix, a diff with differences
// under --exit-code): the process exits 1 and prints nothing more.
var ErrFailed = errors.New("cli: failed")

// ErrStale is a change refused because the stored policy moved since the
// revision the command was told to expect (`policy apply
// --expect-revision`); the command has listed the changes since: the
// process exits 2.
var ErrStale = errors.New("cli: stale revision")

// Options are what the commands need from the app that mounts them.
type Options struct {
	// Catalog is every route the app serves, the policy decides about:
	// lint, check, test, import and diff read it. Nil means Gatehouse's own
	// routes (handlers.DefaultCatalog); an app that serves them beside its
	// own passes append(handlers.DefaultCatalog(), its functions...).
	Catalog policy.Catalog
	// Model is the Casbin model text (default policy.Model).
	Model string
	// LookupEnv reads the environment for the flags' defaults (default
	// os.LookupEnv).
	LookupEnv func(string) (string, bool)

	// functions are the functions of a command's --routes-file
	// (withRoutesFile).
	functions *policy.Catalog
}

// withRoutesFile adds --routes-file (default $ROUTES_FILE) to a command
// that reads the catalogue, and returns the options whose catalog()
// includes that file's functions, loaded (and checked) before the command
// runs.
func (o Options) withRoutesFile(cmd *cobra.Command) Options {
	def, _ := o.lookupEnv()("ROUTES_FILE")
	path := cmd.Flags().String("routes-file", def, "a protected app's functions file, whose functions join the catalogue [$ROUTES_FILE]")
	functions := new(policy.Catalog)
	o.functions = functions
	own := o.ownRoutes()
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if *path == "" {
			return nil
		}
		t, _, err := gateway.LoadChecked(*path, own)
		if err != nil {
			return err
		}
		*functions = t.Catalog()
		return nil
	}
	return o
}

// catalog is Options.Catalog, then the functions of the command's
// --routes-file (withRoutesFile), when it has one.
func (o Options) catalog() policy.Catalog {
	base := o.Catalog
	if base == nil {
		base = handlers.DefaultCatalog()
	}
	if o.functions == nil || len(*o.functions) == 0 {
		return base
	}
	return append(append(policy.Catalog(nil), base...), *o.functions...)
}

// ownRoutes is what a functions file may not overlap: the app's catalogue
// and every route Gatehouse serves.
func (o Options) ownRoutes() policy.Catalog {
	return append(append(policy.Catalog(nil), o.Catalog...), handlers.OwnRoutes()...)
}

func (o Options) model() string {
	if o.Model == "" {
		return policy.Model
	}
	return o.Model
}

func (o Options) lookupEnv() func(string) (string, bool) {
	if o.LookupEnv == nil {
		return os.LookupEnv
	}
	return o.LookupEnv
}

// group makes cmd a command that only holds subcommands: alone it prints
// its help; with an unknown subcommand it fails (exit 1), as cobra does
// only for the root.
func group(cmd *cobra.Command, subcommands ...*cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		cmd.SetOut(cmd.ErrOrStderr())
		_ = cmd.Usage()
		return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	cmd.AddCommand(subcommands...)
	return cmd
}
