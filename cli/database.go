package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/cluster"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/setup"
	"github.com/gatehouse/gatehouse/store"
	"github.com/spf13/cobra"
)

// Open connects to the database, migrates it and fills it when empty (the
// default roles and policy, Strapi's default settings and email templates),
// builds the enforcer over it, then runs then (optional: what else must
// happen once, such as creating the admin or the development JWT secret):
// what `gatehouse serve` and the commands that write do. All of it runs
// under the database's start-up lock (setup.Open), so instances started at
// once come up one after the other instead of racing.
func Open(ctx context.Context, databaseURL string, opts store.Options, model string, log *slog.Logger, then func(ctx context.Context, st *store.Store) error) (*store.Store, *policy.Enforcer, error) {
	return setup.Open(ctx, databaseURL, setup.Options{
		Store: opts,
		Model: model,
		Log:   log,
		Then: func(ctx context.Context, st *store.Store, _ *policy.Enforcer) error {
			if err := st.Settings().PutIfAbsent(ctx, store.KeyEmail, mail.DefaultTemplates()); err != nil {
				return fmt.Errorf("bootstrap: email templates: %w", err)
			}
			if then != nil {
				return then(ctx, st)
			}
			return nil
		},
	})
}

// openExisting opens a database that Gatehouse has set up already, changing
// nothing in it: a SQLite file that does not exist, or a database without
// Gatehouse's tables, is an error naming it.
func openExisting(databaseURL, model, command string) (*store.Store, *policy.Enforcer, error) {
	src, err := store.ParseURL(databaseURL)
	if err != nil {
		return nil, nil, err
	}
	noTables := fmt.Errorf("database %s holds no Gatehouse tables: `%s` only reads and never sets up a database; "+
		"check DATABASE_URL or --database-url (`gatehouse serve` sets up a new one)", redact(databaseURL), command)
	if path := strings.TrimPrefix(src.Path, "file:"); path != "" {
		info, err := os.Stat(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, nil, fmt.Errorf("database file %s does not exist (DATABASE_URL=%s): `%s` only reads and never creates a database; "+
				"check DATABASE_URL or --database-url", path, databaseURL, command)
		case err == nil && info.Size() == 0:
			return nil, nil, noTables // opening it would write SQLite's header
		}
	}
	st, err := store.OpenWith(databaseURL, storeOptions)
	if err != nil {
		return nil, nil, err
	}
	m := st.DB.Migrator()
	if !m.HasTable(&store.Role{}) || !m.HasTable("casbin_rule") {
		st.Close()
		return nil, nil, noTables
	}
	enforcer, err := policy.New(st.DB, model)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, enforcer, nil
}

// storeOptions are the commands': a statement or transaction may take up to
// a minute (importing a large policy is one transaction), not the 2s a
// request may.
var storeOptions = store.Options{Timeout: time.Minute}

// redact hides the password of a database URL.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "sqlite" {
		return u.Redacted()
	}
	return raw
}

// app is what a database command works on: the database, the enforcer and
// a server (for the role logic it shares with the API), never listening.
type app struct {
	opts     Options
	store    *store.Store
	enforcer *policy.Enforcer
	server   *handlers.Server

	// What the command changed, for announce: the policy's new revision
	// (when policyChanged) and the users written.
	policyChanged bool
	revision      int64
	users         []uint
}

// access says whether a command may change the database.
type access int

const (
	readOnly access = iota
	readWrite
)

// withApp gives cmd the flags of the database (and, for a command that
// writes, of Redis), then runs fn on the opened app; a writing command
// announces its changes to the running instances (announce), even when fn
// failed after changing something.
func (o Options) withApp(cmd *cobra.Command, mode access, fn func(cmd *cobra.Command, a *app, args []string) error) {
	envs := []string{"DATABASE_URL"}
	if mode == readWrite {
		envs = append(envs, "REDIS_URL", "REDIS_WATCHER_CHANNEL")
	}
	load := BindSettings(cmd.Flags(), o.lookupEnv(), settingVars(envs...)...)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		a, err := o.open(cmd, cfg, mode)
		if err != nil {
			return err
		}
		defer a.store.Close()
		if mode == readWrite {
			// The policy history names whoever ran the command.
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			cmd.SetContext(history.WithChange(ctx, history.Change{Actor: cliActor(), Source: history.SourceCLI}))
		}
		err = fn(cmd, a, args)
		if mode == readWrite {
			a.announce(cmd.Context(), cfg.RedisURL, cfg.RedisWatcherChannel, cmd.ErrOrStderr())
		}
		return err
	}
}

func (o Options) open(cmd *cobra.Command, cfg config.Config, mode access) (*app, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	var st *store.Store
	var enforcer *policy.Enforcer
	var err error
	if mode == readOnly {
		st, enforcer, err = openExisting(cfg.DatabaseURL, o.model(), cmd.CommandPath())
	} else {
		st, enforcer, err = Open(ctx, cfg.DatabaseURL, storeOptions, o.model(), log, nil)
	}
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
	a := &app{opts: o, store: st, enforcer: enforcer, server: srv}
	// The hooks run on the command's goroutine, once each write is committed.
	enforcer.OnChange(func(revision int64) { a.policyChanged, a.revision = true, revision })
	st.OnUserChange(func(id uint) { a.users = append(a.users, id) })
	return a, nil
}

// announceTimeout bounds reaching Redis and publishing the notices.
const announceTimeout = 3 * time.Second

// announce tells the running instances what the command changed, with the
// notices they send each other: a policy notice makes them reload the
// policy, a user notice drop the user from their cache. It does nothing
// without REDIS_URL or without a change. The change is committed already,
// so a Redis that does not answer only earns a warning: the instances then
// apply it at their periodic policy reload, and see a user written within
// their user cache's 2s lifetime.
func (a *app) announce(ctx context.Context, redisURL, watcherChannel string, stderr io.Writer) {
	if redisURL == "" || (!a.policyChanged && len(a.users) == 0) {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	err := func() error {
		peers, err := cluster.Connect(ctx, redisURL, cluster.Options{WatcherChannel: watcherChannel})
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
