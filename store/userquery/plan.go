package userquery

import (
	"math"
	"time"

	"gorm.io/gorm/clause"
)

// Plan is a Query compiled to GORM clauses. Identifiers come only from the
// whitelist; every value is a bind parameter.
type Plan struct {
	// Where restricts the users; nil matches every row.
	Where clause.Expression
	// Join says Where or Order reads up_roles: the query needs RoleJoin.
	Join bool
	// Columns are the user columns to select.
	Columns []clause.Column
	// Order is the ORDER BY expression, ending with the id.
	Order clause.Expression
	// Offset and Limit paginate; Limit is between 1 and MaxLimit.
	Offset, Limit int
	// Custom names the custom fields to read, apart from Columns (they are
	// not User's): the ones q.Fields names, every public one without Fields.
	Custom []string
	// RoleColumns are the role columns populate reads; nil reads them all.
	RoleColumns []clause.Column
	// RoleWhere restricts the populated roles; nil matches every role.
	RoleWhere clause.Expression
}

// RoleJoin is the constant join used when filters or sort read the role.
const RoleJoin = "LEFT JOIN up_roles ON up_roles.id = up_users.role_id"

// Dialect names as GORM's dialectors spell them; the SQL differs on these two.
const (
	dialectSQLite = "sqlite"
	dialectMySQL  = "mysql"
)

// Plan validates q against the whitelist again (a Query built by hand cannot
// reach a column outside it either) and compiles it for Find on dialect
// (GORM's Dialector.Name()).
func (s *Schema) Plan(q Query, dialect string) (Plan, error) { return s.plan(q, dialect, true) }

// PlanCount compiles q.Filters only, for Count: sort, pagination, populate
// and fields are not read.
func (s *Schema) PlanCount(q Query, dialect string) (Plan, error) { return s.plan(q, dialect, false) }

func (s *Schema) plan(q Query, dialect string, full bool) (Plan, error) {
	userEntity, roleEntity := s.user, s.role
	var pl Plan
	c := &filterCompiler{dialect: dialect, root: userEntity}
	where, err := c.expr(q.Filters, 0)
	if err != nil {
		return Plan{}, err
	}
	pl.Where, pl.Join = where, c.join
	if !full {
		return pl, nil
	}

	hasID := false
	var order sqlOrderBy
	for _, sf := range q.Sort {
		sch, a, err := resolveField(userEntity, sf.Field)
		if err != nil {
			return Plan{}, err
		}
		if !a.kind.sortable() {
			return Plan{}, queryErrorf("Invalid sort: %s (%s) cannot be sorted", sf.Field, a.kind)
		}
		if sch.table != userEntity.table {
			pl.Join = true
		}
		hasID = hasID || sf.Field == "id"
		order = append(order, sqlOrderTerm{
			col:      clause.Column{Table: sch.table, Name: a.column},
			desc:     sf.Desc,
			nullable: sch.table != userEntity.table || a.nullable,
		})
	}
	if !hasID {
		order = append(order, sqlOrderTerm{col: clause.Column{Table: userEntity.table, Name: "id"}})
	}
	pl.Order = order

	pl.Columns, pl.Custom, err = selectColumns(userEntity, q.Fields)
	if err != nil {
		return Plan{}, err
	}
	if q.PopulateRole {
		pl.Columns = append(pl.Columns, clause.Column{Table: userEntity.table, Name: "role_id"})
		if q.RoleFields != nil {
			if pl.RoleColumns, _, err = selectColumns(roleEntity, q.RoleFields); err != nil {
				return Plan{}, err
			}
		}
		rc := &filterCompiler{dialect: dialect, root: roleEntity}
		if pl.RoleWhere, err = rc.expr(q.RoleFilters, 0); err != nil {
			return Plan{}, err
		}
	}

	pl.Offset, pl.Limit = q.Offset, q.Limit
	if pl.Limit <= 0 || pl.Limit > MaxLimit {
		pl.Limit = MaxLimit
	}
	if pl.Offset < 0 || pl.Offset > maxQueryOffset {
		return Plan{}, queryErrorf("Invalid 'start' parameter. Expected an integer >= 0, received: %d", q.Offset)
	}
	return pl, nil
}

// selectColumns lists id, documentId and the given fields (all scalars when
// nil), qualified by the table, and apart the custom fields among them (every
// public one when fields is nil).
func selectColumns(sch *entity, fields []string) (out []clause.Column, custom []string, err error) {
	names := append([]string{"id", "documentId"}, fields...)
	if fields == nil {
		names = append(append([]string(nil), sch.order...), sch.custom...)
	}
	seen := make(map[string]bool)
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		a, ok := sch.attrs[name]
		if !ok || a.rel != nil {
			return nil, nil, invalidKey(name, nil, nil, nil)
		}
		if a.custom {
			custom = append(custom, name)
			continue
		}
		out = append(out, clause.Column{Table: sch.table, Name: a.column})
	}
	return out, custom, nil
}

type filterCompiler struct {
	dialect string
	root    *entity
	leaves  int
	join    bool
}

func (c *filterCompiler) expr(f Filter, depth int) (clause.Expression, error) {
	if depth > maxTreeDepth {
		return nil, queryErrorf("Invalid filters: nesting deeper than %d levels", maxFilterDepth)
	}
	switch f.Op {
	case "":
		if f.Field != "" || len(f.Children) > 0 || len(f.Values) > 0 {
			return nil, queryErrorf("Invalid filters: missing operator")
		}
		return nil, nil
	case "$and", "$or", "$not":
		var exprs []clause.Expression
		for _, child := range f.Children {
			e, err := c.expr(child, depth+1)
			if err != nil {
				return nil, err
			}
			if e == nil { // matches every row
				if f.Op == "$or" {
					return nil, nil
				}
				continue
			}
			exprs = append(exprs, e)
		}
		if f.Op == "$or" && len(f.Children) == 0 {
			return nil, queryErrorf("Invalid filters: $or expects an array")
		}
		var e clause.Expression
		switch len(exprs) {
		case 0:
		case 1:
			e = exprs[0]
		default:
			e = sqlJunction{op: " AND ", exprs: exprs}
			if f.Op == "$or" {
				e = sqlJunction{op: " OR ", exprs: exprs}
			}
		}
		if f.Op == "$not" {
			if e == nil {
				return clause.Expr{SQL: "1 = 0"}, nil
			}
			return sqlNot{e}, nil
		}
		return e, nil
	}
	if !comparisonOps[f.Op] {
		return nil, queryErrorf("Invalid filters: unknown operator %s", quoteInput(f.Op))
	}
	sch, a, err := resolveField(c.root, f.Field)
	if err != nil {
		return nil, err
	}
	if !opAllowed(f.Op, a.kind) {
		return nil, queryErrorf("Invalid filters: operator %s cannot be used on %s (%s)", f.Op, f.Field, a.kind)
	}
	c.leaves++
	if c.leaves > maxFilterLeaves {
		return nil, queryErrorf("Invalid filters: more than %d conditions", maxFilterLeaves)
	}
	if sch != c.root {
		c.join = true
	}
	col := clause.Column{Table: sch.table, Name: a.column}
	vals := make([]any, len(f.Values))
	for i, v := range f.Values {
		if f.Op == "$null" || f.Op == "$notNull" {
			vals[i] = v
			continue
		}
		if vals[i], err = coerceValue(a.kind, v, f.Field); err != nil {
			return nil, err
		}
	}
	return c.leaf(f.Op, col, vals, f.Field)
}

// coerce accepts an already typed value or converts a string, so that a
// hand-built Query reaches the driver with the column's type too.
func coerceValue(k kind, v any, field string) (any, error) {
	if s, ok := v.(string); ok {
		return convertValue(k, s, field)
	}
	bad := queryErrorf("Invalid filters: %s expects a %s value", field, k)
	switch k {
	case kindInt:
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case int32:
			return int64(x), nil
		case int64:
			return x, nil
		case uint:
			if uint64(x) <= math.MaxInt64 {
				return int64(x), nil
			}
		case uint32:
			return int64(x), nil
		case uint64:
			if x <= math.MaxInt64 {
				return int64(x), nil
			}
		}
	case kindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case kindTime:
		if t, ok := v.(time.Time); ok && t.UTC().Year() >= 1 && t.UTC().Year() <= 9999 {
			return t.UTC(), nil
		}
	case kindFloat:
		switch x := v.(type) {
		case float64:
			if !math.IsInf(x, 0) && !math.IsNaN(x) {
				return x, nil
			}
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		}
	case kindDate:
		if t, ok := v.(time.Time); ok && t.Year() >= 1 && t.Year() <= 9999 {
			return t.Format(time.DateOnly), nil
		}
	}
	return nil, bad
}
