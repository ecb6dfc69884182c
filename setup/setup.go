// Package setup opens Gatehouse's database the way every process that
// shares it must: migrations, the enforcer and the first-start bootstrap
// (default roles and policy) under the database's start-up lock, so that
// Gatehouse servers and embedding apps started at the same moment come up
// one after the other instead of racing. `gatehouse serve` uses it through
// cli.Open; an app that embeds Gatehouse (guard, handlers) calls Open.
package setup

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
)

// Options tunes Open. The zero value opens with Gatehouse's defaults.
type Options struct {
	// Store holds the database deadlines (store.Options; DB_TIMEOUT's
	// defaults when zero).
	Store store.Options
	// Model is the Casbin model text; policy.Model when empty.
	Model string
	// Policy is what a new database's policy starts as; policy.Default()
	// when nil. An app appends its own rows to policy.Default(). It is
	// never applied to a database that has a policy already.
	Policy []policy.Rule
	// Log receives the bootstrap's one line; slog.Default() when nil.
	Log *slog.Logger
	// Then, when set, runs last under the same lock: what else must happen
	// once per start (creating the first admin, a development secret).
	Then func(ctx context.Context, st *store.Store, enforcer *policy.Enforcer) error
}

// Open connects to databaseURL, migrates it, builds the enforcer over it
// and, on a new database, creates the public, authenticated and admin roles
// with opts.Policy, all under store.WithStartupLock. The caller closes the
// store.
func Open(ctx context.Context, databaseURL string, opts Options) (*store.Store, *policy.Enforcer, error) {
	if opts.Model == "" {
		opts.Model = policy.Model
	}
	if opts.Policy == nil {
		opts.Policy = policy.Default()
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	st, err := store.OpenWith(databaseURL, opts.Store)
	if err != nil {
		return nil, nil, err
	}
	var enforcer *policy.Enforcer
	err = st.WithStartupLock(ctx, func(ctx context.Context) error {
		if err := st.Migrate(); err != nil {
			return err
		}
		if enforcer, err = policy.New(st.DB, opts.Model); err != nil {
			return err
		}
		if err := bootstrap(ctx, st, enforcer, opts); err != nil {
			return err
		}
		if opts.Then != nil {
			return opts.Then(ctx, st, enforcer)
		}
		return nil
	})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, enforcer, nil
}

// bootstrap fills an empty database: the default roles and, with them, the
// first policy.
func bootstrap(ctx context.Context, st *store.Store, enforcer *policy.Enforcer, opts Options) error {
	created, err := st.Bootstrap(ctx)
	if err != nil || !created {
		return err
	}
	seeded, err := enforcer.SeedIfEmpty(opts.Policy)
	if err != nil {
		return fmt.Errorf("bootstrap: policy: %w", err)
	}
	if seeded {
		opts.Log.Info("bootstrap: created the public, authenticated and admin roles and the default policy")
	}
	return nil
}
