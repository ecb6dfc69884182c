package userquery

import (
	"net/url"
	"sort"
)

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
// *QueryError. Without pagination the limit is MaxLimit. ParseQuery knows
// the built-in attributes only; Schema.Parse knows the custom fields too.
func ParseQuery(values url.Values) (Query, error) { return builtin.Parse(values) }

// Parse is ParseQuery against this Schema's whitelist.
func (s *Schema) Parse(values url.Values) (Query, error) {
	userEntity := s.user
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
