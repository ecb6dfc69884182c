// Package userquery is the users list query language of GET /api/users and
// GET /api/users/count: Strapi's filters, sort, pagination, populate and
// fields, parsed from qs-style bracket parameters, validated against a
// whitelist and compiled to parameterised SQL (GORM clauses). Private
// attributes (password, resetPasswordToken, confirmationToken) can never be
// filtered, sorted, selected or populated (CVE-2023-22894, CVE-2023-34235,
// CVE-2022-30618).
//
// The package is split by stage: params.go reads the bracket parameters into
// a tree, parse.go, filters.go and options.go turn the tree into a validated
// Query, schema.go holds the whitelist, plan.go compiles a Query into a Plan
// and sql.go writes its SQL fragments. It knows SQL dialects, not the store's
// tables beyond their names and columns, nor HTTP.
package userquery

import "math"

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
