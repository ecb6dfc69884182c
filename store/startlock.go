package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/gofrs/flock"
)

// startupLockWait bounds how long an instance waits for another one's
// start-up (migrations, seeding, admin creation) before giving up.
const startupLockWait = 2 * time.Minute

// WithStartupLock runs fn while holding a lock that every Gatehouse
// instance over this database takes for its start-up, so that instances
// started at once migrate and bootstrap one after the other instead of
// racing (duplicate tables, triggers, roles, admins or secrets):
//
//   - PostgreSQL: a session advisory lock (pg_advisory_lock) keyed by the
//     schema, on a connection of its own, discarded afterwards;
//   - MySQL/MariaDB: GET_LOCK named after the database, likewise;
//   - SQLite: an exclusive lock (flock) on the file PATH.lock beside the
//     database (none for an in-memory database, private to the process).
//
// A lock lost with its connection (the server restarted) is released by
// the server; fn's own queries run on the pool.
func (s *Store) WithStartupLock(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startupLockWait)
	defer cancel()
	var release func()
	var err error
	switch s.Dialect {
	case SQLite:
		release, err = s.fileLock(ctx)
	case Postgres:
		release, err = s.sessionLock(ctx,
			`SELECT pg_advisory_lock(hashtext('gatehouse:startup:' || current_schema()))`, nil)
	case MySQL:
		release, err = s.sessionLock(ctx,
			`SELECT GET_LOCK(CONCAT('gatehouse:startup:', LEFT(SHA1(DATABASE()), 40)), ?)`, []any{int(startupLockWait.Seconds())})
	}
	if err != nil {
		return fmt.Errorf("store: start-up lock (another instance may be starting; waited up to %s): %w", startupLockWait, err)
	}
	defer release()
	return fn(ctx)
}

// sessionLock takes a lock held by a database session: query, run on a
// connection of its own, must answer 1 (GET_LOCK) or nothing (pg_advisory_lock
// answers void). The release discards the connection, which ends the
// session and with it the lock.
func (s *Store) sessionLock(ctx context.Context, query string, args []any) (func(), error) {
	sqlDB, err := s.DB.DB()
	if err != nil {
		return nil, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var got any
	if err := conn.QueryRowContext(ctx, query, args...).Scan(&got); err != nil {
		conn.Close()
		return nil, err
	}
	if s.Dialect == MySQL && fmt.Sprint(got) != "1" {
		conn.Close()
		return nil, fmt.Errorf("GET_LOCK answered %v", got)
	}
	return func() {
		// driver.ErrBadConn makes the pool close the connection instead of
		// keeping it: the session ends, and every lock it held is released
		// by the server whatever happened in fn.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
	}, nil
}

// fileLock takes an exclusive lock on PATH.lock, polling until ctx is done.
func (s *Store) fileLock(ctx context.Context) (func(), error) {
	if s.path == "" {
		return func() {}, nil
	}
	l := flock.New(s.path + ".lock")
	ok, err := l.TryLockContext(ctx, 10*time.Millisecond)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ctx.Err()
	}
	return func() { l.Unlock() }, nil
}
