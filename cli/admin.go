package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

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
		st, _, err := Open(ctx, cfg.DatabaseURL, storeOptions, opts.model(), log)
		if err != nil {
			return err
		}
		defer st.Close()
		user, err := CreateAdmin(ctx, st, *email, *username, *password, cfg.BcryptCost)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created admin %s <%s> (id %d)\n", user.Username, user.Email, user.ID)
		return nil
	}
	return cmd
}

// ErrAdminExists is CreateAdmin's answer when a user has the email already.
var ErrAdminExists = errors.New("a user with this email already exists")

// CreateAdmin creates a confirmed local user with the admin role; with an
// email taken it returns that user and ErrAdminExists.
func CreateAdmin(ctx context.Context, st *store.Store, email, username, password string, cost int) (store.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if username == "" {
		username = "admin"
	}
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
	if existing, err := st.Users().ByEmail(ctx, email); err != nil {
		return store.User{}, err
	} else if len(existing) > 0 {
		return existing[0], ErrAdminExists
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
			return store.User{}, fmt.Errorf("username %q or email %q is taken", username, email)
		}
		return store.User{}, err
	}
	return user, nil
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
