package history

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Table names.
const (
	entriesTable = "gatehouse_policy_history"
	rolesTable   = "gatehouse_policy_history_roles"
	knownTable   = "gatehouse_policy_known_rows"
	stateTable   = "gatehouse_policy_history_state"
)

// entryRow is one entry as stored: the rows changed are one compressed
// column, so a change of 100,000 rows is still one row here.
type entryRow struct {
	Revision  int64     `gorm:"primaryKey;autoIncrement:false"`
	CreatedAt time.Time `gorm:"not null;index:idx_gatehouse_policy_history_time"`
	UserID    uint      `gorm:"not null;default:0"`
	Actor     string    `gorm:"size:255;not null;index:idx_gatehouse_policy_history_actor,priority:1"`
	Source    string    `gorm:"size:32;not null"`
	Message   string    `gorm:"size:1024;not null;default:''"`
	Reverts   int64     `gorm:"not null;default:0"`
	Added     int       `gorm:"not null"`
	Removed   int       `gorm:"not null"`
	Rows      []byte
}

func (entryRow) TableName() string { return entriesTable }

// roleRow indexes an entry by each role its rows name (the role filter).
type roleRow struct {
	Role     string `gorm:"primaryKey;size:100"`
	Revision int64  `gorm:"primaryKey;autoIncrement:false"`
}

func (roleRow) TableName() string { return rolesTable }

// knownRow is one row of the policy as of the last recorded change.
type knownRow struct {
	ID    uint   `gorm:"primaryKey;autoIncrement"`
	Ptype string `gorm:"size:100;not null;uniqueIndex:idx_gatehouse_policy_known"`
	V0    string `gorm:"size:100;not null;uniqueIndex:idx_gatehouse_policy_known"`
	V1    string `gorm:"size:100;not null;uniqueIndex:idx_gatehouse_policy_known"`
	V2    string `gorm:"size:100;not null;uniqueIndex:idx_gatehouse_policy_known"`
	V3    string `gorm:"size:100;not null;uniqueIndex:idx_gatehouse_policy_known"`
	V4    string `gorm:"size:100;not null;uniqueIndex:idx_gatehouse_policy_known"`
	V5    string `gorm:"size:100;not null;uniqueIndex:idx_gatehouse_policy_known"`
}

func (knownRow) TableName() string { return knownTable }

// stateRow holds the revision at which the known rows equal the policy table.
type stateRow struct {
	ID       int   `gorm:"primaryKey;autoIncrement:false"`
	Revision int64 `gorm:"not null"`
}

func (stateRow) TableName() string { return stateTable }

// Log is the history of the rows of one table (ptype, v0…v5).
type Log struct {
	rules string
}

// New returns the history of the rows table (gorm-adapter's casbin_rule).
func New(rulesTable string) *Log { return &Log{rules: rulesTable} }

// Install creates the history's tables. The first time, the known rows
// become the table's current rows at revision rev (what was there before
// the history has no entry). Run it under the start-up lock.
func (l *Log) Install(db *gorm.DB, rev int64) error {
	if err := db.AutoMigrate(&entryRow{}, &roleRow{}, &knownRow{}, &stateRow{}); err != nil {
		return fmt.Errorf("history: migrate: %w", err)
	}
	return db.Transaction(func(tx *gorm.DB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&stateRow{ID: 1, Revision: rev})
		if res.Error != nil {
			return fmt.Errorf("history: state: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		live, err := l.Live(tx)
		if err != nil {
			return err
		}
		return insertKnown(tx, live)
	})
}

// State returns the revision at which the known rows were last brought up
// to date.
func (l *Log) State(tx *gorm.DB) (int64, error) {
	var rev int64
	if err := tx.Raw(`SELECT revision FROM ` + stateTable + ` WHERE id = 1`).Scan(&rev).Error; err != nil {
		return 0, fmt.Errorf("history: state: %w", err)
	}
	return rev, nil
}

func setState(tx *gorm.DB, rev int64) error {
	if err := tx.Exec(`UPDATE `+stateTable+` SET revision = ? WHERE id = 1`, rev).Error; err != nil {
		return fmt.Errorf("history: state: %w", err)
	}
	return nil
}

// Catch records, as an "sql" entry at revision rev, whatever the policy
// table holds that the known rows lack (a hand edit), unless the known
// rows are already up to date at rev. Run it in a transaction that holds
// the revision's lock, rev being the stored revision; it reports whether it
// recorded an entry.
func (l *Log) Catch(tx *gorm.DB, rev int64, now time.Time) (bool, error) {
	state, err := l.State(tx)
	if err != nil || state == rev {
		return false, err
	}
	added, removed, err := l.Drift(tx)
	if err != nil {
		return false, err
	}
	if len(added)+len(removed) == 0 {
		return false, setState(tx, rev)
	}
	e := Entry{Revision: rev, Time: now, Actor: "sql", Source: SourceSQL, Added: added, Removed: removed}
	inserted, err := insertEntry(tx, e)
	if err != nil || !inserted {
		return false, err // another instance recorded it: it moved the known rows too
	}
	if err := applyKnown(tx, added, removed, nil); err != nil {
		return false, err
	}
	return true, setState(tx, rev)
}

// Drift returns the rows the policy table holds and the known rows lack,
// and those the known rows hold and the table lacks.
func (l *Log) Drift(tx *gorm.DB) (added, removed [][]string, err error) {
	live, err := l.Live(tx)
	if err != nil {
		return nil, nil, err
	}
	var known []knownRow
	if err := tx.Find(&known).Error; err != nil {
		return nil, nil, fmt.Errorf("history: known rows: %w", err)
	}
	knownRows := make([][]string, len(known))
	for i, k := range known {
		knownRows[i] = trim([]string{k.Ptype, k.V0, k.V1, k.V2, k.V3, k.V4, k.V5})
	}
	added, removed = Diff(knownRows, live)
	return added, removed, nil
}

// Record stores the change at revision rev as one entry (nothing when no
// row changed) and brings the known rows up to date. Run it in the
// transaction of the change, after Catch. all, when given, is the whole row
// set after the change (a replace): a large change then rewrites the known
// rows instead of editing them row by row.
func (l *Log) Record(tx *gorm.DB, rev int64, c Change, now time.Time, added, removed, all [][]string) error {
	if len(added)+len(removed) > 0 {
		e := Entry{Revision: rev, Time: now, UserID: c.UserID, Actor: c.Actor, Source: c.Source, Message: c.Message, Reverts: c.Reverts,
			Added: added, Removed: removed}
		inserted, err := insertEntry(tx, e)
		if err != nil {
			return err
		}
		if !inserted {
			return fmt.Errorf("history: revision %d is recorded already", rev)
		}
		if err := applyKnown(tx, added, removed, all); err != nil {
			return err
		}
	}
	return setState(tx, rev)
}

// Live reads the rows table, NULLs as "" and trailing empty values dropped.
func (l *Log) Live(tx *gorm.DB) ([][]string, error) {
	rows, err := tx.Raw(`SELECT ptype, COALESCE(v0, ''), COALESCE(v1, ''), COALESCE(v2, ''), COALESCE(v3, ''), COALESCE(v4, ''), COALESCE(v5, '') FROM ` + l.rules).Rows()
	if err != nil {
		return nil, fmt.Errorf("history: read %s: %w", l.rules, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		r := make([]string, 7)
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]); err != nil {
			return nil, fmt.Errorf("history: read %s: %w", l.rules, err)
		}
		out = append(out, trim(r))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: read %s: %w", l.rules, err)
	}
	return out, nil
}

// trim drops trailing empty values.
func trim(r []string) []string {
	for len(r) > 1 && r[len(r)-1] == "" {
		r = r[:len(r)-1]
	}
	return r
}

// key identifies a row.
func key(r []string) string { return strings.Join(r, "\x00") }

// Diff returns the rows of after missing from before (added) and those of
// before missing from after (removed), each sorted.
func Diff(before, after [][]string) (added, removed [][]string) {
	in := func(rows [][]string) map[string]bool {
		m := make(map[string]bool, len(rows))
		for _, r := range rows {
			m[key(r)] = true
		}
		return m
	}
	b, a := in(before), in(after)
	seen := map[string]bool{}
	for _, r := range after {
		if k := key(r); !b[k] && !seen[k] {
			seen[k] = true
			added = append(added, r)
		}
	}
	for _, r := range before {
		if k := key(r); !a[k] && !seen[k] {
			seen[k] = true
			removed = append(removed, r)
		}
	}
	sortRows(added)
	sortRows(removed)
	return added, removed
}

func sortRows(rows [][]string) {
	slices.SortFunc(rows, func(x, y []string) int { return slices.Compare(x, y) })
}

func known(r []string) knownRow {
	var k knownRow
	fields := []*string{&k.Ptype, &k.V0, &k.V1, &k.V2, &k.V3, &k.V4, &k.V5}
	for i, v := range r {
		if i < len(fields) {
			*fields[i] = v
		}
	}
	return k
}

func insertKnown(tx *gorm.DB, rows [][]string) error {
	if len(rows) == 0 {
		return nil
	}
	out := make([]knownRow, len(rows))
	for i, r := range rows {
		out[i] = known(r)
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(out, 500).Error; err != nil {
		return fmt.Errorf("history: known rows: %w", err)
	}
	return nil
}

// rewriteThreshold is the change size above which a replace rewrites the
// known rows rather than editing them row by row.
const rewriteThreshold = 256

func applyKnown(tx *gorm.DB, added, removed, all [][]string) error {
	if all != nil && len(added)+len(removed) > rewriteThreshold {
		if err := tx.Exec(`DELETE FROM ` + knownTable).Error; err != nil {
			return fmt.Errorf("history: known rows: %w", err)
		}
		return insertKnown(tx, all)
	}
	for _, r := range removed {
		k := known(r)
		err := tx.Exec(`DELETE FROM `+knownTable+` WHERE ptype = ? AND v0 = ? AND v1 = ? AND v2 = ? AND v3 = ? AND v4 = ? AND v5 = ?`,
			k.Ptype, k.V0, k.V1, k.V2, k.V3, k.V4, k.V5).Error
		if err != nil {
			return fmt.Errorf("history: known rows: %w", err)
		}
	}
	return insertKnown(tx, added)
}

// insertEntry stores the entry unless its revision has one already.
func insertEntry(tx *gorm.DB, e Entry) (bool, error) {
	blob, err := encodeRows(e.Added, e.Removed)
	if err != nil {
		return false, err
	}
	row := entryRow{Revision: e.Revision, CreatedAt: e.Time.UTC(), UserID: e.UserID, Actor: clip(e.Actor, 255), Source: e.Source,
		Message: clip(e.Message, 1024), Reverts: e.Reverts, Added: len(e.Added), Removed: len(e.Removed), Rows: blob}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, fmt.Errorf("history: record revision %d: %w", e.Revision, res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	roles := map[string]bool{}
	for _, rows := range [][][]string{e.Added, e.Removed} {
		for _, r := range rows {
			for i := 1; i < len(r) && (i == 1 || (r[0] == "g" && i == 2)); i++ {
				roles[clip(r[i], 100)] = true
			}
		}
	}
	index := make([]roleRow, 0, len(roles))
	for _, role := range slices.Sorted(maps.Keys(roles)) {
		index = append(index, roleRow{Role: role, Revision: e.Revision})
	}
	if len(index) > 0 {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(index, 500).Error; err != nil {
			return false, fmt.Errorf("history: record revision %d: roles: %w", e.Revision, err)
		}
	}
	return true, nil
}

// clip cuts s to at most n runes.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// Filter selects entries in List.
type Filter struct {
	// Actor matches the actor exactly ("" any).
	Actor string
	// Role keeps entries whose rows name the role ("" any).
	Role string
	// Since and Until bound the time (zero: unbounded); Until is exclusive.
	Since, Until time.Time
	// Limit and Offset page the entries, newest first.
	Limit, Offset int
}

const listColumns = "revision, created_at, user_id, actor, source, message, reverts, added, removed"

func (f Filter) apply(q *gorm.DB) *gorm.DB {
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Role != "" {
		q = q.Where("revision IN (?)", q.Session(&gorm.Session{NewDB: true}).Table(rolesTable).Select("revision").Where("role = ?", f.Role))
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", f.Until.UTC())
	}
	return q
}

// List returns a page of entries, newest first, without their rows, and the
// number of entries the filter matches.
func (l *Log) List(ctx context.Context, db *gorm.DB, f Filter) ([]Entry, int64, error) {
	var total int64
	if err := f.apply(db.WithContext(ctx).Model(&entryRow{})).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("history: list: %w", err)
	}
	var rows []entryRow
	q := f.apply(db.WithContext(ctx).Model(&entryRow{})).Select(listColumns).Order("revision DESC")
	if f.Limit > 0 {
		q = q.Limit(f.Limit).Offset(f.Offset)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("history: list: %w", err)
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, total, nil
}

// After returns the entries after revision rev, oldest first, without rows.
func (l *Log) After(ctx context.Context, db *gorm.DB, rev int64) ([]Entry, error) {
	var rows []entryRow
	if err := db.WithContext(ctx).Select(listColumns).Where("revision > ?", rev).Order("revision").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("history: list: %w", err)
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, nil
}

// Get returns the entry at revision rev with its rows (ErrNotFound when none).
func (l *Log) Get(ctx context.Context, db *gorm.DB, rev int64) (Entry, error) {
	var rows []entryRow
	if err := db.WithContext(ctx).Where("revision = ?", rev).Limit(1).Find(&rows).Error; err != nil {
		return Entry{}, fmt.Errorf("history: get %d: %w", rev, err)
	}
	if len(rows) == 0 {
		return Entry{}, ErrNotFound
	}
	e := rows[0].entry()
	var err error
	e.Added, e.Removed, err = decodeRows(rows[0].Rows)
	return e, err
}

func (r entryRow) entry() Entry {
	return Entry{Revision: r.Revision, Time: r.CreatedAt.UTC(), UserID: r.UserID, Actor: r.Actor, Source: r.Source, Message: r.Message,
		Reverts: r.Reverts, AddedCount: r.Added, RemovedCount: r.Removed}
}

// RowsAt rebuilds the rows as of revision rev from the current rows (those
// of revision current, with nothing unrecorded since) by undoing each later
// entry. rev must be a recorded entry, or current itself.
func (l *Log) RowsAt(tx *gorm.DB, rev, current int64, rows [][]string) ([][]string, error) {
	if rev == current {
		return rows, nil
	}
	if rev > current {
		return nil, ErrNotFound
	}
	var n int64
	if err := tx.Model(&entryRow{}).Where("revision = ?", rev).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("history: rows at %d: %w", rev, err)
	}
	if n == 0 {
		var oldest []int64
		if err := tx.Model(&entryRow{}).Order("revision").Limit(1).Pluck("revision", &oldest).Error; err != nil {
			return nil, fmt.Errorf("history: rows at %d: %w", rev, err)
		}
		if len(oldest) == 0 || rev < oldest[0] {
			return nil, ErrPruned
		}
		return nil, ErrNotFound
	}
	var later []entryRow
	if err := tx.Where("revision > ?", rev).Order("revision DESC").Find(&later).Error; err != nil {
		return nil, fmt.Errorf("history: rows at %d: %w", rev, err)
	}
	for _, e := range later {
		added, removed, err := decodeRows(e.Rows)
		if err != nil {
			return nil, err
		}
		rows = Undo(rows, added, removed)
	}
	return rows, nil
}

// Undo returns rows without added and with removed: the rows before a
// change, given those after it. The result is sorted.
func Undo(rows, added, removed [][]string) [][]string {
	set := make(map[string][]string, len(rows))
	for _, r := range rows {
		set[key(r)] = r
	}
	for _, r := range added {
		delete(set, key(r))
	}
	for _, r := range removed {
		set[key(r)] = r
	}
	out := make([][]string, 0, len(set))
	for _, r := range set {
		out = append(out, r)
	}
	sortRows(out)
	return out
}

// Prune deletes the entries recorded before t (retention) and returns how
// many it deleted.
func (l *Log) Prune(ctx context.Context, db *gorm.DB, t time.Time) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		old := tx.Session(&gorm.Session{NewDB: true}).Model(&entryRow{}).Select("revision").Where("created_at < ?", t.UTC())
		if err := tx.Where("revision IN (?)", old).Delete(&roleRow{}).Error; err != nil {
			return err
		}
		res := tx.Where("created_at < ?", t.UTC()).Delete(&entryRow{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("history: prune: %w", err)
	}
	return n, nil
}
