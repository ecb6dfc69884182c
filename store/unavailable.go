package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	sqlite "github.com/glebarez/go-sqlite"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	sqlite3 "modernc.org/sqlite/lib"
)

// Unavailable reports whether err says the database cannot serve now —
// down, unreachable, too slow, out of space or connections, read-only, its
// file replaced — rather than that the request or the code is wrong, and
// names the cause in a few words (for logs and their rate limit). Callers
// answer such errors with "try again later" (HTTP 503), never as a bug.
//
// Every check is on a type or a sentinel of the drivers Gatehouse links
// (database/sql, net, syscall, pgconn, go-sql-driver/mysql, SQLite's result
// codes), never on error text.
func Unavailable(err error) (cause string, ok bool) {
	if err == nil {
		return "", false
	}
	var (
		pgErr      *pgconn.PgError
		pgConnect  *pgconn.ConnectError
		myErr      *mysql.MySQLError
		liteErr    *sqlite.Error
		netErr     net.Error
		syscallErr syscall.Errno
	)
	switch {
	case errors.Is(err, ErrReplaced):
		return "file replaced", true
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return "timeout", true
	case errors.Is(err, context.Canceled):
		return "request canceled", true
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), errors.Is(err, mysql.ErrInvalidConn):
		return "connection lost", true
	case errors.As(err, &pgConnect):
		return "unreachable", true
	case errors.As(err, &pgErr):
		return pgCause(pgErr.Code)
	case errors.As(err, &myErr):
		return mysqlCause(myErr.Number)
	case errors.As(err, &liteErr):
		return sqliteCause(liteErr.Code())
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout", true
	case errors.As(err, &syscallErr):
		return errnoCause(syscallErr)
	case errors.As(err, new(*net.OpError)):
		return "unreachable", true
	}
	return "", false
}

// pgCause classifies a PostgreSQL SQLSTATE.
func pgCause(code string) (string, bool) {
	switch {
	case len(code) == 5 && code[:2] == "08": // connection exception
		return "connection lost", true
	case code == "57P01", code == "57P02", code == "57P03": // admin/crash shutdown, cannot connect now
		return "shutting down", true
	case code == "53300": // too_many_connections
		return "out of connections", true
	case code == "53100", code == "53200": // disk_full, out_of_memory
		return "out of space", true
	case code == "25006": // read_only_sql_transaction (a standby)
		return "read-only", true
	case code == "57014": // query_canceled (statement_timeout)
		return "timeout", true
	}
	return "", false
}

// mysqlCause classifies a MySQL/MariaDB server error number.
func mysqlCause(n uint16) (string, bool) {
	switch n {
	case 1040, 1203: // ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS
		return "out of connections", true
	case 1053, 1077: // ER_SERVER_SHUTDOWN, ER_NORMAL_SHUTDOWN
		return "shutting down", true
	case 1021, 1114: // ER_DISK_FULL, ER_RECORD_FILE_FULL
		return "out of space", true
	case 1290, 1836: // ER_OPTION_PREVENTS_STATEMENT (--read-only), ER_READ_ONLY_MODE
		return "read-only", true
	case 1205, 3024, 1969: // lock wait timeout, max_execution_time, MariaDB's statement timeout
		return "timeout", true
	}
	return "", false
}

// sqliteCause classifies an SQLite result code (extended codes keep the
// primary one in their low byte).
func sqliteCause(code int) (string, bool) {
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return "busy", true
	case sqlite3.SQLITE_READONLY:
		return "read-only", true
	case sqlite3.SQLITE_FULL:
		return "out of space", true
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return "I/O error", true
	case sqlite3.SQLITE_INTERRUPT:
		return "timeout", true
	}
	return "", false
}

// errnoCause classifies a system call's error.
func errnoCause(n syscall.Errno) (string, bool) {
	switch n {
	case syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH:
		return "unreachable", true
	case syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED:
		return "connection lost", true
	case syscall.ETIMEDOUT:
		return "timeout", true
	case syscall.ENOSPC, syscall.EDQUOT:
		return "out of space", true
	case syscall.EROFS:
		return "read-only", true
	case syscall.EIO:
		return "I/O error", true
	}
	return "", false
}

// openRetryingBusy is gorm.Open, tried again while a new SQLite database
// answers SQLITE_BUSY, for up to timeout: another instance starting at the
// same moment may hold the lock that switching the file to WAL needs, and
// SQLite does not always call the busy handler for it.
func openRetryingBusy(dialect Dialect, timeout time.Duration, dialector gorm.Dialector, cfg *gorm.Config) (*gorm.DB, error) {
	deadline := time.Now().Add(timeout)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		db, err := gorm.Open(dialector, cfg)
		var liteErr *sqlite.Error
		if err == nil || dialect != SQLite || !errors.As(err, &liteErr) || liteErr.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().Add(pause).After(deadline) {
			return db, err
		}
		time.Sleep(pause + rand.N(pause))
	}
}
