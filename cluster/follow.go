package cluster

import (
	"context"
	"sync"

	"github.com/gatehouse/gatehouse/follow"
)

// FollowNotices makes c the notices of follow.Changes (and so of
// guard.Guard.FollowChanges): t's hooks announce this process's changes
// (they only queue: writes never wait for Redis), and Follow,
// FollowSettings and FollowUsers apply the other processes' — Gatehouse's
// notices and Casbin's redis-watcher messages — a policy reload also
// dropping every user from t.Users. It returns once every subscription is
// confirmed; stop (or Close) ends them.
func (c *Cluster) FollowNotices(ctx context.Context, t follow.Targets) (stop func(), err error) {
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	keep := func(stop func(), err error) error {
		if err == nil {
			stops = append(stops, stop)
		}
		return err
	}
	t.Policy.OnChange(c.PolicyChanged)
	err = keep(c.Follow(ctx, t.Policy, t.PolicyReloaded))
	if err == nil && t.Settings != nil {
		t.Settings.OnChange(c.SettingsChanged)
		err = keep(c.FollowSettings(ctx, t.Settings))
	}
	if err == nil && t.Users != nil {
		t.Users.OnUserChange(c.UserChanged)
		err = keep(c.FollowUsers(ctx, t.Users))
	}
	if err != nil {
		stopAll()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(stopAll) }, nil
}
