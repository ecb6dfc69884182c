package userquery

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ---- filters ----------------------------------------------------------------

var comparisonOps = map[string]bool{
	"$eq": true, "$eqi": true, "$ne": true, "$nei": true,
	"$lt": true, "$lte": true, "$gt": true, "$gte": true,
	"$in": true, "$notIn": true, "$between": true, "$null": true, "$notNull": true,
	"$contains": true, "$notContains": true, "$containsi": true, "$notContainsi": true,
	"$startsWith": true, "$startsWithi": true, "$endsWith": true, "$endsWithi": true,
}

// opAllowed says which operators apply to which column type: pattern and
// case-insensitive operators need text, ordering needs no booleans.
func opAllowed(op string, k kind) bool {
	if k == kindJSON { // a document: only present or absent
		return op == "$null" || op == "$notNull"
	}
	switch op {
	case "$eq", "$ne", "$in", "$notIn", "$null", "$notNull":
		return true
	case "$lt", "$lte", "$gt", "$gte", "$between":
		return k != kindBool
	}
	return k == kindString && comparisonOps[op]
}

type queryParser struct {
	leaves int
}

// filters parses the filters parameter, an object.
func (p *queryParser) filters(n *qsNode, sch *entity) (Filter, error) {
	if len(n.vals) > 0 {
		return Filter{}, queryErrorf("Invalid filters: expected an object")
	}
	fs, err := p.object(n, sch, nil, "", nil, 0)
	if err != nil {
		return Filter{}, err
	}
	return allOf(fs), nil
}

// object parses a filter object: attribute keys, $and/$or/$not and array
// indexes (an implicit $and). Inside a relation (relID non-nil), operators
// compare the related id, as in filters[role][$in][0]=1. fieldPrefix is
// prepended to Filter.Field ("role."), path is the attribute path for errors.
func (p *queryParser) object(n *qsNode, sch *entity, path []string, fieldPrefix string, relID *attribute, depth int) ([]Filter, error) {
	if depth > maxFilterDepth {
		return nil, queryErrorf("Invalid filters: nesting deeper than %d levels", maxFilterDepth)
	}
	if len(n.vals) > 0 {
		return nil, queryErrorf("Invalid filters: %s mixes a value and nested keys", pathOrRoot(path))
	}
	var out []Filter
	for _, key := range n.sortedKeys() {
		child := n.kids[key]
		switch {
		case key == "$and" || key == "$or":
			elems, ok := child.elements()
			if !ok {
				if err := privateError(child, path); err != nil {
					return nil, err
				}
				return nil, queryErrorf("Invalid filters: %s expects an array", key)
			}
			var children []Filter
			for _, e := range elems {
				if e.leaf() {
					return nil, queryErrorf("Invalid filters: %s expects an array of objects", key)
				}
				fs, err := p.object(e, sch, path, fieldPrefix, relID, depth+1)
				if err != nil {
					return nil, err
				}
				children = append(children, allOf(fs))
			}
			out = append(out, Filter{Op: key, Children: children})
		case key == "$not":
			if child.leaf() {
				return nil, queryErrorf("Invalid filters: $not expects an object")
			}
			fs, err := p.object(child, sch, path, fieldPrefix, relID, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, Filter{Op: "$not", Children: []Filter{allOf(fs)}})
		case isIndex(key):
			if child.leaf() {
				return nil, queryErrorf("Invalid filters: expected an object at %s", pathOrRoot(path))
			}
			fs, err := p.object(child, sch, path, fieldPrefix, relID, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, fs...)
		case strings.HasPrefix(key, "$"):
			if relID == nil || !comparisonOps[key] {
				if _, found := privateName(key); found {
					return nil, invalidKey(key, path, nil, nil)
				}
				if err := privateError(child, path); err != nil {
					return nil, err
				}
				return nil, queryErrorf("Invalid filters: unknown operator %s", quoteInput(key))
			}
			f, err := p.operator(key, child, *relID, append(append([]string(nil), path...), "id"), fieldPrefix+"id")
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		default:
			a, ok := sch.attrs[key]
			if !ok {
				return nil, invalidKey(key, path, nil, child)
			}
			sub := append(append([]string(nil), path...), key)
			if a.rel != nil {
				id := a.rel.attrs["id"]
				if child.leaf() {
					f, err := p.leaf("$eq", child.vals, id, fieldPrefix+key+".id")
					if err != nil {
						return nil, err
					}
					out = append(out, f)
					continue
				}
				fs, err := p.object(child, a.rel, sub, fieldPrefix+key+".", &id, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, fs...)
				continue
			}
			f, err := p.field(child, a, sub, fieldPrefix+key, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// privateError returns an *InvalidKeyError when a private name hides among
// the keys of n, so that a private key is reported as such even inside an
// otherwise malformed filter; nil otherwise.
func privateError(n *qsNode, path []string) error {
	if name, p, ok := findPrivate(n, path); ok {
		return &InvalidKeyError{Key: name, Path: strings.Join(p, ".")}
	}
	return nil
}

func pathOrRoot(path []string) string {
	if len(path) == 0 {
		return "filters"
	}
	return strings.Join(path, ".")
}

// field parses the value of a scalar attribute: a value (implicit $eq), an
// array of values, or an object of operators, $not, $and and $or.
func (p *queryParser) field(n *qsNode, a attribute, path []string, field string, depth int) (Filter, error) {
	if depth > maxFilterDepth {
		return Filter{}, queryErrorf("Invalid filters: nesting deeper than %d levels", maxFilterDepth)
	}
	if n.leaf() {
		return p.leaf("$eq", n.vals, a, field)
	}
	if len(n.vals) > 0 {
		return Filter{}, queryErrorf("Invalid filters: %s mixes a value and nested keys", strings.Join(path, "."))
	}
	var out []Filter
	var implicit []string
	for _, key := range n.sortedKeys() {
		child := n.kids[key]
		switch {
		case isIndex(key):
			if !child.leaf() {
				return Filter{}, queryErrorf("Invalid filters: %s expects values", strings.Join(path, "."))
			}
			implicit = append(implicit, child.vals...)
		case key == "$not":
			f, err := p.field(child, a, path, field, depth+1)
			if err != nil {
				return Filter{}, err
			}
			out = append(out, Filter{Op: "$not", Children: []Filter{f}})
		case key == "$and" || key == "$or":
			elems, ok := child.elements()
			if !ok {
				if err := privateError(child, path); err != nil {
					return Filter{}, err
				}
				return Filter{}, queryErrorf("Invalid filters: %s expects an array", key)
			}
			var children []Filter
			for _, e := range elems {
				f, err := p.field(e, a, path, field, depth+1)
				if err != nil {
					return Filter{}, err
				}
				children = append(children, f)
			}
			out = append(out, Filter{Op: key, Children: children})
		case comparisonOps[key]:
			f, err := p.operator(key, child, a, path, field)
			if err != nil {
				return Filter{}, err
			}
			out = append(out, f)
		case strings.HasPrefix(key, "$"):
			if _, found := privateName(key); found {
				return Filter{}, invalidKey(key, path, nil, nil)
			}
			return Filter{}, queryErrorf("Invalid filters: unknown operator %s", quoteInput(key))
		default:
			// A scalar used as a relation: filters[username][password].
			return Filter{}, invalidKey(key, path, nil, child)
		}
	}
	if len(implicit) > 0 {
		f, err := p.leaf("$eq", implicit, a, field)
		if err != nil {
			return Filter{}, err
		}
		out = append(out, f)
	}
	return allOf(out), nil
}

// operator parses the operand of a comparison: a value, repeated values, or
// an array of values.
func (p *queryParser) operator(op string, n *qsNode, a attribute, path []string, field string) (Filter, error) {
	vals := n.vals
	if !n.leaf() {
		elems, ok := n.elements()
		if !ok {
			if err := privateError(n, path); err != nil {
				return Filter{}, err
			}
			return Filter{}, queryErrorf("Invalid filters: %s on %s expects a value or an array of values", op, strings.Join(path, "."))
		}
		for _, e := range elems {
			if !e.leaf() {
				return Filter{}, queryErrorf("Invalid filters: %s on %s expects a value or an array of values", op, strings.Join(path, "."))
			}
			vals = append(vals, e.vals...)
		}
	}
	return p.leaf(op, vals, a, field)
}

// leaf builds a comparison, converting the raw values to the column's type.
// Several values for a one-value operator mean any of them (as in Strapi):
// $eq becomes $in, $ne becomes $notIn, others an $or.
func (p *queryParser) leaf(op string, raw []string, a attribute, field string) (Filter, error) {
	if !opAllowed(op, a.kind) {
		return Filter{}, queryErrorf("Invalid filters: operator %s cannot be used on %s (%s)", op, field, a.kind)
	}
	if len(raw) > maxInValues {
		return Filter{}, queryErrorf("Invalid filters: %s on %s has more than %d values", op, field, maxInValues)
	}
	if err := p.count(1); err != nil {
		return Filter{}, err
	}
	switch op {
	case "$null", "$notNull":
		if len(raw) != 1 {
			return Filter{}, queryErrorf("Invalid filters: %s on %s expects one boolean", op, field)
		}
		b, err := parseQueryBool(raw[0])
		if err != nil {
			return Filter{}, queryErrorf("Invalid filters: %s on %s expects true or false, received %s", op, field, quoteInput(raw[0]))
		}
		return Filter{Op: op, Field: field, Values: []any{b}}, nil
	case "$between":
		if len(raw) != 2 {
			return Filter{}, queryErrorf("Invalid filters: $between on %s expects two values", field)
		}
	}
	vals := make([]any, len(raw))
	for i, s := range raw {
		v, err := convertValue(a.kind, s, field)
		if err != nil {
			return Filter{}, err
		}
		vals[i] = v
	}
	if len(vals) == 1 || op == "$in" || op == "$notIn" || op == "$between" {
		return Filter{Op: op, Field: field, Values: vals}, nil
	}
	switch op {
	case "$eq":
		return Filter{Op: "$in", Field: field, Values: vals}, nil
	case "$ne":
		return Filter{Op: "$notIn", Field: field, Values: vals}, nil
	}
	if err := p.count(len(vals) - 1); err != nil {
		return Filter{}, err
	}
	children := make([]Filter, len(vals))
	for i, v := range vals {
		children[i] = Filter{Op: op, Field: field, Values: []any{v}}
	}
	return Filter{Op: "$or", Children: children}, nil
}

func (p *queryParser) count(n int) error {
	p.leaves += n
	if p.leaves > maxFilterLeaves {
		return queryErrorf("Invalid filters: more than %d conditions", maxFilterLeaves)
	}
	return nil
}

func allOf(fs []Filter) Filter {
	switch len(fs) {
	case 0:
		return Filter{}
	case 1:
		return fs[0]
	}
	return Filter{Op: "$and", Children: fs}
}

// convert turns a query-string value into the column's Go type, so that the
// drivers (pgx especially) never see a mistyped parameter.
func convertValue(k kind, s, field string) (any, error) {
	switch k {
	case kindInt:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, queryErrorf("Invalid filters: %s expects an integer, received %s", field, quoteInput(s))
		}
		return i, nil
	case kindBool:
		b, err := parseQueryBool(s)
		if err != nil {
			return nil, queryErrorf("Invalid filters: %s expects true or false, received %s", field, quoteInput(s))
		}
		return b, nil
	case kindTime:
		t, err := parseQueryTime(s)
		if err != nil {
			return nil, queryErrorf("Invalid filters: %s expects an RFC 3339 date-time, received %s", field, quoteInput(s))
		}
		return t, nil
	case kindFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, queryErrorf("Invalid filters: %s expects a number, received %s", field, quoteInput(s))
		}
		return f, nil
	case kindDate:
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, queryErrorf("Invalid filters: %s expects a date (YYYY-MM-DD), received %s", field, quoteInput(s))
		}
		return d.Format(time.DateOnly), nil
	}
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return nil, queryErrorf("Invalid filters: %s expects valid UTF-8 text without NUL", field)
	}
	return s, nil
}

func parseQueryBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "1", "t":
		return true, nil
	case "false", "0", "f":
		return false, nil
	}
	return false, strconv.ErrSyntax
}

// parseQueryTime accepts RFC 3339 (with or without fractional seconds), a
// date-time without zone (UTC) and a date (midnight UTC), in years 1 to 9999
// (what every supported driver binds).
func parseQueryTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t = t.UTC(); t.Year() < 1 || t.Year() > 9999 {
				break
			}
			return t, nil
		}
	}
	return time.Time{}, strconv.ErrSyntax
}
