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
	knownTable   = "gatehouse_policy_known_rows"
	stateTable   = "gatehouse_policy_history_state"
)

// entryRow is one entry as stored: the rows changed are one column, so a
// change of 100,000 rows is still one row here. Roles lists the roles the
// rows name as ",a,b," (the role filter).
type entryRow struct {
	Revision  int64     `gorm:"primaryKey;autoIncrement:false"`
	CreatedAt time.Time `gorm:"not null;index:idx_gatehouse_policy_history_time"`
	UserID    uint      `gorm:"not null;default:0"`
	Actor     string    `gorm:"size:255;not null"`
	Source    string    `gorm:"size:32;not null"`
	Message   string    `gorm:"size:1024;not null;default:''"`
	Reverts   int64     `gorm:"not null;default:0"`
	Added     int       `gorm:"not null"`
	Removed   int       `gorm:"not null"`
	Roles     string    `gorm:"type:text"`
	// Data holds the rows: CSV records "+"/"-" then the row, gzip'd when large.
	Data []byte
}

func (entryRow) TableName() string { return entriesTable }

// knownRow is one row of the policy as of the state's Known revision.
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

// stateRow is the history's bookkeeping. Revision is a revision known to
// be accounted for (set by changes that record no entry); every revision
// that has an entry is too. Known is the revision of the known rows: the
// rows as of any accounted revision are the known rows with the entries
// after Known replayed.
type stateRow struct {
	ID       int   `gorm:"primaryKey;autoIncrement:false"`
	Revision int64 `gorm:"not null"`
	Known    int64 `gorm:"not null;default:0"`
}

func (stateRow) TableName() string { return stateTable }

// Log is the history of the rows of one table (ptype, v0…v5), whose
// changes move a revision counter.
type Log struct {
	rules, revision string
}

// New returns the history of the rows table (gorm-adapter's casbin_rule)
// whose revision is the one row (id 1, column revision) of revisionTable.
func New(rulesTable, revisionTable string) *Log {
	return &Log{rules: rulesTable, revision: revisionTable}
}

// Install creates the history's tables. The first time, the known rows
// become the table's current rows at revision rev (what was there before
// the history has no entry). Run it under the start-up lock.
func (l *Log) Install(db *gorm.DB, rev int64) error {
	if err := db.AutoMigrate(&entryRow{}, &knownRow{}, &stateRow{}); err != nil {
		return fmt.Errorf("history: migrate: %w", err)
	}
	return db.Transaction(func(tx *gorm.DB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&stateRow{ID: 1, Revision: rev, Known: rev})
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

// position is where the history stands against the stored revision.
type position struct {
	Stored, Checked, Known, Latest int64
}

// accounted reports whether every change up to the stored revision is
// recorded.
func (p position) accounted() bool { return p.Stored == p.Checked || p.Stored == p.Latest }

// position reads the stored revision and the history's state in one query.
func (l *Log) position(tx *gorm.DB) (position, error) {
	var p position
	err := tx.Raw(`SELECT r.revision AS stored, s.revision AS checked, s.known AS known, COALESCE((SELECT MAX(revision) FROM ` + entriesTable + `), 0) AS latest FROM ` +
		l.revision + ` r, ` + stateTable + ` s WHERE r.id = 1 AND s.id = 1`).Scan(&p).Error
	if err != nil {
		return p, fmt.Errorf("history: state: %w", err)
	}
	return p, nil
}

// Begin starts a change in a transaction that has just moved the revision
// (holding its lock): it records, as an "sql" entry, a change made
// straight in SQL before this one, and returns the revision stored before
// this change.
func (l *Log) Begin(tx *gorm.DB, now time.Time) (int64, error) {
	p, err := l.position(tx)
	if err != nil {
		return 0, err
	}
	p.Stored-- // the change has moved it already
	if !p.accounted() {
		if err := l.catch(tx, p, now); err != nil {
			return 0, err
		}
	}
	return p.Stored, nil
}

// Pending reports whether a change made straight in SQL awaits recording
// (two small reads, no lock).
func (l *Log) Pending(db *gorm.DB) (bool, error) {
	p, err := l.position(db)
	return err == nil && !p.accounted(), err
}

// Catch records, as an "sql" entry at the stored revision, what a change
// made straight in SQL changed, unless every change is recorded already.
// Run it in a transaction holding the revision's lock; it reports whether
// it recorded an entry.
func (l *Log) Catch(tx *gorm.DB, now time.Time) (bool, error) {
	p, err := l.position(tx)
	if err != nil || p.accounted() {
		return false, err
	}
	latest := p.Latest
	if err := l.catch(tx, p, now); err != nil {
		return false, err
	}
	q, err := l.position(tx)
	return q.Latest != latest, err
}

// catch compares the table with the rows as of the last recorded change
// (the known rows, later entries replayed), records the difference as an
// "sql" entry at p.Stored, and makes the table's rows the known rows.
func (l *Log) catch(tx *gorm.DB, p position, now time.Time) error {
	expected, err := l.expected(tx, p.Known)
	if err != nil {
		return err
	}
	live, err := l.Live(tx)
	if err != nil {
		return err
	}
	added, removed := Diff(expected, live)
	if len(added)+len(removed) > 0 {
		e := Entry{Revision: p.Stored, Time: now, Actor: "sql", Source: SourceSQL, Added: added, Removed: removed}
		if err := insertEntry(tx, e); err != nil {
			return err
		}
	}
	return l.settle(tx, p.Stored, live)
}

// settle makes rows (the table's, at revision rev, every change recorded)
// the known rows.
func (l *Log) settle(tx *gorm.DB, rev int64, rows [][]string) error {
	known, err := l.knownRows(tx)
	if err != nil {
		return err
	}
	added, removed := Diff(known, rows)
	if err := applyKnown(tx, added, removed, rows); err != nil {
		return err
	}
	if err := tx.Exec(`UPDATE `+stateTable+` SET revision = ?, known = ? WHERE id = 1`, rev, rev).Error; err != nil {
		return fmt.Errorf("history: state: %w", err)
	}
	return nil
}

func (l *Log) knownRows(tx *gorm.DB) ([][]string, error) {
	var known []knownRow
	if err := tx.Find(&known).Error; err != nil {
		return nil, fmt.Errorf("history: known rows: %w", err)
	}
	rows := make([][]string, len(known))
	for i, k := range known {
		rows[i] = trim([]string{k.Ptype, k.V0, k.V1, k.V2, k.V3, k.V4, k.V5})
	}
	return rows, nil
}

// expected returns the rows as of the last recorded change: the known rows
// (as of revision known) with every later entry replayed.
func (l *Log) expected(tx *gorm.DB, known int64) ([][]string, error) {
	rows, err := l.knownRows(tx)
	if err != nil {
		return nil, err
	}
	var later []entryRow
	if err := tx.Where("revision > ?", known).Order("revision").Find(&later).Error; err != nil {
		return nil, fmt.Errorf("history: replay: %w", err)
	}
	for _, e := range later {
		added, removed, err := decodeRows(e.Data)
		if err != nil {
			return nil, err
		}
		rows = Undo(rows, removed, added) // forwards: add what was added, drop what was removed
	}
	return rows, nil
}

// Record stores the change at revision rev as one entry; a change that
// moved no row records none and only marks rev accounted for. Run it in
// the transaction of the change, after Begin.
func (l *Log) Record(tx *gorm.DB, rev int64, c Change, now time.Time, added, removed [][]string) error {
	if len(added)+len(removed) == 0 {
		if err := tx.Exec(`UPDATE `+stateTable+` SET revision = ? WHERE id = 1`, rev).Error; err != nil {
			return fmt.Errorf("history: state: %w", err)
		}
		return nil
	}
	return insertEntry(tx, Entry{Revision: rev, Time: now, UserID: c.UserID, Actor: c.Actor, Source: c.Source, Message: c.Message, Reverts: c.Reverts,
		Added: added, Removed: removed})
}

// Settle brings the known rows up to the stored revision when more than
// max entries were recorded since they were (replaying entries is what a
// hand edit's recording costs), and tells the revision of the known rows
// (entries after it must be kept). Run it in a transaction holding the
// revision's lock.
func (l *Log) Settle(tx *gorm.DB, max int64, now time.Time) (int64, error) {
	p, err := l.position(tx)
	if err != nil {
		return 0, err
	}
	if !p.accounted() {
		if err := l.catch(tx, p, now); err != nil {
			return 0, err
		}
		return p.Stored, nil
	}
	var n int64
	if err := tx.Model(&entryRow{}).Where("revision > ?", p.Known).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("history: settle: %w", err)
	}
	if n <= max {
		return p.Known, nil
	}
	live, err := l.Live(tx)
	if err != nil {
		return 0, err
	}
	return p.Stored, l.settle(tx, p.Stored, live)
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

// insertEntry stores the entry (one statement; its revision is new: the
// writer holds the revision's lock).
func insertEntry(tx *gorm.DB, e Entry) error {
	blob, err := encodeRows(e.Added, e.Removed)
	if err != nil {
		return err
	}
	roles := map[string]bool{}
	for _, rows := range [][][]string{e.Added, e.Removed} {
		for _, r := range rows {
			for i := 1; i < len(r) && (i == 1 || (r[0] == "g" && i == 2)); i++ {
				roles[r[i]] = true
			}
		}
	}
	list := ","
	for _, role := range slices.Sorted(maps.Keys(roles)) {
		if len(list)+len(role) > maxRoles {
			break
		}
		list += role + ","
	}
	err = tx.Exec(`INSERT INTO `+entriesTable+` (revision, created_at, user_id, actor, source, message, reverts, added, removed, roles, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Revision, e.Time.UTC(), e.UserID, clip(e.Actor, 255), e.Source, clip(e.Message, 1024), e.Reverts, len(e.Added), len(e.Removed), list, blob).Error
	if err != nil {
		return fmt.Errorf("history: record revision %d: %w", e.Revision, err)
	}
	return nil
}

// maxRoles bounds an entry's role list (a TEXT column holds 64 KiB on MySQL).
const maxRoles = 60000

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

var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

const listColumns = "revision, created_at, user_id, actor, source, message, reverts, added, removed"

func (f Filter) apply(q *gorm.DB) *gorm.DB {
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Role != "" {
		q = q.Where("roles LIKE ? ESCAPE '!'", "%,"+likeEscaper.Replace(f.Role)+",%")
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
	e.Added, e.Removed, err = decodeRows(rows[0].Data)
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
		added, removed, err := decodeRows(e.Data)
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

// Prune deletes the entries recorded before t (retention), except those
// after revision keep (the known rows' revision: Settle tells it), and
// returns how many it deleted.
func (l *Log) Prune(ctx context.Context, db *gorm.DB, t time.Time, keep int64) (int64, error) {
	res := db.WithContext(ctx).Where("created_at < ? AND revision <= ?", t.UTC(), keep).Delete(&entryRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("history: prune: %w", res.Error)
	}
	return res.RowsAffected, nil
}
