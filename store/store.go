package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/store/userquery"
	"github.com/gatehouse/gatehouse/userfields"
	"github.com/glebarez/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Sentinel errors the HTTP layer maps to statuses.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique constraint (username, provider+email, role type) refused the write.
	ErrConflict = errors.New("store: unique constraint")
)

// Dialect names a supported database engine.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql"
)

// Source is a parsed DATABASE_URL.
type Source struct {
	Dialect Dialect
	// DSN is what the driver receives.
	DSN string
	// Path is the SQLite file ("" for in-memory or other dialects).
	Path string
}

// ParseURL parses DATABASE_URL: sqlite://PATH (relative or absolute; sqlite://:memory:
// for a private in-memory database), postgres://… or postgresql://…, and
// mysql://user:pass@host:port/db?params.
func ParseURL(raw string) (Source, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || rest == "" {
		return Source{}, fmt.Errorf("store: DATABASE_URL %q: want sqlite://PATH, postgres://… or mysql://…", raw)
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3", "file":
		return sqliteSource(rest)
	case "postgres", "postgresql":
		if _, err := url.Parse(raw); err != nil {
			return Source{}, fmt.Errorf("store: DATABASE_URL: %w", err)
		}
		return Source{Dialect: Postgres, DSN: raw}, nil
	case "mysql", "mariadb":
		return mysqlSource(rest)
	default:
		return Source{}, fmt.Errorf("store: DATABASE_URL scheme %q is not supported (sqlite, postgres, mysql)", scheme)
	}
}

// sqlitePragmas are applied to each new connection in this order:
// busy_timeout first, so that switching a new database to WAL (which takes
// an exclusive lock) waits for another process opening it at the same
// moment instead of failing with SQLITE_BUSY.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

func sqliteSource(rest string) (Source, error) {
	path, query, _ := strings.Cut(rest, "?")
	if path == ":memory:" || strings.Contains(query, "mode=memory") {
		name := strings.TrimPrefix(path, "file:")
		if name == ":memory:" || name == "" {
			name = "gatehouse-" + randomHex(8)
		}
		return Source{Dialect: SQLite, DSN: "file:" + name + "?mode=memory&cache=shared&" + strings.ReplaceAll(sqlitePragmas, "journal_mode(WAL)", "journal_mode(MEMORY)")}, nil
	}
	if path == "" {
		return Source{}, errors.New("store: DATABASE_URL sqlite:// needs a path")
	}
	dsn := path + "?" + sqlitePragmas
	if query != "" {
		dsn += "&" + query
	}
	return Source{Dialect: SQLite, DSN: dsn, Path: path}, nil
}

func mysqlSource(rest string) (Source, error) {
	u, err := url.Parse("mysql://" + rest)
	if err != nil {
		return Source{}, fmt.Errorf("store: DATABASE_URL: %w", err)
	}
	var dsn strings.Builder
	if u.User != nil {
		dsn.WriteString(u.User.Username())
		if pw, ok := u.User.Password(); ok {
			dsn.WriteString(":" + pw)
		}
		dsn.WriteString("@")
	}
	host := u.Host
	if u.Port() == "" {
		host += ":3306"
	}
	dsn.WriteString("tcp(" + host + ")" + u.Path)
	q := u.Query()
	q.Set("parseTime", "true")
	if q.Get("charset") == "" {
		q.Set("charset", "utf8mb4")
	}
	if q.Get("loc") == "" {
		q.Set("loc", "UTC")
	}
	dsn.WriteString("?" + q.Encode())
	return Source{Dialect: MySQL, DSN: dsn.String()}, nil
}

// Store is the database handle with Gatehouse's queries.
type Store struct {
	// DB is the shared GORM handle (also used by the Casbin adapter).
	DB      *gorm.DB
	Dialect Dialect
	// Now is the clock used for timestamps and token expiry.
	Now func() time.Time

	// file is the SQLite file as opened (nil for other dialects and in
	// memory): a write is refused once the path names another file.
	file os.FileInfo
	path string

	settingsOnce sync.Once
	settings     *Settings
	usersOnce    sync.Once
	userCache    *userCache

	// fields are the custom user fields (userfields.go), schema the query
	// whitelist with the public ones.
	fields *userfields.Config
	schema *userquery.Schema
}

// Open connects to the database DATABASE_URL names with the default
// Options (see OpenWith).
func Open(databaseURL string) (*Store, error) { return OpenWith(databaseURL, Options{}) }

// OpenWith connects to the database DATABASE_URL names, creating the SQLite
// file's directory when needed, with every statement and transaction
// bounded by opts.Timeout (timeouts.go). It does not migrate: call Migrate.
func OpenWith(databaseURL string, opts Options) (*Store, error) {
	src, err := ParseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	timeout := opts.timeout()
	if src, err = src.withTimeouts(timeout); err != nil {
		return nil, err
	}
	var dialector gorm.Dialector
	switch src.Dialect {
	case SQLite:
		if src.Path != "" {
			if err := createPrivate(src.Path); err != nil {
				return nil, err
			}
		}
		dialector = sqlite.Open(src.DSN)
	case Postgres:
		dialector = postgres.Open(src.DSN)
	case MySQL:
		dialector = mysql.Open(src.DSN)
	}
	db, err := openRetryingBusy(src.Dialect, timeout, dialector, &gorm.Config{
		Logger:                 opts.gormLogger(),
		TranslateError:         true,
		CreateBatchSize:        1000,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
		// A statement (the wait for a pooled connection included) or a
		// transaction whose context has no deadline of its own gets one.
		DefaultContextTimeout:     timeout,
		DefaultTransactionTimeout: timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", src.Dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(timeout, 10*time.Second))
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("store: connect %s: %w", src.Dialect, err)
	}
	if src.Path != "" {
		// SQLite gives -wal and -shm the database file's mode; an older
		// deployment's may still be readable by others.
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			if err := tighten(sqliteFile(src.Path) + suffix); err != nil {
				return nil, err
			}
		}
	}
	sqlDB.SetMaxIdleConns(8)
	switch {
	case src.Dialect == SQLite && src.Path == "":
		// One writer at a time is SQLite's rule; a small pool keeps readers
		// concurrent without piling up busy writers. An in-memory database
		// lives only while a connection is open: idle ones are kept.
		sqlDB.SetMaxOpenConns(8)
	case src.Dialect == SQLite:
		// Each connection holds about 1 MB of the driver's C heap (its page
		// cache, statements, stack), and the allocator returns a page to
		// the system only once everything in it is freed: after a burst on
		// 8 connections, closing 7 of them returned 2 MB, closing the last
		// one 3 MB more. The pool hands out the most recently used
		// connection first, so those the traffic no longer needs fall idle
		// and close after 5 s, shorter than POLICY_RELOAD_INTERVAL's 10 s
		// so that an idle server keeps none; reopening one costs about
		// 1.3 ms.
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetConnMaxIdleTime(5 * time.Second)
	default:
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	s := &Store{DB: db, Dialect: src.Dialect, Now: func() time.Time { return time.Now().UTC() }, path: sqliteFile(src.Path)}
	if err := s.watchFile(); err != nil {
		sqlDB.Close()
		return nil, err
	}
	if err := s.useFields(opts.UserFields); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// createPrivate makes the SQLite database private to this user before the
// driver opens it: its directory is created 0700, the file 0600 (SQLite
// creates -wal and -shm with the database file's mode), and an existing file
// readable by others is made 0600, since in development it holds the JWT
// secret.
func createPrivate(path string) error {
	path = sqliteFile(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store: create database directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: create database file: %w", err)
	}
	if err := tighten(path); err != nil {
		return err
	}
	return writableSideFiles(path)
}

// writableSideFiles gives the -wal and -shm files their owner's write
// permission back when the database file has it. SQLite creates them with
// the database file's mode, so a start while the file was read-only leaves
// a read-only -shm behind; SQLite then opens it read-only at every later
// start and refuses every write, long after the file is writable again.
func writableSideFiles(path string) error {
	db, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if db.Mode().Perm()&0o200 == 0 {
		return nil // read-only on purpose: leave it so
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		info, err := os.Stat(path + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if info.Mode().Perm()&0o200 == 0 {
			if err := os.Chmod(path+suffix, 0o600); err != nil {
				return fmt.Errorf("store: make %s writable again: %w", path+suffix, err)
			}
		}
	}
	return nil
}

// tighten makes the file 0600 when others may read or write it (a missing
// file is left alone).
func tighten(path string) error {
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if info.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("store: make %s private: %w", path, err)
	}
	return nil
}

// sqliteFile is the file system path of a SQLite path (without a "file:"
// URI prefix).
func sqliteFile(path string) string { return strings.TrimPrefix(path, "file:") }

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Migrate creates or updates Gatehouse's tables (not casbin_rule: the policy
// package's adapter owns that one), and the settings revision with its
// triggers.
func (s *Store) Migrate() error {
	// Building an index over a large table may take longer than one
	// request's statement: migrations get minutes, not DB_TIMEOUT.
	ctx, cancel := context.WithTimeout(context.Background(), migrateTimeout)
	defer cancel()
	if err := s.DB.WithContext(ctx).AutoMigrate(&Role{}, &User{}, &Setting{}, &Session{}, &readyRow{}, &MailJob{}, &Identifier{}, &AuditEntry{}); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if _, err := s.backfillIdentifiers(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := s.migrateFields(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if _, err := settingsRevision.Install(s.DB); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// translate maps driver errors to the package's sentinels.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("store: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// NewDocumentID returns a random 24-character lower-case identifier, the shape
// of Strapi v5's documentId.
func NewDocumentID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("store: crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
