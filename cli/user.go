package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// UserCommand is `user`: manage users.
func UserCommand(opts Options) *cobra.Command {
	return group(&cobra.Command{Use: "user", Short: "Manage users"}, userSetRole(opts))
}

// userSetRole is `user set-role EMAIL ROLE`.
func userSetRole(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "set-role EMAIL ROLE", Short: "Give a user another role", Args: cobra.ExactArgs(2)}
	opts.withApp(cmd, readWrite, func(cmd *cobra.Command, a *app, args []string) error {
		users, err := a.store.Users().ByEmail(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if len(users) == 0 {
			return fmt.Errorf("no user has the email %q", strings.ToLower(args[0]))
		}
		role, err := roleByType(cmd, a, args[1])
		if err != nil {
			return err
		}
		for _, u := range users {
			if err := a.store.Users().Update(cmd.Context(), u.ID, map[string]any{"role_id": role.ID, "updated_at": time.Now().UTC()}); err != nil {
				return err
			}
			a.server.Audit(cmd.Context(), "user.role", fmt.Sprintf("user:%d", u.ID), map[string]any{"role_id": role.ID, "role": role.Type, "changed": []string{"role_id"}})
			fmt.Fprintf(cmd.OutOrStdout(), "%s <%s> (%s) is now %s\n", u.Username, u.Email, u.Provider, role.Type)
		}
		return nil
	})
	return cmd
}
