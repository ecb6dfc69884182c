package cluster

import "context"

// SettingsChanged announces that this instance changed the settings to
// revision. It is the hook to give store.Settings.OnChange; see
// PolicyChanged for what a failure does (the other instances catch up at
// their periodic check).
func (c *Cluster) SettingsChanged(revision int64) {
	c.announce(notice{Origin: c.origin, Settings: revision}, "settings")
}

// AnnounceSettings publishes that the settings changed to revision, for a
// caller that reports the failure itself (the CLI).
func (c *Cluster) AnnounceSettings(ctx context.Context, revision int64) error {
	return c.publish(ctx, notice{Origin: c.origin, Settings: revision})
}

// FollowSettings subscribes to the notice channel and returns once the
// subscription is confirmed. From then on every settings notice from
// another instance, and every re-subscription after a lost connection,
// makes r (*store.Settings) drop its cache if the stored settings revision
// moved. It runs until ctx is done, stop is called or the Cluster is closed.
func (c *Cluster) FollowSettings(ctx context.Context, r Reloader) (stop func(), err error) {
	return c.follow(ctx, "settings", func(n notice) bool { return n.Settings != 0 }, r, nil)
}
