package store

import (
	"github.com/gatehouse/gatehouse/userfields"

	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DefaultTimeout is DB_TIMEOUT's default: the longest a statement, or a
// transaction as a whole, may take when its context has no deadline.
const DefaultTimeout = 2 * time.Second

// migrateTimeout bounds Migrate, which may build indexes over large tables.
const migrateTimeout = 10 * time.Minute

// Options tune OpenWith; the zero value is production's.
type Options struct {
	// Timeout bounds every statement and every transaction whose context
	// has no deadline of its own (DefaultTimeout when zero). It covers the
	// wait for a pooled connection (database/sql waits under the
	// statement's context), the connection itself (PostgreSQL's
	// connect_timeout, MySQL's timeout) and, on MySQL, each read and write
	// on the socket (readTimeout, writeTimeout: a COMMIT there takes no
	// context). A caller's own deadline, longer or shorter, wins.
	Timeout time.Duration
	// Logger receives GORM's log lines (none when nil): failed statements
	// at error, those slower than SlowQuery at warn (none when zero), with
	// their SQL but never their parameters (passwords, token hashes). The
	// outcomes callers expect and handle — no row, a duplicate key, a
	// cancelled request — are not failures.
	Logger    *slog.Logger
	SlowQuery time.Duration
	// UserFields are the custom user fields (USER_FIELDS_FILE): Migrate
	// adds their columns, Users reads and writes them. Nil: none.
	UserFields *userfields.Config
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// withTimeouts adds the driver's connect and socket timeouts to the DSN,
// unless DATABASE_URL sets them itself. On SQLite the wait for the write
// lock (busy_timeout) is the timeout: SQLite's busy wait does not heed the
// context, so a stuck writer would otherwise hold requests 10 s.
func (src Source) withTimeouts(timeout time.Duration) (Source, error) {
	switch src.Dialect {
	case SQLite:
		src.DSN = strings.Replace(src.DSN, "busy_timeout(10000)", fmt.Sprintf("busy_timeout(%d)", max(1, timeout.Milliseconds())), 1)
	case Postgres:
		u, err := url.Parse(src.DSN)
		if err != nil {
			return src, fmt.Errorf("store: DATABASE_URL: %w", err)
		}
		q := u.Query()
		if q.Get("connect_timeout") == "" {
			// Whole seconds, at least one (libpq's rule, which pgx follows).
			q.Set("connect_timeout", strconv.Itoa(max(1, int(math.Ceil(timeout.Seconds())))))
			u.RawQuery = q.Encode()
			src.DSN = u.String()
		}
	case MySQL:
		cfg, err := mysql.ParseDSN(src.DSN)
		if err != nil {
			return src, fmt.Errorf("store: DATABASE_URL: %w", err)
		}
		if cfg.Timeout == 0 {
			cfg.Timeout = timeout
		}
		if cfg.ReadTimeout == 0 {
			cfg.ReadTimeout = timeout
		}
		if cfg.WriteTimeout == 0 {
			cfg.WriteTimeout = timeout
		}
		src.DSN = cfg.FormatDSN()
	}
	return src, nil
}
