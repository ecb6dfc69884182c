package policy

import (
	"context"

	"github.com/gatehouse/gatehouse/revision"
	"gorm.io/gorm"
)

// The policy revision is a counter in gatehouse_policy_revision that database
// triggers bump on every change to casbin_rule — Gatehouse's own writes and
// SQL typed by hand alike — so instances reload only when it moved.
var policyRevision = revision.Counter{Name: "gatehouse_policy_revision", Watched: "casbin_rule", Function: "gatehouse_bump_policy_revision"}

// installRevision creates the revision table and the triggers on casbin_rule
// (see revision.Counter.Install).
func installRevision(db *gorm.DB) (triggers bool, err error) { return policyRevision.Install(db) }

// readRevision returns the stored revision.
func readRevision(ctx context.Context, db *gorm.DB) (int64, error) {
	return policyRevision.Read(ctx, db)
}

// bumpRevision increments the revision inside a transaction.
func bumpRevision(tx *gorm.DB) error { return policyRevision.Bump(tx) }

// lockRevision takes the revision's lock in a transaction, without moving
// it, and returns it.
func lockRevision(ctx context.Context, tx *gorm.DB) (int64, error) {
	return policyRevision.Lock(ctx, tx)
}
