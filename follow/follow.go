// Package follow keeps a process that shares Gatehouse's database — the
// server, or an app embedding its packages — current with the policy,
// settings and users other processes change: a periodic check of the
// revisions stored in the database, and, when given, notices between
// processes (*cluster.Cluster, over Redis).
//
// It imports nothing but the standard library, so an app that follows
// changes without Redis links no Redis client. Most apps call
// guard.Guard.FollowChanges or handlers.Server.FollowChanges, which name the
// targets themselves.
package follow

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Reloader reloads what it caches when the revision stored in the database
// moved: *policy.Enforcer, *store.Settings. It is idempotent: a duplicate,
// late or forged notice costs one small query.
type Reloader interface {
	ReloadIfChanged(ctx context.Context) (before, after int64, err error)
}

// Revisioned is a Reloader whose own changes can be announced:
// *policy.Enforcer, *store.Settings.
type Revisioned interface {
	Reloader
	// OnChange sets the hook told the revision of each change made here.
	OnChange(hook func(revision int64))
}

// Users is a cache of users kept current: *store.Store.
type Users interface {
	// InvalidateUser drops one user.
	InvalidateUser(id uint)
	// InvalidateCache drops every user.
	InvalidateCache()
	// OnUserChange sets the hook told each user written here.
	OnUserChange(hook func(id uint))
}

// Targets are what a process keeps current. With store.Store st and
// policy.Enforcer e: Targets{Policy: e, Settings: st.Settings(), Users: st}.
type Targets struct {
	// Policy is required.
	Policy Revisioned
	// Settings and Users are optional.
	Settings Revisioned
	Users    Users
}

// Notices carries change notices between processes: *cluster.Cluster.
type Notices interface {
	// FollowNotices sets t's hooks so that this process's changes are
	// announced, and makes the other processes' notices reload t (a policy
	// reload also drops every user from t.Users). It returns once it
	// listens, and runs until ctx is done or stop is called.
	FollowNotices(ctx context.Context, t Targets) (stop func(), err error)
}

// Options tune Changes.
type Options struct {
	// Every is the period of the revision check, which bounds staleness
	// when a notice is lost, there are no notices, or SQL was typed by hand
	// (through the revision triggers); 0 turns it off. Gatehouse's server
	// uses POLICY_RELOAD_INTERVAL, 10s by default.
	Every time.Duration
	// Notices, when set, announces this process's changes and applies the
	// other processes' at once.
	Notices Notices
	// Logger receives reloads (info) and failures (warn); discarded when
	// nil.
	Logger *slog.Logger
}

// Changes keeps t current until ctx is done or stop is called (stop waits
// for its goroutines): every o.Every the stored revisions are read and what
// moved is reloaded; with o.Notices, changes are also announced and applied
// at once. A policy reload drops the whole user cache, since role changes
// come with policy changes. It returns once the notices are followed.
func Changes(ctx context.Context, t Targets, o Options) (stop func(), err error) {
	if t.Policy == nil {
		return nil, errors.New("follow: Targets.Policy is required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	var stops []func()
	stopAll := func() {
		cancel()
		for _, s := range stops {
			s()
		}
	}
	if o.Notices != nil {
		s, err := o.Notices.FollowNotices(ctx, t)
		if err != nil {
			cancel()
			return nil, err
		}
		stops = append(stops, s)
	}
	if o.Every > 0 {
		var wg sync.WaitGroup
		wg.Go(func() { checkPeriodically(ctx, "policy", t.Policy, o.Every, log, t.PolicyReloaded) })
		if t.Settings != nil {
			wg.Go(func() { checkPeriodically(ctx, "settings", t.Settings, o.Every, log, nil) })
		}
		stops = append(stops, wg.Wait)
	}
	var once sync.Once
	return func() { once.Do(stopAll) }, nil
}

// PolicyReloaded is what follows a policy reload: every user is dropped
// from t.Users (a role change comes with a policy change).
func (t Targets) PolicyReloaded(from, to int64) {
	if t.Users != nil {
		t.Users.InvalidateCache()
	}
}

// reloadTimeout bounds one periodic reload.
const reloadTimeout = 30 * time.Second

// checkPeriodically reloads r whenever its stored revision moved, every
// interval until ctx is done. Each Reloader has a loop of its own, so a
// long policy reload never delays the settings check.
func checkPeriodically(ctx context.Context, what string, r Reloader, every time.Duration, log *slog.Logger, reloaded func(from, to int64)) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		rctx, cancel := context.WithTimeout(ctx, reloadTimeout)
		before, after, err := r.ReloadIfChanged(rctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn(what+" reload failed", "err", err)
		case err == nil && before != after:
			log.Info(what+" revision changed: reloaded", "from", before, "to", after)
			if reloaded != nil {
				reloaded(before, after)
			}
		}
	}
}
