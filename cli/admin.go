package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/store"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

// AdminCommand is `admin`: manage admin users.
func AdminCommand(opts Options) *cobra.Command {
	return group(&cobra.Command{Use: "admin", Short: "Manage admin users"}, adminCreate(opts))
}

// adminCreate is `admin create --email E --password P [--username U]`; it
// sets up the database when it is new.
func adminCreate(opts Options) *cobra.Command {
	cmd := &cobra.Command{Use: "create", Short: "Create an admin user", Args: cobra.NoArgs}
	email := cmd.Flags().String("email", "", "email of the admin (required)")
	username := cmd.Flags().String("username", "admin", "username of the admin")
	password := cmd.Flags().String("password", "", "password of the admin (required; 6–72 bytes)")
	load := BindSettings(cmd.Flags(), opts.lookupEnv(), settingVars("DATABASE_URL", "BCRYPT_COST")...)
	_ = cmd.MarkFlagRequired("email")
	_ = cmd.MarkFlagRequired("password")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
		var user store.User
		st, _, err := Open(ctx, cfg.DatabaseURL, storeOptions, opts.model(), log, func(ctx context.Context, st *store.Store) (err error) {
			user, err = CreateAdmin(ctx, st, *email, *username, *password, cfg.BcryptCost)
			return err
		})
		var taken *AdminTakenError
		switch {
		case errors.As(err, &taken) && taken.Field == "email":
			return fmt.Errorf("%w.\n  If that account is yours, make it the admin with: gatehouse user set-role %s admin\n"+
				"  Otherwise delete it, or create the admin under another email", err, taken.User.Email)
		case errors.As(err, &taken):
			return fmt.Errorf("%w.\n  Choose a free username with --username", err)
		case err != nil:
			return err
		}
		defer st.Close()
		summary, _ := json.Marshal(map[string]any{"username": user.Username, "email": user.Email, "role": "admin"})
		if err := st.Audit().Add(ctx, &store.AuditEntry{Actor: cliActor(), Source: history.SourceCLI, Action: "user.create",
			Target: fmt.Sprintf("user:%d", user.ID), Summary: summary}); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: the admin is created, but the audit log did not record it: %v\n", err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created admin %s <%s> (id %d)\n", user.Username, user.Email, user.ID)
		return nil
	}
	return cmd
}

// ErrAdminExists is CreateAdmin's answer when an admin has the email already.
var ErrAdminExists = errors.New("a user with this email already exists")

// AdminTakenError is CreateAdmin's answer when the email or the username of
// the admin to create belongs to an account that is not an admin: someone
// may have registered it first (while registration was open and no admin
// existed), and Gatehouse never promotes an existing account on its own.
type AdminTakenError struct {
	// Field is "email" or "username"; User is the account holding it.
	Field string
	User  store.User
}

// Error names the account holding the email or username.
func (e *AdminTakenError) Error() string {
	role := "none"
	if e.User.Role != nil {
		role = e.User.Role.Type
	}
	return fmt.Sprintf("the %s of the admin to create already belongs to another account (id %d, username %q, email %q, role %s, created %s); "+
		"Gatehouse never promotes or changes an existing account", e.Field, e.User.ID, e.User.Username, e.User.Email, role, e.User.CreatedAt.UTC().Format(time.RFC3339))
}

// AdminFromConfig creates the admin ADMIN_EMAIL and ADMIN_PASSWORD name,
// once (nothing without them). When that email or username belongs to an
// account that is not an admin — registered before this start, perhaps by
// someone else — it refuses the start, naming the account and the
// commands that fix it.
func AdminFromConfig(ctx context.Context, cfg config.Config, st *store.Store, log *slog.Logger) error {
	if cfg.AdminEmail == "" || cfg.AdminPassword == "" {
		return nil
	}
	_, err := CreateAdmin(ctx, st, cfg.AdminEmail, cfg.AdminUsername, cfg.AdminPassword, cfg.BcryptCost)
	email := strings.ToLower(strings.TrimSpace(cfg.AdminEmail))
	var taken *AdminTakenError
	switch {
	case errors.Is(err, ErrAdminExists):
		log.Debug("admin user from ADMIN_EMAIL already exists")
	case errors.As(err, &taken) && taken.Field == "email":
		log.Error("ADMIN_EMAIL: refusing to start: an account that is not an admin already has this email", "email", email, "user", taken.User.ID)
		return fmt.Errorf("ADMIN_EMAIL: refusing to start: %w.\n"+
			"  Check that account. If it is not yours, delete it (DELETE /api/users/%d with an admin token, or in SQL: DELETE FROM up_users WHERE id = %d) and start again.\n"+
			"  If you registered it yourself, make it the admin with: gatehouse user set-role %s admin\n"+
			"  Or create the admin under another email with: gatehouse admin create --email OTHER_EMAIL --username %s --password '…' (then unset ADMIN_EMAIL and ADMIN_PASSWORD)",
			err, taken.User.ID, taken.User.ID, email, usernameOrAdmin(cfg.AdminUsername))
	case errors.As(err, &taken):
		log.Error("ADMIN_USERNAME: refusing to start: another account already has this username", "username", usernameOrAdmin(cfg.AdminUsername), "user", taken.User.ID)
		return fmt.Errorf("ADMIN_EMAIL: refusing to start: %w.\n"+
			"  Set ADMIN_USERNAME to a free username and start again, or create the admin with: gatehouse admin create --email %s --username OTHER_USERNAME --password '…' (then unset ADMIN_EMAIL and ADMIN_PASSWORD)",
			err, email)
	case err != nil:
		return fmt.Errorf("ADMIN_EMAIL: %w", err)
	default:
		log.Info("created the admin user from ADMIN_EMAIL", "email", email)
	}
	return nil
}

// usernameOrAdmin is the admin's username: the one given, else "admin".
func usernameOrAdmin(username string) string {
	if username == "" {
		return "admin"
	}
	return username
}

// CreateAdmin creates a confirmed local user with the admin role. An
// account that already has the email is never changed: ErrAdminExists (and
// that user) when it is an admin, *AdminTakenError otherwise, and when
// another account has the username.
func CreateAdmin(ctx context.Context, st *store.Store, email, username, password string, cost int) (store.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	username = usernameOrAdmin(username)
	switch {
	case !strings.Contains(email, "@") || len(email) < 6:
		return store.User{}, fmt.Errorf("%q is not a valid email", email)
	case len(password) < 6:
		return store.User{}, errors.New("the password must be at least 6 characters")
	case len(password) > 72:
		return store.User{}, errors.New("the password must be at most 72 bytes")
	case len(username) < 3:
		return store.User{}, errors.New("the username must be at least 3 characters")
	}
	existing, err := st.Users().ByEmail(ctx, email)
	if err != nil {
		return store.User{}, err
	}
	for _, u := range existing {
		if u.Role != nil && u.Role.Type == "admin" {
			return u, ErrAdminExists
		}
	}
	if len(existing) > 0 {
		return existing[0], &AdminTakenError{Field: "email", User: existing[0]}
	}
	role, err := st.Roles().ByType(ctx, "admin")
	if err != nil {
		return store.User{}, fmt.Errorf("admin role: %w", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return store.User{}, err
	}
	now := time.Now().UTC()
	user := store.User{DocumentID: store.NewDocumentID(), Username: username, Email: email, Provider: "local",
		Password: string(hash), Confirmed: true, RoleID: &role.ID, PublishedAt: now, TokensValidAfter: now}
	if err := st.Users().Create(ctx, &user); err != nil {
		if errors.Is(err, store.ErrConflict) {
			if holder, ok := usernameHolder(ctx, st, username); ok {
				return store.User{}, &AdminTakenError{Field: "username", User: holder}
			}
			return store.User{}, fmt.Errorf("username %q or email %q is taken", username, email)
		}
		return store.User{}, err
	}
	return user, nil
}

// usernameHolder is the local account with this username, with its role.
func usernameHolder(ctx context.Context, st *store.Store, username string) (store.User, bool) {
	holder, err := st.Users().LocalByUsername(ctx, username)
	if err != nil || holder.Username != username {
		return store.User{}, false
	}
	if withRole, err := st.Users().ByEmail(ctx, holder.Email); err == nil {
		for _, u := range withRole {
			if u.ID == holder.ID {
				return u, true
			}
		}
	}
	return holder, true
}

// Admins counts the users with the admin role.
func Admins(ctx context.Context, st *store.Store) (int64, error) {
	role, err := st.Roles().ByType(ctx, "admin")
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	counts, err := st.Users().CountByRole(ctx)
	if err != nil {
		return 0, err
	}
	return counts[role.ID], nil
}
