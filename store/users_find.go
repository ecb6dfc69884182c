package store

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/store/userquery"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

func (u Users) dialect() string { return u.db.Dialector.Name() }

// Find returns the users matching q, sorted and paginated, with Role loaded
// when q.PopulateRole. It never reads the private columns (password and
// tokens). A Query outside the whitelist fails before any SQL runs.
func (u Users) Find(ctx context.Context, q userquery.Query) ([]User, error) {
	pl, err := u.schema.Plan(q, u.dialect())
	if err != nil {
		return nil, err
	}
	db := u.db.WithContext(ctx).Model(&User{})
	if pl.Join {
		db = db.Joins(userquery.RoleJoin)
	}
	db = db.Clauses(clause.Select{Columns: pl.Columns}, clause.OrderBy{Expression: pl.Order})
	if pl.Where != nil {
		db = db.Clauses(clause.Where{Exprs: []clause.Expression{pl.Where}})
	}
	db = db.Limit(pl.Limit)
	if pl.Offset > 0 {
		db = db.Offset(pl.Offset)
	}
	if q.PopulateRole {
		db = db.Preload("Role", func(tx *gorm.DB) *gorm.DB {
			if pl.RoleColumns != nil {
				tx = tx.Clauses(clause.Select{Columns: pl.RoleColumns})
			}
			if pl.RoleWhere != nil {
				tx = tx.Clauses(clause.Where{Exprs: []clause.Expression{pl.RoleWhere}})
			}
			return tx
		})
	}
	users := []User{}
	if err := db.Find(&users).Error; err != nil {
		return nil, fmt.Errorf("store: users: find: %w", translate(err))
	}
	if err := u.loadCustom(ctx, users, pl.Custom); err != nil {
		return nil, err
	}
	return users, nil
}

// Count returns the number of users matching q.Filters (sort, pagination,
// populate and fields are not read).
func (u Users) Count(ctx context.Context, q userquery.Query) (int64, error) {
	pl, err := u.schema.PlanCount(q, u.dialect())
	if err != nil {
		return 0, err
	}
	db := u.db.WithContext(ctx).Model(&User{})
	if pl.Join {
		db = db.Joins(userquery.RoleJoin)
	}
	if pl.Where != nil {
		db = db.Clauses(clause.Where{Exprs: []clause.Expression{pl.Where}})
	}
	var n int64
	if err := db.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("store: users: count: %w", translate(err))
	}
	return n, nil
}
