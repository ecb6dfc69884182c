package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// The policy revision is a counter in gatehouse_policy_revision that database
// triggers bump on every change to casbin_rule — Gatehouse's own writes and
// SQL typed by hand alike — so instances reload only when it moved.
const revisionTable = "gatehouse_policy_revision"

// installRevision creates the revision table and the triggers on casbin_rule
// for the database's dialect. A database that refuses triggers (for
// instance MySQL without the privilege) logs nothing here: Gatehouse's own
// writes still bump the revision; only hand edits then need a reload call.
func installRevision(db *gorm.DB) (triggers bool, err error) {
	var stmts []string
	switch db.Dialector.Name() {
	case "sqlite":
		stmts = []string{
			`CREATE TABLE IF NOT EXISTS ` + revisionTable + ` (id INTEGER PRIMARY KEY, revision INTEGER NOT NULL)`,
			`INSERT OR IGNORE INTO ` + revisionTable + ` (id, revision) VALUES (1, 1)`,
		}
		for _, ev := range []string{"INSERT", "UPDATE", "DELETE"} {
			stmts = append(stmts, `CREATE TRIGGER IF NOT EXISTS casbin_rule_revision_`+strings.ToLower(ev)+
				` AFTER `+ev+` ON casbin_rule BEGIN UPDATE `+revisionTable+` SET revision = revision + 1 WHERE id = 1; END`)
		}
	case "postgres":
		stmts = []string{
			`CREATE TABLE IF NOT EXISTS ` + revisionTable + ` (id integer PRIMARY KEY, revision bigint NOT NULL)`,
			`INSERT INTO ` + revisionTable + ` (id, revision) VALUES (1, 1) ON CONFLICT DO NOTHING`,
			// The table is named by the schema of the casbin_rule that
			// fired, not looked up in the search_path of whoever edits it.
			`CREATE OR REPLACE FUNCTION gatehouse_bump_policy_revision() RETURNS trigger AS $$
			 BEGIN EXECUTE format('UPDATE %I.` + revisionTable + ` SET revision = revision + 1 WHERE id = 1', TG_TABLE_SCHEMA);
			 RETURN NULL; END $$ LANGUAGE plpgsql`,
			`CREATE OR REPLACE TRIGGER casbin_rule_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON casbin_rule
			 FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_bump_policy_revision()`,
		}
	case "mysql":
		stmts = []string{
			`CREATE TABLE IF NOT EXISTS ` + revisionTable + ` (id INT PRIMARY KEY, revision BIGINT NOT NULL)`,
			`INSERT IGNORE INTO ` + revisionTable + ` (id, revision) VALUES (1, 1)`,
		}
		for _, ev := range []string{"INSERT", "UPDATE", "DELETE"} {
			name := "casbin_rule_revision_" + strings.ToLower(ev)
			var n int64
			if err := db.Raw(`SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?`, name).Scan(&n).Error; err != nil {
				return false, fmt.Errorf("policy: revision triggers: %w", err)
			}
			if n == 0 {
				stmts = append(stmts, `CREATE TRIGGER `+name+` AFTER `+ev+` ON casbin_rule FOR EACH ROW UPDATE `+revisionTable+` SET revision = revision + 1 WHERE id = 1`)
			}
		}
	default:
		return false, fmt.Errorf("policy: dialect %q has no revision support", db.Dialector.Name())
	}
	triggers = true
	for i, stmt := range stmts {
		if err := db.Exec(stmt).Error; err != nil {
			if i < 2 {
				return false, fmt.Errorf("policy: revision table: %w", err)
			}
			triggers = false
		}
	}
	return triggers, nil
}

// readRevision returns the stored revision.
func readRevision(ctx context.Context, db *gorm.DB) (int64, error) {
	var rev int64
	err := db.WithContext(ctx).Raw(`SELECT revision FROM ` + revisionTable + ` WHERE id = 1`).Scan(&rev).Error
	if err != nil {
		return 0, fmt.Errorf("policy: read revision: %w", err)
	}
	return rev, nil
}

// bumpRevision increments the revision inside a transaction (the triggers do
// it too where installed; an extra step is harmless).
func bumpRevision(tx *gorm.DB) error {
	res := tx.Exec(`UPDATE ` + revisionTable + ` SET revision = revision + 1 WHERE id = 1`)
	if res.Error != nil {
		return fmt.Errorf("policy: bump revision: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return errors.New("policy: the revision row is missing")
	}
	return nil
}
