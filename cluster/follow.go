package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Policy is the policy a process follows: *policy.Enforcer.
type Policy interface {
	Reloader
	// OnChange sets the hook told the revision of each change made here.
	OnChange(hook func(revision int64))
}

// Settings are the settings a process follows: *store.Settings.
type Settings interface {
	Reloader
	// OnChange sets the hook told the revision of each change made here.
	OnChange(hook func(revision int64))
}

// Users is the user cache a process keeps current: *store.Store.
type Users interface {
	UserCache
	// OnUserChange sets the hook told each user written here.
	OnUserChange(hook func(id uint))
}

// Followed is what FollowChanges keeps current. With store.Store st and
// policy.Enforcer e: Followed{Policy: e, Settings: st.Settings(), Users: st}.
type Followed struct {
	// Policy is required.
	Policy Policy
	// Settings and Users are optional (a process that does not use the
	// store's settings or users leaves them nil).
	Settings Settings
	Users    Users
	// Every is the period of the revision check, which bounds staleness
	// when a notice is lost, Redis is absent, or SQL was typed by hand;
	// 0 turns it off (POLICY_RELOAD_INTERVAL; 10s in the server).
	Every time.Duration
	// Logger receives reloads (info) and failures (warn); discarded when
	// nil.
	Logger *slog.Logger
}

// FollowChanges keeps a process that shares the database with Gatehouse —
// the server, or an app embedding its packages — current with the policy,
// settings and users that other processes change, in one call:
//
//   - every f.Every, the policy and settings revisions stored in the
//     database are read, and what moved is reloaded (SQL typed by hand
//     included, through the revision triggers);
//   - with peers (nil without Redis), this process's changes are announced
//     (f's OnChange hooks are set: they only queue, writes never wait for
//     Redis), and the other processes' notices — Gatehouse's own, and
//     Casbin's redis-watcher messages from plain Casbin enforcers — reload
//     at once.
//
// A policy reload also drops the whole user cache (role changes come with
// policy changes). It returns once the subscriptions are confirmed; it
// runs until ctx is done or stop is called (stop waits for the loops).
// peers.Close also ends the notice side.
func FollowChanges(ctx context.Context, peers *Cluster, f Followed) (stop func(), err error) {
	if f.Policy == nil {
		return nil, errors.New("cluster: FollowChanges needs Followed.Policy")
	}
	log := f.Logger
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
	policyReloaded := func(int64, int64) {
		if f.Users != nil {
			f.Users.InvalidateCache()
		}
	}
	if peers != nil {
		if err := peers.followAll(ctx, f, policyReloaded, &stops); err != nil {
			stopAll()
			return nil, err
		}
	}
	if f.Every > 0 {
		var wg sync.WaitGroup
		wg.Go(func() { checkPeriodically(ctx, "policy", f.Policy, f.Every, log, policyReloaded) })
		if f.Settings != nil {
			wg.Go(func() { checkPeriodically(ctx, "settings", f.Settings, f.Every, log, nil) })
		}
		stops = append(stops, wg.Wait)
	}
	var once sync.Once
	return func() { once.Do(stopAll) }, nil
}

// followAll sets f's hooks to announce this process's changes on Redis and
// follows the other processes', adding each follower's stop to stops.
func (c *Cluster) followAll(ctx context.Context, f Followed, policyReloaded func(from, to int64), stops *[]func()) error {
	keep := func(stop func(), err error) error {
		if err == nil {
			*stops = append(*stops, stop)
		}
		return err
	}
	f.Policy.OnChange(c.PolicyChanged)
	if err := keep(c.Follow(ctx, f.Policy, policyReloaded)); err != nil {
		return err
	}
	if f.Settings != nil {
		f.Settings.OnChange(c.SettingsChanged)
		if err := keep(c.FollowSettings(ctx, f.Settings)); err != nil {
			return err
		}
	}
	if f.Users != nil {
		f.Users.OnUserChange(c.UserChanged)
		if err := keep(c.FollowUsers(ctx, f.Users)); err != nil {
			return err
		}
	}
	return nil
}

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
