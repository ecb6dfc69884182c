package cluster

import (
	"encoding/json"
	"strings"
)

// DefaultWatcherChannel is the channel of Casbin's redis-watcher
// (github.com/casbin/redis-watcher/v2, its WatcherOptions.Channel default).
const DefaultWatcherChannel = "/casbin"

// watcherUpdate is the Method of redis-watcher's message that asks every
// enforcer to load its whole policy again (persist.Watcher's Update; its
// DefaultUpdateCallback calls Enforcer.LoadPolicy). Gatehouse sends only
// this one: its writes are transactions of several rows (a role and its
// rules), which a whole reload applies exactly and incremental messages
// would not.
const watcherUpdate = "Update"

// watcherOriginPrefix starts the ID of the watcher messages Gatehouse
// publishes. A Gatehouse instance ignores them on the watcher channel: the
// same change reaches it as a notice on its own channel, published with it.
const watcherOriginPrefix = "gatehouse:"

// watcherMessage is redis-watcher's message (its type MSG, v2.6.0 to
// v2.8.0): JSON with Go's field names, every field present. The watcher
// decodes each payload into it and skips its own (ID equal to its LocalID)
// when IgnoreSelf is set.
type watcherMessage struct {
	Method      string
	ID          string
	Sec         string
	Ptype       string
	OldRule     []string
	OldRules    [][]string
	NewRule     []string
	NewRules    [][]string
	FieldIndex  int
	FieldValues []string
}

// watcherPayload is the message announcing a policy change to Casbin
// enforcers that follow the watcher channel: "load your policy again".
func (c *Cluster) watcherPayload() ([]byte, error) {
	return json.Marshal(watcherMessage{Method: watcherUpdate, ID: watcherOriginPrefix + c.origin})
}

// fromCasbin reports whether a payload on the watcher channel is a change
// another Casbin process announced (any Method: Update after SavePolicy,
// UpdateForAddPolicy after AddPolicy, …), so this instance must check its
// revision. Gatehouse's own messages (see watcherOriginPrefix) and what is
// not a watcher message (the "Close" a watcher publishes when it closes)
// are not.
func fromCasbin(payload string) bool {
	var m watcherMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.Method == "" {
		return false
	}
	return !strings.HasPrefix(m.ID, watcherOriginPrefix)
}
