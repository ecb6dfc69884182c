package store

// The users list query language of GET /api/users and GET /api/users/count:
// Strapi's filters, sort, pagination, populate and fields, parsed from
// qs-style bracket parameters, validated against a whitelist and compiled to
// parameterised SQL. Private attributes (password, resetPasswordToken,
// confirmationToken) can never be filtered, sorted, selected or populated
// (CVE-2023-22894, CVE-2023-34235, CVE-2022-30618).

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

const (
	// MaxLimit is Gatehouse's cap on the rows one list request returns. It is
	// the limit when no pagination is given (Strapi's users endpoint has no
	// cap) and the largest pagination[pageSize] or pagination[limit] accepted.
	MaxLimit = 1000
	// DefaultPageSize is the page size when only pagination[page] is given,
	// Strapi's default.
	DefaultPageSize = 25

	maxFilterDepth  = 10   // nested filter objects ($and, $or, $not, relations)
	maxFilterLeaves = 100  // comparisons in one query
	maxInValues     = 1000 // values of one $in, $notIn or multi-valued operator
	maxKeySegments  = 48   // bracket segments in one parameter name
	maxTreeDepth    = 64   // Filter trees built by hand (compile guard)
	maxQueryOffset  = math.MaxInt32
	likeEscape      = '!'
)

// InvalidKeyError rejects a query naming an attribute that may not be
// filtered, sorted, selected or populated: a private attribute, an unknown
// one, an aliased column such as t0.password, or a relation path leaving the
// whitelist such as role.users. Its message is Strapi's, meant for the client.
type InvalidKeyError struct {
	// Key is the offending segment, e.g. "password".
	Key string
	// Path is the dotted attribute path that led to it, e.g. "role.users.password".
	Path string
}

// Error returns Strapi's message, "Invalid key <key>".
func (e *InvalidKeyError) Error() string { return "Invalid key " + e.Key }

// QueryError rejects malformed list parameters: an unknown operator, a value
// that does not convert to its column's type, bad pagination, too deep or too
// large filters. Message is meant for the client (400 ValidationError).
type QueryError struct {
	Message string
}

// Error returns Message.
func (e *QueryError) Error() string { return e.Message }

func queryErrorf(format string, args ...any) *QueryError {
	return &QueryError{Message: fmt.Sprintf(format, args...)}
}

// Filter is one node of a parsed filter tree.
//
// A logical node has Op "$and", "$or" or "$not" and Children ($not negates the
// conjunction of its children). A leaf has a comparison Op ("$eq", "$eqi",
// "$ne", "$nei", "$lt", "$lte", "$gt", "$gte", "$in", "$notIn", "$contains",
// "$notContains", "$containsi", "$notContainsi", "$startsWith", "$startsWithi",
// "$endsWith", "$endsWithi", "$null", "$notNull", "$between"), the Field it
// compares, a whitelisted JSON path such as "username" or "role.type", and
// Values converted to the field's Go type (int64, string, bool or UTC
// time.Time): one value, except $in and $notIn (one or more), $between (two);
// $null and $notNull hold one bool. The zero Filter matches every row.
type Filter struct {
	Op       string
	Field    string
	Values   []any
	Children []Filter
}

// SortField orders by Field (a whitelisted JSON path such as "username" or
// "role.name"), ascending unless Desc.
type SortField struct {
	Field string
	Desc  bool
}

// Query is a validated users list query. ParseQuery builds it from the URL;
// Users.Find and Users.Count validate it again, so a Query built by hand cannot
// reach a column outside the whitelist either.
type Query struct {
	// Filters restricts the rows (Find and Count).
	Filters Filter
	// Sort orders the rows; Find always ends with id ascending.
	Sort []SortField
	// Offset and Limit paginate Find. Limit 0 (or above MaxLimit) means MaxLimit.
	Offset, Limit int
	// PopulateRole loads User.Role. The role's users are never populated.
	PopulateRole bool
	// RoleFields restricts the populated role's attributes (JSON names); id
	// and documentId are always loaded. Nil loads them all.
	RoleFields []string
	// RoleFilters restricts which roles are populated (populate[role][filters]);
	// a user whose role does not match gets a nil Role. Fields are relative to
	// the role ("type", not "role.type").
	RoleFilters Filter
	// Fields restricts the user attributes read (JSON names); id and
	// documentId are always read, private attributes never. Nil reads every
	// public attribute. Unread attributes keep their zero value, so the HTTP
	// layer must render only these fields.
	Fields []string
}

// ---- whitelist --------------------------------------------------------------

type kind int

const (
	kindString kind = iota
	kindInt
	kindBool
	kindTime
)

func (k kind) String() string {
	return [...]string{"text", "integer", "boolean", "date-time"}[k]
}

type attribute struct {
	column string
	kind   kind
	rel    *entity // non-nil for a relation; column is then the foreign key
}

type entity struct {
	table string
	// attrs is the whitelist of filterable, sortable and selectable attributes.
	attrs map[string]attribute
	// order lists the scalar attributes in the order Find selects them.
	order []string
	// populate names the relations populate may mention; only user.role is
	// ever loaded (role.users is validated and dropped).
	populate map[string]*entity
}

var userEntity, roleEntity = newEntities()

func newEntities() (*entity, *entity) {
	common := func() map[string]attribute {
		return map[string]attribute{
			"id":          {column: "id", kind: kindInt},
			"documentId":  {column: "document_id", kind: kindString},
			"createdAt":   {column: "created_at", kind: kindTime},
			"updatedAt":   {column: "updated_at", kind: kindTime},
			"publishedAt": {column: "published_at", kind: kindTime},
		}
	}
	role := &entity{
		table: "up_roles",
		attrs: common(),
		order: []string{"id", "documentId", "name", "description", "type", "createdAt", "updatedAt", "publishedAt"},
	}
	for _, name := range []string{"name", "description", "type"} {
		role.attrs[name] = attribute{column: name, kind: kindString}
	}
	user := &entity{
		table: "up_users",
		attrs: common(),
		order: []string{"id", "documentId", "username", "email", "provider", "confirmed", "blocked", "createdAt", "updatedAt", "publishedAt"},
	}
	for _, name := range []string{"username", "email", "provider"} {
		user.attrs[name] = attribute{column: name, kind: kindString}
	}
	user.attrs["confirmed"] = attribute{column: "confirmed", kind: kindBool}
	user.attrs["blocked"] = attribute{column: "blocked", kind: kindBool}
	user.attrs["role"] = attribute{column: "role_id", kind: kindInt, rel: role}
	user.populate = map[string]*entity{"role": role}
	role.populate = map[string]*entity{"users": user}
	return user, role
}

// privateName reports whether s names a private attribute, alone or inside an
// alias or column spelling (t0.password, up_users.password, reset_password_token,
// "password"), and returns its JSON name.
func privateName(s string) (string, bool) {
	tokens := strings.FieldsFunc(s, func(r rune) bool {
		return !(r == '_' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)))
	})
	for _, t := range tokens {
		switch strings.ToLower(strings.ReplaceAll(t, "_", "")) {
		case "password":
			return "password", true
		case "resetpasswordtoken":
			return "resetPasswordToken", true
		case "confirmationtoken":
			return "confirmationToken", true
		}
	}
	return "", false
}

// invalidKey builds the InvalidKeyError for segment seg reached through the
// attribute path prefix. When a private name hides in seg, in the remaining
// path segments rest or among the keys of the subtree sub, that name is
// reported: filters[role][users][password] is "Invalid key password".
// An empty name is a QueryError, not an InvalidKeyError.
func invalidKey(seg string, prefix, rest []string, sub *qsNode) error {
	path := append(append([]string(nil), prefix...), seg)
	if name, ok := privateName(seg); ok {
		return &InvalidKeyError{Key: name, Path: strings.Join(path, ".")}
	}
	for i, r := range rest {
		if name, ok := privateName(r); ok {
			p := append(path, rest[:i+1]...)
			return &InvalidKeyError{Key: name, Path: strings.Join(p, ".")}
		}
	}
	if sub != nil {
		if name, p, ok := findPrivate(sub, path); ok {
			return &InvalidKeyError{Key: name, Path: strings.Join(p, ".")}
		}
	}
	if seg == "" {
		return queryErrorf("Invalid key path %s: empty name", quoteInput(strings.Join(append(path, rest...), ".")))
	}
	return &InvalidKeyError{Key: seg, Path: strings.Join(path, ".")}
}

// findPrivate searches the keys of n (depth first, in key order) for a
// private name; operators and array indexes are left out of the path.
func findPrivate(n *qsNode, path []string) (string, []string, bool) {
	for _, k := range n.sortedKeys() {
		p := path
		if !strings.HasPrefix(k, "$") && !isIndex(k) {
			p = append(append([]string(nil), path...), k)
		}
		if name, ok := privateName(k); ok {
			return name, p, true
		}
		if name, found, ok := findPrivate(n.kids[k], p); ok {
			return name, found, true
		}
	}
	return "", nil, false
}

// resolveField walks a dotted JSON path from sch to a scalar attribute.
func resolveField(sch *entity, field string) (*entity, attribute, error) {
	segs := strings.Split(field, ".")
	for i, seg := range segs {
		a, ok := sch.attrs[seg]
		if !ok {
			return nil, attribute{}, invalidKey(seg, segs[:i], segs[i+1:], nil)
		}
		last := i == len(segs)-1
		switch {
		case a.rel != nil && last:
			return nil, attribute{}, &InvalidKeyError{Key: seg, Path: field}
		case a.rel != nil:
			sch = a.rel
		case !last:
			return nil, attribute{}, invalidKey(segs[i+1], segs[:i+1], segs[i+2:], nil)
		default:
			return sch, a, nil
		}
	}
	return nil, attribute{}, &InvalidKeyError{Key: field, Path: field}
}

// ---- bracket parameters -----------------------------------------------------

// qsNode is a qs-style parsed parameter: leaf values, nested keys, or both
// (which is an error wherever it matters).
type qsNode struct {
	vals []string
	kids map[string]*qsNode
	next int // next index for "[]"
}

func (n *qsNode) child(seg string) *qsNode {
	if n.kids == nil {
		n.kids = make(map[string]*qsNode)
	}
	if seg == "" {
		seg = strconv.Itoa(n.next)
	}
	if i, ok := arrayIndex(seg); ok && i >= n.next {
		n.next = i + 1
	}
	c := n.kids[seg]
	if c == nil {
		c = &qsNode{}
		n.kids[seg] = c
	}
	return c
}

func (n *qsNode) leaf() bool { return len(n.kids) == 0 }

// sortedKeys returns array indexes in numeric order, then the other keys.
func (n *qsNode) sortedKeys() []string {
	keys := make([]string, 0, len(n.kids))
	for k := range n.kids {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, aok := arrayIndex(keys[i])
		b, bok := arrayIndex(keys[j])
		switch {
		case aok && bok:
			return a < b
		case aok != bok:
			return aok
		}
		return keys[i] < keys[j]
	})
	return keys
}

// elements returns the children of an array node (every key an index).
func (n *qsNode) elements() ([]*qsNode, bool) {
	if len(n.vals) > 0 || len(n.kids) == 0 {
		return nil, false
	}
	out := make([]*qsNode, 0, len(n.kids))
	for _, k := range n.sortedKeys() {
		if !isIndex(k) {
			return nil, false
		}
		out = append(out, n.kids[k])
	}
	return out, true
}

func arrayIndex(s string) (int, bool) {
	if s == "" || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	i := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, true
}

func isIndex(s string) bool { _, ok := arrayIndex(s); return ok }

// knownParams are the top-level parameters the users endpoints read; v5 picks
// only known ones, so anything else is ignored.
var knownParams = map[string]bool{
	"filters": true, "sort": true, "fields": true, "populate": true, "pagination": true,
	"page": true, "pageSize": true, "start": true, "limit": true,
}

// splitKey splits "filters[a][b]" into "filters" and [a b]. Like qs, a key
// starting with a bracket loses it ("[filters][a]" is "filters[a]"). ok is
// false when the brackets are malformed.
func splitKey(key string) (name string, segs []string, ok bool) {
	rest := key
	if strings.HasPrefix(key, "[") {
		j := strings.IndexByte(key, ']')
		if j < 0 {
			return key, nil, false
		}
		name, rest = key[1:j], key[j+1:]
	} else if i := strings.IndexByte(key, '['); i >= 0 {
		name, rest = key[:i], key[i:]
	} else {
		return key, nil, true
	}
	for rest != "" {
		if rest[0] != '[' {
			return name, nil, false
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 || strings.IndexByte(rest[1:j], '[') >= 0 {
			return name, nil, false
		}
		segs = append(segs, rest[1:j])
		rest = rest[j+1:]
	}
	return name, segs, true
}

// ParseQuery parses and validates the list parameters of GET /api/users and
// GET /api/users/count, written the way Strapi's qs reads them:
//
//	filters[username][$eq]=x, filters[username]=x, filters[$or][0][email][$containsi]=y,
//	filters[$not][blocked]=true, filters[role][type][$eq]=public, filters[role][id][$in][0]=1
//	sort=username:asc, sort=username,email:desc, sort[0]=email:desc, sort[role][name]=asc
//	pagination[page]&pagination[pageSize], or pagination[start]&pagination[limit]
//	(also top-level page, pageSize, start, limit)
//	populate=role, populate=*, populate[0]=role, populate[role]=true,
//	populate[role][fields][0]=name, populate[role][filters][type]=public
//	fields=username,email, fields[0]=username
//
// Unknown top-level parameters are ignored. A private, unknown or aliased
// attribute anywhere gives *InvalidKeyError; any other malformed input gives
// *QueryError. Without pagination the limit is MaxLimit.
func ParseQuery(values url.Values) (Query, error) {
	roots := make(map[string]*qsNode)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		name, segs, ok := splitKey(key)
		if !knownParams[name] {
			continue
		}
		if !ok {
			if priv, found := privateName(key); found {
				return Query{}, &InvalidKeyError{Key: priv, Path: key}
			}
			return Query{}, queryErrorf("Invalid parameter %s: malformed brackets", quoteInput(key))
		}
		if len(segs) > maxKeySegments {
			return Query{}, queryErrorf("Invalid parameter %s: nesting deeper than %d levels", name, maxFilterDepth)
		}
		root := roots[name]
		if root == nil {
			root = &qsNode{}
			roots[name] = root
		}
		for _, v := range values[key] {
			n := root
			for _, seg := range segs {
				n = n.child(seg)
			}
			n.vals = append(n.vals, v)
		}
	}

	var q Query
	p := &queryParser{}
	if n := roots["filters"]; n != nil {
		f, err := p.filters(n, userEntity)
		if err != nil {
			return Query{}, err
		}
		q.Filters = f
	}
	if n := roots["sort"]; n != nil {
		s, err := parseSort(n, userEntity)
		if err != nil {
			return Query{}, err
		}
		q.Sort = s
	}
	if n := roots["fields"]; n != nil {
		f, err := parseFields(n, userEntity, nil)
		if err != nil {
			return Query{}, err
		}
		q.Fields = f
	}
	if n := roots["populate"]; n != nil {
		specs := make(map[string]*populateSpec)
		if err := p.populate(n, userEntity, nil, 0, specs); err != nil {
			return Query{}, err
		}
		if spec := specs["role"]; spec != nil {
			q.PopulateRole = true
			q.RoleFields = spec.fields
			q.RoleFilters = spec.filters
		}
	}
	offset, limit, err := parsePagination(roots)
	if err != nil {
		return Query{}, err
	}
	q.Offset, q.Limit = offset, limit
	return q, nil
}

// quoteInput renders untrusted input for an error message, shortened.
func quoteInput(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

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

// ---- sort, fields, populate, pagination ------------------------------------

func parseSort(n *qsNode, sch *entity) ([]SortField, error) {
	var out []SortField
	seen := make(map[string]bool)
	add := func(segs []string, dir string) error {
		field := strings.Join(segs, ".")
		if _, _, err := resolveField(sch, field); err != nil {
			return err
		}
		var desc bool
		switch strings.ToLower(strings.TrimSpace(dir)) {
		case "", "asc":
		case "desc":
			desc = true
		default:
			return queryErrorf("Invalid sort: direction of %s must be asc or desc, received %s", field, quoteInput(dir))
		}
		if !seen[field] {
			seen[field] = true
			out = append(out, SortField{Field: field, Desc: desc})
		}
		return nil
	}
	var list func(n *qsNode) error
	var object func(key string, n *qsNode, prefix []string) error
	list = func(n *qsNode) error {
		for _, v := range n.vals {
			for _, token := range strings.Split(v, ",") {
				token = strings.TrimSpace(token)
				if token == "" {
					continue
				}
				field, dir, _ := strings.Cut(token, ":")
				field = strings.TrimSpace(field)
				if field == "" {
					return queryErrorf("Invalid sort: %s has no field", quoteInput(token))
				}
				if err := add(strings.Split(field, "."), dir); err != nil {
					return err
				}
			}
		}
		for _, k := range n.sortedKeys() {
			var err error
			if isIndex(k) {
				err = list(n.kids[k])
			} else {
				err = object(k, n.kids[k], nil)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	object = func(key string, n *qsNode, prefix []string) error {
		segs := append(append([]string(nil), prefix...), key)
		if len(n.vals) > 0 && !n.leaf() {
			return queryErrorf("Invalid sort: %s mixes a direction and nested keys", strings.Join(segs, "."))
		}
		if n.leaf() {
			if len(n.vals) != 1 {
				return queryErrorf("Invalid sort: %s expects one direction", strings.Join(segs, "."))
			}
			return add(segs, n.vals[0])
		}
		for _, k := range n.sortedKeys() {
			if err := object(k, n.kids[k], segs); err != nil {
				return err
			}
		}
		return nil
	}
	if err := list(n); err != nil {
		return nil, err
	}
	return out, nil
}

// parseFields reads fields=a,b or fields[0]=a: scalar attributes of sch. "*"
// (or nothing) means all of them, returned as nil.
func parseFields(n *qsNode, sch *entity, path []string) ([]string, error) {
	var out []string
	seen := make(map[string]bool)
	all := false
	var walk func(n *qsNode) error
	walk = func(n *qsNode) error {
		for _, v := range n.vals {
			for _, token := range strings.Split(v, ",") {
				token = strings.TrimSpace(token)
				switch {
				case token == "":
					continue
				case token == "*":
					all = true
					continue
				}
				if a, ok := sch.attrs[token]; !ok || a.rel != nil {
					return invalidKey(token, path, nil, nil)
				}
				if !seen[token] {
					seen[token] = true
					out = append(out, token)
				}
			}
		}
		for _, k := range n.sortedKeys() {
			if !isIndex(k) {
				return invalidKey(k, path, nil, n.kids[k])
			}
			if err := walk(n.kids[k]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(n); err != nil {
		return nil, err
	}
	if all {
		return nil, nil
	}
	return out, nil
}

// populateSpec is what populate asks of one relation.
type populateSpec struct {
	fields  []string
	filters Filter
}

// populate reads populate=role, populate=*, populate[0]=role,
// populate[role]=true and populate[role][fields|filters|sort|populate]. Every
// mentioned attribute is validated; only the relations of sch end up in
// specs. The role's own relation (users) is validated and then dropped by the
// caller: it is never loaded.
func (p *queryParser) populate(n *qsNode, sch *entity, path []string, depth int, specs map[string]*populateSpec) error {
	if depth > maxFilterDepth {
		return queryErrorf("Invalid populate: nesting deeper than %d levels", maxFilterDepth)
	}
	ensure := func(name string) *populateSpec {
		if specs[name] == nil {
			specs[name] = &populateSpec{}
		}
		return specs[name]
	}
	for _, v := range n.vals {
		for _, token := range strings.Split(v, ",") {
			token = strings.TrimSpace(token)
			switch {
			case token == "":
				continue
			case token == "*":
				for name := range sch.populate {
					ensure(name)
				}
				continue
			}
			segs := strings.Split(token, ".")
			rel, ok := sch.populate[segs[0]]
			if !ok {
				return invalidKey(segs[0], path, segs[1:], nil)
			}
			ensure(segs[0])
			if len(segs) > 1 {
				nested := &qsNode{vals: []string{strings.Join(segs[1:], ".")}}
				sub := append(append([]string(nil), path...), segs[0])
				if err := p.populate(nested, rel, sub, depth+1, make(map[string]*populateSpec)); err != nil {
					return err
				}
			}
		}
	}
	for _, key := range n.sortedKeys() {
		child := n.kids[key]
		if isIndex(key) {
			if err := p.populate(child, sch, path, depth+1, specs); err != nil {
				return err
			}
			continue
		}
		rel, ok := sch.populate[key]
		if !ok {
			return invalidKey(key, path, nil, child)
		}
		sub := append(append([]string(nil), path...), key)
		if child.leaf() {
			if len(child.vals) != 1 {
				return queryErrorf("Invalid populate: %s expects true, false or an object", strings.Join(sub, "."))
			}
			switch strings.ToLower(child.vals[0]) {
			case "true", "1", "*":
				ensure(key)
			case "false", "0":
				delete(specs, key)
			default:
				return queryErrorf("Invalid populate: %s expects true, false or an object", strings.Join(sub, "."))
			}
			continue
		}
		if len(child.vals) > 0 {
			return queryErrorf("Invalid populate: %s mixes a value and nested keys", strings.Join(sub, "."))
		}
		if err := p.populateOptions(child, rel, sub, depth+1, ensure(key)); err != nil {
			return err
		}
	}
	return nil
}

func (p *queryParser) populateOptions(n *qsNode, sch *entity, path []string, depth int, spec *populateSpec) error {
	for _, key := range n.sortedKeys() {
		child := n.kids[key]
		switch key {
		case "populate":
			// Validated, never loaded: role.users stays unpopulated.
			if err := p.populate(child, sch, path, depth+1, make(map[string]*populateSpec)); err != nil {
				return err
			}
		case "fields":
			fields, err := parseFields(child, sch, path)
			if err != nil {
				return err
			}
			spec.fields = fields
		case "filters":
			if child.leaf() {
				return queryErrorf("Invalid populate: %s.filters expects an object", strings.Join(path, "."))
			}
			fs, err := p.object(child, sch, path, "", nil, 0)
			if err != nil {
				return err
			}
			spec.filters = allOf(append(nonEmptyFilter(spec.filters), fs...))
		case "sort":
			// Validated; ordering a to-one relation has no effect.
			if _, err := parseSort(child, sch); err != nil {
				return err
			}
		default:
			return invalidKey(key, path, nil, child)
		}
	}
	return nil
}

func nonEmptyFilter(f Filter) []Filter {
	if f.Op == "" {
		return nil
	}
	return []Filter{f}
}

// parsePagination reads pagination[page|pageSize|start|limit|withCount] and
// the top-level page, pageSize, start and limit.
func parsePagination(roots map[string]*qsNode) (offset, limit int, err error) {
	raw := make(map[string]string)
	set := func(key string, n *qsNode) error {
		if !n.leaf() || len(n.vals) != 1 {
			return queryErrorf("Invalid '%s' parameter. Expected a single value", key)
		}
		if _, dup := raw[key]; dup {
			return queryErrorf("Invalid '%s' parameter. Expected a single value", key)
		}
		raw[key] = n.vals[0]
		return nil
	}
	if n := roots["pagination"]; n != nil {
		if len(n.vals) > 0 {
			return 0, 0, queryErrorf("Invalid pagination parameters. Expected an object")
		}
		for _, key := range n.sortedKeys() {
			switch key {
			case "page", "pageSize", "start", "limit":
				if err := set(key, n.kids[key]); err != nil {
					return 0, 0, err
				}
			case "withCount":
				c := n.kids[key]
				if !c.leaf() || len(c.vals) != 1 {
					return 0, 0, queryErrorf("Invalid 'withCount' parameter. Expected true or false")
				}
				if _, err := parseQueryBool(c.vals[0]); err != nil {
					return 0, 0, queryErrorf("Invalid 'withCount' parameter. Expected true or false")
				}
			default:
				return 0, 0, queryErrorf("Invalid pagination parameter %s", quoteInput(key))
			}
		}
	}
	for _, key := range []string{"page", "pageSize", "start", "limit"} {
		if n := roots[key]; n != nil {
			if err := set(key, n); err != nil {
				return 0, 0, err
			}
		}
	}
	_, hasPage := raw["page"]
	_, hasPageSize := raw["pageSize"]
	_, hasStart := raw["start"]
	_, hasLimit := raw["limit"]
	if (hasPage || hasPageSize) && (hasStart || hasLimit) {
		return 0, 0, queryErrorf("Invalid pagination parameters. Expected either start/limit or page/pageSize")
	}
	integer := func(key string) (int64, bool) {
		i, err := strconv.ParseInt(raw[key], 10, 64)
		return i, err == nil
	}
	switch {
	case hasPage || hasPageSize:
		page, pageSize := int64(1), int64(DefaultPageSize)
		if hasPage {
			var ok bool
			if page, ok = integer("page"); !ok || page < 1 {
				return 0, 0, queryErrorf("Invalid 'page' parameter. Expected an integer > 0, received: %s", quoteInput(raw["page"]))
			}
		}
		if hasPageSize {
			var ok bool
			if pageSize, ok = integer("pageSize"); !ok || pageSize < 1 || pageSize > MaxLimit {
				return 0, 0, queryErrorf("Invalid 'pageSize' parameter. Expected an integer between 1 and %d, received: %s", MaxLimit, quoteInput(raw["pageSize"]))
			}
		}
		if page-1 > maxQueryOffset/pageSize {
			return 0, 0, queryErrorf("Invalid 'page' parameter. Expected an integer > 0, received: %s (too large)", quoteInput(raw["page"]))
		}
		return int((page - 1) * pageSize), int(pageSize), nil
	case hasStart || hasLimit:
		start, lim := int64(0), int64(MaxLimit)
		if hasStart {
			var ok bool
			if start, ok = integer("start"); !ok || start < 0 || start > maxQueryOffset {
				return 0, 0, queryErrorf("Invalid 'start' parameter. Expected an integer >= 0, received: %s", quoteInput(raw["start"]))
			}
		}
		if hasLimit {
			var ok bool
			if lim, ok = integer("limit"); !ok || lim == 0 || lim < -1 || lim > MaxLimit {
				return 0, 0, queryErrorf("Invalid 'limit' parameter. Expected -1 or an integer between 1 and %d, received: %s", MaxLimit, quoteInput(raw["limit"]))
			}
			if lim == -1 {
				lim = MaxLimit
			}
		}
		return int(start), int(lim), nil
	}
	return 0, MaxLimit, nil
}

// ---- SQL --------------------------------------------------------------------

// queryPlan is a Query compiled to GORM clauses. Identifiers come only from the
// whitelist; every value is a bind parameter.
type queryPlan struct {
	where       clause.Expression // nil: every row
	join        bool              // where or order reads up_roles
	columns     []clause.Column
	order       sqlOrderBy
	offset      int
	limit       int
	roleColumns []clause.Column // nil: every role column
	roleWhere   clause.Expression
}

// roleJoin is the constant join used when filters or sort read the role.
const roleJoin = "LEFT JOIN up_roles ON up_roles.id = up_users.role_id"

func (q Query) plan(dialect string, full bool) (queryPlan, error) {
	var pl queryPlan
	c := &filterCompiler{dialect: dialect, root: userEntity}
	where, err := c.expr(q.Filters, 0)
	if err != nil {
		return queryPlan{}, err
	}
	pl.where, pl.join = where, c.join
	if !full {
		return pl, nil
	}

	hasID := false
	for _, s := range q.Sort {
		sch, a, err := resolveField(userEntity, s.Field)
		if err != nil {
			return queryPlan{}, err
		}
		if sch.table != userEntity.table {
			pl.join = true
		}
		hasID = hasID || s.Field == "id"
		pl.order = append(pl.order, sqlOrderTerm{
			col:      clause.Column{Table: sch.table, Name: a.column},
			desc:     s.Desc,
			nullable: sch.table != userEntity.table,
		})
	}
	if !hasID {
		pl.order = append(pl.order, sqlOrderTerm{col: clause.Column{Table: userEntity.table, Name: "id"}})
	}

	pl.columns, err = selectColumns(userEntity, q.Fields)
	if err != nil {
		return queryPlan{}, err
	}
	if q.PopulateRole {
		pl.columns = append(pl.columns, clause.Column{Table: userEntity.table, Name: "role_id"})
		if q.RoleFields != nil {
			if pl.roleColumns, err = selectColumns(roleEntity, q.RoleFields); err != nil {
				return queryPlan{}, err
			}
		}
		rc := &filterCompiler{dialect: dialect, root: roleEntity}
		if pl.roleWhere, err = rc.expr(q.RoleFilters, 0); err != nil {
			return queryPlan{}, err
		}
	}

	pl.offset, pl.limit = q.Offset, q.Limit
	if pl.limit <= 0 || pl.limit > MaxLimit {
		pl.limit = MaxLimit
	}
	if pl.offset < 0 || pl.offset > maxQueryOffset {
		return queryPlan{}, queryErrorf("Invalid 'start' parameter. Expected an integer >= 0, received: %d", q.Offset)
	}
	return pl, nil
}

// columns lists id, documentId and the given fields (all scalars when nil),
// qualified by the table.
func selectColumns(sch *entity, fields []string) ([]clause.Column, error) {
	names := append([]string{"id", "documentId"}, fields...)
	if fields == nil {
		names = sch.order
	}
	seen := make(map[string]bool)
	var out []clause.Column
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		a, ok := sch.attrs[name]
		if !ok || a.rel != nil {
			return nil, invalidKey(name, nil, nil, nil)
		}
		out = append(out, clause.Column{Table: sch.table, Name: a.column})
	}
	return out, nil
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

func (c *filterCompiler) leaf(op string, col clause.Column, vals []any, field string) (clause.Expression, error) {
	// MySQL compares text in the column's collation, which ignores case
	// (and trailing spaces): the case-sensitive operators compare bytes
	// there, as PostgreSQL does and as GLOB does on SQLite below.
	var target any = col
	if _, text := firstValue(vals).(string); text && c.dialect == string(MySQL) && !strings.HasSuffix(op, "i") {
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
	case c.dialect == string(SQLite):
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
	}
	return nil, bad
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

func (u Users) dialect() string { return u.db.Dialector.Name() }

// Find returns the users matching q, sorted and paginated, with Role loaded
// when q.PopulateRole. It never reads the private columns (password and
// tokens). A Query outside the whitelist fails before any SQL runs.
func (u Users) Find(ctx context.Context, q Query) ([]User, error) {
	pl, err := q.plan(u.dialect(), true)
	if err != nil {
		return nil, err
	}
	db := u.db.WithContext(ctx).Model(&User{})
	if pl.join {
		db = db.Joins(roleJoin)
	}
	db = db.Clauses(clause.Select{Columns: pl.columns}, clause.OrderBy{Expression: pl.order})
	if pl.where != nil {
		db = db.Clauses(clause.Where{Exprs: []clause.Expression{pl.where}})
	}
	db = db.Limit(pl.limit)
	if pl.offset > 0 {
		db = db.Offset(pl.offset)
	}
	if q.PopulateRole {
		db = db.Preload("Role", func(tx *gorm.DB) *gorm.DB {
			if pl.roleColumns != nil {
				tx = tx.Clauses(clause.Select{Columns: pl.roleColumns})
			}
			if pl.roleWhere != nil {
				tx = tx.Clauses(clause.Where{Exprs: []clause.Expression{pl.roleWhere}})
			}
			return tx
		})
	}
	users := []User{}
	if err := db.Find(&users).Error; err != nil {
		return nil, fmt.Errorf("store: users: find: %w", translate(err))
	}
	return users, nil
}

// Count returns the number of users matching q.Filters (sort, pagination,
// populate and fields are not read).
func (u Users) Count(ctx context.Context, q Query) (int64, error) {
	pl, err := q.plan(u.dialect(), false)
	if err != nil {
		return 0, err
	}
	db := u.db.WithContext(ctx).Model(&User{})
	if pl.join {
		db = db.Joins(roleJoin)
	}
	if pl.where != nil {
		db = db.Clauses(clause.Where{Exprs: []clause.Expression{pl.where}})
	}
	var n int64
	if err := db.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("store: users: count: %w", translate(err))
	}
	return n, nil
}
