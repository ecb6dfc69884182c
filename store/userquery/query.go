package userquery

import (
	"fmt"
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
