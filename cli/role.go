package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/store"
	"github.com/spf13/cobra"
)

// RoleCommand is `role`: list, create and delete roles.
func RoleCommand(opts Options) *cobra.Command {
	return group(&cobra.Command{Use: "role", Short: "List, create and delete roles"},
		roleList(opts), roleCreate(opts), roleDelete(opts))
}

// roleList is `role list`: every role with its user count and inherited roles.
func roleList(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List roles with their user counts", Args: cobra.NoArgs}
	opts.withApp(cmd, readOnly, func(cmd *cobra.Command, a *app, _ []string) error {
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
	return cmd
}

// roleCreate is `role create NAME [--type T] [--description D]`.
func roleCreate(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "create NAME", Short: "Create a role (no permissions yet: grant them in the policy)", Args: cobra.ExactArgs(1)}
	roleType := cmd.Flags().String("type", "", "role type (default: derived from the name)")
	description := cmd.Flags().String("description", "", "description")
	opts.withApp(cmd, readWrite, func(cmd *cobra.Command, a *app, args []string) error {
		role, err := a.server.CreateRole(cmd.Context(), args[0], *roleType, *description)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created role %s (type %s, id %d)\n", role.Name, role.Type, role.ID)
		return nil
	})
	return cmd
}

// roleDelete is `role delete TYPE`: its users move to the default role.
func roleDelete(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "delete TYPE", Short: "Delete a role; its users move to the default role", Args: cobra.ExactArgs(1)}
	opts.withApp(cmd, readWrite, func(cmd *cobra.Command, a *app, args []string) error {
		role, err := roleByType(cmd, a, args[0])
		if err != nil {
			return err
		}
		if err := a.server.DeleteRole(cmd.Context(), role); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted role %s\n", role.Type)
		return nil
	})
	return cmd
}

// roleByType finds a role, with an error naming it when there is none.
func roleByType(cmd *cobra.Command, a *app, roleType string) (store.Role, error) {
	role, err := a.store.Roles().ByType(cmd.Context(), roleType)
	if errors.Is(err, store.ErrNotFound) {
		return role, fmt.Errorf("role %q does not exist", roleType)
	}
	return role, err
}
