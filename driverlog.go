package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/loglimit"
	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// driverLogInterval is how often one kind of driver message may be logged.
const driverLogInterval = 10 * time.Second

// routeDriverLogs sends the MySQL and Redis drivers' own log lines through
// log, rate-limited.
//
// Both drivers (go-redis v9.23, go-sql-driver/mysql v1.8) have one logger
// for the whole process (redis.SetLogger, mysql.SetLogger) and no
// per-client option; it is set here, at start-up, by main — never by a
// library package, so an app embedding Gatehouse keeps its own choice. The
// same holds for every client of this process, which is the point: none of
// them writes outside slog. The drivers' loggers are set once and forward
// to the latest log given here, so apps wired at the same moment (tests
// starting several instances in one process) never race on the drivers'
// globals.
func routeDriverLogs(log *slog.Logger) {
	limit := loglimit.New(driverLogInterval, nil)
	driverLogs.redis.Store(&driverLog{log: log.With("component", "redis"), limit: limit})
	driverLogs.mysql.Store(&driverLog{log: log.With("component", "mysql"), limit: limit})
	driverLogs.once.Do(func() {
		redis.SetLogger(currentDriverLog{&driverLogs.redis})
		mysql.SetLogger(currentDriverLog{&driverLogs.mysql})
	})
}

// driverLogs holds where each driver's lines go now (routeDriverLogs).
var driverLogs struct {
	once         sync.Once
	redis, mysql atomic.Pointer[driverLog]
}

// currentDriverLog is the logger the drivers hold: it forwards each line to
// the driverLog stored last.
type currentDriverLog struct{ to *atomic.Pointer[driverLog] }

// Printf implements go-redis' logger.
func (c currentDriverLog) Printf(ctx context.Context, format string, v ...any) {
	c.to.Load().Printf(ctx, format, v...)
}

// Print implements mysql.Logger.
func (c currentDriverLog) Print(v ...any) { c.to.Load().Print(v...) }

// driverLog adapts slog to the drivers' loggers. Their lines (reconnects,
// pool troubles, pub/sub resubscriptions, "closing bad idle connection")
// are warnings, and during an outage there is one per request: one line per
// kind of message goes through every driverLogInterval, with the number
// held back. The kind is the driver's format string (go-redis) or its
// first argument (MySQL's message before the error).
type driverLog struct {
	log   *slog.Logger
	limit *loglimit.Limiter
}

// Printf implements go-redis' logger.
func (d driverLog) Printf(ctx context.Context, format string, v ...any) {
	d.line(ctx, "redis|"+format, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}

// Print implements mysql.Logger.
func (d driverLog) Print(v ...any) {
	kind := ""
	if len(v) > 0 {
		kind = fmt.Sprint(v[0])
	}
	d.line(context.Background(), "mysql|"+kind, fmt.Sprint(v...))
}

func (d driverLog) line(ctx context.Context, kind, msg string) {
	ok, suppressed := d.limit.Allow(kind)
	switch {
	case !ok:
	case suppressed > 0:
		d.log.WarnContext(ctx, msg, "suppressedSinceLast", suppressed)
	default:
		d.log.WarnContext(ctx, msg)
	}
}
