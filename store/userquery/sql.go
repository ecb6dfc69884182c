package userquery

import (
	"strings"

	"gorm.io/gorm/clause"
)

func (c *filterCompiler) leaf(op string, col clause.Column, vals []any, field string) (clause.Expression, error) {
	// MySQL compares text in the column's collation, which ignores case
	// (and trailing spaces): the case-sensitive operators compare bytes
	// there, as PostgreSQL does and as GLOB does on SQLite below.
	var target any = col
	if _, text := firstValue(vals).(string); text && c.dialect == dialectMySQL && !strings.HasSuffix(op, "i") {
		target = clause.Expr{SQL: "CAST(? AS BINARY)", Vars: []any{col}}
	}
	want := 1
	switch op {
	case "$in", "$notIn":
		if len(vals) == 0 || len(vals) > maxInValues {
			return nil, queryErrorf("Invalid filters: %s on %s expects 1 to %d values", op, field, maxInValues)
		}
		sqlOp := " IN ?"
		if op == "$notIn" {
			sqlOp = " NOT IN ?"
		}
		return clause.Expr{SQL: "?" + sqlOp, Vars: []any{target, vals}}, nil
	case "$between":
		want = 2
	}
	if len(vals) != want {
		return nil, queryErrorf("Invalid filters: %s on %s expects %d value(s)", op, field, want)
	}
	v := vals[0]
	switch op {
	case "$eq":
		return clause.Expr{SQL: "? = ?", Vars: []any{target, v}}, nil
	case "$ne":
		return clause.Expr{SQL: "? <> ?", Vars: []any{target, v}}, nil
	case "$eqi":
		return clause.Expr{SQL: "LOWER(?) = LOWER(?)", Vars: []any{col, v}}, nil
	case "$nei":
		return clause.Expr{SQL: "LOWER(?) <> LOWER(?)", Vars: []any{col, v}}, nil
	case "$lt":
		return clause.Expr{SQL: "? < ?", Vars: []any{col, v}}, nil
	case "$lte":
		return clause.Expr{SQL: "? <= ?", Vars: []any{col, v}}, nil
	case "$gt":
		return clause.Expr{SQL: "? > ?", Vars: []any{col, v}}, nil
	case "$gte":
		return clause.Expr{SQL: "? >= ?", Vars: []any{col, v}}, nil
	case "$between":
		return clause.Expr{SQL: "? BETWEEN ? AND ?", Vars: []any{col, vals[0], vals[1]}}, nil
	case "$null", "$notNull":
		b, ok := v.(bool)
		if !ok {
			s, isString := v.(string)
			var err error
			if b, err = parseQueryBool(s); !isString || err != nil {
				return nil, queryErrorf("Invalid filters: %s on %s expects true or false", op, field)
			}
		}
		if b == (op == "$null") {
			return clause.Expr{SQL: "? IS NULL", Vars: []any{col}}, nil
		}
		return clause.Expr{SQL: "? IS NOT NULL", Vars: []any{col}}, nil
	}
	s := v.(string) // opAllowed: pattern operators are text-only
	var prefix, suffix bool
	switch op {
	case "$contains", "$notContains", "$containsi", "$notContainsi":
		prefix, suffix = true, true
	case "$startsWith", "$startsWithi":
		suffix = true
	case "$endsWith", "$endsWithi":
		prefix = true
	}
	insensitive := strings.HasSuffix(op, "i")
	var e clause.Expression
	switch {
	case insensitive:
		e = clause.Expr{SQL: "LOWER(?) LIKE LOWER(?) ESCAPE '" + string(likeEscape) + "'", Vars: []any{col, likePattern(s, prefix, suffix)}}
	case c.dialect == dialectSQLite:
		// SQLite's LIKE ignores ASCII case; GLOB is case-sensitive as
		// PostgreSQL's LIKE is.
		e = clause.Expr{SQL: "? GLOB ?", Vars: []any{col, globPattern(s, prefix, suffix)}}
	default:
		e = clause.Expr{SQL: "? LIKE ? ESCAPE '" + string(likeEscape) + "'", Vars: []any{target, likePattern(s, prefix, suffix)}}
	}
	if strings.HasPrefix(op, "$not") {
		return sqlNot{e}, nil
	}
	return e, nil
}

// firstValue returns vals[0], or nil when there is none.
func firstValue(vals []any) any {
	if len(vals) == 0 {
		return nil
	}
	return vals[0]
}

// likePattern escapes %, _ and the escape character and adds the wildcards.
func likePattern(s string, prefix, suffix bool) string {
	var b strings.Builder
	if prefix {
		b.WriteByte('%')
	}
	for _, r := range s {
		if r == '%' || r == '_' || r == likeEscape {
			b.WriteRune(likeEscape)
		}
		b.WriteRune(r)
	}
	if suffix {
		b.WriteByte('%')
	}
	return b.String()
}

// globPattern escapes GLOB's *, ? and [ and adds the wildcards.
func globPattern(s string, prefix, suffix bool) string {
	var b strings.Builder
	if prefix {
		b.WriteByte('*')
	}
	for _, r := range s {
		switch r {
		case '*', '?', '[':
			b.WriteByte('[')
			b.WriteRune(r)
			b.WriteByte(']')
		default:
			b.WriteRune(r)
		}
	}
	if suffix {
		b.WriteByte('*')
	}
	return b.String()
}

// sqlJunction joins expressions with AND or OR, parenthesised.
type sqlJunction struct {
	op    string
	exprs []clause.Expression
}

func (j sqlJunction) Build(b clause.Builder) {
	b.WriteByte('(')
	for i, e := range j.exprs {
		if i > 0 {
			b.WriteString(j.op)
		}
		e.Build(b)
	}
	b.WriteByte(')')
}

// sqlNot is NOT (e).
type sqlNot struct{ e clause.Expression }

func (n sqlNot) Build(b clause.Builder) {
	b.WriteString("NOT (")
	n.e.Build(b)
	b.WriteByte(')')
}

// sqlOrderBy writes ORDER BY terms. A nullable column (the joined role) sorts
// NULL first ascending and last descending on every dialect.
type sqlOrderBy []sqlOrderTerm

type sqlOrderTerm struct {
	col      clause.Column
	desc     bool
	nullable bool
}

func (o sqlOrderBy) Build(b clause.Builder) {
	for i, t := range o {
		if i > 0 {
			b.WriteString(", ")
		}
		if t.nullable {
			b.WriteQuoted(t.col)
			if t.desc {
				b.WriteString(" IS NULL ASC, ")
			} else {
				b.WriteString(" IS NULL DESC, ")
			}
		}
		b.WriteQuoted(t.col)
		if t.desc {
			b.WriteString(" DESC")
		} else {
			b.WriteString(" ASC")
		}
	}
}
