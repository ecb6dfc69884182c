// Package revision keeps a change counter for a database table: a one-row
// table whose counter database triggers bump on every change to the watched
// table — Gatehouse's own writes and SQL typed by hand alike — so that every
// instance over the database can tell, with one small query, whether what it
// loaded is still current. The policy (casbin_rule) and the settings
// (gatehouse_settings) each have one.
//
// The package knows GORM and the three dialects' trigger syntax, nothing
// about what the watched table holds.
package revision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// Counter names a revision counter: the table Name holds it and the
// triggers on Watched bump it.
type Counter struct {
	// Name is the counter's table, for instance "gatehouse_policy_revision".
	Name string
	// Watched is the table whose changes move it, for instance "casbin_rule".
	Watched string
	// Function is the PostgreSQL trigger function's name.
	Function string
}

// Install creates the counter's table (at revision 1) and the triggers on
// the watched table for the database's dialect. A database that refuses
// triggers (for instance MySQL without the privilege) is not an error:
// triggers is then false, Gatehouse's own writes still bump the counter
// (Bump), and only hand edits go unseen.
func (c Counter) Install(db *gorm.DB) (triggers bool, err error) {
	var stmts []string
	switch db.Dialector.Name() {
	case "sqlite":
		stmts = []string{
			`CREATE TABLE IF NOT EXISTS ` + c.Name + ` (id INTEGER PRIMARY KEY, revision INTEGER NOT NULL)`,
			`INSERT OR IGNORE INTO ` + c.Name + ` (id, revision) VALUES (1, 1)`,
		}
		for _, ev := range []string{"INSERT", "UPDATE", "DELETE"} {
			stmts = append(stmts, `CREATE TRIGGER IF NOT EXISTS `+c.Watched+`_revision_`+strings.ToLower(ev)+
				` AFTER `+ev+` ON `+c.Watched+` BEGIN UPDATE `+c.Name+` SET revision = revision + 1 WHERE id = 1; END`)
		}
	case "postgres":
		stmts = []string{
			`CREATE TABLE IF NOT EXISTS ` + c.Name + ` (id integer PRIMARY KEY, revision bigint NOT NULL)`,
			`INSERT INTO ` + c.Name + ` (id, revision) VALUES (1, 1) ON CONFLICT DO NOTHING`,
			// The table is named by the schema of the watched table that
			// fired, not looked up in the search_path of whoever edits it.
			`CREATE OR REPLACE FUNCTION ` + c.Function + `() RETURNS trigger AS $$
			 BEGIN EXECUTE format('UPDATE %I.` + c.Name + ` SET revision = revision + 1 WHERE id = 1', TG_TABLE_SCHEMA);
			 RETURN NULL; END $$ LANGUAGE plpgsql`,
			`CREATE OR REPLACE TRIGGER ` + c.Watched + `_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ` + c.Watched + `
			 FOR EACH STATEMENT EXECUTE FUNCTION ` + c.Function + `()`,
		}
	case "mysql":
		stmts = []string{
			`CREATE TABLE IF NOT EXISTS ` + c.Name + ` (id INT PRIMARY KEY, revision BIGINT NOT NULL)`,
			`INSERT IGNORE INTO ` + c.Name + ` (id, revision) VALUES (1, 1)`,
		}
		for _, ev := range []string{"INSERT", "UPDATE", "DELETE"} {
			name := c.Watched + "_revision_" + strings.ToLower(ev)
			var n int64
			if err := db.Raw(`SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?`, name).Scan(&n).Error; err != nil {
				return false, fmt.Errorf("revision: %s triggers: %w", c.Name, err)
			}
			if n == 0 {
				stmts = append(stmts, `CREATE TRIGGER `+name+` AFTER `+ev+` ON `+c.Watched+` FOR EACH ROW UPDATE `+c.Name+` SET revision = revision + 1 WHERE id = 1`)
			}
		}
	default:
		return false, fmt.Errorf("revision: dialect %q has no revision support", db.Dialector.Name())
	}
	triggers = true
	for i, stmt := range stmts {
		if err := db.Exec(stmt).Error; err != nil {
			if i < 2 {
				return false, fmt.Errorf("revision: %s table: %w", c.Name, err)
			}
			triggers = false
		}
	}
	return triggers, nil
}

// Read returns the stored revision.
func (c Counter) Read(ctx context.Context, db *gorm.DB) (int64, error) {
	var rev int64
	err := db.WithContext(ctx).Raw(`SELECT revision FROM ` + c.Name + ` WHERE id = 1`).Scan(&rev).Error
	if err != nil {
		return 0, fmt.Errorf("revision: read %s: %w", c.Name, err)
	}
	return rev, nil
}

// BumpFrom increments the revision if it is from, and reports whether it
// did (false: the revision is another one, and was left alone). Run it in
// the transaction of the change: like Bump, it takes the row's lock when it
// moves it. It is one statement where Bump and Read are two.
func (c Counter) BumpFrom(tx *gorm.DB, from int64) (bool, error) {
	res := tx.Exec(`UPDATE `+c.Name+` SET revision = revision + 1 WHERE id = 1 AND revision = ?`, from)
	if res.Error != nil {
		return false, fmt.Errorf("revision: bump %s: %w", c.Name, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// Bump increments the revision; run it in the transaction of the change (the
// triggers do it too where installed; an extra step is harmless).
func (c Counter) Bump(tx *gorm.DB) error {
	res := tx.Exec(`UPDATE ` + c.Name + ` SET revision = revision + 1 WHERE id = 1`)
	if res.Error != nil {
		return fmt.Errorf("revision: bump %s: %w", c.Name, res.Error)
	}
	if res.RowsAffected == 0 {
		return errors.New("revision: the row of " + c.Name + " is missing")
	}
	return nil
}

// Lock takes the counter's row lock for the rest of the transaction
// without moving it (a no-op update; on SQLite the database's write lock),
// so that no change to the watched table by Gatehouse commits meanwhile,
// and returns the stored revision.
func (c Counter) Lock(ctx context.Context, tx *gorm.DB) (int64, error) {
	if err := tx.Exec(`UPDATE ` + c.Name + ` SET revision = revision WHERE id = 1`).Error; err != nil {
		return 0, fmt.Errorf("revision: lock %s: %w", c.Name, err)
	}
	return c.Read(ctx, tx)
}
