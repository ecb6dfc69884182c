package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// gormLogger is GORM's logger for Logger and SlowQuery.
func (o Options) gormLogger() logger.Interface {
	if o.Logger == nil {
		return logger.Discard
	}
	return quietExpected{logger.NewSlogLogger(o.Logger, logger.Config{
		SlowThreshold:             o.SlowQuery,
		LogLevel:                  logger.Warn,
		ParameterizedQueries:      true,
		IgnoreRecordNotFoundError: true,
	})}
}

// quietExpected is a GORM logger that treats the errors callers handle as
// success (still logged when slow).
type quietExpected struct{ logger.Interface }

// LogMode implements logger.Interface.
func (q quietExpected) LogMode(level logger.LogLevel) logger.Interface {
	return quietExpected{q.Interface.LogMode(level)}
}

// ParamsFilter implements gorm.ParamsFilter, which keeps the parameters out
// of the logged SQL: the embedded logger's method is not part of
// logger.Interface, so it must be passed on by name.
func (q quietExpected) ParamsFilter(ctx context.Context, sql string, params ...any) (string, []any) {
	if f, ok := q.Interface.(gorm.ParamsFilter); ok {
		return f.ParamsFilter(ctx, sql, params...)
	}
	return sql, nil
}

// Trace implements logger.Interface.
func (q quietExpected) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if errors.Is(err, gorm.ErrRecordNotFound) || errors.Is(err, gorm.ErrDuplicatedKey) ||
		errors.Is(err, context.Canceled) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		err = nil
	}
	q.Interface.Trace(ctx, begin, fc, err)
}
